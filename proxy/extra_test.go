package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/proxytest"
)

// A replaced body whose origin never ends is drained only for DrainTimeout,
// then its connection is closed.
func TestDrainTimeoutClosesEndlessUpstream(t *testing.T) {
	var active atomic.Int64
	ended := make(chan time.Time, 1)
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		rc := http.NewResponseController(w)
		for {
			if _, err := w.Write(make([]byte, 1024)); err != nil {
				break
			}
			if err := rc.Flush(); err != nil {
				break
			}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Millisecond):
				continue
			}
			break
		}
		ended <- time.Now()
	}))
	env := proxytest.Start(t, proxy.Config{Rules: overrideAll(t, "short"), DrainTimeout: 300 * time.Millisecond})
	start := time.Now()
	body, _, err := fetch(env.Client(t), origin.URL+"/endless")
	if err != nil || body != "short" {
		t.Fatalf("got %q, %v", body, err)
	}
	select {
	case at := <-ended:
		// Not before the drain timeout (a lower bound the proxy's own
		// timer imposes); how much later depends on the machine.
		if d := at.Sub(start); d < 300*time.Millisecond {
			t.Errorf("origin connection closed after %v, before the 300ms drain timeout", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("endless upstream never closed")
	}
	f := env.Rec.Last(t)
	if f.Flow.UpstreamBody == nil || f.Flow.UpstreamBody.Complete || f.Flow.UpstreamBody.Size == 0 {
		t.Errorf("upstream body %+v, want partial", f.Flow.UpstreamBody)
	}
}

// A WebSocket upgrade sent to the proxy in absolute form (no CONNECT) is
// relayed too.
func TestWebSocketAbsoluteForm(t *testing.T) {
	origin := wsOrigin(t, false, make(chan int, 1))
	host := strings.TrimPrefix(origin.URL, "http://")
	env := proxytest.Start(t, proxy.Config{})
	c, err := net.Dial("tcp", env.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET http://%s/ HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host, host)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %+v %v", resp, err)
	}
	// A masked text frame "hi" (mask key zero) and its unmasked echo.
	if _, err := c.Write([]byte{0x81, 0x82, 0, 0, 0, 0, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 4)
	if _, err := io.ReadFull(br, echo); err != nil || string(echo) != "\x81\x02hi" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	c.Close()
	if f := env.Rec.Last(t); f.Flow.Response == nil || f.Flow.Response.Status != 101 || len(f.Flow.WebSocket) == 0 {
		t.Errorf("flow %+v", f.Flow)
	}
}

// Trailers announced by the origin reach the client (TE: trailers is kept).
func TestTrailersCross(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Checksum")
				_, _ = io.WriteString(w, "body")
				w.Header().Set("X-Checksum", "abc")
			}))
			env := proxytest.Start(t, proxy.Config{})
			resp, err := m.client(t, env).Get(origin.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "body" || resp.Trailer.Get("X-Checksum") != "abc" {
				t.Errorf("body %q trailer %v", b, resp.Trailer)
			}
		})
	}
}

// Header names reach an HTTP/1.1 origin spelled as the client wrote them,
// values in order.
func TestHeaderCaseKept(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	heads := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		heads <- head.String()
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	}()
	env := proxytest.Start(t, proxy.Config{})
	addr := l.Addr().String()
	got := rawRequest(t, env.Addr, "GET http://"+addr+"/ HTTP/1.1\r\nHost: "+addr+"\r\nx-lower: 1\r\nX-UPPER: 2\r\nX-UPPER: 3\r\nuser-agent: raw\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("answer %q", got)
	}
	head := <-heads
	for _, want := range []string{"\r\nx-lower: 1\r\n", "\r\nX-UPPER: 2\r\nX-UPPER: 3\r\n", "\r\nUser-Agent: raw\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("origin head lacks %q:\n%s", want, head)
		}
	}
	if strings.Count(strings.ToLower(head), "user-agent") != 1 {
		t.Errorf("User-Agent duplicated:\n%s", head)
	}
}
