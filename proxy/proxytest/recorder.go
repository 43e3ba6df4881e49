// Package proxytest provides what tests of the proxy need: an in-memory
// Recorder, a proxy on 127.0.0.1:0 with a throw-away CA, clients that trust
// it, and origins (plain, TLS with HTTP/2, streaming).
package proxytest

import (
	"sync"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// DefaultBodyCap is how many bytes of each body the Recorder keeps.
const DefaultBodyCap = 1 << 20

// Recorder is a thread-safe in-memory flow.Recorder for assertions.
type Recorder struct {
	// BodyCap bounds the bytes kept per body facet (sizes are still
	// counted). Zero means DefaultBodyCap. Set it before use.
	BodyCap int64

	mu    sync.Mutex
	next  flow.ID
	flows []*recorded
}

type recorded struct {
	f        flow.Flow
	bodies   map[flow.Facet][]byte
	finished bool
}

var _ flow.Recorder = (*Recorder)(nil)

// Begin implements flow.Recorder.
func (r *Recorder) Begin(client string, req flow.Request, start time.Time) flow.Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	rec := &recorded{
		f:      flow.Flow{ID: r.next, Start: start, Client: client, State: flow.StatePending, Request: req, Timings: flow.NoTimings},
		bodies: make(map[flow.Facet][]byte),
	}
	r.flows = append(r.flows, rec)
	return &handle{r: r, rec: rec}
}

// Flows returns copies of every flow recorded so far, in order.
func (r *Recorder) Flows() []flow.Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]flow.Recorded, 0, len(r.flows))
	for _, rec := range r.flows {
		out = append(out, rec.copy())
	}
	return out
}

// Finished reports how many flows have finished.
func (r *Recorder) Finished() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.flows {
		if rec.finished {
			n++
		}
	}
	return n
}

// WaitFinished waits until at least n flows finished and returns them all.
func (r *Recorder) WaitFinished(tb testing.TB, n int, timeout time.Duration) []flow.Recorded {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for r.Finished() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d flows finished after %v, want %d", r.Finished(), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r.Flows()
}

// Last waits for the last flow to finish and returns it.
func (r *Recorder) Last(tb testing.TB) flow.Recorded {
	tb.Helper()
	r.mu.Lock()
	n := len(r.flows)
	r.mu.Unlock()
	if n == 0 {
		tb.Fatal("no flow recorded")
	}
	fs := r.WaitFinished(tb, n, 10*time.Second)
	return fs[n-1]
}

func (rec *recorded) copy() flow.Recorded {
	c := flow.Recorded{Flow: *rec.f.Clone(), Bodies: make(map[flow.Facet][]byte, len(rec.bodies))}
	for k, v := range rec.bodies {
		c.Bodies[k] = append([]byte(nil), v...)
	}
	return c
}

type handle struct {
	r   *Recorder
	rec *recorded
}

func (h *handle) update(fn func(f *flow.Flow)) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	if h.rec.finished {
		return
	}
	fn(&h.rec.f)
}

func (h *handle) ID() flow.ID { return h.rec.f.ID }

func (h *handle) UpstreamRequest(req flow.Request) {
	h.update(func(f *flow.Flow) { f.UpstreamRequest = &req })
}

func (h *handle) UpstreamResponse(resp flow.Response) {
	h.update(func(f *flow.Flow) { f.UpstreamResponse = &resp })
}

func (h *handle) Response(resp flow.Response) { h.update(func(f *flow.Flow) { f.Response = &resp }) }

func (h *handle) facet(f *flow.Flow, facet flow.Facet) *flow.Body {
	switch facet {
	case flow.FacetRequest:
		return &f.RequestBody
	case flow.FacetUpstream:
		if f.UpstreamBody == nil {
			f.UpstreamBody = &flow.Body{}
		}
		return f.UpstreamBody
	default:
		return &f.ResponseBody
	}
}

func (h *handle) Body(facet flow.Facet, p []byte) {
	h.update(func(f *flow.Flow) {
		b := h.facet(f, facet)
		b.Size += int64(len(p))
		limit := h.r.BodyCap
		if limit == 0 {
			limit = DefaultBodyCap
		}
		kept := h.rec.bodies[facet]
		if room := limit - int64(len(kept)); room > 0 {
			take := p[:min(int64(len(p)), room)]
			h.rec.bodies[facet] = append(kept, take...)
			b.Captured += int64(len(take))
		}
		b.Truncated = b.Captured < b.Size
	})
}

func (h *handle) BodyEnd(facet flow.Facet) {
	h.update(func(f *flow.Flow) { h.facet(f, facet).Complete = true })
}

func (h *handle) Trailers(facet flow.Facet, t flow.Fields) {
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

func (h *handle) WebSocket(msg flow.WSMessage) {
	h.update(func(f *flow.Flow) { f.WebSocket = append(f.WebSocket, msg) })
}

func (h *handle) Rule(id, kind string) {
	h.update(func(f *flow.Flow) {
		f.Rules = append(f.Rules, id)
		if kind != "" && f.Overridden == "" {
			f.Overridden = kind
		}
	})
}

func (h *handle) ReplayOf(id flow.ID) { h.update(func(f *flow.Flow) { f.ReplayOf = id }) }

func (h *handle) Composed(from flow.ID) {
	h.update(func(f *flow.Flow) { f.Composed, f.ComposedFrom = true, from })
}

func (h *handle) Target(target, serverName string) {
	h.update(func(f *flow.Flow) { f.Tunnel = &flow.Tunnel{Target: target, ServerName: serverName} })
}

func (h *handle) MappedTo(addr string) {
	h.update(func(f *flow.Flow) {
		f.Tunnel = f.Tunnel.WithMappedTo(addr)
	})
}

func (h *handle) Tunnel(kind flow.Kind, t flow.Tunnel) {
	h.update(func(f *flow.Flow) { f.Kind, f.Tunnel = kind, &t })
}

func (h *handle) Relayed(facet flow.Facet, n int) {
	h.update(func(f *flow.Flow) { h.facet(f, facet).Size += int64(n) })
}

func (h *handle) UpstreamNotKept(reason string) {
	h.update(func(f *flow.Flow) {
		if f.UpstreamNotKept == "" {
			f.UpstreamNotKept = reason
		}
	})
}

func (h *handle) Breakpoint(b flow.Breakpoint) { h.update(func(f *flow.Flow) { f.Breakpoint = &b }) }

func (h *handle) Timings(t flow.Timings) { h.update(func(f *flow.Flow) { f.Timings = t }) }

func (h *handle) Finish(end time.Time, err error) {
	h.update(func(f *flow.Flow) {
		f.End = end
		f.State = flow.StateDone
		if err != nil {
			f.State = flow.StateError
			f.Error = err.Error()
		}
		h.rec.finished = true
	})
}
