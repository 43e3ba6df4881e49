package proxy_test

import (
	"io"
	"net/http"
	"testing"

	"loupe/proxy"
	"loupe/proxy/proxytest"
	"loupe/proxy/store"
	"loupe/rules"
)

// BenchmarkSmallGET measures one small GET through the proxy on a kept-alive
// connection, recorded by the store: client, proxy and origin in one
// process, so allocs/op includes the client's and the origin's share (the
// same on every run).
//
//	go test -run '^$' -bench SmallGET -benchtime 20000x ./proxy
func BenchmarkSmallGET(b *testing.B) { benchSmallGET(b, nil) }

// BenchmarkSmallGETBreakpointRule is BenchmarkSmallGET with a breakpoint
// rule that matches nothing (another host): what a breakpoint costs the
// requests it does not hold.
func BenchmarkSmallGETBreakpointRule(b *testing.B) {
	benchSmallGET(b, oneRule(b, rules.Action{Type: rules.TypeBreakpoint, Phase: rules.PhaseBoth}))
}

// BenchmarkSmallGETOtherRule is the same with a block rule that matches
// nothing: what any rule costs the requests it does not match, to compare
// BenchmarkSmallGETBreakpointRule with.
func BenchmarkSmallGETOtherRule(b *testing.B) {
	benchSmallGET(b, oneRule(b, rules.Action{Type: rules.TypeBlock}))
}

// oneRule is a rule set of one rule with action a, for another host.
func oneRule(b *testing.B, a rules.Action) func() *rules.Set {
	set, err := rules.Compile([]rules.Rule{{ID: "r", Enabled: true, Match: rules.Match{Host: "api.example.com"}, Actions: []rules.Action{a}}})
	if err != nil {
		b.Fatal(err)
	}
	return func() *rules.Set { return set }
}

func benchSmallGET(b *testing.B, rs func() *rules.Set) {
	payload := make([]byte, 200)
	origin := proxytest.Origin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(payload)
	}))
	s, err := store.New(store.Config{DiskBudget: -1}, nil)
	if err != nil {
		b.Fatalf("store: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	env := proxytest.Start(b, proxy.Config{Recorder: s, Rules: rs})
	env.Proxy.SetViewers(1)
	c := env.Client(b)
	get := func() {
		resp, err := c.Get(origin.URL + "/small")
		if err != nil {
			b.Fatalf("GET: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}
