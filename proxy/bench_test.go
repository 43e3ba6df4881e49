package proxy_test

import (
	"io"
	"net/http"
	"testing"

	"loupe/proxy"
	"loupe/proxy/proxytest"
	"loupe/proxy/store"
)

// BenchmarkSmallGET measures one small GET through the proxy on a kept-alive
// connection, recorded by the store: client, proxy and origin in one
// process, so allocs/op includes the client's and the origin's share (the
// same on every run).
//
//	go test -run '^$' -bench SmallGET -benchtime 20000x ./proxy
func BenchmarkSmallGET(b *testing.B) {
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
	env := proxytest.Start(b, proxy.Config{Recorder: s})
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
