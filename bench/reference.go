package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// referenceScenarios are the scenarios the reference proxy can run: it
// forwards plain HTTP only (no MITM, no rules, no dashboard).
const referenceScenarios = "abdefg"

// serveReference runs the reference proxy on addr until SIGTERM or SIGINT:
// the standard library's httputil.ReverseProxy used as a forward proxy for
// plain HTTP, with a Transport pooled like Loupe's, and nothing else: no
// capture, no rules, no dashboard. It is the floor for a proxy built on
// net/http's server and client on the machine at hand, measured the same
// way as Loupe (go run ./bench -reference).
func serveReference(addr string) error {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   true,
	}
	rp := &httputil.ReverseProxy{
		// The inbound URL is absolute (proxy form): the outbound request
		// goes where it names.
		Rewrite:       func(*httputil.ProxyRequest) {},
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 30 * time.Second}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("reference proxy: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("reference proxy: %w", err)
	}
	return nil
}

// refSpawner starts a fresh reference proxy process (this program with
// -serve-reference) per scenario, pinned like Loupe.
type refSpawner struct {
	pin bool
}

func (s *refSpawner) describe() string {
	return "reference: httputil.ReverseProxy as a plain-HTTP forward proxy (net/http server + Transport, no capture, no rules), " +
		"a fresh process per scenario; scenarios c, h and i need Loupe and are skipped"
}

func (s *refSpawner) fresh() bool { return true }

func (s *refSpawner) start(ctx context.Context, rulesJSON []byte) (*target, error) {
	if rulesJSON != nil {
		return nil, fmt.Errorf("%w: the reference proxy has no rules", errSkip)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("reference proxy: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	t := &target{addr: addr, done: make(chan struct{}), logTxt: &bytes.Buffer{}}
	if err := t.launch([]string{self, "-serve-reference", addr}, nil, s.pin); err != nil {
		return nil, fmt.Errorf("start reference proxy: %w", err)
	}
	if err := waitListening(ctx, t, 10*time.Second); err != nil {
		s.stop(t)
		return nil, fmt.Errorf("reference proxy did not start: %w\n%s", err, t.logTxt.String())
	}
	return t, nil
}

func (s *refSpawner) stop(t *target) { t.terminate() }
