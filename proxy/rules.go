package proxy

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"loupe/rules"
)

// respAction is a response-phase step decided at request time.
type respAction func(x *exchange, resp *http.Response, req *http.Request)

// producedBodyRead bounds how much of a request body is read (and recorded)
// before a mock or block answers it.
const producedBodyRead = 4 << 20

// errResetByRule is the failure of a flow a block rule cut off.
var errResetByRule = errors.New("connection reset by rule")

// framingHeaders are computed by Loupe for every hop; rules cannot set them.
var framingHeaders = map[string]bool{"Content-Length": true, "Transfer-Encoding": true}

// applyRequestRules matches out against the current rules, applies the
// request-phase actions to it, records every rule that touched the flow, and
// returns the response when a mock or block answers without the origin.
// Response-phase actions are queued on x.
//
// scheme is what rules match against: the URL's, or "ws"/"wss" for a
// WebSocket upgrade.
func (p *Proxy) applyRequestRules(x *exchange, out *http.Request, scheme string) *http.Response {
	if p.cfg.Rules == nil {
		return nil
	}
	set := p.cfg.Rules()
	if set == nil {
		return nil
	}
	plan := set.Plan(rules.Request{
		Method: out.Method,
		Scheme: scheme,
		Host:   out.URL.Hostname(),
		Path:   out.URL.RequestURI(),
		URL:    out.URL.String(),
		// The port the client addressed: inside a tunnel the URL's host is
		// the client's Host header (target.go), which the dashboard shows.
		Port: rules.URLPort(out.URL),
	})
	if len(plan.Breakpoints) > 0 && !x.exempt {
		x.bp = &breakState{cands: plan.Breakpoints}
	}
	for _, r := range plan.Rules {
		kind := ""
		if r == plan.RespondRule && plan.Respond != nil {
			kind = plan.Respond.Type
		}
		x.h.Rule(r.ID, kind)
	}
	if a := plan.MapRemote; a != nil {
		if u, err := rules.MapURL(plan.MapRemoteRule, a, out.URL); err != nil {
			p.log.Warn("mapRemote", "rule", plan.MapRemoteRule.ID, "err", err)
		} else {
			out.URL = u
			out.Host = "" // the Host header follows the new origin
			x.remapped = true
		}
	}
	reqBodyDone := false
	for _, a := range plan.Request {
		switch a.Type {
		case rules.TypeReplaceBody, rules.TypeJSONPatch:
			// The phase's body rewrites run together, where the first one
			// stands: the body is decoded and encoded once.
			if !reqBodyDone {
				reqBodyDone = true
				p.rewriteRequestBody(x, out, bodyRewrites(set, &plan, plan.Request))
			}
		case rules.TypeReplaceHeaders:
			if w := set.Rewriter(a); w != nil {
				x.replaceHeaders(ruleOf(&plan, a), a, w, out.Header)
			}
		case rules.TypeSetQuery, rules.TypeRemoveQuery:
			setQuery(out, a)
		case rules.TypeSetRequestHeaders:
			setHeaders(out.Header, a.Headers)
		case rules.TypeRemoveRequestHeaders:
			for _, n := range a.Names {
				out.Header.Del(n)
			}
		case rules.TypeDelay:
			if err := sleepCtx(out.Context(), time.Duration(a.Ms)*time.Millisecond); err != nil {
				return p.failure(x, out, fmt.Errorf("client went away during delay: %w", err))
			}
		}
	}
	if a := plan.Respond; a != nil && a.Type == rules.TypeOverride {
		rule := plan.RespondRule
		x.kind = rules.TypeOverride
		x.respActions = append(x.respActions, func(x *exchange, resp *http.Response, _ *http.Request) {
			p.override(x, rule, a, resp)
		})
	}
	respBodyDone := false
	for _, a := range plan.Response {
		switch a.Type {
		case rules.TypeReplaceBody, rules.TypeJSONPatch:
			if !respBodyDone {
				respBodyDone = true
				rws := bodyRewrites(set, &plan, plan.Response)
				x.respActions = append(x.respActions, func(x *exchange, resp *http.Response, _ *http.Request) {
					p.rewriteResponseBody(x, resp, rws)
				})
			}
		case rules.TypeReplaceHeaders:
			if w := set.Rewriter(a); w != nil {
				rule := ruleOf(&plan, a)
				x.respActions = append(x.respActions, func(x *exchange, resp *http.Response, _ *http.Request) {
					x.replaceHeaders(rule, a, w, resp.Header)
				})
			}
		case rules.TypeSetStatus:
			x.respActions = append(x.respActions, func(x *exchange, resp *http.Response, _ *http.Request) {
				setStatus(x, resp, a.Status)
			})
		case rules.TypeSetResponseHeaders:
			x.respActions = append(x.respActions, func(_ *exchange, resp *http.Response, _ *http.Request) {
				setHeaders(resp.Header, a.Headers)
			})
		case rules.TypeRemoveResponseHeaders:
			x.respActions = append(x.respActions, func(_ *exchange, resp *http.Response, _ *http.Request) {
				for _, n := range a.Names {
					resp.Header.Del(n)
				}
			})
		case rules.TypeDelay:
			x.respActions = append(x.respActions, func(_ *exchange, _ *http.Response, req *http.Request) {
				_ = sleepCtx(req.Context(), time.Duration(a.Ms)*time.Millisecond)
			})
		case rules.TypeThrottle:
			x.respActions = append(x.respActions, func(x *exchange, _ *http.Response, req *http.Request) {
				if x.served != nil && a.BytesPerSecond > 0 {
					x.served.src = &throttled{ctx: req.Context(), r: x.served.src, rate: a.BytesPerSecond}
				}
			})
		}
	}
	if a := plan.Respond; a != nil && a.Type != rules.TypeOverride {
		x.kind = a.Type
		if !a.Reset && out.Body != nil {
			// Nobody else reads the request body now; read (and so record)
			// a bounded part of it before answering, as the origin would.
			_, _ = io.Copy(io.Discard, io.LimitReader(out.Body, producedBodyRead))
		}
		return p.produce(x, plan.RespondRule, a, out)
	}
	return nil
}

// produce builds the answer of a mock or block action.
func (p *Proxy) produce(x *exchange, rule *rules.Rule, a *rules.Action, req *http.Request) *http.Response {
	resp := &http.Response{
		StatusCode: a.ResponseStatus(0), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header), Request: req,
	}
	resp.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	x.served = &servedBody{x: x, src: newBytesReader(nil), record: true}
	resp.Body = x.served
	if a.Type == rules.TypeBlock && a.Reset {
		x.served.abort = errResetByRule
		return resp
	}
	var body []byte
	var err error
	ctype := ""
	switch {
	case a.Type == rules.TypeMock && a.Dir != "":
		body, ctype, err = mockDir(rule, a, req)
		if err != nil {
			resp.StatusCode, resp.Status = http.StatusNotFound, "404 Not Found"
			body = []byte(fmt.Sprintf("Loupe mock %q: %v\n", rule.ID, err))
			ctype = "text/plain; charset=utf-8"
		}
	case a.HasBody():
		body, err = a.LoadBody()
		if err != nil {
			x.fail(fmt.Errorf("rule %s body: %w", rule.ID, err))
			resp.StatusCode, resp.Status = http.StatusInternalServerError, "500 Internal Server Error"
			body = []byte(fmt.Sprintf("Loupe rule %q: %v\n", rule.ID, err))
			ctype = "text/plain; charset=utf-8"
		}
	case a.Type == rules.TypeBlock:
		body = []byte(fmt.Sprintf("Blocked by Loupe rule %q\n", rule.ID))
		ctype = "text/plain; charset=utf-8"
	}
	if ctype == "" && len(body) > 0 {
		ctype = http.DetectContentType(body)
	}
	if ctype != "" {
		resp.Header.Set("Content-Type", ctype)
	}
	x.served.replace(resp, body)
	setHeaders(resp.Header, a.Headers)
	return resp
}

// override replaces the upstream response: status and headers optional,
// body replaced at once while the upstream body drains in the background
// (recorded as the upstream facet). An override without a body source keeps
// the upstream body streaming through (a status or header override), unless
// the new status forbids a body.
func (p *Proxy) override(x *exchange, rule *rules.Rule, a *rules.Action, resp *http.Response) {
	if x.served == nil {
		return
	}
	resp.StatusCode = a.ResponseStatus(resp.StatusCode)
	resp.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if !a.HasBody() && bodyAllowed(resp) {
		setHeaders(resp.Header, a.Headers)
		return
	}
	body, err := a.LoadBody()
	if err != nil {
		x.fail(fmt.Errorf("rule %s body: %w", rule.ID, err))
		resp.StatusCode, resp.Status = http.StatusInternalServerError, "500 Internal Server Error"
		body = []byte(fmt.Sprintf("Loupe rule %q: %v\n", rule.ID, err))
		resp.Header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	}
	x.served.replace(resp, body)
	setHeaders(resp.Header, a.Headers)
}

// mockDir reads the file a mock Dir action serves for req, with a
// Content-Type from its extension.
func mockDir(rule *rules.Rule, a *rules.Action, req *http.Request) ([]byte, string, error) {
	name, err := rules.MockFile(rule, a, req.URL.EscapedPath())
	if err != nil {
		return nil, "", err
	}
	body, err := os.ReadFile(name)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", filepath.Base(name), err)
	}
	ctype := mime.TypeByExtension(strings.ToLower(filepath.Ext(name)))
	return body, ctype, nil
}

func setHeaders(h http.Header, set map[string]string) {
	for k, v := range set {
		if framingHeaders[http.CanonicalHeaderKey(k)] {
			continue
		}
		h.Set(k, v)
	}
}

func (p *Proxy) applyResponseRules(x *exchange, resp *http.Response, req *http.Request) {
	for _, a := range x.respActions {
		a(x, resp, req)
	}
}
