package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
	"loupe/rules"
)

// Rewrite rules: replaceBody, jsonPatch, replaceHeaders, setQuery,
// removeQuery and setStatus change traffic as it passes.
//
// A body is rewritten whole: it is read ahead (up to Config.RewriteBodyCap)
// before the request goes upstream or the response head is served, its
// Content-Encoding undone, every body rewrite of the phase applied in rule
// order, and the result encoded again with the same Content-Encoding
// (served as it is, and the header dropped, when Loupe cannot produce that
// coding) with its Content-Length recomputed. A body over the cap, still
// arriving after rewriteIdle without a byte or rewriteWait in all, or that
// does not decode, passes unchanged: what was read ahead, then the rest as
// it comes. A response body that is rewritten was read to its end, and its
// connection goes back to the pool at once; the origin's bytes are kept as
// the flow's upstream facet, what the client got as its response facet.

// Bounds on the wait for a body to end before it is rewritten; past them
// the body passes unchanged (a stream is not held back for ever).
const (
	rewriteIdle = 5 * time.Second
	rewriteWait = 30 * time.Second
)

// bodyRewrite is one replaceBody or jsonPatch action and its rule.
type bodyRewrite struct {
	rule string
	a    *rules.Action
	w    *rules.Rewriter // replaceBody
}

// isBodyRewrite reports whether a is applied to a whole body.
func isBodyRewrite(a *rules.Action) bool {
	return a.Type == rules.TypeReplaceBody || a.Type == rules.TypeJSONPatch
}

// ruleOf names the rule of the plan that holds a.
func ruleOf(plan *rules.Plan, a *rules.Action) string {
	for _, r := range plan.Rules {
		for i := range r.Actions {
			if &r.Actions[i] == a {
				return r.ID
			}
		}
	}
	return ""
}

// bodyRewrites collects the body rewrites among as, in order.
func bodyRewrites(set *rules.Set, plan *rules.Plan, as []*rules.Action) []bodyRewrite {
	var out []bodyRewrite
	for _, a := range as {
		if !isBodyRewrite(a) {
			continue
		}
		br := bodyRewrite{rule: ruleOf(plan, a), a: a}
		if a.Type == rules.TypeReplaceBody {
			if br.w = set.Rewriter(a); br.w == nil {
				continue // validation refuses such a rule
			}
		}
		out = append(out, br)
	}
	return out
}

// ruleNote records what a rewrite did to the flow, or why it did not
// apply. Flows do not keep notes yet: they go to the log, with the flow.
func (x *exchange) ruleNote(rule, action string, applied bool, note string) {
	if applied {
		x.p.log.Debug("rewrite applied", "flow", x.h.ID(), "rule", rule, "action", action, "note", note)
		return
	}
	x.p.log.Info("rewrite not applied", "flow", x.h.ID(), "rule", rule, "action", action, "reason", note)
}

// noteAll records one outcome for every rewrite of a phase.
func (x *exchange) noteAll(rws []bodyRewrite, applied bool, note string) {
	for _, r := range rws {
		x.ruleNote(r.rule, r.a.Type, applied, note)
	}
}

// readAhead reads src ahead, up to cap bytes, and says whether it got the
// whole body; when not, why, for the flow.
func (p *Proxy) readAhead(x *exchange, src io.Reader) (pf *prefetch, body []byte, whole bool, why string) {
	limit := p.cfg.RewriteBodyCap
	pf = newPrefetch(src, int(limit)+1, p.survive)
	body, whole = pf.waitFor(x.clientCtx, rewriteIdle, rewriteWait)
	if whole {
		return pf, body, true, ""
	}
	full, stopped, err := pf.state()
	switch {
	case full:
		why = fmt.Sprintf("body over %s: passed unchanged", fmtBytes(limit))
	case stopped && err != nil:
		why = fmt.Sprintf("body could not be read: %v", err)
	case x.clientCtx.Err() != nil:
		why = "client went away"
	default:
		why = fmt.Sprintf("body still arriving after %s (or a pause of %s): passed unchanged", rewriteWait, rewriteIdle)
	}
	return pf, body, false, why
}

// rewriteBody decodes wire (Content-Encoding enc), applies rws in order
// and encodes the result again. changed is false, and wire is to be sent
// as it came, when no rewrite changed anything or the body cannot be
// decoded; every rewrite's outcome is noted. dropEncoding says the result
// goes out unencoded (Loupe cannot produce enc).
func (p *Proxy) rewriteBody(x *exchange, wire []byte, enc, ctype string, rws []bodyRewrite) (out []byte, changed, dropEncoding bool) {
	body, err := codec.DecodeBytes(wire, enc, p.cfg.RewriteBodyCap)
	if err != nil {
		why := fmt.Sprintf("body does not decode as Content-Encoding %q: %v", enc, err)
		if errors.Is(err, codec.ErrTooLarge) {
			why = fmt.Sprintf("decoded body over %s: passed unchanged", fmtBytes(p.cfg.RewriteBodyCap))
		}
		x.noteAll(rws, false, why)
		return wire, false, false
	}
	for _, r := range rws {
		switch r.a.Type {
		case rules.TypeReplaceBody:
			next, ok := r.w.Bytes(body)
			if !ok {
				x.ruleNote(r.rule, r.a.Type, false, "no match")
				continue
			}
			x.ruleNote(r.rule, r.a.Type, true, fmt.Sprintf("body %d → %d bytes", len(body), len(next)))
			body, changed = next, true
		case rules.TypeJSONPatch:
			if !jsonType(ctype) {
				x.ruleNote(r.rule, r.a.Type, false, fmt.Sprintf("not a JSON body (Content-Type %q)", ctype))
				continue
			}
			patch, err := r.a.PatchObject()
			if err == nil {
				var next []byte
				if next, err = rules.MergePatch(body, patch); err == nil {
					x.ruleNote(r.rule, r.a.Type, true, fmt.Sprintf("body %d → %d bytes", len(body), len(next)))
					body, changed = next, true
					continue
				}
			}
			x.ruleNote(r.rule, r.a.Type, false, err.Error())
		}
	}
	if int64(len(body)) > p.cfg.RewriteBodyCap {
		x.noteAll(rws, false, fmt.Sprintf("rewritten body over %s: the original passed unchanged", fmtBytes(p.cfg.RewriteBodyCap)))
		return wire, false, false
	}
	if !changed {
		return wire, false, false
	}
	out, dropped, err := encodeBody(body, enc)
	if err != nil {
		x.noteAll(rws, false, fmt.Sprintf("re-encoding as %q failed: %v", enc, err))
		return wire, false, false
	}
	return out, true, dropped
}

// jsonType reports whether a Content-Type allows a JSON body: none, or a
// JSON media type (application/json, anything +json).
func jsonType(ctype string) bool {
	if strings.TrimSpace(ctype) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return false
	}
	return strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json")
}

// rewriteRequestBody applies the request-phase body rewrites to out.
func (p *Proxy) rewriteRequestBody(x *exchange, out *http.Request, rws []bodyRewrite) {
	if x.ws || out.Body == nil || out.Body == http.NoBody {
		x.noteAll(rws, false, "the request has no body")
		return
	}
	orig := out.Body
	pf, wire, whole, why := p.readAhead(x, orig)
	out.Body = &prefetchBody{prefetch: pf, c: orig}
	if !whole {
		x.noteAll(rws, false, why)
		return
	}
	next, changed, dropped := p.rewriteBody(x, wire, out.Header.Get("Content-Encoding"), out.Header.Get("Content-Type"), rws)
	if !changed {
		return
	}
	if dropped {
		out.Header.Del("Content-Encoding")
	}
	frameRequest(out, int64(len(next)))
	if out.Body != http.NoBody {
		out.Body = io.NopCloser(bytes.NewReader(next))
	}
	out.Trailer = nil
}

// rewriteResponseBody applies the response-phase body rewrites to the
// served body.
func (p *Proxy) rewriteResponseBody(x *exchange, resp *http.Response, rws []bodyRewrite) {
	s := x.served
	if s == nil || s.abort != nil || !bodyAllowed(resp) {
		x.noteAll(rws, false, "the response has no body")
		return
	}
	// From now on the served body records what the client gets; the
	// origin's bytes, when they differ, are recorded as the upstream facet.
	fromOrigin := false
	if ob := s.owner(); ob != nil && !s.record {
		ob.quiet(true)
		s.record = true
		fromOrigin = true
	}
	// A throttle applies to what is served: the body is read from under it.
	src := &s.src
	if th, ok := s.src.(*throttled); ok {
		src = &th.r
	}
	pf, wire, whole, why := p.readAhead(x, *src)
	*src = pf
	if !whole {
		x.noteAll(rws, false, why)
		return
	}
	next, changed, dropped := p.rewriteBody(x, wire, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"), rws)
	if !changed {
		return
	}
	if fromOrigin {
		x.h.Body(flow.FacetUpstream, wire)
		x.h.BodyEnd(flow.FacetUpstream)
	}
	// The origin's body was read to its end: its connection can go back
	// to the pool now rather than when the client is served.
	_ = s.Close()
	resp.Trailer = nil // they describe the origin's body
	if dropped {
		resp.Header.Del("Content-Encoding")
	}
	frameResponse(resp, next)
	*src = newBytesReader(next)
}

// untouchable reports whether a replaceHeaders rule must leave a header
// alone: the hop-by-hop and framing headers, which Loupe sets per hop, and
// Via, by which it finds request loops.
func untouchable(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Via":
		return true
	}
	return false
}

// replaceHeaders applies a replaceHeaders rewrite to the values of h.
func (x *exchange) replaceHeaders(rule string, a *rules.Action, w *rules.Rewriter, h http.Header) {
	n := 0
	for name, vs := range h {
		if untouchable(name) || !w.MatchesName(name) {
			continue
		}
		for i, v := range vs {
			nv, ok := w.String(v)
			if !ok {
				continue
			}
			if !httpguts.ValidHeaderFieldValue(nv) {
				x.ruleNote(rule, a.Type, false, fmt.Sprintf("%s: the new value is not a valid header value; kept the old one", name))
				continue
			}
			vs[i] = nv
			n++
		}
	}
	if n > 0 {
		x.ruleNote(rule, a.Type, true, fmt.Sprintf("%d header values", n))
	}
}

// setQuery applies setQuery or removeQuery to the URL sent upstream (a
// copy: the client's URL is the flow's record of what it asked for).
func setQuery(out *http.Request, a *rules.Action) {
	u := *out.URL
	if a.Type == rules.TypeSetQuery {
		u.RawQuery = rules.EditQuery(u.RawQuery, a.Params, nil)
	} else {
		u.RawQuery = rules.EditQuery(u.RawQuery, nil, a.Names)
	}
	u.ForceQuery = false
	out.URL = &u
}

// setStatus serves status instead of the upstream's. A status that
// carries no body (204, 304) drops the body, whose upstream drains in the
// background as an override's does.
func setStatus(x *exchange, resp *http.Response, status int) {
	resp.StatusCode = status
	resp.Status = fmt.Sprintf("%d %s", status, http.StatusText(status))
	if !bodyAllowed(resp) && x.served != nil {
		x.served.replace(resp, nil)
	}
}
