package web

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// cookieName holds the token in the browser after `/?token=T`.
const cookieName = "loupe_token"

// contentSecurityPolicy is the UI's policy: only the dashboard's own scripts,
// no framing, no plugins, connections (fetch, websocket) to itself only.
// Inline styles are allowed because UI libraries set style attributes; inline
// scripts are not. %s is the websocket origin: older browsers don't count
// ws:// as 'self'.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self' data:; connect-src 'self'%s; " +
	"manifest-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders applies to every answer of both handlers.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		ws := ""
		if s.hostAllowed(r.Host) && !strings.ContainsAny(r.Host, " ;,'\"") {
			ws = " ws://" + r.Host + " wss://" + r.Host
		}
		h.Set("Content-Security-Policy", fmt.Sprintf(contentSecurityPolicy, ws))
		next.ServeHTTP(w, r)
	})
}

// noStore keeps API answers (capture data) out of caches.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a handler panic into a 500 instead of a dropped connection
// (net/http would recover it too, but silently for the client).
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("dashboard handler panic", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses Host names other than the dashboard's own forms, so a
// hostile site whose name was rebound to 127.0.0.1 can't read the dashboard.
// A rebinding attack needs a DNS name, so IP literals of the listener and
// localhost names are safe; other names must be listed in AllowedHosts.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.fail(w, r, httpError(http.StatusMisdirectedRequest,
				"Host "+r.Host+" is not this dashboard's address (use localhost or the listener's IP, or add it to the allowed hosts)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(strings.TrimSuffix(a, "."), host) {
			return true
		}
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	// A specific listener IP is accepted; a wildcard listener accepts any IP
	// literal (the user chose to expose it; rebinding needs a name anyway).
	lh := s.uiAddr()
	if h, _, err := net.SplitHostPort(lh); err == nil {
		lh = h
	}
	if lh == "" {
		return true
	}
	lip := net.ParseIP(strings.Trim(lh, "[]"))
	return lip == nil || lip.IsUnspecified() || lip.Equal(ip)
}

// tokenOK compares in constant time (for equal lengths).
func (s *Server) tokenOK(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.cfg.Token)) == 1
}

// requestToken finds the token in the Authorization header or the cookie.
func requestToken(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if scheme, t, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(t)
		}
		return ""
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

// requireToken guards the API and the websocket.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tokenOK(requestToken(r)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="loupe"`)
			s.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireBearer is requireToken without the cookie, for routes that a page
// open in the browser must never reach (see Config.Debug).
func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" || !s.tokenOK(requestToken(r)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="loupe"`)
			s.fail(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkOrigin refuses cross-site requests to the API: any request whose
// Origin (or, lacking it, Sec-Fetch-Site) says another site sent it. Requests
// without either header (curl, scripts) pass: they carry the token
// explicitly, which a hostile page can't. The websocket handshake goes
// through here too (browsers always send Origin on it).
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			s.fail(w, r, errCrossSite)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
			return true
		}
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // includes "null" (sandboxed frames, file:// pages)
	}
	return strings.EqualFold(u.Host, r.Host)
}
