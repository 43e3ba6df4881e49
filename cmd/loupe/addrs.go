package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"loupe/web"
)

// printAddrs prints where Loupe listens. A proxy bound to all interfaces
// ("0.0.0.0:8080", ":8080") is shown at each of this machine's own
// addresses, which is what a phone on the same network needs, with a QR
// code of the set-up page (the proxy's own address serves it).
func (m *Main) printAddrs(w io.Writer) {
	c := &m.Config
	proxyAddr := m.proxyLn.Addr()
	if lan := lanURLs(proxyAddr, interfaceAddrs()); isWildcard(proxyAddr) && len(lan) > 0 {
		fmt.Fprintf(w, "Loupe proxy:     all interfaces, port %d; from other devices use\n", proxyAddr.(*net.TCPAddr).Port)
		for _, u := range lan {
			fmt.Fprintf(w, "                 %s\n", u)
		}
		fmt.Fprintf(w, "Phone set-up:    set %s as the Wi-Fi proxy, then open %s/ (scan):\n",
			strings.TrimPrefix(lan[0], "http://"), lan[0])
		fmt.Fprint(w, qrText(lan[0]+"/"))
	} else {
		fmt.Fprintf(w, "Loupe proxy:     http://%s\n", proxyAddr)
	}
	if m.socksLn != nil {
		fmt.Fprintf(w, "Loupe SOCKS5:    socks5h://%s\n", m.socksLn.Addr())
	}
	for i, l := range m.reverseLns {
		r := c.Reverse[i]
		scheme := "http"
		if r.TLS {
			scheme = "https"
		}
		fmt.Fprintf(w, "Loupe reverse:   %s://%s -> %s\n", scheme, l.Addr(), r.Origin)
	}
	fmt.Fprintf(w, "Loupe dashboard: %s\n", web.LoginURL(m.uiLn.Addr().String(), c.Token))
}

// isWildcard reports whether a is an all-interfaces listener address.
func isWildcard(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && (ta.IP == nil || ta.IP.IsUnspecified())
}

// interfaceAddrs returns this machine's interface addresses; none when they
// cannot be read.
func interfaceAddrs() []net.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	return addrs
}

// lanURLs returns http://ip:port for each address in addrs that the
// wildcard listener a is reached at from another device: not loopback, not
// link-local (an IPv6 link-local address needs a zone no phone knows), and
// IPv4 only for an IPv4 listener ("0.0.0.0:8080"). IPv4 first.
func lanURLs(a net.Addr, addrs []net.Addr) []string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return nil
	}
	v4only := ta.IP != nil && ta.IP.To4() != nil
	var v4, v6 []string
	for _, ad := range addrs {
		n, ok := ad.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsUnspecified() || n.IP.IsMulticast() {
			continue
		}
		u := "http://" + net.JoinHostPort(n.IP.String(), fmt.Sprint(ta.Port))
		if n.IP.To4() != nil {
			v4 = append(v4, u)
		} else if !v4only {
			v6 = append(v6, u)
		}
	}
	return append(v4, v6...)
}

// qrText renders s as a QR code for a terminal, two rows of modules per
// line; light modules are drawn, so it reads right on a dark background.
// "" when s cannot be encoded.
func qrText(s string) string {
	q, err := qrcode.New(s, qrcode.Low)
	if err != nil {
		return ""
	}
	return q.ToSmallString(false)
}
