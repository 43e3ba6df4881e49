package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// mode is how the client reaches the origin through the proxy.
type mode struct {
	name string
	tls  bool // origin is HTTPS, reached through an intercepted CONNECT
	h2   bool // the client speaks HTTP/2 inside the tunnel
}

var modes = []mode{
	{name: "plain"},
	{name: "mitm-h1", tls: true},
	{name: "mitm-h2", tls: true, h2: true},
}

// origin starts an origin for m: plain HTTP, or TLS speaking HTTP/1.1 only
// (so that hop-by-hop fields the origin sends reach the proxy).
func (m mode) origin(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	if !m.tls {
		return proxytest.Origin(t, h)
	}
	s := httptest.NewUnstartedServer(h)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (m mode) client(t *testing.T, env *proxytest.Env) *http.Client {
	return &http.Client{Transport: env.Transport(t, m.h2), Timeout: 20 * time.Second}
}

// headerSaw captures the request headers an origin received.
type headerSaw struct {
	mu sync.Mutex
	h  http.Header
}

func (s *headerSaw) set(h http.Header) {
	s.mu.Lock()
	s.h = h.Clone()
	s.mu.Unlock()
}

func (s *headerSaw) get() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

func TestHopByHopHeadersNeverCross(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var saw headerSaw
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				saw.set(r.Header)
				h := w.Header()
				h.Set("Connection", "X-Resp-Hop")
				h.Set("X-Resp-Hop", "1")
				h.Set("Keep-Alive", "timeout=5")
				h.Set("Proxy-Authenticate", "Basic")
				h.Set("Proxy-Connection", "keep-alive")
				h.Set("Upgrade", "foo")
				h["X-End"] = []string{"one", "two"}
				_, _ = io.WriteString(w, "ok")
			}))
			env := proxytest.Start(t, proxy.Config{})
			req, _ := http.NewRequest("GET", origin.URL+"/hop", nil)
			req.Header["X-Client-End"] = []string{"a", "b"}
			req.Header.Set("Te", "trailers")
			if !m.h2 {
				// HTTP/2 forbids connection-specific fields, so only
				// HTTP/1.1 clients can send them.
				req.Header.Set("Connection", "X-Req-Hop")
				req.Header.Set("X-Req-Hop", "1")
				req.Header.Set("Keep-Alive", "300")
				req.Header.Set("Proxy-Connection", "keep-alive")
				req.Header.Set("Upgrade", "foo")
			}
			resp, err := m.client(t, env).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "ok" {
				t.Fatalf("body %q", body)
			}
			got := saw.get()
			for _, name := range []string{"Connection", "X-Req-Hop", "Keep-Alive", "Proxy-Connection", "Upgrade", "Proxy-Authorization"} {
				if v, ok := got[name]; ok {
					t.Errorf("origin received %s: %q", name, v)
				}
			}
			if v := got.Get("Te"); v != "trailers" {
				t.Errorf("origin TE = %q, want trailers", v)
			}
			if v := got["X-Client-End"]; strings.Join(v, ",") != "a,b" {
				t.Errorf("origin X-Client-End = %q", v)
			}
			for _, name := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Upgrade"} {
				if v, ok := resp.Header[name]; ok {
					t.Errorf("client received %s: %q", name, v)
				}
			}
			if v := resp.Header.Get("Connection"); v != "" && !strings.EqualFold(v, "close") && !strings.EqualFold(v, "keep-alive") {
				t.Errorf("client received Connection %q", v)
			}
			if v := resp.Header["X-End"]; strings.Join(v, ",") != "one,two" {
				t.Errorf("client X-End = %q", v)
			}
			if m.h2 && resp.ProtoMajor != 2 {
				t.Errorf("client spoke %s inside the tunnel, want HTTP/2", resp.Proto)
			}
			f := env.Rec.Last(t)
			if m.tls != strings.HasPrefix(f.Flow.Request.URL, "https://") {
				t.Errorf("recorded URL %q", f.Flow.Request.URL)
			}
			if f.Flow.State != flow.StateDone || f.Flow.Response == nil || f.Flow.Response.Status != 200 {
				t.Errorf("flow = %+v", f.Flow)
			}
			if f.Flow.UpstreamRequest == nil || f.Flow.UpstreamRequest.Header.Get("X-Req-Hop") != "" {
				t.Errorf("upstream request recorded with hop header: %+v", f.Flow.UpstreamRequest)
			}
			if string(f.Bodies[flow.FacetResponse]) != "ok" || !f.Flow.ResponseBody.Complete {
				t.Errorf("recorded body %q complete=%v", f.Bodies[flow.FacetResponse], f.Flow.ResponseBody.Complete)
			}
		})
	}
}

// rawRequest writes raw bytes to the proxy and returns what it answered
// until it closed the connection or went quiet.
func rawRequest(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, _ := io.ReadAll(bufio.NewReader(c))
	return string(b)
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
