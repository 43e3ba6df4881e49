package store

import (
	"reflect"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// Trailers land on the head they belong to, are counted as head bytes, are
// kept in a copy, and give a gRPC flow its status in the list row.
func TestTrailers(t *testing.T) {
	s := newStore(t, Config{})
	grpcHead := flow.Fields{{Name: "Content-Type", Value: "application/grpc"}}
	tr := flow.Fields{{Name: "Grpc-Message", Value: "no%20such%20user"}, {Name: "Grpc-Status", Value: "5"}}

	h := s.Begin("127.0.0.1:5000", req("/svc.Users/Get"), t0)
	h.UpstreamResponse(flow.Response{Status: 200, Proto: "HTTP/2.0", Header: grpcHead})
	h.Response(flow.Response{Status: 200, Proto: "HTTP/2.0", Header: grpcHead})
	if sum, _ := s.Summary(h.ID()); sum.GRPCStatus != nil {
		t.Errorf("status before the trailers: %v", *sum.GRPCStatus)
	}
	before := s.headBytes.Load()
	h.Trailers(flow.FacetRequest, flow.Fields{{Name: "X-Req", Value: "1"}})
	h.Trailers(flow.FacetUpstream, tr)
	h.Trailers(flow.FacetResponse, append(flow.Fields(nil), tr...))
	h.Finish(t0.Add(time.Millisecond), nil)
	if s.headBytes.Load() <= before {
		t.Errorf("trailers not counted: head bytes %d -> %d", before, s.headBytes.Load())
	}

	f, ok := s.Get(h.ID())
	if !ok {
		t.Fatal("flow gone")
	}
	if got := f.Request.Trailers.Get("X-Req"); got != "1" {
		t.Errorf("request trailers %v", f.Request.Trailers)
	}
	if !reflect.DeepEqual(f.UpstreamResponse.Trailers, tr) || !reflect.DeepEqual(f.Response.Trailers, tr) {
		t.Errorf("trailers upstream %v served %v", f.UpstreamResponse.Trailers, f.Response.Trailers)
	}
	sum, _ := s.Summary(h.ID())
	if sum.GRPCStatus == nil || *sum.GRPCStatus != 5 || sum.GRPCMessage != "no such user" {
		t.Errorf("summary gRPC status %v %q", sum.GRPCStatus, sum.GRPCMessage)
	}

	// Trailers after Finish are ignored, like every other phase.
	h.Trailers(flow.FacetResponse, flow.Fields{{Name: "Grpc-Status", Value: "0"}})
	if f, _ := s.Get(h.ID()); f.Response.Trailers.Get("Grpc-Status") != "5" {
		t.Errorf("trailers changed after Finish: %v", f.Response.Trailers)
	}
}
