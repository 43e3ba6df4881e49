// Package proxy is Loupe's intercepting core: it receives plain HTTP and
// CONNECT requests, decrypts TLS tunnels with certificates from proxy/ca,
// applies the user's rules, forwards requests through its own Transport and
// reports every phase of every flow to a flow.Recorder.
//
// goproxy is the front door for CONNECT (tunnels, MITM); every exchange
// (plain requests, requests inside tunnels, WebSocket upgrades, replays)
// runs through one pipeline of named phases with one error path
// (pipeline.go). Everything goproxy gets wrong for a debugging proxy is
// owned here: the Transport (no environment proxy, no transparent gzip,
// verified TLS, timeouts), hop-by-hop hygiene in both directions, the
// ownership of every upstream body (read to EOF or its connection closed,
// on every path), framing of replaced bodies, MITM served by a standard
// http.Server (keep-alive, HTTP/2, 100-continue, cancellation from the
// standard library), WebSocket relaying with message capture, refusing
// request smuggling, and the registry of live exchanges that the dashboard
// reaches to kill an exchange or release one held at a breakpoint (live.go,
// breakpoint.go).
//
// It must never wait on the recorder or on a dashboard (a held exchange
// waits for a decision, never the proxy), never buffer a body it streams
// (a held body is read ahead within a bound), and never leave an upstream
// body open.
package proxy

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"loupe/proxy/connlimit"
	"loupe/proxy/flow"
	"loupe/proxy/h1"
	"loupe/proxy/headscan"
	"loupe/rules"
)

// Proxy is the intercepting proxy. Build it with New, run it with Serve,
// stop it with Shutdown.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	errLog *log.Logger
	gp     *goproxy.ProxyHttpServer
	tr     *http.Transport
	h2c    *http.Transport // HTTP/2 without TLS, for clients that spoke it (see h2c.go)
	// origin sends every upstream request: h1 (which hands what it does
	// not carry to tr), or tr alone with OriginClientStdlib.
	origin http.RoundTripper
	h1     *h1.Client // nil with OriginClientStdlib
	// named serves tunnel requests whose TLS name is not the dialled
	// host (see target.go).
	named  namedTransports
	dialer *net.Dialer
	limit  *connlimit.Limiter // client connections, on every listener
	via    viaTag             // this proxy's Via entry, for loop detection (loop.go)
	live   *live              // exchanges in flight and held at breakpoints (live.go)

	// upstream routes origin connections through upstream proxies; nil
	// when there are none (see upstream.go).
	upstream *upstreamSet
	// passthroughGlobs are cfg.Passthrough compiled (mitm.go).
	passthroughGlobs []*rules.HostGlob

	// ctx ends when Shutdown gives up waiting: background drains, tunnels
	// and WebSocket relays stop with it.
	ctx    context.Context
	cancel context.CancelFunc

	bufs copyBufs // WriteTo's buffers

	drains sync.WaitGroup // background drains of detached bodies
	conns  sync.WaitGroup // hijacked connections (MITM, tunnels, WebSockets)

	mu    sync.Mutex
	addrs []net.Addr
	// addrStrs are addrs as strings, for isSelf on every request.
	addrStrs []string
	servers  map[*http.Server]struct{} // outer and inner (MITM) servers
	raw      map[net.Conn]struct{}     // blind tunnels and WebSocket legs
	lns      map[net.Listener]struct{} // SOCKS5 and reverse listeners (listen.go)
	lnAddrs  []string                  // their addresses; append-only
	closing  bool
	draining int // background drains running, bounded by cfg.MaxDrains
}

// New builds a Proxy from cfg. It starts nothing: call Serve.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	c := cfg.withDefaults()
	via, err := newViaTag()
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		via:     via,
		cfg:     c,
		log:     c.Logger,
		errLog:  slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug),
		servers: make(map[*http.Server]struct{}),
		raw:     make(map[net.Conn]struct{}),
		live:    newLive(),
	}
	p.limit = connlimit.New(connlimit.Config{Max: c.MaxClientConns, PerClient: c.MaxConnsPerClient})
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.dialer = &net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second, Control: p.refuseOwn}
	if p.upstream, err = p.newUpstreamSet(c.UpstreamProxies); err != nil {
		return nil, err
	}
	if p.passthroughGlobs, err = compilePassthrough(c.Passthrough); err != nil {
		return nil, err
	}
	p.tr = p.newTransport()
	p.h2c = p.newH2CTransport()
	if err := p.newOriginClient(); err != nil {
		return nil, err
	}
	if p.upstream != nil && p.upstream.anyHTTP {
		p.origin = &upstreamRoundTripper{set: p.upstream, next: p.origin}
	}
	p.named.newTr = func(name string) *http.Transport {
		tr := p.newTransport()
		tr.TLSClientConfig.ServerName = name
		return tr
	}

	// goproxy's role is the CONNECT front door only: it parses nothing
	// (net/http did) and dials nothing (Loupe's hijack handler does); it
	// hands the hijacked connection to hijackConnect. Plain requests, its
	// transport, header stripping and non-proxy handler are never used, so
	// none of them is configured here.
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = p.errLog
	gp.Tr = nil
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = nil
	gp.OnRequest().HijackConnect(p.hijackConnect)
	p.gp = gp
	return p, nil
}

// Serve accepts proxy clients on l until Shutdown. It returns
// http.ErrServerClosed after Shutdown.
func (p *Proxy) Serve(l net.Listener) error {
	srv := p.newServer(p)
	srv.ConnState = p.limit.ConnState
	l = p.limit.Listener(l)
	if !p.cfg.DisableHeadScan {
		srv.ConnContext = headscan.ConnContext
		l = headscan.NewListener(l)
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return http.ErrServerClosed
	}
	p.addrs = append(p.addrs, l.Addr())
	p.addrStrs = append(p.addrStrs, l.Addr().String())
	p.servers[srv] = struct{}{}
	p.mu.Unlock()
	return srv.Serve(l)
}

// ConnStats reports the client connections held, their bound, and how many
// were refused or closed to make room.
func (p *Proxy) ConnStats() connlimit.Stats { return p.limit.Stats() }

// Addrs returns the addresses of the listeners Serve was given.
func (p *Proxy) Addrs() []net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]net.Addr(nil), p.addrs...)
}

func (p *Proxy) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.ClientIdleTimeout,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		ErrorLog:          p.errLog,
		// "OPTIONS *" too must reach the handler: the head scanner's
		// verdicts are taken one per request, in order.
		DisableGeneralOptionsHandler: true,
	}
}

// Shutdown stops accepting, lets in-flight exchanges, tunnels and drains
// finish, and cuts whatever is left when ctx ends.
func (p *Proxy) Shutdown(ctx context.Context) error {
	// Nobody will decide for a held exchange now: each takes its timeout
	// action, and nothing is held any more.
	p.releaseAllHeld(flow.ByShutdown)
	p.mu.Lock()
	p.closing = true
	servers := make([]*http.Server, 0, len(p.servers))
	for s := range p.servers {
		servers = append(servers, s)
	}
	p.mu.Unlock()
	p.closeListeners()

	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(ctx); err != nil {
				_ = s.Close()
			}
		}()
	}
	wg.Wait()

	done := make(chan struct{})
	go func() {
		p.conns.Wait()
		p.drains.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("proxy shutdown: %w", ctx.Err())
		p.cutAll()
		<-done
	}
	p.cancel()
	p.tr.CloseIdleConnections()
	p.h2c.CloseIdleConnections()
	if p.h1 != nil {
		p.h1.Close()
	}
	p.named.closeIdle(true)
	p.upstream.closeIdle()
	return err
}

// cutAll closes every connection Loupe still holds.
func (p *Proxy) cutAll() {
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.servers {
		_ = s.Close()
	}
	for c := range p.raw {
		_ = c.Close()
	}
}

// track registers a server or raw connection for Shutdown; it reports false
// (and the caller must give up) when the proxy is shutting down.
func (p *Proxy) trackServer(s *http.Server, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.servers, s)
		return true
	}
	if p.closing {
		return false
	}
	p.servers[s] = struct{}{}
	return true
}

func (p *Proxy) trackConn(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.raw, c)
		return true
	}
	if p.closing && p.ctx.Err() != nil {
		return false
	}
	p.raw[c] = struct{}{}
	return true
}

// enter registers a connection or exchange that outlives its handler
// (hijacked tunnels, WebSocket relays, replays) so that Shutdown waits for
// it; it reports false, and the caller must give up, once Shutdown began.
// Registering under the lock keeps every Add before Shutdown's Wait.
func (p *Proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.conns.Add(1)
	return true
}

// enterDrain registers a background drain, like enter. It refuses while
// shutting down and when MaxDrains are already running: the caller then
// closes the body (and so the origin connection) instead, and records the
// refusal, which says why in words.
func (p *Proxy) enterDrain() (refused string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closing:
		return "original not kept: closed at shutdown"
	case p.draining >= p.cfg.MaxDrains:
		if p.draining == 1 {
			return "original not kept: 1 drain was already running (-max-drains)"
		}
		return fmt.Sprintf("original not kept: %d drains were already running (-max-drains)", p.draining)
	}
	p.draining++
	p.drains.Add(1)
	return ""
}

// exitDrain ends a drain registered by enterDrain.
func (p *Proxy) exitDrain() {
	p.mu.Lock()
	p.draining--
	p.mu.Unlock()
	p.drains.Done()
}

// ServeHTTP is the front door: checks that apply to every request
// (authentication, smuggling, requests aimed at Loupe itself), then goproxy
// for CONNECT and the exchange pipeline (serveExchange) for everything
// else.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, refused := p.checkHead(w, r)
	if refused {
		return
	}
	if !p.authorized(r) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="loupe"`)
		w.Header().Set("Connection", "close")
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		if p.isDashboard(r.URL.Host) || p.isSelf(r.URL.Host) {
			http.Error(w, "tunnels to Loupe itself are refused", http.StatusForbidden)
			return
		}
		p.gp.ServeHTTP(keepBuffered{w}, r)
		return
	}
	p.route(w, r)
}

// keepBuffered is the ResponseWriter goproxy gets for a CONNECT. goproxy
// hijacks the connection and drops the bufio.Reader net/http hands over with
// it, and with it the bytes an optimistic client sent right behind the
// CONNECT head (its TLS ClientHello, or its first HTTP request, in the same
// packet): the tunnel would then wait for bytes that already came. Its
// Hijack returns a connection that reads those bytes first.
type keepBuffered struct{ http.ResponseWriter }

func (w keepBuffered) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil || brw == nil || brw.Reader.Buffered() == 0 {
		return c, brw, err
	}
	return &bufferedConn{Conn: c, r: brw.Reader}, brw, nil
}

// route handles a non-CONNECT request, from the outer listener or from
// inside a tunnel (its URL already absolute). Inside a tunnel the request
// goes to the tunnel's target whatever its Host says, so that is what is
// checked (see target.go).
func (p *Proxy) route(w http.ResponseWriter, r *http.Request) {
	if !r.URL.IsAbs() {
		p.serveSelf(w, r)
		return
	}
	dest := r.URL.Host
	if t := tunnelOf(r.Context()); t != nil {
		dest = t.addr
	}
	switch {
	case p.isDashboard(dest):
		http.Error(w, "the dashboard is not reachable through the proxy", http.StatusForbidden)
		return
	case p.isSelf(dest):
		p.serveSelf(w, r)
		return
	}
	p.serveExchange(w, r, upgradeType(r.Header) == "websocket")
}

// serveSelf answers requests aimed at the proxy itself.
func (p *Proxy) serveSelf(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "this is Loupe, an HTTP proxy", http.StatusMethodNotAllowed)
		return
	}
	if p.cfg.SelfHandler == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "This is Loupe, an HTTP(S) debugging proxy. Configure it as your HTTP and HTTPS proxy.")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host = "", ""
	r2.RequestURI = r2.URL.RequestURI()
	p.cfg.SelfHandler.ServeHTTP(w, r2)
}

func (p *Proxy) authorized(r *http.Request) bool {
	if p.cfg.ProxyAuth == "" {
		return true
	}
	const prefix = "Basic "
	h := r.Header.Get("Proxy-Authorization")
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, []byte(p.cfg.ProxyAuth)) == 1
}

// isSelf reports whether hostport names one of the proxy's own listeners.
func (p *Proxy) isSelf(hostport string) bool {
	p.mu.Lock()
	addrs := p.addrStrs // append-only: the elements seen here never change
	p.mu.Unlock()
	for _, a := range addrs {
		if sameAddr(hostport, a) {
			return true
		}
	}
	return false
}

func (p *Proxy) isDashboard(hostport string) bool {
	return p.cfg.DashboardAddr != "" && sameAddr(hostport, p.cfg.DashboardAddr)
}

// sameAddr reports whether target (a request's host[:port]) reaches the
// listener at listen. A listener on a wildcard or loopback address is reached
// through any loopback name, and through its own IP.
func sameAddr(target, listen string) bool {
	th, tp, err := net.SplitHostPort(target)
	if err != nil {
		th, tp = target, "80"
	}
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil || tp != lp {
		return false
	}
	th = strings.TrimSuffix(strings.ToLower(th), ".")
	if th == lh {
		return true
	}
	local := func(h string) bool {
		if h == "localhost" || strings.HasSuffix(h, ".localhost") {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
	}
	lip := net.ParseIP(lh)
	if lh == "" || (lip != nil && lip.IsUnspecified()) {
		if local(th) {
			return true
		}
		// A wildcard listener is also reached through this host's own IPs.
		if ip := net.ParseIP(th); ip != nil {
			addrs, _ := net.InterfaceAddrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
					return true
				}
			}
		}
		return false
	}
	return local(th) && local(lh)
}

// tlsClientConfig is the configuration for connections to origins.
func (p *Proxy) tlsClientConfig() *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: p.cfg.InsecureUpstream, //nolint:gosec // opt-in flag, off by default
		RootCAs:            p.cfg.UpstreamRootCAs,
		MinVersion:         tls.VersionTLS12,
	}
}

var errShuttingDown = errors.New("proxy is shutting down")

// survive, deferred first in every goroutine Loupe starts for a client's
// traffic, turns a panic into a logged error and a call to then (which
// releases what the goroutine held) instead of the end of the process and of
// every flow captured so far. net/http recovers its own handler goroutines;
// these are the ones it does not know about.
func (p *Proxy) survive(what string, then func(error)) {
	v := recover()
	if v == nil {
		return
	}
	err := fmt.Errorf("internal error in %s: %v", what, v)
	if v != http.ErrAbortHandler {
		p.log.Error("recovered from a panic", "in", what, "panic", v, "stack", string(debug.Stack()))
	}
	if then != nil {
		then(err)
	}
}
