package store

import (
	"slices"
	"time"

	"loupe/proxy/flow"
)

// handle reports the phases of one flow into the store.
type handle struct {
	s *Store
	e *entry
}

var _ flow.Handle = (*handle)(nil)

func (h *handle) ID() flow.ID { return h.e.flow.ID }

// update runs fn on the flow under the store lock unless the flow is
// finished or gone, then publishes the change.
func (h *handle) update(fn func(f *flow.Flow)) {
	if h.e.isFinished() || h.e.isGone() {
		return
	}
	h.s.mu.Lock()
	if h.e.isGone() || h.e.isFinished() {
		h.s.mu.Unlock()
		return
	}
	fn(&h.e.flow)
	h.s.mu.Unlock()
	h.s.feed.PublishUpdated(h.e.flow.ID)
}

func (h *handle) UpstreamRequest(req flow.Request) {
	h.update(func(f *flow.Flow) {
		// The head as sent usually equals the head as received: the
		// store then keeps one header list for both (heads are never
		// changed in place once recorded).
		n := int64(len(req.URL) + len(req.Method) + len(req.Proto) + 24)
		if slices.Equal(req.Header, f.Request.Header) {
			req.Header = f.Request.Header
		} else {
			n = headSize(&req)
		}
		h.e.upReq = req
		f.UpstreamRequest = &h.e.upReq
		h.addHead(n)
	})
}

func (h *handle) UpstreamResponse(resp flow.Response) {
	h.update(func(f *flow.Flow) {
		h.e.upResp = resp
		f.UpstreamResponse = &h.e.upResp
		h.addHead(respSize(&resp))
		if f.UpstreamBody != nil {
			*f.UpstreamBody = bodyHead(resp.Header)
		}
	})
}

func (h *handle) Response(resp flow.Response) {
	h.update(func(f *flow.Flow) {
		// Served as received (no rule changed the head): one header list.
		n := int64(len(resp.Proto) + 32)
		if up := f.UpstreamResponse; up != nil && slices.Equal(resp.Header, up.Header) {
			resp.Header = up.Header
		} else {
			n = respSize(&resp)
		}
		h.e.resp = resp
		f.Response = &h.e.resp
		h.addHead(n)
		f.ResponseBody = bodyHead(resp.Header)
	})
}

// addHead counts head bytes; called under Store.mu.
func (h *handle) addHead(n int64) {
	h.e.head += int32(n)
	h.s.headBytes.Add(n)
}

// body returns the body of a facet, creating the upstream one on first use.
func (h *handle) body(facet flow.Facet) *body {
	i := facetIndex(facet)
	if i < 0 {
		return nil
	}
	if b := h.e.bodies[i].Load(); b != nil {
		return b
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if b := h.e.bodies[i].Load(); b != nil {
		return b
	}
	b := &body{}
	if facet == flow.FacetUpstream && h.e.flow.UpstreamBody == nil {
		ub := flow.Body{}
		if h.e.flow.UpstreamResponse != nil {
			ub = bodyHead(h.e.flow.UpstreamResponse.Header)
		}
		h.e.flow.UpstreamBody = &ub
	}
	h.e.bodies[i].Store(b)
	return b
}

func (h *handle) Body(facet flow.Facet, p []byte) {
	if len(p) == 0 || h.e.isFinished() || h.e.isGone() {
		return
	}
	b := h.body(facet)
	if b == nil {
		return
	}
	room := int64(-1)
	if h.s.overBudget() && !h.s.enforce(h.e.flow.ID) {
		room = 0
	}
	h.s.account(b.write(h.s, p, room))
	if room != 0 && h.s.overBudget() {
		h.s.enforce(h.e.flow.ID) // make room now rather than on the next write
	}
	// Body progress is published at most every bodyPublishEvery per flow
	// (the dashboard batches at 50 ms anyway); heads, body ends and Finish
	// always publish, so the final figures are never held back.
	now := time.Now().UnixNano()
	if last := h.e.bodyPub.Load(); now-last >= int64(bodyPublishEvery) && h.e.bodyPub.CompareAndSwap(last, now) {
		h.s.feed.PublishUpdated(h.e.flow.ID)
	}
}

// bodyPublishEvery spaces the change notifications of a growing body.
const bodyPublishEvery = 50 * time.Millisecond

func (h *handle) BodyEnd(facet flow.Facet) {
	if h.e.isFinished() || h.e.isGone() {
		return
	}
	b := h.body(facet)
	if b == nil {
		return
	}
	h.s.account(b.end(h.s))
	h.s.feed.PublishUpdated(h.e.flow.ID)
}

func (h *handle) Trailers(facet flow.Facet, t flow.Fields) {
	if len(t) == 0 {
		return
	}
	h.update(func(f *flow.Flow) {
		switch facet {
		case flow.FacetRequest:
			f.Request.Trailers = t
		case flow.FacetUpstream:
			if f.UpstreamResponse == nil {
				return
			}
			h.e.upResp.Trailers = t
		case flow.FacetResponse:
			if f.Response == nil {
				return
			}
			// Served as received: one list for both, as with headers.
			if up := f.UpstreamResponse; up != nil && slices.Equal(t, up.Trailers) {
				h.e.resp.Trailers = up.Trailers
				return
			}
			h.e.resp.Trailers = t
		default:
			return
		}
		h.addHead(fieldsSize(t))
	})
}

func (h *handle) WebSocket(msg flow.WSMessage) {
	if h.e.isFinished() || h.e.isGone() {
		return
	}
	keep := min(int64(len(msg.Data)), h.s.cfg.BodyCap)
	if h.s.overBudget() && !h.s.enforce(h.e.flow.ID) {
		h.s.dropped.Add(1)
		return
	}
	if keep < int64(len(msg.Data)) {
		msg.Truncated = true
	}
	msg.Data = slices.Clone(msg.Data[:keep])
	if msg.Size < len(msg.Data) {
		msg.Size = len(msg.Data)
	}
	cost := keep + wsOverhead
	added := false
	h.update(func(f *flow.Flow) {
		f.WebSocket = append(f.WebSocket, msg)
		h.e.wsRAM += cost
		added = true
	})
	if added {
		h.s.ram.Add(cost)
	}
}

func (h *handle) Rule(id string, kind string) {
	h.update(func(f *flow.Flow) {
		f.Rules = append(f.Rules, id)
		if kind != "" && f.Overridden == "" {
			f.Overridden = kind
		}
	})
}

func (h *handle) ReplayOf(id flow.ID) {
	h.update(func(f *flow.Flow) { f.ReplayOf = id })
}

func (h *handle) Composed(from flow.ID) {
	h.update(func(f *flow.Flow) { f.Composed, f.ComposedFrom = true, from })
}

func (h *handle) Target(target, serverName string) {
	h.update(func(f *flow.Flow) {
		f.Tunnel = &flow.Tunnel{Target: target, ServerName: serverName}
		h.addHead(int64(len(target) + len(serverName)))
	})
}

func (h *handle) MappedTo(addr string) {
	h.update(func(f *flow.Flow) {
		f.Tunnel = f.Tunnel.WithMappedTo(addr)
		h.addHead(int64(len(addr)))
	})
}

func (h *handle) Tunnel(kind flow.Kind, t flow.Tunnel) {
	h.update(func(f *flow.Flow) {
		f.Kind = kind
		if f.Tunnel != nil { // a second call replaces the first
			h.addHead(-tunnelBytes(f.Tunnel))
		}
		f.Tunnel = &t
		h.addHead(tunnelBytes(&t))
	})
}

// tunnelBytes is what a flow's Tunnel record counts in the memory budget.
func tunnelBytes(t *flow.Tunnel) int64 {
	return int64(len(t.Target) + len(t.ServerName) + len(t.MappedTo) + len(t.Mode) + len(t.SNI) + len(t.Failure) + 80)
}

func (h *handle) Relayed(facet flow.Facet, n int) {
	if n <= 0 || h.e.isFinished() || h.e.isGone() {
		return
	}
	b := h.body(facet)
	if b == nil {
		return
	}
	b.count(int64(n))
	now := time.Now().UnixNano()
	if last := h.e.bodyPub.Load(); now-last >= int64(bodyPublishEvery) && h.e.bodyPub.CompareAndSwap(last, now) {
		h.s.feed.PublishUpdated(h.e.flow.ID)
	}
}

func (h *handle) UpstreamNotKept(reason string) {
	first := false
	h.update(func(f *flow.Flow) {
		if f.UpstreamNotKept == "" {
			f.UpstreamNotKept = reason
			h.addHead(int64(len(reason)))
			first = true
		}
	})
	if first {
		h.s.notKept.Add(1)
	}
}

func (h *handle) Breakpoint(b flow.Breakpoint) {
	h.update(func(f *flow.Flow) {
		old := int64(0)
		if f.Breakpoint != nil {
			old = breakpointSize(f.Breakpoint)
		}
		f.Breakpoint = &b
		h.addHead(breakpointSize(&b) - old)
	})
}

func (h *handle) Timings(t flow.Timings) {
	h.update(func(f *flow.Flow) { f.Timings = t })
}

func (h *handle) Finish(end time.Time, err error) {
	if h.e.isGone() {
		return
	}
	h.s.mu.Lock()
	if h.e.isGone() || h.e.isFinished() {
		h.s.mu.Unlock()
		return
	}
	f := &h.e.flow
	f.End = end
	if err != nil {
		f.State = flow.StateError
		f.Error = err.Error()
	} else {
		f.State = flow.StateDone
	}
	h.e.setFinished()
	h.s.mu.Unlock()
	// Release write resources (open spill files, slack in RAM buffers).
	var u usage
	for i := range h.e.bodies {
		if b := h.e.bodies[i].Load(); b != nil {
			b.mu.Lock()
			if !b.removed {
				b.finish(h.s, &u)
				b.publish()
			}
			b.mu.Unlock()
		}
	}
	h.s.account(u)
	h.s.feed.PublishUpdated(h.e.flow.ID)
}

// noop is the handle of a flow that is not recorded (store paused or closed).
type noop struct{}

func (noop) ID() flow.ID                      { return 0 }
func (noop) UpstreamRequest(flow.Request)     {}
func (noop) UpstreamResponse(flow.Response)   {}
func (noop) Response(flow.Response)           {}
func (noop) Body(flow.Facet, []byte)          {}
func (noop) BodyEnd(flow.Facet)               {}
func (noop) Trailers(flow.Facet, flow.Fields) {}
func (noop) WebSocket(flow.WSMessage)         {}
func (noop) Rule(string, string)              {}
func (noop) ReplayOf(flow.ID)                 {}
func (noop) Composed(flow.ID)                 {}
func (noop) Target(string, string)            {}
func (noop) Tunnel(flow.Kind, flow.Tunnel)    {}
func (noop) MappedTo(string)                  {}
func (noop) Relayed(flow.Facet, int)          {}
func (noop) UpstreamNotKept(string)           {}
func (noop) Breakpoint(flow.Breakpoint)       {}
func (noop) Timings(flow.Timings)             {}
func (noop) Finish(time.Time, error)          {}
