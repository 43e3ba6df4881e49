package proxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/textproto"
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

type namesKey struct{}

// checkHead consumes what the scanner saw of r's raw head. When the head had
// both Content-Length and Transfer-Encoding it answers 400, closes the
// connection and reports true. Otherwise it returns r carrying the original
// spelling of header names that net/http canonicalised, so that they can be
// sent upstream as the client wrote them. Called once per request, first.
func checkHead(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	sc, _ := r.Context().Value(scanKey{}).(*scanConn)
	if sc == nil || r.ProtoMajor != 1 {
		return r, false
	}
	conflict, names := sc.next()
	if conflict {
		w.Header().Set("Connection", "close")
		http.Error(w, "Loupe: request has both Content-Length and Transfer-Encoding (RFC 9112 6.1); refused", http.StatusBadRequest)
		return r, true
	}
	if len(names) > 0 {
		r = r.WithContext(context.WithValue(r.Context(), namesKey{}, names))
	}
	return r, false
}

// keepCase are fields net/http reads or writes itself by their canonical
// name; renaming them would duplicate or hide them.
var keepCase = map[string]bool{
	"Host": true, "User-Agent": true, "Content-Length": true, "Transfer-Encoding": true,
	"Trailer": true, "Expect": true, "Te": true, "Connection": true, "Upgrade": true,
}

// restoreCase renames canonicalised header names in h back to the client's
// spelling recorded in ctx (HTTP/1 writes names as given; HTTP/2 lowercases
// them anyway).
func restoreCase(ctx context.Context, h http.Header) {
	names, _ := ctx.Value(namesKey{}).(map[string]string)
	for canon, orig := range names {
		if vs, ok := h[canon]; ok && !keepCase[canon] {
			delete(h, canon)
			h[orig] = vs
		}
	}
}

// maxNames bounds the spellings kept per request head.
const maxNames = 64

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

	mu        sync.Mutex
	state     scanState
	line      []byte
	lineLen   int
	first     bool // next line is a request line
	cl, te    bool
	chunked   bool
	upgrade   bool
	clValue   int64
	remain    int64
	heads     []bool // per parsed head: had both CL and TE
	names     map[string]string
	headNames []map[string]string // per parsed head: canonical -> original name
}

func newScanConn(c net.Conn) *scanConn {
	return &scanConn{Conn: c, first: true, line: make([]byte, 0, scanLineMax)}
}

// NetConn returns the wrapped connection.
func (c *scanConn) NetConn() net.Conn { return c.Conn }

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
func (c *scanConn) next() (bool, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.heads) == 0 {
		return false, nil
	}
	v, n := c.heads[0], c.headNames[0]
	c.heads, c.headNames = c.heads[1:], c.headNames[1:]
	return v, n
}

// endHead queues what was seen of one head.
func (c *scanConn) endHead(conflict bool) {
	c.heads = append(c.heads, conflict)
	c.headNames = append(c.headNames, c.names)
	c.names = nil
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
				c.endHead(false)
			}
			return
		}
		if !empty {
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				return
			}
			value = bytes.TrimSpace(value)
			// Most clients send canonical names: canonicalKey spares the
			// string made for CanonicalMIMEHeaderKey then.
			if !canonicalKey(name) && len(c.names) < maxNames {
				if canon := textproto.CanonicalMIMEHeaderKey(string(name)); canon != string(name) {
					if c.names == nil {
						c.names = make(map[string]string)
					}
					if _, seen := c.names[canon]; !seen {
						c.names[canon] = string(name)
					}
				}
			}
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
		c.endHead(c.cl && c.te)
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

// canonicalKey reports, without allocating, that name is already in the form
// textproto.CanonicalMIMEHeaderKey gives it (a false answer only means
// "ask CanonicalMIMEHeaderKey").
func canonicalKey(name []byte) bool {
	upper := true
	for _, c := range name {
		switch {
		case 'A' <= c && c <= 'Z':
			if !upper {
				return false
			}
		case 'a' <= c && c <= 'z':
			if upper {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
		default:
			return false
		}
		upper = c == '-'
	}
	return true
}
