package proxy_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

// Upstream failures become answers naming their cause, and are recorded.
func TestUpstreamFailuresBecomeAnswers(t *testing.T) {
	refused := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/"
	}
	slow := func(t *testing.T) string {
		release := make(chan struct{})
		s := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release) })
		return s.URL + "/slow"
	}
	untrusted := func(t *testing.T) string {
		// A TLS origin whose certificate the proxy does not trust.
		s := httptest.NewUnstartedServer(http.NotFoundHandler())
		s.TLS = &tls.Config{}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.URL + "/"
	}
	cases := []struct {
		name   string
		url    func(t *testing.T) string
		status int
		words  string
		cfg    proxy.Config
	}{
		{"refused", refused, http.StatusBadGateway, "refused", proxy.Config{}},
		{"timeout", slow, http.StatusGatewayTimeout, "timed out", proxy.Config{ResponseHeaderTimeout: 200 * time.Millisecond}},
		{"bad-certificate", untrusted, http.StatusBadGateway, "certificate", proxy.Config{UpstreamRootCAs: emptyPool()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url(t)
			env := proxytest.Start(t, tc.cfg)
			resp, err := env.Client(t).Get(u)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.words) {
				t.Errorf("got %d %q, want %d naming %q", resp.StatusCode, b, tc.status, tc.words)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			f := env.Rec.Last(t)
			if f.Flow.State != flow.StateError || !strings.Contains(f.Flow.Error, tc.words) {
				t.Errorf("flow state %s error %q", f.Flow.State, f.Flow.Error)
			}
			if f.Flow.Response == nil || f.Flow.Response.Status != tc.status {
				t.Errorf("recorded response %+v", f.Flow.Response)
			}
		})
	}
}

// A reset in the middle of the body ends the client response abruptly:
// the client sees an error, never a clean but truncated body nor a hang.
func TestUpstreamResetMidBody(t *testing.T) {
	for _, m := range modes {
		for _, framing := range []string{"length", "chunked"} {
			t.Run(m.name+"/"+framing, func(t *testing.T) {
				origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if framing == "length" {
						w.Header().Set("Content-Length", "100000")
					}
					_, _ = io.WriteString(w, strings.Repeat("x", 5000))
					_ = http.NewResponseController(w).Flush()
					c, _, err := http.NewResponseController(w).Hijack()
					if err != nil {
						panic(http.ErrAbortHandler)
					}
					if tc, ok := c.(*net.TCPConn); ok {
						_ = tc.SetLinger(0)
					}
					c.Close()
				}))
				env := proxytest.Start(t, proxy.Config{})
				c := m.client(t, env)
				resp, err := c.Get(origin.URL + "/reset")
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Fatal("client read a clean end, want an error")
				}
				// The client's own timeout is only a guard against a hang:
				// ending there means the proxy never passed the reset on.
				if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
					t.Errorf("client waited until its timeout (%v), want the reset passed on", err)
				}
				f := env.Rec.Last(t)
				if f.Flow.State != flow.StateError || f.Flow.Error == "" {
					t.Errorf("flow state %s error %q", f.Flow.State, f.Flow.Error)
				}
			})
		}
	}
}
