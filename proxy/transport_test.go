package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/proxytest"
)

func emptyPool() *x509.CertPool { return x509.NewCertPool() }

// Loupe's own Transport: no environment proxy, the client's Accept-Encoding
// untouched and never decompressed, no injected User-Agent, HTTP/2 to
// origins that offer it.
func TestTransportIsTransparent(t *testing.T) {
	// A proxy from the environment would be used by a default transport.
	var trap atomic.Int64
	bogus := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { trap.Add(1) }))
	t.Setenv("HTTP_PROXY", bogus.URL)
	t.Setenv("HTTPS_PROXY", bogus.URL)

	var saw headerSaw
	var proto atomic.Value
	origin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw.set(r.Header)
		proto.Store(r.Proto)
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = io.WriteString(w, "not really gzip")
	}))
	plain := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw.set(r.Header)
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = io.WriteString(w, "not really gzip")
	}))
	env := proxytest.Start(t, proxy.Config{})
	c := env.Client(t)

	for _, u := range []string{origin.URL, plain.URL} {
		for _, ae := range []string{"", "br, zstd"} {
			req, _ := http.NewRequest("GET", u+"/t", nil)
			req.Header["User-Agent"] = []string{""} // send none
			if ae != "" {
				req.Header.Set("Accept-Encoding", ae)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "not really gzip" || resp.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("%s: body %q encoding %q: the proxy decoded", u, b, resp.Header.Get("Content-Encoding"))
			}
			h := saw.get()
			if got := h.Get("Accept-Encoding"); got != ae {
				t.Errorf("%s: origin Accept-Encoding %q, want %q", u, got, ae)
			}
			if ua, ok := h["User-Agent"]; ok {
				t.Errorf("%s: origin got User-Agent %q, want none", u, ua)
			}
		}
	}
	if p, _ := proto.Load().(string); p != "HTTP/2.0" {
		t.Errorf("origin spoke %q, want HTTP/2.0", p)
	}
	if trap.Load() != 0 {
		t.Errorf("the environment proxy was used %d times", trap.Load())
	}
}

// Bad input is refused with 400/431 and nothing reaches the origin.
func TestBadInputRefused(t *testing.T) {
	var hits atomic.Int64
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "origin got %q", b)
	}))
	host := strings.TrimPrefix(origin.URL, "http://")
	env := proxytest.Start(t, proxy.Config{MaxHeaderBytes: 4096})
	cases := []struct {
		name, raw string
		status    string
	}{
		{"malformed request line", "GET\r\n\r\n", "400"},
		{"bad version", "GET http://" + host + "/ HTTP/9\r\nHost: " + host + "\r\n\r\n", "400"},
		{"oversized headers", "GET http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n", "431"},
		{"content-length and chunked", "POST http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://" + host + "/smuggled HTTP/1.1\r\nHost: " + host + "\r\n\r\n", "400"},
		{"invalid content-length", "POST http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 4x\r\n\r\nabcd", "400"},
		{"two content-lengths", "POST http://" + host + "/ HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", "400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			got := rawRequest(t, env.Addr, tc.raw)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status) {
				t.Errorf("answer %q, want %s", firstLine(got), tc.status)
			}
			if strings.Count(got, "HTTP/1.1 ") != 1 {
				t.Errorf("more than one answer (connection kept open?): %q", got)
			}
			if hits.Load() != before {
				t.Errorf("the origin was reached")
			}
		})
	}
	// A well-formed chunked request still works.
	got := rawRequest(t, env.Addr, "POST http://"+host+"/ HTTP/1.1\r\nHost: "+host+"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.Contains(got, `origin got "abcd"`) {
		t.Errorf("chunked request: %q", got)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// Requests aimed at Loupe itself are never proxied to itself; the dashboard
// is unreachable through the proxy; proxy auth is enforced.
func TestRequestsToLoupeItself(t *testing.T) {
	dash := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "SECRET API DATA")
	}))
	dashAddr := strings.TrimPrefix(dash.URL, "http://")
	self := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "install page for %s", r.URL.Path)
	})
	env := proxytest.Start(t, proxy.Config{SelfHandler: self, DashboardAddr: dashAddr})
	c := env.Client(t)

	get := func(u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			return 0, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + env.Addr + "/setup"); code != 200 || body != "install page for /setup" {
		t.Errorf("proxy itself through the proxy: %d %q", code, body)
	}
	_, port, _ := net.SplitHostPort(env.Addr)
	if code, body := get("http://localhost:" + port + "/"); code != 200 || !strings.HasPrefix(body, "install page") {
		t.Errorf("proxy itself by name: %d %q", code, body)
	}
	resp, err := http.Get("http://" + env.Addr + "/ca") // direct, not as a proxy
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "install page for /ca" {
		t.Errorf("direct request: %q", b)
	}
	if code, body := get(dash.URL + "/api/flows"); code != http.StatusForbidden || strings.Contains(body, "SECRET") {
		t.Errorf("dashboard through the proxy: %d %q", code, body)
	}
	got := rawRequest(t, env.Addr, "CONNECT "+dashAddr+" HTTP/1.1\r\nHost: "+dashAddr+"\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("CONNECT to the dashboard: %q", firstLine(got))
	}
	if f := env.Rec.Flows(); len(f) != 0 {
		t.Errorf("%d flows recorded for requests to Loupe itself", len(f))
	}
}

func TestProxyAuth(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Proxy-Authorization"); v != "" {
			t.Errorf("origin received Proxy-Authorization %q", v)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	env := proxytest.Start(t, proxy.Config{ProxyAuth: "user:pw"})
	resp, err := env.Client(t).Get(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Proxy-Authenticate") == "" {
		t.Errorf("without credentials: %d %q", resp.StatusCode, resp.Header.Get("Proxy-Authenticate"))
	}
	tr := env.Transport(t, false)
	u := *env.URL
	u.User = urlUser("user", "pw")
	tr.Proxy = http.ProxyURL(&u)
	resp, err = (&http.Client{Transport: tr}).Get(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("with credentials: %d %q", resp.StatusCode, b)
	}
	got := rawRequest(t, env.Addr, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 407") {
		t.Errorf("CONNECT without credentials: %q", firstLine(got))
	}
}

// Inside a tunnel: the leaf certificate follows SNI (fallback: the CONNECT
// host), and passthrough hosts are relayed blindly.
func TestMITMCertificatesAndPassthrough(t *testing.T) {
	origin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.Host)
	}))
	originAddr := strings.TrimPrefix(origin.URL, "https://")
	env := proxytest.Start(t, proxy.Config{Passthrough: []string{"passthrough.test"}})

	dialTunnel := func(t *testing.T, connectTo string) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", env.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", connectTo, connectTo)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
		return c
	}
	for _, tc := range []struct{ sni, want string }{
		{"sni.test", "sni.test"},
		{"", "127.0.0.1"},
	} {
		c := dialTunnel(t, originAddr)
		tc2 := tls.Client(c, &tls.Config{ServerName: tc.sni, RootCAs: env.CA.Pool(), InsecureSkipVerify: tc.sni == ""})
		if err := tc2.Handshake(); err != nil {
			t.Fatalf("sni %q: %v", tc.sni, err)
		}
		leaf := tc2.ConnectionState().PeerCertificates[0]
		if err := leaf.VerifyHostname(tc.want); err != nil {
			t.Errorf("sni %q: leaf for %v %v: %v", tc.sni, leaf.DNSNames, leaf.IPAddresses, err)
		}
		tc2.Close()
	}

	// Passthrough: the client sees the origin's own certificate.
	envPT := proxytest.Start(t, proxy.Config{Passthrough: []string{"127.0.0.*"}})
	tr := envPT.Transport(t, false)
	tr.TLSClientConfig = &tls.Config{RootCAs: proxytest.OriginRoots()}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(origin.URL + "/pt")
	if err != nil {
		t.Fatalf("passthrough: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), "hello") || resp.TLS.PeerCertificates[0].Issuer.CommonName == env.CA.Certificate().Subject.CommonName {
		t.Errorf("passthrough answered %q by %s", b, resp.TLS.PeerCertificates[0].Issuer)
	}
	if n := len(envPT.Rec.Flows()); n != 0 {
		t.Errorf("%d flows recorded for a blind tunnel", n)
	}
}

// HEAD, 204, 304 and 100-continue inside MITM behave as in net/http.
func TestMITMFraming(t *testing.T) {
	origin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		case "/continue":
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(b)
		default:
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		}
	}))
	env := proxytest.Start(t, proxy.Config{})
	for _, h2 := range []bool{false, true} {
		c := &http.Client{Transport: env.Transport(t, h2), Timeout: 5 * time.Second}
		for _, tc := range []struct {
			method, path string
			status       int
			body         string
		}{
			{"HEAD", "/", 200, ""},
			{"GET", "/204", 204, ""},
			{"GET", "/304", 304, ""},
			{"GET", "/", 200, "hello"},
		} {
			req, _ := http.NewRequest(tc.method, origin.URL+tc.path, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("h2=%v %s %s: %v", h2, tc.method, tc.path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(b) != tc.body {
				t.Errorf("h2=%v %s %s: %d %q", h2, tc.method, tc.path, resp.StatusCode, b)
			}
			if tc.method == "HEAD" && resp.ContentLength != 5 {
				t.Errorf("h2=%v HEAD: Content-Length %d, want 5", h2, resp.ContentLength)
			}
		}
		// The client sends its body only after a 100 Continue (it would
		// wait an hour for one): the answer proves that the proxy relayed
		// it, the trace says so explicitly.
		tr := env.Transport(t, h2)
		tr.ExpectContinueTimeout = time.Hour
		var got100 atomic.Bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{Got100Continue: func() { got100.Store(true) }})
		req, _ := http.NewRequestWithContext(ctx, "POST", origin.URL+"/continue", strings.NewReader("payload"))
		req.Header.Set("Expect", "100-continue")
		resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("h2=%v 100-continue: %v", h2, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "payload" || !got100.Load() {
			t.Errorf("h2=%v 100-continue: %q, 100 Continue received: %v", h2, b, got100.Load())
		}
	}
}

func urlUser(user, pass string) *url.Userinfo { return url.UserPassword(user, pass) }
