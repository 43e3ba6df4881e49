package proxy_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy"
	"loupe/proxy/proxytest"
)

// socks5Server is a small SOCKS5 proxy for the tests (CONNECT only,
// optionally with a user name and password): it records the targets it
// was asked for, as it received them.
type socks5Server struct {
	addr       string
	user, pass string
	mu         sync.Mutex
	targets    []string
}

func startSOCKS5(t *testing.T, user, pass string) *socks5Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socks5Server{addr: l.Addr().String(), user: user, pass: pass}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	return s
}

func (s *socks5Server) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

func (s *socks5Server) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	read := func(n int) []byte {
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return nil
		}
		return buf[:n]
	}
	h := read(2)
	if h == nil || h[0] != 5 || read(int(h[1])) == nil {
		return
	}
	if s.user != "" {
		c.Write([]byte{5, 2})
		if read(2) == nil {
			return
		}
		user := string(read(int(buf[1])))
		pass := string(read(int(read(1)[0])))
		if user != s.user || pass != s.pass {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	} else {
		c.Write([]byte{5, 0})
	}
	r := read(4)
	if r == nil {
		return
	}
	var host string
	switch r[3] {
	case 1:
		host = net.IP(read(4)).String()
	case 3:
		host = string(read(int(read(1)[0])))
	case 4:
		host = net.IP(read(16)).String()
	}
	p := read(2)
	target := net.JoinHostPort(host, fmt.Sprint(int(p[0])<<8|int(p[1])))
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	_ = c.SetDeadline(time.Time{})
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
}

func upstream(t *testing.T, spec string) proxy.UpstreamProxy {
	t.Helper()
	up, err := proxy.ParseUpstreamProxy(spec)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// trustAll trusts httptest origins and the test CA (the upstream Loupe's).
func trustAll(env *proxytest.Env) *x509.CertPool {
	pool := proxytest.OriginRoots()
	pool.AddCert(env.CA.Certificate())
	return pool
}

func getBody(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Loupe chained behind another Loupe (an HTTP proxy with authentication):
// plain HTTP goes to it in absolute form, HTTPS and WebSockets through a
// CONNECT; both proxies record the exchange. Credentials come from the URL;
// without them the upstream's 407 is a 502 that says so.
func TestUpstreamHTTPProxy(t *testing.T) {
	wsUp := websocket.Upgrader{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			c, err := wsUp.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			op, msg, err := c.ReadMessage()
			if err == nil {
				_ = c.WriteMessage(op, msg)
			}
			return
		}
		fmt.Fprintf(w, "%s %s", r.Host, r.URL.Path)
	})
	origin := proxytest.Origin(t, handler)
	tlsOrigin := proxytest.TLSOrigin(t, handler)
	upper := proxytest.Start(t, proxy.Config{ProxyAuth: "corp:pw"})
	// The same upstream Loupe, also reached over TLS (an https:// proxy).
	leaf, err := upper.CA.Leaf("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*leaf}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = upper.Proxy.Serve(tl) }()

	tests := []struct {
		name, proxyURL string
		ok             bool
	}{
		{"with credentials", "http://corp:pw@" + upper.Addr, true},
		{"over TLS", "https://corp:pw@" + tl.Addr().String(), true},
		{"without credentials", "http://" + upper.Addr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := proxytest.Start(t, proxy.Config{
				UpstreamProxies: []proxy.UpstreamProxy{upstream(t, tt.proxyURL)},
				UpstreamRootCAs: trustAll(upper),
			})
			c := env.Client(t)
			for _, u := range []string{origin.URL + "/plain", tlsOrigin.URL + "/tls"} {
				st, body := getBody(t, c, u)
				if !tt.ok {
					if st != 502 || !strings.Contains(body, "upstream proxy requires authentication") || !strings.Contains(body, upper.Addr) {
						t.Errorf("%s: %d %q, want 502 naming the upstream proxy's demand", u, st, body)
					}
					if strings.Contains(body, "pw") {
						t.Errorf("%s: the answer shows the password: %q", u, body)
					}
					continue
				}
				wantURL, _ := url.Parse(u)
				if want := wantURL.Host + " " + wantURL.Path; st != 200 || body != want {
					t.Errorf("%s: %d %q, want 200 %q", u, st, body, want)
				}
			}
			if !tt.ok {
				return
			}
			// Both proxies recorded both requests.
			if got := len(env.Rec.WaitFinished(t, 2, 10*time.Second)); got < 2 {
				t.Errorf("this Loupe recorded %d flows, want 2", got)
			}
			seen := map[string]bool{}
			for _, f := range upper.Rec.Flows() {
				seen[f.Flow.Request.URL] = true
			}
			if !seen[origin.URL+"/plain"] || !seen[tlsOrigin.URL+"/tls"] {
				t.Errorf("the upstream Loupe recorded %v, want both URLs", seen)
			}

			d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), HandshakeTimeout: 10 * time.Second}
			ws, _, err := d.Dial(strings.Replace(origin.URL, "http", "ws", 1)+"/ws", nil)
			if err != nil {
				t.Fatalf("WebSocket through both: %v", err)
			}
			defer ws.Close()
			if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "hi" {
				t.Errorf("WebSocket echo %q, %v", msg, err)
			}
		})
	}
}

// A SOCKS5 upstream gets every connection, with the host name for it to
// resolve; host globs send some hosts elsewhere, "direct" past any proxy.
func TestUpstreamSOCKSAndGlobs(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	socks := startSOCKS5(t, "u", "p")
	env := proxytest.Start(t, proxy.Config{UpstreamProxies: []proxy.UpstreamProxy{
		upstream(t, "socks5://u:p@"+socks.addr),
		upstream(t, "127.0.0.*=direct"),
	}})
	c := env.Client(t)
	if st, body := getBody(t, c, "http://localhost:"+port+"/via-socks"); st != 200 || body != "ok" {
		t.Errorf("via SOCKS5: %d %q", st, body)
	}
	if st, body := getBody(t, c, "http://127.0.0.1:"+port+"/direct"); st != 200 || body != "ok" {
		t.Errorf("direct: %d %q", st, body)
	}
	if got, want := socks.Targets(), []string{"localhost:" + port}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SOCKS5 proxy was asked for %v, want %v", got, want)
	}

	bad := proxytest.Start(t, proxy.Config{UpstreamProxies: []proxy.UpstreamProxy{upstream(t, "socks5://u:wrong@"+socks.addr)}})
	if st, body := getBody(t, bad.Client(t), "http://localhost:"+port+"/x"); st != 502 || !strings.Contains(body, "upstream proxy requires authentication") {
		t.Errorf("wrong SOCKS5 password: %d %q, want 502 upstream proxy requires authentication", st, body)
	}
}

// An upstream proxy that cannot be reached is named in the 502.
func TestUpstreamProxyUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	origin := proxytest.Origin(t, http.NotFoundHandler())
	tlsOrigin := proxytest.TLSOrigin(t, http.NotFoundHandler())
	for _, scheme := range []string{"http", "socks5"} {
		t.Run(scheme, func(t *testing.T) {
			env := proxytest.Start(t, proxy.Config{UpstreamProxies: []proxy.UpstreamProxy{upstream(t, scheme+"://user:secret@"+dead)}})
			c := env.Client(t)
			for _, u := range []string{origin.URL, tlsOrigin.URL} {
				st, body := getBody(t, c, u+"/x")
				if st != 502 || !strings.Contains(body, "upstream proxy "+scheme+"://user@"+dead) || strings.Contains(body, "secret") {
					t.Errorf("%s: %d %q, want 502 naming the proxy without its password", u, st, body)
				}
			}
		})
	}
}

// Bad -upstream-proxy values are refused with what is wrong.
func TestParseUpstreamProxy(t *testing.T) {
	tests := []struct{ in, hosts, url, err string }{
		{in: "http://corp:3128", url: "http://corp:3128"},
		{in: "*.internal=socks5://127.0.0.1:1080", hosts: "*.internal", url: "socks5://127.0.0.1:1080"},
		{in: "*.local=direct", hosts: "*.local"},
		{in: "https://u:p@proxy.example:8443", url: "https://u:p@proxy.example:8443"},
		{in: "ftp://corp", err: "want http, https, socks5"},
		{in: "http://", err: "no host"},
		{in: "http://corp:3128/path", err: "no path"},
		{in: "=http://corp", err: "empty host glob"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			up, err := proxy.ParseUpstreamProxy(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			got := ""
			if up.URL != nil {
				got = up.URL.String()
			}
			if err != nil || up.Hosts != tt.hosts || got != tt.url {
				t.Errorf("= %q %q, %v; want %q %q", up.Hosts, got, err, tt.hosts, tt.url)
			}
		})
	}
}
