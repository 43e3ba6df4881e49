package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"

	"loupe/rules"
)

// Upstream proxies: Loupe behind another proxy (a corporate one, another
// debugging proxy, an SSH SOCKS tunnel).
//
// Only the command line chooses them (Config.UpstreamProxies), never the
// environment: HTTP_PROXY pointing at Loupe itself would make it a loop.
// Every connection Loupe opens for a client (origin requests, tunnels,
// WebSockets) goes through dialOrigin, which picks the proxy for the host
// and opens the connection through it:
//
//   - socks5 (socks5h too, the same: the name is always sent to the proxy,
//     which resolves it): every connection, through a SOCKS5 CONNECT;
//   - http and https (TLS to the proxy itself): a CONNECT tunnel for
//     everything but plain-HTTP requests, which go to the proxy in absolute
//     form as HTTP proxies expect (through the proxy's own Transport, see
//     upstreamRoundTripper), so that a proxy that inspects or caches plain
//     HTTP keeps working.
//
// A proxy that fails is named in the answer: 502 "upstream proxy requires
// authentication" for its 407, 502 or 504 naming it when it cannot be
// reached or cannot reach the origin. A host that has a host mapping
// (hostmap.go) is connected to directly: the mapping says where it is.
//
// With no upstream proxy (the default) none of this runs: dialOrigin is a
// nil check in front of the dialer, and the origin client is unchanged.

// UpstreamProxy is one -upstream-proxy: where to send the traffic of the
// hosts it matches.
type UpstreamProxy struct {
	// Hosts is a host glob (matched as a rule's match.host is); "" matches
	// every host. Proxies with a glob are tried first, in order, then the
	// one without.
	Hosts string
	// URL is the proxy: http://[user:pass@]host:port, https://…,
	// socks5://… (or socks5h://). Nil: no proxy for these hosts (direct).
	URL *url.URL
}

// ParseUpstreamProxy reads an -upstream-proxy value: "URL" or "GLOB=URL",
// where URL may be "direct" (no proxy for the hosts of GLOB).
func ParseUpstreamProxy(s string) (UpstreamProxy, error) {
	var up UpstreamProxy
	raw := s
	if i := strings.Index(s, "="); i >= 0 && !strings.Contains(s[:i], "://") {
		up.Hosts, raw = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		if up.Hosts == "" {
			return up, fmt.Errorf("upstream proxy %q: empty host glob before =", s)
		}
		if _, err := rules.CompileHostGlob(up.Hosts); err != nil {
			return up, fmt.Errorf("upstream proxy %q: %w", s, err)
		}
	}
	if raw == "direct" {
		return up, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return up, fmt.Errorf("upstream proxy %q: %w", s, err)
	}
	if err := checkProxyURL(u); err != nil {
		return up, fmt.Errorf("upstream proxy %q: %w", s, err)
	}
	up.URL = u
	return up, nil
}

func checkProxyURL(u *url.URL) error {
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return fmt.Errorf("scheme %q: want http, https, socks5 or socks5h", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("a proxy URL has no path, query or fragment")
	}
	return nil
}

// upstreamSet is the compiled Config.UpstreamProxies.
type upstreamSet struct {
	globbed []upstreamRoute
	all     *upstreamProxy // nil: direct
	anyHTTP bool           // some proxy speaks HTTP (plain requests go to it)
}

type upstreamRoute struct {
	hosts *rules.HostGlob
	proxy *upstreamProxy // nil: direct
}

// upstreamProxy is one proxy, ready to dial through.
type upstreamProxy struct {
	url  *url.URL
	name string // the URL without credentials, for messages
	addr string // host:port
	// auth is the Proxy-Authorization value (http, https), "" without
	// credentials; user and pass are the SOCKS5 ones.
	auth       string
	user, pass string
	// tr sends plain-HTTP requests to an http or https proxy in absolute
	// form; nil for socks5.
	tr *http.Transport
}

func (u *upstreamProxy) socks() bool { return u.url.Scheme == "socks5" || u.url.Scheme == "socks5h" }

// newUpstreamSet compiles the proxies; nil when there are none.
func (p *Proxy) newUpstreamSet(list []UpstreamProxy) (*upstreamSet, error) {
	if len(list) == 0 {
		return nil, nil
	}
	s := &upstreamSet{}
	seenAll := false
	for _, e := range list {
		var up *upstreamProxy
		if e.URL != nil {
			if err := checkProxyURL(e.URL); err != nil {
				return nil, fmt.Errorf("upstream proxy %s: %w", redactURL(e.URL), err)
			}
			up = p.newUpstreamProxy(e.URL)
			if !up.socks() {
				s.anyHTTP = true
			}
		}
		if e.Hosts == "" {
			if seenAll {
				return nil, errors.New("upstream proxy: more than one without a host glob")
			}
			seenAll, s.all = true, up
			continue
		}
		g, err := rules.CompileHostGlob(e.Hosts)
		if err != nil {
			return nil, fmt.Errorf("upstream proxy: %w", err)
		}
		s.globbed = append(s.globbed, upstreamRoute{hosts: g, proxy: up})
	}
	return s, nil
}

func (p *Proxy) newUpstreamProxy(u *url.URL) *upstreamProxy {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
	}
	up := &upstreamProxy{url: u, name: redactURL(u), addr: net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		up.user = u.User.Username()
		up.pass, _ = u.User.Password()
		up.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(up.user+":"+up.pass))
	}
	if !up.socks() {
		tr := p.newTransport()
		tr.Proxy = http.ProxyURL(u) // credentials from the URL, as Proxy-Authorization
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			if x, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
				ctx = httptrace.WithClientTrace(ctx, x.dialTrace())
			}
			c, err := p.dialer.DialContext(ctx, network, up.addr)
			if err != nil {
				return nil, up.fail("could not be reached", err)
			}
			return c, nil
		}
		up.tr = tr
	}
	return up
}

// redactURL is u without its password.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	c.Path = ""
	return c.String()
}

// pick returns the proxy for host, nil for a direct connection.
func (s *upstreamSet) pick(host string) *upstreamProxy {
	for _, r := range s.globbed {
		if r.hosts.Match(host) {
			return r.proxy
		}
	}
	return s.all
}

// upstreamProxyError is a failure of an upstream proxy: it names the proxy
// and says in words what went wrong (classify's cause).
type upstreamProxyError struct {
	proxy  string
	cause  string // "requires authentication", "could not be reached", …
	status int    // the status Loupe answers with
	err    error
}

func (e *upstreamProxyError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("upstream proxy %s %s", e.proxy, e.cause)
	}
	return fmt.Sprintf("upstream proxy %s %s: %v", e.proxy, e.cause, e.err)
}

func (e *upstreamProxyError) Unwrap() error { return e.err }

// fail wraps err as a failure of this proxy. A timeout answers 504, the
// rest 502.
func (u *upstreamProxy) fail(cause string, err error) error {
	status := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		status = http.StatusGatewayTimeout
	}
	return &upstreamProxyError{proxy: u.name, cause: cause, status: status, err: err}
}

// errProxyAuth is the cause of a 407 from an upstream proxy.
const errProxyAuth = "requires authentication"

// dialUpstream opens a connection to addr through the proxy u.
func (p *Proxy) dialUpstream(ctx context.Context, u *upstreamProxy, network, addr string) (net.Conn, error) {
	c, err := p.dialer.DialContext(ctx, network, u.addr)
	if err != nil {
		return nil, u.fail("could not be reached", err)
	}
	// The handshake is bounded like a response head, and by ctx.
	_ = c.SetDeadline(time.Now().Add(p.cfg.DialTimeout + p.cfg.ResponseHeaderTimeout))
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	var conn net.Conn
	if u.socks() {
		conn, err = socksConnect(c, u, addr)
	} else {
		conn, err = p.httpConnect(c, u, addr)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = c.Close()
		if ctx.Err() != nil {
			return nil, u.fail("did not answer in time", ctx.Err())
		}
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return conn, nil
}

// httpConnect opens a CONNECT tunnel to addr through the HTTP(S) proxy on c.
func (p *Proxy) httpConnect(c net.Conn, u *upstreamProxy, addr string) (net.Conn, error) {
	if u.url.Scheme == "https" {
		tc := p.tlsClientConfig()
		tc.ServerName = u.url.Hostname()
		tconn := tls.Client(c, tc)
		if err := tconn.Handshake(); err != nil {
			return nil, u.fail("TLS handshake failed", err)
		}
		c = tconn
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", addr, addr)
	if u.auth != "" {
		fmt.Fprintf(&b, "Proxy-Authorization: %s\r\n", u.auth)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, u.fail("closed the connection", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, u.fail("gave no answer to CONNECT "+addr, err)
	}
	// A 2xx answer has no body: the tunnel starts right after its head
	// (net/http would read one until the connection ends).
	switch {
	case resp.StatusCode == http.StatusProxyAuthRequired:
		return nil, &upstreamProxyError{proxy: u.name, cause: errProxyAuth, status: http.StatusBadGateway,
			err: fmt.Errorf("it answered %s to CONNECT %s", resp.Status, addr)}
	case resp.StatusCode/100 != 2:
		// A refusal's body is short text: a line of it goes in the message
		// (the connection is dropped afterwards, and reads are bounded by
		// its deadline).
		line, _ := bufio.NewReader(io.LimitReader(resp.Body, 200)).ReadString('\n')
		msg := fmt.Sprintf("it answered %s to CONNECT %s", resp.Status, addr)
		if line = strings.TrimSpace(line); line != "" {
			msg += ": " + line
		}
		return nil, &upstreamProxyError{proxy: u.name, cause: "refused the tunnel", status: http.StatusBadGateway, err: errors.New(msg)}
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

// socksConnect opens a SOCKS5 CONNECT to addr through the proxy on c
// (RFC 1928, with RFC 1929 credentials when the URL has them). The name is
// sent as is, for the proxy to resolve.
func socksConnect(c net.Conn, u *upstreamProxy, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var port int
	if _, err := fmt.Sscan(portStr, &port); err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("bad port in %q", addr)
	}
	methods := []byte{socksNoAuth}
	if u.url.User != nil {
		methods = []byte{socksUserPass}
	}
	if _, err := c.Write(append([]byte{socksVersion, byte(len(methods))}, methods...)); err != nil {
		return nil, u.fail("closed the connection", err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil {
		return nil, u.fail("gave no SOCKS5 answer", err)
	}
	switch {
	case sel[0] != socksVersion:
		return nil, u.fail("is not a SOCKS5 proxy", fmt.Errorf("it answered version %d", sel[0]))
	case sel[1] == socksUserPass && u.url.User != nil:
		if len(u.user) > 255 || len(u.pass) > 255 {
			return nil, u.fail("refused the credentials", errors.New("user or password longer than 255 bytes"))
		}
		msg := []byte{1, byte(len(u.user))}
		msg = append(msg, u.user...)
		msg = append(msg, byte(len(u.pass)))
		msg = append(msg, u.pass...)
		if _, err := c.Write(msg); err != nil {
			return nil, u.fail("closed the connection", err)
		}
		var st [2]byte
		if _, err := io.ReadFull(c, st[:]); err != nil {
			return nil, u.fail("gave no answer to the credentials", err)
		}
		if st[1] != 0 {
			return nil, &upstreamProxyError{proxy: u.name, cause: errProxyAuth, status: http.StatusBadGateway,
				err: errors.New("it refused the user name and password")}
		}
	case sel[1] == socksNoAuth:
	case sel[1] == socksUserPass:
		return nil, &upstreamProxyError{proxy: u.name, cause: errProxyAuth, status: http.StatusBadGateway,
			err: errors.New("it asks for a user name and password; give them in the URL")}
	default:
		return nil, &upstreamProxyError{proxy: u.name, cause: errProxyAuth, status: http.StatusBadGateway,
			err: fmt.Errorf("it accepts none of the offered methods (answered %#x)", sel[1])}
	}
	req := []byte{socksVersion, socksConnectCmd, 0}
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil {
			req = append(append(req, socksIPv4), ip4...)
		} else {
			req = append(append(req, socksIPv6), ip.To16()...)
		}
	} else {
		if len(host) > 255 {
			return nil, fmt.Errorf("host name longer than 255 bytes: %q", host)
		}
		req = append(append(req, socksDomain, byte(len(host))), host...)
	}
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		return nil, u.fail("closed the connection", err)
	}
	rep, err := readSocksReply(c)
	if err != nil {
		return nil, u.fail("gave no answer to CONNECT "+addr, err)
	}
	if rep != socksSucceeded {
		status := http.StatusBadGateway
		if rep == socksTTLExpired {
			status = http.StatusGatewayTimeout
		}
		return nil, &upstreamProxyError{proxy: u.name, cause: "could not connect to " + addr, status: status,
			err: fmt.Errorf("%s (SOCKS reply %d)", socksReplyText(rep), rep)}
	}
	return c, nil
}

// readSocksReply reads a SOCKS5 reply and returns its code.
func readSocksReply(r io.Reader) (byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, err
	}
	if h[0] != socksVersion {
		return 0, fmt.Errorf("reply version %d", h[0])
	}
	var n int
	switch h[3] {
	case socksIPv4:
		n = 4
	case socksIPv6:
		n = 16
	case socksDomain:
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, err
		}
		n = int(l[0])
	default:
		return 0, fmt.Errorf("reply address type %d", h[3])
	}
	if _, err := io.CopyN(io.Discard, r, int64(n+2)); err != nil {
		return 0, err
	}
	return h[1], nil
}

// upstreamRoundTripper sends plain-HTTP requests whose host goes through
// an HTTP(S) upstream proxy to that proxy's Transport, in absolute form;
// everything else goes to next (whose dial opens tunnels through the
// proxies as needed). It is only in place when some upstream proxy speaks
// HTTP.
type upstreamRoundTripper struct {
	set  *upstreamSet
	next http.RoundTripper
}

func (rt *upstreamRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return rt.next.RoundTrip(req)
	}
	up := rt.set.pick(req.URL.Hostname())
	if up == nil || up.tr == nil {
		return rt.next.RoundTrip(req)
	}
	resp, err := up.tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusProxyAuthRequired {
		// The proxy's own demand, not the origin's: a client of Loupe that
		// got it would think Loupe wanted credentials.
		resp.Body.Close()
		return nil, &upstreamProxyError{proxy: up.name, cause: errProxyAuth, status: http.StatusBadGateway,
			err: fmt.Errorf("it answered %s", resp.Status)}
	}
	return resp, nil
}

// closeIdle closes the proxies' idle connections.
func (s *upstreamSet) closeIdle() {
	if s == nil {
		return
	}
	for _, r := range s.globbed {
		if r.proxy != nil && r.proxy.tr != nil {
			r.proxy.tr.CloseIdleConnections()
		}
	}
	if s.all != nil && s.all.tr != nil {
		s.all.tr.CloseIdleConnections()
	}
}
