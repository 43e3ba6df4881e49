package h1

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

// conn is one origin connection of a Client.
type conn struct {
	cl    *Client
	conn  net.Conn
	br    *bufio.Reader // nil while idle
	key   string
	limit int64 // bytes Read may still return; bounds the response head
	timer *time.Timer
	// reused: this connection served a request before, so a failure before
	// any answer may just mean the origin closed it while idle.
	reused bool
}

// aLongTimeAgo is a deadline that unblocks every read and write at once.
var aLongTimeAgo = time.Unix(1, 0)

// get returns an idle connection to key (u's scheme and address) or dials
// a new one; with fresh, it always dials.
//
// An idle connection is checked before use with one non-blocking peek: one
// the origin closed is dropped, and so is one holding bytes that arrived
// after its last answer (http.Transport finds those with its read-ahead):
// they are never read as the answer to the next request.
func (c *Client) get(ctx context.Context, u *url.URL, key string, fresh bool) (*conn, error) {
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
	nc, err := c.dial(ctx, "tcp", originAddr(u))
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		if nc, err = c.handshake(ctx, nc, u.Hostname()); err != nil {
			return nil, err
		}
	}
	pc := &conn{cl: c, conn: nc, key: key, limit: 1<<63 - 1}
	pc.br = c.reader(pc)
	pc.timer = time.AfterFunc(time.Hour, pc.idleExpired)
	pc.timer.Stop()
	return pc, nil
}

// handshake secures nc to host for HTTP/1.1, within TLSHandshakeTimeout,
// reporting to the request's trace hooks (the flow's TLS timing) like the
// Transport does.
func (c *Client) handshake(ctx context.Context, nc net.Conn, host string) (net.Conn, error) {
	cfg := c.tlsConfig.Clone()
	cfg.ServerName = host
	tc := tls.Client(nc, cfg)
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
		nc.Close()
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
		tc.Close()
		return nil, fmt.Errorf("origin chose %q over TLS, not http/1.1", p)
	}
	return tc, nil
}

// reader returns a read buffer for pc, recycled from idle connections.
func (c *Client) reader(pc *conn) *bufio.Reader {
	if br, ok := c.readers.Get().(*bufio.Reader); ok {
		br.Reset(pc)
		return br
	}
	return bufio.NewReaderSize(pc, 4<<10)
}

func (pc *conn) close() { _ = pc.conn.Close() }

// Read feeds the buffered reader, within the current limit.
func (pc *conn) Read(p []byte) (int, error) {
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
func (pc *conn) send(ctx context.Context, req *http.Request) (*http.Response, error) {
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
	b := &body{pc: pc, rc: resp.Body, stop: stop, reuse: !resp.Close && !req.Close,
		chunked: len(resp.TransferEncoding) > 0}
	if resp.Body == http.NoBody {
		b.finish(io.EOF)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// body is a response body read from a conn: at its end the connection
// goes back to the pool; closed before its end, the connection is closed
// (the rest of the body is never read by accident into the next answer).
// Close may come from another goroutine while a Read is blocked: closing
// the connection ends that Read.
type body struct {
	pc      *conn
	rc      io.Reader
	stop    func() bool
	reuse   bool
	chunked bool

	mu   sync.Mutex
	done error // io.EOF at the end, errBodyClosed after Close
}

var errBodyClosed = errors.New("read on closed response body")

func (b *body) Read(p []byte) (int, error) {
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

// Ready reports, without blocking, whether the next Read returns at once:
// the body ended, or it is delimited by a length (or by the connection's
// end) and bytes of it are already buffered. A chunked body in progress
// says false: its buffered bytes may hold only part of the next chunk's
// header, and that Read would wait for the rest. Ready must be called from
// the goroutine that reads.
func (b *body) Ready() bool {
	b.mu.Lock()
	done := b.done != nil
	b.mu.Unlock()
	return done || (!b.chunked && b.pc.br.Buffered() > 0)
}

// finish ends the body once: read to its end (io.EOF) the connection is
// pooled if it can carry another request and nothing cut it meanwhile;
// otherwise it is closed.
func (b *body) finish(err error) {
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

func (b *body) Close() error {
	b.finish(errBodyClosed)
	return nil
}
