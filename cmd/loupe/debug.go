package main

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// listenDebug opens the -debug-addr listener. It refuses anything but a
// loopback address: profiles and goroutine dumps show URLs, headers and
// bodies in flight, and the endpoint has no token.
func listenDebug(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-debug-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-debug-addr %q: only a loopback address is allowed", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	if !isLoopback(l.Addr()) {
		_ = l.Close()
		return nil, fmt.Errorf("-debug-addr %q: resolved to non-loopback %s", addr, l.Addr())
	}
	return l, nil
}

// debugServer serves net/http/pprof (CPU, heap, allocation and goroutine
// profiles) on its own listener, apart from the dashboard and its token.
func debugServer() *http.Server {
	return &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// withPprof also serves /debug/pprof/ on the dashboard listener (when
// -debug-addr is set), for tools that only know the dashboard address and
// its token. Only an "Authorization: Bearer TOKEN" header opens it, never the
// dashboard cookie: a web page cannot make a browser send that header to
// another origin, so the profiles cannot be read cross-site.
func withPprof(next http.Handler, token string) http.Handler {
	prof := pprofMux()
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			next.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		prof.ServeHTTP(w, r)
	})
}
