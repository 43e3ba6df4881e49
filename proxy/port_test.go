package proxy_test

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// portOf is the port of a test server's URL.
func portOf(t *testing.T, u string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A rule made for one origin fires for that origin's port only: two
// origins on one host, a rule with the port of the second. Before, rules
// had no port and the override hit both.
func TestRulePortOverridesOnlyItsOrigin(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var sawA, sawB originSaw
			a := m.origin(t, sawA.handler("A"))
			b := m.origin(t, sawB.handler("B"))
			env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t, rules.Rule{
				ID:      "only-b",
				Match:   rules.Match{Methods: []string{"GET"}, Host: "127.0.0.1", Port: portOf(t, b.URL), Path: "/x"},
				Actions: []rules.Action{{Type: rules.TypeOverride, Body: str("overridden")}},
			})})
			c := m.client(t, env)
			for _, tc := range []struct {
				url, want, rules string
			}{
				{a.URL + "/x", "from A", ""},
				{b.URL + "/x", "overridden", "only-b"},
				{a.URL + "/x", "from A", ""},
			} {
				if r := do(c, "GET", tc.url); r.err != nil || r.body != tc.want {
					t.Errorf("GET %s: %q %v, want %q", tc.url, r.body, r.err, tc.want)
				}
				if f := env.Rec.Last(t).Flow; strings.Join(f.Rules, ",") != tc.rules {
					t.Errorf("GET %s: flow rules %v, want %q", tc.url, f.Rules, tc.rules)
				}
			}
			// The override still reads the real answer: both origins were asked.
			if len(sawA.all()) != 2 || len(sawB.all()) != 1 {
				t.Errorf("origins saw %d and %d requests, want 2 and 1", len(sawA.all()), len(sawB.all()))
			}
		})
	}
}

// Inside a tunnel the port compared is the one in the client's Host (the
// URL the flow shows), else the scheme's default, never the CONNECT
// target's: a Host header without a port means 80 in a plain tunnel and
// 443 in a TLS one.
func TestRulePortInsideTunnel(t *testing.T) {
	var saw originSaw
	plain := proxytest.Origin(t, saw.handler("plain"))
	tlsOrigin := proxytest.TLSOrigin(t, saw.handler("tls"))
	target := plain.Listener.Addr().String()
	port := portOf(t, plain.URL)
	env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t,
		rules.Rule{ID: "p80", Match: rules.Match{Port: 80}, Actions: []rules.Action{{Type: rules.TypeSetResponseHeaders, Headers: map[string]string{"X-P": "80"}}}},
		rules.Rule{ID: "p443", Match: rules.Match{Port: 443}, Actions: []rules.Action{{Type: rules.TypeSetResponseHeaders, Headers: map[string]string{"X-P": "443"}}}},
		rules.Rule{ID: "target", Match: rules.Match{Port: port}, Actions: []rules.Action{{Type: rules.TypeOverride, Body: str("overridden")}}},
	)})
	tests := []struct {
		host, want, rules string
	}{
		{"a.test", "from plain", "p80"},
		{"a.test:80", "from plain", "p80"},
		{"a.test:443", "from plain", "p443"},
		{"a.test:" + strconv.Itoa(port), "overridden", "target"},
	}
	for _, tt := range tests {
		status, body := tunnelGet(t, env.Addr, target, tt.host, "/t")
		if status != 200 || body != tt.want {
			t.Errorf("plain tunnel, Host %s: %d %q, want %q", tt.host, status, body, tt.want)
		}
		if f := env.Rec.Last(t).Flow; strings.Join(f.Rules, ",") != tt.rules {
			t.Errorf("plain tunnel, Host %s: flow %s rules %v, want %q", tt.host, f.Request.URL, f.Rules, tt.rules)
		}
	}
	c := tunnelClient(t, env, false, "")
	if _, body := getWithHost(t, c, tlsOrigin.URL+"/t", "a.test"); body != "from tls" {
		t.Errorf("TLS tunnel, Host a.test: %q", body)
	}
	if f := env.Rec.Last(t).Flow; strings.Join(f.Rules, ",") != "p443" {
		t.Errorf("TLS tunnel, Host a.test: flow %s rules %v, want p443", f.Request.URL, f.Rules)
	}
}

// WebSocket upgrades match the port too: a block for one origin's port
// leaves the other origin's upgrade alone.
func TestRulePortWebSocket(t *testing.T) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.Close()
	})
	a := proxytest.Origin(t, handler)
	b := proxytest.Origin(t, handler)
	env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t, rules.Rule{
		ID: "block-b", Match: rules.Match{Scheme: "ws", Host: "127.0.0.1", Port: portOf(t, b.URL)},
		Actions: []rules.Action{{Type: rules.TypeBlock, Status: 451}},
	})})
	d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(a.URL, "http")+"/s", nil)
	if err != nil {
		t.Fatalf("upgrade to the other port: %v", err)
	}
	c.Close()
	if f := env.Rec.Last(t).Flow; len(f.Rules) != 0 {
		t.Errorf("upgrade to the other port touched by %v", f.Rules)
	}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(b.URL, "http")+"/s", nil)
	if conn != nil {
		conn.Close()
	}
	if err == nil || resp == nil || resp.StatusCode != 451 {
		t.Fatalf("upgrade to the rule's port: %v %+v, want 451", err, resp)
	}
	if resp != nil {
		resp.Body.Close()
	}
	if f := env.Rec.Last(t).Flow; strings.Join(f.Rules, ",") != "block-b" || f.Overridden != "block" {
		t.Errorf("rules %v overridden %q", f.Rules, f.Overridden)
	}
}
