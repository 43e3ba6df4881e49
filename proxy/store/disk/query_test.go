package disk

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// genFlows makes n varied flows for the differential tests: every key of
// the filter language has flows that match it and flows that do not,
// including the edge cases of each (hosts with user info, IPv6, ports,
// queries, odd cases, gRPC trailers, tunnels, gzip and binary bodies,
// bodies longer than the text index holds).
func genFlows(rng *rand.Rand, n int) []flow.Recorded {
	hosts := []string{"api.example.com", "www.Example.com", "example.com", "x.example.org", "[::1]", "user:pw@auth.example.com",
		"127.0.0.1", "münchen.example.com", "a[b].example.com", "eXample.COM"}
	ports := []string{"", ":8080", ":443", ":80", ":65535"}
	schemes := []string{"http", "https", "ws", "wss", "HTTP"}
	paths := []string{"/", "/api/v1/users", "/api/v1/users?full=1", "/static/app.js", "/a?b=c&d=e", "/search?q=needle",
		"/%C3%A9t%C3%A9", "/Mixed/Case", ""}
	methods := []string{"GET", "POST", "put", "DELETE", "OPTIONS", "Get"}
	statuses := []int{0, 101, 200, 204, 301, 404, 500, 503, 599}
	types := []string{"", "application/json; charset=utf-8", "text/html", "text/plain", "image/png", "application/grpc",
		"application/grpc-web+proto", "application/grpcx"}
	words := []string{"alpha", "Bravo", "charlie", "needle", "NEEDLE", "haystack", "ünïcode", "x", "ab"}
	rules := []string{"mock-1", "hdr", "Rule-X"}
	var out []flow.Recorded
	for i := range n {
		pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
		u := pick(schemes) + "://" + pick(hosts) + pick(ports) + pick(paths)
		if rng.IntN(20) == 0 {
			u = "/relative/" + pick(words)
		}
		f := flow.Flow{
			Start:   t0.Add(time.Duration(i) * time.Millisecond),
			State:   flow.StateDone,
			Request: flow.Request{Method: pick(methods), URL: u, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "X-Tag", Value: pick(words)}}},
		}
		durations := []time.Duration{0, time.Millisecond, 199999 * time.Microsecond, 200 * time.Millisecond,
			1500 * time.Millisecond, 1500*time.Millisecond + time.Microsecond, 3 * time.Second, 1500*time.Microsecond + 999}
		f.End = f.Start.Add(durations[rng.IntN(len(durations))])
		if rng.IntN(25) == 0 {
			f.State, f.End = flow.StatePending, time.Time{} // interrupted: no end, no duration
		}
		hdrNames := []string{"X-Req-Id", "Cache-Control", "x-weird", "Set-Cookie", "Accept"}
		hdrValues := []string{"no-cache", "max-age=60", "a\tb", "Line\nBreak", `back\slash`, "", "application/JSON", "*star*", "a=b"}
		for range rng.IntN(3) {
			f.Request.Header = append(f.Request.Header, flow.Field{Name: pick(hdrNames), Value: pick(hdrValues)})
		}
		bodies := map[flow.Facet][]byte{}
		if st := statuses[rng.IntN(len(statuses))]; st != 0 {
			f.Response = &flow.Response{Status: st, Proto: "HTTP/1.1"}
			if ct := pick(types); ct != "" {
				f.Response.Header = flow.Fields{{Name: "Content-Type", Value: ct}}
			}
			for range rng.IntN(3) {
				f.Response.Header = append(f.Response.Header, flow.Field{Name: pick(hdrNames), Value: pick(hdrValues)})
			}
			if st == 101 {
				f.Request.Header = append(f.Request.Header, flow.Field{Name: "Upgrade", Value: "websocket"})
			}
			if flow.IsGRPC(f.Response.Header.Get("Content-Type")) && rng.IntN(3) > 0 {
				code := rng.IntN(17)
				f.Response.Trailers = flow.Fields{{Name: "Grpc-Status", Value: fmt.Sprint(code)},
					{Name: "Grpc-Message", Value: "no%20" + pick(words)}}
			}
		}
		if rng.IntN(10) == 0 {
			f.Request.Header = append(f.Request.Header, flow.Field{Name: "Content-Type", Value: "application/grpc"})
		}
		switch rng.IntN(12) {
		case 0:
			f.State, f.Error = flow.StateError, "dial tcp: connection refused "+pick(words)
		case 1:
			f.Error = "upstream " + pick(words)
		case 2:
			f.Kind = flow.KindTunnel
			f.Tunnel = &flow.Tunnel{Target: "tunnel.example.com:443"}
		case 3:
			f.Kind = flow.KindTLSError
			f.Error = "tls: unknown certificate authority"
		}
		for range rng.IntN(3) {
			f.Rules = append(f.Rules, pick(rules))
		}
		switch rng.IntN(8) {
		case 0:
			f.ReplayOf = flow.ID(1 + rng.IntN(4))
		case 1:
			f.Composed, f.ComposedFrom = true, flow.ID(rng.IntN(4))
		}
		// Bodies: text, gzip-encoded text, binary, long.
		for _, facet := range []flow.Facet{flow.FacetRequest, flow.FacetResponse} {
			switch rng.IntN(6) {
			case 0:
				bodies[facet] = []byte("some " + pick(words) + " text " + pick(words))
			case 1:
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				zw.Write([]byte("zipped " + pick(words)))
				zw.Close()
				bodies[facet] = b.Bytes()
				if facet == flow.FacetRequest {
					f.Request.Header = append(f.Request.Header, flow.Field{Name: "Content-Encoding", Value: "gzip"})
					f.RequestBody.Encoding = "gzip"
				} else if f.Response != nil {
					f.Response.Header = append(f.Response.Header, flow.Field{Name: "Content-Encoding", Value: "gzip"})
					f.ResponseBody.Encoding = "gzip"
				} else {
					delete(bodies, facet)
				}
			case 2:
				bodies[facet] = append([]byte{0xff, 0xfe, 0x00}, []byte(pick(words)+"\xc3")...)
			case 3:
				long := strings.Repeat("filler ", 200) + pick(words) // past a small TextMax
				bodies[facet] = []byte(long)
			}
		}
		out = append(out, flow.Recorded{Flow: f, Bodies: bodies})
	}
	return out
}

// genQueries makes filters from a pool of terms, alone, negated, in pairs
// and in groups with or.
func genQueries(rng *rand.Rand, n int) []string {
	pool := []string{
		"example", "EXAMPLE.com/api", "needle", "%c3", "a", "münchen", "method:get", "method:POST,put", "method:options",
		"status:200", "status:5xx", "status:1xx", "status:0", "status:404", "host:*.example.com", "host:example.com",
		"host:api.*", "host:*", `host:""`, "host:?xample.com", "host:a[b].example.com", "host:münchen.*", "host:*.ORG",
		"host:::1", "path:/api/*", "path:*full=1", "path:/", "path:*?*", "path:/%c3*", "path:/mixed/*", "port:8080",
		"port:443", "port:80", "port:65535", "type:json", "type:grpc", `type:""`, "type:text", "body:needle",
		"body:ünïcode", "body:zipped", "body:ab", "body:filler", "body:alpha", "rule:", "rule:hdr", "rule:rule-x",
		"rule:Rule-X", "error:", "error:refused", "error:not_found", "error:no ", "ws:", "kind:tunnel",
		"kind:http", "kind:tls-error,tunnel", "grpc:", "grpc:error", "grpc:NOT_FOUND", "grpc:0", "grpc:5",
		`"search?q=needle"`, "relative", "composed:", "composed:2", "replay:", "replay:#3", "replay:9",
		"port:>8000", "port:<=443", "port:80-443", "port:444-65535", "duration:>1s", "duration:<200ms", "duration:>=1.5s",
		"duration:1ms", "duration:200-1500", "duration:<=0", "size:>10", "size:<1kb", "size:0", "size:5-30",
		"header:x-req-id", "header:Cache-Control", "reqheader:cache-control", "resheader:content-type",
		"header:content-type=*json*", "resheader:content-type=application/*", `header:x-weird="a\tb"`,
		`header:x-weird=*\\*`, "header:x-weird=line*", "reqheader:accept=*/*", `header:"x-weird=*star*"`,
		`header:x-weird=\*star\*`, "header:x-weird=", "host:*.example.c?m", `path:/search\?q=*`, `host:a\[b].*`,
		"(status:404 or status:500)", "status:404 | method:post", "(host:*.org or host:127.*) -method:OPTIONS",
		"-(type:json or type:text)", "(body:needle or status:5xx)", "-(body:needle or header:accept)",
		"(body:zipped -port:443 or duration:>1s)", "((ws: or grpc:) or (kind:tunnel rule:))",
	}
	var out []string
	for _, p := range pool {
		out = append(out, p, "-"+p)
	}
	for range n {
		a, b := pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]
		if rng.IntN(2) == 0 {
			a = "-" + a
		}
		c := pool[rng.IntN(len(pool))]
		switch rng.IntN(4) {
		case 0:
			out = append(out, a+" "+b)
		case 1:
			out = append(out, a+" or "+b+" "+c)
		case 2:
			out = append(out, "-("+a+" | "+b+") "+c)
		default:
			out = append(out, "("+a+" or "+b+") ("+c+" OR "+a+")")
		}
	}
	return out
}

// reference is every flow of a store with its decoded bodies, read once,
// for evaluating queries in Go.
type reference struct {
	flows  []*flow.Flow
	bodies map[flow.ID]map[flow.Facet][]byte
}

func loadReference(t *testing.T, s *Store) *reference {
	ref := &reference{bodies: map[flow.ID]map[flow.Facet][]byte{}}
	s.Each(nil, func(f *flow.Flow) bool {
		ref.flows = append(ref.flows, f)
		ref.bodies[f.ID] = map[flow.Facet][]byte{}
		for _, facet := range []flow.Facet{flow.FacetRequest, flow.FacetResponse} {
			if rc, err := s.decodedBodies(f.ID, facet); err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				ref.bodies[f.ID][facet] = b
			}
		}
		return true
	})
	return ref
}

// matches evaluates q in Go on every flow (the reference answer).
func (r *reference) matches(q *query.Query) []flow.ID {
	open := func(id flow.ID, facet flow.Facet) (io.ReadCloser, error) {
		b, ok := r.bodies[id][facet]
		if !ok {
			return nil, errors.New("no body")
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	var ids []flow.ID
	for _, f := range r.flows {
		if q.Match(f, open) {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

func pageIDs(r query.Result) []flow.ID {
	ids := make([]flow.ID, len(r.Flows))
	for i, f := range r.Flows {
		ids[i] = f.ID
	}
	return ids
}

// waitIndexed flushes until the text index holds every ended flow.
func waitIndexed(t *testing.T, s *Store) {
	t.Helper()
	for range 10000 {
		flush(t, s)
		time.Sleep(10 * time.Millisecond)
		var n int
		s.rdb.QueryRow("SELECT count(*) FROM flows WHERE text_state = 0 AND state != 'pending'").Scan(&n)
		if n == 0 {
			return
		}
	}
	t.Fatal("text index never caught up")
}

// TestQueryDifferential checks that SQL and Go agree: every generated
// filter, run by List (compiled to SQL, with the full-text index and the
// residual checks), selects exactly the flows that query.Match selects.
// Run once before the text index caught up and once after, with a small
// TextMax so that some bodies are only partly indexed.
func TestQueryDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := openStore(t, Config{TextMax: 300, ScanLimit: 1 << 20})
	nFlows, nQueries := 800, 200
	if raceEnabled || testing.Short() {
		nFlows, nQueries = 200, 40 // the same code paths; SQLite is slow under the race detector
	}
	recs := genFlows(rng, nFlows)
	if _, err := s.Import(recs); err != nil {
		t.Fatal(err)
	}
	// Some flows through the recorder, one left pending.
	for i := range 20 {
		record(s, fmt.Sprintf("/recorded/%d?needle", i), []byte("recorded needle body"))
	}
	h := s.Begin("c", req("/pending/needle"), t0)
	_ = h
	queries := genQueries(rng, nQueries)
	if raceEnabled {
		queries = slices.DeleteFunc(queries, func(string) bool { return rng.IntN(3) > 0 }) // a third
	}
	check := func(t *testing.T) {
		ref := loadReference(t, s)
		for _, qs := range queries {
			q, err := filter.Parse(qs)
			if err != nil {
				t.Fatalf("%q: %v", qs, err)
			}
			want := ref.matches(q)
			got := s.List(q, query.Page{})
			if !slices.Equal(pageIDs(got), want) {
				t.Errorf("%q: SQL selects %d flows, Go %d\nonly SQL: %v\nonly Go: %v", qs, len(got.Flows), len(want),
					diff(pageIDs(got), want), diff(want, pageIDs(got)))
				continue
			}
			if got.Total != len(want) || !got.Complete {
				t.Errorf("%q: total %d complete %v, want %d complete", qs, got.Total, got.Complete, len(want))
			}
			var each []flow.ID
			s.Each(q, func(f *flow.Flow) bool { each = append(each, f.ID); return true })
			if !slices.Equal(each, want) {
				t.Errorf("%q: Each selects %d flows, Go %d", qs, len(each), len(want))
			}
		}
	}
	flush(t, s)
	t.Run("text index behind", check)
	waitIndexed(t, s)
	t.Run("text index caught up", check)
	var partial int
	s.rdb.QueryRow("SELECT count(*) FROM flows WHERE text_state = 2").Scan(&partial)
	if partial == 0 {
		t.Error("no flow was partly indexed: the long bodies do not test the scan")
	}
}

func diff(a, b []flow.ID) []flow.ID {
	var out []flow.ID
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	if len(out) > 10 {
		out = out[:10]
	}
	return out
}

// TestQueryPlanUsesIndexes checks with EXPLAIN QUERY PLAN that the common
// filters are answered from indexes, not by scanning the flows table.
func TestQueryPlanUsesIndexes(t *testing.T) {
	s := openStore(t, Config{})
	tests := []struct {
		q    string
		want string // an index the plan must name
	}{
		{"status:5xx host:*.example.com", "flows_status_host_rev"},
		{"host:*.example.com", "flows_q_host_rev"},
		{"host:api.example.*", "flows_q_host"},
		{"method:POST", "flows_method"},
		{"port:8443", "flows_q_port"},
		{"rule:mock-1", "rule_hits_flow_rule"},
		{"needle", "flow_url"},
	}
	for _, tt := range tests {
		q, err := filter.Parse(tt.q)
		if err != nil {
			t.Fatal(err)
		}
		c := compile(q)
		for _, stmt := range []string{"SELECT count(*) FROM flows" + c.cond(),
			"SELECT id FROM flows" + c.cond("id < ?") + " ORDER BY id DESC LIMIT ?"} {
			args := c.args
			if strings.Contains(stmt, "LIMIT") {
				args = append(slices.Clone(args), 1<<62, 100)
			}
			plan := explain(t, s, stmt, args...)
			t.Logf("%s:\n%s", tt.q, plan)
			if !strings.Contains(plan, tt.want) {
				t.Errorf("%q: plan does not use %s:\n%s", tt.q, tt.want, plan)
			}
			if strings.Contains(plan, "SCAN flows\n") || strings.HasSuffix(plan, "SCAN flows") {
				t.Errorf("%q: plan scans the flows table:\n%s", tt.q, plan)
			}
		}
	}
}

// explain returns the plan of stmt, one step a line.
func explain(t *testing.T, s *Store, stmt string, args ...any) string {
	t.Helper()
	rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+stmt, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", stmt, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// TestCursorPaging walks a filtered list page by page with next: every
// match once, newest first, and the last page has no next.
func TestCursorPaging(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := openStore(t, Config{})
	if _, err := s.Import(genFlows(rng, 600)); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	for _, qs := range []string{"", "status:5xx host:*.example.com", "method:get", "body:needle", "-status:200"} {
		q, _ := filter.Parse(qs)
		want := s.List(q, query.Page{}).Flows
		var got []flow.Summary
		cursor := flow.ID(0)
		for pages := 0; ; pages++ {
			if pages > 1000 {
				t.Fatalf("%q: paging does not end", qs)
			}
			r := s.List(q, query.Page{Cursor: cursor, Limit: 7})
			if len(r.Flows) > 7 {
				t.Fatalf("%q: page of %d", qs, len(r.Flows))
			}
			got = append(slices.Clone(r.Flows), got...)
			if r.Next == 0 {
				break
			}
			if len(r.Flows) > 0 && r.Next != r.Flows[0].ID {
				t.Fatalf("%q: next %d, oldest of the page %d", qs, r.Next, r.Flows[0].ID)
			}
			cursor = r.Next
		}
		if !slices.EqualFunc(got, want, func(a, b flow.Summary) bool { return a.ID == b.ID }) {
			t.Errorf("%q: pages hold %d flows, the whole list %d", qs, len(got), len(want))
		}
	}
}

// TestResidualScanIsBounded: a query that only Go can decide (a body term
// without a usable index, or a Go predicate) examines at most ScanLimit
// candidates, says so, and its next cursor continues the scan.
func TestResidualScanIsBounded(t *testing.T) {
	s := openStore(t, Config{ScanLimit: 50})
	var recs []flow.Recorded
	for i := range 200 {
		recs = append(recs, flow.Recorded{Flow: flow.Flow{Start: t0, State: flow.StateDone, Request: req(fmt.Sprintf("/%d", i)),
			Response: &textResp}, Bodies: map[flow.Facet][]byte{flow.FacetResponse: []byte(fmt.Sprintf("b%d", i%2))}})
	}
	ids, err := s.Import(recs)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := filter.Parse("body:b1") // two characters: the trigram index cannot help
	r := s.List(q, query.Page{Limit: 10})
	if r.Complete || r.Scanned != 50 || r.Total != 25 {
		t.Errorf("first page: complete %v scanned %d total %d, want incomplete, 50, 25", r.Complete, r.Scanned, r.Total)
	}
	if len(r.Flows) != 10 || r.Next != r.Flows[0].ID {
		t.Fatalf("first page: %d flows, next %d", len(r.Flows), r.Next)
	}
	// Walking on finds every match, each page scanning at most 50 more.
	n := len(r.Flows)
	for cursor := r.Next; cursor != 0; {
		p := s.List(q, query.Page{Cursor: cursor, Limit: 10})
		n += len(p.Flows)
		cursor = p.Next
	}
	if n != 100 {
		t.Errorf("paging found %d matches, want 100", n)
	}
	// A Go predicate is bounded the same way.
	r = s.List(query.MatchFunc(func(f *flow.Flow) bool { return f.ID > ids[0] }), query.Page{Limit: 5})
	if r.Complete || r.Scanned != 50 || r.Total != 50 {
		t.Errorf("predicate: complete %v scanned %d total %d", r.Complete, r.Scanned, r.Total)
	}
}

// TestRuleCounts counts each rule once per flow, from the rule hits.
func TestRuleCounts(t *testing.T) {
	s := openStore(t, Config{})
	mk := func(rules ...string) flow.Recorded {
		return flow.Recorded{Flow: flow.Flow{Start: t0, State: flow.StateDone, Request: req("/"), Rules: rules}}
	}
	if _, err := s.Import([]flow.Recorded{mk("a"), mk("a", "b", "a"), mk(), mk("b")}); err != nil {
		t.Fatal(err)
	}
	got := s.RuleCounts()
	if len(got) != 2 || got["a"] != 2 || got["b"] != 2 {
		t.Errorf("RuleCounts = %v, want a:2 b:2", got)
	}
}
