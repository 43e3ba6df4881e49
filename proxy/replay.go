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
// (WebSocket upgrades, URLs that are not http or https).
var ErrNotReplayable = errors.New("flow cannot be replayed")

// replayKey carries a replay's replayStart in its request's context.
type replayKey struct{}

// replayStart is what the pipeline does for a replay when its flow begins.
type replayStart struct {
	began func(flow.Handle)
	opts  ReplayOptions
}

// ReplayOptions are the choices of ReplayWith.
type ReplayOptions struct {
	// Breakpoints lets breakpoint rules hold the request like any other;
	// by default replays (and composed requests) are exempt: the person
	// who sent them is watching already.
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

// ReplayWith is Replay with options. A request composed in the dashboard
// goes through it too: f then holds the composed request.
func (p *Proxy) ReplayWith(ctx context.Context, f *flow.Flow, body []byte, opts ReplayOptions) (flow.ID, error) {
	u, err := url.Parse(f.Request.URL)
	if err != nil {
		return 0, fmt.Errorf("replay %d: %w", f.ID, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || f.IsWebSocket() {
		return 0, fmt.Errorf("replay %d (%s): %w", f.ID, f.Request.URL, ErrNotReplayable)
	}
	method := f.Request.Method
	if method == "" || method == http.MethodConnect {
		return 0, fmt.Errorf("replay %d: method %q: %w", f.ID, method, ErrNotReplayable)
	}
	h := f.Request.Header.Header()
	removeHopHeaders(h, true)
	h.Del("Content-Length")

	rctx, cancel := context.WithCancel(p.ctx)
	if f.Tunnel != nil {
		// The original went to its tunnel's target: so does the replay,
		// verified against the same name (see target.go). route checks
		// the target as it checks a tunnel's.
		t := &tunnelDest{addr: f.Tunnel.Target, serverName: f.Tunnel.ServerName}
		if t.addr == "" {
			t.addr = hostPort(u)
		}
		if t.serverName == "" && u.Scheme == "https" {
			t.serverName = u.Hostname()
		}
		rctx = withTunnel(rctx, t)
	}
	began := make(chan flow.ID, 1)
	rctx = context.WithValue(rctx, replayKey{}, &replayStart{opts: opts, began: func(hd flow.Handle) {
		if f.ID != 0 {
			hd.ReplayOf(f.ID)
		}
		began <- hd.ID()
	}})
	req, err := http.NewRequestWithContext(rctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		cancel()
		return 0, fmt.Errorf("replay %d: %w", f.ID, err)
	}
	switch {
	case len(f.Request.Trailers) > 0:
		// The recorded trailers go after the body, as the client sent
		// them (a gRPC client may send metadata there). Unknown length:
		// HTTP/1.1 carries trailers only in chunked framing.
		req.Trailer = f.Request.Trailers.Header()
		req.ContentLength = -1
	case len(body) == 0:
		req.Body = http.NoBody
	}
	req.Header = h
	req.Host = u.Host
	req.RemoteAddr = "replay"
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	if u.Scheme == "http" && f.Request.Proto == "HTTP/2.0" {
		// The original spoke HTTP/2 without TLS (see h2c.go): an origin
		// that knows only that gets it again.
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
		defer p.survive("replay", nil)
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
			return 0, fmt.Errorf("replay %d (%s): refused: %w", f.ID, f.Request.URL, ErrNotReplayable)
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("replay %d: %w", f.ID, ctx.Err())
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
