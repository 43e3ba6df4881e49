package store

import (
	"testing"
	"time"

	"loupe/proxy/flow"
)

// A tunnel's bytes are counted, never captured or truncated, and grow
// while it is open; a flow's missing original is said and counted once.
func TestTunnelFlowAndNotKept(t *testing.T) {
	s := newStore(t, Config{BodyCap: 16})
	h := s.Begin("127.0.0.1:5000", flow.Request{Method: "CONNECT", URL: "https://bank.test:443", Proto: "HTTP/1.1"}, t0)
	h.Tunnel(flow.KindTunnel, flow.Tunnel{Mode: flow.TunnelPassthrough, SNI: "bank.test"})
	h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1"})
	h.Relayed(flow.FacetRequest, 500)
	h.Relayed(flow.FacetResponse, 7000)
	if sum, _ := s.Summary(h.ID()); sum.Kind != flow.KindTunnel || sum.Size != 7000 || sum.State != flow.StatePending {
		t.Errorf("open tunnel row: %+v", sum)
	}
	h.Relayed(flow.FacetRequest, 24)
	h.BodyEnd(flow.FacetRequest)
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(time.Second), nil)
	h.Relayed(flow.FacetResponse, 1) // after the end: ignored

	f, _ := s.Get(h.ID())
	want := flow.Body{Size: 524, Complete: true}
	if f.Kind != flow.KindTunnel || f.RequestBody != want || f.ResponseBody.Size != 7000 || f.ResponseBody.Captured != 0 || f.ResponseBody.Truncated {
		t.Errorf("tunnel flow: kind %q request %+v response %+v", f.Kind, f.RequestBody, f.ResponseBody)
	}
	if f.Tunnel == nil || f.Tunnel.Mode != flow.TunnelPassthrough || f.Tunnel.SNI != "bank.test" {
		t.Errorf("tunnel %+v", f.Tunnel)
	}
	if st := s.Stats(); st.Truncated != 0 || st.BodyBytesRAM != 0 {
		t.Errorf("a tunnel kept or truncated bytes: %+v", st)
	}

	o := s.Begin("127.0.0.1:5001", req("/o"), t0)
	o.UpstreamNotKept("original not kept: 32 drains were already running (-max-drains)")
	o.UpstreamNotKept("a second reason")
	o.Finish(t0.Add(time.Millisecond), nil)
	if f, _ := s.Get(o.ID()); f.UpstreamNotKept != "original not kept: 32 drains were already running (-max-drains)" {
		t.Errorf("notKept %q", f.UpstreamNotKept)
	}
	if n := s.Stats().UpstreamNotKept; n != 1 {
		t.Errorf("stats count %d, want 1", n)
	}

	// An imported tunnel keeps its byte counts.
	ids, err := s.Import([]flow.Recorded{{Flow: *f}})
	if err != nil {
		t.Fatal(err)
	}
	if im, _ := s.Get(ids[0]); im.Kind != flow.KindTunnel || im.RequestBody.Size != 524 || im.ResponseBody.Size != 7000 {
		t.Errorf("imported tunnel: kind %q bytes %d/%d", im.Kind, im.RequestBody.Size, im.ResponseBody.Size)
	}
}
