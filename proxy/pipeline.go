package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"time"

	"loupe/proxy/flow"
)

// One exchange pipeline.
//
// Every exchange Loupe serves (a plain request, a request inside a tunnel,
// a WebSocket upgrade, a replay or composed request) goes through the same
// named phases, as mitmproxy names its hooks:
//
//	requestHeaders → request rules → [request breakpoint] → upstream →
//	responseHeaders → response rules → [response breakpoint] → serve
//
// requestHeaders begins the flow and enters the exchange in the registry of
// live exchanges (live.go); request rules build the outgoing request (hop-by-
// hop fields removed, Via added) and apply the request-phase actions; the
// request breakpoint may hold it before the origin is dialled; upstream
// sends it (a round trip, or a WebSocket handshake) and records the origin's
// head (responseHeaders); response rules and the response breakpoint act on
// the response; serve writes it to the client (or completes the WebSocket
// handshake and relays messages).
//
// A phase that fails hands its error to failure, the one error path, which
// records why on the flow and turns it into the answer the client gets; the
// phases after it see an ordinary response. WebSocket upgrades share every
// phase but the response rules and the response breakpoint: a 101 has no
// body to change and its head is the protocol's.

// serveExchange runs one exchange through the pipeline.
//
// goproxy stays the front door for CONNECT; a plain request does not go
// through its handler, whose per-request context, eager log formatting and
// header copy cost more than the rest of this path (see README,
// "Performance"). The steps are the ones its hook chain ran.
func (p *Proxy) serveExchange(w http.ResponseWriter, r *http.Request, ws bool) {
	x := p.newExchange(w, r)
	x.ws = ws
	defer x.handlerEnd()
	out, resp := p.requestRules(x, r, http.NewResponseController(w))
	if resp == nil {
		resp = p.requestBreakpoint(x, out)
	}
	if resp == nil {
		resp = p.sendUpstream(x, out)
	}
	if !x.ws {
		p.applyResponseRules(x, resp, out)
		resp = p.responseBreakpoint(x, resp, out)
	}
	p.serve(x, w, r, resp)
}

// handlerEnd is deferred by serveExchange: the handler's hold on the
// exchange ends, also when it panics (http.ErrAbortHandler is how a
// response is cut short on purpose).
func (x *exchange) handlerEnd() {
	if x.reqBody != nil {
		x.reqBody.handlerDone()
	}
	if v := recover(); v != nil {
		if v != http.ErrAbortHandler {
			x.fail(fmt.Errorf("internal error: %v", v))
		}
		x.done()
		panic(v)
	}
	x.done()
}

// requestRules builds the request sent upstream from the client's r: a
// shallow copy whose header (r's own map, which nothing reads afterwards:
// the flow holds its own copy; a copy for a WebSocket upgrade, whose
// client handshake still needs it) loses its hop-by-hop fields and gains
// Via, with the request-phase rules applied. It returns the answer when the
// request must not go upstream: a mock or block, or a request that came
// back through Loupe (a loop). rc, when not nil, lets the request body's
// reads be bounded in time.
func (p *Proxy) requestRules(x *exchange, r *http.Request, rc *http.ResponseController) (*http.Request, *http.Response) {
	out := new(http.Request)
	*out = *r
	out.RequestURI = ""
	out.Close = false
	switch {
	case out.Header == nil:
		out.Header = make(http.Header)
	case x.ws:
		out.Header = r.Header.Clone()
	}
	if p.via.seen(r.Header) {
		err := &loopError{token: p.via.token}
		p.log.Warn("request loop refused", "flow", x.h.ID(), "url", r.URL.String())
		return out, p.failure(x, out, err)
	}
	removeHopHeaders(out.Header, true)
	p.via.add(out.Header, r)
	if _, ok := out.Header["User-Agent"]; !ok {
		// An empty value keeps net/http from adding its own User-Agent.
		out.Header["User-Agent"] = []string{""}
	}
	if r.Body != nil && r.Body != http.NoBody && !x.ws {
		x.reqBody = &recordedBody{rc: r.Body, h: x.h, facet: flow.FacetRequest, busy: make(readerBusy, 1), trailer: &r.Trailer,
			x: x, conn: rc, bounded: rc != nil, idle: p.cfg.BodyIdleTimeout, minRate: p.cfg.BodyMinRate}
		out.Body = x.reqBody
	} else {
		x.h.BodyEnd(flow.FacetRequest)
	}
	scheme := out.URL.Scheme
	if x.ws {
		scheme = wsScheme(scheme)
	}
	if resp := p.applyRequestRules(x, out, scheme); resp != nil {
		return out, resp
	}
	return out, nil
}

// sendUpstream is the upstream phase: the outgoing request goes to the
// origin, as a round trip or a WebSocket handshake. It never fails:
// failures become recorded answers (see failure).
func (p *Proxy) sendUpstream(x *exchange, out *http.Request) *http.Response {
	if x.isKilled() {
		return p.failure(x, out, errKilled)
	}
	if x.ws {
		return p.wsRoundTrip(x, out)
	}
	return p.roundTrip(x, out)
}

// roundTrip sends the outgoing request to the origin client (see
// Config.OriginClient) and records the origin's head (the responseHeaders
// phase).
func (p *Proxy) roundTrip(x *exchange, req *http.Request) *http.Response {
	restoreCase(req.Context(), req.Header)
	x.h.UpstreamRequest(requestHead(req, x.sentURL(req)))

	// The upstream request outlives the client request only when a rule
	// detaches its body (to record it while draining); the owner body then
	// takes over cancelling. Until then the client's end cancels it. One
	// watcher on the client does both (see ownerBody.clientGone).
	clientCtx := req.Context()
	outCtx, cancel := context.WithCancel(context.WithoutCancel(clientCtx))
	if !x.setStop(cancel) {
		cancel()
		return p.failure(x, req, errKilled)
	}
	ob := &ownerBody{x: x, cancel: cancel, facet: flow.FacetResponse}
	ob.stop = context.AfterFunc(clientCtx, ob.clientGone)
	// The dialer finds the exchange here, for DNS and connect timings.
	outCtx = context.WithValue(outCtx, exchangeKey{}, x)
	if req.URL.Scheme == "https" {
		outCtx = httptrace.WithClientTrace(outCtx, x.tlsTrace())
	}

	// The request goes to its dial address (a tunnel's target) with the
	// Host the client sent (see target.go).
	up := req.WithContext(outCtx)
	var name string
	if up.URL, name = dialURL(clientCtx, req.URL, x.remapped); up.URL != req.URL && up.Host == "" {
		up.Host = req.URL.Host
	}
	x.recordMapping(up.URL)
	sent := time.Now()
	var rt http.RoundTripper = p.origin
	switch {
	case name != "":
		rt = p.named.get(name)
	case wantsH2C(up):
		rt = p.h2c
	}
	resp, err := rt.RoundTrip(up)
	if err != nil {
		ob.stop()
		cancel()
		return p.failure(x, up, err)
	}
	x.responseHeaders(resp, sent)

	if endedAtHead(resp) {
		// Nothing follows the head: say so, so that the head is not sent
		// alone ahead of an empty body (see endedAtHead).
		_ = resp.Body.Close()
		resp.Body = http.NoBody
	}
	ob.own(resp.Body)
	x.served = &servedBody{x: x, src: ob, closers: []io.Closer{ob}}
	// The client's response is a copy: the transport fills trailers into
	// its own, which a replaced body drains in the background, while the
	// handler reads the copy's (see ownerBody.trailers).
	client := *resp
	client.Body = x.served
	ob.origin, ob.client = resp, &client
	return &client
}

// endedAtHead reports whether an origin's answer ended with its head: a
// declared length of 0 (net/http's HTTP/2 client also sets it when the
// HEADERS frame carried END_STREAM), or no body at all. Such an answer is
// served the same way, head and end together: sent as a head and then an
// empty body, a gRPC trailers-only answer (its status in the head) would
// read as a stream that ended without its trailers.
func endedAtHead(resp *http.Response) bool {
	return resp.ContentLength == 0 || resp.Body == http.NoBody
}

// sentURL is the URL string of the outgoing request: the client's, unless
// a rule or an edit rewrote it.
func (x *exchange) sentURL(req *http.Request) string {
	if *req.URL != x.url {
		return req.URL.String()
	}
	return x.urlStr
}

// responseHeaders records the origin's response head and when the request
// was sent (the end of the blocked phase, see phases).
func (x *exchange) responseHeaders(resp *http.Response, sent time.Time) {
	x.mu.Lock()
	x.sentAt = sent
	x.mu.Unlock()
	x.h.UpstreamResponse(responseHead(resp.StatusCode, resp.Proto, resp.Header))
}

// serve is the last phase: the response to the client. A WebSocket whose
// origin agreed to switch protocols completes the client's handshake and
// relays messages; every other answer (an upgrade refused, mocked or
// failed included) is written as a response.
func (p *Proxy) serve(x *exchange, w http.ResponseWriter, r *http.Request, resp *http.Response) {
	if x.wsUp != nil {
		p.serveUpgrade(x, w, r, resp)
		return
	}
	if x.served != nil && x.served.abort != nil {
		// No answer: the flow records why, and no served head.
		_, _ = x.served.Read(nil)
	}
	p.servedHead(x, resp, r.Proto)
	p.writeResponse(w, resp)
	if fs := trailerFields(resp.Trailer); len(fs) > 0 {
		x.h.Trailers(flow.FacetResponse, fs)
	}
	switch {
	case x.served != nil && !x.served.eof:
		// The copy stops when writing to the client fails.
		x.fail(errors.New("client went away before the end of the response"))
	case x.clientCtx.Err() != nil:
		// The request context ends before the handler returns only when
		// the client went away (connection closed, stream reset).
		x.fail(errors.New("client went away"))
	}
}

// errKilled is the failure of an exchange ended from the dashboard.
var errKilled = errors.New("killed from the dashboard")

// loopError is a request that already went through this Loupe.
type loopError struct{ token string }

func (e *loopError) Error() string {
	return fmt.Sprintf("request loop: the request already went through this Loupe (its Via names %s), "+
		"so whatever it was sent to sent it back; it was not forwarded again", e.token)
}

// failure is the one error path of the pipeline: it records err as the
// flow's failure, in words, and returns the answer the client gets. Whose
// fault it was decides the answer: a killed exchange is cut off (no answer,
// the connection closed or the stream reset); a client whose request body
// failed gets 400 or 408 and its connection closed; anything else is the
// origin's (or the network's): 502, 504, 403 for one of Loupe's own
// listeners, 508 for a request loop, each with a plain-text cause.
func (p *Proxy) failure(x *exchange, req *http.Request, err error) *http.Response {
	clientGone := x.clientCtx != nil && x.clientCtx.Err() != nil
	if clientGone && x.reqBody != nil {
		x.reqBody.settled(time.Second)
	}
	if x.isKilled() {
		return p.abortAnswer(x, req, errKilled)
	}
	if berr := x.clientBodyErr(); berr != nil {
		// The round trip failed because the client's body did: the
		// client's fault, not the origin's (whose request the transport
		// aborted when the body failed).
		return p.clientFault(x, req, berr)
	}
	if clientGone {
		// Recorded first, so the flow says why rather than what followed.
		x.fail(fmt.Errorf("client went away: %w", err))
	}
	status, cause := classify(err)
	msg := "Loupe: " + err.Error()
	if cause != "" {
		msg = fmt.Sprintf("Loupe: %s (%s): %v", cause, req.URL.Host, err)
		err = fmt.Errorf("%s: %w", cause, err)
	}
	x.fail(err)
	p.log.Debug("exchange failed", "flow", x.h.ID(), "url", req.URL.String(), "err", err)
	resp := errorResponse(req, status, msg)
	x.served = &servedBody{x: x, src: resp.Body, record: true}
	resp.Body = x.served
	return resp
}

// abortAnswer is the answer that is none: serving it records err and cuts
// the client off (the connection closed, an HTTP/2 stream reset).
func (p *Proxy) abortAnswer(x *exchange, req *http.Request, err error) *http.Response {
	x.fail(err)
	resp := &http.Response{
		StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header), Request: req,
	}
	x.served = &servedBody{x: x, src: newBytesReader(nil), record: true, abort: err}
	resp.Body = x.served
	return resp
}

// clientFault answers a request whose body the client sent wrong or not at
// all: 408 when it stalled past BodyIdleTimeout, else 400, naming the cause.
// The client connection is closed after the answer: its framing cannot be
// trusted any more.
func (p *Proxy) clientFault(x *exchange, req *http.Request, err error) *http.Response {
	status, cause := http.StatusBadRequest, "the client's request body is malformed"
	var ne net.Error
	switch {
	case errors.Is(err, errBodyTooSlow):
		status = http.StatusRequestTimeout
		cause = fmt.Sprintf("the client's request body arrived slower than %d bytes/s", p.cfg.BodyMinRate)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		status = http.StatusRequestTimeout
		cause = fmt.Sprintf("the client sent no request body bytes for %s", p.cfg.BodyIdleTimeout)
	case errors.Is(err, io.ErrUnexpectedEOF):
		cause = "the client ended its request body early"
	}
	x.fail(fmt.Errorf("%s: %w", cause, err))
	p.log.Debug("client request body failed", "flow", x.h.ID(), "url", req.URL.String(), "err", err)
	resp := errorResponse(req, status, fmt.Sprintf("Loupe: %s: %v", cause, err))
	resp.Header.Set("Connection", "close")
	resp.Close = true
	x.served = &servedBody{x: x, src: resp.Body, record: true}
	resp.Body = x.served
	return resp
}
