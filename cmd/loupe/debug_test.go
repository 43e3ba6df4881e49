package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestDebugAddr(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:0", "nonsense"} {
		if _, err := listenDebug(addr); err == nil {
			t.Errorf("-debug-addr %q accepted; want only loopback", addr)
		}
	}

	m, out := start(t, "-debug-addr", "127.0.0.1:0")
	if m.debugLn == nil {
		t.Fatal("no debug listener")
	}
	url := "http://" + m.debugLn.Addr().String() + "/debug/pprof/goroutine?debug=1"
	if !strings.Contains(out.String(), m.debugLn.Addr().String()) {
		t.Errorf("start-up output does not name the debug address: %q", out.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("GET %s: %s %.80q", url, resp.Status, body)
	}
	// The listener has no token, so it answers only loopback Host forms: a
	// name rebound to 127.0.0.1 (DNS rebinding) gets 421.
	_, dport, _ := net.SplitHostPort(m.debugLn.Addr().String())
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + dport, 200}, {"localhost:" + dport, 200}, {"[::1]:" + dport, 200}, {"app.localhost:" + dport, 200},
		{"evil.example:" + dport, 421}, {"127.0.0.1.nip.io:" + dport, 421}, {"localhost.evil.example:" + dport, 421},
	} {
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || strings.Contains(string(body), "goroutine profile") != (tc.want == 200) {
			t.Errorf("debug listener, Host %s: %s %.60q, want %d", tc.host, resp.Status, body, tc.want)
		}
	}
	// Not on the dashboard: it has its own token and security checks.
	resp, err = http.Get("http://" + m.UIAddr() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "goroutine profile") {
		t.Error("pprof reachable on the dashboard listener without the token")
	}
	// With the token as a Bearer header, the dashboard serves it too.
	for _, tc := range []struct {
		auth string
		want bool
	}{{"Bearer " + m.Config.Token, true}, {"Bearer wrong", false}, {m.Config.Token, false}} {
		if got := dashboardPprof(t, m, tc.auth); got != tc.want {
			t.Errorf("Authorization %q: served %v, want %v", tc.auth, got, tc.want)
		}
	}
	// Through the dashboard's own checks: a name that was rebound to
	// 127.0.0.1 (DNS rebinding) gets 421, as on every other dashboard route.
	_, port, _ := net.SplitHostPort(m.UIAddr())
	for _, host := range []string{"evil.example:" + port, "127.0.0.1.nip.io:" + port} {
		req, _ := http.NewRequest("GET", "http://"+m.UIAddr()+"/debug/pprof/goroutine?debug=1", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+m.Config.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(string(body), "goroutine profile") {
			t.Errorf("Host %s: %s %.80q, want 421 and no profile", host, resp.Status, body)
		}
	}
}

// dashboardPprof reports whether the dashboard served a goroutine profile.
func dashboardPprof(t *testing.T, m *Main, auth string) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+m.UIAddr()+"/debug/pprof/goroutine?debug=1", nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "goroutine profile")
}

func TestDebugAddrOffByDefault(t *testing.T) {
	m, _ := start(t)
	if m.debugLn != nil || m.debug != nil {
		t.Error("debug listener started without -debug-addr")
	}
	if dashboardPprof(t, m, "Bearer "+m.Config.Token) {
		t.Error("dashboard serves pprof without -debug-addr")
	}
}
