package har

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// grpcFlow is a gRPC call that failed with NOT_FOUND: binary
// length-prefixed bodies, metadata in trailers on every head.
func grpcFlow() (*flow.Flow, map[flow.Facet][]byte) {
	reqBody := []byte{0, 0, 0, 0, 4, 0x0a, 0x02, 'h', 'i'}
	respBody := []byte{0, 0, 0, 0, 3, 0x08, 0x96, 0x01}
	grpcHead := fs("Content-Type", "application/grpc", "Grpc-Encoding", "identity")
	tr := fs("Grpc-Message", "no%20such%20user", "Grpc-Status", "5", "X-Token", "t-secret")
	return &flow.Flow{Start: base, End: base.Add(3 * time.Millisecond), State: flow.StateDone,
			Request: flow.Request{Method: "POST", URL: "https://api.example.test/users.Users/Get", Proto: "HTTP/2.0",
				Header: fs("Content-Type", "application/grpc", "Te", "trailers"), Trailers: fs("X-Client-Sum", "1")},
			UpstreamRequest: &flow.Request{Method: "POST", URL: "https://api.example.test/users.Users/Get", Proto: "HTTP/2.0",
				Header: fs("Content-Type", "application/grpc", "Te", "trailers"), Trailers: fs("X-Client-Sum", "1")},
			UpstreamResponse: &flow.Response{Status: 200, Proto: "HTTP/2.0", Header: grpcHead, Trailers: tr},
			Response:         &flow.Response{Status: 200, Proto: "HTTP/2.0", Header: grpcHead, Trailers: tr},
			RequestBody:      wireBody(reqBody, "", "application/grpc"),
			ResponseBody:     wireBody(respBody, "", "application/grpc"),
			Timings:          flow.NoTimings,
		}, map[flow.Facet][]byte{
			flow.FacetRequest: reqBody, flow.FacetResponse: respBody,
		}
}

// Trailers go out as _trailers beside headers, come back on import, and a
// gRPC flow's binary bodies round-trip byte for byte.
func TestTrailersRoundTrip(t *testing.T) {
	orig, bodies := grpcFlow()
	m := &memStore{}
	m.add(orig, bodies)
	first := exportString(t, m, Options{})
	checkHAR(t, first)

	var doc struct {
		Log struct {
			Entries []struct {
				Request struct {
					Trailers []nameValue `json:"_trailers"`
				} `json:"request"`
				Response struct {
					Trailers []nameValue `json:"_trailers"`
					Content  content     `json:"content"`
				} `json:"response"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(first, &doc); err != nil {
		t.Fatal(err)
	}
	e := doc.Log.Entries[0]
	if len(e.Request.Trailers) != 1 || len(e.Response.Trailers) != 3 || e.Response.Trailers[1] != (nameValue{Name: "Grpc-Status", Value: "5"}) {
		t.Errorf("exported trailers: request %v response %v", e.Request.Trailers, e.Response.Trailers)
	}
	if e.Response.Content.Encoding != "base64" {
		t.Errorf("binary gRPC body exported with encoding %q", e.Response.Content.Encoding)
	}

	rs, err := Import(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	f := rs[0].Flow
	if !reflect.DeepEqual(f.Request.Trailers, orig.Request.Trailers) ||
		!reflect.DeepEqual(f.Response.Trailers, orig.Response.Trailers) ||
		f.UpstreamRequest == nil || !reflect.DeepEqual(f.UpstreamRequest.Trailers, orig.UpstreamRequest.Trailers) ||
		f.UpstreamResponse == nil || !reflect.DeepEqual(f.UpstreamResponse.Trailers, orig.UpstreamResponse.Trailers) {
		t.Errorf("imported trailers: request %v response %v upstream %+v %+v", f.Request.Trailers, f.Response.Trailers, f.UpstreamRequest, f.UpstreamResponse)
	}
	for facet, want := range bodies {
		if got := rs[0].Bodies[facet]; !bytes.Equal(got, want) {
			t.Errorf("%s body % x, want % x", facet, got, want)
		}
	}
	if code, msg, ok := f.GRPCStatus(); !ok || code != 5 || msg != "no such user" {
		t.Errorf("imported gRPC status %d %q %v", code, msg, ok)
	}
	m2 := &memStore{}
	m2.addRecorded(rs)
	if second := exportString(t, m2, Options{}); !bytes.Equal(first, second) {
		t.Errorf("second export differs:\n%s", firstDiff(second, first))
	}
}

// Redaction covers trailers as it covers headers.
func TestTrailersRedacted(t *testing.T) {
	orig, bodies := grpcFlow()
	m := &memStore{}
	m.add(orig, bodies)
	out := exportString(t, m, Options{Redact: true, RedactNames: []string{"x-token"}})
	if bytes.Contains(out, []byte("t-secret")) {
		t.Errorf("redacted export holds the trailer value")
	}
	if !bytes.Contains(out, []byte(`"X-Token"`)) {
		t.Errorf("redacted export lost the trailer name")
	}
}
