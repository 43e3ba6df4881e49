package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"loupe/proxy/flow"
)

// ownerBody owns one upstream response body. Whatever happens to the
// response (served, replaced by a rule, client gone, error), the body is
// either read to EOF or its connection is torn down: an upstream body left
// open keeps the origin connection and the transport's goroutines alive
// forever (incident 2).
//
// Reads tee into the recorder under facet. Close is idempotent. When the
// body was detached (its response replaced), Close drains the rest in the
// background, bounded by DrainMaxBytes and DrainTimeout, recording what it
// reads; otherwise Close aborts the upstream request, which closes the
// connection at once. A context.AfterFunc on the client request is the safety
// net for a body that nobody closes.
type ownerBody struct {
	rc     io.ReadCloser
	x      *exchange
	cancel context.CancelFunc // cancels the upstream request: tears the connection down
	stop   func() bool        // unregisters the safety net

	// origin is the response the transport returned, whose Trailer it
	// fills at the body's end; client is the copy the handler serves.
	origin, client *http.Response

	mu       sync.Mutex
	facet    flow.Facet
	silent   bool // record nothing: the served body records what it serves (see quiet)
	detached bool // the client no longer reads this body: drain on Close
	eof      bool
	closed   bool
	draining bool
	gone     bool   // the client request ended (see clientGone)
	cut      string // why a drain was stopped early (see drain)
}

// own hands the upstream body to b once the response head arrived. Until
// then the client watcher (clientGone) only cancels the upstream request.
func (b *ownerBody) own(rc io.ReadCloser) {
	b.x.hold()
	b.mu.Lock()
	b.rc = rc
	gone := b.gone
	b.mu.Unlock()
	if gone {
		// The client left during the round trip: nobody will read.
		_ = b.Close()
	}
}

// clientGone is the one watcher on the client request of a round trip.
// Before the response head it cancels the upstream request; afterwards it
// is the safety net: once the client exchange is over (served, or the
// client went away), a body still open is closed. Close is idempotent,
// aborts a body that nobody reads, and leaves a drain alone.
func (b *ownerBody) clientGone() {
	b.mu.Lock()
	b.gone = true
	owned := b.rc != nil
	b.mu.Unlock()
	if !owned {
		b.cancel()
		return
	}
	_ = b.Close()
}

// detach marks the body as no longer served: it will be recorded as the
// upstream facet and drained on Close.
func (b *ownerBody) detach() {
	b.mu.Lock()
	b.detached = true
	b.facet = flow.FacetUpstream
	b.mu.Unlock()
}

// quiet stops (or resumes) the recording of the bytes read: a held
// response's body is recorded by what serves it, so that an edit leaves
// the origin's bytes recorded once, as the upstream facet.
func (b *ownerBody) quiet(on bool) {
	b.mu.Lock()
	b.silent = on
	b.mu.Unlock()
}

func (b *ownerBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	facet, silent := b.facet, b.silent
	b.mu.Unlock()
	if n > 0 && !silent {
		b.x.h.Body(facet, p[:n])
	}
	if err == io.EOF {
		b.mu.Lock()
		first := !b.eof
		b.eof = true
		detached := b.detached
		b.mu.Unlock()
		if first {
			b.trailers(detached)
			if !silent {
				b.x.h.BodyEnd(facet)
			}
		}
	}
	return n, err
}

// trailers records the origin's trailers, known now that the body ended,
// and hands them to the client's response unless a rule replaced its body.
// A served body is read by the handler itself, so the client's response is
// not shared; a detached one drains in its own goroutine, and the client's
// response never learns its trailers (they describe the origin's body).
func (b *ownerBody) trailers(detached bool) {
	if b.origin == nil || len(b.origin.Trailer) == 0 {
		return
	}
	if !detached && b.client != nil {
		b.client.Trailer = b.origin.Trailer
	}
	if fs := trailerFields(b.origin.Trailer); len(fs) > 0 {
		b.x.h.Trailers(flow.FacetUpstream, fs)
	}
}

// Close implements io.Closer; see the type comment.
func (b *ownerBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	eof := b.eof
	// While shutting down, or with MaxDrains already running, detached
	// bodies are closed rather than drained, and the flow says so.
	refused := ""
	if b.detached && !eof {
		refused = b.x.p.enterDrain()
	}
	drain := b.detached && !eof && refused == ""
	b.draining = drain
	b.mu.Unlock()
	if refused != "" {
		b.x.h.UpstreamNotKept(refused)
	}
	if !drain {
		if !eof {
			// Stopping early: cancel first so the transport closes the
			// connection instead of trying to reuse it.
			b.cancel()
		}
		err := b.rc.Close()
		b.cancel()
		b.stop()
		b.x.release()
		return err
	}
	go func() {
		defer b.x.p.survive("background drain", nil)
		b.drain()
	}()
	return nil
}

// drain reads the rest of a detached body, within the configured bounds.
func (b *ownerBody) drain() {
	defer b.x.p.exitDrain()
	defer b.x.release()
	defer b.stop()
	cfg := &b.x.p.cfg
	timer := time.AfterFunc(cfg.DrainTimeout, b.stopDrain(fmt.Sprintf("original cut short: past -drain-timeout (%s)", cfg.DrainTimeout)))
	defer timer.Stop()
	stopShutdown := context.AfterFunc(b.x.p.ctx, b.stopDrain("original cut short: closed at shutdown"))
	defer stopShutdown()

	n, err := io.Copy(io.Discard, io.LimitReader(b, cfg.DrainMaxBytes))
	b.mu.Lock()
	cut := b.cut
	b.mu.Unlock()
	switch {
	case err == nil && n == cfg.DrainMaxBytes:
		// Past the byte bound: give up on reuse and close the connection.
		b.cancel()
		cut = fmt.Sprintf("original cut short: past -drain-max-bytes (%s)", fmtBytes(cfg.DrainMaxBytes))
		b.x.p.log.Debug("drain bound reached, closing origin connection", "flow", b.x.h.ID(), "bytes", n)
	case err != nil && cut == "":
		cut = fmt.Sprintf("original cut short: %v", err)
	}
	if cut != "" {
		b.x.h.UpstreamNotKept(cut)
	}
	_ = b.rc.Close()
	b.cancel()
}

// stopDrain returns a function that stops a drain, which then records
// reason (the first one given).
func (b *ownerBody) stopDrain(reason string) func() {
	return func() {
		b.mu.Lock()
		if b.cut == "" {
			b.cut = reason
		}
		b.mu.Unlock()
		b.cancel()
	}
}

// fmtBytes writes a byte bound the way a person gives it ("64 MiB").
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// servedBody is the body copied to the client. It stays the same
// object from the round trip to the end, so the copy keeps the framing Loupe
// computed; rules swap what it reads from. It records the served facet when
// the served bytes differ from the upstream ones, and turns a failed read
// into an aborted client response: a response cut short must end abruptly,
// never look complete.
type servedBody struct {
	x       *exchange
	src     io.Reader
	closers []io.Closer
	record  bool // record as FacetResponse (the upstream body records itself otherwise)
	eof     bool
	// abort, when set, cuts the client off without an answer (the
	// connection closed, an HTTP/2 stream reset), recording it as the
	// flow's failure.
	abort error
}

func (s *servedBody) Read(p []byte) (int, error) {
	if s.abort != nil {
		s.x.fail(s.abort)
		panic(http.ErrAbortHandler)
	}
	n, err := s.src.Read(p)
	if n > 0 && s.record {
		s.x.h.Body(flow.FacetResponse, p[:n])
	}
	switch {
	case err == io.EOF:
		if s.record && !s.eof {
			s.x.h.BodyEnd(flow.FacetResponse)
		}
		s.eof = true
	case err != nil:
		if ctx := s.x.clientCtx; ctx != nil && ctx.Err() != nil {
			s.x.fail(fmt.Errorf("client went away: %w", err))
		} else {
			s.x.fail(fmt.Errorf("upstream body: %w", err))
		}
		// Like httputil.ReverseProxy: abort the handler so the server
		// closes (h1) or resets (h2) the client response instead of ending
		// it cleanly with a truncated body.
		panic(http.ErrAbortHandler)
	}
	return n, err
}

// readyReader is a body source that knows, without blocking, whether its
// next Read returns at once (with bytes it already holds, or with its end)
// rather than waiting for the origin. WriteTo flushes the client response
// before a read only when the source is not ready; a source that cannot
// tell is taken to be not ready, and costs at most a write more.
type readyReader interface {
	Ready() bool
}

// ready reports whether r's next Read returns without waiting.
func ready(r io.Reader) bool {
	rr, ok := r.(readyReader)
	return ok && rr.Ready()
}

// Ready implements readyReader: an empty body always is; an origin's body
// is when its client says so (proxy/h1's bodies do; the Transport's cannot
// tell).
func (b *ownerBody) Ready() bool {
	return b.rc == http.NoBody || ready(b.rc)
}

// Copy buffer sizes for WriteTo: a body starts with a small buffer and
// moves to the large one once a read fills the small one (bulk transfer).
const (
	smallCopyBuf = 32 << 10
	largeCopyBuf = 256 << 10
)

// copyBufs are the pooled copy buffers of one Proxy.
type copyBufs struct {
	small, large sync.Pool // *[smallCopyBuf]byte, *[largeCopyBuf]byte
}

func (c *copyBufs) getSmall() *[smallCopyBuf]byte {
	if b, ok := c.small.Get().(*[smallCopyBuf]byte); ok {
		return b
	}
	return new([smallCopyBuf]byte)
}

func (c *copyBufs) getLarge() *[largeCopyBuf]byte {
	if b, ok := c.large.Get().(*[largeCopyBuf]byte); ok {
		return b
	}
	return new([largeCopyBuf]byte)
}

// WriteTo copies the body to the client; writeResponse's io.Copy calls it instead
// of copying through its own 32 KiB buffer.
//
// Nothing is held back, whatever the framing: each read is written at once,
// and when w can flush (the client's ResponseWriter), what w still buffers
// (the head, the last bytes written) is flushed before every read that may
// wait for the origin. net/http would otherwise keep the head and the first
// 4 KB of a body with a Content-Length until more came or the body ended,
// and a debugging proxy must not distort the timing it shows. A read that
// cannot wait (see readyReader: bytes already buffered, a body in memory,
// its end) is not preceded by a flush, so a head and a body that arrived
// together still leave in one write. Large bodies are not cut into smaller
// writes either: net/http passes a write larger than its buffers straight
// to the connection, and the flush after it finds nothing to send.
//
// A body that arrives in bulk moves in 256 KiB reads and writes: measured
// on 1 MB responses, a quarter of the system calls. The buffer grows only
// while reads fill it, so a slow stream holds 32 KiB at most, and buffers
// are pooled.
func (s *servedBody) WriteTo(w io.Writer) (int64, error) {
	f, _ := w.(http.Flusher)
	held := f != nil // w may hold the head
	rb := readBufs{pool: &s.x.p.bufs}
	rb.lender, _ = s.x.h.(flow.BodyLender)
	defer rb.release()
	size := smallCopyBuf
	var written int64
	for {
		if held && !ready(s.src) {
			f.Flush()
			held = false
		}
		buf := rb.get(size, s.lendable())
		n, rerr := s.Read(buf)
		if n > 0 {
			wn, werr := w.Write(buf[:n])
			written += int64(wn)
			if werr != nil {
				return written, werr
			}
			if wn != n {
				return written, io.ErrShortWrite
			}
			held = f != nil
		}
		rb.done()
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
		if n == len(buf) {
			size = largeCopyBuf
		}
	}
}

// lendable reports whether the next read may go into a buffer the
// recorder lends: the origin's body served as it is, which only ownerBody
// reads into (and records), and which WriteTo writes out and gives back
// untouched. A body that rules change is recorded from other buffers.
func (s *servedBody) lendable() bool {
	_, direct := s.src.(*ownerBody)
	return direct && !s.record && s.abort == nil
}

// readBufs are WriteTo's buffers: the proxy's pooled copy buffers, taken
// once and kept for the whole body, or, read by read, one the recorder
// lends (flow.BodyLender), so that the bytes the capture keeps are the
// bytes read, never copied.
type readBufs struct {
	pool   *copyBufs
	lender flow.BodyLender // nil: the recorder lends none
	small  *[smallCopyBuf]byte
	large  *[largeCopyBuf]byte
	lent   []byte // the lent buffer of the current read
}

// get returns a buffer of size bytes (smallCopyBuf or largeCopyBuf) for
// the next read, lent when lend is set and the recorder has one.
func (b *readBufs) get(size int, lend bool) []byte {
	if lend && b.lender != nil {
		if b.lent = b.lender.LendBody(size); b.lent != nil {
			return b.lent
		}
	}
	if size == largeCopyBuf {
		if b.large == nil {
			b.large = b.pool.getLarge()
		}
		return b.large[:]
	}
	if b.small == nil {
		b.small = b.pool.getSmall()
	}
	return b.small[:]
}

// done gives back the current read's lent buffer, once it was written out.
func (b *readBufs) done() {
	if b.lent != nil {
		b.lender.ReturnBody(b.lent)
		b.lent = nil
	}
}

// release gives every buffer back, at the end of the body (or a panic).
func (b *readBufs) release() {
	b.done()
	if b.small != nil {
		b.pool.small.Put(b.small)
	}
	if b.large != nil {
		b.pool.large.Put(b.large)
	}
}

// owner is the origin's body this served body reads from, or nil (an
// answer Loupe produced).
func (s *servedBody) owner() *ownerBody {
	for _, c := range s.closers {
		if ob, ok := c.(*ownerBody); ok {
			return ob
		}
	}
	return nil
}

func (s *servedBody) Close() error {
	var first error
	for _, c := range s.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}

// replace makes the served body read from body (nil: empty) and detaches the
// upstream body, which then drains in the background: the client gets the
// replacement at once and never waits for the origin.
func (s *servedBody) replace(resp *http.Response, body []byte) {
	for _, c := range s.closers {
		if ob, ok := c.(*ownerBody); ok {
			ob.detach()
		}
	}
	// Close now, not at the end of the response: the drain starts at once.
	_ = s.Close()
	// The origin's trailers describe the origin's body, not this one.
	resp.Trailer = nil
	if !bodyAllowed(resp) {
		body = nil
	}
	s.src = newBytesReader(body)
	s.record = true
	normaliseFraming(resp, int64(len(body)))
}

// normaliseFraming is the one place that fixes the framing of a response
// whose body Loupe replaced: the length is recomputed, encodings that no
// longer describe the bytes are dropped, and statuses and methods that carry
// no body get none.
func normaliseFraming(resp *http.Response, n int64) {
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Transfer-Encoding")
	resp.TransferEncoding = nil
	resp.Uncompressed = false
	if !bodyAllowed(resp) {
		resp.ContentLength = 0
		resp.Header.Del("Content-Length")
		return
	}
	resp.ContentLength = n
	resp.Header.Set("Content-Length", strconv.FormatInt(n, 10))
}

// bodyAllowed reports whether resp may carry a body to the client.
func bodyAllowed(resp *http.Response) bool {
	if resp.Request != nil && resp.Request.Method == http.MethodHead {
		return false
	}
	s := resp.StatusCode
	return !(s >= 100 && s < 200 || s == http.StatusNoContent || s == http.StatusNotModified)
}

type bytesReader struct {
	b []byte
}

func newBytesReader(b []byte) *bytesReader { return &bytesReader{b: b} }

// Ready implements readyReader: the bytes are in memory.
func (r *bytesReader) Ready() bool { return true }

func (r *bytesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// throttled limits reads to rate bytes per second, in slices small enough
// to keep the stream smooth; it stops waiting when ctx ends.
type throttled struct {
	ctx   context.Context
	r     io.Reader
	rate  int64
	start time.Time
	sent  int64
}

func (t *throttled) Read(p []byte) (int, error) {
	if t.start.IsZero() {
		t.start = time.Now()
	}
	if max := t.rate / 10; max > 0 && int64(len(p)) > max {
		p = p[:max]
	} else if max == 0 {
		p = p[:1]
	}
	due := t.start.Add(time.Duration(float64(t.sent) / float64(t.rate) * float64(time.Second)))
	if wait := time.Until(due); wait > 0 {
		if err := sleepCtx(t.ctx, wait); err != nil {
			return 0, err
		}
	}
	n, err := t.r.Read(p)
	t.sent += int64(n)
	return n, err
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
