package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"loupe/proxy/flow"
)

// ErrNotReplayable is returned by Replay for flows it cannot send again
// (WebSocket upgrades, URLs that are not http or https), and by Compose for
// requests it cannot send.
var ErrNotReplayable = errors.New("flow cannot be replayed")

// replayKey carries a replayStart in the context of a request Loupe sends
// itself (a replay, a composed request).
type replayKey struct{}

// replayStart is what the pipeline does for such a request when its flow
// begins.
type replayStart struct {
	began func(flow.Handle)
	opts  ReplayOptions
}

// ReplayOptions are the choices of ReplayWith.
type ReplayOptions struct {
	// Breakpoints lets breakpoint rules hold the request like any other;
	// by default replays and composed requests are exempt: the person who
	// sent them is watching already.
	Breakpoints bool
}

// Replay sends f's request again, with body as its body, through the same
// path as client requests (rules, recording), to the same place (f.Tunnel's
// target and TLS name, when it has them). It returns the new flow's ID as
// soon as the flow is recorded; the exchange goes on in the background and
// its answer is recorded, not returned. ctx bounds only the start.
// Breakpoints do not hold it (see ReplayWith).
func (p *Proxy) Replay(ctx context.Context, f *flow.Flow, body []byte) (flow.ID, error) {
	return p.ReplayWith(ctx, f, body, ReplayOptions{})
}

// ReplayWith is Replay with options.
func (p *Proxy) ReplayWith(ctx context.Context, f *flow.Flow, body []byte, opts ReplayOptions) (flow.ID, error) {
	what := fmt.Sprintf("replay %d", f.ID)
	u, err := url.Parse(f.Request.URL)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || f.IsWebSocket() {
		return 0, fmt.Errorf("%s (%s): %w", what, f.Request.URL, ErrNotReplayable)
	}
	method := f.Request.Method
	if method == "" || method == http.MethodConnect {
		return 0, fmt.Errorf("%s: method %q: %w", what, method, ErrNotReplayable)
	}
	o := outbound{
		what: what, method: method, url: u, header: f.Request.Header.Header(), body: body,
		remote: "replay", mark: func(hd flow.Handle) { hd.ReplayOf(f.ID) }, opts: opts,
	}
	o.sameDestination(f)
	if len(f.Request.Trailers) > 0 {
		// The recorded trailers go after the body, as the client sent
		// them (a gRPC client may send metadata there).
		o.trailers = f.Request.Trailers.Header()
	}
	return p.send(ctx, o)
}

// Compose sends a request written in the dashboard (req's method, URL and
// header fields, body as its body) through the same path as Replay, and
// records it as composed from `from` (nil: written from scratch). When req
// addresses the same scheme, host and port as from, it goes where from went
// (its tunnel's target and TLS name, HTTP/2 without TLS when from spoke
// it); otherwise where its URL says. Hop-by-hop and framing fields are
// dropped: the length is computed from body. Like Replay it returns once
// the flow is recorded. Breakpoints do not hold it (see ComposeWith).
func (p *Proxy) Compose(ctx context.Context, req flow.Request, body []byte, from *flow.Flow) (flow.ID, error) {
	return p.ComposeWith(ctx, req, body, from, ReplayOptions{})
}

// ComposeWith is Compose with options: a person testing a breakpoint rule
// with a request of their own lets it be held.
func (p *Proxy) ComposeWith(ctx context.Context, req flow.Request, body []byte, from *flow.Flow, opts ReplayOptions) (flow.ID, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return 0, fmt.Errorf("compose: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return 0, fmt.Errorf("compose (%s): only http and https URLs with a host and no credentials: %w", req.URL, ErrNotReplayable)
	}
	if req.Method == "" || req.Method == http.MethodConnect {
		return 0, fmt.Errorf("compose: method %q: %w", req.Method, ErrNotReplayable)
	}
	h := req.Header.Header()
	if upgradeType(h) != "" {
		return 0, fmt.Errorf("compose: a protocol upgrade (%s): %w", h.Get("Upgrade"), ErrNotReplayable)
	}
	h.Del("Host") // the URL names the host
	var fromID flow.ID
	if from != nil {
		fromID = from.ID
	}
	o := outbound{
		what: "compose", method: req.Method, url: u, header: h, body: body,
		remote: "compose", mark: func(hd flow.Handle) { hd.Composed(fromID) }, opts: opts,
	}
	if from != nil {
		if fu, err := url.Parse(from.Request.URL); err == nil && fu.Scheme == u.Scheme && sameHostPort(hostPort(fu), hostPort(u)) {
			o.sameDestination(from)
		}
	}
	return p.send(ctx, o)
}

// outbound is a request Loupe itself sends through its pipeline (a replay,
// a composed request): it enters route as a client's request would, with a
// writer nobody reads, and is recorded like any other.
type outbound struct {
	what     string // for errors: "replay 12", "compose"
	method   string
	url      *url.URL
	header   http.Header // the request's own fields; hop-by-hop ones are removed here
	body     []byte
	trailers http.Header // sent after the body (chunked), when set
	// tunnel, when set, is where the request goes instead of its URL's
	// host, verified against its serverName (see target.go).
	tunnel *tunnelDest
	// h2c makes a plain-HTTP request speak HTTP/2 without TLS.
	h2c bool
	// remote is what the flow records as its client.
	remote string
	// mark records on the new flow where it came from.
	mark func(flow.Handle)
	opts ReplayOptions
}

// sameDestination makes o go where f went: f's tunnel target and TLS name
// when it had them, HTTP/2 without TLS when f spoke it over plain HTTP.
func (o *outbound) sameDestination(f *flow.Flow) {
	u := o.url
	if f.Tunnel != nil {
		t := &tunnelDest{addr: f.Tunnel.Target, serverName: f.Tunnel.ServerName}
		if t.addr == "" {
			t.addr = hostPort(u)
		}
		if t.serverName == "" && u.Scheme == "https" {
			t.serverName = u.Hostname()
		}
		o.tunnel = t
	}
	// The original spoke HTTP/2 without TLS (see h2c.go): an origin that
	// knows only that gets it again.
	o.h2c = u.Scheme == "http" && f.Request.Proto == "HTTP/2.0"
}

// send runs o through route in the background and returns the new flow's
// ID once it is recorded. ctx bounds only the start.
func (p *Proxy) send(ctx context.Context, o outbound) (flow.ID, error) {
	h := o.header
	removeHopHeaders(h, true)
	h.Del("Content-Length")

	rctx, cancel := context.WithCancel(p.ctx)
	if o.tunnel != nil {
		// route checks the target as it checks a tunnel's.
		rctx = withTunnel(rctx, o.tunnel)
	}
	began := make(chan flow.ID, 1)
	rctx = context.WithValue(rctx, replayKey{}, &replayStart{opts: o.opts, began: func(hd flow.Handle) {
		o.mark(hd)
		began <- hd.ID()
	}})
	req, err := http.NewRequestWithContext(rctx, o.method, o.url.String(), bytes.NewReader(o.body))
	if err != nil {
		cancel()
		return 0, fmt.Errorf("%s: %w", o.what, err)
	}
	switch {
	case len(o.trailers) > 0:
		// Unknown length: HTTP/1.1 carries trailers only in chunked framing.
		req.Trailer = o.trailers
		req.ContentLength = -1
	case len(o.body) == 0:
		req.Body = http.NoBody
	}
	req.Header = h
	req.Host = o.url.Host
	req.RemoteAddr = o.remote
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	if o.h2c {
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
	}

	if !p.enter() {
		cancel()
		return 0, errShuttingDown
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer p.conns.Done()
		defer cancel()
		defer p.survive(o.what, nil)
		p.route(&discardWriter{h: make(http.Header)}, req)
	}()
	select {
	case id := <-began:
		return id, nil
	case <-finished:
		select {
		case id := <-began:
			return id, nil
		default:
			// route answered without recording a flow: the request
			// named Loupe itself or its dashboard.
			return 0, fmt.Errorf("%s (%s): refused, the destination is Loupe itself or its dashboard: %w", o.what, o.url, ErrNotReplayable)
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("%s: %w", o.what, ctx.Err())
	}
}

// discardWriter is the client side of a replay: the answer is recorded,
// nobody reads it.
type discardWriter struct {
	h http.Header
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

var _ io.Writer = (*discardWriter)(nil)
