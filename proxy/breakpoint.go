package proxy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
	"loupe/rules"
)

// Breakpoints.
//
// A breakpoint is a rule action. Its request phase holds the request after
// the request-phase rules (so a person sees what they did) and before the
// origin is dialled, so method, URL, host, scheme, headers and body can
// still change; its response phase holds the response after the response-
// phase rules, before the client gets its head. Only the held exchange
// waits: its client connection (an HTTP/1.1 keep-alive, or the other
// streams of an HTTP/2 connection) stays usable.
//
// While held, a body is read ahead (prefetch) up to Config.BreakpointBody-
// Cap and shown decoded; a longer one (or one still arriving) is shown in
// part and goes through unedited. A decision (continue, execute an edit,
// respond without the origin, abort) comes from the dashboard, from the
// breakpoint's timeout (its onTimeout action), from the last dashboard
// leaving (after Config.BreakpointGrace), from shutdown, or from a kill.
//
// Holding is refused, and the flow says why, when no dashboard is
// connected or Config.MaxHeld exchanges are held already; a rule whose hits
// are used up stops holding without a word. Replays and composed requests
// are never held unless they asked to be (ReplayOptions.Breakpoints).
//
// Every upstream body is still read to its end or closed on every path: a
// held response that is aborted, times out into an abort, is killed or
// whose client left has its body closed (its connection torn down).

// breakState is what an exchange knows about the breakpoints that matched
// it.
type breakState struct {
	cands []rules.RuleAction
	// counted is the rule whose hit this exchange used, "" until one held
	// it: a rule that holds both phases counts one hit per exchange.
	counted string
	rec     flow.Breakpoint
}

// hitCount is how many exchanges a rule's breakpoint held; it starts over
// when the rule's match or breakpoint changes (fp).
type hitCount struct {
	fp string
	n  int
}

// hold is one exchange held at a breakpoint.
type hold struct {
	x        *exchange
	id       flow.ID
	phase    string
	rule     string
	action   *rules.Action
	since    time.Time
	deadline time.Time
	// request and response are the held messages as listed.
	request  flow.Message
	response *flow.Message

	decisions chan decision // a decision, to the exchange's goroutine
	done      chan struct{} // closed once released
	timer     *time.Timer
}

// decision is a release offered to a held exchange; its goroutine answers
// on reply: nil once it applied it, or why it cannot (a bad edit: it stays
// held).
type decision struct {
	rel   flow.Release
	by    string
	reply chan error
}

// decide offers d to the held exchange and returns its answer;
// flow.ErrNotHeld when it was released meanwhile.
func (h *hold) decide(d decision) error {
	d.reply = make(chan error, 1)
	select {
	case h.decisions <- d:
		return <-d.reply
	case <-h.done:
		return flow.ErrNotHeld
	}
}

// decideTimeout applies the breakpoint's timeout action, decided by by.
func (h *hold) decideTimeout(by string) error {
	return h.decide(decision{rel: flow.Release{Action: h.action.TimeoutAction()}, by: by})
}

// listed is h as GET /api/held shows it at now.
func (h *hold) listed(now time.Time) flow.Held {
	var resp *flow.Message
	if h.response != nil {
		cp := *h.response
		resp = &cp
	}
	return flow.Held{
		ID: h.id, Phase: h.phase, Rule: h.rule,
		HeldAt: flow.MillisUTC(h.since), Deadline: flow.MillisUTC(h.deadline),
		RemainingMs: max(h.deadline.Sub(now).Milliseconds(), 0),
		OnTimeout:   h.action.TimeoutAction(),
		Request:     h.request, Response: resp,
	}
}

// Held lists the exchanges held at breakpoints, oldest first.
func (p *Proxy) Held() []flow.Held {
	l := p.live
	l.mu.Lock()
	hs := l.heldLocked()
	l.mu.Unlock()
	now := time.Now()
	out := make([]flow.Held, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.listed(now))
	}
	return out
}

// Release decides for one held exchange: continue, execute an edit,
// respond (request phase) or abort. An edit that cannot be applied is a
// *flow.EditError and leaves the exchange held; flow.ErrNotHeld when no
// exchange with that ID is held.
func (p *Proxy) Release(id flow.ID, r flow.Release) error {
	switch r.Action {
	case flow.ReleaseContinue, flow.ReleaseExecute, flow.ReleaseRespond, flow.ReleaseAbort:
	default:
		return &flow.EditError{Field: "action", Message: fmt.Sprintf("%q is not continue, execute, respond or abort", r.Action)}
	}
	if r.Status != 0 && (r.Status < 100 || r.Status > 599) {
		return &flow.EditError{Field: "status", Message: "must be 100..599"}
	}
	p.live.mu.Lock()
	h := p.live.held[id]
	p.live.mu.Unlock()
	if h == nil {
		return flow.ErrNotHeld
	}
	return h.decide(decision{rel: r, by: flow.ByDashboard})
}

// ReleaseAll continues (flow.ReleaseContinue) or aborts
// (flow.ReleaseAbort, answering status when not 0) every held exchange and
// returns how many it released.
func (p *Proxy) ReleaseAll(action string, status int) (int, error) {
	if action != flow.ReleaseContinue && action != flow.ReleaseAbort {
		return 0, &flow.EditError{Field: "action", Message: fmt.Sprintf("%q is not continue or abort", action)}
	}
	if status != 0 && (status < 100 || status > 599) {
		return 0, &flow.EditError{Field: "status", Message: "must be 100..599"}
	}
	p.live.mu.Lock()
	hs := p.live.heldLocked()
	p.live.mu.Unlock()
	n := 0
	for _, h := range hs {
		if h.decide(decision{rel: flow.Release{Action: action, Status: status}, by: flow.ByDashboard}) == nil {
			n++
		}
	}
	return n, nil
}

// BreakpointHits reports, per rule ID, how many exchanges the rule's
// breakpoint held since the rule last changed.
func (p *Proxy) BreakpointHits() map[string]int {
	l := p.live
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.hits))
	for id, c := range l.hits {
		out[id] = c.n
	}
	return out
}

// fingerprint identifies a breakpoint rule as configured, so that its hit
// count starts over when it changes. Validation leaves a breakpoint action
// no maps or body pointers, so %+v is stable.
func fingerprint(ra rules.RuleAction) string {
	return fmt.Sprintf("%+v|%+v", ra.Rule.Match, *ra.Action)
}

// Reasons a matching breakpoint did not hold a flow (flow.Breakpoint.Skipped).
const skipNoDashboard = "no dashboard connected"

// admit decides whether x may be held in phase: the first candidate that
// holds that phase and has hits left (or already counted x), unless no
// dashboard is connected, MaxHeld exchanges are held or the proxy is
// shutting down (skip says so). With h, it also registers h as held under
// the same lock, counting the hit.
func (p *Proxy) admit(x *exchange, phase string, h *hold) (ra rules.RuleAction, skip string, ok bool) {
	l := p.live
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range x.bp.cands {
		if !holds(c.Action, phase) {
			continue
		}
		var hc *hitCount
		if c.Rule.ID != x.bp.counted && c.Action.Hits > 0 {
			fp := fingerprint(c)
			if hc = l.hits[c.Rule.ID]; hc != nil && hc.fp != fp {
				hc = nil
			}
			if hc != nil && hc.n >= c.Action.Hits {
				continue // used up: it no longer holds
			}
		}
		switch {
		case l.closing:
			return c, "Loupe is shutting down", false
		case l.viewers == 0:
			return c, skipNoDashboard, false
		case len(l.held) >= p.cfg.MaxHeld:
			return c, fmt.Sprintf("breakpoint skipped: %d exchanges already held (-max-held)", len(l.held)), false
		}
		if h == nil {
			return c, "", true
		}
		if c.Rule.ID != x.bp.counted {
			fp := fingerprint(c)
			if l.hits == nil {
				l.hits = make(map[string]*hitCount)
			}
			if hc = l.hits[c.Rule.ID]; hc == nil || hc.fp != fp {
				hc = &hitCount{fp: fp}
				l.hits[c.Rule.ID] = hc
			}
			hc.n++
			x.bp.counted = c.Rule.ID
		}
		h.rule, h.action = c.Rule.ID, c.Action
		h.deadline = h.since.Add(c.Action.BreakpointTimeout())
		l.held[h.id] = h
		h.timer = time.AfterFunc(c.Action.BreakpointTimeout(), func() { _ = h.decideTimeout(flow.ByTimeout) })
		return c, "", true
	}
	return rules.RuleAction{}, "", false
}

func holds(a *rules.Action, phase string) bool {
	if phase == rules.PhaseRequest {
		return a.HoldsRequest()
	}
	return a.HoldsResponse()
}

// mayHold is admit's first look, before the body is read: it flags the
// flow when the breakpoint is skipped.
func (p *Proxy) mayHold(x *exchange, phase string) bool {
	if x.bp == nil || x.h.ID() == 0 {
		return false
	}
	ra, skip, ok := p.admit(x, phase, nil)
	if skip != "" {
		x.bp.rec.Rule, x.bp.rec.Skipped = ra.Rule.ID, skip
		x.h.Breakpoint(*x.bp.rec.Clone())
	}
	return ok
}

// holdAndWait registers h and waits for a decision that apply accepts.
// It reports false when the breakpoint could not hold after all (the flow
// is flagged as skipped).
func (p *Proxy) holdAndWait(h *hold, apply func(decision) error) (decision, bool) {
	x := h.x
	ra, skip, ok := p.admit(x, h.phase, h)
	if !ok {
		if skip != "" {
			x.bp.rec.Rule, x.bp.rec.Skipped = ra.Rule.ID, skip
			x.h.Breakpoint(*x.bp.rec.Clone())
		}
		return decision{}, false
	}
	stop := &flow.BreakpointStop{Held: h.since}
	x.bp.rec.Rule, x.bp.rec.Skipped = h.rule, ""
	if h.phase == rules.PhaseRequest {
		x.bp.rec.Request = stop
	} else {
		x.bp.rec.Response = stop
	}
	x.h.Breakpoint(*x.bp.rec.Clone())
	p.live.notify()

	var d decision
	for {
		select {
		case d = <-h.decisions:
			err := p.applyDecision(apply, d)
			if err == nil {
				p.unhold(h)
			}
			d.reply <- err
			if err != nil {
				continue
			}
		case <-x.clientCtx.Done():
			p.unhold(h)
			d = decision{rel: flow.Release{Action: flow.ReleaseAbort}, by: flow.ByClientGone}
			_ = apply(d)
		}
		break
	}
	stop.Released, stop.Action, stop.By = time.Now(), d.rel.Action, d.by
	if d.rel.Action == flow.ReleaseAbort || d.rel.Action == flow.ReleaseRespond {
		stop.Status = d.rel.Status
	}
	if d.rel.Action == flow.ReleaseExecute || d.rel.Action == flow.ReleaseRespond {
		stop.Edit = d.rel.Edit.Recorded()
	}
	return d, true
}

// applyDecision runs apply, turning a panic into an error: the person who
// sent the decision gets an answer whatever happens.
func (p *Proxy) applyDecision(apply func(decision) error, d decision) (err error) {
	defer p.survive("breakpoint decision", func(e error) { err = e })
	return apply(d)
}

// unhold takes h out of the held list.
func (p *Proxy) unhold(h *hold) {
	l := p.live
	l.mu.Lock()
	if l.held[h.id] == h {
		delete(l.held, h.id)
	}
	l.mu.Unlock()
	h.timer.Stop()
	close(h.done)
	l.notify()
}

func newHold(x *exchange, phase string) *hold {
	return &hold{x: x, id: x.h.ID(), phase: phase, since: time.Now(), decisions: make(chan decision), done: make(chan struct{})}
}

// requestBreakpoint is the request breakpoint phase. It returns the answer
// when the decision was to respond or abort, nil to go upstream (with out
// edited by an execute).
func (p *Proxy) requestBreakpoint(x *exchange, out *http.Request) *http.Response {
	if !p.mayHold(x, rules.PhaseRequest) {
		return nil
	}
	var pf *prefetch
	var body []byte
	whole := true
	if out.Body != nil && out.Body != http.NoBody {
		pf = newPrefetch(out.Body, int(p.cfg.BreakpointBodyCap), p.survive)
		body, whole = pf.wait(x.clientCtx)
		out.Body = &prefetchBody{prefetch: pf, c: out.Body}
	}
	h := newHold(x, rules.PhaseRequest)
	h.request = p.heldMessage(out.Method, x.sentURL(out), 0, out.Header, hostOf(out), body, whole)

	var resp *http.Response
	var changed []string
	d, ok := p.holdAndWait(h, func(d decision) error {
		var err error
		resp, changed, err = p.applyRequestDecision(x, out, h, d)
		return err
	})
	if !ok {
		return nil
	}
	stop := x.bp.rec.Request
	stop.Changed, stop.Streamed = changed, !whole
	if resp != nil && d.rel.Action == flow.ReleaseRespond {
		stop.Status = resp.StatusCode
	}
	x.h.Breakpoint(*x.bp.rec.Clone())
	if x.reqBody != nil {
		// The wait is not the client's: its body's rate starts over.
		x.reqBody.resumed()
	}
	if resp != nil && pf != nil && !whole && x.w != nil {
		// The rest of the client's body will not be read: a read still
		// waiting on it must end for the handler to return, and net/http
		// then closes the connection (its framing is lost), or resets the
		// HTTP/2 stream's body.
		_ = http.NewResponseController(x.w).SetReadDeadline(time.Unix(1, 0))
	}
	return resp
}

// prefetchBody is a request body read ahead; closing it closes the
// client's body.
type prefetchBody struct {
	*prefetch
	c io.Closer
}

func (b *prefetchBody) Close() error { return b.c.Close() }

// applyRequestDecision turns a decision about a held request into what
// follows: nil to go upstream (out edited by an execute), or the answer
// (respond, abort). changed lists the headers Loupe set or removed itself.
func (p *Proxy) applyRequestDecision(x *exchange, out *http.Request, h *hold, d decision) (*http.Response, []string, error) {
	switch d.rel.Action {
	case flow.ReleaseContinue:
		return nil, nil, nil
	case flow.ReleaseAbort:
		if d.rel.Status != 0 {
			return p.abortStatus(x, out, d), nil, nil
		}
		return p.abortAnswer(x, out, abortError(d.by)), nil, nil
	case flow.ReleaseExecute:
		if d.rel.Edit == nil {
			return nil, nil, nil
		}
		changed, err := p.editRequest(x, out, h, d.rel.Edit)
		return nil, changed, err
	case flow.ReleaseRespond:
		m := d.rel.Edit
		if m == nil {
			m = &flow.Message{}
		}
		resp, changed, err := p.respondWith(x, out, m)
		return resp, changed, err
	}
	return nil, nil, &flow.EditError{Field: "action", Message: fmt.Sprintf("%q cannot release a held request", d.rel.Action)}
}

// abortError is the failure of an exchange aborted at a breakpoint.
func abortError(by string) error {
	switch by {
	case flow.ByKill:
		return errKilled
	case flow.ByClientGone:
		return errors.New("client went away while held at a breakpoint")
	}
	return fmt.Errorf("aborted at a breakpoint (%s)", by)
}

// abortStatus is an abort that answers a chosen status.
func (p *Proxy) abortStatus(x *exchange, req *http.Request, d decision) *http.Response {
	err := abortError(d.by)
	x.fail(err)
	resp := errorResponse(req, d.rel.Status, "Loupe: "+err.Error())
	x.served = &servedBody{x: x, src: resp.Body, record: true}
	resp.Body = x.served
	return resp
}

// editRequest applies an execute's edit to out. Nothing changes unless
// the whole edit is valid.
func (p *Proxy) editRequest(x *exchange, out *http.Request, h *hold, m *flow.Message) ([]string, error) {
	next := *out
	if m.Method != "" {
		if !validToken(m.Method) {
			return nil, &flow.EditError{Field: "method", Message: fmt.Sprintf("%q is not a method", m.Method)}
		}
		next.Method = m.Method
	}
	if m.URL != "" {
		u, err := url.Parse(m.URL)
		ok := err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https")
		want := "http or https"
		if x.ws && err == nil && (u.Scheme == "ws" || u.Scheme == "wss") {
			u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
			ok = u.Host != ""
		}
		if x.ws {
			want = "ws, wss, http or https"
		}
		if !ok {
			return nil, &flow.EditError{Field: "url", Message: fmt.Sprintf("%q is not an absolute %s URL", m.URL, want)}
		}
		u.Fragment, u.RawFragment = "", ""
		next.URL = u
	}
	moved := !strings.EqualFold(next.URL.Host, out.URL.Host)
	oldHost := out.Host
	if oldHost == "" {
		oldHost = out.URL.Host
	}
	if moved {
		// The Host header follows the new origin, as with mapRemote...
		next.Host = ""
	}
	var changed []string
	if m.Headers != nil {
		hdr, host, dropped, err := editedHeader(m.Headers)
		if err != nil {
			return nil, err
		}
		changed = dropped
		switch {
		case host == "":
			next.Host = ""
		case moved && strings.EqualFold(host, oldHost):
			// ...unless the person chose another Host themselves.
		default:
			next.Host = host
		}
		if !p.via.seen(hdr) {
			p.via.add(hdr, out)
		}
		if _, ok := hdr["User-Agent"]; !ok {
			hdr["User-Agent"] = []string{""}
		}
		next.Header = hdr
	}
	if m.Body != nil || m.BodyBase64 != nil {
		if h.request.Truncated {
			return nil, &flow.EditError{Field: "body", Message: "the body is longer than the breakpoint body cap (or was still arriving): it goes through unedited"}
		}
		raw, err := editedBody(m)
		if err != nil {
			return nil, err
		}
		wire, enc, err := encodeBody(raw, next.Header.Get("Content-Encoding"))
		if err != nil {
			return nil, err
		}
		if m.Headers == nil {
			next.Header = out.Header.Clone()
		}
		if enc {
			changed = append(changed, "Content-Encoding")
			next.Header.Del("Content-Encoding")
		}
		changed = appendUnique(changed, frameRequest(&next, int64(len(wire)))...)
		next.Body = io.NopCloser(bytes.NewReader(wire))
		next.Trailer = nil
	} else if m.Headers != nil {
		// The body goes on as it is: its framing stays the client's.
		next.Header.Del("Transfer-Encoding")
		if next.ContentLength >= 0 {
			if cl := next.Header.Get("Content-Length"); cl != "" && cl != strconv.FormatInt(next.ContentLength, 10) {
				changed = appendUnique(changed, "Content-Length")
			}
			if next.ContentLength > 0 || out.Header.Get("Content-Length") != "" {
				next.Header.Set("Content-Length", strconv.FormatInt(next.ContentLength, 10))
			} else {
				next.Header.Del("Content-Length")
			}
		}
	}
	if moved {
		x.remapped = true // a person chose the destination: it wins over a tunnel's target
	}
	*out = next
	return changed, nil
}

// respondWith builds the answer of a respond: the edit's status (200 when
// left out), headers and body, without the origin.
func (p *Proxy) respondWith(x *exchange, req *http.Request, m *flow.Message) (*http.Response, []string, error) {
	status := m.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 599 {
		return nil, nil, &flow.EditError{Field: "status", Message: "must be 100..599"}
	}
	hdr := make(http.Header)
	var changed []string
	if m.Headers != nil {
		var err error
		var host string
		hdr, host, changed, err = editedHeader(m.Headers)
		if err != nil {
			return nil, nil, err
		}
		if host != "" {
			changed = appendUnique(changed, "Host")
		}
	}
	raw, err := editedBody(m)
	if err != nil {
		return nil, nil, err
	}
	wire, dropped, err := encodeBody(raw, hdr.Get("Content-Encoding"))
	if err != nil {
		return nil, nil, err
	}
	resp := &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: hdr, Request: req,
	}
	if dropped {
		changed = appendUnique(changed, "Content-Encoding")
		hdr.Del("Content-Encoding")
	}
	changed = appendUnique(changed, frameResponse(resp, wire)...)
	if !bodyAllowed(resp) {
		wire = nil
	}
	x.served = &servedBody{x: x, src: newBytesReader(wire), record: true}
	resp.Body = x.served
	return resp, changed, nil
}

// responseBreakpoint is the response breakpoint phase: it may hold resp
// (the response after the response-phase rules) and returns what is
// served: resp, edited or not, or the answer of an abort.
func (p *Proxy) responseBreakpoint(x *exchange, resp *http.Response, out *http.Request) *http.Response {
	s := x.served
	if s == nil || s.abort != nil || resp.StatusCode == http.StatusSwitchingProtocols || !p.mayHold(x, rules.PhaseResponse) {
		return resp
	}
	// The body is recorded as served (FacetResponse) by the served body
	// itself from now on: the origin's own recording is silenced, so that
	// an edit leaves the original as the upstream facet, not twice.
	hr := heldResponse{whole: true}
	if ob := s.owner(); ob != nil && !s.record {
		ob.quiet(true)
		s.record = true
		hr.fromOrigin = true
	}
	removeHopHeaders(resp.Header, false)
	if bodyAllowed(resp) {
		// A throttle applies to what is served: the body is read ahead
		// from under it.
		src := &s.src
		if th, ok := s.src.(*throttled); ok {
			src = &th.r
		}
		pf := newPrefetch(*src, int(p.cfg.BreakpointBodyCap), p.survive)
		hr.body, hr.whole = pf.wait(x.clientCtx)
		*src = pf
	}
	h := newHold(x, rules.PhaseResponse)
	h.request = p.heldMessage(out.Method, x.sentURL(out), 0, out.Header, hostOf(out), nil, true)
	h.request.Body = nil
	rm := p.heldMessage("", "", resp.StatusCode, resp.Header, "", hr.body, hr.whole)
	h.response = &rm

	served := resp
	var changed []string
	_, ok := p.holdAndWait(h, func(d decision) error {
		var err error
		served, changed, err = p.applyResponseDecision(x, resp, out, hr, d)
		return err
	})
	if !ok {
		return resp
	}
	stop := x.bp.rec.Response
	stop.Changed, stop.Streamed = changed, !hr.whole
	x.h.Breakpoint(*x.bp.rec.Clone())
	return served
}

// heldResponse is the body of a held response as read so far.
type heldResponse struct {
	body  []byte
	whole bool // body is all of it
	// fromOrigin: the body is the origin's (not an answer a rule or Loupe
	// produced): when it is not served, it is kept as the upstream facet.
	fromOrigin bool
}

// applyResponseDecision turns a decision about a held response into the
// response served.
func (p *Proxy) applyResponseDecision(x *exchange, resp *http.Response, out *http.Request, hr heldResponse, d decision) (*http.Response, []string, error) {
	switch d.rel.Action {
	case flow.ReleaseContinue:
		return resp, nil, nil
	case flow.ReleaseAbort:
		p.dropHeldResponse(x, hr)
		if d.rel.Status != 0 {
			return p.abortStatus(x, out, d), nil, nil
		}
		return p.abortAnswer(x, out, abortError(d.by)), nil, nil
	case flow.ReleaseExecute:
		if d.rel.Edit == nil {
			return resp, nil, nil
		}
		changed, err := p.editResponse(x, resp, hr, d.rel.Edit)
		return resp, changed, err
	}
	return nil, nil, &flow.EditError{Field: "action", Message: fmt.Sprintf("%s applies to held requests; a held response can continue, execute or abort", d.rel.Action)}
}

// dropHeldResponse ends a held response that will not be served: what
// was read of the origin's body is kept as the upstream facet, and the
// body is closed (its connection torn down unless it had ended).
func (p *Proxy) dropHeldResponse(x *exchange, hr heldResponse) {
	if hr.fromOrigin {
		x.h.Body(flow.FacetUpstream, hr.body)
		if hr.whole {
			x.h.BodyEnd(flow.FacetUpstream)
		}
	}
	_ = x.served.Close()
}

// editResponse applies an execute's edit to a held response.
func (p *Proxy) editResponse(x *exchange, resp *http.Response, hr heldResponse, m *flow.Message) ([]string, error) {
	status := resp.StatusCode
	if m.Status != 0 {
		if m.Status < 100 || m.Status > 599 {
			return nil, &flow.EditError{Field: "status", Message: "must be 100..599"}
		}
		status = m.Status
	}
	hdr := resp.Header
	var changed []string
	if m.Headers != nil {
		var err error
		var host string
		hdr, host, changed, err = editedHeader(m.Headers)
		if err != nil {
			return nil, err
		}
		if host != "" {
			hdr.Set("Host", host) // a response may say so if it likes
		}
	}
	oldEnc := resp.Header.Get("Content-Encoding")
	newEnc := hdr.Get("Content-Encoding")
	bodyEdit := m.Body != nil || m.BodyBase64 != nil
	reencode := !bodyEdit && !strings.EqualFold(strings.TrimSpace(oldEnc), strings.TrimSpace(newEnc))
	if (bodyEdit || reencode) && !hr.whole {
		return nil, &flow.EditError{Field: "body", Message: "the body is longer than the breakpoint body cap (or was still arriving): it goes through unedited, and so does its Content-Encoding"}
	}
	var raw []byte
	switch {
	case bodyEdit:
		var err error
		if raw, err = editedBody(m); err != nil {
			return nil, err
		}
	case reencode:
		dec, err := codec.DecodeBytes(hr.body, oldEnc, p.cfg.BreakpointBodyCap)
		if err != nil {
			return nil, &flow.EditError{Field: "headers", Message: fmt.Sprintf("Content-Encoding cannot change: the body does not decode as %q: %v", oldEnc, err)}
		}
		raw = dec
	}
	next := *resp
	next.StatusCode, next.Status = status, fmt.Sprintf("%d %s", status, http.StatusText(status))
	next.Header = hdr
	if bodyEdit || reencode {
		wire, dropped, err := encodeBody(raw, newEnc)
		if err != nil {
			return nil, err
		}
		if dropped {
			changed = appendUnique(changed, "Content-Encoding")
			next.Header.Del("Content-Encoding")
		}
		// The origin's body, all of it, is the upstream facet; the
		// client gets the edit.
		p.dropHeldResponse(x, hr)
		next.Trailer = nil
		changed = appendUnique(changed, frameResponse(&next, wire)...)
		if !bodyAllowed(&next) {
			wire = nil
		}
		x.served.src = newBytesReader(wire)
	} else {
		// The body streams through as it came: framing as before.
		next.Header.Del("Transfer-Encoding")
		cl := next.Header.Get("Content-Length")
		switch {
		case !bodyAllowed(&next):
			next.Header.Del("Content-Length")
		case resp.ContentLength >= 0:
			if cl != "" && cl != strconv.FormatInt(resp.ContentLength, 10) {
				changed = appendUnique(changed, "Content-Length")
			}
			next.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		case cl != "":
			changed = appendUnique(changed, "Content-Length")
			next.Header.Del("Content-Length")
		}
	}
	*resp = next
	return changed, nil
}

// heldMessage is a message as GET /api/held lists it: the body decoded
// (its Content-Encoding undone) and whether it is only its start.
func (p *Proxy) heldMessage(method, u string, status int, h http.Header, host string, body []byte, whole bool) flow.Message {
	m := flow.Message{Method: method, URL: u, Status: status}
	if method != "" {
		m.Headers = headFields(h, host)
	} else {
		m.Headers = flow.FieldsFromHeader(h)
	}
	if m.Headers == nil {
		m.Headers = flow.Fields{}
	}
	if len(body) == 0 {
		m.SetBody(nil)
		m.Truncated = !whole
		return m
	}
	dec, err := codec.DecodeBytes(body, h.Get("Content-Encoding"), p.cfg.BreakpointBodyCap)
	switch {
	case err == nil:
		m.SetBody(dec)
	case len(dec) > 0 && !whole:
		m.SetBody(dec) // the start of a body still arriving
	default:
		// Not decodable: shown as it came, and not editable.
		m.SetBody(body)
		whole = false
	}
	m.Truncated = !whole
	return m
}

// hostOf is the Host a request is sent with.
func hostOf(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// editedHeader builds the header of an edit: names must be tokens and
// values free of control characters; hop-by-hop fields are Loupe's to set
// per hop, and are dropped (and listed); Host is returned apart.
func editedHeader(fs flow.Fields) (http.Header, string, []string, error) {
	h := make(http.Header, len(fs))
	host := ""
	for _, f := range fs {
		if !validToken(f.Name) {
			return nil, "", nil, &flow.EditError{Field: "headers", Message: fmt.Sprintf("%q is not a valid header name", f.Name)}
		}
		if !httpguts.ValidHeaderFieldValue(f.Value) {
			return nil, "", nil, &flow.EditError{Field: "headers", Message: fmt.Sprintf("the value of %s must not contain control characters", f.Name)}
		}
		if strings.EqualFold(f.Name, "Host") {
			host = f.Value
			continue
		}
		h.Add(f.Name, f.Value)
	}
	var dropped []string
	before := make([]string, 0, len(h))
	for k := range h {
		before = append(before, k)
	}
	removeHopHeaders(h, true)
	for _, k := range before {
		if _, ok := h[k]; !ok && k != "Te" {
			dropped = append(dropped, k)
		}
	}
	slices.Sort(dropped)
	return h, host, dropped, nil
}

// editedBody is the decoded body of an edit: text, or base64.
func editedBody(m *flow.Message) ([]byte, error) {
	switch {
	case m.Body != nil && m.BodyBase64 != nil:
		return nil, &flow.EditError{Field: "body", Message: "give body or bodyBase64, not both"}
	case m.Body != nil:
		return []byte(*m.Body), nil
	case m.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*m.BodyBase64)
		if err != nil {
			return nil, &flow.EditError{Field: "bodyBase64", Message: "not valid standard base64"}
		}
		return b, nil
	}
	return nil, nil
}

// encodeBody encodes a decoded body to the Content-Encoding its message
// declares. dropped reports an encoding Loupe cannot produce: the body then
// goes out as it is, and the caller removes the header.
func encodeBody(raw []byte, encoding string) (wire []byte, dropped bool, err error) {
	wire, err = codec.Encode(raw, encoding)
	if errors.Is(err, codec.ErrUnsupportedEncoding) {
		return raw, true, nil
	}
	if err != nil {
		return nil, false, &flow.EditError{Field: "body", Message: err.Error()}
	}
	return wire, false, nil
}

// frameRequest gives an edited request body its framing and lists the
// framing headers that differ from what the edit said.
func frameRequest(r *http.Request, n int64) []string {
	var changed []string
	if r.Header.Get("Transfer-Encoding") != "" {
		changed = append(changed, "Transfer-Encoding")
		r.Header.Del("Transfer-Encoding")
	}
	r.TransferEncoding = nil
	r.ContentLength = n
	want := strconv.FormatInt(n, 10)
	if r.Header.Get("Content-Length") != want {
		changed = append(changed, "Content-Length")
	}
	if n == 0 && !bodyExpected(r.Method) {
		r.Header.Del("Content-Length")
		r.Body = http.NoBody
		return changed
	}
	r.Header.Set("Content-Length", want)
	return changed
}

// bodyExpected reports whether a request of this method usually carries a
// body, so that an empty one is announced (Content-Length: 0).
func bodyExpected(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// frameResponse gives an edited response body its framing (none for a
// status or method that carries no body) and lists the framing headers
// that differ from what the edit said.
func frameResponse(resp *http.Response, wire []byte) []string {
	before := resp.Header.Get("Content-Length")
	hadTE := resp.Header.Get("Transfer-Encoding") != ""
	enc := resp.Header.Values("Content-Encoding")
	normaliseFraming(resp, int64(len(wire)))
	if len(enc) > 0 && bodyAllowed(resp) {
		resp.Header["Content-Encoding"] = enc // encoded above: it still says the truth
	}
	var changed []string
	if hadTE {
		changed = append(changed, "Transfer-Encoding")
	}
	if before != resp.Header.Get("Content-Length") {
		changed = append(changed, "Content-Length")
	}
	return changed
}

func appendUnique(list []string, more ...string) []string {
	for _, s := range more {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// validToken reports whether s is an RFC 9110 token (a method or header
// name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}
