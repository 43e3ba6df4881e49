package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// An idle pooled connection that the origin closes is closed by the client
// too, within a sweep, not held (a descriptor in CLOSE_WAIT) until
// IdleConnTimeout; an idle connection holds no read buffer.
func TestIdleConnectionClosedByOriginIsDropped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	closeNow := make(chan struct{})
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		<-closeNow
	}()

	var d net.Dialer
	c, err := New(Config{Dial: d.DialContext, Fallback: http.DefaultTransport})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+l.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("body %q, %v", b, err)
	}
	idle := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nidle
	}
	if n := idle(); n != 1 {
		t.Fatalf("%d idle connections after the answer, want 1", n)
	}
	c.mu.Lock()
	for _, list := range c.idle {
		for _, pc := range list {
			if pc.br != nil {
				t.Error("an idle connection holds a read buffer")
			}
		}
	}
	c.mu.Unlock()
	time.Sleep(2 * sweepInterval)
	if n := idle(); n != 1 {
		t.Fatalf("a healthy idle connection was dropped (%d left)", n)
	}
	close(closeNow)
	// The sweep must notice; when depends on the machine (the bound only
	// guards against a hang).
	deadline := time.Now().Add(30 * time.Second)
	for idle() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection closed by the origin still pooled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
