package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

// originClients are the values of Config.OriginClient: tests that run
// under both show that the fallback to net/http's Transport behaves like
// Loupe's own HTTP/1.1 client.
var originClients = []string{proxy.OriginClientLoupe, proxy.OriginClientStdlib}

// countingOrigin starts an origin (plain, or HTTPS speaking HTTP/1.1 only)
// that counts the connections it accepted and saw closed.
func countingOrigin(t *testing.T, tls bool, h http.Handler) (s *httptest.Server, opened, closed *atomic.Int64) {
	t.Helper()
	opened, closed = new(atomic.Int64), new(atomic.Int64)
	s = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s, opened, closed
}

// TestOriginClients runs the same exchanges through Loupe's HTTP/1.1 origin
// client and through the standard library's Transport alone: answers,
// records and connection reuse must agree.
func TestOriginClients(t *testing.T) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		if r.Method != http.MethodHead {
			io.WriteString(w, "hello")
		}
	})
	tests := []struct {
		name   string
		tls    bool // HTTPS origin speaking HTTP/1.1, reached through MITM
		method string
		n      int // requests, one after the other, on one client connection
		// wantConns is how many origin connections the n requests open,
		// by origin client: an HTTPS origin is learned through the
		// Transport's first answer, then Loupe's client opens its own.
		wantConns map[string]int64
		wantBody  string
	}{
		{name: "plain GET", method: http.MethodGet, n: 1, wantBody: "hello",
			wantConns: map[string]int64{proxy.OriginClientLoupe: 1, proxy.OriginClientStdlib: 1}},
		{name: "HEAD", method: http.MethodHead, n: 1,
			wantConns: map[string]int64{proxy.OriginClientLoupe: 1, proxy.OriginClientStdlib: 1}},
		{name: "keep-alive reuse", method: http.MethodGet, n: 5, wantBody: "hello",
			wantConns: map[string]int64{proxy.OriginClientLoupe: 1, proxy.OriginClientStdlib: 1}},
		{name: "HTTPS HTTP/1.1 origin", tls: true, method: http.MethodGet, n: 4, wantBody: "hello",
			wantConns: map[string]int64{proxy.OriginClientLoupe: 2, proxy.OriginClientStdlib: 1}},
	}
	for _, oc := range originClients {
		for _, tt := range tests {
			t.Run(oc+"/"+tt.name, func(t *testing.T) {
				origin, opened, closed := countingOrigin(t, tt.tls, hello)
				env := proxytest.Start(t, proxy.Config{OriginClient: oc})
				c := env.Client(t)
				for i := range tt.n {
					req, _ := http.NewRequest(tt.method, fmt.Sprintf("%s/%d", origin.URL, i), nil)
					resp, err := c.Do(req)
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || string(b) != tt.wantBody {
						t.Fatalf("request %d: %d %q, %v", i, resp.StatusCode, b, err)
					}
					if got := resp.Header.Get("Content-Length"); tt.method == http.MethodHead && got != "5" {
						t.Errorf("HEAD answer Content-Length %q, want 5", got)
					}
				}
				if got, want := opened.Load(), tt.wantConns[oc]; got != want {
					t.Errorf("origin accepted %d connections for %d requests, want %d", got, tt.n, want)
				}
				fs := env.Rec.WaitFinished(t, tt.n, 10*time.Second)
				for i, f := range fs {
					if f.Flow.State != flow.StateDone || f.Flow.UpstreamResponse == nil || f.Flow.UpstreamResponse.Proto != "HTTP/1.1" {
						t.Fatalf("flow %d: state %v, upstream %+v", i, f.Flow.State, f.Flow.UpstreamResponse)
					}
					if got := string(f.Bodies[flow.FacetResponse]); got != tt.wantBody || !f.Flow.ResponseBody.Complete {
						t.Errorf("flow %d: recorded body %q complete=%v", i, got, f.Flow.ResponseBody.Complete)
					}
				}
				// The origin connections stay pooled until Shutdown closes
				// them.
				if n := closed.Load(); n != 0 {
					t.Errorf("%d origin connections closed before shutdown", n)
				}
				if err := env.Proxy.Shutdown(t.Context()); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, func() bool { return closed.Load() == opened.Load() }) // every origin connection closed
			})
		}
	}
}

// An origin answer whose head is beyond MaxHeaderBytes is a 502 with either
// origin client.
func TestOriginClientsRefuseLargeHeads(t *testing.T) {
	for _, oc := range originClients {
		t.Run(oc, func(t *testing.T) {
			origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for i := range 100 {
					w.Header().Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("y", 1000))
				}
				io.WriteString(w, "ok")
			}))
			env := proxytest.Start(t, proxy.Config{OriginClient: oc, MaxHeaderBytes: 32 << 10})
			resp, err := env.Client(t).Get(origin.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502", resp.StatusCode)
			}
		})
	}
}

func TestOriginClientValidated(t *testing.T) {
	if _, err := proxy.New(proxy.Config{OriginClient: "curl"}); err == nil {
		t.Error("unknown origin client accepted")
	}
}
