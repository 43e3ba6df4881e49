package query_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// flows are a few varied flows: each term of the language matches some.
func flows() []*flow.Flow {
	start := time.Unix(1700000000, 0)
	grpcResp := &flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Type", Value: "application/grpc"}},
		Trailers: flow.Fields{{Name: "Grpc-Status", Value: "5"}, {Name: "Grpc-Message", Value: "no%20key"}}}
	return []*flow.Flow{
		{ID: 1, State: flow.StateDone, Request: flow.Request{Method: "GET", URL: "https://api.example.com:8443/v1/x?full=1"},
			Response: &flow.Response{Status: 503, Header: flow.Fields{{Name: "Content-Type", Value: "application/json"}}},
			Rules:    []string{"r1"}, Start: start, End: start.Add(1500 * time.Millisecond), ResponseBody: flow.Body{Size: 20}},
		{ID: 2, State: flow.StatePending, Request: flow.Request{Method: "post", URL: "http://www.example.org/"}},
		{ID: 3, State: flow.StateError, Error: "dial tcp: refused", Request: flow.Request{Method: "GET", URL: "http://down.test/"},
			Start: start, End: start.Add(2 * time.Millisecond)},
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
		"grpc:0", "-grpc:error", "status:503 host:api.*", "-method:get -ws:",
		"status:503 or ws:", "-(status:503 | kind:tunnel)", "(method:post or method:connect) -port:443",
		"port:>8000", "port:80-443", "duration:>1s", "duration:<=2ms", "duration:>=0", "size:>10", "size:0",
		"status:5xx or body:x"} // body: the 503 decides for flow 1 only; checked below
	for _, qs := range queries {
		q, err := filter.Parse(qs)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flows() {
			sum := f.Summary()
			m, sure := q.MatchSummary(&sum)
			if q.NeedsBodies() {
				if sure && m != q.Match(f, nil) {
					t.Errorf("%q on flow %d: summary says %v, flow %v", qs, f.ID, m, q.Match(f, nil))
				}
				continue
			}
			if !sure && strings.HasPrefix(qs, "duration:") && f.End.IsZero() && f.State != flow.StatePending {
				continue // a summary cannot tell a flow without an end from one 1 ms long
			}
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
		{parse(t, "header:accept"), 0, false},                 // a summary has no headers
		{parse(t, "header:accept or status:503"), 0, true},    // the status decides
		{parse(t, "-(header:accept or status:503)"), 0, true}, // so it does negated
		{parse(t, "header:accept or status:404"), 0, false},
		{parse(t, "duration:>1s"), 1, true},          // in flight: no duration
		{parse(t, "(body:x or grpc:) ws:"), 0, true}, // ws: decides
		{parse(t, "duration:>1s"), 4, false},         // done without an end: only the flow knows
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

// TestBodyInGroupIsASuperset: without bodies a body term is unknown, so
// Match answers "may match" through groups and negations alike, and the
// full answer with bodies is never outside it.
func TestBodyInGroupIsASuperset(t *testing.T) {
	open := func(_ flow.ID, facet flow.Facet) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("the needle")), nil
	}
	tests := []struct {
		q                    string
		withoutBodies, exact bool
	}{
		{"body:needle", true, true},
		{"-body:needle", true, false},
		{"-(body:needle or status:404)", true, false},
		{"-(body:needle or status:503)", false, false}, // the status decides
		{"body:hay or status:503", true, true},
		{"(body:hay -status:503) or method:post", false, false},
		{"-(body:hay)", true, true},
	}
	f := flows()[0] // 503
	f.ResponseBody.Captured = 10
	for _, tt := range tests {
		q := parse(t, tt.q)
		if got := q.Match(f, nil); got != tt.withoutBodies {
			t.Errorf("%q without bodies = %v, want %v", tt.q, got, tt.withoutBodies)
		}
		got := q.Match(f, open)
		if got != tt.exact {
			t.Errorf("%q with bodies = %v, want %v", tt.q, got, tt.exact)
		}
		if got && !q.Match(f, nil) {
			t.Errorf("%q: matches with bodies but not as a superset", tt.q)
		}
	}
}

// TestHeaderTextAgreesWithMatch: deciding a header term from HeaderText
// (what the durable capture stores) equals deciding it from the flow, with
// names and values that hold the text's own separators.
func TestHeaderTextAgreesWithMatch(t *testing.T) {
	f := &flow.Flow{Request: flow.Request{URL: "http://x.test/", Header: flow.Fields{{Name: "X-A", Value: "Tab\there"},
		{Name: "x-b", Value: `back\slash`}, {Name: "Weird\nName", Value: "v"}, {Name: "Accept", Value: "*/*"}}},
		Response: &flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Type", Value: "Application/JSON"},
			{Name: "X-Nl", Value: "a\nb"}}}}
	text := query.HeaderText(f)
	for _, qs := range []string{"header:x-a", "header:x-a=tab*", "header:x-a=*here", "reqheader:x-b", `header:x-b=*\\*`,
		`header:x-b=back\\slash`, "resheader:x-b", "header:content-type=*json", "reqheader:content-type",
		"resheader:content-type=application/json", "header:x-nl=a?b", "header:x-nl=a*", "header:accept=\\*/\\*",
		"header:accept=?/?", "header:weird", "header:nope"} {
		q := parse(t, qs)
		term := &q.Terms[0]
		pattern, has := term.HeaderPattern()
		var fromText bool
		if has {
			fromText = query.MatchHeaderText(term.Sides(), term.Name, pattern, true, text)
		} else {
			fromText = false
			for i := 0; i < len(term.Sides()); i++ {
				fromText = fromText || strings.Contains(text, query.HeaderNeedle(term.Sides()[i], term.Name))
			}
		}
		if want := q.Match(f, nil); fromText != want {
			t.Errorf("%q: from the text %v, from the flow %v", qs, fromText, want)
		}
	}
}
