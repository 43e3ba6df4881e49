package rules

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Delay and breakpoint phases.
const (
	PhaseRequest  = "request"  // before the request is sent upstream (default)
	PhaseResponse = "response" // before the response head is served
	PhaseBoth     = "both"     // breakpoints only: request, then response
)

// What a breakpoint does when its timeout passes (Action.OnTimeout).
const (
	OnTimeoutContinue = "continue" // let the exchange go on unchanged (default)
	OnTimeoutAbort    = "abort"    // close the client connection
)

// Breakpoint timeouts, in milliseconds.
const (
	DefaultBreakpointTimeoutMs = 60000
	MaxBreakpointTimeoutMs     = 30 * 60000
)

// ErrBadPath is returned by MockFile for a request path that would leave the
// mock directory; the proxy answers it like a missing file.
var ErrBadPath = errors.New("path escapes the mock directory")

// LoadBody returns the body the action serves: Body, BodyBase64 decoded, or
// BodyFile read now (so edits to the file apply to the next request). It
// returns nil, nil when the action has no body source.
func (a *Action) LoadBody() ([]byte, error) {
	switch {
	case a.Body != nil:
		return []byte(*a.Body), nil
	case a.BodyBase64 != "":
		b, err := base64.StdEncoding.DecodeString(a.BodyBase64)
		if err != nil {
			return nil, fmt.Errorf("decode bodyBase64: %w", err)
		}
		return b, nil
	case a.BodyFile != "":
		b, err := os.ReadFile(a.BodyFile)
		if err != nil {
			return nil, fmt.Errorf("read bodyFile: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// HasBody reports whether the action names a body source.
func (a *Action) HasBody() bool {
	return a.Body != nil || a.BodyBase64 != "" || a.BodyFile != ""
}

// ProducesResponse reports whether the action answers the client itself
// (override, mock, block): of those, only the first among matched rules wins.
func (a *Action) ProducesResponse() bool {
	switch a.Type {
	case TypeOverride, TypeMock, TypeBlock:
		return true
	}
	return false
}

// ResponseStatus is the status to serve for a response-producing action:
// Status when set, else the upstream status (override), 200 (mock) or 403
// (block).
func (a *Action) ResponseStatus(upstream int) int {
	if a.Status != 0 {
		return a.Status
	}
	switch a.Type {
	case TypeMock:
		return 200
	case TypeBlock:
		return 403
	}
	return upstream
}

// DelayPhase is the phase of a delay action, PhaseRequest by default.
func (a *Action) DelayPhase() string {
	if a.Phase == "" {
		return PhaseRequest
	}
	return a.Phase
}

// BreakpointPhase is the phase of a breakpoint action, PhaseRequest by
// default.
func (a *Action) BreakpointPhase() string {
	if a.Phase == "" {
		return PhaseRequest
	}
	return a.Phase
}

// HoldsRequest reports whether a breakpoint holds the request (before the
// origin is dialled).
func (a *Action) HoldsRequest() bool {
	p := a.BreakpointPhase()
	return p == PhaseRequest || p == PhaseBoth
}

// HoldsResponse reports whether a breakpoint holds the response (after
// the response-phase rules).
func (a *Action) HoldsResponse() bool {
	p := a.BreakpointPhase()
	return p == PhaseResponse || p == PhaseBoth
}

// BreakpointTimeout is how long a breakpoint holds an exchange before its
// OnTimeout applies: TimeoutMs, or DefaultBreakpointTimeoutMs.
func (a *Action) BreakpointTimeout() time.Duration {
	ms := a.TimeoutMs
	if ms == 0 {
		ms = DefaultBreakpointTimeoutMs
	}
	return time.Duration(ms) * time.Millisecond
}

// TimeoutAction is what a breakpoint does once its timeout passed:
// OnTimeout, or OnTimeoutContinue.
func (a *Action) TimeoutAction() string {
	if a.OnTimeout == "" {
		return OnTimeoutContinue
	}
	return a.OnTimeout
}

// ResponseAction returns the rule's first response-producing action, or nil.
func (r *Rule) ResponseAction() *Action {
	for i := range r.Actions {
		if r.Actions[i].ProducesResponse() {
			return &r.Actions[i]
		}
	}
	return nil
}

// pathPrefix is the literal start of the rule's path glob: the part of the
// request path that mock and mapRemote actions replace.
func (r *Rule) pathPrefix() string {
	return globLiteralPrefix(r.Match.Path)
}

// MockFile names the file a mock action with a Dir serves for reqPath.
//
// reqPath has the form of Request.Path (escaped; a query is ignored). The
// literal prefix of the rule's match.path (the text before its first
// wildcard) is removed, and the rest names a file below a.Dir; a directory
// means its index.html. Paths with ".." segments, and files that resolve
// (through symbolic links) outside a.Dir, are refused with ErrBadPath. A
// missing file is an error that matches fs.ErrNotExist.
func MockFile(r *Rule, a *Action, reqPath string) (string, error) {
	if a.Dir == "" {
		return "", fmt.Errorf("mock file: action has no dir")
	}
	if i := strings.IndexByte(reqPath, '?'); i >= 0 {
		reqPath = reqPath[:i]
	}
	rest, ok := strings.CutPrefix(reqPath, r.pathPrefix())
	if !ok {
		return "", fmt.Errorf("mock file %q: %w", reqPath, ErrBadPath)
	}
	rest, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("mock file %q: %w", reqPath, ErrBadPath)
	}
	if strings.ContainsAny(rest, "\x00\\") {
		return "", fmt.Errorf("mock file %q: %w", reqPath, ErrBadPath)
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == ".." {
			return "", fmt.Errorf("mock file %q: %w", reqPath, ErrBadPath)
		}
	}
	// rest is relative to the prefix; a leading "/" does not make it absolute.
	rel := strings.TrimPrefix(path.Clean("/"+rest), "/")
	dir := filepath.Clean(a.Dir)
	name := filepath.Join(dir, filepath.FromSlash(rel))

	st, err := os.Stat(name)
	if err != nil {
		return "", fmt.Errorf("mock file %q: %w", reqPath, err)
	}
	if st.IsDir() {
		name = filepath.Join(name, "index.html")
		if st, err = os.Stat(name); err != nil {
			return "", fmt.Errorf("mock file %q: %w", reqPath, err)
		}
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("mock file %q: %w", reqPath, fs.ErrNotExist)
	}
	if err := within(dir, name); err != nil {
		return "", fmt.Errorf("mock file %q: %w", reqPath, err)
	}
	return name, nil
}

// within checks that name, with symbolic links resolved, stays inside dir.
func within(dir, name string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	realName, err := filepath.EvalSymlinks(name)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(realDir, realName)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return ErrBadPath
	}
	return nil
}

// MapURL returns the URL a mapRemote action sends u to: scheme and host (with
// port) come from a.URL; when a.URL has a path, it replaces the literal prefix
// of the rule's match.path (the whole path is kept after it when match.path
// is empty). The query is kept. u is not modified.
//
// Example: match.path "/api/*", url "http://127.0.0.1:3000/v2" maps
// https://example.com/api/users?x=1 to http://127.0.0.1:3000/v2/users?x=1.
func MapURL(r *Rule, a *Action, u *url.URL) (*url.URL, error) {
	target, err := url.Parse(a.URL)
	if err != nil {
		return nil, fmt.Errorf("map remote %q: %w", a.URL, err)
	}
	out := *u
	out.User = nil
	out.Scheme = target.Scheme
	out.Host = target.Host
	tp := target.EscapedPath()
	if tp == "" || tp == "/" {
		return &out, nil
	}
	esc := u.EscapedPath()
	rest, ok := strings.CutPrefix(esc, r.pathPrefix())
	if !ok {
		rest = esc
	}
	var p string
	switch {
	case rest == "":
		p = tp
	case strings.HasSuffix(tp, "/") && strings.HasPrefix(rest, "/"):
		p = tp + rest[1:]
	case strings.HasSuffix(tp, "/") || strings.HasPrefix(rest, "/"):
		p = tp + rest
	default:
		p = tp + "/" + rest
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return nil, fmt.Errorf("map remote %q: %w", a.URL, err)
	}
	out.Path, out.RawPath = dec, p
	return &out, nil
}

// Plan is what the rules matching one request ask the proxy to do, sorted by
// phase and in rule order. Compute it with Set.Plan.
type Plan struct {
	// Rules are all matched rules, in order: each of them touched the flow.
	Rules []*Rule
	// MapRemote is the first mapRemote action, or nil; later ones are
	// ignored, since mapping an already mapped URL is never what one means.
	MapRemote     *Action
	MapRemoteRule *Rule
	// Request holds setRequestHeaders, removeRequestHeaders, setQuery,
	// removeQuery and the request-phase delay, replaceHeaders, replaceBody
	// and jsonPatch actions, in order.
	Request []*Action
	// Respond is the first response-producing action (override, mock,
	// block), or nil; RespondRule is its rule.
	Respond     *Action
	RespondRule *Rule
	// Response holds setResponseHeaders, removeResponseHeaders, setStatus,
	// throttle and the response-phase delay, replaceHeaders, replaceBody and
	// jsonPatch actions, in order. They apply to the served response,
	// including one produced by Respond.
	Response []*Action
	// Breakpoints are the breakpoint actions of the matched rules, in
	// order. The proxy holds an exchange for the first one that still has
	// hits left; nil when none matched (nearly always).
	Breakpoints []RuleAction
}

// RuleAction is one action with the rule it belongs to.
type RuleAction struct {
	Rule   *Rule
	Action *Action
}

// Plan matches r and sorts the actions of the matched rules into a Plan. The
// actions belong to the Set and must not be modified.
func (s *Set) Plan(r Request) Plan {
	var p Plan
	p.Rules = s.Match(r)
	for _, rule := range p.Rules {
		for i := range rule.Actions {
			a := &rule.Actions[i]
			switch a.Type {
			case TypeMapRemote:
				if p.MapRemote == nil {
					p.MapRemote, p.MapRemoteRule = a, rule
				}
			case TypeSetRequestHeaders, TypeRemoveRequestHeaders, TypeSetQuery, TypeRemoveQuery:
				p.Request = append(p.Request, a)
			case TypeReplaceHeaders, TypeReplaceBody, TypeJSONPatch:
				if a.Phase == PhaseRequest {
					p.Request = append(p.Request, a)
				} else {
					p.Response = append(p.Response, a)
				}
			case TypeDelay:
				if a.DelayPhase() == PhaseResponse {
					p.Response = append(p.Response, a)
				} else {
					p.Request = append(p.Request, a)
				}
			case TypeOverride, TypeMock, TypeBlock:
				if p.Respond == nil {
					p.Respond, p.RespondRule = a, rule
				}
			case TypeSetResponseHeaders, TypeRemoveResponseHeaders, TypeThrottle, TypeSetStatus:
				p.Response = append(p.Response, a)
			case TypeBreakpoint:
				p.Breakpoints = append(p.Breakpoints, RuleAction{Rule: rule, Action: a})
			}
		}
	}
	return p
}
