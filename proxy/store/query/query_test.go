package query_test

import (
	"fmt"
	"testing"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// flows are a few varied flows: each term of the language matches some.
func flows() []*flow.Flow {
	grpcResp := &flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Type", Value: "application/grpc"}},
		Trailers: flow.Fields{{Name: "Grpc-Status", Value: "5"}, {Name: "Grpc-Message", Value: "no%20key"}}}
	return []*flow.Flow{
		{ID: 1, State: flow.StateDone, Request: flow.Request{Method: "GET", URL: "https://api.example.com:8443/v1/x?full=1"},
			Response: &flow.Response{Status: 503, Header: flow.Fields{{Name: "Content-Type", Value: "application/json"}}},
			Rules:    []string{"r1"}},
		{ID: 2, State: flow.StatePending, Request: flow.Request{Method: "post", URL: "http://www.example.org/"}},
		{ID: 3, State: flow.StateError, Error: "dial tcp: refused", Request: flow.Request{Method: "GET", URL: "http://down.test/"}},
		{ID: 4, State: flow.StateDone, Request: flow.Request{Method: "POST", URL: "http://g.test/pkg.Svc/Get",
			Header: flow.Fields{{Name: "Content-Type", Value: "application/grpc"}}}, Response: grpcResp},
		{ID: 5, State: flow.StateDone, Request: flow.Request{Method: "POST", URL: "http://g.test/pkg.Svc/Put",
			Header: flow.Fields{{Name: "Content-Type", Value: "application/grpc"}}}},
		{ID: 6, State: flow.StateDone, Kind: flow.KindTunnel, Request: flow.Request{Method: "CONNECT", URL: "https://t.test:443"}},
		{ID: 7, State: flow.StateDone, Request: flow.Request{Method: "GET", URL: "ws://chat.test/s",
			Header: flow.Fields{{Name: "Upgrade", Value: "websocket"}}}, Response: &flow.Response{Status: 101}},
	}
}

// TestMatchSummaryAgreesWithMatch: wherever MatchSummary is sure, it says
// what Match says on the whole flow; it is unsure only where a summary
// lacks what the term needs.
func TestMatchSummaryAgreesWithMatch(t *testing.T) {
	queries := []string{"", "example", "-example", "method:get", "method:POST", "status:5xx", "status:0", "host:*.example.com",
		"host:*.org", "path:/v1/*", "path:*full=1", "port:8443", "port:80", "type:json", "rule:", "rule:r1", "error:",
		"error:refused", "error:key", "-error:", "ws:", "kind:tunnel", "kind:http", "grpc:error", "grpc:NOT_FOUND",
		"grpc:0", "-grpc:error", "status:503 host:api.*", "-method:get -ws:"}
	for _, qs := range queries {
		q, err := filter.Parse(qs)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flows() {
			sum := f.Summary()
			m, sure := q.MatchSummary(&sum)
			if !sure {
				t.Errorf("%q on flow %d: unsure", qs, f.ID)
				continue
			}
			if want := q.Match(f, nil); m != want {
				t.Errorf("%q on flow %d: summary says %v, flow %v", qs, f.ID, m, want)
			}
		}
	}
}

// TestMatchSummaryUnsure: body terms, Go predicates and grpc: on a flow
// whose response does not say gRPC need the flow itself.
func TestMatchSummaryUnsure(t *testing.T) {
	fs := flows()
	tests := []struct {
		q    *query.Query
		flow int
		sure bool
	}{
		{parse(t, "body:x"), 0, false},
		{parse(t, "status:200 body:x"), 0, true}, // the status decides: 503
		{parse(t, "grpc:"), 4, false},            // request says gRPC, no response yet
		{parse(t, "grpc:"), 3, true},
		{query.MatchFunc(func(*flow.Flow) bool { return true }), 0, false},
	}
	for i, tt := range tests {
		sum := fs[tt.flow].Summary()
		if _, sure := tt.q.MatchSummary(&sum); sure != tt.sure {
			t.Errorf("case %d (%s): sure = %v, want %v", i, tt.q, sure, tt.sure)
		}
	}
}

func parse(t *testing.T, s string) *query.Query {
	t.Helper()
	q, err := filter.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestEmptyAndFunc(t *testing.T) {
	var nilQ *query.Query
	if !nilQ.Empty() || !nilQ.Match(flows()[0], nil) {
		t.Error("nil query must match everything")
	}
	if query.MatchFunc(nil) != nil {
		t.Error("MatchFunc(nil) must be the empty query")
	}
	odd := query.MatchFunc(func(f *flow.Flow) bool { return f.ID%2 == 1 })
	var got []flow.ID
	for _, f := range flows() {
		if odd.Match(f, nil) {
			got = append(got, f.ID)
		}
	}
	if fmt.Sprint(got) != "[1 3 5 7]" {
		t.Errorf("Func selects %v", got)
	}
}
