package proxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// Go's HTTP/1 server accepts a request carrying both Content-Length and
// Transfer-Encoding: it silently drops Content-Length and keeps the
// connection open, so bytes a front-end counted as body are read as a second
// request (RFC 9112 6.1 and 11.2). The header is gone by the time a handler
// runs, so Loupe watches the raw bytes: scanConn follows the HTTP/1 framing
// of everything the server reads and notes, per request head, whether both
// fields were present. The handler of that request then answers 400 and
// closes the connection.

type scanKey struct{}

// withScanner is an http.Server ConnContext that exposes the connection's
// scanner to handlers.
func withScanner(ctx context.Context, c net.Conn) context.Context {
	if sc, ok := c.(*scanConn); ok {
		return context.WithValue(ctx, scanKey{}, sc)
	}
	return ctx
}

// refuseSmuggling answers 400 and closes the connection when r's raw head had
// both Content-Length and Transfer-Encoding. Called once per request, first.
func refuseSmuggling(w http.ResponseWriter, r *http.Request) bool {
	sc, _ := r.Context().Value(scanKey{}).(*scanConn)
	if sc == nil || r.ProtoMajor != 1 {
		return false
	}
	if !sc.next() {
		return false
	}
	w.Header().Set("Connection", "close")
	http.Error(w, "Loupe: request has both Content-Length and Transfer-Encoding (RFC 9112 6.1); refused", http.StatusBadRequest)
	return true
}

type scanListener struct {
	net.Listener
}

func (l *scanListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newScanConn(c), nil
}

type scanState int

const (
	scanHead scanState = iota
	scanBody
	scanChunkSize
	scanChunkData
	scanChunkEnd
	scanTrailer
	scanStop // tunnel or upgrade: no more HTTP/1 heads on this connection
)

// scanLineMax bounds the part of a line kept for inspection; the server
// enforces the real header size limit.
const scanLineMax = 256

type scanConn struct {
	net.Conn

	mu      sync.Mutex
	state   scanState
	line    []byte
	lineLen int
	first   bool // next line is a request line
	cl, te  bool
	chunked bool
	upgrade bool
	clValue int64
	remain  int64
	heads   []bool // per parsed head: had both CL and TE
}

func newScanConn(c net.Conn) *scanConn {
	return &scanConn{Conn: c, first: true, line: make([]byte, 0, scanLineMax)}
}

// CloseWrite half-closes the underlying connection, if it can.
func (c *scanConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

func (c *scanConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// next pops the oldest parsed head and reports whether it was a conflict.
func (c *scanConn) next() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.heads) == 0 {
		return false
	}
	v := c.heads[0]
	c.heads = c.heads[1:]
	return v
}

func (c *scanConn) feed(p []byte) {
	for len(p) > 0 {
		switch c.state {
		case scanStop:
			return
		case scanBody, scanChunkData:
			k := int64(len(p))
			if k > c.remain {
				k = c.remain
			}
			c.remain -= k
			p = p[k:]
			if c.remain == 0 {
				if c.state == scanBody {
					c.state = scanHead
				} else {
					c.state = scanChunkEnd
				}
			}
		default:
			i := bytes.IndexByte(p, '\n')
			chunk := p
			if i >= 0 {
				chunk = p[:i]
			}
			if room := scanLineMax - len(c.line); room > 0 {
				c.line = append(c.line, chunk[:min(room, len(chunk))]...)
			}
			c.lineLen += len(chunk)
			if i < 0 {
				return
			}
			p = p[i+1:]
			line := bytes.TrimRight(c.line, "\r")
			empty := c.lineLen <= 1 && len(line) == 0
			c.line, c.lineLen = c.line[:0], 0
			c.onLine(line, empty)
		}
	}
}

func (c *scanConn) onLine(line []byte, empty bool) {
	switch c.state {
	case scanHead:
		if c.first {
			if empty {
				return // leading blank lines are tolerated
			}
			c.first = false
			if bytes.HasPrefix(line, []byte("CONNECT ")) || bytes.HasPrefix(line, []byte("PRI ")) {
				c.state = scanStop
				c.heads = append(c.heads, false)
			}
			return
		}
		if !empty {
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				return
			}
			value = bytes.TrimSpace(value)
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				c.cl = true
				c.clValue, _ = strconv.ParseInt(string(value), 10, 64)
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				c.te = true
				c.chunked = bytes.HasSuffix(bytes.ToLower(value), []byte("chunked"))
			case bytes.EqualFold(name, []byte("Upgrade")):
				c.upgrade = true
			}
			return
		}
		c.heads = append(c.heads, c.cl && c.te)
		switch {
		case c.upgrade || (c.cl && c.te):
			// The connection switches protocol, or will be closed.
			c.state = scanStop
		case c.chunked:
			c.state = scanChunkSize
		case c.cl && c.clValue > 0:
			c.state, c.remain = scanBody, c.clValue
		}
		c.first, c.cl, c.te, c.chunked, c.upgrade, c.clValue = true, false, false, false, false, 0
	case scanChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		switch {
		case err != nil:
			c.state = scanStop // the server rejects it and closes
		case n == 0:
			c.state = scanTrailer
		default:
			c.state, c.remain = scanChunkData, n
		}
	case scanChunkEnd:
		c.state = scanChunkSize
	case scanTrailer:
		if empty {
			c.state = scanHead
		}
	}
}
