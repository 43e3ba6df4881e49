// Package connlimit bounds how many client connections a listener holds at
// once, in all and per client address, so that no client (a runaway script,
// a header slowloris, a port scan) can exhaust the process's file descriptors
// or starve the other clients.
//
// A new connection past a bound first takes the place of the oldest idle
// keep-alive connection (of the same client address when that client is at
// its share); only when no idle connection can go is it refused, with a short
// plain answer written by a goroutine that a deadline bounds.
//
// It must never block Accept on a client, never close a connection that is
// serving a request to make room, and never count a connection twice or
// forget one (every admitted connection is released exactly once, on Close).
package connlimit

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets the bounds. The zero value means the documented defaults.
type Config struct {
	// Max bounds the connections held at once. 0: DefaultMax().
	Max int
	// PerClient bounds the connections of one client IP address. 0: half of
	// Max (so that one address can never take every slot), at least 1.
	PerClient int
	// Refusal is written to a connection that is refused, before it is
	// closed. Nil: a plain HTTP/1.1 503 answer.
	Refusal []byte
}

// refusalWriteTimeout bounds writing the refusal to a refused connection.
const refusalWriteTimeout = time.Second

// Stats counts what the limiter did since it was built.
type Stats struct {
	Open       int    `json:"open"`       // connections held now
	Max        int    `json:"max"`        // the bound on Open
	Refused    uint64 `json:"refused"`    // connections refused at a bound
	IdleClosed uint64 `json:"idleClosed"` // idle keep-alive connections closed to make room
}

// Limiter holds the bounds and the admitted connections. Build it with New;
// wrap listeners with Listener and give ConnState to every http.Server that
// serves them.
type Limiter struct {
	max, perClient int
	refusal        []byte

	mu       sync.Mutex
	open     map[*conn]struct{}
	byClient map[string]int

	refused, idleClosed atomic.Uint64
}

// New builds a Limiter.
func New(cfg Config) *Limiter {
	l := &Limiter{
		max: cfg.Max, perClient: cfg.PerClient, refusal: cfg.Refusal,
		open: make(map[*conn]struct{}), byClient: make(map[string]int),
	}
	if l.max <= 0 {
		l.max = DefaultMax()
	}
	if l.perClient <= 0 {
		l.perClient = max(l.max/2, 1)
	}
	if l.refusal == nil {
		l.refusal = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Connection: close\r\nContent-Length: 51\r\n\r\nLoupe: too many connections from you or in all now\n")
	}
	return l
}

// Max is the bound on connections held at once.
func (l *Limiter) Max() int { return l.max }

// PerClient is the bound on the connections of one client address.
func (l *Limiter) PerClient() int { return l.perClient }

// Stats reports the counters.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	n := len(l.open)
	l.mu.Unlock()
	return Stats{Open: n, Max: l.max, Refused: l.refused.Load(), IdleClosed: l.idleClosed.Load()}
}

// Listener wraps inner: its Accept returns only admitted connections.
func (l *Limiter) Listener(inner net.Listener) net.Listener {
	return &listener{Listener: inner, l: l, refusal: l.refusal}
}

// ListenerRefusing is Listener for a protocol other than HTTP: a refused
// connection gets refusal (a SOCKS5 "no acceptable method", say) instead
// of the limiter's HTTP answer. The bounds are shared with every other
// listener of the limiter.
func (l *Limiter) ListenerRefusing(inner net.Listener, refusal []byte) net.Listener {
	return &listener{Listener: inner, l: l, refusal: refusal}
}

// ConnState is an http.Server ConnState hook: it tells the limiter which
// connections are idle between requests, the ones that may give their place
// to a new client. Chain it when the server has a hook of its own. c may be
// an admitted connection or a wrapper of one that has a NetConn method.
func (l *Limiter) ConnState(c net.Conn, s http.ConnState) {
	lc := admitted(c)
	if lc == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		lc.idleSince = time.Now()
	} else {
		lc.idleSince = time.Time{}
	}
}

// admitted finds the admitted connection in c or the connections it wraps.
func admitted(c net.Conn) *conn {
	for range 8 {
		if lc, ok := c.(*conn); ok {
			return lc
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = w.NetConn()
	}
	return nil
}

type listener struct {
	net.Listener
	l       *Limiter
	refusal []byte
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := ln.l.admit(c); lc != nil {
			return lc, nil
		}
		ln.l.refuse(c, ln.refusal)
	}
}

// clientKey is the address a connection counts against.
func clientKey(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// admit counts c in, making room by closing idle connections when a bound
// is reached; it returns nil when no room could be made.
func (l *Limiter) admit(c net.Conn) *conn {
	key := clientKey(c.RemoteAddr())
	var victims []*conn
	l.mu.Lock()
	if l.byClient[key] >= l.perClient {
		if v := l.oldestIdle(key); v != nil {
			victims = append(victims, v)
		}
	}
	if len(l.open)-len(victims) >= l.max {
		if v := l.oldestIdle(""); v != nil && (len(victims) == 0 || v != victims[0]) {
			victims = append(victims, v)
		}
	}
	if l.byClient[key]-countKey(victims, key) >= l.perClient || len(l.open)-len(victims) >= l.max {
		l.mu.Unlock()
		return nil
	}
	for _, v := range victims {
		l.releaseLocked(v)
	}
	lc := &conn{Conn: c, l: l, key: key}
	l.open[lc] = struct{}{}
	l.byClient[key]++
	l.mu.Unlock()
	for _, v := range victims {
		l.idleClosed.Add(1)
		_ = v.Conn.Close()
	}
	return lc
}

func countKey(cs []*conn, key string) int {
	n := 0
	for _, c := range cs {
		if c.key == key {
			n++
		}
	}
	return n
}

// oldestIdle returns the connection idle the longest, of client key ("":
// any client), or nil. Called with l.mu held; linear, but only at a bound.
func (l *Limiter) oldestIdle(key string) *conn {
	var best *conn
	for c := range l.open {
		if c.idleSince.IsZero() || (key != "" && c.key != key) {
			continue
		}
		if best == nil || c.idleSince.Before(best.idleSince) {
			best = c
		}
	}
	return best
}

// releaseLocked forgets c; it reports false when c was already released.
func (l *Limiter) releaseLocked(c *conn) bool {
	if _, ok := l.open[c]; !ok {
		return false
	}
	delete(l.open, c)
	if l.byClient[c.key]--; l.byClient[c.key] <= 0 {
		delete(l.byClient, c.key)
	}
	return true
}

// refuse answers c with the refusal and closes it, without holding up
// Accept: the write happens in a goroutine bounded by a deadline.
func (l *Limiter) refuse(c net.Conn, refusal []byte) {
	l.refused.Add(1)
	go func() {
		_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
		_, _ = c.Write(refusal)
		_ = c.Close()
	}()
}

// conn is an admitted connection; Close releases its place.
type conn struct {
	net.Conn
	l         *Limiter
	key       string
	idleSince time.Time // guarded by l.mu; zero unless idle between requests
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil // closed to make room, or twice
	}
	return err
}

// CloseWrite half-closes the connection when the inner one can.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// NetConn returns the wrapped connection.
func (c *conn) NetConn() net.Conn { return c.Conn }
