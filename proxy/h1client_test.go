package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/proxytest"
)

// rawOrigin is an HTTP/1.1 origin written on raw TCP, so that a test sees
// every connection and can misbehave on purpose. answer writes the answer
// to the i-th request on a connection and reports whether to keep the
// connection open for another.
type rawOrigin struct {
	addr   string
	conns  atomic.Int64 // connections accepted
	closed atomic.Int64 // connections the proxy closed (EOF seen by the origin)
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

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
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

// Plain GETs reuse one origin connection, whatever the framing, and a
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
			env := proxytest.Start(t, proxy.Config{})
			c := env.Client(t)
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
	env := proxytest.Start(t, proxy.Config{})
	c := env.Client(t)
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
	env := proxytest.Start(t, proxy.Config{})
	const n = 4
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if status, body := get(t, env.Client(t), "http://"+o.addr+"/warm"); status != http.StatusOK || body != "ok" {
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
	if status, body := get(t, env.Client(t), "http://"+o.addr+"/after"); status != http.StatusOK || body != "ok" {
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
			time.Sleep(20 * time.Millisecond) // after the proxy pooled the connection
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!")
			return true
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	env := proxytest.Start(t, proxy.Config{})
	c := env.Client(t)
	req, _ := http.NewRequest(http.MethodHead, "http://"+o.addr+"/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
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
	env := proxytest.Start(t, proxy.Config{})
	c := env.Client(t)
	for i := range 2 {
		if status, body := get(t, c, "http://"+o.addr+"/"); status != http.StatusOK || body != "ok" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if n := o.conns.Load(); n != 2 {
		t.Errorf("origin accepted %d connections, want 2", n)
	}
}

// A client that leaves in the middle of a body closes the origin
// connection (never pooled with the rest unread); idle connections close
// after IdleConnTimeout and on Shutdown.
func TestOriginConnectionEnds(t *testing.T) {
	t.Run("client leaves mid-body", func(t *testing.T) {
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
		env := proxytest.Start(t, proxy.Config{})
		c := env.Client(t)
		resp, err := c.Get("http://" + o.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Read(make([]byte, 10))
		resp.Body.Close() // mid-body: the client's transport closes its connection
		waitFor(t, "the origin connection to be cut", cut.Load)
	})
	t.Run("idle timeout", func(t *testing.T) {
		o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
		env := proxytest.Start(t, proxy.Config{IdleConnTimeout: 100 * time.Millisecond})
		get(t, env.Client(t), "http://"+o.addr+"/")
		waitFor(t, "the idle origin connection to close", func() bool { return o.closed.Load() == 1 })
	})
	t.Run("shutdown", func(t *testing.T) {
		o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
		env := proxytest.Start(t, proxy.Config{})
		get(t, env.Client(t), "http://"+o.addr+"/")
		if o.closed.Load() != 0 {
			t.Fatal("origin connection closed before shutdown")
		}
		if err := env.Proxy.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the idle origin connection to close", func() bool { return o.closed.Load() == 1 })
	})
}

// An origin response head beyond MaxHeaderBytes is refused with 502, not
// read into memory without bound.
func TestOriginHeadTooLarge(t *testing.T) {
	o := startRawOrigin(t, func(w io.Writer, req *http.Request, i int) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\n")
		for range 200 {
			io.WriteString(w, "X-Filler: "+strings.Repeat("y", 1000)+"\r\n")
		}
		io.WriteString(w, "Content-Length: 2\r\n\r\nok")
		return false
	})
	env := proxytest.Start(t, proxy.Config{MaxHeaderBytes: 64 << 10})
	status, body := get(t, env.Client(t), "http://"+o.addr+"/")
	if status != http.StatusBadGateway {
		t.Errorf("got %d %q, want 502", status, body)
	}
}

// An HTTPS origin that answers over HTTP/1.1 is served by the proxy's own
// HTTP/1.1 client from its second request on: one more origin connection,
// then reuse, TLS verified and timed; an origin that offers HTTP/2 stays on
// HTTP/2.
func TestHTTPSOriginProtocolKept(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
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
			env := proxytest.Start(t, proxy.Config{UpstreamRootCAs: pool})
			c := env.Client(t)
			const n = 5
			want := "HTTP/1.1"
			if h2 {
				want = "HTTP/2.0"
			}
			for i := range n {
				status, body := get(t, c, fmt.Sprintf("%s/%d", origin.URL, i))
				if status != http.StatusOK || body != fmt.Sprintf("%s /%d", want, i) {
					t.Fatalf("request %d: %d %q", i, status, body)
				}
			}
			wantConns := int64(2)
			if h2 {
				wantConns = 1
			}
			if got := conns.Load(); got != wantConns {
				t.Errorf("origin accepted %d connections for %d requests, want %d", got, n, wantConns)
			}
			fs := env.Rec.WaitFinished(t, n, 10*time.Second)
			for i, f := range fs {
				if f.Flow.UpstreamResponse == nil || f.Flow.UpstreamResponse.Proto != want {
					t.Errorf("flow %d: upstream response %+v, want %s", i, f.Flow.UpstreamResponse, want)
				}
			}
			if !h2 && fs[1].Flow.Timings.TLS < 0 {
				t.Errorf("flow 1 opened the HTTP/1.1 client's connection: ssl %v, want >= 0", fs[1].Flow.Timings.TLS)
			}
			if last := fs[n-1].Flow.Timings; last.TLS != -1 || last.Connect != -1 {
				t.Errorf("last flow on a reused connection: connect %v ssl %v, want -1", last.Connect, last.TLS)
			}
		})
	}
}

// The proxy's own HTTP/1.1 client verifies origin certificates like the
// Transport: an origin whose certificate changed to an untrusted one after
// it was learned gets a 502 naming the certificate.
func TestHTTPSOriginCertificateChecked(t *testing.T) {
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	origin.StartTLS()
	t.Cleanup(origin.Close)
	pool := x509.NewCertPool()
	pool.AddCert(origin.Certificate())
	env := proxytest.Start(t, proxy.Config{UpstreamRootCAs: pool})
	c := env.Client(t)
	if status, body := get(t, c, origin.URL+"/"); status != http.StatusOK || body != "ok" {
		t.Fatalf("first request: %d %q", status, body)
	}
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
	status, body := get(t, c, origin.URL+"/")
	if status != http.StatusBadGateway || !strings.Contains(body, "certificate") {
		t.Errorf("got %d %q, want 502 naming the certificate", status, body)
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

// Many clients at once, bodies of every framing and size, some streams left
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
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" { // until the proxy hangs up, at most 2 s
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
	env := proxytest.Start(t, proxy.Config{MaxIdleConnsPerHost: 4})
	sizes := []int{0, 1, 4095, 4096, 4097, 70000}
	var wg sync.WaitGroup
	errs := make(chan error, 32*24)
	for w := range 32 {
		wg.Go(func() {
			c := env.Client(t)
			for i := range 24 {
				if i%7 == 3 {
					resp, err := c.Get(origin.URL + "/stream")
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
				resp, err := c.Do(req)
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
}
