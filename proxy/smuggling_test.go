package proxy_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/proxytest"
)

// pathLog is an origin that records the path of every request it receives.
type pathLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *pathLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	l.mu.Lock()
	l.paths = append(l.paths, r.Method+" "+r.URL.Path)
	l.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (l *pathLog) saw(path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.paths {
		if strings.HasSuffix(p, " "+path) {
			return true
		}
	}
	return false
}

// readToClose reads everything the proxy sends until it closes the
// connection. It fails the test if the connection is still open after a
// generous safety deadline (a kept connection, not a slow one).
func readToClose(t *testing.T, c net.Conn, br *bufio.Reader) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	b, err := io.ReadAll(br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the proxy kept the connection open; read so far: %q", b)
	}
	return string(b)
}

// readResponse reads one response head and body from br.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Time{})
	return resp
}

// smuggle is a request carrying both Content-Length and Transfer-Encoding
// whose chunked body ends early, so that the bytes a Content-Length
// front-end counts as body form a hidden second request.
func smuggle(absolute, host string) string {
	hidden := "GET " + absolute + "/hidden HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
	body := "0\r\n\r\n" + hidden
	return "POST " + absolute + "/front HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + body
}

// h2cUpgrade is a request offering an upgrade to h2c (curl sends one with
// --http2 on plain URLs); Loupe does not honour it.
func h2cUpgrade(absolute, host string) string {
	return "GET " + absolute + "/first HTTP/1.1\r\nHost: " + host +
		"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
}

// connectTunnel opens a CONNECT tunnel to target through the proxy.
func connectTunnel(t *testing.T, proxyAddr, target string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 200") {
		t.Fatalf("CONNECT answer %q: %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, br
}

// assertRefused checks that what the proxy sent is one 400 followed by the
// end of the connection, and that the origin never saw the hidden request.
func assertRefused(t *testing.T, got string, origin *pathLog) {
	t.Helper()
	if !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Errorf("answer %q, want 400", firstLine(got))
	}
	if n := strings.Count(got, "HTTP/1.1 "); n != 1 {
		t.Errorf("%d answers, want 1: %q", n, got)
	}
	if origin.saw("/hidden") {
		t.Errorf("the hidden request reached the origin")
	}
	if origin.saw("/front") {
		t.Errorf("the refused request reached the origin")
	}
}

// dialProxy opens a plain connection to the proxy listener.
func dialProxy(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// offerH2C sends an h2c upgrade offer on c and checks that it is answered
// with 200 over HTTP/1.1, the upgrade not performed.
func offerH2C(t *testing.T, c net.Conn, br *bufio.Reader, prefix, host string) {
	t.Helper()
	if _, err := io.WriteString(c, h2cUpgrade(prefix, host)); err != nil {
		t.Fatal(err)
	}
	if resp := readResponse(t, c, br); resp.StatusCode != 200 {
		t.Fatalf("upgrade offer: %s, want 200 over HTTP/1.1", resp.Status)
	}
}

// A request with both Content-Length and Transfer-Encoding is refused with
// one 400 and the connection closed, wherever the connection has been
// before it: each case leads a fresh connection through the proxy to a
// state where the guard could be lost, then sends the smuggling request.
func TestSmugglingRefused(t *testing.T) {
	type target struct {
		env  *proxytest.Env
		url  string // the origin's URL
		host string // the origin's host:port
	}
	for _, tc := range []struct {
		name string
		tls  bool // the origin speaks HTTPS
		// lead returns the connection, its reader and the request target
		// prefix: the origin's URL on the listener, "" inside a tunnel.
		lead func(t *testing.T, to target) (net.Conn, *bufio.Reader, string)
	}{
		// Inside an intercepted HTTPS tunnel spoken as HTTP/1.1, after a
		// first ordinary request, so that the guard is seen to hold past it.
		{"inside TLS tunnel", true, func(t *testing.T, to target) (net.Conn, *bufio.Reader, string) {
			raw, _ := connectTunnel(t, to.env.Addr, to.host)
			tc := tls.Client(raw, &tls.Config{RootCAs: to.env.CA.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
			if err := tc.Handshake(); err != nil {
				t.Fatalf("TLS through the tunnel: %v", err)
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
				t.Fatalf("negotiated %q, want http/1.1", p)
			}
			br := bufio.NewReader(tc)
			if _, err := io.WriteString(tc, "GET /ok HTTP/1.1\r\nHost: "+to.host+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if resp := readResponse(t, tc, br); resp.StatusCode != 200 {
				t.Fatalf("ordinary request in the tunnel: %s", resp.Status)
			}
			return tc, br, ""
		}},
		// A request offering an upgrade the proxy does not perform (Upgrade:
		// h2c) leaves the connection HTTP/1.1, guarded: on the proxy listener
		// and inside a plain-HTTP tunnel.
		{"after unperformed upgrade/listener", false, func(t *testing.T, to target) (net.Conn, *bufio.Reader, string) {
			c, br := dialProxy(t, to.env.Addr)
			offerH2C(t, c, br, to.url, to.host)
			return c, br, to.url
		}},
		{"after unperformed upgrade/plain tunnel", false, func(t *testing.T, to target) (net.Conn, *bufio.Reader, string) {
			c, br := connectTunnel(t, to.env.Addr, to.host)
			offerH2C(t, c, br, "", to.host)
			return c, br, ""
		}},
		// A CONNECT the proxy refuses (a tunnel to the proxy itself, 403)
		// leaves the connection HTTP/1.1, and it keeps being scanned.
		{"after refused CONNECT", false, func(t *testing.T, to target) (net.Conn, *bufio.Reader, string) {
			c, br := dialProxy(t, to.env.Addr)
			if _, err := io.WriteString(c, "CONNECT "+to.env.Addr+" HTTP/1.1\r\nHost: "+to.env.Addr+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil {
				t.Fatalf("CONNECT answer: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("CONNECT to the proxy itself: %s, want 403", resp.Status)
			}
			return c, br, to.url
		}},
		// "OPTIONS *" reaches the proxy's handler like every request, so
		// that the per-request check stays in step with the connection.
		{"after OPTIONS *", false, func(t *testing.T, to target) (net.Conn, *bufio.Reader, string) {
			c, br := dialProxy(t, to.env.Addr)
			if _, err := io.WriteString(c, "OPTIONS * HTTP/1.1\r\nHost: "+to.env.Addr+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			readResponse(t, c, br)
			return c, br, to.url
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &pathLog{}
			var to target
			if tc.tls {
				to.url = proxytest.TLSOrigin(t, log).URL
			} else {
				to.url = proxytest.Origin(t, log).URL
			}
			_, to.host, _ = strings.Cut(to.url, "://")
			to.env = proxytest.Start(t, proxy.Config{})
			c, br, prefix := tc.lead(t, to)
			if _, err := io.WriteString(c, smuggle(prefix, to.host)); err != nil {
				t.Fatal(err)
			}
			assertRefused(t, readToClose(t, c, br), log)
		})
	}
}

// A chunk-size line net/http rejects ("-1"), arriving while the previous
// request is being handled, is read by net/http's background reader: the
// scanner must not panic there (nothing recovers on that goroutine; the
// process would exit). The proxy keeps serving.
func TestNegativeChunkSizeDoesNotCrash(t *testing.T) {
	held := make(chan chan struct{})
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/hold" {
			release := make(chan struct{})
			held <- release
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	host := strings.TrimPrefix(origin.URL, "http://")
	env := proxytest.Start(t, proxy.Config{})

	c, err := net.Dial("tcp", env.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A bodiless GET, held at the origin, and behind it a chunked POST
	// whose size line is "-1".
	raw := "GET " + origin.URL + "/hold HTTP/1.1\r\nHost: " + host + "\r\n\r\n" +
		"POST " + origin.URL + "/ HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	var release chan struct{}
	select {
	case release = <-held:
	case <-time.After(15 * time.Second):
		t.Fatal("the held request never reached the origin")
	}
	// While a bodiless request is handled, net/http's background reader
	// is the one waiting for the next byte.
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Not a bound on anything: it only gives the background reader time to
	// take the byte before the GET is answered.
	time.Sleep(50 * time.Millisecond)
	close(release)
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 200") {
		t.Errorf("held GET: %q", firstLine(string(got)))
	}

	resp, err := env.Client(t).Get(origin.URL + "/after")
	if err != nil {
		t.Fatalf("the proxy stopped serving: %v", err)
	}
	resp.Body.Close()
}

// With DisableHeadScan the standard library serves HTTP/1 alone: the
// smuggling guard is off (the documented cost of the switch) and ordinary
// requests work.
func TestDisableHeadScan(t *testing.T) {
	log := &pathLog{}
	origin := proxytest.Origin(t, log)
	host := strings.TrimPrefix(origin.URL, "http://")
	env := proxytest.Start(t, proxy.Config{DisableHeadScan: true})

	resp, err := env.Client(t).Get(origin.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := rawRequest(t, env.Addr, smuggle(origin.URL, host))
	if !strings.HasPrefix(got, "HTTP/1.1 200") || !log.saw("/hidden") {
		t.Errorf("without the scanner, net/http serves both requests; got %q", firstLine(got))
	}
}
