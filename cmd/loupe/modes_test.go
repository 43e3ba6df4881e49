package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"loupe/browser"
)

func TestParseModeFlags(t *testing.T) {
	t.Setenv("LOUPE_DATA", t.TempDir())
	m := NewMain()
	err := m.ParseFlags([]string{"-socks", "127.0.0.1:1080",
		"-reverse", "127.0.0.1:9000=http://127.0.0.1:3000", "-reverse", "tls://127.0.0.1:9443=https://api.example.com",
		"-reverse-keep-host",
		"-upstream-proxy", "http://corp:3128", "-upstream-proxy", "*.internal=socks5://127.0.0.1:1081",
		"-map-host", "api.example.com=127.0.0.1:3000", "-map-host", "*.test=127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.SOCKSAddr != "127.0.0.1:1080" || len(c.Reverse) != 2 || !c.Reverse[1].TLS || !c.Reverse[0].KeepHost ||
		len(c.Proxy.UpstreamProxies) != 2 || c.Proxy.UpstreamProxies[1].Hosts != "*.internal" || len(c.HostMap) != 2 {
		t.Errorf("parsed: %+v", c)
	}
	for _, bad := range [][]string{
		{"-reverse", "127.0.0.1:9000"},
		{"-reverse", "127.0.0.1:9000=ftp://x"},
		{"-reverse", "127.0.0.1:9000=http://a", "-reverse", "127.0.0.1:9000=http://b"},
		{"-upstream-proxy", "gopher://x"},
		{"-upstream-proxy", "http://a:1", "-upstream-proxy", "http://b:1"},
		{"-map-host", "nohost"},
	} {
		if err := NewMain().ParseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Loupe with a SOCKS5 and a reverse listener: both reach the origin, the
// start-up output names them, and a host mapping put through the dashboard
// API takes effect at once and is kept in hosts.json.
func TestRunModes(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Host, r.URL.Path)
	}))
	defer origin.Close()
	m, out := start(t, "-socks", "127.0.0.1:0", "-reverse", "127.0.0.1:0="+origin.URL)

	d, err := xproxy.SOCKS5("tcp", m.SOCKSAddr(), nil, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: d.(xproxy.ContextDialer).DialContext}
	defer tr.CloseIdleConnections()
	get := func(c *http.Client, u string) string {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	oHost := origin.Listener.Addr().String()
	if got, want := get(&http.Client{Transport: tr, Timeout: 10 * time.Second}, origin.URL+"/s"), "200 "+oHost+" /s"; got != want {
		t.Errorf("via SOCKS5: %q, want %q", got, want)
	}
	rev := m.ReverseAddrs()[0]
	if got, want := get(&http.Client{Timeout: 10 * time.Second}, "http://"+rev+"/r"), "200 "+oHost+" /r"; got != want {
		t.Errorf("via the reverse listener: %q, want %q", got, want)
	}
	for _, want := range []string{"Loupe SOCKS5:    socks5h://" + m.SOCKSAddr(), "Loupe reverse:   http://" + rev + " -> " + origin.URL} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("start-up output lacks %q:\n%s", want, out)
		}
	}

	body := `{"entries": [{"host": "app.test", "to": "` + oHost + `"}]}`
	req, _ := http.NewRequest("PUT", "http://"+m.UIAddr()+"/api/hostmap", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.Config.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /api/hostmap: %d", resp.StatusCode)
	}
	if got, want := get(client(t, m), "http://app.test/h"), "200 app.test /h"; got != want {
		t.Errorf("mapped host: %q, want %q", got, want)
	}
	if data, err := os.ReadFile(filepath.Join(m.Config.DataDir, "hosts.json")); err != nil || !strings.Contains(string(data), "app.test") {
		t.Errorf("hosts.json: %q, %v", data, err)
	}
}

func TestLANURLs(t *testing.T) {
	ipnet := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	addrs := []net.Addr{ipnet("127.0.0.1/8"), ipnet("::1/128"), ipnet("192.168.1.20/24"), ipnet("fe80::1/64"),
		ipnet("2001:db8::5/64"), ipnet("169.254.3.4/16"), ipnet("10.0.0.7/8")}
	tests := []struct {
		listen string
		want   []string
	}{
		{"[::]:8080", []string{"http://192.168.1.20:8080", "http://10.0.0.7:8080", "http://[2001:db8::5]:8080"}},
		{"0.0.0.0:8080", []string{"http://192.168.1.20:8080", "http://10.0.0.7:8080"}},
	}
	for _, tt := range tests {
		a, err := net.ResolveTCPAddr("tcp", tt.listen)
		if err != nil {
			t.Fatal(err)
		}
		if got := lanURLs(a, addrs); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("lanURLs(%s) = %v, want %v", tt.listen, got, tt.want)
		}
	}
	if q := qrText("http://192.168.1.20:8080/"); strings.Count(q, "\n") < 10 || !strings.ContainsAny(q, "█▀▄") {
		t.Errorf("QR code:\n%s", q)
	}
}

// A proxy on all interfaces is shown at the machine's own addresses with a
// QR code of the set-up page, never as 0.0.0.0 or [::].
func TestPrintAllInterfaces(t *testing.T) {
	if len(lanURLs(&net.TCPAddr{Port: 1}, interfaceAddrs())) == 0 {
		t.Skip("this machine has no non-loopback address")
	}
	t.Setenv("LOUPE_TOKEN", "")
	m := NewMain()
	out := &bytes.Buffer{}
	m.Stdout = out
	if err := m.ParseFlags([]string{"-proxy", "0.0.0.0:0", "-ui", "127.0.0.1:0", "-data", t.TempDir(), "-log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := out.String()
	if strings.Contains(s, "0.0.0.0") || !strings.Contains(s, "Phone set-up:") || !strings.Contains(s, "█") {
		t.Errorf("start-up output:\n%s", s)
	}
}

// `loupe browser` reads the CA from a running Loupe and starts Chromium
// through it: an HTTPS page from a test origin (whose certificate only
// Loupe trusts) loads, with Loupe's CA installed nowhere.
func TestBrowserCommand(t *testing.T) {
	var chromium string
	for _, f := range browser.Find() {
		if f.Kind == browser.Chromium {
			chromium = f.Path
			break
		}
	}
	if chromium == "" {
		t.Skip("no Chromium or Chrome installed (Debian: apt install chromium)")
	}
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><p>through the command</p>`)
	}))
	defer origin.Close()
	// Every other host goes to a closed local port: nothing leaves the machine.
	m, _ := start(t, "-insecure-upstream", "-map-host", "127.0.0.1=127.0.0.1", "-map-host", "*=127.0.0.1:9")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code := runBrowser(ctx, []string{"-proxy", m.ProxyAddr(), "-browser", chromium, origin.URL + "/cmd", "--",
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage", "--dump-dom"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "through the command") {
		t.Errorf("exit %d; DOM:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	stderr.Reset()
	if code := runBrowser(ctx, []string{"-proxy", dead}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "no Loupe proxy answers") {
		t.Errorf("no Loupe running: exit %d, %q", code, stderr.String())
	}
}
