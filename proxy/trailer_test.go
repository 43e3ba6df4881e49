package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// trailerOrigin reads the request body (so its trailers are known), then
// answers with an announced trailer and one it did not announce, and
// reports the request trailers it saw.
func trailerOrigin(saw chan<- http.Header) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		saw <- r.Trailer.Clone()
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
}

// postWithTrailer sends a body followed by the X-Req-Sum trailer.
func postWithTrailer(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, io.NopCloser(strings.NewReader("payload")))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Req-Sum": {"r1"}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Trailers pass through on the wire and are recorded on all three heads:
// the client's request, the origin's response and the served response.
func TestTrailersRecorded(t *testing.T) {
	h2origin := mode{name: "mitm-h2-origin-h2", tls: true, h2: true}
	for _, m := range append(append([]mode(nil), modes...), h2origin) {
		t.Run(m.name, func(t *testing.T) {
			saw := make(chan http.Header, 1)
			var origin *httptest.Server
			if m == h2origin {
				origin = proxytest.TLSOrigin(t, trailerOrigin(saw))
			} else {
				origin = m.origin(t, trailerOrigin(saw))
			}
			env := proxytest.Start(t, proxy.Config{})
			resp := postWithTrailer(t, m.client(t, env), origin.URL+"/t")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "body" || resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("X-Late") != "late" {
				t.Errorf("client got body %q trailer %v", b, resp.Trailer)
			}
			if got := <-saw; got.Get("X-Req-Sum") != "r1" {
				t.Errorf("origin saw request trailers %v", got)
			}

			f := env.Rec.Last(t).Flow
			wantResp := flow.Fields{{Name: "X-Checksum", Value: "abc"}, {Name: "X-Late", Value: "late"}}
			if got := f.Request.Trailers; !reflect.DeepEqual(got, flow.Fields{{Name: "X-Req-Sum", Value: "r1"}}) {
				t.Errorf("request trailers %v", got)
			}
			if f.UpstreamResponse == nil || !reflect.DeepEqual(f.UpstreamResponse.Trailers, wantResp) {
				t.Errorf("upstream response %+v, want trailers %v", f.UpstreamResponse, wantResp)
			}
			if f.Response == nil || !reflect.DeepEqual(f.Response.Trailers, wantResp) {
				t.Errorf("served response %+v, want trailers %v", f.Response, wantResp)
			}
		})
	}
}

// An override that replaces the body serves no trailers (the origin's
// describe the origin's body, which drains in the background), and still
// records the origin's. Run with -race: the drain and the handler must
// not share the response.
func TestTrailersOverride(t *testing.T) {
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			saw := make(chan http.Header, 1)
			origin := m.origin(t, trailerOrigin(saw))
			env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t,
				rules.Rule{ID: "ov", Actions: []rules.Action{{Type: "override", Body: str("new")}}})})
			resp := postWithTrailer(t, m.client(t, env), origin.URL+"/t")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			<-saw
			if string(b) != "new" || len(resp.Trailer) != 0 {
				t.Errorf("client got body %q trailer %v", b, resp.Trailer)
			}
			f := env.Rec.Last(t).Flow
			if f.UpstreamResponse == nil || f.UpstreamResponse.Trailers.Get("X-Checksum") != "abc" {
				t.Errorf("upstream response %+v", f.UpstreamResponse)
			}
			if f.Response == nil || len(f.Response.Trailers) != 0 {
				t.Errorf("served response %+v", f.Response)
			}
		})
	}
}

// A replay sends the recorded request trailers again.
func TestReplayTrailers(t *testing.T) {
	saw := make(chan http.Header, 2)
	origin := proxytest.Origin(t, trailerOrigin(saw))
	env := proxytest.Start(t, proxy.Config{})
	resp := postWithTrailer(t, env.Client(t), origin.URL+"/t")
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	<-saw
	orig := env.Rec.Last(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := env.Proxy.Replay(ctx, &orig.Flow, orig.Bodies[flow.FacetRequest]); err != nil {
		t.Fatal(err)
	}
	if got := <-saw; got.Get("X-Req-Sum") != "r1" {
		t.Errorf("origin saw replayed request trailers %v", got)
	}
	fs := env.Rec.WaitFinished(t, 2, 5*time.Second)
	if got := fs[1].Flow.Request.Trailers.Get("X-Req-Sum"); got != "r1" {
		t.Errorf("replayed flow request trailers %v", fs[1].Flow.Request.Trailers)
	}
}
