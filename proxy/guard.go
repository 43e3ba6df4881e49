package proxy

import (
	"errors"
	"net"
	"syscall"
)

// errOwnListener refuses a connection Loupe was about to open to one of its
// own listeners.
var errOwnListener = errors.New("the address is one of Loupe's own listeners (the proxy, the dashboard, the debug server, a SOCKS5 or reverse listener); open it directly, not through the proxy")

// refuseOwn is the Control hook of every dial Loupe makes for a client
// (origins, tunnels, WebSocket upgrades). It runs on the address actually
// dialled, after name resolution, so that no name (the host's own name, a
// name that resolves to 127.0.0.1, an empty host, a DNS rebinding) makes the
// proxy a way into its own dashboard or back into itself. The checks on the
// request's host name (isDashboard, isSelf) stay as the fast path that
// chooses the answer; this one is the guarantee.
func (p *Proxy) refuseOwn(_, address string, _ syscall.RawConn) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if host == "" {
		ip = net.IPv4zero // an empty host dials this host
	}
	if ip == nil {
		return nil
	}
	p.mu.Lock()
	own, lns := p.addrStrs, p.lnAddrs // append-only: the elements seen here never change
	p.mu.Unlock()
	for _, l := range own {
		if reaches(ip, port, l) {
			return errOwnListener
		}
	}
	for _, l := range lns {
		if reaches(ip, port, l) {
			return errOwnListener
		}
	}
	for _, l := range p.cfg.ownAddrs() {
		if reaches(ip, port, l) {
			return errOwnListener
		}
	}
	return nil
}

// ownAddrs are the listeners of this process, besides the proxy's own, that
// must never be reached through the proxy.
func (c *Config) ownAddrs() []string {
	if c.DashboardAddr == "" {
		return c.OwnAddrs
	}
	return append([]string{c.DashboardAddr}, c.OwnAddrs...)
}

// reaches reports whether a connection to ip:port arrives at the listener
// bound to listen ("127.0.0.1:8081", "[::]:8080", ":8080").
func reaches(ip net.IP, port, listen string) bool {
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil || lp != port {
		return false
	}
	lip := net.ParseIP(lh)
	if ip.IsUnspecified() {
		// Connecting to 0.0.0.0 or :: (an empty host) reaches this host.
		return true
	}
	if lh != "" && lip != nil && !lip.IsUnspecified() {
		return ip.Equal(lip) // a listener on one address
	}
	// A wildcard listener: reached through every address of this host.
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: refuse rather than risk it
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
