package connlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs an HTTP server behind a Limiter on 127.0.0.1:0 and returns
// its address.
func serve(t *testing.T, l *Limiter, hold chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hold" {
				<-hold
			}
			_, _ = io.WriteString(w, "ok")
		}),
		ConnState: l.ConnState,
	}
	go func() { _ = srv.Serve(l.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// dialFrom connects to addr from the loopback address from (Linux answers
// every 127/8 address), so that tests can play several clients.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// get sends one keep-alive request on c and returns the status line.
func get(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "write: " + err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "read: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.Status
}

// refused reads what a refused connection got: the 503 and then EOF.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return strings.HasPrefix(string(b), "HTTP/1.1 503 ")
}

// waitOpen waits until the limiter holds n connections (Accept runs in the
// server's goroutine, after the client's dial returned).
func waitOpen(t *testing.T, l *Limiter, n int) {
	t.Helper()
	for i := 0; i < 500 && l.Stats().Open != n; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := l.Stats().Open; got != n {
		t.Fatalf("open = %d, want %d", got, n)
	}
}

func TestBoundsPerClientAndInAll(t *testing.T) {
	l := New(Config{Max: 3, PerClient: 2})
	hold := make(chan struct{})
	addr := serve(t, l, hold)
	defer close(hold)

	// Client A holds two connections that are busy (a request head in
	// progress: never idle), its whole share.
	a1, a2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	for _, c := range []net.Conn{a1, a2} {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	waitOpen(t, l, 2)
	if !refused(t, dialFrom(t, "127.0.0.1", addr)) {
		t.Fatal("a third connection of client A was not refused")
	}
	// Client B still gets in: A cannot starve it.
	b1 := dialFrom(t, "127.0.0.2", addr)
	if got := get(t, b1); got != "200 OK" {
		t.Fatalf("client B: %s", got)
	}
	// In all, 3 are held; once b1 is idle (the server marks it so after
	// writing its answer), a new B connection takes its place rather than
	// being refused.
	waitIdle(t, l)
	b2 := dialFrom(t, "127.0.0.2", addr)
	if got := get(t, b2); got != "200 OK" {
		t.Fatalf("client B, second connection: %s", got)
	}
	if got := get(t, b1); got == "200 OK" {
		t.Fatal("the idle connection that gave its place still answers")
	}
	st := l.Stats()
	if st.Refused != 1 || st.IdleClosed != 1 || st.Open != 3 {
		t.Fatalf("stats %+v, want 1 refused, 1 idle closed, 3 open", st)
	}
	// b2 busy now (its handler waits): nothing can give its place, a new
	// connection is refused.
	if _, err := io.WriteString(b2, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, l)
	if !refused(t, dialFrom(t, "127.0.0.3", addr)) {
		t.Fatal("a fourth connection past the bound was not refused")
	}
	// Closing one frees its place.
	_ = a1.Close()
	waitOpen(t, l, 2)
	if got := get(t, dialFrom(t, "127.0.0.3", addr)); got != "200 OK" {
		t.Fatalf("after a close: %s", got)
	}
}

// waitIdle waits until some admitted connection is idle.
func waitIdle(t *testing.T, l *Limiter) {
	t.Helper()
	for i := 0; i < 500; i++ {
		l.mu.Lock()
		idle := l.oldestIdle("")
		l.mu.Unlock()
		if idle != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no connection became idle")
}

// waitActive waits until no admitted connection is idle.
func waitActive(t *testing.T, l *Limiter) {
	t.Helper()
	for i := 0; i < 500; i++ {
		l.mu.Lock()
		idle := l.oldestIdle("")
		l.mu.Unlock()
		if idle == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("a connection stays idle")
}

func TestCloseReleasesOnce(t *testing.T) {
	l := New(Config{Max: 2})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wl := l.Listener(ln)
	c := dialFrom(t, "127.0.0.1", ln.Addr().String())
	_ = c
	s, err := wl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if l.Stats().Open != 1 {
		t.Fatalf("open %d", l.Stats().Open)
	}
	_ = s.Close()
	_ = s.Close()
	if st := l.Stats(); st.Open != 0 {
		t.Fatalf("after two closes: %+v", st)
	}
}

func TestDefaults(t *testing.T) {
	l := New(Config{})
	if l.Max() < 16 || l.PerClient() != l.Max()/2 {
		t.Fatalf("max %d per client %d", l.Max(), l.PerClient())
	}
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{{1024, 256}, {20000, 6581}, {1 << 20, defaultMax}, {100, 16}} {
		if got := fromFileLimit(tc.nofile); got != tc.want {
			t.Errorf("fromFileLimit(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
}
