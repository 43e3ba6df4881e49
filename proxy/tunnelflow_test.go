package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

// connectRaw opens a tunnel to target through the proxy at addr and
// returns the connection positioned after the proxy's answer.
func connectRaw(t *testing.T, addr, target string) (net.Conn, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tunnel-test\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if resp.StatusCode == http.StatusOK && br.Buffered() > 0 {
		t.Fatalf("CONNECT %s: %d bytes after the answer", target, br.Buffered())
	}
	return c, resp
}

// onlyFlow waits for the one flow of rec to finish and returns it.
func onlyFlow(t *testing.T, rec *proxytest.Recorder) flow.Flow {
	t.Helper()
	fs := rec.WaitFinished(t, 1, 10*time.Second)
	if len(fs) != 1 {
		t.Fatalf("%d flows, want 1", len(fs))
	}
	return fs[0].Flow
}

// A client that does not trust Loupe's CA (the most common first-run
// problem) is a flow that says so: which alert, or how the client ended
// the handshake, the client's address and the name it asked for.
func TestClientTLSFailureIsAFlow(t *testing.T) {
	const target = "app.example.test:443"
	tests := []struct {
		name     string
		cfg      proxy.Config
		client   func(t *testing.T, c net.Conn)
		failure  string
		sni      string
		contains []string
	}{
		{
			name: "Go client with the default roots",
			client: func(t *testing.T, c net.Conn) {
				tc := tls.Client(c, &tls.Config{ServerName: "app.example.test"})
				if err := tc.Handshake(); err == nil {
					t.Fatal("a client that does not trust Loupe's CA completed the handshake")
				}
			},
			failure:  "bad_certificate",
			sni:      "app.example.test",
			contains: []string{"rejected Loupe's certificate", "unknown authority", "install Loupe's CA"},
		},
		{
			name: "Go client with the default roots, TLS 1.2",
			client: func(t *testing.T, c net.Conn) {
				tc := tls.Client(c, &tls.Config{ServerName: "app.example.test", MaxVersion: tls.VersionTLS12})
				if err := tc.Handshake(); err == nil {
					t.Fatal("handshake succeeded")
				}
			},
			failure:  "bad_certificate",
			sni:      "app.example.test",
			contains: []string{"unknown authority"},
		},
		{
			// curl (OpenSSL) on TLS 1.3: its alert comes in plain text
			// after Loupe's keys changed.
			name: "plain-text unknown_ca alert",
			client: func(t *testing.T, c net.Conn) {
				tc := tls.Client(&alertOnRead{Conn: c, alert: 48}, &tls.Config{ServerName: "curl.example.test", InsecureSkipVerify: true})
				_ = tc.Handshake()
			},
			failure:  "unknown_ca",
			sni:      "curl.example.test",
			contains: []string{"unknown authority (TLS alert unknown_ca)", "install Loupe's CA"},
		},
		{
			// Node.js: it checks the certificate and closes, no alert.
			name: "closed without an alert",
			client: func(t *testing.T, c net.Conn) {
				tc := tls.Client(c, &tls.Config{ServerName: "node.example.test", InsecureSkipVerify: true, VerifyConnection: func(tls.ConnectionState) error {
					c.Close()
					return errors.New("not trusted")
				}})
				_ = tc.Handshake()
			},
			failure:  "closed",
			sni:      "node.example.test",
			contains: []string{"without a TLS alert", "does not trust Loupe's CA", "-passthrough"},
		},
		{
			name: "not TLS",
			client: func(t *testing.T, c net.Conn) {
				_, _ = io.WriteString(c, "\x16garbage that is not TLS\r\n")
				_, _ = io.Copy(io.Discard, c)
			},
			failure:  "not_tls",
			contains: []string{"did not speak TLS"},
		},
		{
			name: "timeout",
			cfg:  proxy.Config{TLSHandshakeTimeout: 50 * time.Millisecond},
			client: func(t *testing.T, c net.Conn) {
				// A record header, then nothing: the proxy gives up.
				_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x40})
				_, _ = io.Copy(io.Discard, c)
			},
			failure:  "timeout",
			contains: []string{"did not finish the TLS handshake within 50ms"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := proxytest.Start(t, tc.cfg)
			c, resp := connectRaw(t, env.Addr, target)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT answered %d", resp.StatusCode)
			}
			tc.client(t, c)
			f := onlyFlow(t, env.Rec)
			if f.Kind != flow.KindTLSError || f.State != flow.StateError || f.Tunnel == nil {
				t.Fatalf("flow kind %q state %q tunnel %+v", f.Kind, f.State, f.Tunnel)
			}
			if f.Tunnel.Failure != tc.failure || f.Tunnel.SNI != tc.sni {
				t.Errorf("failure %q sni %q, want %q %q", f.Tunnel.Failure, f.Tunnel.SNI, tc.failure, tc.sni)
			}
			for _, s := range tc.contains {
				if !strings.Contains(f.Error, s) {
					t.Errorf("error %q does not say %q", f.Error, s)
				}
			}
			if f.Client != c.LocalAddr().String() {
				t.Errorf("client %q, want %q", f.Client, c.LocalAddr())
			}
			if f.Request.Method != http.MethodConnect || f.Request.URL != "https://"+target || f.Request.Header.Get("User-Agent") != "tunnel-test" {
				t.Errorf("request %+v", f.Request)
			}
			if f.Response != nil {
				t.Errorf("a failed handshake has a response: %+v", f.Response)
			}
		})
	}
}

// alertOnRead sends a plain-text TLS alert as soon as the server's first
// bytes arrive, as OpenSSL does when the server's certificate does not
// verify, and ends the client's handshake. The connection stays open (the
// test closes it), so the alert is never lost to a reset.
type alertOnRead struct {
	net.Conn
	alert byte
	sent  bool
}

func (c *alertOnRead) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.sent {
		c.sent = true
		_, _ = c.Conn.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, c.alert})
		return 0, io.EOF
	}
	return n, err
}

// countingConn counts the bytes that cross it each way.
type countingConn struct {
	net.Conn
	in, out atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// tlsExchange runs one HTTP/1.1 request over TLS on c, reads the answer to
// the end of the connection, and returns the body. waitOpen runs once the
// request is sent, while the tunnel is still open.
func tlsExchange(t *testing.T, c net.Conn, serverName string, waitOpen func()) string {
	t.Helper()
	tc := tls.Client(c, &tls.Config{ServerName: serverName, RootCAs: proxytest.OriginRoots()})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake through the tunnel: %v", err)
	}
	if _, err := io.WriteString(tc, "GET /tunnel HTTP/1.1\r\nHost: "+serverName+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if waitOpen != nil {
		waitOpen()
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	// Read to the end of the connection, then close TCP without a TLS
	// close_notify: every byte either side sent has then crossed.
	_, _ = io.Copy(io.Discard, tc)
	return string(b)
}

// Tunnels Loupe does not decrypt are flows: bytes each way (counted as they
// pass, so they grow while the tunnel is open), the answer to the CONNECT,
// the duration.
func TestBlindTunnelIsAFlow(t *testing.T) {
	origin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("tunnelled ", 1000))
	}))
	target := strings.TrimPrefix(origin.URL, "https://")

	tests := []struct {
		name string
		env  func(t *testing.T) (addr string, rec *proxytest.Recorder)
		mode string
		sni  string
	}{
		{"passthrough", func(t *testing.T) (string, *proxytest.Recorder) {
			env := proxytest.Start(t, proxy.Config{Passthrough: []string{"127.0.0.*"}})
			return env.Addr, env.Rec
		}, flow.TunnelPassthrough, "example.com"},
		{"no CA: TLS relayed as is", startWithoutCA, flow.TunnelOpaque, "example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, rec := tc.env(t)
			raw, resp := connectRaw(t, addr, target)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT answered %d", resp.StatusCode)
			}
			cc := &countingConn{Conn: raw}
			open := func() {
				// The flow exists, pending, with bytes counted, before
				// the tunnel ends.
				deadline := time.Now().Add(10 * time.Second)
				for {
					fs := rec.Flows()
					if len(fs) == 1 && fs[0].Flow.State == flow.StatePending && fs[0].Flow.RequestBody.Size > 0 && fs[0].Flow.ResponseBody.Size > 0 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("no live tunnel flow: %+v", fs)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			if body := tlsExchange(t, cc, "example.com", open); !strings.HasPrefix(body, "tunnelled") {
				t.Fatalf("through the tunnel: %q", body)
			}
			raw.Close()
			f := onlyFlow(t, rec)
			if f.Kind != flow.KindTunnel || f.State != flow.StateDone || f.Tunnel == nil || f.Tunnel.Mode != tc.mode || f.Tunnel.SNI != tc.sni {
				t.Fatalf("flow kind %q state %q error %q tunnel %+v", f.Kind, f.State, f.Error, f.Tunnel)
			}
			if f.RequestBody.Size != cc.out.Load() || f.ResponseBody.Size != cc.in.Load() {
				t.Errorf("counted %d sent, %d received; the client sent %d and received %d",
					f.RequestBody.Size, f.ResponseBody.Size, cc.out.Load(), cc.in.Load())
			}
			if f.RequestBody.Captured != 0 || f.ResponseBody.Captured != 0 || f.RequestBody.Truncated || !f.ResponseBody.Complete {
				t.Errorf("bodies %+v %+v: nothing captured, nothing truncated, complete", f.RequestBody, f.ResponseBody)
			}
			if f.Response == nil || f.Response.Status != http.StatusOK || f.Request.Method != http.MethodConnect || f.Request.URL != "https://"+target {
				t.Errorf("request %+v response %+v", f.Request, f.Response)
			}
			if f.Client != raw.LocalAddr().String() || !f.End.After(f.Start) {
				t.Errorf("client %q (want %q), start %v end %v", f.Client, raw.LocalAddr(), f.Start, f.End)
			}
		})
	}
}

// startWithoutCA runs a proxy with no CA: TLS tunnels pass through as is.
func startWithoutCA(t *testing.T) (string, *proxytest.Recorder) {
	rec := &proxytest.Recorder{}
	p, err := proxy.New(proxy.Config{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return l.Addr().String(), rec
}

// A tunnel whose dial fails is a flow with the cause, and the answer the
// client got.
func TestTunnelDialFailureIsAFlow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	env := proxytest.Start(t, proxy.Config{Passthrough: []string{"127.0.0.1"}})
	_, resp := connectRaw(t, env.Addr, closed)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("CONNECT to a closed port answered %d %q", resp.StatusCode, b)
	}
	f := onlyFlow(t, env.Rec)
	if f.Kind != flow.KindTunnel || f.State != flow.StateError || !strings.Contains(f.Error, "upstream refused the connection") || !strings.Contains(f.Error, closed) {
		t.Errorf("flow kind %q state %q error %q", f.Kind, f.State, f.Error)
	}
	if f.Response == nil || f.Response.Status != http.StatusBadGateway {
		t.Errorf("response %+v, want the 502 the client got", f.Response)
	}
}
