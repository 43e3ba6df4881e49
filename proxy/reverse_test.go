package proxy_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A reverse listener forwards every request to its origin: the flow's URL
// is the origin's, the Host header the origin's (or the client's with
// KeepHost), an origin path prefixes the request's.
func TestReverse(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Method, r.Host, r.URL.RequestURI())
	}))
	tlsOrigin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %s %s", r.Host, r.URL.RequestURI())
	}))
	env := proxytest.Start(t, proxy.Config{})
	oHost := origin.Listener.Addr().String()
	tHost := tlsOrigin.Listener.Addr().String()

	tests := []struct {
		name     string
		rev      proxy.Reverse
		path     string
		want     string // the origin's answer; %s is the listener's address
		wantURL  string
		clientH2 bool
	}{
		{"plain", proxy.Reverse{Origin: mustURL(t, origin.URL)}, "/a/b?q=1",
			"GET " + oHost + " /a/b?q=1", origin.URL + "/a/b?q=1", false},
		{"path prefix", proxy.Reverse{Origin: mustURL(t, origin.URL+"/api/")}, "/users?x=%2F",
			"GET " + oHost + " /api/users?x=%2F", origin.URL + "/api/users?x=%2F", false},
		{"keep host", proxy.Reverse{Origin: mustURL(t, origin.URL), KeepHost: true}, "/k",
			"GET %s /k", origin.URL + "/k", false},
		{"HTTPS origin", proxy.Reverse{Origin: mustURL(t, tlsOrigin.URL)}, "/t",
			"tls " + tHost + " /t", tlsOrigin.URL + "/t", false},
		{"TLS listener, HTTP/2", proxy.Reverse{Origin: mustURL(t, tlsOrigin.URL), TLS: true}, "/h2",
			"tls " + tHost + " /h2", tlsOrigin.URL + "/h2", true},
		{"TLS listener, HTTP/1.1", proxy.Reverse{Origin: mustURL(t, origin.URL), TLS: true}, "/h1",
			"GET " + oHost + " /h1", origin.URL + "/h1", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := env.ServeReverse(t, tt.rev)
			scheme := "http"
			tr := &http.Transport{}
			if tt.rev.TLS {
				scheme = "https"
				tr.TLSClientConfig = &tls.Config{RootCAs: env.CA.Pool()}
				tr.ForceAttemptHTTP2 = tt.clientH2
				if !tt.clientH2 {
					tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
				}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(scheme + "://" + addr + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := tt.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, addr)
			}
			if resp.StatusCode != 200 || string(body) != want {
				t.Errorf("answer %d %q, want 200 %q", resp.StatusCode, body, want)
			}
			if tt.clientH2 && resp.ProtoMajor != 2 {
				t.Errorf("client spoke %s, want HTTP/2", resp.Proto)
			}
			f := env.Rec.WaitFinished(t, i+1, 10*time.Second)[i].Flow
			if f.Request.URL != tt.wantURL {
				t.Errorf("flow URL %q, want %q", f.Request.URL, tt.wantURL)
			}
			if f.Tunnel != nil {
				t.Errorf("flow has a tunnel %+v; the URL says where it went", f.Tunnel)
			}
		})
	}
}

// Rules apply to a reverse listener's requests like to any other; a target
// that refuses is a 502 naming it; a smuggling head is refused; the origin
// may not be Loupe's own dashboard.
func TestReverseRulesAndFailures(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "origin") }))
	body := "mocked"
	set, err := rules.Compile([]rules.Rule{{ID: "mock", Enabled: true,
		Match:   rules.Match{Path: "/mocked"},
		Actions: []rules.Action{{Type: rules.TypeMock, Status: 201, Body: &body}}}})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	dash, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dash.Close() })
	env := proxytest.Start(t, proxy.Config{Rules: func() *rules.Set { return set }, DashboardAddr: dash.Addr().String()})
	live := env.ServeReverse(t, proxy.Reverse{Origin: mustURL(t, origin.URL)})
	refused := env.ServeReverse(t, proxy.Reverse{Origin: mustURL(t, deadURL)})
	toDash := env.ServeReverse(t, proxy.Reverse{Origin: mustURL(t, "http://"+dash.Addr().String())})

	get := func(u string) (int, string) {
		t.Helper()
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("http://" + live + "/mocked"); st != 201 || body != "mocked" {
		t.Errorf("mocked: %d %q, want 201 mocked", st, body)
	}
	if st, body := get("http://" + refused + "/x"); st != 502 || !strings.Contains(body, dead.Addr().String()) || !strings.Contains(body, "refused") {
		t.Errorf("refusing target: %d %q, want 502 naming %s", st, body, dead.Addr())
	}
	if st, body := get("http://" + toDash + "/api/flows"); st != 403 {
		t.Errorf("origin = the dashboard: %d %q, want 403", st, body)
	}

	c, err := net.Dial("tcp", live)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("Content-Length with Transfer-Encoding: %d, want 400", resp.StatusCode)
	}
}

// WebSockets pass through a reverse listener, message by message.
func TestReverseWebSocket(t *testing.T) {
	up := websocket.Upgrader{}
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(op, append([]byte("echo "), msg...)); err != nil {
				return
			}
		}
	}))
	env := proxytest.Start(t, proxy.Config{})
	addr := env.ServeReverse(t, proxy.Reverse{Origin: mustURL(t, origin.URL)})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.ReadMessage()
	if err != nil || string(msg) != "echo hi" {
		t.Fatalf("read %q, %v; want echo hi", msg, err)
	}
	c.Close()
	f := onlyFlow(t, env.Rec)
	if f.Response == nil || f.Response.Status != 101 || len(f.WebSocket) < 2 {
		t.Errorf("flow: response %+v, %d messages; want 101 and both messages", f.Response, len(f.WebSocket))
	}
	if want := origin.URL + "/ws"; f.Request.URL != want {
		t.Errorf("flow URL %q, want %q", f.Request.URL, want)
	}
}

// Bad -reverse values are refused with what is wrong.
func TestParseReverse(t *testing.T) {
	tests := []struct {
		in, listen, origin string
		tls                bool
		err                string
	}{
		{in: "127.0.0.1:9000=http://127.0.0.1:3000", listen: "127.0.0.1:9000", origin: "http://127.0.0.1:3000"},
		{in: "tls://127.0.0.1:9443=https://api.example.com", listen: "127.0.0.1:9443", origin: "https://api.example.com", tls: true},
		{in: ":9000=http://127.0.0.1:3000/base", listen: ":9000", origin: "http://127.0.0.1:3000/base"},
		{in: "127.0.0.1:9000", err: "want LISTEN=URL"},
		{in: "127.0.0.1=http://a", err: "listen address"},
		{in: "127.0.0.1:9000=ftp://a", err: "http:// or https://"},
		{in: "127.0.0.1:9000=http://", err: "no host"},
		{in: "127.0.0.1:9000=http://a/?q=1", err: "no user, query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			listen, r, err := proxy.ParseReverse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || listen != tt.listen || r.Origin.String() != tt.origin || r.TLS != tt.tls {
				t.Errorf("= %q %v %v, %v; want %q %q tls=%v", listen, r.Origin, r.TLS, err, tt.listen, tt.origin, tt.tls)
			}
		})
	}
}
