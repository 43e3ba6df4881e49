package disk

import (
	"slices"
	"sync"
	"time"
	"unsafe"

	"loupe/proxy/flow"
)

// facetIndex maps a facet to its slot (and its number in the bodies table).
func facetIndex(f flow.Facet) int {
	switch f {
	case flow.FacetRequest:
		return 0
	case flow.FacetResponse:
		return 1
	case flow.FacetUpstream:
		return 2
	}
	return -1
}

var facets = [3]flow.Facet{flow.FacetRequest, flow.FacetResponse, flow.FacetUpstream}

// facetState is what the recorder knows of one body: what crossed the
// proxy and what it handed to the writer.
type facetState struct {
	size      int64 // bytes seen
	accepted  int64 // bytes queued for the writer
	truncated bool  // bytes were dropped (body cap or full queue)
	complete  bool
	// stopped: a chunk was dropped for lack of queue room, so later chunks
	// are dropped too (keeping them would leave a hole in the body).
	stopped bool
}

// handle is a flow being recorded. The proxy's calls update it under its
// own mutex (never the store's), and queue an event for the writer; the
// writer snapshots it when it writes. The fields after w belong to the
// writer goroutine alone.
type handle struct {
	s  *Store
	id flow.ID

	mu       sync.Mutex
	f        flow.Flow // without WebSocket messages; body facts filled at snapshot
	kinds    []string  // the kind of each rule hit, parallel to f.Rules
	facets   [3]facetState
	dirty    bool // an evFlow is waiting
	finished bool
	gone     bool // deleted, evicted or cleared: record nothing more
	// lent are the buffers lent to the proxy and not yet given back
	// (flow.BodyLender); at most a couple at a time.
	lent []*lentBuf

	w writerState
	b batchState // the writer's marks during one batch
}

var (
	_ flow.Handle     = (*handle)(nil)
	_ flow.BodyLender = (*handle)(nil)
)

// writerState is the writer's view of a flow: what it has written. Saved
// before each batch and restored when the batch's transaction fails.
type writerState struct {
	written bool  // the row exists (committed)
	session int64 // the session the row is in, once written
	stored  int64 // bytes counted for the flow in the session's total
	rules   int   // rule hits written
	wsSeq   int   // messages written
	wsBytes int64
	facets  [3]facetWriter
	// ended: a row of the flow's final state was written; textState is
	// the text_state the writer gave it (textNone: the text index has
	// it from indexText, if at all).
	ended     bool
	textState int
}

// facetWriter is the writer's view of one body.
type facetWriter struct {
	written int64 // bytes stored
	seq     int   // parts written
	segment bool  // past InlineMax: new parts go to segment files
	// The newest part when it is a segment extent, so that bytes that
	// follow it in the same segment extend it rather than add a part.
	lastSeg, lastEnd int64
	failed           bool // a write failed: the rest of the body is dropped
}

func (h *handle) ID() flow.ID { return h.id }

// markDirtyLocked queues an evFlow unless one is waiting; h.mu is held.
func (h *handle) markDirtyLocked() {
	if h.dirty {
		return
	}
	h.dirty = true
	h.s.q.push(event{h: h, kind: evFlow})
}

// update runs fn on the head unless the flow is finished or gone.
func (h *handle) update(fn func(f *flow.Flow)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished || h.gone {
		return
	}
	fn(&h.f)
	h.markDirtyLocked()
}

func (h *handle) UpstreamRequest(req flow.Request) {
	h.update(func(f *flow.Flow) { f.UpstreamRequest = &req })
}

func (h *handle) UpstreamResponse(resp flow.Response) {
	h.update(func(f *flow.Flow) {
		f.UpstreamResponse = &resp
		if f.UpstreamBody != nil {
			*f.UpstreamBody = bodyHead(resp.Header)
		}
	})
}

func (h *handle) Response(resp flow.Response) {
	h.update(func(f *flow.Flow) {
		f.Response = &resp
		f.ResponseBody = bodyHead(resp.Header)
	})
}

// bodyHead derives a body's encoding and type from its message's headers.
func bodyHead(h flow.Fields) flow.Body {
	return flow.Body{Encoding: h.Get("Content-Encoding"), ContentType: h.Get("Content-Type")}
}

// Body copies what fits into the queue and counts the rest: it never waits
// for the writer. Once a chunk of a facet is refused for lack of room, the
// rest of that facet is dropped, so a stored body is always a prefix of the
// real one.
func (h *handle) Body(facet flow.Facet, p []byte) {
	i := facetIndex(facet)
	if len(p) == 0 || i < 0 {
		return
	}
	s := h.s
	n := int64(len(p))
	h.mu.Lock()
	if h.finished || h.gone {
		h.mu.Unlock()
		return
	}
	fs := &h.facets[i]
	if i == 2 && h.f.UpstreamBody == nil {
		ub := flow.Body{}
		if h.f.UpstreamResponse != nil {
			ub = bodyHead(h.f.UpstreamResponse.Header)
		}
		h.f.UpstreamBody = &ub
		h.markDirtyLocked()
	}
	fs.size += n
	keep := min(n, s.cfg.BodyCap-fs.accepted)
	if fs.stopped || keep < 0 {
		keep = 0
	}
	// A lent buffer is kept as it is when the bytes fill enough of it to
	// be worth its room in the queue; anything else is copied.
	lb := h.lentLocked(p)
	if lb != nil && (keep != n || 2*n < int64(cap(lb.b)) || !s.q.reserve(int64(cap(lb.b)))) {
		lb = nil
	}
	if lb == nil && keep > 0 && !s.q.reserve(keep) {
		keep = 0
		fs.stopped = true
	}
	if lb != nil {
		lb.refs.Add(1) // the event's, taken under h.mu: ReturnBody cannot free it first
	}
	if keep < n {
		if !fs.truncated {
			s.c.truncBodies.Add(1)
		}
		fs.truncated = true
		s.c.truncBytes.Add(uint64(n - keep))
	}
	fs.accepted += keep
	h.mu.Unlock()
	if keep == 0 {
		return
	}
	e := event{h: h, kind: evBody, facet: int8(i), data: p, lent: lb}
	if lb == nil {
		e.data = s.q.bufs.get(int(keep))
		copy(e.data, p)
	}
	if !s.q.push(e) {
		s.q.release(e.reserved())
		e.done(&s.q.bufs)
	}
}

// lentLocked is the lent buffer that p starts, if any; h.mu is held.
func (h *handle) lentLocked(p []byte) *lentBuf {
	for _, lb := range h.lent {
		if unsafe.SliceData(lb.b) == unsafe.SliceData(p) {
			return lb
		}
	}
	return nil
}

// lendMin is the smallest read worth a lent buffer: below it the copy is
// cheap, and a pool buffer held for a few bytes would crowd the queue.
const lendMin = 16 << 10

// LendBody lends a pool buffer to read a body into (flow.BodyLender), so
// that Body can queue the bytes read without copying them.
func (h *handle) LendBody(n int) []byte {
	if n < lendMin {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished || h.gone {
		return nil
	}
	lb := h.s.q.bufs.lend(n)
	h.lent = append(h.lent, lb)
	return lb.b
}

// ReturnBody takes back a buffer from LendBody; it returns to the pool
// once the writer, too, is done with what Body queued from it.
func (h *handle) ReturnBody(b []byte) {
	h.mu.Lock()
	lb := h.lentLocked(b)
	if lb != nil {
		h.lent = slices.DeleteFunc(h.lent, func(x *lentBuf) bool { return x == lb })
	}
	h.mu.Unlock()
	if lb != nil {
		lb.release(&h.s.q.bufs)
	}
}

func (h *handle) BodyEnd(facet flow.Facet) {
	i := facetIndex(facet)
	if i < 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished || h.gone {
		return
	}
	if i == 2 && h.f.UpstreamBody == nil {
		ub := flow.Body{}
		if h.f.UpstreamResponse != nil {
			ub = bodyHead(h.f.UpstreamResponse.Header)
		}
		h.f.UpstreamBody = &ub
	}
	h.facets[i].complete = true
	h.markDirtyLocked()
}

// WebSocket queues one message, or counts it dropped when the queue is
// full.
func (h *handle) WebSocket(msg flow.WSMessage) {
	s := h.s
	keep := min(int64(len(msg.Data)), s.cfg.BodyCap)
	h.mu.Lock()
	gone := h.finished || h.gone
	h.mu.Unlock()
	if gone {
		return
	}
	if !s.q.reserve(keep) {
		s.c.droppedMsgs.Add(1)
		return
	}
	data := make([]byte, keep)
	copy(data, msg.Data)
	if msg.Size < len(msg.Data) {
		msg.Size = len(msg.Data)
	}
	m := wsCopy(msg, data, keep < int64(len(msg.Data)))
	if !s.q.push(event{h: h, kind: evWS, data: data, ws: m}) {
		s.q.release(keep)
	}
}

func (h *handle) Rule(id string, kind string) {
	h.update(func(f *flow.Flow) {
		f.Rules = append(f.Rules, id)
		h.kinds = append(h.kinds, kind)
		if kind != "" && f.Overridden == "" {
			f.Overridden = kind
		}
	})
}

func (h *handle) Target(target, serverName string) {
	h.update(func(f *flow.Flow) { f.Tunnel = &flow.Tunnel{Target: target, ServerName: serverName} })
}

// MappedTo records where a host mapping sent the request.
func (h *handle) MappedTo(addr string) {
	h.update(func(f *flow.Flow) {
		f.Tunnel = f.Tunnel.WithMappedTo(addr)
	})
}

// Trailers records the trailers of one facet's message, known at its end.
func (h *handle) Trailers(facet flow.Facet, t flow.Fields) {
	if len(t) == 0 {
		return
	}
	h.update(func(f *flow.Flow) {
		switch facet {
		case flow.FacetRequest:
			f.Request.Trailers = t
		case flow.FacetUpstream:
			if f.UpstreamResponse != nil {
				f.UpstreamResponse.Trailers = t
			}
		case flow.FacetResponse:
			if f.Response != nil {
				f.Response.Trailers = t
			}
		}
	})
}

func (h *handle) Tunnel(kind flow.Kind, t flow.Tunnel) {
	h.update(func(f *flow.Flow) {
		f.Kind = kind
		f.Tunnel = &t
	})
}

// Relayed counts bytes a tunnel carried without capturing them.
func (h *handle) Relayed(facet flow.Facet, n int) {
	i := facetIndex(facet)
	if n <= 0 || i < 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished || h.gone {
		return
	}
	h.facets[i].size += int64(n)
	h.markDirtyLocked()
}

func (h *handle) UpstreamNotKept(reason string) {
	first := false
	h.update(func(f *flow.Flow) {
		if f.UpstreamNotKept == "" {
			f.UpstreamNotKept = reason
			first = true
		}
	})
	if first {
		h.s.c.notKept.Add(1)
	}
}

func (h *handle) Breakpoint(b flow.Breakpoint) {
	h.update(func(f *flow.Flow) { f.Breakpoint = &b })
}

func (h *handle) ReplayOf(id flow.ID) {
	h.update(func(f *flow.Flow) { f.ReplayOf = id })
}

func (h *handle) Composed(from flow.ID) {
	h.update(func(f *flow.Flow) { f.Composed, f.ComposedFrom = true, from })
}

func (h *handle) Timings(t flow.Timings) {
	h.update(func(f *flow.Flow) { f.Timings = t })
}

func (h *handle) Finish(end time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished || h.gone {
		return
	}
	h.f.End = end
	if err != nil {
		h.f.State = flow.StateError
		h.f.Error = err.Error()
	} else {
		h.f.State = flow.StateDone
	}
	h.finished = true
	h.markDirtyLocked()
}

// snap is a consistent copy of a handle for the writer.
type snap struct {
	f        flow.Flow
	kinds    []string
	facets   [3]facetState
	finished bool
	gone     bool
}

// snapshot copies the head for writing and clears the dirty mark: a change
// after it queues a new evFlow. Heads are never changed in place once
// recorded and Rules only grows, so a shallow copy with capped slices is
// safe to read after the lock is released.
func (h *handle) snapshot() snap {
	h.mu.Lock()
	defer h.mu.Unlock()
	sn := snap{f: h.f, facets: h.facets, finished: h.finished, gone: h.gone}
	sn.f.Rules = h.f.Rules[:len(h.f.Rules):len(h.f.Rules)]
	sn.kinds = h.kinds[:len(h.kinds):len(h.kinds)]
	if h.f.UpstreamBody != nil {
		ub := *h.f.UpstreamBody
		sn.f.UpstreamBody = &ub
	}
	h.dirty = false
	return sn
}

// markGone stops recording (the flow was deleted, evicted or cleared).
func (h *handle) markGone() {
	h.mu.Lock()
	h.gone = true
	h.mu.Unlock()
}

// redirty queues an evFlow again after a failed batch, so that a later
// batch writes the flow's row. It pushes even when the flow is marked dirty:
// the failed batch may have consumed the waiting event before it could
// snapshot the flow.
func (h *handle) redirty() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.gone {
		h.dirty = true
		h.s.q.push(event{h: h, kind: evFlow})
	}
}

// noop is the handle of a flow that is not recorded (store paused, closed
// or its queue of new flows full).
type noop struct{}

func (noop) ID() flow.ID                      { return 0 }
func (noop) UpstreamRequest(flow.Request)     {}
func (noop) UpstreamResponse(flow.Response)   {}
func (noop) Response(flow.Response)           {}
func (noop) Body(flow.Facet, []byte)          {}
func (noop) BodyEnd(flow.Facet)               {}
func (noop) WebSocket(flow.WSMessage)         {}
func (noop) Rule(string, string)              {}
func (noop) ReplayOf(flow.ID)                 {}
func (noop) Composed(flow.ID)                 {}
func (noop) Target(string, string)            {}
func (noop) Tunnel(flow.Kind, flow.Tunnel)    {}
func (noop) MappedTo(string)                  {}
func (noop) Trailers(flow.Facet, flow.Fields) {}
func (noop) Relayed(flow.Facet, int)          {}
func (noop) UpstreamNotKept(string)           {}
func (noop) Breakpoint(flow.Breakpoint)       {}
func (noop) Timings(flow.Timings)             {}
func (noop) Finish(time.Time, error)          {}
