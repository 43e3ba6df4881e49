package h1

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Config configures a Client. Dial and Fallback are required; the zero
// value of every other field means what it means for http.Transport.
type Config struct {
	// Dial opens a connection to an origin ("tcp", "host:port"). The
	// request's context is passed on, so a dialer can find the request's
	// own state there (Loupe records the flow's DNS and connect timings).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Fallback carries every request the client does not (see
	// Client.RoundTrip): requests with a body, upgrades, HTTPS origins not
	// known to answer over HTTP/1.1.
	Fallback http.RoundTripper
	// TLSConfig is the configuration for HTTPS origins; it is cloned for
	// each connection with ServerName set and only "http/1.1" offered.
	// Nil: the zero tls.Config (system roots, verification on).
	TLSConfig *tls.Config
	// TLSHandshakeTimeout bounds an origin's TLS handshake. 0: no bound
	// besides the request's context.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response head once the
	// request was written. 0: no bound.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes a connection idle for that long. 0: no bound.
	IdleConnTimeout time.Duration
	// MaxIdleConns bounds idle connections in total. 0: no bound.
	MaxIdleConns int
	// MaxIdleConnsPerHost bounds idle connections per origin. 0:
	// http.DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// MaxResponseHeaderBytes bounds a response head; a larger one is an
	// error. 0: 10 MiB, like http.Transport.
	MaxResponseHeaderBytes int64
}

// Client is the pooled HTTP/1.1 client (see the package doc). Build it with
// New; it is safe for concurrent use.
type Client struct {
	fallback       http.RoundTripper
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	headerTimeout  time.Duration // response head; 0: none
	idleTimeout    time.Duration
	maxIdle        int
	maxIdlePerHost int
	maxHeaderBytes int64
	tlsConfig      *tls.Config // for HTTPS origins; cloned per connection
	tlsTimeout     time.Duration
	writers        sync.Pool // *bufio.Writer
	readers        sync.Pool // *bufio.Reader: an idle connection holds none
	mu             sync.Mutex
	idle           map[string][]*conn // by scheme://host:port, most recently used last
	nidle          int
	closed         bool
	sweeping       bool          // a sweep goroutine runs (see sweep)
	stop           chan struct{} // closed by Close
	sweeper        sync.WaitGroup
	// h1Only holds the HTTPS origins (host:port) that answered over
	// HTTP/1.1; bounded by maxH1Only (cleared when full).
	h1Only map[string]bool
}

// maxH1Only bounds Client.h1Only.
const maxH1Only = 4096

// sweepInterval is how often idle connections are checked for an origin
// that closed them.
const sweepInterval = 500 * time.Millisecond

// noTimeout stands for "no idle bound": an idle timer always runs, because
// whoever stops it owns the connection (see popIdle).
const noTimeout = 1<<63 - 1

// New builds a Client from cfg. It starts nothing.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.Dial == nil:
		return nil, errors.New("h1 client: no Dial")
	case cfg.Fallback == nil:
		return nil, errors.New("h1 client: no Fallback")
	case cfg.TLSHandshakeTimeout < 0 || cfg.ResponseHeaderTimeout < 0 || cfg.IdleConnTimeout < 0 ||
		cfg.MaxIdleConns < 0 || cfg.MaxIdleConnsPerHost < 0 || cfg.MaxResponseHeaderBytes < 0:
		return nil, errors.New("h1 client: negative limit")
	}
	tc := cfg.TLSConfig.Clone()
	if tc == nil {
		tc = &tls.Config{}
	}
	tc.NextProtos = []string{"http/1.1"}
	c := &Client{
		fallback:       cfg.Fallback,
		dial:           cfg.Dial,
		tlsConfig:      tc,
		tlsTimeout:     cfg.TLSHandshakeTimeout,
		headerTimeout:  cfg.ResponseHeaderTimeout,
		idleTimeout:    cfg.IdleConnTimeout,
		maxIdle:        cfg.MaxIdleConns,
		maxIdlePerHost: cfg.MaxIdleConnsPerHost,
		maxHeaderBytes: cfg.MaxResponseHeaderBytes,
		h1Only:         make(map[string]bool),
		idle:           make(map[string][]*conn),
		stop:           make(chan struct{}),
	}
	if c.idleTimeout == 0 {
		c.idleTimeout = noTimeout
	}
	if c.maxIdle == 0 {
		c.maxIdle = int(^uint(0) >> 1)
	}
	if c.maxIdlePerHost == 0 {
		c.maxIdlePerHost = http.DefaultMaxIdleConnsPerHost
	}
	if c.maxHeaderBytes == 0 {
		c.maxHeaderBytes = 10 << 20
	}
	return c, nil
}

// handles reports whether req can go through the client itself: no body, a
// method that carries none, plain http or an HTTPS origin known to answer
// over HTTP/1.1.
func (c *Client) handles(req *http.Request) bool {
	if req.ContentLength != 0 || (req.Body != nil && req.Body != http.NoBody) {
		return false
	}
	switch req.URL.Scheme {
	case "http":
	case "https":
		c.mu.Lock()
		known := c.h1Only[originAddr(req.URL)]
		c.mu.Unlock()
		if !known {
			return false
		}
	default:
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
	default:
		return false
	}
	if upgrade := req.Header["Upgrade"]; len(upgrade) > 0 {
		return false
	}
	_, expect := req.Header["Expect"]
	return !expect && len(req.TransferEncoding) == 0 && len(req.Trailer) == 0
}

// learn remembers which protocol an HTTPS origin answered the Fallback
// with: HTTP/1.1 origins are served by the client itself from then on.
func (c *Client) learn(req *http.Request, resp *http.Response) {
	if req.URL.Scheme != "https" {
		return
	}
	addr := originAddr(req.URL)
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.ProtoMajor != 1 {
		delete(c.h1Only, addr)
		return
	}
	if len(c.h1Only) >= maxH1Only {
		clear(c.h1Only)
	}
	c.h1Only[addr] = true
}

// originAddr is u's host:port, with the scheme's default port.
func originAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// RoundTrip sends req and returns the response head. Requests the client
// does not carry (see the package doc) go to the Fallback. For the others,
// the body reads from the connection, which goes back to the pool at the
// body's end, or is closed when the body is closed early or req's context
// ends.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if !c.handles(req) {
		resp, err := c.fallback.RoundTrip(req)
		if err == nil {
			c.learn(req, resp)
		}
		return resp, err
	}
	ctx := req.Context()
	key := req.URL.Scheme + "://" + originAddr(req.URL)
	for attempt := 0; ; attempt++ {
		// A retry dials: the other idle connections to this origin were
		// likely closed at the same moment (an origin's keep-alive timeout
		// ends them all together).
		pc, err := c.get(ctx, req.URL, key, attempt > 0)
		if err != nil {
			return nil, err
		}
		resp, err := pc.send(ctx, req)
		if err == nil {
			return resp, nil
		}
		pc.close()
		if pc.reused && attempt == 0 && ctx.Err() == nil && retryable(err) {
			// The idle connection was no longer good (closed by the
			// origin as the request went out, or holding bytes nobody
			// asked for); every method here is idempotent: try once more
			// on a new connection, as http.Transport does.
			continue
		}
		return nil, err
	}
}

// retryable reports whether a request that failed on a reused connection
// before its answer's head may go out again on a new one: any failure but a
// timeout (which would only double the wait).
func retryable(err error) bool {
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// CloseIdleConnections closes the idle connections of the client and, like
// http.Client.CloseIdleConnections, of the Fallback. The client stays
// usable.
func (c *Client) CloseIdleConnections() {
	c.closeIdle(false)
	if f, ok := c.fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// Close closes the client's idle connections and stops pooling: a
// connection whose answer ends afterwards is closed. It waits for the
// sweeper to end. The Fallback belongs to the caller and is left alone.
func (c *Client) Close() {
	c.closeIdle(true)
}
