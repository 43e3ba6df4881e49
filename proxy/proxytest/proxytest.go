package proxytest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/ca"
)

// Env is a running proxy for one test.
type Env struct {
	Proxy *proxy.Proxy
	Addr  string // "127.0.0.1:port"
	URL   *url.URL
	CA    *ca.CA
	Rec   *Recorder
}

var (
	caOnce sync.Once
	caVal  *ca.CA
	caErr  error
)

// TestCA returns a CA created once per test binary in a temporary directory.
func TestCA(tb testing.TB) *ca.CA {
	tb.Helper()
	caOnce.Do(func() {
		dir, err := mkdirTemp()
		if err != nil {
			caErr = err
			return
		}
		// The CA lives in memory once loaded; its files are not needed.
		defer os.RemoveAll(dir)
		caVal, caErr = ca.LoadOrCreate(dir)
	})
	if caErr != nil {
		tb.Fatalf("test CA: %v", caErr)
	}
	return caVal
}

// OriginRoots trusts the certificate of httptest TLS servers, so that the
// proxy verifies test origins like real ones.
func OriginRoots() *x509.CertPool {
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.StartTLS()
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

// Start runs a proxy on 127.0.0.1:0. Unset Config fields get test values:
// the test CA, a new Recorder (unless cfg.Recorder is set), origin roots
// that trust httptest TLS servers. The proxy is shut down by t.Cleanup.
func Start(tb testing.TB, cfg proxy.Config) *Env {
	tb.Helper()
	env := &Env{}
	if cfg.CA == nil {
		cfg.CA = TestCA(tb)
	}
	env.CA = cfg.CA
	if cfg.Recorder == nil {
		env.Rec = &Recorder{}
		cfg.Recorder = env.Rec
	} else if r, ok := cfg.Recorder.(*Recorder); ok {
		env.Rec = r
	}
	if cfg.UpstreamRootCAs == nil {
		cfg.UpstreamRootCAs = OriginRoots()
	}
	p, err := proxy.New(cfg)
	if err != nil {
		tb.Fatalf("proxy.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	env.Proxy = p
	env.Addr = l.Addr().String()
	env.URL = &url.URL{Scheme: "http", Host: env.Addr}
	done := make(chan error, 1)
	go func() { done <- p.Serve(l) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			tb.Errorf("proxy shutdown: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("proxy serve: %v", err)
		}
	})
	return env
}

// Transport returns a transport that uses the proxy and trusts its CA.
// h2 enables HTTP/2 inside tunnels. Its idle connections are closed by
// t.Cleanup.
func (e *Env) Transport(tb testing.TB, h2 bool) *http.Transport {
	tr := &http.Transport{
		Proxy:              http.ProxyURL(e.URL),
		TLSClientConfig:    &tls.Config{RootCAs: e.CA.Pool()},
		ForceAttemptHTTP2:  h2,
		DisableCompression: true,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return tr
}

// Client returns a client through the proxy (HTTP/1.1 inside tunnels).
func (e *Env) Client(tb testing.TB) *http.Client {
	return &http.Client{Transport: e.Transport(tb, false), Timeout: 30 * time.Second}
}

// Origin starts a plain HTTP origin closed by t.Cleanup.
func Origin(tb testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	tb.Cleanup(s.Close)
	return s
}

// TLSOrigin starts a TLS origin that offers HTTP/2 and HTTP/1.1.
func TLSOrigin(tb testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// Stream is an origin handler that writes n bytes every interval until total
// elapsed, flushing each write. It reports on done (if non-nil) whether it
// finished writing (true) or its connection failed (false).
func Stream(n int, interval, total time.Duration, done chan<- bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, n)
		for i := range chunk {
			chunk[i] = 'a' + byte(i%26)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		rc := http.NewResponseController(w)
		end := time.Now().Add(total)
		ok := true
		for time.Now().Before(end) {
			if _, err := w.Write(chunk); err != nil {
				ok = false
				break
			}
			if err := rc.Flush(); err != nil {
				ok = false
				break
			}
			time.Sleep(interval)
		}
		if done != nil {
			done <- ok
		}
	})
}

func mkdirTemp() (string, error) { return os.MkdirTemp("", "loupe-test-ca-") }

// ServeSOCKS serves a SOCKS5 listener of the proxy on 127.0.0.1:0 and
// returns its address. It stops with the proxy.
func (e *Env) ServeSOCKS(tb testing.TB) string {
	tb.Helper()
	return e.serve(tb, e.Proxy.ServeSOCKS)
}

// ServeReverse serves a reverse listener for r on 127.0.0.1:0 and returns
// its address. It stops with the proxy.
func (e *Env) ServeReverse(tb testing.TB, r proxy.Reverse) string {
	tb.Helper()
	return e.serve(tb, func(l net.Listener) error { return e.Proxy.ServeReverse(l, r) })
}

func (e *Env) serve(tb testing.TB, serve func(net.Listener) error) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	go func() {
		if err := serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serve %s: %v", l.Addr(), err)
		}
	}()
	return l.Addr().String()
}
