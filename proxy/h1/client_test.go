package h1_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy/h1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fallback is a Transport that counts the requests it carries.
type fallback struct {
	tr *http.Transport
	n  atomic.Int64
}

func (f *fallback) RoundTrip(req *http.Request) (*http.Response, error) {
	f.n.Add(1)
	return f.tr.RoundTrip(req)
}

func (f *fallback) CloseIdleConnections() { f.tr.CloseIdleConnections() }

// newClient builds a Client for a test: a plain dialer, a counting
// Transport as Fallback trusting roots (nil: the system's), cfg's limits.
// Both are closed by t.Cleanup.
func newClient(t *testing.T, cfg h1.Config, roots *x509.CertPool) (*h1.Client, *fallback) {
	t.Helper()
	var d net.Dialer
	tlsConfig := &tls.Config{RootCAs: roots}
	fb := &fallback{tr: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true, DisableCompression: true}}
	cfg.Dial = d.DialContext
	cfg.Fallback = fb
	cfg.TLSConfig = tlsConfig
	c, err := h1.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		fb.tr.CloseIdleConnections()
	})
	return c, fb
}

// do sends one request through c and reads its answer to the end.
func do(t *testing.T, c http.RoundTripper, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func get(t *testing.T, c http.RoundTripper, url string) (int, string) {
	t.Helper()
	return do(t, c, http.MethodGet, url)
}

// rawOrigin is an HTTP/1.1 origin written on raw TCP, so that a test sees
// every connection and can misbehave on purpose. answer writes the answer
// to the i-th request on a connection and reports whether to keep the
// connection open for another.
type rawOrigin struct {
	addr   string
	conns  atomic.Int64 // connections accepted
	closed atomic.Int64 // connections the client closed (EOF seen by the origin)
	// closeAll closes every connection the origin holds open.
	closeAll func()
}

func startRawOrigin(t *testing.T, answer func(w io.Writer, req *http.Request, i int) bool) *rawOrigin {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{addr: l.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	o.closeAll = func() {
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		o.closeAll()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			o.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						if err == io.EOF {
							o.closed.Add(1)
						}
						return
					}
					if !answer(c, req, i) {
						return
					}
				}
			})
		}
	})
	return o
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	var d net.Dialer
	tests := []struct {
		name string
		cfg  h1.Config
	}{
		{"no dial", h1.Config{Fallback: http.DefaultTransport}},
		{"no fallback", h1.Config{Dial: d.DialContext}},
		{"negative", h1.Config{Dial: d.DialContext, Fallback: http.DefaultTransport, MaxIdleConns: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h1.New(tt.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// Requests the client does not carry go to the Fallback; the others never
// do.
func TestFallbackCarriesTheRest(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	t.Cleanup(origin.Close)
	tests := []struct {
		name, method, body string
		header             http.Header
		wantFallback       bool
	}{
		{name: "GET", method: http.MethodGet},
		{name: "HEAD", method: http.MethodHead},
		{name: "OPTIONS", method: http.MethodOptions},
		{name: "DELETE", method: http.MethodDelete},
		{name: "POST with a body", method: http.MethodPost, body: "x", wantFallback: true},
		{name: "PUT without a body", method: http.MethodPut, wantFallback: true},
		{name: "Expect", method: http.MethodGet, header: http.Header{"Expect": {"100-continue"}}, wantFallback: true},
		{name: "Upgrade", method: http.MethodGet, header: http.Header{"Upgrade": {"foo"}, "Connection": {"Upgrade"}}, wantFallback: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fb := newClient(t, h1.Config{}, nil)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, origin.URL+"/", body)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := tt.method + " " + tt.body; tt.method != http.MethodHead && string(got) != want {
				t.Errorf("answer %q, want %q", got, want)
			}
			if n := fb.n.Load(); (n == 1) != tt.wantFallback || n > 1 {
				t.Errorf("fallback carried %d requests, want fallback %v", n, tt.wantFallback)
			}
		})
	}
}

// GETs reuse one origin connection, whatever the framing, and a
// connection is only reused once its answer was read to the end.
func TestOriginConnectionsReused(t *testing.T) {
	for _, framing := range []string{"length", "chunked", "empty"} {
		t.Run(framing, func(t *testing.T) {
			o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
				body := fmt.Sprintf("answer %d", i)
				switch framing {
				case "length":
					fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				case "chunked":
					fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
				case "empty":
					fmt.Fprintf(w, "HTTP/1.1 204 No Content\r\n\r\n")
				}
				return true
			})
			c, fb := newClient(t, h1.Config{}, nil)
			for i := range 5 {
				status, body := get(t, c, "http://"+o.addr+"/")
				want := fmt.Sprintf("answer %d", i)
				if framing == "empty" {
					want = ""
				}
				if status >= 300 || body != want {
					t.Fatalf("request %d: %d %q, want %q", i, status, body, want)
				}
			}
			if n := o.conns.Load(); n != 1 {
				t.Errorf("origin accepted %d connections for 5 sequential requests, want 1", n)
			}
			if n := fb.n.Load(); n != 0 {
				t.Errorf("fallback carried %d requests, want 0", n)
			}
		})
	}
}

// An idle origin connection that dies as the request goes out is not an
// error: the request goes out again on a new connection.
func TestStaleOriginConnectionRetried(t *testing.T) {
	o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
		if i > 0 {
			// A second request on a connection finds it closing: it
			// looked alive when pooled and when taken, and dies as the
			// request goes out (no answer).
			return false
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	c, _ := newClient(t, h1.Config{}, nil)
	for i := range 3 {
		status, body := get(t, c, "http://"+o.addr+"/")
		if status != http.StatusOK || body != "ok" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if n := o.conns.Load(); n != 3 {
		t.Errorf("origin accepted %d connections, want 3", n)
	}
}

// Several pooled connections that the origin closed at once (an origin's
// keep-alive timeout) are never an error for the next request.
func TestStalePoolRetriedOnNewConnection(t *testing.T) {
	o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
		if req.URL.Path == "/warm" {
			time.Sleep(50 * time.Millisecond) // the warm-ups overlap: one connection each
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	c, _ := newClient(t, h1.Config{MaxIdleConnsPerHost: 16}, nil)
	const n = 4
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if status, body := get(t, c, "http://"+o.addr+"/warm"); status != http.StatusOK || body != "ok" {
				t.Errorf("warm-up: %d %q", status, body)
			}
		})
	}
	wg.Wait()
	if got := o.conns.Load(); got < 2 {
		t.Fatalf("origin accepted %d connections for %d overlapping requests", got, n)
	}
	o.closeAll() // all pooled connections go stale at once, within one sweep interval
	time.Sleep(20 * time.Millisecond)
	if status, body := get(t, c, "http://"+o.addr+"/after"); status != http.StatusOK || body != "ok" {
		t.Fatalf("after the origin closed its idle connections: %d %q", status, body)
	}
}

// Bytes that arrive on a pooled connection after its last answer (here a
// whole response, late, after a HEAD answer) are never read as the answer
// to the next request: that connection is dropped before use.
func TestBodyAfterHeadAnswerNotServed(t *testing.T) {
	o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
		if req.Method == http.MethodHead {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
			time.Sleep(20 * time.Millisecond) // after the client pooled the connection
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!")
			return true
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	c, _ := newClient(t, h1.Config{}, nil)
	if status, _ := do(t, c, http.MethodHead, "http://"+o.addr+"/"); status != http.StatusOK {
		t.Fatalf("HEAD: %d", status)
	}
	time.Sleep(40 * time.Millisecond) // the stray bytes have arrived; no sweep yet
	if status, body := get(t, c, "http://"+o.addr+"/"); status != http.StatusOK || body != "ok" {
		t.Fatalf("next request: %d %q", status, body)
	}
}

// Bytes after the end of an answer are never served as the next answer:
// that connection is closed, not reused.
func TestUnsolicitedBytesNotReused(t *testing.T) {
	o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"+
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!")
		return true
	})
	c, _ := newClient(t, h1.Config{}, nil)
	for i := range 2 {
		if status, body := get(t, c, "http://"+o.addr+"/"); status != http.StatusOK || body != "ok" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if n := o.conns.Load(); n != 2 {
		t.Errorf("origin accepted %d connections, want 2", n)
	}
}

// A body closed in its middle closes the origin connection (never pooled
// with the rest unread); idle connections close after IdleConnTimeout, on
// CloseIdleConnections and on Close.
func TestOriginConnectionEnds(t *testing.T) {
	t.Run("body closed mid-way", func(t *testing.T) {
		var cut atomic.Bool
		o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
				if _, err := w.Write(make([]byte, 1000)); err != nil {
					cut.Store(true)
					return false
				}
				time.Sleep(5 * time.Millisecond)
			}
			return false
		})
		c, _ := newClient(t, h1.Config{}, nil)
		req, _ := http.NewRequest(http.MethodGet, "http://"+o.addr+"/", nil)
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Read(make([]byte, 10))
		resp.Body.Close()
		waitFor(t, "the origin connection to be cut", cut.Load)
	})
	ok := func(w io.Writer, req *http.Request, i int) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	}
	for _, tt := range []struct {
		name  string
		cfg   h1.Config
		close func(c *h1.Client)
	}{
		{"idle timeout", h1.Config{IdleConnTimeout: 100 * time.Millisecond}, func(*h1.Client) {}},
		{"CloseIdleConnections", h1.Config{}, (*h1.Client).CloseIdleConnections},
		{"Close", h1.Config{}, (*h1.Client).Close},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := startRawOrigin(t, ok)
			c, _ := newClient(t, tt.cfg, nil)
			get(t, c, "http://"+o.addr+"/")
			tt.close(c)
			waitFor(t, "the idle origin connection to close", func() bool { return o.closed.Load() == 1 })
		})
	}
}

// A response head beyond MaxResponseHeaderBytes is an error, not read into
// memory without bound.
func TestOriginHeadTooLarge(t *testing.T) {
	o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\n")
		for range 200 {
			io.WriteString(w, "X-Filler: "+strings.Repeat("y", 1000)+"\r\n")
		}
		io.WriteString(w, "Content-Length: 2\r\n\r\nok")
		return false
	})
	c, _ := newClient(t, h1.Config{MaxResponseHeaderBytes: 64 << 10}, nil)
	req, _ := http.NewRequest(http.MethodGet, "http://"+o.addr+"/", nil)
	resp, err := c.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want an error", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error %q does not name the bound", err)
	}
}

// tlsOrigin starts an HTTPS origin answering "proto path", speaking HTTP/2
// only when h2, and counts its connections.
func tlsOrigin(t *testing.T, h2 bool) (*httptest.Server, *atomic.Int64, *x509.CertPool) {
	t.Helper()
	var conns atomic.Int64
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}))
	origin.EnableHTTP2 = h2
	origin.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	origin.StartTLS()
	t.Cleanup(origin.Close)
	pool := x509.NewCertPool()
	pool.AddCert(origin.Certificate())
	return origin, &conns, pool
}

// An HTTPS origin that answers the Fallback over HTTP/1.1 is served by the
// client from its second request on: one more origin connection, then
// reuse, TLS verified and reported to the request's trace hooks; an origin
// that offers HTTP/2 stays on the Fallback.
func TestHTTPSOriginProtocolKept(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			origin, conns, pool := tlsOrigin(t, h2)
			c, fb := newClient(t, h1.Config{}, pool)
			const n = 5
			want := "HTTP/1.1"
			if h2 {
				want = "HTTP/2.0"
			}
			var handshakes []int
			for i := range n {
				done := false
				trace := &httptrace.ClientTrace{TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
					done = err == nil
				}}
				ctx := httptrace.WithClientTrace(context.Background(), trace)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/%d", origin.URL, i), nil)
				resp, err := c.RoundTrip(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(b) != fmt.Sprintf("%s /%d", want, i) || resp.Proto != want {
					t.Fatalf("request %d: %d %s %q", i, resp.StatusCode, resp.Proto, b)
				}
				if done {
					handshakes = append(handshakes, i)
				}
			}
			wantConns, wantFallback, wantHandshakes := int64(2), int64(1), "[0 1]"
			if h2 {
				wantConns, wantFallback, wantHandshakes = 1, n, "[0]"
			}
			if got := conns.Load(); got != wantConns {
				t.Errorf("origin accepted %d connections for %d requests, want %d", got, n, wantConns)
			}
			if got := fb.n.Load(); got != wantFallback {
				t.Errorf("fallback carried %d requests, want %d", got, wantFallback)
			}
			if got := fmt.Sprint(handshakes); got != wantHandshakes {
				t.Errorf("TLS handshakes reported for requests %s, want %s", got, wantHandshakes)
			}
		})
	}
}

// The client verifies origin certificates like the Fallback: an origin
// whose certificate changed to an untrusted one after it was learned is an
// error naming the certificate.
func TestHTTPSOriginCertificateChecked(t *testing.T) {
	origin, _, pool := tlsOrigin(t, false)
	c, _ := newClient(t, h1.Config{}, pool)
	if status, body := get(t, c, origin.URL+"/"); status != http.StatusOK {
		t.Fatalf("first request: %d %q", status, body)
	}
	c.CloseIdleConnections()
	// Same address, another certificate nobody trusts.
	addr := origin.Listener.Addr().String()
	origin.Close()
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "impostor")
	}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("address %s not free again: %v", addr, err)
	}
	other.Listener.Close()
	other.Listener = l
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	other.StartTLS()
	t.Cleanup(other.Close)
	req, _ := http.NewRequest(http.MethodGet, origin.URL+"/", nil)
	resp, err := c.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("impostor answered %d", resp.StatusCode)
	}
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) {
		t.Errorf("error %v, want a certificate verification error", err)
	}
}

// selfSigned is a certificate for 127.0.0.1 that nobody trusts.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "impostor"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Many callers at once, bodies of every framing and size, some streams left
// in the middle: every complete body arrives intact (the pool never hands a
// connection with the rest of an old answer to a new request).
func TestOriginPoolUnderConcurrency(t *testing.T) {
	body := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + (i*7+n)%26)
		}
		return b
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" { // until the client hangs up, at most 2 s
			rc := http.NewResponseController(w)
			for range 400 {
				if _, err := w.Write(body(1000)); err != nil || rc.Flush() != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			return
		}
		var n int
		fmt.Sscanf(r.URL.Query().Get("n"), "%d", &n)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		b := body(n)
		for len(b) > 0 { // several writes: chunked answers get several chunks
			k := min(len(b), 3000)
			w.Write(b[:k])
			b = b[k:]
		}
	}))
	t.Cleanup(origin.Close)
	c, fb := newClient(t, h1.Config{MaxIdleConnsPerHost: 4}, nil)
	sizes := []int{0, 1, 4095, 4096, 4097, 70000}
	var wg sync.WaitGroup
	errs := make(chan error, 32*24)
	for w := range 32 {
		wg.Go(func() {
			for i := range 24 {
				if i%7 == 3 {
					req, _ := http.NewRequest(http.MethodGet, origin.URL+"/stream", nil)
					resp, err := c.RoundTrip(req)
					if err != nil {
						errs <- err
						return
					}
					resp.Body.Read(make([]byte, 100)) // leave in the middle
					resp.Body.Close()
					continue
				}
				n := sizes[(w+i)%len(sizes)]
				u := fmt.Sprintf("%s/?n=%d", origin.URL, n)
				if i%2 == 1 {
					u += "&chunked=1"
				}
				method := http.MethodGet
				if i%5 == 4 {
					method = http.MethodHead
				}
				req, _ := http.NewRequest(method, u, nil)
				resp, err := c.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := body(n)
				if method == http.MethodHead {
					want = nil
				}
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("%s %s: %d, %d bytes, %v", method, u, resp.StatusCode, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := fb.n.Load(); n != 0 {
		t.Errorf("fallback carried %d requests, want 0", n)
	}
}

// A body says it is Ready only when its next Read cannot wait for the
// origin: bytes of a length-delimited body already buffered, or its end;
// never while the origin holds the rest, nor for a chunked body in
// progress.
func TestBodyReady(t *testing.T) {
	for _, framing := range []string{"length", "chunked"} {
		t.Run(framing, func(t *testing.T) {
			release := make(chan struct{})
			o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
				// The head and the first bytes in one write, the rest
				// when the test says so.
				if framing == "length" {
					io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
				} else {
					io.WriteString(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
				}
				select {
				case <-release:
				case <-time.After(10 * time.Second):
					return false
				}
				if framing == "length" {
					io.WriteString(w, "cd")
				} else {
					io.WriteString(w, "2\r\ncd\r\n0\r\n\r\n")
				}
				return true
			})
			c, _ := newClient(t, h1.Config{}, nil)
			req, _ := http.NewRequest(http.MethodGet, "http://"+o.addr+"/", nil)
			resp, err := c.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r, ok := resp.Body.(interface{ Ready() bool })
			if !ok {
				t.Fatalf("body %T has no Ready method", resp.Body)
			}
			if got, want := r.Ready(), framing == "length"; got != want {
				t.Errorf("with the first bytes buffered: Ready %v, want %v", got, want)
			}
			b := make([]byte, 2)
			if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != "ab" {
				t.Fatalf("first bytes %q, %v", b, err)
			}
			if r.Ready() {
				t.Error("Ready while the origin holds the rest")
			}
			close(release)
			rest, err := io.ReadAll(resp.Body)
			if err != nil || string(rest) != "cd" {
				t.Fatalf("rest %q, %v", rest, err)
			}
			if !r.Ready() {
				t.Error("not Ready at the end")
			}
		})
	}
}
