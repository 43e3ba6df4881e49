// Package headscan watches the raw HTTP/1 request stream that net/http's
// server reads from a client connection, to see what the server hides from
// handlers.
//
// Go's HTTP/1 server accepts a request carrying both Content-Length and
// Transfer-Encoding: chunked. It silently drops Content-Length and keeps the
// connection open, so the bytes a front-end counted as body are read as a
// second request (request smuggling, RFC 9112 6.1 and 11.2). By the time a
// handler runs the header is gone. The server also canonicalises header
// names, losing the client's spelling. A Conn wraps the client connection
// and follows the HTTP/1 framing of every byte the server reads, exactly as
// the server frames it (request line, header fields, Content-Length bodies,
// chunked bodies and trailers, with the server's own limits and
// rejections). For each request head it queues what it saw; the handler of
// that request takes it with Next, first thing, and refuses the request when
// Next returns an error.
//
// The guard holds only if every request the server parses reaches a handler
// that calls Next once (set http.Server.DisableGeneralOptionsHandler, or
// "OPTIONS *" is answered by the server itself and the queue falls out of
// step), and if Stop is called when a handler hijacks the connection for
// another protocol.
//
// A Conn must never change, hold back or reorder a byte, never block a Read
// on anything but the wrapped connection, never panic out of Read (a panic
// there would end the process: net/http reads ahead on a goroutine of its
// own that recovers nothing), and never keep unbounded state. When it
// cannot vouch for a head (framing the server rejects, framing it does not
// follow, a recovered fault, too many heads queued) it stops scanning and
// every later Next fails: it fails closed, never open.
package headscan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// ErrConflict is Next's error for a head that carried both Content-Length
// and Transfer-Encoding.
var ErrConflict = errors.New("request has both Content-Length and Transfer-Encoding (RFC 9112 6.1)")

// ErrLost is wrapped by Next's errors for heads the scanner cannot vouch for:
// the scanner stopped before it (see the package doc), or never saw it.
var ErrLost = errors.New("request framing could not be verified")

var (
	errRejected   = fmt.Errorf("%w: the stream has framing the HTTP server rejects", ErrLost)
	errUnfollowed = fmt.Errorf("%w: folded, oversized or overlong Content-Length or Transfer-Encoding", ErrLost)
	errTooMany    = fmt.Errorf("%w: too many request heads ahead of the server", ErrLost)
	errConflicted = fmt.Errorf("%w: a previous request had conflicting framing", ErrLost)
	errStopped    = fmt.Errorf("%w: the connection was handed to another protocol", ErrLost)
	errUnseen     = fmt.Errorf("%w: the scanner saw no such head", ErrLost)
)

// Conn is a client connection whose reads are scanned. Build it with
// NewConn or a Listener; it is safe for the server's reader goroutines and a
// handler to use at once.
type Conn struct {
	net.Conn
	stopped atomic.Bool // Stop was called, or scanning ended: Read only reads

	mu sync.Mutex
	s  scanner
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn {
	return &Conn{Conn: c}
}

// Read reads from the wrapped connection and scans what it returns.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.stopped.Load() {
		c.scan(p[:n])
	}
	return n, err
}

// scan feeds p to the scanner. A panic is a bug in the scanner: it is
// recovered here, as the last line of defence, and the connection is
// poisoned.
func (c *Conn) scan(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			c.s.fail(fmt.Errorf("%w: scanner fault: %v", ErrLost, v))
		}
		if c.s.err != nil {
			c.stopped.Store(true)
		}
	}()
	c.s.feed(p)
}

// Next takes what was seen of the oldest request head not yet taken: the
// original spelling of header names the server canonicalised (canonical
// name to spelling; nil when all were canonical). It fails with ErrConflict
// or an error wrapping ErrLost when the request must be refused and the
// connection closed. Call it once per request, in the handler, first.
func (c *Conn) Next() (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.next()
}

// Stop ends scanning for good: the connection now carries another protocol
// (a WebSocket after a 101, the bytes of a CONNECT tunnel). Call it once the
// connection is hijacked. Later calls to Next fail. Stop on a nil Conn does
// nothing.
func (c *Conn) Stop() {
	if c == nil {
		return
	}
	c.stopped.Store(true)
	c.mu.Lock()
	c.s.fail(errStopped)
	c.s.drop()
	c.mu.Unlock()
}

// NetConn returns the wrapped connection (for wrappers below that keep
// per-connection state of their own, such as a connection limit).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the wrapped connection when it can, else closes it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Listener wraps every accepted connection in a Conn.
type Listener struct {
	net.Listener
}

// NewListener wraps l.
func NewListener(l net.Listener) *Listener { return &Listener{Listener: l} }

// Accept accepts a connection and wraps it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(c), nil
}

type ctxKey struct{}

// ConnContext is an http.Server ConnContext: it makes a Conn reachable from
// the requests read from it, through FromContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if sc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, ctxKey{}, sc)
	}
	return ctx
}

// FromContext returns the Conn a request was read from, or nil when its
// connection is not scanned (HTTP/2, or scanning is off).
func FromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(ctxKey{}).(*Conn)
	return c
}
