package proxy

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Where a request inside a CONNECT tunnel goes.
//
// A client that sends CONNECT a.example:8443 and then, inside the tunnel, a
// request with Host: b.example wants that request to reach a.example:8443
// with the Host header b.example: that is what a gRPC client overriding
// :authority behind a load balancer, curl --connect-to and every client
// that pins an IP address do. Loupe therefore splits the two:
//
//   - The flow's URL is what the client addressed: scheme, Host header
//     (:authority), path. Rules match it (a rule's host is the host the
//     client named, as in the dashboard), and so does the filter.
//   - The dial address is the tunnel's target. It is also what the proxy's
//     own decisions use (passthrough, authentication and the refusal of
//     tunnels to Loupe itself were decided on the CONNECT), so a Host header
//     can never lead a tunnel somewhere its CONNECT did not name.
//   - A mapRemote rule still chooses the destination: it was written for the
//     URL the user sees.
//
// The outgoing request carries the dial address in URL.Host and the
// client's Host in Host: net/http's Transport, the pooled HTTP/1.1 client
// and the WebSocket dialer all dial URL.Host and send Host.
//
// Upstream TLS is verified against the name the client asked for in its SNI
// (that is the name it wanted verified: curl --connect-to keeps the URL's
// name there), else against the CONNECT host. A connection verified for one
// name must never carry a request meant for another: the origin may route
// by SNI, and the other name was never checked. When the name is not the
// dialled host, the request goes through a Transport of its own for that
// name (namedTransports), whose pool is keyed by the dial address like any
// other: the pair (name, address) is the pool key. Closing the connection
// after each such request would be simpler, but an IP-pinning client sends
// every request this way and would pay a TLS handshake each time.

// tunnelDest is what every request inside one intercepted tunnel inherits
// from its CONNECT. It travels in the context of the tunnel's server
// (ConnContext), so a request pays one context lookup for it.
type tunnelDest struct {
	// addr is the CONNECT target, host:port.
	addr string
	// serverName is the TLS name to verify upstream: the client's SNI, else
	// the CONNECT host. "" for a plain-HTTP tunnel.
	serverName string
	// reverse is set for a reverse listener's connections, whose requests
	// go to its origin under the origin's URL (reverse.go).
	reverse *reverseTarget
}

type tunnelKey struct{}

func withTunnel(ctx context.Context, t *tunnelDest) context.Context {
	return context.WithValue(ctx, tunnelKey{}, t)
}

// tunnelOf returns the tunnel a request arrived in, or nil.
func tunnelOf(ctx context.Context) *tunnelDest {
	t, _ := ctx.Value(tunnelKey{}).(*tunnelDest)
	return t
}

// recordTarget records, for a request inside a tunnel, the tunnel's target
// and TLS name when they are not what the request's URL says (flow.Tunnel).
func recordTarget(x *exchange, r *http.Request) {
	t := tunnelOf(r.Context())
	if t == nil {
		return
	}
	target, name := "", ""
	if !sameHostPort(t.addr, hostPort(r.URL)) {
		target = t.addr
	}
	if r.URL.Scheme == "https" && t.serverName != "" && !sameHost(t.serverName, r.URL.Hostname()) {
		name = t.serverName
	}
	if target != "" || name != "" {
		x.h.Target(target, name)
	}
}

// dialURL returns the URL to dial for a request whose URL is u, and the TLS
// name to verify when it is not that URL's host ("" otherwise). Inside a
// tunnel, unless a mapRemote rule chose the destination, that is the
// tunnel's target; elsewhere u itself.
func dialURL(ctx context.Context, u *url.URL, remapped bool) (*url.URL, string) {
	t := tunnelOf(ctx)
	if t == nil || remapped {
		return u, ""
	}
	d := *u
	d.Host = t.addr
	name := ""
	if u.Scheme == "https" || u.Scheme == "wss" {
		if h, _, err := net.SplitHostPort(t.addr); err == nil && t.serverName != "" && !sameHost(t.serverName, h) {
			name = t.serverName
		}
	}
	return &d, name
}

// hostPort is u's host:port, with the scheme's default port.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" || u.Scheme == "wss" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// sameHost compares host names as DNS does: case-insensitively, a trailing
// dot ignored.
func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// sameHostPort compares two host:port addresses.
func sameHostPort(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return sameHost(a, b)
	}
	return ap == bp && sameHost(ah, bh)
}

// maxNamedTransports bounds namedTransports; past it the least recently
// used name's Transport is retired.
const maxNamedTransports = 64

// namedTransports holds one Transport per TLS server name that differs from
// the dialled host (see the comment at the top of this file). Each has its
// own connection pool, so a connection is only ever reused for the name it
// was verified for.
type namedTransports struct {
	newTr func(name string) *http.Transport

	mu     sync.Mutex
	m      map[string]*namedTransport
	tick   uint64
	closed bool
}

type namedTransport struct {
	tr   *http.Transport
	used uint64 // namedTransports.tick at the last use
}

// get returns the Transport for name, making it on first use.
func (n *namedTransports) get(name string) *http.Transport {
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tick++
	if e := n.m[key]; e != nil {
		e.used = n.tick
		return e.tr
	}
	if n.m == nil {
		n.m = make(map[string]*namedTransport)
	}
	if len(n.m) >= maxNamedTransports {
		oldest := ""
		for k, e := range n.m {
			if oldest == "" || e.used < n.m[oldest].used {
				oldest = k
			}
		}
		// Closing idle connections also makes the Transport close the
		// ones in use as they become idle: nothing stays open for long.
		n.m[oldest].tr.CloseIdleConnections()
		delete(n.m, oldest)
	}
	tr := n.newTr(name)
	if n.closed {
		// After Shutdown: usable once, then nothing is pooled.
		tr.DisableKeepAlives = true
	}
	n.m[key] = &namedTransport{tr: tr, used: n.tick}
	return tr
}

// closeIdle closes the idle connections of every Transport; with final,
// Transports made afterwards keep nothing alive.
func (n *namedTransports) closeIdle(final bool) {
	n.mu.Lock()
	trs := make([]*http.Transport, 0, len(n.m))
	for _, e := range n.m {
		trs = append(trs, e.tr)
	}
	if final {
		n.closed = true
	}
	n.mu.Unlock()
	for _, tr := range trs {
		tr.CloseIdleConnections()
	}
}
