package proxy_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

// Tests of the proxy's edge against clients that misbehave: connection
// floods, stalled or trickled bodies, malformed bodies, optimistic bytes
// behind a CONNECT, and names that lead back to Loupe itself.

// dialFrom connects to addr from a chosen loopback address (Linux answers
// all of 127/8), so that one test can play several clients.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// readStatus reads one response from br and returns its status code and
// body.
func readStatus(t *testing.T, br *bufio.Reader) (int, string) {
	t.Helper()
	return readAnswer(t, br, nil)
}

// readAnswer reads the answer to req (nil: a GET) from br.
func readAnswer(t *testing.T, br *bufio.Reader, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if req != nil && req.Method == http.MethodConnect && resp.StatusCode == 200 {
		return 200, "" // the tunnel: its bytes are not this answer's body
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestConnectionLimitKeepsAShareForOthers(t *testing.T) {
	env := proxytest.Start(t, proxy.Config{MaxClientConns: 4, MaxConnsPerClient: 2})
	o := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "origin")
	}))

	// One client opens connections and sends half a head on each (a
	// header slowloris): it gets its share and no more.
	for range 2 {
		c := dialFrom(t, "127.0.0.1", env.Addr)
		if _, err := io.WriteString(c, "GET "+o.URL+"/ HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return env.Proxy.ConnStats().Open == 2 })
	c := dialFrom(t, "127.0.0.1", env.Addr)
	if status, body := readStatus(t, bufio.NewReader(c)); status != http.StatusServiceUnavailable {
		t.Fatalf("third connection of one client: %d %q, want 503", status, body)
	}

	// Another client is served meanwhile.
	c2 := dialFrom(t, "127.0.0.2", env.Addr)
	if _, err := io.WriteString(c2, "GET "+o.URL+"/ HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if status, body := readStatus(t, bufio.NewReader(c2)); status != 200 || body != "origin" {
		t.Fatalf("other client: %d %q", status, body)
	}
	if st := env.Proxy.ConnStats(); st.Refused != 1 || st.Max != 4 {
		t.Fatalf("stats %+v, want 1 refused of max 4", st)
	}
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 10 s")
}

// bodyOrigin records how reading each request body ended.
type bodyOrigin struct {
	got  atomic.Int32 // requests that reached the origin
	errs chan error   // one per request: nil when the body was read whole
}

func newBodyOrigin(t *testing.T, tlsOrigin bool) (*bodyOrigin, string) {
	bo := &bodyOrigin{errs: make(chan error, 16)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bo.got.Add(1)
		_, err := io.Copy(io.Discard, r.Body)
		bo.errs <- err
		_, _ = io.WriteString(w, "read the body")
	})
	if tlsOrigin {
		s := proxytest.TLSOrigin(t, h)
		return bo, s.URL
	}
	return bo, proxytest.Origin(t, h).URL
}

func TestClientBodyFaultsAre4xxNot502(t *testing.T) {
	tests := []struct {
		name   string
		cfg    proxy.Config
		head   string // after the request line
		body   string // sent at once
		trick  bool   // then one byte every 20 ms until the answer
		status int
		cause  string
	}{
		{name: "negative size", head: "Transfer-Encoding: chunked\r\n", body: "5\r\nhello\r\n-1\r\n", status: 400, cause: "malformed"},
		{name: "overflowing size", head: "Transfer-Encoding: chunked\r\n", body: "5\r\nhello\r\nffffffffffffffffff\r\n", status: 400, cause: "malformed"},
		{name: "0x prefix", head: "Transfer-Encoding: chunked\r\n", body: "5\r\nhello\r\n0x10\r\n", status: 400, cause: "malformed"},
		{name: "data past the size", head: "Transfer-Encoding: chunked\r\n", body: "5\r\nhelloEXTRA\r\n0\r\n\r\n", status: 400, cause: "malformed"},
		{name: "huge extension", head: "Transfer-Encoding: chunked\r\n", body: "5;" + strings.Repeat("x", 10<<10) + "\r\nhello\r\n0\r\n\r\n", status: 400, cause: "malformed"},
		{name: "stalled body", cfg: proxy.Config{BodyIdleTimeout: 200 * time.Millisecond},
			head: "Content-Length: 100\r\n", body: "0123456789", status: 408, cause: "no request body bytes"},
		{name: "trickled body", cfg: proxy.Config{BodyIdleTimeout: 200 * time.Millisecond, BodyMinRate: 1000},
			head: "Content-Length: 100000\r\n", body: "0", trick: true, status: 408, cause: "slower than"},
	}
	for _, tt := range tests {
		for _, inTLS := range []bool{false, true} {
			name := tt.name
			if inTLS {
				name += " inside a TLS tunnel"
			}
			t.Run(name, func(t *testing.T) {
				testClientBodyFault(t, tt.cfg, inTLS, tt.head, tt.body, tt.trick, tt.status, tt.cause)
			})
		}
	}
}

// testClientBodyFault sends a request whose body goes wrong, on the proxy
// listener or inside an intercepted TLS tunnel (HTTP/1.1), and checks the
// answer, the origin's side and the flow.
func testClientBodyFault(t *testing.T, cfg proxy.Config, inTLS bool, head, body string, trick bool, wantStatus int, cause string) {
	env := proxytest.Start(t, cfg)
	bo, url := newBodyOrigin(t, inTLS)
	var c net.Conn = dialFrom(t, "127.0.0.1", env.Addr)
	target := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
	reqURL := url + "/upload"
	if inTLS {
		if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if status, _ := readAnswer(t, bufio.NewReader(c), &http.Request{Method: http.MethodConnect}); status != 200 {
			t.Fatalf("CONNECT: %d", status)
		}
		tc := tls.Client(c, &tls.Config{RootCAs: env.CA.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c, reqURL = tc, "/upload"
	}
	if _, err := io.WriteString(c, "POST "+reqURL+" HTTP/1.1\r\nHost: "+target+"\r\n"+head+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{})
	if trick {
		go func() {
			for range 250 { // at most 5 s
				select {
				case <-answered:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
	}
	status, got := readStatus(t, bufio.NewReader(c))
	close(answered)
	if status != wantStatus || !strings.Contains(got, cause) {
		t.Fatalf("got %d %q, want %d naming %q", status, got, wantStatus, cause)
	}
	// The origin's request, if it got one, was aborted: it never read a
	// whole body.
	if bo.got.Load() > 0 {
		if err := <-bo.errs; err == nil {
			t.Fatal("the origin read a complete body")
		}
	}
	fs := env.Rec.WaitFinished(t, 1, 10*time.Second)
	if fs[0].Flow.State != flow.StateError || !strings.Contains(fs[0].Flow.Error, cause) {
		t.Fatalf("flow %s %q, want an error naming %q", fs[0].Flow.State, fs[0].Flow.Error, cause)
	}
	// The client's connection is closed after the answer.
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("connection still open (read %d bytes)", n)
	}
}

func TestStalledBodyOverHTTP2(t *testing.T) {
	env := proxytest.Start(t, proxy.Config{BodyIdleTimeout: 200 * time.Millisecond})
	bo, url := newBodyOrigin(t, true)
	client := &http.Client{Transport: env.Transport(t, true), Timeout: 20 * time.Second}
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("0123456789")) }() // then nothing
	resp, err := client.Post(url+"/upload", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "no request body bytes") {
		t.Fatalf("got %s %d %q, want HTTP/2 408", resp.Proto, resp.StatusCode, b)
	}
	if bo.got.Load() > 0 {
		if err := <-bo.errs; err == nil {
			t.Fatal("the origin read a complete body")
		}
	}
}

// optimisticConn sends a CONNECT head together with the first bytes the
// client writes (as clients that do not wait for the proxy's 200 do), and
// reads past the proxy's answer to the CONNECT before handing over reads.
type optimisticConn struct {
	net.Conn
	head   string
	br     *bufio.Reader
	status int
}

func (c *optimisticConn) Write(p []byte) (int, error) {
	if c.head != "" {
		buf := append([]byte(c.head), p...)
		c.head = ""
		if _, err := c.Conn.Write(buf); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *optimisticConn) Read(p []byte) (int, error) {
	if c.br == nil {
		c.br = bufio.NewReader(c.Conn)
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			return 0, err
		}
		c.status = resp.StatusCode
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("CONNECT answered %s", resp.Status)
		}
	}
	return c.br.Read(p)
}

func TestBytesBehindConnectAreKept(t *testing.T) {
	o := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "origin "+r.URL.Path)
	}))
	plain := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "origin "+r.URL.Path)
	}))
	echo := echoServer(t)
	env := proxytest.Start(t, proxy.Config{})
	envPass := proxytest.Start(t, proxy.Config{Passthrough: []string{"127.0.0.1"}})

	connect := func(target string) string {
		return "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"
	}
	t.Run("TLS ClientHello in the CONNECT packet", func(t *testing.T) {
		target := strings.TrimPrefix(o.URL, "https://")
		oc := &optimisticConn{Conn: dialFrom(t, "127.0.0.1", env.Addr), head: connect(target)}
		tc := tls.Client(oc, &tls.Config{RootCAs: env.CA.Pool(), ServerName: "127.0.0.1"})
		if _, err := io.WriteString(tc, "GET /tls HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if status, body := readStatus(t, bufio.NewReader(tc)); status != 200 || body != "origin /tls" {
			t.Fatalf("got %d %q", status, body)
		}
	})
	t.Run("HTTP request in the CONNECT packet", func(t *testing.T) {
		target := strings.TrimPrefix(plain.URL, "http://")
		oc := &optimisticConn{Conn: dialFrom(t, "127.0.0.1", env.Addr), head: connect(target)}
		if _, err := io.WriteString(oc, "GET /plain HTTP/1.1\r\nHost: "+target+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if status, body := readStatus(t, bufio.NewReader(oc)); status != 200 || body != "origin /plain" {
			t.Fatalf("got %d %q", status, body)
		}
	})
	t.Run("bytes in the CONNECT packet of a passthrough tunnel", func(t *testing.T) {
		oc := &optimisticConn{Conn: dialFrom(t, "127.0.0.1", envPass.Addr), head: connect(echo)}
		if _, err := io.WriteString(oc, "hello\n"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(oc).ReadString('\n')
		if err != nil || line != "hello\n" {
			t.Fatalf("echo: %q, %v", line, err)
		}
	})
}

// echoServer echoes every connection's bytes back until it closes.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

func TestOwnListenersUnreachableByAnyName(t *testing.T) {
	var reached atomic.Int32
	dash := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.WriteString(w, "dashboard data")
	}))
	dashAddr := strings.TrimPrefix(dash.URL, "http://")
	_, port, _ := net.SplitHostPort(dashAddr)
	env := proxytest.Start(t, proxy.Config{DashboardAddr: dashAddr})
	_, proxyPort, _ := net.SplitHostPort(env.Addr)

	targets := []string{"[::ffff:127.0.0.1]:" + port, ":" + port, "0.0.0.0:" + port}
	if name, err := os.Hostname(); err == nil {
		if ips, err := net.LookupIP(name); err == nil && len(ips) > 0 && ips[0].IsLoopback() {
			targets = append(targets, name+":"+port)
		} else {
			t.Logf("host name %q does not resolve to loopback here; not tried", name)
		}
	}
	client := env.Client(t)
	for _, target := range targets {
		t.Run("plain "+target, func(t *testing.T) {
			resp, err := client.Get("http://" + target + "/api/flows")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || strings.Contains(string(b), "dashboard data") {
				t.Fatalf("got %d %q, want 403", resp.StatusCode, b)
			}
		})
		t.Run("CONNECT "+target, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", env.Addr)
			_, _ = io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\nGET /api/flows HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
			br := bufio.NewReader(c)
			status, body := readAnswer(t, br, &http.Request{Method: http.MethodConnect})
			if status == 200 {
				// The tunnel was opened (plain HTTP inside): the request in
				// it must be refused.
				status, body = readStatus(t, br)
			}
			if status != http.StatusForbidden || strings.Contains(body, "dashboard data") {
				t.Fatalf("got %d %q, want 403", status, body)
			}
		})
	}
	// The proxy's own listener: its own page under the names it knows,
	// refused (not a loop) under any other.
	resp, err := client.Get("http://0.0.0.0:" + proxyPort + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Loupe") {
		t.Fatalf("the proxy through 0.0.0.0: %d %q, want its own page", resp.StatusCode, b)
	}
	if len(targets) == 4 { // the host name resolves to loopback
		name, _, _ := net.SplitHostPort(targets[3])
		resp, err := client.Get("http://" + net.JoinHostPort(name, proxyPort) + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("the proxy through %s: %d, want 403", name, resp.StatusCode)
		}
		if n := len(env.Rec.Flows()); n > 20 {
			t.Fatalf("%d flows: a loop", n)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the dashboard was reached %d times", n)
	}
}
