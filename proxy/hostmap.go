package proxy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Host mapping (Config.HostMap): a connection to a mapped host goes to the
// mapped address instead, like an /etc/hosts entry that only Loupe sees.
// It is applied where connections are opened, so nothing above the dial
// changes: the request keeps its Host header, the flow its URL, and upstream
// TLS is still verified against the name the client asked for (net/http,
// the HTTP/1.1 client and the WebSocket dialer all take the TLS name from
// the URL, not from the address dialled), unless -insecure-upstream. The
// guard against Loupe's own listeners runs on the mapped address, as on
// every dial.

// recordMapping records on the flow where a host mapping sends a request
// dialled at u (Tunnel.MappedTo): the mapping applies where connections
// are opened, and the flow's URL and target still say what was asked for.
// It is looked up per request, as the dial would (a kept-alive connection
// was dialled through the same mapping, unless it changed since).
func (x *exchange) recordMapping(u *url.URL) {
	if x.p.cfg.HostMap == nil {
		return
	}
	if to, ok := x.p.cfg.HostMap().Lookup(hostPort(u)); ok {
		x.h.MappedTo(to)
	}
}

// dialOrigin opens every connection Loupe makes for a client's traffic
// (origin requests, tunnels, WebSockets): to the mapped address when the
// host has a mapping, else through the upstream proxy chosen for the host,
// else directly. Without mappings and upstream proxies it is the dialer.
func (p *Proxy) dialOrigin(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.cfg.HostMap == nil && p.upstream == nil {
		return p.dialer.DialContext(ctx, network, addr)
	}
	return p.dialVia(ctx, network, addr)
}

func (p *Proxy) dialVia(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.cfg.HostMap != nil {
		if to, ok := p.cfg.HostMap().Lookup(addr); ok {
			c, err := p.dialer.DialContext(ctx, network, to)
			if err != nil {
				return nil, fmt.Errorf("%s mapped to %s: %w", addr, to, err)
			}
			return c, nil
		}
	}
	if p.upstream != nil {
		host, port, err := net.SplitHostPort(addr)
		if err == nil {
			if up := p.upstream.pick(host); up != nil {
				if err := p.refuseName(ctx, host, port, up); err != nil {
					return nil, err
				}
				return p.dialUpstream(ctx, up, network, addr)
			}
		}
	}
	return p.dialer.DialContext(ctx, network, addr)
}

// refuseName is the guard against Loupe's own listeners for a connection
// made through an upstream proxy, where Loupe dials the proxy and the
// proxy resolves the name. IP addresses and localhost names are checked
// as a direct dial would check them; other names are resolved here only
// when the proxy runs on this machine (where the name would lead it back to
// Loupe), since a remote proxy may know names this machine cannot resolve.
func (p *Proxy) refuseName(ctx context.Context, host, port string, up *upstreamProxy) error {
	check := func(ip net.IP) error { return p.refuseOwn("tcp", net.JoinHostPort(ip.String(), port), nil) }
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if ip := net.ParseIP(h); ip != nil {
		return check(ip)
	}
	if h == "" || h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return check(net.IPv4(127, 0, 0, 1))
	}
	ph := up.url.Hostname()
	pip := net.ParseIP(ph)
	if ph != "localhost" && (pip == nil || !pip.IsLoopback()) {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(rctx, h)
	if err != nil {
		return nil // the proxy may know it; it cannot be one of ours here
	}
	for _, ip := range ips {
		if err := check(ip.IP); err != nil {
			return err
		}
	}
	return nil
}
