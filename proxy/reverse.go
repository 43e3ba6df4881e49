package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Reverse mode: a listener that forwards everything it receives to one
// origin, so that a client needs no proxy setting at all (point an app at
// http://127.0.0.1:9000 instead of its API at :3000).
//
// Each connection is served like an intercepted tunnel whose target is the
// origin (serveTunnel): the head scanner, HTTP/2 (over TLS, or h2c with
// prior knowledge), WebSockets, rules and recording all work as they do
// inside a CONNECT. What differs is the URL: a tunnel's requests keep the
// authority the client addressed, a reverse listener's take the origin's,
// since the client addressed Loupe. The flow's URL is the origin's URL, and
// the Host header sent is the origin's too (unless KeepHost), as a server
// behind a reverse proxy expects of its usual clients.

// Reverse describes one reverse listener.
type Reverse struct {
	// Origin is where every request goes: http or https, a host, and
	// optionally a path that prefixes every request's path.
	Origin *url.URL
	// TLS serves TLS on the listener, with a certificate from Loupe's CA for
	// the name the client asks for (its SNI, else the listener's address).
	TLS bool
	// KeepHost sends the client's Host header to the origin instead of the
	// origin's host.
	KeepHost bool
}

// ParseReverse reads a -reverse value: "LISTEN=URL", with "tls://" before
// LISTEN for a TLS listener ("127.0.0.1:9000=http://127.0.0.1:3000",
// "tls://127.0.0.1:9443=https://api.example.com").
func ParseReverse(s string) (listen string, r Reverse, err error) {
	listen, raw, ok := strings.Cut(s, "=")
	if !ok {
		return "", r, fmt.Errorf("reverse %q: want LISTEN=URL (127.0.0.1:9000=http://127.0.0.1:3000)", s)
	}
	if rest, ok := strings.CutPrefix(listen, "tls://"); ok {
		listen, r.TLS = rest, true
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return "", r, fmt.Errorf("reverse %q: listen address %q: %w", s, listen, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", r, fmt.Errorf("reverse %q: %w", s, err)
	}
	r.Origin = u
	if err := r.check(); err != nil {
		return "", r, fmt.Errorf("reverse %q: %w", s, err)
	}
	return listen, r, nil
}

func (r *Reverse) check() error {
	u := r.Origin
	switch {
	case u == nil:
		return errors.New("no origin URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("origin %q: want an http:// or https:// URL", u)
	case u.Hostname() == "":
		return fmt.Errorf("origin %q: no host", u)
	case u.User != nil, u.RawQuery != "", u.Fragment != "":
		return fmt.Errorf("origin %q: no user, query or fragment", u)
	}
	return nil
}

// ServeReverse serves l as a reverse listener for r until Shutdown, within
// the same connection limits as every other listener. A TLS listener needs
// Config.CA. It returns http.ErrServerClosed after Shutdown.
func (p *Proxy) ServeReverse(l net.Listener, r Reverse) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("reverse listener %s: %w", l.Addr(), err)
	}
	if r.TLS && p.cfg.CA == nil {
		return fmt.Errorf("reverse listener %s: TLS needs a CA", l.Addr())
	}
	origin := *r.Origin
	origin.Path = strings.TrimSuffix(origin.Path, "/")
	origin.RawPath = strings.TrimSuffix(origin.RawPath, "/")
	dest := &tunnelDest{addr: hostPort(&origin), reverse: &reverseTarget{origin: &origin, keepHost: r.KeepHost}}
	if origin.Scheme == "https" {
		dest.serverName = origin.Hostname()
	}
	listen := l.Addr().String()
	return p.serveConns(l, nil, "reverse", func(c net.Conn) {
		remote := c.RemoteAddr().String()
		if !r.TLS {
			p.serveTunnel(&bufferedConn{Conn: c, r: bufio.NewReader(c)}, "http", dest, remote)
			return
		}
		host, _, _ := net.SplitHostPort(listen)
		hc := &handshakeConn{Conn: c}
		tconn := tls.Server(hc, p.cfg.CA.TLSConfig(host))
		_ = tconn.SetDeadline(time.Now().Add(p.cfg.TLSHandshakeTimeout))
		start := time.Now()
		if err := tconn.HandshakeContext(p.ctx); err != nil {
			req := &http.Request{Method: http.MethodConnect, Proto: "TLS", Host: listen, Header: http.Header{}, RemoteAddr: remote}
			p.handshakeFailed(req, listen, start, tconn.ConnectionState().ServerName, hc, err)
			_ = tconn.Close()
			return
		}
		hc.over = true
		_ = tconn.SetDeadline(time.Time{})
		p.serveTunnel(tconn, "https", dest, remote)
	})
}

// reverseTarget is what a reverse listener's requests are rewritten to.
type reverseTarget struct {
	origin   *url.URL
	keepHost bool
}

// rewrite points r at the origin: scheme, host, and the origin's path
// before r's. It answers, and reports false, for what cannot be forwarded.
func (t *reverseTarget) rewrite(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.Method == http.MethodConnect:
		http.Error(w, "Loupe: this is a reverse listener for "+t.origin.String()+"; CONNECT is for the proxy listener", http.StatusMethodNotAllowed)
		return false
	case r.URL.Path == "*" || !strings.HasPrefix(r.URL.Path, "/") && r.URL.Path != "":
		http.Error(w, "Loupe: a reverse listener forwards requests for paths only", http.StatusBadRequest)
		return false
	}
	u := *r.URL
	u.Scheme, u.Host, u.User = t.origin.Scheme, t.origin.Host, nil
	if t.origin.Path != "" {
		u.Path = t.origin.Path + u.Path
		if u.RawPath != "" || t.origin.RawPath != "" {
			u.RawPath = t.origin.EscapedPath() + u.EscapedPath()
		}
	}
	if u.Path == "" {
		u.Path = "/"
	}
	r.URL = &u
	if !t.keepHost || r.Host == "" {
		r.Host = t.origin.Host
	}
	return true
}
