package rules

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Limits that validation enforces.
const (
	// MaxIDLen bounds a rule ID, which appears in URLs and flow records.
	MaxIDLen = 100
	// MaxDelayMs bounds a delay action (ten minutes).
	MaxDelayMs = 600000
	// MaxPatternLen bounds match.host, match.path and match.url, which keeps
	// the cost of a match bounded whatever the request.
	MaxPatternLen = 2048
	// MaxPort is the highest TCP port a match.port may name.
	MaxPort = 65535
)

// portRange is the problem of a match.port outside 1..MaxPort.
const portRange = "must be 1..65535"

// Problem is one invalid field of one rule. The API answers 400 with a list
// of them, so the UI can point at the field.
type Problem struct {
	// RuleID is the ID of the rule, as given (possibly empty or invalid).
	RuleID string `json:"ruleId"`
	// Index is the rule's position in the list, for rules without a usable
	// ID; -1 when the problem concerns the whole document (bad JSON).
	Index int `json:"index"`
	// Field is a path inside the rule, like "match.host" or
	// "actions[0].status"; empty when the problem concerns the whole rule or
	// the whole document.
	Field   string `json:"field"`
	Message string `json:"message"`
}

// String renders the problem as `rule "id" field: message`.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.RuleID != "":
		fmt.Fprintf(&b, "rule %q", p.RuleID)
	case p.Index >= 0:
		fmt.Fprintf(&b, "rule at index %d", p.Index)
	}
	if p.Field != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(p.Field)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError carries every problem of a rule list at once, so that a
// user fixes them in one pass rather than one per attempt.
type ValidationError struct {
	Problems []Problem `json:"problems"`
}

// Error lists the problems, separated by "; ".
func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid rules"
	}
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// Validate returns every problem of rs, in rule order; nil when rs is valid.
// It also checks that bodyFile and dir name a readable file and directory.
func Validate(rs []Rule) []Problem {
	ps, _ := validateTagged(rs, func(int) bool { return true })
	return ps
}

// validateTagged checks rs; checkFS(i) says whether to look at the file
// system for rule i (the store skips rules that did not change, see Store).
// onFS tells, per problem, whether it comes from the file system (a missing
// bodyFile or dir) rather than the rule text.
func validateTagged(rs []Rule, checkFS func(i int) bool) (ps []Problem, onFS []bool) {
	seen := make(map[string]int, len(rs))
	for i := range rs {
		v := validator{rule: &rs[i], index: i, fs: checkFS(i)}
		v.check()
		if id := rs[i].ID; id != "" {
			if j, dup := seen[id]; dup {
				v.add("id", fmt.Sprintf("duplicate id (also used by the rule at index %d)", j))
			} else {
				seen[id] = i
			}
		}
		ps = append(ps, v.problems...)
		onFS = append(onFS, v.onFS...)
	}
	return ps, onFS
}

// validator collects the problems of one rule.
type validator struct {
	rule     *Rule
	index    int
	fs       bool
	problems []Problem
	onFS     []bool // parallel to problems
}

func (v *validator) add(field, msg string) {
	v.problems = append(v.problems, Problem{RuleID: v.rule.ID, Index: v.index, Field: field, Message: msg})
	v.onFS = append(v.onFS, false)
}

// addFS adds a problem found on the file system.
func (v *validator) addFS(field, msg string) {
	v.add(field, msg)
	v.onFS[len(v.onFS)-1] = true
}

func (v *validator) check() {
	r := v.rule
	switch {
	case r.ID == "":
		v.add("id", "must not be empty")
	case len(r.ID) > MaxIDLen:
		v.add("id", fmt.Sprintf("must be at most %d characters", MaxIDLen))
	case !validID(r.ID):
		v.add("id", "may contain only letters, digits, '.', '_' and '-'")
	}
	v.checkMatch(&r.Match)
	if len(r.Actions) == 0 {
		v.add("actions", "at least one action is required")
	}
	for i := range r.Actions {
		v.checkAction(fmt.Sprintf("actions[%d]", i), &r.Actions[i])
	}
}

func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (v *validator) checkMatch(m *Match) {
	for _, f := range []struct{ name, val string }{{"host", m.Host}, {"path", m.Path}, {"url", m.URL}} {
		if len(f.val) > MaxPatternLen {
			v.add("match."+f.name, fmt.Sprintf("must be at most %d characters", MaxPatternLen))
		}
	}
	for i, meth := range m.Methods {
		if !isToken(meth) {
			v.add(fmt.Sprintf("match.methods[%d]", i), fmt.Sprintf("%q is not a method name", meth))
		}
	}
	if m.Scheme != "" {
		switch strings.ToLower(m.Scheme) {
		case "http", "https", "ws", "wss":
		default:
			v.add("match.scheme", fmt.Sprintf("%q is not one of http, https, ws, wss", m.Scheme))
		}
	}
	if m.Host != "" && len(m.Host) <= MaxPatternLen {
		if msg := hostGlobProblem(m.Host); msg != "" {
			v.add("match.host", msg)
		}
	}
	if m.Path != "" && len(m.Path) <= MaxPatternLen {
		if msg := pathGlobProblem(m.Path); msg != "" {
			v.add("match.path", msg)
		}
	}
	if m.URL != "" && len(m.URL) <= MaxPatternLen {
		if _, err := regexp.Compile(m.URL); err != nil {
			v.add("match.url", "bad regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	}
	if m.Port < 0 || m.Port > MaxPort {
		v.add("match.port", portRange)
	}
}

func hostGlobProblem(h string) string {
	if _, err := compileGlob(h, true); err != nil {
		return "bad glob: " + err.Error()
	}
	if strings.ContainsAny(h, "/ \t") || hasControl(h) {
		return "must be a host name glob, without scheme, path or spaces"
	}
	// One colon is a port; several are an IPv6 address.
	if strings.Count(h, ":") == 1 || strings.HasPrefix(h, "[") && !strings.HasSuffix(h, "]") {
		return "must not include a port (the host is matched without it; use match.port)"
	}
	return ""
}

func pathGlobProblem(p string) string {
	if _, err := compileGlob(p, false); err != nil {
		return "bad glob: " + err.Error()
	}
	if p[0] != '/' && p[0] != '*' && p[0] != '?' {
		return `must start with "/" or a wildcard`
	}
	if strings.ContainsAny(p, " \t") || hasControl(p) {
		return "must not contain spaces or control characters"
	}
	return ""
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// fields of an action, used to report those that do not apply to its type.
const (
	fStatus = 1 << iota
	fHeaders
	fNames
	fBody
	fDir
	fURL
	fMs
	fPhase
	fBPS
	fReset
	fTimeout
	fOnTimeout
	fHits
	fFind
	fReplace
	fRegex
	fName
	fPatch
	fParams
)

// fieldsOf lists the fields an action type uses, from ActionSpecs; false
// for unknown types.
func fieldsOf(typ string) (int, bool) {
	spec, ok := specOf(typ)
	if !ok {
		return 0, false
	}
	mask := 0
	for _, f := range spec.Fields {
		mask |= bitOf(f.Name)
	}
	return mask, true
}

// bitOf maps an Action field's JSON name to its bit; the body sources share
// one.
func bitOf(name string) int {
	switch name {
	case "status":
		return fStatus
	case "headers":
		return fHeaders
	case "names":
		return fNames
	case "body", "bodyBase64", "bodyFile":
		return fBody
	case "dir":
		return fDir
	case "url":
		return fURL
	case "ms":
		return fMs
	case "phase":
		return fPhase
	case "bytesPerSecond":
		return fBPS
	case "reset":
		return fReset
	case "timeoutMs":
		return fTimeout
	case "onTimeout":
		return fOnTimeout
	case "hits":
		return fHits
	case "find":
		return fFind
	case "replace":
		return fReplace
	case "regex":
		return fRegex
	case "name":
		return fName
	case "patch":
		return fPatch
	case "params":
		return fParams
	}
	return 0
}

func (v *validator) checkAction(at string, a *Action) {
	mask, known := fieldsOf(a.Type)
	if !known {
		if a.Type == "" {
			v.add(at+".type", "must not be empty")
		} else {
			v.add(at+".type", fmt.Sprintf("unknown action type %q", a.Type))
		}
		return
	}
	// Fields the type does not use are reported: they are likely mistakes.
	present := []struct {
		bit   int
		name  string
		isSet bool
	}{
		{fStatus, "status", a.Status != 0},
		{fHeaders, "headers", a.Headers != nil},
		{fNames, "names", a.Names != nil},
		{fBody, "body", a.Body != nil},
		{fBody, "bodyBase64", a.BodyBase64 != ""},
		{fBody, "bodyFile", a.BodyFile != ""},
		{fDir, "dir", a.Dir != ""},
		{fURL, "url", a.URL != ""},
		{fMs, "ms", a.Ms != 0},
		{fPhase, "phase", a.Phase != ""},
		{fBPS, "bytesPerSecond", a.BytesPerSecond != 0},
		{fReset, "reset", a.Reset},
		{fTimeout, "timeoutMs", a.TimeoutMs != 0},
		{fOnTimeout, "onTimeout", a.OnTimeout != ""},
		{fHits, "hits", a.Hits != 0},
		{fFind, "find", a.Find != ""},
		{fReplace, "replace", a.Replace != ""},
		{fRegex, "regex", a.Regex},
		{fName, "name", a.Name != ""},
		{fPatch, "patch", len(a.Patch) > 0},
		{fParams, "params", a.Params != nil},
	}
	for _, p := range present {
		if p.isSet && mask&p.bit == 0 {
			if p.name == "dir" {
				v.add(at+".dir", "only mock actions serve a directory")
				continue
			}
			v.add(at+"."+p.name, fmt.Sprintf("not used by %s actions", a.Type))
		}
	}

	if mask&fStatus != 0 && a.Status != 0 && (a.Status < 100 || a.Status > 599) {
		v.add(at+".status", "must be 100..599")
	}
	if mask&fHeaders != 0 {
		v.checkHeaders(at, a)
	}
	if mask&fBody != 0 {
		v.checkBody(at, a)
	}

	switch a.Type {
	case TypeOverride:
		if a.Status == 0 && a.Headers == nil && a.Body == nil && a.BodyBase64 == "" && a.BodyFile == "" {
			v.add(at, "an override needs a body, a status or headers")
		}
	case TypeMock:
		if a.Dir != "" {
			v.checkDir(at+".dir", a.Dir)
		}
	case TypeMapRemote:
		if msg := mapURLProblem(a.URL); msg != "" {
			v.add(at+".url", msg)
		}
	case TypeRemoveRequestHeaders, TypeRemoveResponseHeaders:
		if len(a.Names) == 0 {
			v.add(at+".names", "at least one header name is required")
		}
		for _, n := range a.Names {
			if !isToken(n) {
				v.add(at+".names", fmt.Sprintf("%q is not a valid header name", n))
			}
		}
	case TypeDelay:
		if a.Ms < 1 || a.Ms > MaxDelayMs {
			v.add(at+".ms", fmt.Sprintf("must be 1..%d", MaxDelayMs))
		}
		switch a.Phase {
		case "", PhaseRequest, PhaseResponse:
		default:
			v.add(at+".phase", fmt.Sprintf("%q is not request or response", a.Phase))
		}
	case TypeThrottle:
		if a.BytesPerSecond < 1 {
			v.add(at+".bytesPerSecond", "must be at least 1")
		}
	case TypeBreakpoint:
		switch a.Phase {
		case "", PhaseRequest, PhaseResponse, PhaseBoth:
		default:
			v.add(at+".phase", fmt.Sprintf("%q is not request, response or both", a.Phase))
		}
		if a.TimeoutMs < 0 || a.TimeoutMs > MaxBreakpointTimeoutMs {
			v.add(at+".timeoutMs", fmt.Sprintf("must be 1..%d (30 minutes); leave it out for %d", MaxBreakpointTimeoutMs, DefaultBreakpointTimeoutMs))
		}
		switch a.OnTimeout {
		case "", OnTimeoutContinue, OnTimeoutAbort:
		default:
			v.add(at+".onTimeout", fmt.Sprintf("%q is not continue or abort", a.OnTimeout))
		}
		if a.Hits < 0 {
			v.add(at+".hits", "must be 0 (every match) or more")
		}
	case TypeReplaceBody, TypeReplaceHeaders:
		v.checkRewritePhase(at, a)
		v.checkFind(at, a)
		if a.Type == TypeReplaceHeaders {
			if a.Name != "" {
				if msg := headerGlobProblem(a.Name); msg != "" {
					v.add(at+".name", msg)
				}
			}
			if !validHeaderValue(a.Replace) {
				v.add(at+".replace", "must not contain control characters (CR, LF, NUL): it goes into header values")
			}
		}
	case TypeJSONPatch:
		v.checkRewritePhase(at, a)
		if msg := patchProblem(a); msg != "" {
			v.add(at+".patch", msg)
		}
	case TypeSetQuery:
		if len(a.Params) == 0 {
			v.add(at+".params", "at least one parameter is required")
		}
		for _, k := range slices.Sorted(maps.Keys(a.Params)) {
			if k == "" {
				v.add(at+".params", "a parameter name must not be empty")
			}
		}
	case TypeRemoveQuery:
		if len(a.Names) == 0 {
			v.add(at+".names", "at least one parameter name is required")
		}
		for _, n := range a.Names {
			if n == "" {
				v.add(at+".names", "a parameter name must not be empty")
				break
			}
		}
	case TypeSetStatus:
		if a.Status == 0 {
			v.add(at+".status", "is required (200..599)")
		} else if a.Status >= 100 && a.Status < 200 {
			v.add(at+".status", "must be 200..599: a 1xx status is not a final answer")
		}
	case TypeBlock:
		if a.Reset {
			if a.Status != 0 || a.Headers != nil || a.Body != nil || a.BodyBase64 != "" || a.BodyFile != "" {
				v.add(at+".reset", "a reset sends no answer: drop status, headers and body")
			}
		}
	}
}

// checkRewritePhase checks the phase that a rewrite of bodies or headers
// must name.
func (v *validator) checkRewritePhase(at string, a *Action) {
	switch a.Phase {
	case PhaseRequest, PhaseResponse:
	case "":
		v.add(at+".phase", "is required: request or response")
	default:
		v.add(at+".phase", fmt.Sprintf("%q is not request or response", a.Phase))
	}
}

// checkFind checks find, and replace's group references when find is a
// regular expression.
func (v *validator) checkFind(at string, a *Action) {
	if a.Find == "" {
		v.add(at+".find", "must not be empty")
		return
	}
	if !a.Regex {
		return
	}
	if len(a.Find) > MaxPatternLen {
		v.add(at+".find", fmt.Sprintf("a regular expression must be at most %d characters", MaxPatternLen))
		return
	}
	re, err := regexp.Compile(a.Find)
	if err != nil {
		v.add(at+".find", "bad regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return
	}
	if msg := templateProblem(re, a.Replace); msg != "" {
		v.add(at+".replace", msg)
	}
}

// headerGlobProblem checks a replaceHeaders name: a glob over header names.
func headerGlobProblem(g string) string {
	if _, err := compileGlob(g, true); err != nil {
		return "bad glob: " + err.Error()
	}
	for i := 0; i < len(g); i++ {
		if c := g[i]; !isTchar(c) && c != '?' && c != '\\' {
			return fmt.Sprintf("%q is not a header name or a glob of one", g)
		}
	}
	return ""
}

func (v *validator) checkHeaders(at string, a *Action) {
	needed := a.Type == TypeSetRequestHeaders || a.Type == TypeSetResponseHeaders
	if needed && len(a.Headers) == 0 {
		v.add(at+".headers", "at least one header is required")
	}
	// Problems name the header in the message, not the field: the form
	// shows the headers as one field.
	field := at + ".headers"
	for _, name := range slices.Sorted(maps.Keys(a.Headers)) {
		if !isToken(name) {
			v.add(field, fmt.Sprintf("%q is not a valid header name", name))
			continue
		}
		if managedHeader(name) {
			v.add(field, fmt.Sprintf("%s is managed by the proxy (connection and framing headers are set per hop)", name))
			continue
		}
		if !validHeaderValue(a.Headers[name]) {
			v.add(field, fmt.Sprintf("the value of %s must not contain control characters (CR, LF, NUL)", name))
		}
	}
}

// managedHeader reports whether a rule may not set the header: the
// hop-by-hop headers (RFC 9110 7.6.1) and the framing headers. Forwarding
// them is how a proxy makes client and origin disagree about a connection;
// Loupe computes them for each hop itself.
func managedHeader(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length":
		return true
	}
	return false
}

func (v *validator) checkBody(at string, a *Action) {
	var sources []string
	if a.Body != nil {
		sources = append(sources, "body")
	}
	if a.BodyBase64 != "" {
		sources = append(sources, "bodyBase64")
		if _, err := base64.StdEncoding.DecodeString(a.BodyBase64); err != nil {
			v.add(at+".bodyBase64", "not valid standard base64")
		}
	}
	if a.BodyFile != "" {
		sources = append(sources, "bodyFile")
		if v.fs {
			if msg := fileProblem(a.BodyFile); msg != "" {
				v.addFS(at+".bodyFile", msg)
			}
		}
	}
	if a.Dir != "" && len(sources) > 0 {
		v.add(at+".dir", fmt.Sprintf("conflicts with %s: a mock serves either a directory or one body", sources[0]))
	}
	for _, s := range sources[min(1, len(sources)):] {
		v.add(at+"."+s, fmt.Sprintf("conflicts with %s: give at most one body source", sources[0]))
	}
}

func fileProblem(name string) string {
	f, err := os.Open(name)
	if err != nil {
		return "cannot be read: " + pathErrText(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "cannot be read: " + pathErrText(err)
	}
	if !st.Mode().IsRegular() {
		return "is not a regular file"
	}
	return ""
}

func (v *validator) checkDir(field, dir string) {
	if !v.fs {
		return
	}
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		v.addFS(field, "cannot be read: "+pathErrText(err))
	case !st.IsDir():
		v.addFS(field, "is not a directory")
	}
}

// pathErrText drops the repeated path from an *os.PathError.
func pathErrText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

func mapURLProblem(raw string) string {
	if raw == "" {
		return "must not be empty"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return "must be an absolute URL starting with http://, https://, ws:// or wss://"
	}
	if u.Host == "" || u.Hostname() == "" {
		return "must include a host"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "port must be 1..65535"
		}
	}
	if u.User != nil {
		return "must not include user information"
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "must not include a query or fragment (the request's query is kept)"
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil && strings.Contains(u.Host, ":") && !strings.HasPrefix(u.Host, "[") {
		return "not a valid host"
	}
	return ""
}

// isToken reports whether s is an RFC 9110 token (a method or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHeaderValue rejects control characters other than horizontal tab, as
// net/http does; a CR or LF would split the header.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
