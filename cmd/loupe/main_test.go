package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy"
	"loupe/proxy/proxytest"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(childEnv); kind != "" {
		os.Exit(startupChildMain(kind, os.Getenv(childDirEnv)))
	}
	code := m.Run()
	removeBuilt()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestParseFlags(t *testing.T) {
	t.Setenv("LOUPE_DATA", "/tmp/loupe-data")
	t.Setenv("LOUPE_TOKEN", "fixed")
	m := NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.ProxyAddr != "127.0.0.1:8080" || c.UIAddr != "127.0.0.1:8081" || c.DataDir != "/tmp/loupe-data" || c.Token != "fixed" {
		t.Errorf("defaults: %+v", c)
	}
	if c.Proxy.InsecureUpstream {
		t.Error("upstream verification off by default")
	}
	if c.Proxy.DisableHeadScan {
		t.Error("head scanning off by default")
	}
	if c.Proxy.OriginClient != proxy.OriginClientLoupe {
		t.Errorf("origin client %q by default, want %q", c.Proxy.OriginClient, proxy.OriginClientLoupe)
	}

	m = NewMain()
	err := m.ParseFlags([]string{"-proxy", ":9", "-ui", "127.0.0.1:7", "-data", "/x", "-insecure-upstream",
		"-passthrough", "*.bank.test, pinned.test", "-proxy-auth", "u:p", "-response-timeout", "5s", "-head-scan=false",
		"-origin-client", "stdlib"})
	if err != nil {
		t.Fatal(err)
	}
	c = m.Config
	if c.ProxyAddr != ":9" || c.UIAddr != "127.0.0.1:7" || c.DataDir != "/x" || !c.Proxy.InsecureUpstream ||
		strings.Join(c.Proxy.Passthrough, "|") != "*.bank.test|pinned.test" || c.Proxy.ProxyAuth != "u:p" ||
		c.Proxy.ResponseHeaderTimeout != 5*time.Second || !c.Proxy.DisableHeadScan || c.Proxy.OriginClient != proxy.OriginClientStdlib {
		t.Errorf("flags: %+v", c)
	}
	if err := NewMain().ParseFlags([]string{"-proxy-auth", "nocolon"}); err == nil {
		t.Error("bad -proxy-auth accepted")
	}
	if err := NewMain().ParseFlags([]string{"-origin-client", "curl"}); err == nil {
		t.Error("unknown -origin-client accepted")
	}
	t.Setenv("LOUPE_DATA", "")
	m = NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if dir, _ := os.UserConfigDir(); m.Config.DataDir != filepath.Join(dir, "loupe") {
		t.Errorf("data dir default %q", m.Config.DataDir)
	}
}

// start runs Loupe on :0 ports with a temporary data directory.
func start(t *testing.T, extra ...string) (*Main, *bytes.Buffer) {
	t.Helper()
	t.Setenv("LOUPE_TOKEN", "")
	dir := t.TempDir()
	m := NewMain()
	out := &bytes.Buffer{}
	m.Stdout = out
	args := append([]string{"-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", dir, "-log-level", "warn"}, extra...)
	if err := m.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, out
}

// client trusts the CA file Loupe wrote, like `curl --cacert`.
func client(t *testing.T, m *Main) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(m.Config.DataDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("ca.pem holds no certificate")
	}
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: m.ProxyAddr()}), TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestRunProxiesHTTPAndHTTPS(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "origin "+r.Proto) })
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewTLSServer(h)
	defer secure.Close()

	m, out := start(t, "-insecure-upstream") // the test origin's certificate is self-signed
	c := client(t, m)
	for _, u := range []string{plain.URL, secure.URL} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "origin") {
			t.Errorf("%s: %d %q", u, resp.StatusCode, b)
		}
	}
	s := out.String()
	for _, want := range []string{"http://" + m.ProxyAddr(), "http://" + m.UIAddr() + "/?token=" + m.Config.Token, filepath.Join(m.Config.DataDir, "ca.pem")} {
		if !strings.Contains(s, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, s)
		}
	}
	if len(m.Config.Token) < 32 {
		t.Errorf("random token %q too short", m.Config.Token)
	}
	fi, err := os.Stat(filepath.Join(m.Config.DataDir, "ca-key.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca-key.pem: %v %v", fi, err)
	}
	// The proxy serves its own page instead of proxying to itself, and
	// refuses to reach the dashboard.
	resp, err := c.Get("http://" + m.ProxyAddr() + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("ca.pem through the proxy: %q", b)
	}
	resp, err = c.Get("http://" + m.UIAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("dashboard through the proxy: %d", resp.StatusCode)
	}
}

// Close lets an in-flight exchange finish within the grace period and cuts
// one that outlasts it. The origin answers only when the test releases it,
// so the order of events shows what Close waited for, whatever the speed of
// the machine: with a long grace, Close is still waiting when the origin is
// released and the client gets the answer; with a short one, Close returns
// while the origin is still holding its answer, and the exchange is cut.
func TestGracefulShutdown(t *testing.T) {
	for _, tc := range []struct {
		grace    string
		finishes bool
	}{
		{"1m", true},
		{"300ms", false},
	} {
		t.Run("grace "+tc.grace, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			cancelled := make(chan struct{}, 1)
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				select {
				case <-release:
					_, _ = io.WriteString(w, "done")
				case <-r.Context().Done():
					cancelled <- struct{}{}
				}
			}))
			defer origin.Close()
			released := false
			defer func() {
				if !released {
					close(release)
				}
			}()

			m, _ := start(t, "-grace", tc.grace)
			c := client(t, m)
			got := make(chan string, 1)
			go func() {
				resp, err := c.Get(origin.URL + "/")
				if err != nil {
					got <- "error"
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got <- string(b)
			}()
			wait(t, arrived, "the request to reach the origin")
			closed := make(chan error, 1)
			go func() { closed <- m.Close() }()

			if tc.finishes {
				// Close has stopped taking connections and waits for the
				// exchange: it must not return before the origin answers.
				for deadline := time.Now().Add(30 * time.Second); ; {
					conn, err := net.Dial("tcp", m.ProxyAddr())
					if err != nil {
						break
					}
					conn.Close()
					if time.Now().After(deadline) {
						t.Fatal("the proxy listener is still open after Close began")
					}
					time.Sleep(10 * time.Millisecond)
				}
				select {
				case err := <-closed:
					t.Fatalf("Close returned (%v) before the in-flight exchange finished", err)
				default:
				}
				close(release)
				released = true
				if r := <-got; r != "done" {
					t.Errorf("in-flight request got %q, want the answer", r)
				}
				wait(t, closed, "Close to return once the exchange finished")
				return
			}
			// The origin still holds its answer: Close returns only by
			// cutting the exchange.
			wait(t, closed, "Close to cut the exchange at the end of the grace period")
			if r := <-got; r == "done" {
				t.Errorf("request got %q, want it cut", r)
			}
			wait(t, cancelled, "the origin's request to be cancelled")
		})
	}
}

// wait receives from ch; a generous bound turns a hang into a failure that
// names what never happened.
func wait[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("still waiting for %s", what)
	}
}

// The seams the full wiring uses: Wire sets services, Background runs until
// Close, Closers run last, Main replays through the proxy.
func TestWireSeams(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") }))
	defer origin.Close()
	rec := &proxytest.Recorder{}
	bgDone := make(chan struct{})
	closed := false
	m := NewMain()
	m.Stdout = io.Discard
	if err := m.ParseFlags([]string{"-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", t.TempDir(), "-log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	m.Wire = func(m *Main) error {
		if m.CA == nil || m.Config.Token == "" {
			t.Error("Wire ran before the CA and token were known")
		}
		m.Recorder = rec
		m.UIHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "dashboard") })
		m.Background = append(m.Background, func(ctx context.Context) error {
			<-ctx.Done()
			close(bgDone)
			return ctx.Err()
		})
		m.Closers = append(m.Closers, func() error { closed = true; return nil })
		return nil
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := client(t, m).Get(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f := rec.Last(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.Replay(ctx, &f.Flow, nil); err != nil {
		t.Errorf("replay: %v", err)
	}
	rec.WaitFinished(t, 2, 5*time.Second)
	resp, err = http.Get("http://" + m.UIAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "dashboard" {
		t.Errorf("dashboard listener served %q", b)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bgDone:
	default:
		t.Error("background service still running after Close")
	}
	if !closed {
		t.Error("closer did not run")
	}
}
