package disk

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/flow/flowtest"
)

// Every field of flow.Flow survives the head codec: a field added to the
// model without a place in the codec fails here.
func TestHeadRoundTripsEveryField(t *testing.T) {
	f := flowtest.Full()
	f.WebSocket = nil // stored in its own table
	cases := map[string]*flow.Flow{"every field": &f}

	// Equal header lists are stored once and come back equal.
	shared := f
	up := *f.UpstreamRequest
	up.Header = append(flow.Fields(nil), f.Request.Header...)
	shared.UpstreamRequest = &up
	resp := *f.Response
	resp.Header = append(flow.Fields(nil), f.UpstreamResponse.Header...)
	shared.Response = &resp
	cases["shared headers"] = &shared
	cases["minimal"] = &flow.Flow{ID: 1, Start: time.Unix(5, 0), State: flow.StatePending, Request: req("/")}
	cases["composed from scratch"] = &flow.Flow{ID: 2, Start: time.Unix(5, 0), State: flow.StateDone, Request: req("/"), Composed: true}

	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			head, sh, err := encodeHead(f)
			if err != nil {
				t.Fatal(err)
			}
			if name == "shared headers" && sh != sharedUpReq|sharedResp {
				t.Errorf("shared = %b", sh)
			}
			cols := headColumns{id: f.ID, session: f.Session, state: f.State, err: f.Error, startNs: f.Start.UnixNano(), endNs: f.End.UnixNano(),
				note: f.Annotation.Value()}
			if f.End.IsZero() {
				cols.endNs = 0
			}
			got, err := decodeHead(head, sh, cols)
			if err != nil {
				t.Fatal(err)
			}
			want := *f
			want.Start = time.Unix(0, f.Start.UnixNano())
			if !f.End.IsZero() {
				want.End = time.Unix(0, f.End.UnixNano())
			}
			if !reflect.DeepEqual(*got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("round trip differs:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// A head that does not decode is an error, never a panic or a huge
// allocation.
func FuzzDecodeHead(f *testing.F) {
	fl := flowtest.Full()
	fl.WebSocket = nil
	head, _, _ := encodeHead(&fl)
	f.Add(head, 0)
	f.Add(head[:len(head)/2], 3)
	f.Add([]byte{headFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 0)
	f.Fuzz(func(t *testing.T, b []byte, shared int) {
		decodeHead(b, shared, headColumns{})
	})
}

func TestCorruptHeadIsAnError(t *testing.T) {
	head, _, _ := encodeHead(&flow.Flow{Request: req("/x")})
	for _, b := range [][]byte{nil, {9}, head[:len(head)-1], append(head, 0)} {
		if _, err := decodeHead(b, 0, headColumns{}); err == nil {
			t.Errorf("decodeHead(%x) succeeded", b)
		}
	}
}
