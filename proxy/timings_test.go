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
// flow on a reused connection records none, with either origin client. (An
// HTTPS origin that answers over HTTP/1.1 is served by Loupe's own client
// from its second request on, which opens its own connection: the third
// request reuses it.)
func TestConnectionTimings(t *testing.T) {
	for _, oc := range originClients {
		for _, m := range []mode{{name: "plain"}, {name: "mitm-h1", tls: true}} {
			t.Run(oc+"/"+m.name, func(t *testing.T) {
				origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, "ok")
				}))
				env := proxytest.Start(t, proxy.Config{OriginClient: oc})
				c := m.client(t, env)
				const n = 3
				for range n {
					resp, err := c.Get(origin.URL + "/t")
					if err != nil {
						t.Fatalf("GET: %v", err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				fs := env.Rec.WaitFinished(t, n, 10*time.Second)
				first, last := fs[0].Flow.Timings, fs[n-1].Flow.Timings
				if first.Connect < 0 {
					t.Errorf("first flow: connect %v, want >= 0 (it opened the connection)", first.Connect)
				}
				if m.tls && first.TLS < 0 {
					t.Errorf("first flow: ssl %v, want >= 0", first.TLS)
				}
				if !m.tls && first.TLS != -1 {
					t.Errorf("first flow: ssl %v, want -1 for a plain origin", first.TLS)
				}
				if last.Connect != -1 || last.DNS != -1 || last.TLS != -1 {
					t.Errorf("last flow (reused connection): dns %v connect %v ssl %v, want -1 each", last.DNS, last.Connect, last.TLS)
				}
			})
		}
	}
}
