package browser

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"loupe/hostmap"
	"loupe/proxy"
	"loupe/proxy/proxytest"
)

// lockedBuffer collects a browser's output from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// headless are the arguments a machine without a display and without
// outside network needs, on top of the launcher's own.
var headless = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage",
	"--dump-dom", "--virtual-time-budget=5000"}

// A Chromium started by the launcher loads an HTTPS page from a TLS origin
// on 127.0.0.1 through Loupe, with Loupe's CA installed nowhere: the
// profile trusts it by its SPKI hash alone, and localhost goes through the
// proxy. The same page with another SPKI hash does not load, so it is the
// hash that makes it work. The profile is gone once the browser exited.
func TestChromiumThroughLoupe(t *testing.T) {
	var found Found
	for _, f := range Find() {
		if f.Kind == Chromium {
			found = f
			break
		}
	}
	if found.Path == "" {
		t.Skip("no Chromium or Chrome installed (Debian: apt install chromium)")
	}
	origin := proxytest.TLSOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="m">loaded through Loupe</p>`)
	}))
	// The browser's own traffic to other hosts (it still asks for a few
	// Google names) never leaves the machine: every other host is mapped
	// to a closed port on 127.0.0.1, so nothing is even resolved.
	local, err := hostmap.Compile([]hostmap.Entry{{Host: "127.0.0.1", To: "127.0.0.1"}, {Host: "*", To: "127.0.0.1:9"}})
	if err != nil {
		t.Fatal(err)
	}
	env := proxytest.Start(t, proxy.Config{HostMap: func() *hostmap.Map { return local }, Logger: slog.New(slog.DiscardHandler)})

	run := func(t *testing.T, ca *x509.Certificate) (string, string) {
		t.Helper()
		var out, errOut lockedBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		b, err := Start(ctx, found, Options{Proxy: env.Addr, CA: ca, URL: origin.URL + "/page",
			Args: headless, Stdout: &out, Stderr: &errOut, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.Done():
		case <-ctx.Done():
			b.Stop()
			t.Fatalf("Chromium did not exit; stderr:\n%s", errOut.String())
		}
		if _, err := os.Stat(b.Profile); !os.IsNotExist(err) {
			t.Errorf("profile %s still there after the browser exited: %v", b.Profile, err)
		}
		return out.String(), errOut.String()
	}

	t.Run("CA trusted by its SPKI", func(t *testing.T) {
		dom, stderr := run(t, env.CA.Certificate())
		if !strings.Contains(dom, "loaded through Loupe") {
			t.Fatalf("the page did not load; DOM:\n%s\nstderr:\n%s", dom, stderr)
		}
		var got bool
		for _, f := range env.Rec.Flows() {
			if f.Flow.Request.URL == origin.URL+"/page" && f.Flow.Response != nil && f.Flow.Response.Status == 200 {
				got = true
			}
		}
		if !got {
			t.Errorf("Loupe recorded no 200 for %s/page", origin.URL)
		}
	})
	t.Run("another SPKI", func(t *testing.T) {
		// A certificate with another key: Loupe's leaves are not trusted.
		wrong := *env.CA.Certificate()
		wrong.RawSubjectPublicKeyInfo = []byte("not the CA's key")
		dom, _ := run(t, &wrong)
		if strings.Contains(dom, "loaded through Loupe") {
			t.Fatalf("the page loaded without the CA's SPKI hash:\n%s", dom)
		}
	})
}

func TestChromiumArgs(t *testing.T) {
	ca := proxytest.TestCA(t).Certificate()
	args := strings.Join(chromiumArgs(Options{Proxy: "127.0.0.1:8080", CA: ca, URL: "https://example.test/", Args: []string{"--x"}}, "/tmp/p"), " ")
	for _, want := range []string{
		"--user-data-dir=/tmp/p", "--proxy-server=http://127.0.0.1:8080", "--proxy-bypass-list=<-loopback>",
		"--ignore-certificate-errors-spki-list=" + SPKIHash(ca), "--no-first-run", "--no-default-browser-check",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("arguments lack %q: %s", want, args)
		}
	}
	if !strings.HasSuffix(args, "--x https://example.test/") {
		t.Errorf("extra arguments and the URL do not come last: %s", args)
	}
}

func TestPickAndProxyHostPort(t *testing.T) {
	found := []Found{{Name: "chromium", Kind: Chromium, Path: "/usr/bin/chromium"}, {Name: "firefox", Kind: Firefox, Path: "/usr/bin/firefox"}}
	if f, err := Pick(found, ""); err != nil || f.Name != "chromium" {
		t.Errorf("Pick(\"\") = %v, %v", f, err)
	}
	if f, err := Pick(found, "firefox"); err != nil || f.Kind != Firefox {
		t.Errorf("Pick(firefox) = %v, %v", f, err)
	}
	if _, err := Pick(found, "lynx"); err == nil || !strings.Contains(err.Error(), "chromium, firefox") {
		t.Errorf("Pick(lynx) err = %v, want one listing what was found", err)
	}
	if _, err := Pick(nil, ""); err != ErrNoBrowser {
		t.Errorf("Pick with none = %v, want ErrNoBrowser", err)
	}
	for in, want := range map[string]string{"0.0.0.0:8080": "127.0.0.1:8080", "[::]:8080": "127.0.0.1:8080", ":8080": "127.0.0.1:8080", "10.1.2.3:8080": "10.1.2.3:8080"} {
		if got := ProxyHostPort(in); got != want {
			t.Errorf("ProxyHostPort(%q) = %q, want %q", in, got, want)
		}
	}
}
