package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy/flow"
)

// exchange is the proxy's state for one flow. The outgoing request's
// context carries it to the dialer (connection timings).
type exchange struct {
	p      *Proxy
	h      flow.Handle
	start  time.Time
	served *servedBody // nil until a response exists
	kind   string      // response-producing action, "" when the origin answered
	// clientCtx ends when the client goes away or its exchange is over.
	clientCtx context.Context

	// respActions are the response-phase rule actions, decided at request time.
	respActions []respAction
	// remapped: a mapRemote rule (or an edit at a breakpoint) chose the
	// destination, which then wins over the tunnel's target.
	remapped bool
	// ws: the exchange is a WebSocket upgrade; wsUp is the origin's leg
	// once its handshake succeeded.
	ws   bool
	wsUp *websocket.Conn
	// w is the client's ResponseWriter and h2 says it is an HTTP/2 stream:
	// Kill ends the client side through them (see kill).
	w  http.ResponseWriter
	h2 bool
	// exempt: a replay or a composed request that did not ask for
	// breakpoints; bp is the breakpoint state, nil unless a breakpoint rule
	// matched (nearly always).
	exempt bool
	bp     *breakState

	mu  sync.Mutex
	err error
	// killed is set by kill; stop ends the current upstream step (cancels
	// the round trip, closes the WebSocket legs); handlerOut is set once
	// the handler returned, after which w must not be touched.
	killed     bool
	stop       func()
	handlerOut bool
	bodyErr    error // the first failure reading the client's request body
	// reqBody is the client's request body as the round trip reads it; the
	// handler lets go of its connection when it returns (see recordedBody).
	reqBody *recordedBody
	refs    int // the handler and every body still owned; Finish at zero
	end     time.Time
	sentAt  time.Time // the request left for the origin (zero: it never did)
	headAt  time.Time // the client's response head was ready (after response rules and breakpoint)
	timings flow.Timings
	// url is the client request's URL, urlStr its string: the upstream
	// head reuses the string when no rule changed the URL.
	url    url.URL
	urlStr string
	// Connection phases in progress, for timings (see dialTrace, tlsTrace).
	dnsAt, connAt, tlsAt time.Time
	trace                httptrace.ClientTrace
}

type exchangeKey struct{}

// newExchange begins the flow of r (the requestHeaders phase) and enters
// it in the registry of live exchanges.
func (p *Proxy) newExchange(w http.ResponseWriter, r *http.Request) *exchange {
	x := &exchange{p: p, start: time.Now(), refs: 1, timings: flow.NoTimings, w: w, h2: r.ProtoMajor == 2, clientCtx: r.Context()}
	x.url, x.urlStr = *r.URL, r.URL.String()
	x.h = p.cfg.Recorder.Begin(r.RemoteAddr, requestHead(r, x.urlStr), x.start)
	if o, ok := r.Context().Value(replayKey{}).(*replayStart); ok {
		o.began(x.h)
		x.exempt = !o.opts.Breakpoints
	}
	recordTarget(x, r)
	p.live.add(x)
	return x
}

func (x *exchange) hold() {
	x.mu.Lock()
	x.refs++
	x.mu.Unlock()
}

// release drops one owner; the last one finishes the flow. The flow ends
// when the client was served, even if an upstream body drains on.
func (x *exchange) release() {
	x.mu.Lock()
	x.refs--
	done := x.refs == 0
	end, err := x.end, x.err
	x.mu.Unlock()
	if done {
		if end.IsZero() {
			end = time.Now()
		}
		x.h.Finish(end, err)
	}
}

// done marks the client side as done, takes the exchange out of the
// registry and releases the handler's hold.
func (x *exchange) done() {
	x.p.live.remove(x)
	x.mu.Lock()
	x.handlerOut = true
	x.end = time.Now()
	t := x.phases()
	x.mu.Unlock()
	x.h.Timings(t)
	x.release()
}

// phases splits the exchange's time, from start to end, into HAR's phases,
// so that they add up to the flow's duration (the exporter writes their sum
// as the entry's time). Everything before the request left for the origin
// is blocked: the request rules, the pause of a request-phase delay action,
// a request breakpoint's hold. Everything from then until the client's
// head was ready is wait, less the DNS and connect time measured inside it:
// the origin's answer, a response-phase delay action, a response
// breakpoint's hold. The rest is receive. An answer Loupe made itself (a
// mock, a block, a failure before sending) has no blocked: its time to the
// head is wait. x.mu must be held.
func (x *exchange) phases() flow.Timings {
	t := x.timings
	head := x.headAt
	if head.IsZero() || head.After(x.end) {
		head = x.end
	}
	from := x.start
	if !x.sentAt.IsZero() && !x.sentAt.After(head) {
		t.Blocked = ms(x.sentAt.Sub(x.start))
		from = x.sentAt
	}
	// Microseconds from the start, so that the phases add up exactly.
	wait := ms(head.Sub(x.start)) - ms(from.Sub(x.start))
	for _, v := range []float64{t.DNS, t.Connect} {
		if v > 0 && v <= wait {
			wait -= v
		}
	}
	t.Wait = max(wait, 0)
	t.Receive = ms(x.end.Sub(x.start)) - ms(head.Sub(x.start))
	return t
}

// fail records the first failure of the flow.
func (x *exchange) fail(err error) {
	x.mu.Lock()
	if x.err == nil {
		x.err = err
	}
	x.mu.Unlock()
}

// requestHead is the flow head of r, whose URL is u (r.URL.String()).
func requestHead(r *http.Request, u string) flow.Request {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return flow.Request{Method: r.Method, URL: u, Proto: r.Proto, Header: headFields(r.Header, host)}
}

// headFields is flow.FieldsFromHeader for a request head, in one
// allocation: Host first when known (net/http keeps it apart from the
// header map; a person reading the flow expects it among the headers), and
// without the empty User-Agent that only suppresses Go's default (it is not
// sent).
func headFields(h http.Header, host string) flow.Fields {
	var buf [32]string
	names := buf[:0]
	n := 0
	for k, vs := range h {
		if k == "User-Agent" && len(vs) == 1 && vs[0] == "" {
			continue
		}
		names = append(names, k)
		n += len(vs)
	}
	slices.Sort(names)
	if host != "" {
		n++
	}
	out := make(flow.Fields, 0, n)
	if host != "" {
		out = append(out, flow.Field{Name: "Host", Value: host})
	}
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, flow.Field{Name: k, Value: v})
		}
	}
	return out
}

// trailerFields is the flow form of trailers; names announced but never
// sent (no values) are left out.
func trailerFields(t http.Header) flow.Fields {
	if len(t) == 0 {
		return nil
	}
	return flow.FieldsFromHeader(t)
}

func responseHead(status int, proto string, h http.Header) flow.Response {
	return flow.Response{Status: status, Proto: proto, Header: flow.FieldsFromHeader(h)}
}

// clientBodyErr is the first error met reading the client's request body.
func (x *exchange) clientBodyErr() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.bodyErr
}

// classify maps an upstream error to a status and a few words; no words
// when the error says it all (a request loop).
func classify(err error) (int, string) {
	var ne net.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var loop *loopError
	var upErr *upstreamProxyError
	switch {
	case errors.As(err, &loop):
		return http.StatusLoopDetected, ""
	case errors.As(err, &upErr):
		return upErr.status, "upstream proxy " + upErr.cause
	case errors.Is(err, errOwnListener):
		return http.StatusForbidden, "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, "upstream timed out"
	case errors.As(err, &dnsErr):
		return http.StatusBadGateway, "upstream host not found"
	case errors.As(err, &certErr):
		return http.StatusBadGateway, "upstream TLS certificate not trusted"
	case strings.Contains(err.Error(), "connection refused"):
		return http.StatusBadGateway, "upstream refused the connection"
	default:
		return http.StatusBadGateway, "upstream unreachable"
	}
}

// errorResponse is a short plain-text answer produced by Loupe itself.
func errorResponse(req *http.Request, status int, msg string) *http.Response {
	body := []byte(msg + "\n")
	h := make(http.Header)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	resp := &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Request: req,
		Body: io.NopCloser(newBytesReader(body)),
	}
	normaliseFraming(resp, int64(len(body)))
	return resp
}

// servedHead is the last step before the client gets the head: hop-by-hop
// hygiene and the recording of the served head (proto: the client's).
func (p *Proxy) servedHead(x *exchange, resp *http.Response, proto string) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		removeHopHeaders(resp.Header, false)
	}
	x.markHead()
	x.h.Response(responseHead(resp.StatusCode, proto, resp.Header))
}

// markHead notes that the client's response head is ready: the end of the
// wait phase (see phases).
func (x *exchange) markHead() {
	x.mu.Lock()
	if x.headAt.IsZero() {
		x.headAt = time.Now()
	}
	x.mu.Unlock()
}

// writeResponse copies resp to the client and closes its body. Nothing is
// held back: the head leaves as soon as it is written and every body byte
// as it arrives (resp.Body is the exchange's servedBody, whose WriteTo
// flushes w before any read that may wait). A body of unknown length (a
// stream) gets chunked framing (HTTP/1.1) or ends with the connection
// (HTTP/1.0). Trailers are forwarded like httputil.ReverseProxy does.
func (p *Proxy) writeResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	wh := w.Header()
	for k, vs := range resp.Header {
		wh[k] = vs
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range resp.Trailer {
			names = append(names, k)
		}
		wh.Add("Trailer", strings.Join(names, ", "))
	}
	if resp.ContentLength < 0 && bodyAllowed(resp) {
		// The flush signal net/http understands: chunked on HTTP/1.1, its
		// own framing on HTTP/2, connection-delimited for HTTP/1.0.
		wh.Set("Transfer-Encoding", "chunked")
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	_ = resp.Body.Close()

	if len(resp.Trailer) > 0 {
		// Chunked framing even for a short body, or the trailers are lost.
		_ = http.NewResponseController(w).Flush()
		if len(resp.Trailer) == announced {
			for k, vs := range resp.Trailer {
				wh[k] = append(wh[k], vs...)
			}
		} else {
			for k, vs := range resp.Trailer {
				for _, v := range vs {
					wh.Add(http.TrailerPrefix+k, v)
				}
			}
		}
	}
}

// recordedBody tees a body into the recorder. For a client's request body
// it also bounds the wait for each read (idle, through conn) and keeps the
// first read error on the exchange, so that a failed round trip can be
// blamed on the client when the body was at fault.
type recordedBody struct {
	rc    io.ReadCloser
	h     flow.Handle
	facet flow.Facet
	eof   bool
	// trailer is the request's Trailer, which net/http fills once the
	// body reached its end; nil when not known.
	trailer *http.Header

	x       *exchange // nil: errors are not kept
	bounded bool      // reads are bounded by idle and minRate
	idle    time.Duration
	minRate int64       // bytes per second, averaged once idle has passed
	start   time.Time   // the first read
	n       int64       // bytes read
	restart atomic.Bool // start and n start over at the next read (resumed)

	// busy is held during each read, so that a failed round trip can
	// wait for a read that is ending to say whether it failed (settled).
	busy readerBusy

	// conn sets the client connection's read deadline. The transport may
	// go on reading a request body after the handler returned (the origin
	// answered before the body ended), when the ResponseController must no
	// longer be used (HTTP/2's panics): handlerDone clears it.
	connMu sync.Mutex
	conn   *http.ResponseController
}

// settled waits, at most d, for a read of the body that is under way to
// return. A read that fails on the client's connection makes net/http
// cancel the request context from inside the read, so the round trip can
// end ("context canceled") a moment before the read has recorded why: the
// client's malformed or stalled body, which decides the answer.
func (b *recordedBody) settled(d time.Duration) {
	if b.busy == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case b.busy <- struct{}{}:
		<-b.busy
	case <-t.C:
	}
}

// setDeadline sets the client connection's read deadline while the handler
// runs (a killed exchange keeps the deadline kill gave it).
func (b *recordedBody) setDeadline(t time.Time) {
	if b.x != nil && b.x.isKilled() {
		return
	}
	b.connMu.Lock()
	if b.conn != nil {
		// An error only means the connection cannot set deadlines.
		_ = b.conn.SetReadDeadline(t)
	}
	b.connMu.Unlock()
}

// resumed starts the rate bound over after a wait that was not the
// client's (a breakpoint held the exchange).
func (b *recordedBody) resumed() { b.restart.Store(true) }

// handlerDone is called when the handler returns: from then on the body's
// reads no longer touch the connection.
func (b *recordedBody) handlerDone() {
	b.connMu.Lock()
	b.conn = nil
	b.connMu.Unlock()
}

// errBodyTooSlow ends a request body that arrives slower than BodyMinRate.
var errBodyTooSlow = errors.New("request body too slow")

// readerBusy is a one-slot semaphore held while a read of a client's
// request body is under way (see settled).
type readerBusy chan struct{}

func (b *recordedBody) Read(p []byte) (int, error) {
	if b.busy != nil {
		b.busy <- struct{}{}
		defer func() { <-b.busy }()
	}
	if b.bounded && !b.eof {
		now := time.Now()
		b.setDeadline(now.Add(b.idle))
		if b.restart.Swap(false) {
			b.start, b.n = time.Time{}, 0
		}
		if b.start.IsZero() {
			b.start = now
		}
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		b.h.Body(b.facet, p[:n])
	}
	if b.bounded && err == nil {
		// A body trickled a byte at a time never stalls for idle, yet pins
		// a client and an origin socket for as long as it likes.
		b.n += int64(n)
		if since := time.Since(b.start); since > b.idle && b.n < b.minRate*int64(since/time.Second) {
			err = fmt.Errorf("%w: %d bytes in %s", errBodyTooSlow, b.n, since.Round(time.Second))
		}
	}
	switch {
	case err == io.EOF && !b.eof:
		b.eof = true
		if b.bounded {
			// The server's own reads (the next request, its watch for the
			// client leaving) must not inherit the body's deadline.
			b.setDeadline(time.Time{})
		}
		if b.trailer != nil {
			if fs := trailerFields(*b.trailer); len(fs) > 0 {
				b.h.Trailers(b.facet, fs)
			}
		}
		b.h.BodyEnd(b.facet)
	case err != nil && err != io.EOF && b.x != nil:
		b.x.mu.Lock()
		if b.x.bodyErr == nil {
			b.x.bodyErr = err
		}
		b.x.mu.Unlock()
	}
	return n, err
}

func (b *recordedBody) Close() error { return b.rc.Close() }

// dialTrace returns the DNS and connect hooks of the flow, for a dial made
// on its behalf (see Proxy.dial): a request on a reused connection pays
// nothing for them.
func (x *exchange) dialTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart:     x.dnsStart,
		DNSDone:      x.dnsDone,
		ConnectStart: x.connectStart,
		ConnectDone:  x.connectDone,
	}
}

// tlsTrace returns the TLS handshake hooks of the flow; they live in the
// exchange. The Transport calls them with the request's context, so they
// go with every HTTPS round trip.
func (x *exchange) tlsTrace() *httptrace.ClientTrace {
	x.trace = httptrace.ClientTrace{TLSHandshakeStart: x.tlsStart, TLSHandshakeDone: x.tlsDone}
	return &x.trace
}

func (x *exchange) dnsStart(httptrace.DNSStartInfo) {
	x.mu.Lock()
	x.dnsAt = time.Now()
	x.mu.Unlock()
}

func (x *exchange) dnsDone(httptrace.DNSDoneInfo) {
	x.mu.Lock()
	x.timings.DNS = ms(time.Since(x.dnsAt))
	x.mu.Unlock()
}

func (x *exchange) connectStart(string, string) {
	x.mu.Lock()
	x.connAt = time.Now()
	x.mu.Unlock()
}

func (x *exchange) connectDone(string, string, error) {
	x.mu.Lock()
	x.timings.Connect = ms(time.Since(x.connAt))
	x.mu.Unlock()
}

func (x *exchange) tlsStart() {
	x.mu.Lock()
	x.tlsAt = time.Now()
	x.mu.Unlock()
}

func (x *exchange) tlsDone(tls.ConnectionState, error) {
	x.mu.Lock()
	x.timings.TLS = ms(time.Since(x.tlsAt))
	x.timings.Connect += x.timings.TLS
	x.mu.Unlock()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
