package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

// A request loop through an outside hop: the origin forwards every request
// it gets back through the proxy, to itself, keeping its headers (as a
// forwarding proxy does). The second time the request reaches Loupe it
// carries Loupe's own Via entry and is answered 508, recorded as a failed
// flow; the origin forwarded once. Before, the request went round until
// the origin's bound (maxHops) stopped it.
func TestRequestLoopThroughOutsideHop(t *testing.T) {
	for _, m := range []mode{{name: "plain"}, {name: "mitm", tls: true}} {
		t.Run(m.name, func(t *testing.T) {
			const maxHops = 5
			env := proxytest.Start(t, proxy.Config{})
			fwd := env.Client(t)
			var hops atomic.Int64
			scheme := "http"
			if m.tls {
				scheme = "https"
			}
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hops.Add(1) > maxHops {
					http.Error(w, "loop not stopped", http.StatusInternalServerError)
					return
				}
				req, err := http.NewRequestWithContext(r.Context(), r.Method, scheme+"://"+r.Host+r.URL.RequestURI(), nil)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				req.Header = r.Header.Clone()
				resp, err := fwd.Do(req)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
				w.WriteHeader(resp.StatusCode)
				_, _ = io.Copy(w, resp.Body)
			}))

			resp, err := env.Client(t).Get(origin.URL + "/loop")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusLoopDetected || !strings.Contains(string(body), "request loop") {
				t.Errorf("client got %d %q, want the 508 Loupe answered to the looped request", resp.StatusCode, body)
			}
			if n := hops.Load(); n != 1 {
				t.Errorf("the origin forwarded %d times, want 1", n)
			}

			fs := env.Rec.WaitFinished(t, 2, 10*time.Second)
			if len(fs) != 2 {
				t.Fatalf("%d flows, want 2", len(fs))
			}
			first, looped := fs[0].Flow, fs[1].Flow
			if first.UpstreamRequest == nil || !strings.Contains(first.UpstreamRequest.Header.Get("Via"), "loupe-") {
				t.Errorf("first flow's upstream head has no Via: %+v", first.UpstreamRequest)
			}
			if looped.State != flow.StateError || !strings.Contains(looped.Error, "request loop") ||
				looped.Response == nil || looped.Response.Status != http.StatusLoopDetected || looped.UpstreamRequest != nil {
				t.Errorf("looped flow: state %s error %q response %+v upstream %+v",
					looped.State, looped.Error, looped.Response, looped.UpstreamRequest)
			}
		})
	}
}

// Loupe appends its own Via entry, with the protocol it received, after
// the ones the request carried; another Loupe's entry is not a loop.
func TestViaAppended(t *testing.T) {
	var saw headerSaw
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw.set(r.Header)
	})
	entry := regexp.MustCompile(`^(1\.1|2) loupe-[0-9a-f]{16}$`)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var origin *httptest.Server
			if m.tls {
				origin = proxytest.TLSOrigin(t, h)
			} else {
				origin = proxytest.Origin(t, h)
			}
			env := proxytest.Start(t, proxy.Config{})
			c := m.client(t, env)
			var ours string
			for _, prior := range []string{"", "1.0 corp-proxy", "1.1 loupe-0123456789abcdef"} {
				req, _ := http.NewRequest("GET", origin.URL+"/via", nil)
				if prior != "" {
					req.Header.Set("Via", prior)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("Via %q: status %d", prior, resp.StatusCode)
				}
				vias := saw.get().Values("Via")
				want := 1
				if prior != "" {
					want = 2
					if vias[0] != prior {
						t.Errorf("origin saw Via %q, want %q kept first", vias, prior)
					}
				}
				if len(vias) != want || !entry.MatchString(vias[len(vias)-1]) {
					t.Fatalf("origin saw Via %q", vias)
				}
				if got := vias[len(vias)-1]; (m.h2 != strings.HasPrefix(got, "2 ")) || (ours != "" && got != ours) {
					t.Errorf("Via entry %q (earlier %q)", got, ours)
				}
				ours = vias[len(vias)-1]
			}
		})
	}
}
