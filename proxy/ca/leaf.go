package ca

import (
	"container/list"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Leaf certificates all share one ECDSA P-256 key, generated in memory when
// the CA is loaded (mitmproxy does the same). Issuing a leaf then costs one
// signature and no key generation, so the first request to a new host is not
// slowed, and a cached leaf is just a certificate. Sharing adds no exposure:
// the key never leaves the process, and anyone who could read it from there
// could read the root key from the data directory. Each run gets a new key.

// Leaf returns a certificate for host, signed by the root, with the host as
// a DNS name or, for an IP address, an IP SAN. host may carry a port and
// IPv6 brackets. Results are cached (bounded, least recently used dropped)
// and concurrent calls for one host share a single generation.
func (c *CA) Leaf(host string) (*tls.Certificate, error) {
	name, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}
	if cert := c.cached(name); cert != nil {
		return cert, nil
	}
	v, err, _ := c.group.Do(name, func() (any, error) {
		// A caller that lost the race with an earlier flight finds its result here.
		if cert := c.cached(name); cert != nil {
			return cert, nil
		}
		cert, err := c.issue(name)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.cache.put(name, cert)
		c.mu.Unlock()
		return cert, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tls.Certificate), nil
}

// TLSConfig returns a server configuration that picks the leaf by the
// client's SNI, or by fallbackHost when the client sends none (clients send
// no SNI for IP addresses, so the CONNECT target stands in). It offers h2 and
// http/1.1 and accepts TLS 1.2 and later.
func (c *CA) TLSConfig(fallbackHost string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			host := hello.ServerName
			if host == "" {
				host = fallbackHost
			}
			if host == "" {
				return nil, errors.New("no SNI and no fallback host: cannot choose a certificate")
			}
			return c.Leaf(host)
		},
	}
}

func (c *CA) cached(name string) *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	cert := c.cache.get(name)
	if cert != nil && c.now().After(cert.Leaf.NotAfter.Add(-leafRenewBefore)) {
		c.cache.remove(name)
		return nil
	}
	return cert
}

func (c *CA) issue(name string) (*tls.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notBefore := c.now().Add(-leafBackdate)
	notAfter := notBefore.Add(c.validity)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Loupe"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(name) <= 64 { // the X.520 upper bound for a common name
		tmpl.Subject.CommonName = name
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, c.leafKey.Public(), c.key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", name, err)
	}
	c.generated.Add(1)
	return &tls.Certificate{
		Certificate: [][]byte{der, c.cert.Raw},
		PrivateKey:  c.leafKey,
		Leaf:        leaf,
	}, nil
}

// normalizeHost turns "Example.COM:443", "[::1]", "::1" or "fe80::1%eth0"
// into the name a certificate is issued for.
func normalizeHost(host string) (string, error) {
	h := strings.TrimSpace(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimPrefix(strings.TrimSuffix(h, "]"), "[")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.WithZone("").Unmap().String(), nil
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" {
		return "", fmt.Errorf("certificate for %q: empty host", host)
	}
	if len(h) > 253 || strings.ContainsAny(h, " /\\@:%\x00") {
		return "", fmt.Errorf("certificate for %q: not a host name", host)
	}
	return h, nil
}

// lru is a least-recently-used certificate cache. The CA's mutex guards it.
type lru struct {
	max   int
	order *list.List // front = most recent; values are *lruEntry
	items map[string]*list.Element
}

type lruEntry struct {
	name string
	cert *tls.Certificate
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (l *lru) get(name string) *tls.Certificate {
	e, ok := l.items[name]
	if !ok {
		return nil
	}
	l.order.MoveToFront(e)
	return e.Value.(*lruEntry).cert
}

func (l *lru) put(name string, cert *tls.Certificate) {
	if e, ok := l.items[name]; ok {
		e.Value.(*lruEntry).cert = cert
		l.order.MoveToFront(e)
		return
	}
	l.items[name] = l.order.PushFront(&lruEntry{name: name, cert: cert})
	for l.order.Len() > l.max {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.items, oldest.Value.(*lruEntry).name)
	}
}

func (l *lru) remove(name string) {
	if e, ok := l.items[name]; ok {
		l.order.Remove(e)
		delete(l.items, name)
	}
}

func (l *lru) len() int { return l.order.Len() }
