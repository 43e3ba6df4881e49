package query

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"

	"loupe/internal/glob"
	"loupe/proxy/flow"
)

// Key is what a term looks at.
type Key int

// The keys of the filter language. Text (no key) matches the URL.
const (
	Text Key = iota
	Method
	Status
	Host
	Path
	Type
	Body
	Rule
	Error
	WS
	Port
	Kind
	GRPC
	// Header keys (header.go), number comparisons (number.go) and
	// groups (expr.go).
	Header
	ReqHeader
	ResHeader
	Duration
	Size
	Group // (a b or c): not a key of the language, the parser builds it
	// Marked, Color and Comment look at a flow's annotation.
	Marked
	Color
	Comment
	// Composed and Replay select requests Loupe sent for a person: written
	// in the dashboard's editor, or replays; with a flow ID, those made
	// from that flow.
	Composed
	Replay
)

// names maps a key's name in the filter language to the key.
var names = map[string]Key{
	"method": Method,
	"status": Status,
	"host":   Host,
	"path":   Path,
	"type":   Type,
	"body":   Body,
	"rule":   Rule,
	"error":  Error,
	"ws":     WS,
	"port":   Port,
	"kind":   Kind,
	"grpc":   GRPC,

	"header":    Header,
	"reqheader": ReqHeader,
	"resheader": ResHeader,
	"duration":  Duration,
	"size":      Size,
	// A flow's annotation: marked: (takes no value), color:red (color:
	// alone: any colour), comment:text (comment: alone: any comment).
	"marked":  Marked,
	"color":   Color,
	"comment": Comment,
	// composed: (composed:42: edited from flow 42), replay: (replay:42).
	"composed": Composed,
	"replay":   Replay,
}

// KeyNamed is the key of a name in the filter language (lower-case).
func KeyNamed(name string) (Key, bool) {
	k, ok := names[name]
	return k, ok
}

// Names are the keys' names in the filter language, in Key order.
func Names() []string {
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b string) int { return int(names[a]) - int(names[b]) })
	return out
}

// String is the key's name in the filter language ("" for Text).
func (k Key) String() string {
	for n, v := range names {
		if v == k {
			return n
		}
	}
	return ""
}

// The GRPC values of a term that are not a single status code.
const (
	GRPCAny   = -1 // grpc: any gRPC call
	GRPCError = -2 // grpc:error a status other than OK
)

// Term is one condition. The fields beyond Key, Negate, Value and Low are
// the parsed forms of Value that the key needs.
type Term struct {
	Key    Key
	Negate bool
	Value  string // as written (unquoted)
	Low    string // Value with ASCII letters lower-cased

	Methods []string    // Method: upper-cased alternatives
	Kinds   []flow.Kind // Kind: alternatives
	Status  int         // Status: the code, or class*100 when Class
	Class   bool        // Status: "4xx"
	GRPC    int         // GRPC: a status code, GRPCAny or GRPCError
	Of      flow.ID     // Composed, Replay: the flow made from (0: any)

	// Glob is the compiled pattern of Host and Path (Low, folded) and of a
	// header term's value (nil: the header's presence alone).
	Glob *glob.Glob
	// Range bounds Port (port numbers, 1..65535), Duration (microseconds)
	// and Size (bytes), both ends included.
	Range Range
	// Name is a header term's field name, lower-cased.
	Name string
	// Any are a Group's alternatives, each a conjunction of terms.
	Any [][]Term
}

// Bodies opens the decoded bytes of one body facet of a flow, for Body
// terms. A facet that cannot be opened simply doesn't match.
type Bodies func(id flow.ID, facet flow.Facet) (io.ReadCloser, error)

// Query is a conjunction of terms, and optionally a Go predicate (Func) for
// callers inside Loupe that select flows by something the language cannot
// say. The zero value and nil match every flow.
type Query struct {
	Terms []Term
	// Func, when set, must also hold. Stores cannot compile it: it always
	// runs as a (bounded) scan.
	Func func(*flow.Flow) bool
	// Session, when not 0, keeps the flows of that session only (a list
	// of one session of the capture); the filter language does not say it,
	// the caller sets it.
	Session flow.SessionID
}

// InSession returns a copy of q restricted to one session (0: every
// session); q may be nil.
func InSession(q *Query, session flow.SessionID) *Query {
	if session == 0 {
		return q
	}
	var out Query
	if q != nil {
		out = *q
	}
	out.Session = session
	return &out
}

// MatchFunc is a query of a Go predicate alone (nil: every flow).
func MatchFunc(fn func(*flow.Flow) bool) *Query {
	if fn == nil {
		return nil
	}
	return &Query{Func: fn}
}

// Empty reports whether the query matches every flow.
func (q *Query) Empty() bool { return q == nil || len(q.Terms) == 0 && q.Func == nil && q.Session == 0 }

// NeedsBodies reports whether evaluating the query reads bodies (a body:
// term, alone or in a group), which is far more costly than the other
// terms.
func (q *Query) NeedsBodies() bool {
	return q != nil && needsBodies(q.Terms)
}

// Match reports whether fl satisfies the terms and Func. With bodies ==
// nil, body terms are unknown and Match answers whether fl may match (a
// superset): callers use that as a cheap pre-filter and evaluate the full
// query on the survivors. With bodies, a body is read only when the other
// terms leave the answer open.
func (q *Query) Match(fl *flow.Flow, bodies Bodies) bool {
	if q == nil {
		return true
	}
	if q.Session != 0 && fl.Session != q.Session {
		return false
	}
	v := all(q.Terms, fl, nil)
	if v == no {
		return false
	}
	if q.Func != nil && !q.Func(fl) {
		return false
	}
	if v == yes || bodies == nil {
		return true
	}
	return all(q.Terms, fl, bodies) == yes
}

// Match reports whether fl satisfies the term, negation aside.
func (t *Term) Match(fl *flow.Flow, bodies Bodies) bool {
	switch t.Key {
	case Text:
		return strings.Contains(Lower(fl.Request.URL), t.Low)
	case Method:
		return t.matchMethod(fl.Request.Method)
	case Status:
		st := 0
		if fl.Response != nil {
			st = fl.Response.Status
		}
		return t.matchStatus(st)
	case Host:
		return t.glob().Match(Lower(HostOf(fl.Request.URL)))
	case Path:
		return t.matchPath(fl.Request.URL)
	case Type:
		ct := ""
		if fl.Response != nil {
			ct = fl.Response.Header.Get("Content-Type")
		}
		return strings.Contains(Lower(ct), t.Low)
	case Body:
		return bodyContains(fl, bodies, flow.FacetRequest, t.Low) ||
			bodyContains(fl, bodies, flow.FacetResponse, t.Low)
	case Rule:
		return t.matchRules(fl.Rules)
	case Error:
		code, msg, ok := fl.GRPCStatus()
		return t.matchError(fl.State, fl.Error, code, msg, ok)
	case WS:
		return fl.IsWebSocket()
	case Port:
		return t.Range.Has(int64(PortOf(fl.Request.URL)))
	case Kind:
		return slices.Contains(t.Kinds, fl.Kind)
	case GRPC:
		if t.GRPC == GRPCAny {
			return IsGRPC(fl)
		}
		code, _, ok := fl.GRPCStatus()
		return t.matchGRPCCode(code, ok)
	case Header, ReqHeader, ResHeader:
		return t.matchHeaders(fl)
	case Duration:
		us, ok := FlowMicros(fl)
		return ok && t.Range.Has(us)
	case Size:
		return t.Range.Has(fl.ResponseBody.Size)
	case Group:
		return anyOf(t.Any, fl, bodies) != no
	case Marked, Color, Comment:
		return t.matchAnnotation(fl.Annotation.Value())
	case Composed:
		return fl.Composed && (t.Of == 0 || fl.ComposedFrom == t.Of)
	case Replay:
		return fl.ReplayOf != 0 && (t.Of == 0 || fl.ReplayOf == t.Of)
	}
	return false
}

// matchAnnotation: marked: a marked flow; color: one of that colour (any
// colour when the value is empty); comment: one whose comment contains the
// value (any comment when it is empty).
func (t *Term) matchAnnotation(a flow.Annotation) bool {
	switch t.Key {
	case Marked:
		return a.Marked
	case Color:
		return a.Color != "" && (t.Low == "" || string(a.Color) == t.Low)
	case Comment:
		return a.Comment != "" && strings.Contains(Lower(a.Comment), t.Low)
	}
	return false
}

func (t *Term) matchMethod(m string) bool {
	for _, want := range t.Methods {
		if strings.EqualFold(m, want) {
			return true
		}
	}
	return false
}

func (t *Term) matchStatus(st int) bool {
	if t.Class {
		return st >= t.Status && st < t.Status+100
	}
	return st == t.Status
}

func (t *Term) matchPath(url string) bool {
	p, q := PathOf(url)
	lp := Lower(p)
	g := t.glob()
	if g.Match(lp) {
		return true
	}
	return q != "" && g.Match(lp+"?"+Lower(q))
}

// glob is the term's compiled pattern; a term built by hand without one
// compiles Low on each call.
func (t *Term) glob() *glob.Glob {
	if t.Glob != nil {
		return t.Glob
	}
	g, err := glob.Compile(t.Low, true)
	if err != nil {
		g, _ = glob.Compile(strings.TrimSuffix(t.Low, `\`), true)
	}
	return g
}

func (t *Term) matchRules(rules []string) bool {
	if t.Value == "" {
		return len(rules) > 0
	}
	return slices.Contains(rules, t.Value)
}

// matchError: a flow that failed, or a gRPC call whose status is not OK
// (though HTTP said 200), whose message contains the value.
func (t *Term) matchError(state flow.State, errMsg string, code int, msg string, grpcOK bool) bool {
	if state == flow.StateError || errMsg != "" {
		if strings.Contains(Lower(errMsg), t.Low) {
			return true
		}
	}
	if grpcOK && code != 0 {
		return t.Low == "" || strings.Contains(Lower(GRPCErrorText(code, msg)), t.Low)
	}
	return false
}

func (t *Term) matchGRPCCode(code int, ok bool) bool {
	if !ok {
		return false
	}
	if t.GRPC == GRPCError {
		return code != 0
	}
	return code == t.GRPC
}

// GRPCErrorText is what an error: term searches in a failed gRPC call:
// "NOT_FOUND: the message".
func GRPCErrorText(code int, msg string) string {
	return flow.GRPCCodeName(code) + ": " + msg
}

// IsGRPC reports whether fl is a gRPC or gRPC-Web call: its request or its
// response says so.
func IsGRPC(fl *flow.Flow) bool {
	if fl.Response != nil && flow.IsGRPC(fl.Response.Header.Get("Content-Type")) {
		return true
	}
	return flow.IsGRPC(fl.Request.Header.Get("Content-Type"))
}

// MatchSummary evaluates the query on a list row, for the live feed: sure
// is false when a term needs more than a summary holds (a body, Func, or
// grpc: on a flow whose response does not say gRPC, since the summary lacks
// the request's headers); match is then meaningless and the caller must
// evaluate the flow itself.
func (q *Query) MatchSummary(s *flow.Summary) (match, sure bool) {
	if q == nil {
		return true, true
	}
	if q.Session != 0 && s.Session != q.Session {
		return false, true
	}
	switch allSummary(q.Terms, s) {
	case no:
		return false, true // one certain failure decides
	case unknown:
		return false, false
	}
	if q.Func != nil {
		return false, false
	}
	return true, true
}

func (t *Term) matchSummary(s *flow.Summary) (match, sure bool) {
	switch t.Key {
	case Text:
		return strings.Contains(Lower(s.URL), t.Low), true
	case Method:
		return t.matchMethod(s.Method), true
	case Status:
		return t.matchStatus(s.Status), true
	case Host:
		return t.glob().Match(Lower(HostOf(s.URL))), true
	case Path:
		return t.matchPath(s.URL), true
	case Type:
		return strings.Contains(Lower(s.ContentType), t.Low), true
	case Rule:
		return t.matchRules(s.Rules), true
	case Error:
		code, ok := 0, s.GRPCStatus != nil
		if ok {
			code = *s.GRPCStatus
		}
		return t.matchError(s.State, s.Error, code, s.GRPCMessage, ok), true
	case WS:
		return s.WebSocket, true
	case Port:
		return t.Range.Has(int64(PortOf(s.URL))), true
	case Kind:
		return slices.Contains(t.Kinds, s.Kind), true
	case GRPC:
		if t.GRPC == GRPCAny {
			if s.GRPCStatus != nil || flow.IsGRPC(s.ContentType) {
				return true, true
			}
			return false, false // the request may say gRPC
		}
		code, ok := 0, s.GRPCStatus != nil
		if ok {
			code = *s.GRPCStatus
		}
		return t.matchGRPCCode(code, ok), true
	case Duration:
		// A summary says -1 for a flow without an end, which a flow in
		// flight is; a finished one may also have ended exactly 1 ms
		// before it began (an odd import): only the flow can tell.
		if s.Duration == -1 {
			return false, s.State == flow.StatePending
		}
		return t.Range.Has(SummaryMicros(s.Duration)), true
	case Size:
		return t.Range.Has(s.Size), true
	case Marked, Color, Comment:
		return t.matchAnnotation(s.Annotation), true
	case Composed:
		return s.Composed && (t.Of == 0 || s.ComposedFrom == t.Of), true
	case Replay:
		return s.ReplayOf != 0 && (t.Of == 0 || s.ReplayOf == t.Of), true
	}
	return false, false // Body, headers (a summary has none), Group (allSummary)
}

// Lower lower-cases ASCII letters only, so byte offsets are preserved and
// matching is the same on the query and on the data (SQLite's lower() does
// the same). It is glob.Lower, so globs fold the same letters.
func Lower(s string) string { return glob.Lower(s) }

// HostOf returns the host of an absolute URL without port, or "".
func HostOf(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return rest[1:i]
		}
		return rest
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// PathOf splits an absolute URL into its path ("/" if empty) and query.
func PathOf(u string) (path, query string) {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		rest = u
	} else if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	rest, _, _ = strings.Cut(rest, "#")
	path, query, _ = strings.Cut(rest, "?")
	if path == "" {
		path = "/"
	}
	return path, query
}

// ParsePort reads a port:value: 1..65535 in decimal digits, else 0.
func ParsePort(v string) int {
	if v == "" || len(v) > 5 {
		return 0
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0
	}
	return n
}

// PortOf is the port an absolute URL addresses, as rules compare it: its
// explicit port, else 80 for http and ws, 443 for https and wss; 0 when
// neither is known (an imported flow with an odd URL matches no port).
func PortOf(u string) int {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return 0
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		i := strings.IndexByte(rest, ']')
		if i < 0 {
			return 0
		}
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		if p := rest[i+1:]; p != "" {
			return ParsePort(p)
		}
	}
	switch Lower(scheme) {
	case "http", "ws":
		return 80
	case "https", "wss":
		return 443
	}
	return 0
}

// Glob matches s against pattern with Loupe's one glob matcher
// (internal/glob): "*" any run, "/" included; "?" one character; "\"
// escapes. Both are expected folded (Lower). A malformed pattern (a
// trailing lone "\") matches nothing.
func Glob(pattern, s string) bool {
	g, err := glob.Compile(pattern, false)
	return err == nil && g.Match(s)
}

// BodyScanLimit bounds how much of one body a body: term reads.
const BodyScanLimit = 64 << 20

// scanBufs recycles the scan windows: a body: query over a large capture
// scans thousands of bodies. A pool of buffers is not state: any buffer
// serves any caller.
var scanBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// bodyContains streams the body through a window, so a needle that spans two
// reads is still found and the body is never held whole in memory. Facets
// known to be empty are not opened.
func bodyContains(fl *flow.Flow, bodies Bodies, facet flow.Facet, needle string) bool {
	if bodies == nil {
		return true
	}
	switch facet {
	case flow.FacetRequest:
		if fl.RequestBody.Captured == 0 {
			return false
		}
	case flow.FacetResponse:
		if fl.ResponseBody.Captured == 0 {
			return false
		}
	}
	rc, err := bodies(fl.ID, facet)
	if err != nil {
		return false
	}
	defer rc.Close()
	return Contains(rc, needle, BodyScanLimit)
}

// Contains reports whether the first limit bytes of r contain needle
// (lower-case), ignoring ASCII case.
func Contains(r io.Reader, needle string, limit int64) bool {
	n := []byte(needle)
	bp := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(bp)
	if len(*bp) < 2*len(n)+1024 {
		*bp = make([]byte, 2*len(n)+32<<10)
	}
	buf := *bp
	keep := 0
	r = io.LimitReader(r, limit)
	for {
		m, err := r.Read(buf[keep:])
		if m > 0 {
			chunk := buf[:keep+m]
			lowerBytes(chunk[keep:])
			if bytes.Contains(chunk, n) {
				return true
			}
			keep = min(len(n)-1, len(chunk))
			copy(buf, chunk[len(chunk)-keep:])
		}
		if err != nil {
			return false
		}
	}
}

func lowerBytes(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// String renders the terms in canonical form (Func has none); parsing it
// again yields an equivalent query.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	return termsString(q.Terms)
}

func termsString(terms []Term) string {
	parts := make([]string, 0, len(terms))
	for i := range terms {
		parts = append(parts, terms[i].String())
	}
	return strings.Join(parts, " ")
}

// String renders one term as the language writes it.
func (t *Term) String() string {
	var b strings.Builder
	if t.Negate {
		b.WriteByte('-')
	}
	if t.Key == Group {
		b.WriteByte('(')
		for i, alt := range t.Any {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(termsString(alt))
		}
		b.WriteByte(')')
		return b.String()
	}
	if t.Key != Text {
		b.WriteString(t.Key.String())
		b.WriteByte(':')
	}
	if t.Key == WS || t.Key == Marked || (t.Key == GRPC || t.Key == Color || t.Key == Comment || t.Key == Composed || t.Key == Replay) && t.Value == "" {
		return b.String()
	}
	if t.Key == Text && (t.Low == "or" || t.Value == "|") {
		b.WriteString(`"` + t.Value + `"`) // the operator's spelling, as text
		return b.String()
	}
	b.WriteString(quote(t.Value))
	return b.String()
}

// quote quotes v when it is empty or holds characters with a meaning.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n\":\\()|") && !strings.HasPrefix(v, "-") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}
