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
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// originSaw is what an origin saw of the requests it answered.
type originSaw struct {
	mu   sync.Mutex
	reqs []sawReq
}

type sawReq struct {
	host, sni, path string
}

func (o *originSaw) handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sawReq{host: r.Host, path: r.URL.Path}
		if r.TLS != nil {
			s.sni = r.TLS.ServerName
		}
		o.mu.Lock()
		o.reqs = append(o.reqs, s)
		o.mu.Unlock()
		_, _ = io.WriteString(w, "from "+name)
	})
}

func (o *originSaw) all() []sawReq {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]sawReq(nil), o.reqs...)
}

// tunnelGet opens a CONNECT tunnel to target through the proxy at proxyAddr
// and sends, as plain HTTP inside it, a GET for path with the given Host.
func tunnelGet(t *testing.T, proxyAddr, target, host, path string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", target, resp, err)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET in tunnel: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tunnelClient is an HTTPS client through the proxy that sends sni as its
// TLS server name ("" for none: the URL's IP address is then verified).
func tunnelClient(t *testing.T, env *proxytest.Env, h2 bool, sni string) *http.Client {
	tr := env.Transport(t, h2)
	tr.TLSClientConfig.ServerName = sni
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// getWithHost sends a GET for u whose Host header is host.
func getWithHost(t *testing.T, c *http.Client, u, host string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", u, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Inside a CONNECT tunnel the request goes to the CONNECT target, with the
// Host (:authority) the client sent, over TLS with HTTP/1.1 and HTTP/2 and
// in a plain-HTTP tunnel; the flow records the URL the client addressed and
// the target. Before, the Host header chose the destination: b.invalid
// was dialled and the client got 502.
func TestTunnelGoesToConnectTarget(t *testing.T) {
	tests := []struct {
		name    string
		tls, h2 bool
		sni     string // the client's TLS server name
		// wantName is the flow's ServerName: the name verified upstream
		// (the SNI, else the CONNECT host), as it is not the URL's host.
		wantName string
	}{
		{name: "plain-tunnel"},
		{name: "h1", tls: true, wantName: "127.0.0.1"},
		{name: "h2", tls: true, h2: true, wantName: "127.0.0.1"},
		{name: "h1-sni", tls: true, sni: "example.com", wantName: "example.com"},
		{name: "h2-sni", tls: true, h2: true, sni: "example.com", wantName: "example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var saw originSaw
			var origin *httptest.Server
			if tt.tls {
				origin = proxytest.TLSOrigin(t, saw.handler("A"))
			} else {
				origin = proxytest.Origin(t, saw.handler("A"))
			}
			target := origin.Listener.Addr().String()
			env := proxytest.Start(t, proxy.Config{})

			var status int
			var body, scheme string
			if tt.tls {
				scheme = "https"
				resp, b := getWithHost(t, tunnelClient(t, env, tt.h2, tt.sni), "https://"+target+"/path", "b.invalid")
				status, body = resp.StatusCode, b
				if tt.h2 && resp.ProtoMajor != 2 {
					t.Errorf("client spoke %s inside the tunnel, want HTTP/2", resp.Proto)
				}
			} else {
				scheme = "http"
				status, body = tunnelGet(t, env.Addr, target, "b.invalid", "/path")
			}
			if status != 200 || body != "from A" {
				t.Fatalf("answer %d %q, want 200 from the CONNECT target", status, body)
			}
			got := saw.all()
			if len(got) != 1 || got[0].host != "b.invalid" || got[0].sni != tt.sni || got[0].path != "/path" {
				t.Errorf("origin saw %+v, want Host b.invalid, SNI %q", got, tt.sni)
			}

			f := env.Rec.Last(t).Flow
			if f.Request.URL != scheme+"://b.invalid/path" || f.Tunnel == nil || *f.Tunnel != (flow.Tunnel{Target: target, ServerName: tt.wantName}) {
				t.Errorf("flow URL %q tunnel %+v, want %s://b.invalid/path, %s, %q",
					f.Request.URL, f.Tunnel, scheme, target, tt.wantName)
			}
			if f.UpstreamRequest == nil || f.UpstreamRequest.Header.Get("Host") != "b.invalid" {
				t.Errorf("upstream head %+v", f.UpstreamRequest)
			}
			if s := f.Summary(); s.Host != "b.invalid" || s.Target != target {
				t.Errorf("summary host %q target %q", s.Host, s.Target)
			}
		})
	}
}

// A tunnel whose Host names its own target records no Target: the URL
// says where the request went.
func TestTunnelTargetOnlyWhenDifferent(t *testing.T) {
	var saw originSaw
	origin := proxytest.TLSOrigin(t, saw.handler("A"))
	env := proxytest.Start(t, proxy.Config{})
	resp, err := env.Client(t).Get(origin.URL + "/same")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if f := env.Rec.Last(t).Flow; f.Tunnel != nil || f.Request.URL != origin.URL+"/same" {
		t.Errorf("flow URL %q tunnel %+v", f.Request.URL, f.Tunnel)
	}
}

// An origin connection verified for one TLS name never carries a request
// meant for another: requests alternate between a client that sends SNI
// example.com and one that sends none, to the same target, and the origin
// sees each request on a connection with the client's SNI. The origin
// speaks HTTP/1.1 only, so requests without SNI also go through the pooled
// HTTP/1.1 client from the second on.
func TestTunnelPoolsByServerName(t *testing.T) {
	var saw originSaw
	origin := httptest.NewUnstartedServer(saw.handler("A"))
	origin.StartTLS()
	t.Cleanup(origin.Close)
	target := origin.Listener.Addr().String()
	env := proxytest.Start(t, proxy.Config{})
	clients := map[string]*http.Client{
		"example.com": tunnelClient(t, env, false, "example.com"),
		"":            tunnelClient(t, env, false, ""),
	}
	order := []string{"", "example.com", "", "example.com", "", ""}
	for i, sni := range order {
		if _, body := getWithHost(t, clients[sni], fmt.Sprintf("https://%s/%d", target, i), "b.invalid"); body != "from A" {
			t.Fatalf("request %d: %q", i, body)
		}
	}
	got := saw.all()
	if len(got) != len(order) {
		t.Fatalf("origin saw %d requests, want %d", len(got), len(order))
	}
	for i, s := range got {
		if s.sni != order[i] || s.path != fmt.Sprint("/", i) {
			t.Errorf("request %d (%s) arrived with SNI %q, want %q", i, s.path, s.sni, order[i])
		}
	}
}

// A WebSocket upgrade inside a tunnel (ws:// through a plain-HTTP tunnel,
// wss:// through TLS) goes to the CONNECT target with the client's Host.
func TestTunnelWebSocketGoesToConnectTarget(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("secure=", secure), func(t *testing.T) {
			hosts := make(chan string, 1)
			up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hosts <- r.Host
				c, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				if op, msg, err := c.ReadMessage(); err == nil {
					_ = c.WriteMessage(op, msg)
				}
			})
			var origin *httptest.Server
			scheme := "ws"
			if secure {
				origin = proxytest.TLSOrigin(t, h)
				scheme = "wss"
			} else {
				origin = proxytest.Origin(t, h)
			}
			target := origin.Listener.Addr().String()
			env := proxytest.Start(t, proxy.Config{})
			d := websocket.Dialer{
				Proxy:            http.ProxyURL(env.URL),
				TLSClientConfig:  &tls.Config{RootCAs: env.CA.Pool()},
				HandshakeTimeout: 5 * time.Second,
			}
			c, _, err := d.Dial(scheme+"://"+target+"/socket", http.Header{"Host": {"b.invalid"}})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if got := <-hosts; got != "b.invalid" {
				t.Errorf("origin saw Host %q", got)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
				t.Fatalf("echo %q %v", msg, err)
			}
			c.Close()
			f := env.Rec.Last(t).Flow
			httpScheme := map[string]string{"ws": "http", "wss": "https"}[scheme]
			if f.Request.URL != httpScheme+"://b.invalid/socket" || f.Tunnel == nil || f.Tunnel.Target != target {
				t.Errorf("flow URL %q tunnel %+v", f.Request.URL, f.Tunnel)
			}
		})
	}
}

// Whatever Host a tunnel's request names, it reaches the tunnel's target:
// not the dashboard, not the proxy's own pages. A replayed flow whose
// target names the dashboard is refused like a CONNECT to it.
func TestTunnelHostCannotReachLoupe(t *testing.T) {
	dashHits := make(chan string, 4)
	dash := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dashHits <- r.URL.Path
		_, _ = io.WriteString(w, "SECRET API DATA")
	}))
	dashAddr := dash.Listener.Addr().String()
	self := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "install page")
	})
	var saw originSaw
	origin := proxytest.TLSOrigin(t, saw.handler("A"))
	plain := proxytest.Origin(t, saw.handler("A"))
	env := proxytest.Start(t, proxy.Config{SelfHandler: self, DashboardAddr: dashAddr})

	c := tunnelClient(t, env, false, "")
	for _, host := range []string{dashAddr, env.Addr} {
		if resp, body := getWithHost(t, c, origin.URL+"/api/flows", host); resp.StatusCode != 200 || body != "from A" {
			t.Errorf("TLS tunnel, Host %s: %d %q, want the tunnel's target", host, resp.StatusCode, body)
		}
		if status, body := tunnelGet(t, env.Addr, plain.Listener.Addr().String(), host, "/api/flows"); status != 200 || body != "from A" {
			t.Errorf("plain tunnel, Host %s: %d %q, want the tunnel's target", host, status, body)
		}
	}

	f := env.Rec.Last(t).Flow
	f.Tunnel = &flow.Tunnel{Target: dashAddr}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := env.Proxy.Replay(ctx, &f, nil); !errors.Is(err, proxy.ErrNotReplayable) {
		t.Errorf("replay to the dashboard: %v, want refused", err)
	}
	select {
	case p := <-dashHits:
		t.Errorf("the dashboard was reached: %s", p)
	default:
	}
}

// A mapRemote rule still chooses the destination inside a tunnel; rules
// match the host the client addressed (its Host), not the tunnel's target.
func TestTunnelMapRemoteAndRuleHost(t *testing.T) {
	var sawA, sawB originSaw
	a := proxytest.TLSOrigin(t, sawA.handler("A"))
	b := proxytest.Origin(t, sawB.handler("B"))
	env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t,
		rules.Rule{ID: "map", Match: rules.Match{Host: "mapped.invalid"}, Actions: []rules.Action{{Type: "mapRemote", URL: b.URL}}},
		rules.Rule{ID: "hdr", Match: rules.Match{Host: "b.invalid"}, Actions: []rules.Action{{Type: "setRequestHeaders", Headers: map[string]string{"X-Rule": "1"}}}},
	)})
	c := tunnelClient(t, env, false, "")
	if _, body := getWithHost(t, c, a.URL+"/m", "mapped.invalid"); body != "from B" {
		t.Errorf("mapRemote inside a tunnel: %q, want the mapped origin", body)
	}
	if f := env.Rec.Last(t).Flow; f.UpstreamRequest == nil || f.UpstreamRequest.URL != b.URL+"/m" {
		t.Errorf("mapped flow upstream %+v", f.UpstreamRequest)
	}
	if _, body := getWithHost(t, c, a.URL+"/r", "b.invalid"); body != "from A" {
		t.Errorf("rule on the Host: %q", body)
	}
	if f := env.Rec.Last(t).Flow; strings.Join(f.Rules, ",") != "hdr" {
		t.Errorf("rules %v, want the one matching Host b.invalid", f.Rules)
	}
}

// A replay of a tunnelled flow goes to the same target, with the same Host
// and TLS name.
func TestTunnelReplayGoesToTarget(t *testing.T) {
	var saw originSaw
	origin := proxytest.TLSOrigin(t, saw.handler("A"))
	target := origin.Listener.Addr().String()
	env := proxytest.Start(t, proxy.Config{})
	if _, body := getWithHost(t, tunnelClient(t, env, true, "example.com"), "https://"+target+"/r", "b.invalid"); body != "from A" {
		t.Fatalf("first request: %q", body)
	}
	orig := env.Rec.Last(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := env.Proxy.Replay(ctx, &orig.Flow, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := env.Rec.WaitFinished(t, 2, 10*time.Second)
	f := fs[1]
	if f.Flow.ID != id || f.Flow.Response == nil || f.Flow.Response.Status != 200 || string(f.Bodies[flow.FacetResponse]) != "from A" {
		t.Fatalf("replay: %+v error %q", f.Flow.Response, f.Flow.Error)
	}
	if f.Flow.Tunnel == nil || *f.Flow.Tunnel != (flow.Tunnel{Target: target, ServerName: "example.com"}) {
		t.Errorf("replay tunnel %+v", f.Flow.Tunnel)
	}
	got := saw.all()
	if len(got) != 2 || got[1] != got[0] || got[1].host != "b.invalid" || got[1].sni != "example.com" {
		t.Errorf("origin saw %+v", got)
	}
}
