package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"
)

// h1Client sends requests without a body (GET, HEAD, OPTIONS, DELETE: most
// of what a proxy forwards) over pooled HTTP/1.1 connections, in the
// handler's own goroutine: to plain-HTTP origins, and to HTTPS origins that
// answered an earlier request through the Transport over HTTP/1.1 (an
// origin that offers HTTP/2 keeps getting HTTP/2 from the Transport).
//
// http.Transport gives every origin connection a reader and a writer
// goroutine and hands each request and response between them over
// channels; it also reads ahead on idle connections. For a proxy that is
// most of the cost of a small request (README, "Performance") and, per
// request in flight, two goroutine stacks and two 4 KiB buffers. Here one
// goroutine writes the head, reads the response and the body; a connection
// in use holds a read buffer, a write buffer is borrowed for the head, and
// an idle connection holds neither. The wire format is the standard
// library's: Request.Write writes the head, http.ReadResponse parses the
// answer and its framing.
//
// Everything else (bodies, HTTP/2, HTTPS origins not seen yet, upgrades)
// goes through the Transport.
type h1Client struct {
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
	idle           map[string][]*h1Conn // by scheme://host:port, most recently used last
	nidle          int
	closed         bool
	sweeping       bool          // a sweep goroutine runs (see sweep)
	stop           chan struct{} // closed by closeIdle(true)
	sweeper        sync.WaitGroup
	// h1Only holds the HTTPS origins (host:port) that answered over
	// HTTP/1.1; bounded by maxH1Only (cleared when full).
	h1Only map[string]bool
}

// maxH1Only bounds h1Client.h1Only.
const maxH1Only = 4096

// sweepInterval is how often idle connections are checked for an origin
// that closed them.
const sweepInterval = 500 * time.Millisecond

// h1Conn is one origin connection of an h1Client.
type h1Conn struct {
	cl    *h1Client
	conn  net.Conn
	br    *bufio.Reader
	key   string
	limit int64 // bytes Read may still return; bounds the response head
	timer *time.Timer
	// reused: this connection served a request before, so a failure before
	// any answer may just mean the origin closed it while idle.
	reused bool
}

// aLongTimeAgo is a deadline that unblocks every read and write at once.
var aLongTimeAgo = time.Unix(1, 0)

func newH1Client(cfg Config, tlsConfig *tls.Config, dial func(context.Context, string, string) (net.Conn, error)) *h1Client {
	tc := tlsConfig.Clone()
	tc.NextProtos = []string{"http/1.1"}
	return &h1Client{
		tlsConfig:      tc,
		tlsTimeout:     cfg.TLSHandshakeTimeout,
		h1Only:         make(map[string]bool),
		dial:           dial,
		headerTimeout:  cfg.ResponseHeaderTimeout,
		idleTimeout:    cfg.IdleConnTimeout,
		maxIdle:        cfg.MaxIdleConns,
		maxIdlePerHost: cfg.MaxIdleConnsPerHost,
		maxHeaderBytes: int64(cfg.MaxHeaderBytes),
		idle:           make(map[string][]*h1Conn),
		stop:           make(chan struct{}),
	}
}

// handles reports whether req can go through the h1Client: no body, a
// method that carries none, plain http or an HTTPS origin known to answer
// over HTTP/1.1.
func (c *h1Client) handles(req *http.Request) bool {
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
	_, expect := req.Header["Expect"]
	return !expect && len(req.TransferEncoding) == 0 && len(req.Trailer) == 0
}

// learn remembers which protocol an HTTPS origin answered the Transport
// with: HTTP/1.1 origins are served by the h1Client from then on.
func (c *h1Client) learn(req *http.Request, resp *http.Response) {
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

// RoundTrip sends req and returns the response head; the body reads from
// the connection, which goes back to the pool at the body's end, or is
// closed when the body is closed early or req's context ends.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
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

// get returns an idle connection to key (u's scheme and address) or dials
// a new one; with fresh, it always dials.
//
// An idle connection is checked before use with one non-blocking peek: one
// the origin closed is dropped, and so is one holding bytes that arrived
// after its last answer (http.Transport finds those with its read-ahead):
// they are never read as the answer to the next request.
func (c *h1Client) get(ctx context.Context, u *url.URL, key string, fresh bool) (*h1Conn, error) {
	for !fresh {
		pc := c.popIdle(key)
		if pc == nil {
			break
		}
		if peerDone(pc.conn) {
			pc.close()
			continue
		}
		pc.reused = true
		pc.br = c.reader(pc)
		return pc, nil
	}
	conn, err := c.dial(ctx, "tcp", originAddr(u))
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		if conn, err = c.handshake(ctx, conn, u.Hostname()); err != nil {
			return nil, err
		}
	}
	pc := &h1Conn{cl: c, conn: conn, key: key, limit: 1<<63 - 1}
	pc.br = c.reader(pc)
	pc.timer = time.AfterFunc(time.Hour, pc.idleExpired)
	pc.timer.Stop()
	return pc, nil
}

// popIdle takes the most recently used idle connection to key, or returns
// nil.
func (c *h1Client) popIdle(key string) *h1Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	for list := c.idle[key]; len(list) > 0; list = c.idle[key] {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		c.idle[key] = list[:len(list)-1]
		c.nidle--
		if len(list) == 1 {
			delete(c.idle, key)
		}
		if pc.timer.Stop() {
			return pc
		}
		// Its idle timer fired and is closing it.
	}
	return nil
}

// handshake secures conn to host for HTTP/1.1, within TLSHandshakeTimeout,
// reporting to the request's trace hooks (the flow's TLS timing) like the
// Transport does.
func (c *h1Client) handshake(ctx context.Context, conn net.Conn, host string) (net.Conn, error) {
	cfg := c.tlsConfig.Clone()
	cfg.ServerName = host
	tc := tls.Client(conn, cfg)
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	hctx := ctx
	if c.tlsTimeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, c.tlsTimeout)
		defer cancel()
	}
	err := tc.HandshakeContext(hctx)
	if trace != nil && trace.TLSHandshakeDone != nil {
		trace.TLSHandshakeDone(tc.ConnectionState(), err)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
		tc.Close()
		return nil, fmt.Errorf("origin chose %q over TLS, not http/1.1", p)
	}
	return tc, nil
}

// reader returns a read buffer for pc, recycled from idle connections.
func (c *h1Client) reader(pc *h1Conn) *bufio.Reader {
	if br, ok := c.readers.Get().(*bufio.Reader); ok {
		br.Reset(pc)
		return br
	}
	return bufio.NewReaderSize(pc, 4<<10)
}

// put returns pc to the pool, or closes it when the pool is full or closed.
// Its read buffer is empty (see h1Body.finish) and goes back to the
// buffer pool: an idle connection holds only its socket.
func (c *h1Client) put(pc *h1Conn) {
	pc.br.Reset(nil)
	c.readers.Put(pc.br)
	pc.br = nil
	c.mu.Lock()
	list := c.idle[pc.key]
	if c.closed || c.nidle >= c.maxIdle || len(list) >= c.maxIdlePerHost {
		c.mu.Unlock()
		pc.close()
		return
	}
	c.idle[pc.key] = append(list, pc)
	c.nidle++
	pc.timer.Reset(c.idleTimeout)
	if !c.sweeping {
		c.sweeping = true
		c.sweeper.Add(1)
		go c.sweep()
	}
	c.mu.Unlock()
}

// sweep closes idle connections that the origin closed (or that hold
// bytes nobody asked for) every sweepInterval, while the pool holds any.
// http.Transport notices at once with a reader goroutine per connection;
// here one non-blocking peek per idle connection and interval does, so a
// closed connection's descriptor is not held until IdleConnTimeout.
func (c *h1Client) sweep() {
	defer c.sweeper.Done()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		var dead []*h1Conn
		c.mu.Lock()
		for key, list := range c.idle {
			kept := list[:0]
			for _, pc := range list {
				// Whoever stops the idle timer owns the connection.
				if peerDone(pc.conn) && pc.timer.Stop() {
					dead = append(dead, pc)
					c.nidle--
					continue
				}
				kept = append(kept, pc)
			}
			clear(list[len(kept):])
			if len(kept) == 0 {
				delete(c.idle, key)
			} else {
				c.idle[key] = kept
			}
		}
		done := c.nidle == 0
		if done {
			c.sweeping = false
		}
		c.mu.Unlock()
		for _, pc := range dead {
			pc.close()
		}
		if done {
			return
		}
	}
}

// idleExpired closes pc after IdleConnTimeout in the pool.
func (pc *h1Conn) idleExpired() {
	c := pc.cl
	c.mu.Lock()
	list := c.idle[pc.key]
	for i, o := range list {
		if o == pc {
			c.idle[pc.key] = append(list[:i:i], list[i+1:]...)
			if len(c.idle[pc.key]) == 0 {
				delete(c.idle, pc.key)
			}
			c.nidle--
			break
		}
	}
	c.mu.Unlock()
	pc.close()
}

// closeIdle closes every idle connection; with final, the client pools
// nothing afterwards.
func (c *h1Client) closeIdle(final bool) {
	c.mu.Lock()
	var all []*h1Conn
	for _, list := range c.idle {
		all = append(all, list...)
	}
	clear(c.idle)
	c.nidle = 0
	if final && !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.mu.Unlock()
	for _, pc := range all {
		pc.timer.Stop()
		pc.close()
	}
	if final {
		c.sweeper.Wait()
	}
}

func (pc *h1Conn) close() { _ = pc.conn.Close() }

// Read feeds the buffered reader, within the current limit.
func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.limit <= 0 {
		return 0, fmt.Errorf("origin response head larger than %d bytes", pc.cl.maxHeaderBytes)
	}
	if int64(len(p)) > pc.limit {
		p = p[:pc.limit]
	}
	n, err := pc.conn.Read(p)
	pc.limit -= int64(n)
	return n, err
}

// send writes req's head and reads the response head on pc.
func (pc *h1Conn) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	c := pc.cl
	// The context's end unblocks whatever the connection is doing; the
	// connection is then never reused.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}

	bw, _ := c.writers.Get().(*bufio.Writer)
	if bw == nil {
		bw = bufio.NewWriterSize(pc.conn, 4<<10)
	} else {
		bw.Reset(pc.conn)
	}
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	c.writers.Put(bw)
	if err != nil {
		return fail(err)
	}

	if c.headerTimeout > 0 {
		_ = pc.conn.SetReadDeadline(time.Now().Add(c.headerTimeout))
	}
	pc.limit = c.maxHeaderBytes
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			return fail(err)
		}
		// 1xx answers before the final one are skipped (101 never comes:
		// upgrades do not take this path).
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		pc.limit = c.maxHeaderBytes
	}
	pc.limit = 1<<63 - 1
	if c.headerTimeout > 0 {
		_ = pc.conn.SetReadDeadline(time.Time{})
		if ctx.Err() != nil {
			// Cancelled meanwhile: keep the cut the AfterFunc made.
			_ = pc.conn.SetDeadline(aLongTimeAgo)
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return fail(errors.New("origin switched protocols without an upgrade request"))
	}
	b := &h1Body{pc: pc, rc: resp.Body, stop: stop, reuse: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.finish(io.EOF)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// h1Body is a response body read from an h1Conn: at its end the connection
// goes back to the pool; closed before its end, the connection is closed
// (the rest of the body is never read by accident into the next answer).
// Close may come from another goroutine while a Read is blocked: closing
// the connection ends that Read.
type h1Body struct {
	pc    *h1Conn
	rc    io.Reader
	stop  func() bool
	reuse bool

	mu   sync.Mutex
	done error // io.EOF at the end, errBodyClosed after Close
}

var errBodyClosed = errors.New("read on closed response body")

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done != nil {
		return 0, done
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.finish(err)
	}
	return n, err
}

// finish ends the body once: read to its end (io.EOF) the connection is
// pooled if it can carry another request and nothing cut it meanwhile;
// otherwise it is closed.
func (b *h1Body) finish(err error) {
	b.mu.Lock()
	if b.done != nil {
		b.mu.Unlock()
		return
	}
	b.done = err
	b.mu.Unlock()
	// Buffered bytes past the end would be an answer nobody asked for:
	// such a connection is closed, never reused.
	if b.stop() && err == io.EOF && b.reuse && b.pc.br.Buffered() == 0 {
		b.pc.cl.put(b.pc)
		return
	}
	b.pc.close()
}

func (b *h1Body) Close() error {
	b.finish(errBodyClosed)
	return nil
}
