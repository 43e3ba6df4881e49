package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
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

// pprofMux serves net/http/pprof under /debug/pprof/: on the debug listener,
// and on the dashboard (web.Config.Debug), which puts it behind its own
// checks and the token.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
