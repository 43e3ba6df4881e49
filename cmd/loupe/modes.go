package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"

	"loupe/hostmap"
	"loupe/proxy"
)

// The ways traffic gets into Loupe besides the proxy listener: a SOCKS5
// listener, reverse listeners, and the flags that shape where origin
// connections go (upstream proxies, host mappings).

// ReverseListener is one -reverse: a listen address and its origin.
type ReverseListener struct {
	Listen string
	proxy.Reverse
}

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// modeFlags holds the raw values until they are parsed.
type modeFlags struct {
	reverse, upstream, mapHost listFlag
	keepHost                   bool
}

func registerModeFlags(fs *flag.FlagSet, c *Config) *modeFlags {
	mf := &modeFlags{}
	fs.StringVar(&c.SOCKSAddr, "socks", "", "also serve a SOCKS5 listener on this `address` (RFC 1928 CONNECT; -proxy-auth applies as RFC 1929 user name and password)")
	fs.Var(&mf.reverse, "reverse", "serve a reverse listener forwarding every request to one origin: `LISTEN=URL` (127.0.0.1:9000=http://127.0.0.1:3000; tls://LISTEN for TLS with a Loupe certificate); repeatable")
	fs.BoolVar(&mf.keepHost, "reverse-keep-host", false, "reverse listeners send the client's Host header instead of the origin's")
	fs.Var(&mf.upstream, "upstream-proxy", "send origin connections through another proxy: `[GLOB=]URL` (http://user:pass@corp:3128, socks5://127.0.0.1:1080, '*.internal=socks5://…', '*.local=direct'); repeatable; the environment is never read")
	fs.Var(&mf.mapHost, "map-host", "connect to another address for a host, keeping its Host header, URL and TLS name: `HOST=ADDRESS` (api.example.com=127.0.0.1:3000, '*.test=127.0.0.1'); repeatable; more in the dashboard (hosts.json)")
	return mf
}

// apply parses the raw values into c.
func (mf *modeFlags) apply(c *Config) error {
	var errs []error
	seen := map[string]bool{}
	for _, s := range mf.reverse {
		listen, r, err := proxy.ParseReverse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("-reverse: %w", err))
			continue
		}
		if seen[listen] {
			errs = append(errs, fmt.Errorf("-reverse: %s given twice", listen))
		}
		seen[listen] = true
		r.KeepHost = mf.keepHost
		c.Reverse = append(c.Reverse, ReverseListener{Listen: listen, Reverse: r})
	}
	catchAll := 0
	for _, s := range mf.upstream {
		up, err := proxy.ParseUpstreamProxy(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("-upstream-proxy: %w", err))
			continue
		}
		if up.Hosts == "" {
			catchAll++
		}
		c.Proxy.UpstreamProxies = append(c.Proxy.UpstreamProxies, up)
	}
	if catchAll > 1 {
		errs = append(errs, errors.New("-upstream-proxy: more than one without a host glob"))
	}
	for _, s := range mf.mapHost {
		e, err := hostmap.Parse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("-map-host: %w", err))
			continue
		}
		c.HostMap = append(c.HostMap, e)
	}
	return errors.Join(errs...)
}

// listenModes opens the SOCKS5 and reverse listeners, so that a busy port
// stops Loupe before anything is served.
func (m *Main) listenModes() error {
	c := &m.Config
	if c.SOCKSAddr != "" {
		l, err := net.Listen("tcp", c.SOCKSAddr)
		if err != nil {
			return fmt.Errorf("SOCKS5 listener: %w", err)
		}
		m.socksLn = l
	}
	for _, r := range c.Reverse {
		l, err := net.Listen("tcp", r.Listen)
		if err != nil {
			return fmt.Errorf("reverse listener for %s: %w", r.Origin, err)
		}
		m.reverseLns = append(m.reverseLns, l)
	}
	return nil
}

// openHostMap opens hosts.json in the data directory, under the
// command line's mappings.
func (m *Main) openHostMap() error {
	if m.HostMap != nil {
		return nil
	}
	s, err := hostmap.Open(filepath.Join(m.Config.DataDir, "hosts.json"), m.Config.HostMap)
	if err != nil {
		return err
	}
	m.HostMap = s
	return nil
}

// serveModes serves the SOCKS5 and reverse listeners until Close.
func (m *Main) serveModes() {
	serve := func(what string, run func() error) {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Logger.Error(what+" stopped", "err", err)
			}
		}()
	}
	if m.socksLn != nil {
		serve("SOCKS5 listener", func() error { return m.Proxy.ServeSOCKS(m.socksLn) })
	}
	for i, l := range m.reverseLns {
		r := m.Config.Reverse[i].Reverse
		serve("reverse listener", func() error { return m.Proxy.ServeReverse(l, r) })
	}
}

// closeModeListeners closes the listeners when the proxy never started
// (it closes them itself at Shutdown).
func (m *Main) closeModeListeners() {
	if m.socksLn != nil {
		_ = m.socksLn.Close()
	}
	for _, l := range m.reverseLns {
		_ = l.Close()
	}
}

// modeListeners are the extra listeners, for the warning about
// non-loopback addresses.
func (m *Main) modeListeners() []net.Listener {
	var ls []net.Listener
	if m.socksLn != nil {
		ls = append(ls, m.socksLn)
	}
	return append(ls, m.reverseLns...)
}

// SOCKSAddr is the SOCKS5 listener's address, "" without one.
func (m *Main) SOCKSAddr() string {
	if m.socksLn == nil {
		return ""
	}
	return m.socksLn.Addr().String()
}

// ReverseAddrs are the reverse listeners' addresses, in flag order.
func (m *Main) ReverseAddrs() []string {
	var out []string
	for _, l := range m.reverseLns {
		out = append(out, l.Addr().String())
	}
	return out
}
