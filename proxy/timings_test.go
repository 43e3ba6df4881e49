package proxy_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/proxytest"
)

// TestConnectionTimings checks that a flow that opened the origin connection
// records its connect time (and TLS time for an HTTPS origin), and that a
// flow on the reused connection records none.
func TestConnectionTimings(t *testing.T) {
	for _, m := range []mode{{name: "plain"}, {name: "mitm-h1", tls: true}} {
		t.Run(m.name, func(t *testing.T) {
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ok")
			}))
			env := proxytest.Start(t, proxy.Config{})
			c := m.client(t, env)
			for range 2 {
				resp, err := c.Get(origin.URL + "/t")
				if err != nil {
					t.Fatalf("GET: %v", err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			fs := env.Rec.WaitFinished(t, 2, 10*time.Second)
			first, second := fs[0].Flow.Timings, fs[1].Flow.Timings
			if first.Connect < 0 {
				t.Errorf("first flow: connect %v, want >= 0 (it opened the connection)", first.Connect)
			}
			if m.tls && first.TLS < 0 {
				t.Errorf("first flow: ssl %v, want >= 0", first.TLS)
			}
			if !m.tls && first.TLS != -1 {
				t.Errorf("first flow: ssl %v, want -1 for a plain origin", first.TLS)
			}
			if second.Connect != -1 || second.DNS != -1 || second.TLS != -1 {
				t.Errorf("second flow (reused connection): dns %v connect %v ssl %v, want -1 each", second.DNS, second.Connect, second.TLS)
			}
		})
	}
}
