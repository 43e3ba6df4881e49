package main

import (
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
	return &http.Server{Handler: loopbackHostOnly(pprofMux()), ReadHeaderTimeout: 10 * time.Second}
}

// loopbackHostOnly answers 421 to a request whose Host is not a loopback
// form (localhost, *.localhost, a loopback IP literal), as the dashboard
// does: the debug listener has no token, so a page whose DNS name was
// rebound to 127.0.0.1 must not reach it.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
		ip := net.ParseIP(host)
		if host != "localhost" && !strings.HasSuffix(host, ".localhost") && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "Host "+r.Host+" is not a loopback address", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
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
