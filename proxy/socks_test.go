package proxy_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

// curlThrough runs curl with args and returns its stdout; the environment
// holds no proxy settings of the machine's.
func curlThrough(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "20"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("curl %v: %w: %s", args, err, stderr.String())
	}
	return string(out), nil
}

// caFile writes the test CA's certificate to a file for curl's --cacert.
func caFile(t *testing.T, env *proxytest.Env) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: env.CA.Certificate().Raw})
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// curl --socks5-hostname sends host names to Loupe's SOCKS5 listener (ATYP
// domain): plain HTTP is recorded, TLS is intercepted with a Loupe
// certificate, as through an HTTP CONNECT.
func TestSOCKSWithCurl(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain %s %s", r.Host, r.URL.Path)
	}))
	tlsOrigin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %s", r.URL.Path)
	}))
	env := proxytest.Start(t, proxy.Config{})
	socks := env.ServeSOCKS(t)
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	_, tlsPort, _ := net.SplitHostPort(tlsOrigin.Listener.Addr().String())

	tests := []struct {
		name, url, want, wantURL, wantProto string
		args                                []string
	}{
		{"plain HTTP by name", "http://localhost:" + port + "/a", "plain localhost:" + port + " /a", "http://localhost:" + port + "/a", "HTTP/1.1", nil},
		{"TLS by address", "https://127.0.0.1:" + tlsPort + "/b", "tls /b", "https://127.0.0.1:" + tlsPort + "/b", "HTTP/2.0",
			[]string{"--cacert", caFile(t, env)}},
		{"TLS over HTTP/1.1", "https://127.0.0.1:" + tlsPort + "/c", "tls /c", "https://127.0.0.1:" + tlsPort + "/c", "HTTP/1.1",
			[]string{"--cacert", caFile(t, env), "--http1.1"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := curlThrough(t, append(tt.args, "--socks5-hostname", socks, tt.url)...)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want {
				t.Errorf("body = %q, want %q", out, tt.want)
			}
			fs := env.Rec.WaitFinished(t, i+1, 10*time.Second)
			if got := fs[i].Flow.Request; got.URL != tt.wantURL || got.Proto != tt.wantProto {
				t.Errorf("flow request %s %s, want %s %s", got.Proto, got.URL, tt.wantProto, tt.wantURL)
			}
		})
	}
}

// Go's own SOCKS5 client (golang.org/x/net/proxy) with a user name and
// password (RFC 1929), checked against -proxy-auth; IPv4 and IPv6
// addresses (ATYP 1 and 4).
func TestSOCKSWithGoClient(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok ", r.URL.Path) })
	origin := proxytest.Origin(t, handler)
	origins := map[string]string{"IPv4": origin.Listener.Addr().String()}
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		s := &http.Server{Handler: handler}
		go func() { _ = s.Serve(l) }()
		t.Cleanup(func() { s.Close() })
		origins["IPv6"] = l.Addr().String()
	}
	env := proxytest.Start(t, proxy.Config{ProxyAuth: "user:secret"})
	socks := env.ServeSOCKS(t)

	get := func(auth *xproxy.Auth, addr string) (string, error) {
		d, err := xproxy.SOCKS5("tcp", socks, auth, xproxy.Direct)
		if err != nil {
			return "", err
		}
		tr := &http.Transport{DialContext: d.(xproxy.ContextDialer).DialContext}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + addr + "/x")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for name, addr := range origins {
		t.Run(name, func(t *testing.T) {
			got, err := get(&xproxy.Auth{User: "user", Password: "secret"}, addr)
			if err != nil || got != "ok /x" {
				t.Fatalf("GET = %q, %v; want ok /x", got, err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		if got, err := get(&xproxy.Auth{User: "user", Password: "wrong"}, origins["IPv4"]); err == nil {
			t.Fatalf("GET with a wrong password = %q, want an error", got)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		if got, err := get(nil, origins["IPv4"]); err == nil {
			t.Fatalf("GET without credentials = %q, want an error", got)
		}
	})
}

// socksRaw opens a connection to the SOCKS5 listener, writes msg and
// returns everything the listener answers until it closes.
func socksRaw(t *testing.T, addr string, msg []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	return got
}

// Bad input gets the answer RFC 1928 and 1929 give for it, then the
// connection is closed.
func TestSOCKSBadInput(t *testing.T) {
	env := proxytest.Start(t, proxy.Config{})
	socks := env.ServeSOCKS(t)
	authEnv := proxytest.Start(t, proxy.Config{ProxyAuth: "user:secret"})
	authSocks := authEnv.ServeSOCKS(t)
	origin := proxytest.Origin(t, http.NotFoundHandler())
	_, p, _ := net.SplitHostPort(origin.Listener.Addr().String())
	n := 0
	fmt.Sscan(p, &n)
	port := [2]byte{byte(n >> 8), byte(n)}
	req := func(cmd, atyp byte, addr ...byte) []byte {
		return append(append([]byte{5, 1, 0, 5, cmd, 0, atyp}, addr...), port[:]...)
	}
	selfHost, selfPort, _ := net.SplitHostPort(env.Addr)
	sp := 0
	fmt.Sscan(selfPort, &sp)
	self := append([]byte{5, 1, 0, 5, 1, 0, 1}, net.ParseIP(selfHost).To4()...)
	self = append(self, byte(sp>>8), byte(sp))
	userPass := func(user, pass string) []byte {
		b := []byte{5, 1, 2, 1, byte(len(user))}
		b = append(append(b, user...), byte(len(pass)))
		return append(b, pass...)
	}
	reply := func(code byte) []byte { return []byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0} }

	tests := []struct {
		name, addr string
		msg, want  []byte
	}{
		{"no acceptable method", authSocks, []byte{5, 1, 0}, []byte{5, 0xff}},
		{"no method at all", socks, []byte{5, 0}, []byte{5, 0xff}},
		{"wrong password", authSocks, userPass("user", "nope"), []byte{5, 2, 1, 1}},
		{"BIND", socks, req(2, 1, 127, 0, 0, 1), append([]byte{5, 0}, reply(7)...)},
		{"UDP ASSOCIATE", socks, req(3, 1, 127, 0, 0, 1), append([]byte{5, 0}, reply(7)...)},
		{"unknown address type", socks, append([]byte{5, 1, 0}, 5, 1, 0, 9), append([]byte{5, 0}, reply(8)...)},
		{"tunnel to Loupe itself", socks, self, append([]byte{5, 0}, reply(2)...)},
		{"SOCKS4", socks, []byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, []byte{0, 0x5b, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := socksRaw(t, tt.addr, tt.msg); !bytes.Equal(got, tt.want) {
				t.Errorf("answer = % x, want % x", got, tt.want)
			}
		})
	}
	t.Run("HTTP on the SOCKS listener", func(t *testing.T) {
		got := string(socksRaw(t, socks, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
		if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "SOCKS5 listener") {
			t.Errorf("answer = %q, want a 400 naming the SOCKS5 listener", got)
		}
	})
}

// A tunnel that carries neither TLS nor HTTP is relayed as it is and
// recorded as a raw tunnel flow; a passthrough host whose dial fails gets
// the SOCKS5 reply for the cause.
func TestSOCKSRawAndPassthrough(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	env := proxytest.Start(t, proxy.Config{Passthrough: []string{"localhost"}})
	socks := env.ServeSOCKS(t)
	d, err := xproxy.SOCKS5("tcp", socks, nil, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte{0, 0, 0, 8, 4, 210, 22, 47} // a PostgreSQL SSLRequest
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo = % x, %v; want % x", got, err, msg)
	}
	c.Close()
	f := onlyFlow(t, env.Rec)
	if f.Kind != flow.KindTunnel || f.Tunnel == nil || f.Tunnel.Mode != flow.TunnelRaw {
		t.Errorf("flow kind %q tunnel %+v, want a raw tunnel", f.Kind, f.Tunnel)
	}
	if f.Request.Proto != "SOCKS5" || f.Request.URL != "https://"+echo.Addr().String() {
		t.Errorf("flow request %s %s, want SOCKS5 https://%s", f.Request.Proto, f.Request.URL, echo.Addr())
	}

	_, deadPort, _ := net.SplitHostPort(deadAddr)
	if _, err := d.Dial("tcp", "localhost:"+deadPort); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dial of a refused passthrough host: %v, want connection refused", err)
	}
}

// The SOCKS5 listener shares the proxy's connection limit: past it a new
// client is told "no acceptable method" and closed.
func TestSOCKSConnectionLimit(t *testing.T) {
	env := proxytest.Start(t, proxy.Config{MaxClientConns: 1})
	socks := env.ServeSOCKS(t)
	held, err := net.Dial("tcp", socks)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// The held connection is admitted once the listener answers it.
	_ = held.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := held.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(held, sel[:]); err != nil || sel != [2]byte{5, 0} {
		t.Fatalf("held connection: % x, %v", sel, err)
	}
	if got := socksRaw(t, socks, []byte{5, 1, 0}); !bytes.Equal(got, []byte{5, 0xff}) {
		t.Errorf("connection past the limit got % x, want 05 ff", got)
	}
	if st := env.Proxy.ConnStats(); st.Refused == 0 {
		t.Errorf("ConnStats().Refused = 0, want the refusal counted")
	}
}
