package proxy_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/hostmap"
	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

func hostMap(t *testing.T, entries ...string) func() *hostmap.Map {
	t.Helper()
	var es []hostmap.Entry
	for _, s := range entries {
		e, err := hostmap.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	m, err := hostmap.Compile(es)
	if err != nil {
		t.Fatal(err)
	}
	return func() *hostmap.Map { return m }
}

// A mapped host's connections go to the mapped address; the origin sees
// the Host the client sent, the flow keeps the URL, and TLS is still
// verified against the name the client asked for (httptest's certificate
// is valid for example.com, not for other.test), unless -insecure-upstream.
func TestHostMapping(t *testing.T) {
	up := websocket.Upgrader{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			c, err := up.Upgrade(w, r, nil)
			if err == nil {
				_ = c.WriteMessage(websocket.TextMessage, []byte(r.Host))
				c.Close()
			}
			return
		}
		fmt.Fprintf(w, "%s %s", r.Host, r.URL.Path)
	})
	origin := proxytest.Origin(t, handler)
	tlsOrigin := proxytest.TLSOrigin(t, handler)
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	_, tlsPort, _ := net.SplitHostPort(tlsOrigin.Listener.Addr().String())
	dash, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dash.Close() })
	m := hostMap(t,
		"api.example.test="+origin.Listener.Addr().String(),
		"example.com=127.0.0.1", // keeps the port dialled
		"other.test=127.0.0.1",
		"dash.test="+dash.Addr().String(),
	)
	env := proxytest.Start(t, proxy.Config{HostMap: m, DashboardAddr: dash.Addr().String()})
	insecure := proxytest.Start(t, proxy.Config{HostMap: m, InsecureUpstream: true})

	tests := []struct {
		name   string
		env    *proxytest.Env
		url    string
		status int
		body   string
	}{
		{"plain HTTP", env, "http://api.example.test/a", 200, "api.example.test /a"},
		{"HTTPS, name verified", env, "https://example.com:" + tlsPort + "/b", 200, "example.com:" + tlsPort + " /b"},
		{"HTTPS, name not in the certificate", env, "https://other.test:" + tlsPort + "/c", 502, "certificate"},
		{"HTTPS, -insecure-upstream", insecure, "https://other.test:" + tlsPort + "/d", 200, "other.test:" + tlsPort + " /d"},
		{"mapped to the dashboard", env, "http://dash.test/api/flows", 403, "Loupe's own listeners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := getBody(t, tt.env.Client(t), tt.url)
			if st != tt.status || !strings.Contains(body, tt.body) {
				t.Errorf("%d %q, want %d with %q", st, body, tt.status, tt.body)
			}
		})
	}
	fs := env.Rec.WaitFinished(t, 1, 10*time.Second)
	if fs[0].Flow.Request.URL != "http://api.example.test/a" {
		t.Errorf("flow URL %q, want the URL the client addressed", fs[0].Flow.Request.URL)
	}

	d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws://api.example.test:"+port+"/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket to a mapped host: %v", err)
	}
	defer ws.Close()
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "api.example.test:"+port {
		t.Errorf("WebSocket origin saw Host %q, %v", msg, err)
	}
	ws.Close()

	// Each flow says where the mapping sent it; its URL stays the one asked for.
	mapped := map[string]string{
		"http://api.example.test/a":               origin.Listener.Addr().String(),
		"https://example.com:" + tlsPort + "/b":   "127.0.0.1:" + tlsPort,
		"https://other.test:" + tlsPort + "/c":    "127.0.0.1:" + tlsPort,
		"http://api.example.test:" + port + "/ws": origin.Listener.Addr().String(), // the upgrade request
		"http://dash.test/api/flows":              dash.Addr().String(),
	}
	fs = env.Rec.WaitFinished(t, len(mapped), 10*time.Second)
	for _, r := range fs {
		want, ok := mapped[r.Flow.Request.URL]
		if !ok {
			continue
		}
		delete(mapped, r.Flow.Request.URL)
		if r.Flow.Tunnel == nil || r.Flow.Tunnel.MappedTo != want || r.Flow.Tunnel.Target != "" {
			t.Errorf("%s: tunnel %+v, want mapped to %s", r.Flow.Request.URL, r.Flow.Tunnel, want)
		}
	}
	if len(mapped) != 0 {
		t.Errorf("no flow for %v", mapped)
	}
	// A host without a mapping says nothing of one.
	plain := proxytest.Origin(t, handler)
	if st, _ := getBody(t, env.Client(t), plain.URL+"/unmapped"); st != 200 {
		t.Fatalf("unmapped host: %d", st)
	}
	for _, r := range env.Rec.WaitFinished(t, len(fs)+1, 10*time.Second) {
		if strings.HasSuffix(r.Flow.Request.URL, "/unmapped") && r.Flow.Tunnel != nil {
			t.Errorf("unmapped flow has %+v", r.Flow.Tunnel)
		}
	}
}

// Passthrough tunnels are mapped too.
func TestHostMappingPassthrough(t *testing.T) {
	tlsOrigin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "through")
	}))
	_, tlsPort, _ := net.SplitHostPort(tlsOrigin.Listener.Addr().String())
	env := proxytest.Start(t, proxy.Config{HostMap: hostMap(t, "example.com=127.0.0.1"), Passthrough: []string{"example.com"}})
	tr := env.Transport(t, false)
	tr.TLSClientConfig.RootCAs = proxytest.OriginRoots() // the origin's own certificate comes through
	st, body := getBody(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, "https://example.com:"+tlsPort+"/")
	if st != 200 || body != "through" {
		t.Errorf("%d %q, want 200 through", st, body)
	}
	tr.CloseIdleConnections()
	f := env.Rec.WaitFinished(t, 1, 10*time.Second)[0].Flow
	if f.Tunnel == nil || f.Tunnel.Mode != flow.TunnelPassthrough || f.Tunnel.MappedTo != "127.0.0.1:"+tlsPort || f.Tunnel.SNI != "example.com" {
		t.Errorf("passthrough tunnel %+v, want mapped to 127.0.0.1:%s with SNI example.com", f.Tunnel, tlsPort)
	}
}
