package proxy

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"loupe/proxy/flow"
)

// Live exchanges.
//
// Every exchange in flight is in the registry, by flow ID, from its
// request head until its handler returns, so that the dashboard can reach
// it: kill it, or release it from a breakpoint (breakpoint.go). The
// registry is owned here; cmd/loupe hands the dashboard the methods below
// (Held, Release, ReleaseAll, Kill, SetViewers, WatchHeld,
// BreakpointHits) through a small interface, as it does Replay.
//
// An exchange whose flow is not recorded (capture paused) has no ID and is
// not in the registry: it cannot be addressed, so it is never held either.

// live is the registry of exchanges in flight and of those held at a
// breakpoint.
type live struct {
	mu   sync.Mutex
	m    map[flow.ID]*exchange
	held map[flow.ID]*hold
	// viewers is how many dashboards are connected (SetViewers); grace
	// runs once the last one left while exchanges were held.
	viewers int
	grace   *time.Timer
	closing bool
	// hits counts, per rule ID, how many exchanges its breakpoint held.
	hits map[string]*hitCount
	// watchers are told (without waiting) when the held list changes.
	watchers map[int]func()
	nextW    int
}

func newLive() *live {
	return &live{m: make(map[flow.ID]*exchange), held: make(map[flow.ID]*hold)}
}

// add enters x in the registry.
func (l *live) add(x *exchange) {
	id := x.h.ID()
	if id == 0 {
		return
	}
	l.mu.Lock()
	l.m[id] = x
	l.mu.Unlock()
}

// remove takes x out of the registry.
func (l *live) remove(x *exchange) {
	id := x.h.ID()
	if id == 0 {
		return
	}
	l.mu.Lock()
	if l.m[id] == x {
		delete(l.m, id)
	}
	l.mu.Unlock()
}

// get returns the exchange in flight with that flow ID, or nil.
func (l *live) get(id flow.ID) *exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[id]
}

// notify tells every watcher that the held list changed. Watchers must
// not block (they poke a channel).
func (l *live) notify() {
	l.mu.Lock()
	fns := make([]func(), 0, len(l.watchers))
	for _, fn := range l.watchers {
		fns = append(fns, fn)
	}
	l.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// WatchHeld calls fn whenever the list of held exchanges changes (an
// exchange held, released, or its message edited), until cancel is called.
// fn must not block: the proxy calls it on its own goroutines.
func (p *Proxy) WatchHeld(fn func()) (cancel func()) {
	l := p.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.watchers == nil {
		l.watchers = make(map[int]func())
	}
	id := l.nextW
	l.nextW++
	l.watchers[id] = fn
	return func() {
		l.mu.Lock()
		delete(l.watchers, id)
		l.mu.Unlock()
	}
}

// SetViewers tells the proxy how many dashboards are connected (the web
// hub calls it as they come and go). Breakpoints hold exchanges only while
// at least one is: nobody would see them otherwise. When the last one
// leaves, the held exchanges take their timeout action after a grace
// period (Config.BreakpointGrace), which a dashboard that reconnects in
// time (a page reload) cancels.
func (p *Proxy) SetViewers(n int) {
	l := p.live
	l.mu.Lock()
	defer l.mu.Unlock()
	l.viewers = max(n, 0)
	switch {
	case l.viewers > 0 && l.grace != nil:
		l.grace.Stop()
		l.grace = nil
	case l.viewers == 0 && len(l.held) > 0 && l.grace == nil:
		l.grace = time.AfterFunc(p.cfg.BreakpointGrace, p.nobodyWatching)
	}
}

// nobodyWatching releases every held exchange with its timeout action,
// once the grace period after the last dashboard left has passed.
func (p *Proxy) nobodyWatching() {
	l := p.live
	l.mu.Lock()
	l.grace = nil
	if l.viewers > 0 {
		l.mu.Unlock()
		return
	}
	hs := l.heldLocked()
	l.mu.Unlock()
	for _, h := range hs {
		_ = h.decideTimeout(flow.ByNoDashboard)
	}
}

// heldLocked lists the held exchanges, oldest first.
func (l *live) heldLocked() []*hold {
	hs := make([]*hold, 0, len(l.held))
	for _, h := range l.held {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b *hold) int { return a.since.Compare(b.since) })
	return hs
}

// releaseAllHeld gives every held exchange its timeout action; Shutdown
// calls it first, so that nothing waits on a person who will not come.
func (p *Proxy) releaseAllHeld(by string) {
	l := p.live
	l.mu.Lock()
	l.closing = true
	if l.grace != nil {
		l.grace.Stop()
		l.grace = nil
	}
	hs := l.heldLocked()
	l.mu.Unlock()
	for _, h := range hs {
		_ = h.decideTimeout(by)
	}
}

// Kill ends an exchange in flight: its client side is cut off (an
// HTTP/1 connection closed, an HTTP/2 stream reset, a WebSocket's
// connections closed) and its upstream request cancelled (the body closed),
// and the flow fails with "killed from the dashboard". A held exchange is
// aborted. ErrNotLive when no exchange with that ID is in flight.
func (p *Proxy) Kill(id flow.ID) error {
	x := p.live.get(id)
	if x == nil {
		return flow.ErrNotLive
	}
	x.kill()
	p.live.mu.Lock()
	h := p.live.held[id]
	p.live.mu.Unlock()
	if h != nil {
		_ = h.decide(decision{rel: flow.Release{Action: flow.ReleaseAbort}, by: flow.ByKill})
	}
	return nil
}

// kill marks x as killed, stops its upstream step and cuts its client
// side off. The handler, wherever it is, then ends with no answer: a round
// trip or a body read fails and the pipeline's one error path sees that
// the exchange was killed.
func (x *exchange) kill() {
	x.fail(errKilled)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.killed = true
	if x.stop != nil {
		x.stop()
	}
	if x.handlerOut || x.w == nil || x.wsUp != nil {
		// Gone, a replay, or a WebSocket (stop closed its connections).
		return
	}
	// Safe from another goroutine while the handler runs (held off by
	// x.mu until it has): an HTTP/2 stream given a write deadline in the
	// past is reset at once, and only that stream; an HTTP/1 connection
	// whose deadlines passed fails its reads and writes, so net/http closes
	// it.
	rc := http.NewResponseController(x.w)
	past := time.Unix(1, 0)
	_ = rc.SetWriteDeadline(past)
	if !x.h2 {
		_ = rc.SetReadDeadline(past)
	}
}

// isKilled reports whether the exchange was killed.
func (x *exchange) isKilled() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.killed
}

// setStop installs what ends the exchange's current upstream step on a
// kill. It reports false, having installed nothing, when the exchange was
// killed already.
func (x *exchange) setStop(stop func()) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.killed {
		return false
	}
	x.stop = stop
	return true
}
