package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"loupe/proxy/flow"
	"loupe/proxy/headscan"
)

// tlsRecordHandshake is the first byte of a TLS ClientHello record.
const tlsRecordHandshake = 0x16

// hijackConnect takes over a CONNECT tunnel from goproxy. Passthrough hosts
// are relayed blindly; everything else is intercepted: TLS is terminated with
// a certificate for the client's SNI (fallback: the CONNECT host), plain HTTP
// (browsers send ws:// through CONNECT) is read as is, and either way the
// decrypted connection is served by a standard http.Server whose handler
// feeds every request through the same path as plain proxy requests.
func (p *Proxy) hijackConnect(req *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
	// The client connection now carries the tunnel, not HTTP/1 heads.
	headscan.FromContext(req.Context()).Stop()
	p.intercept(req, client, connectAnswer{})
}

// tunnelAnswer tells a client that asked for a tunnel (an HTTP CONNECT, a
// SOCKS5 CONNECT) whether it got one, in its own protocol.
type tunnelAnswer interface {
	// ok accepts the tunnel: from then on the connection carries its bytes.
	ok(c net.Conn) error
	// refuse answers a tunnel that could not be opened, with the status an
	// HTTP client gets and the cause in words (err is the dial's error).
	refuse(c net.Conn, status int, cause string, err error)
}

// connectAnswer answers an HTTP CONNECT.
type connectAnswer struct{}

func (connectAnswer) ok(c net.Conn) error {
	_, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	return err
}

func (connectAnswer) refuse(c net.Conn, status int, cause string, _ error) {
	_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s\n",
		status, http.StatusText(status), len(cause)+1, cause)
}

// intercept serves a tunnel the client asked for with req (a CONNECT, or
// the stand-in for a SOCKS5 request): passthrough hosts are relayed
// blindly; everything else is accepted at once and intercepted (see
// hijackConnect).
func (p *Proxy) intercept(req *http.Request, client net.Conn, ans tunnelAnswer) {
	start := time.Now()
	if !p.enter() {
		_ = client.Close()
		return
	}
	defer p.conns.Done()
	if !p.trackConn(client, true) {
		_ = client.Close()
		return
	}
	defer p.trackConn(client, false)

	target := req.URL.Host
	if _, _, err := net.SplitHostPort(target); err != nil {
		target = net.JoinHostPort(target, "443")
	}
	host, _, _ := net.SplitHostPort(target)

	if p.passthrough(host) {
		p.tunnel(req, client, target, start, flow.Tunnel{Mode: flow.TunnelPassthrough}, ans)
		return
	}
	if err := ans.ok(client); err != nil {
		_ = client.Close()
		return
	}
	br := bufio.NewReader(client)
	_ = client.SetReadDeadline(time.Now().Add(p.cfg.ReadHeaderTimeout))
	first, err := br.Peek(1)
	_ = client.SetReadDeadline(time.Time{})
	if err != nil {
		_ = client.Close()
		return
	}
	conn := &bufferedConn{Conn: client, r: br}
	switch {
	case first[0] != tlsRecordHandshake && looksHTTP(conn, p.cfg.ReadHeaderTimeout):
		p.serveTunnel(conn, "http", &tunnelDest{addr: target}, req.RemoteAddr)
	case first[0] != tlsRecordHandshake:
		// Neither TLS nor HTTP (a database, SSH, a custom protocol): the
		// bytes are relayed as they are, the ones read so far first.
		p.tunnel(req, conn, target, start, flow.Tunnel{Mode: flow.TunnelRaw}, nil)
	case p.cfg.CA == nil:
		// Nothing to sign with: relay the TLS bytes untouched. The
		// ClientHello is usually in already: its SNI names the tunnel.
		hello, _ := br.Peek(br.Buffered())
		p.tunnel(req, conn, target, start, flow.Tunnel{Mode: flow.TunnelOpaque, SNI: sniffSNI(hello)}, nil)
	default:
		hc := &handshakeConn{Conn: conn}
		tconn := tls.Server(hc, p.cfg.CA.TLSConfig(host))
		_ = tconn.SetDeadline(time.Now().Add(p.cfg.TLSHandshakeTimeout))
		if err := tconn.HandshakeContext(p.ctx); err != nil {
			p.handshakeFailed(req, target, start, tconn.ConnectionState().ServerName, hc, err)
			_ = tconn.Close()
			return
		}
		hc.over = true
		_ = tconn.SetDeadline(time.Time{})
		name := tconn.ConnectionState().ServerName
		if name == "" {
			name = host
		}
		p.serveTunnel(tconn, "https", &tunnelDest{addr: target, serverName: name}, req.RemoteAddr)
	}
}

// maxMethodLen bounds the request method looksHTTP waits for. The longest
// registered method is 17 characters; an SSH banner's first word is longer.
const maxMethodLen = 20

// looksHTTP reports whether the tunnel connection c starts like an HTTP/1
// request line (or the HTTP/2 preface): a method token, then a space. It
// reads only while the bytes so far could still be one, so a protocol whose
// first bytes differ is never waited on; the wait is bounded by timeout.
func looksHTTP(c *bufferedConn, timeout time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for n := 1; n <= maxMethodLen+1; n++ {
		got, err := c.r.Peek(n)
		if err != nil {
			return false
		}
		switch b := got[n-1]; {
		case b == ' ':
			return n > 1
		case !isTokenChar(b):
			return false
		}
	}
	return false
}

// isTokenChar reports whether b may appear in an HTTP token (RFC 9110 5.6.2).
func isTokenChar(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// passthrough reports whether host matches a Passthrough glob. The globs
// are the rules' host globs (rules.HostGlob), so "*.bank.example" means
// here what it means in a rule's match.host and in a host: filter.
func (p *Proxy) passthrough(host string) bool {
	for _, g := range p.passthroughGlobs {
		if g.Match(host) {
			return true
		}
	}
	return false
}

// serveTunnel serves one decrypted (or plain) tunnel connection with a
// standard http.Server until the connection ends. A *tls.Conn that
// negotiated h2, or a plain connection that opens with the HTTP/2 preface
// (h2c.go), is served as HTTP/2 by the same server; every other connection
// is HTTP/1 and is scanned like the proxy listener's.
//
// Every request's URL names the authority the client addressed (its Host);
// the request itself goes to dest, which its context carries (target.go).
func (p *Proxy) serveTunnel(c net.Conn, scheme string, dest *tunnelDest, remote string) {
	h2c := scheme == "http" && priorKnowledge(c, p.cfg.ReadHeaderTimeout)
	scan := !p.cfg.DisableHeadScan && !negotiatedH2(c) && !h2c
	if scan {
		// net/http detects HTTP/2 by a *tls.Conn type assertion, so only
		// HTTP/1 connections are wrapped; r.TLS is then nil, and the
		// scheme is set below.
		c = headscan.NewConn(c)
	}
	l := newOneConnListener(c)
	srv := p.newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = remote
		r, refused := p.checkHead(w, r)
		if refused {
			return
		}
		if dest.reverse != nil {
			if !dest.reverse.rewrite(w, r) {
				return
			}
		} else {
			r.URL.Scheme = scheme
			if r.Host == "" {
				r.Host = dest.addr
			}
			r.URL.Host = r.Host
		}
		p.route(w, r)
	}))
	if h2c {
		srv.Protocols = h2cProtocols()
	}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if dest.reverse != nil {
			// A reverse listener's connection is a client's own, idle
			// between requests like the proxy listener's.
			p.limit.ConnState(c, s)
		}
		if s == http.StateClosed || s == http.StateHijacked {
			_ = l.Close()
		}
	}
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		ctx = withTunnel(ctx, dest)
		if scan {
			ctx = headscan.ConnContext(ctx, c)
		}
		return ctx
	}
	if !p.trackServer(srv, true) {
		_ = c.Close()
		return
	}
	defer p.trackServer(srv, false)
	_ = srv.Serve(l)
	l.wait()
}

// negotiatedH2 reports whether c is a TLS connection that agreed on HTTP/2.
func negotiatedH2(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

// tunnel relays bytes blindly between client and target until either side
// ends, recorded as a tunnel flow (see tunnelflow.go) whose byte counts
// grow as bytes pass. ans answers the client once the dial is done; nil
// when the client already got its answer (it then learns of a failed dial
// by the connection closing).
func (p *Proxy) tunnel(req *http.Request, client net.Conn, target string, start time.Time, t flow.Tunnel, ans tunnelAnswer) {
	defer client.Close()
	if p.cfg.HostMap != nil {
		if to, ok := p.cfg.HostMap().Lookup(target); ok {
			t.MappedTo = to // where dialOrigin goes
		}
	}
	h := p.beginConnect(req, target, start, flow.KindTunnel, t)
	timings := flow.NoTimings
	finish := func(err error) {
		endBodies(h)
		h.Timings(timings)
		h.Finish(time.Now(), err)
	}
	dialAt := time.Now()
	up, err := p.dialOrigin(p.ctx, "tcp", target)
	timings.Connect = ms(time.Since(dialAt))
	if err != nil {
		status, cause := classify(err)
		if ans != nil {
			ans.refuse(client, status, cause, err)
			h.Response(connectResponse(status))
		}
		finish(fmt.Errorf("%s: %w", cause, err))
		return
	}
	defer up.Close()
	if !p.trackConn(up, true) {
		finish(errShuttingDown)
		return
	}
	defer p.trackConn(up, false)
	if ans != nil {
		if err := ans.ok(client); err != nil {
			finish(fmt.Errorf("client went away: %w", err))
			return
		}
	}
	h.Response(connectResponse(http.StatusOK))
	open := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	var sn *sniSniffer
	if t.SNI == "" && (t.Mode == flow.TunnelPassthrough || t.Mode == flow.TunnelOpaque) {
		sn = &sniSniffer{found: func(name string) {
			t.SNI = name
			h.Tunnel(flow.KindTunnel, t)
		}}
	}
	go func() { defer wg.Done(); p.relay(up, client, h, flow.FacetRequest, sn) }()
	go func() { defer wg.Done(); p.relay(client, up, h, flow.FacetResponse, nil) }()
	wg.Wait()
	timings.Receive = ms(time.Since(open))
	finish(nil)
}

// bufferedConn is a conn whose first bytes were already peeked into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// NetConn returns the wrapped connection (a connection limit finds its own
// state there).
func (c *bufferedConn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the underlying TCP connection, if it can.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// oneConnListener hands one connection to http.Server.Serve, then blocks
// Accept until Close, so that Serve ends when the connection does.
type oneConnListener struct {
	conn   net.Conn
	once   sync.Once
	mu     sync.Mutex
	taken  bool
	closed chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	return &oneConnListener{conn: c, closed: make(chan struct{})}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if !l.taken {
		l.taken = true
		l.mu.Unlock()
		return l.conn, nil
	}
	l.mu.Unlock()
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// wait blocks until the served connection has ended.
func (l *oneConnListener) wait() { <-l.closed }

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }
