// Package filter is the flow filter language of the dashboard: a query such
// as `host:*.example.com status:4xx -method:OPTIONS` parsed once and evaluated
// in Go against flows on the server.
//
// Grammar (terms are separated by spaces and combine with AND):
//
//	query := term*
//	term  := ["-"] (key ":" value | text)
//	value := word | '"' chars '"'   (inside quotes, \" and \\ are escapes)
//
// Keys: method, status, host, path, port, type, body, rule, error, ws, kind,
// grpc. Text without a key matches the URL. A term like `https://x` (a colon followed by "//") is
// text, not a key. An unknown key, a missing value, an unterminated quote or a
// lone "-" is a bad filter, reported as an *Error naming the term.
//
// Text comparisons ignore ASCII case. The package never reads bodies itself:
// the caller passes a Bodies function, so the filter stays free of storage.
package filter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"loupe/proxy/flow"
)

// Error is a bad filter: Term is the offending term as the user wrote it.
type Error struct {
	Term    string
	Message string
}

// Error names the term and the problem, for the 400 answer.
func (e *Error) Error() string {
	return fmt.Sprintf("bad filter term %q: %s", e.Term, e.Message)
}

// Bodies opens the decoded bytes of one body facet of a flow, for `body:`
// terms. A missing facet is reported with an error and simply doesn't match.
type Bodies func(id flow.ID, facet flow.Facet) (io.ReadCloser, error)

// Filter is a parsed query. The zero value (and nil) matches every flow.
type Filter struct {
	terms []term
}

type kind int

const (
	kText kind = iota
	kMethod
	kStatus
	kHost
	kPath
	kType
	kBody
	kRule
	kError
	kWS
	kPort
	kKind
	kGRPC
)

var keys = map[string]kind{
	"method": kMethod,
	"status": kStatus,
	"host":   kHost,
	"path":   kPath,
	"type":   kType,
	"body":   kBody,
	"rule":   kRule,
	"error":  kError,
	"ws":     kWS,
	"port":   kPort,
	"kind":   kKind,
	"grpc":   kGRPC,
}

var keyNames = func() map[kind]string {
	m := make(map[kind]string, len(keys))
	for k, v := range keys {
		m[v] = k
	}
	return m
}()

type term struct {
	kind   kind
	negate bool
	value  string // as written (unquoted)
	low    string // lower-cased value, for ASCII case-insensitive matching

	methods []string    // kMethod: upper-cased alternatives
	kinds   []flow.Kind // kKind: alternatives
	status  int         // kStatus: exact code, or class*100 when class is set
	class   bool        // kStatus: "4xx"
	port    int         // kPort: 1..65535
	grpc    int         // kGRPC: a status code, or one of the grpcAny… values
}

// The kGRPC values that are not a single status code.
const (
	grpcAny   = -1 // grpc: any gRPC flow
	grpcError = -2 // grpc:error a status other than OK
)

// MaxQueryLen bounds a query, so a hostile one can't make matching costly.
const MaxQueryLen = 4096

// Parse parses a query. An empty query yields a filter that matches
// everything.
func Parse(q string) (*Filter, error) {
	if len(q) > MaxQueryLen {
		return nil, &Error{Term: q[:32] + "...", Message: fmt.Sprintf("query longer than %d bytes", MaxQueryLen)}
	}
	f := &Filter{}
	i := 0
	for {
		for i < len(q) && isSpace(q[i]) {
			i++
		}
		if i >= len(q) {
			return f, nil
		}
		start := i
		raw, text, quoted, end, err := scanTerm(q, i)
		i = end
		if err != nil {
			return nil, &Error{Term: q[start:end], Message: err.Error()}
		}
		t, err := makeTerm(raw, text, quoted)
		if err != nil {
			return nil, &Error{Term: q[start:end], Message: err.Error()}
		}
		f.terms = append(f.terms, t)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scanTerm reads one term from q[i:] and returns it twice: text is the term
// with quotes removed and escapes resolved; raw has every quoted section
// replaced by a NUL byte, so keys and the "-" prefix are recognised only
// outside quotes (`"a:b"` stays text). It also reports whether a quote was
// used and where the term ends.
func scanTerm(q string, i int) (raw, text string, quoted bool, end int, err error) {
	var rawB, textB strings.Builder
	for i < len(q) && !isSpace(q[i]) {
		c := q[i]
		if c != '"' {
			rawB.WriteByte(c)
			textB.WriteByte(c)
			i++
			continue
		}
		quoted = true
		// A quote protects everything up to the closing quote: mark it in raw
		// with a placeholder byte that can't form a key.
		rawB.WriteByte(0)
		i++
		closed := false
		for i < len(q) {
			c := q[i]
			if c == '\\' && i+1 < len(q) && (q[i+1] == '"' || q[i+1] == '\\') {
				textB.WriteByte(q[i+1])
				i += 2
				continue
			}
			if c == '"' {
				closed = true
				i++
				break
			}
			textB.WriteByte(c)
			i++
		}
		if !closed {
			return "", "", quoted, len(q), errors.New("unterminated quote")
		}
	}
	return rawB.String(), textB.String(), quoted, i, nil
}

func makeTerm(raw, text string, quoted bool) (term, error) {
	var t term
	if strings.HasPrefix(raw, "-") {
		t.negate = true
		raw, text = raw[1:], text[1:]
		if raw == "" {
			return t, errors.New("nothing after '-' to negate")
		}
	}
	key, _, hasColon := strings.Cut(raw, ":")
	if !hasColon || !isKey(key) || strings.HasPrefix(raw[len(key)+1:], "//") {
		if text == "" {
			return t, errors.New("empty text")
		}
		t.kind = kText
		t.value = text
		t.low = lower(text)
		return t, nil
	}
	k, ok := keys[lower(key)]
	if !ok {
		return t, fmt.Errorf("unknown key %q (known: method, status, host, path, port, type, body, rule, error, ws, kind, grpc)", key)
	}
	t.kind = k
	t.value = text[len(key)+1:]
	t.low = lower(t.value)
	switch k {
	case kMethod:
		for m := range strings.SplitSeq(t.value, ",") {
			if m = strings.TrimSpace(m); m != "" {
				t.methods = append(t.methods, strings.ToUpper(m))
			}
		}
		if len(t.methods) == 0 {
			return t, errors.New("method: needs a method, e.g. method:GET or method:GET,POST")
		}
	case kStatus:
		v := t.low
		switch {
		case len(v) == 3 && v[0] >= '1' && v[0] <= '5' && v[1:] == "xx":
			t.class = true
			t.status = int(v[0]-'0') * 100
		default:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 999 || len(v) > 3 {
				return t, errors.New("status: needs a code (404) or a class (4xx)")
			}
			t.status = n
		}
	case kHost, kPath, kType, kBody:
		if t.value == "" && !quoted {
			return t, fmt.Errorf("%s: needs a value", key)
		}
		if k == kBody && t.value == "" {
			return t, errors.New("body: needs non-empty text")
		}
	case kWS:
		if t.value != "" {
			return t, errors.New("ws: takes no value")
		}
	case kPort:
		if t.port = parsePort(t.value); t.port == 0 {
			return t, errors.New("port: needs a port number 1..65535, e.g. port:8080")
		}
	case kKind:
		for v := range strings.SplitSeq(t.low, ",") {
			k, ok := kindNames[strings.TrimSpace(v)]
			if !ok {
				return t, errors.New("kind: needs http, tunnel or tls-error (commas mean any of)")
			}
			t.kinds = append(t.kinds, k)
		}
	case kGRPC:
		code, err := grpcValue(t.value)
		if err != nil {
			return t, err
		}
		t.grpc = code
	}
	return t, nil
}

// kindNames are the values of kind: terms: "http" names the flows that
// are HTTP exchanges (flow.KindHTTP, the empty kind).
var kindNames = map[string]flow.Kind{
	"http":                    flow.KindHTTP,
	string(flow.KindTunnel):   flow.KindTunnel,
	string(flow.KindTLSError): flow.KindTLSError,
}

func isKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// lower lower-cases ASCII letters only, so byte offsets are preserved and
// matching is the same on the query and on the data.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Empty reports whether the filter has no terms (it matches everything).
func (f *Filter) Empty() bool { return f == nil || len(f.terms) == 0 }

// NeedsBodies reports whether evaluating the filter reads bodies (a body:
// term), which is far more costly than the other terms.
func (f *Filter) NeedsBodies() bool {
	if f == nil {
		return false
	}
	for _, t := range f.terms {
		if t.kind == kBody {
			return true
		}
	}
	return false
}

// Match reports whether fl satisfies every term. With bodies == nil, body:
// terms are skipped (treated as satisfied): callers use that as a cheap
// pre-filter and evaluate the full filter on the survivors.
func (f *Filter) Match(fl *flow.Flow, bodies Bodies) bool {
	if f == nil {
		return true
	}
	// Cheap terms first, so a body is read only when everything else matched.
	for _, t := range f.terms {
		if t.kind != kBody && t.match(fl, nil) == t.negate {
			return false
		}
	}
	if bodies == nil {
		return true
	}
	for _, t := range f.terms {
		if t.kind == kBody && t.match(fl, bodies) == t.negate {
			return false
		}
	}
	return true
}

func (t *term) match(fl *flow.Flow, bodies Bodies) bool {
	switch t.kind {
	case kText:
		return strings.Contains(lower(fl.Request.URL), t.low)
	case kMethod:
		for _, m := range t.methods {
			if strings.EqualFold(fl.Request.Method, m) {
				return true
			}
		}
		return false
	case kStatus:
		st := 0
		if fl.Response != nil {
			st = fl.Response.Status
		}
		if t.class {
			return st >= t.status && st < t.status+100
		}
		return st == t.status
	case kHost:
		return Glob(t.low, lower(hostOf(fl.Request.URL)))
	case kPath:
		p, q := pathOf(fl.Request.URL)
		lp := lower(p)
		if Glob(t.low, lp) {
			return true
		}
		return q != "" && Glob(t.low, lp+"?"+lower(q))
	case kType:
		ct := ""
		if fl.Response != nil {
			ct = fl.Response.Header.Get("Content-Type")
		}
		return strings.Contains(lower(ct), t.low)
	case kBody:
		return bodyContains(fl, bodies, flow.FacetRequest, t.low) ||
			bodyContains(fl, bodies, flow.FacetResponse, t.low)
	case kRule:
		if t.value == "" {
			return len(fl.Rules) > 0
		}
		for _, id := range fl.Rules {
			if id == t.value {
				return true
			}
		}
		return false
	case kError:
		if fl.State == flow.StateError || fl.Error != "" {
			if strings.Contains(lower(fl.Error), t.low) {
				return true
			}
		}
		// A gRPC call that failed is an error too, though HTTP said 200.
		if code, msg, ok := fl.GRPCStatus(); ok && code != 0 {
			return t.low == "" || strings.Contains(lower(flow.GRPCCodeName(code)+": "+msg), t.low)
		}
		return false
	case kWS:
		return fl.IsWebSocket()
	case kPort:
		return portOf(fl.Request.URL) == t.port
	case kKind:
		return slices.Contains(t.kinds, fl.Kind)
	case kGRPC:
		if t.grpc == grpcAny {
			return isGRPC(fl)
		}
		code, _, ok := fl.GRPCStatus()
		if !ok {
			return false
		}
		if t.grpc == grpcError {
			return code != 0
		}
		return code == t.grpc
	}
	return false
}

// grpcValue parses the value of a grpc: term: empty (any gRPC flow),
// "error", a status name (NOT_FOUND) or a status number (5).
func grpcValue(v string) (int, error) {
	switch {
	case v == "":
		return grpcAny, nil
	case strings.EqualFold(v, "error"):
		return grpcError, nil
	}
	if code, ok := flow.GRPCCode(v); ok {
		return code, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 99 {
		return n, nil
	}
	return 0, errors.New("grpc: needs a status name (NOT_FOUND), a number (5) or error; grpc: alone means any gRPC call")
}

// isGRPC reports whether fl is a gRPC or gRPC-Web call: its request or its
// response says so.
func isGRPC(fl *flow.Flow) bool {
	if fl.Response != nil && flow.IsGRPC(fl.Response.Header.Get("Content-Type")) {
		return true
	}
	return flow.IsGRPC(fl.Request.Header.Get("Content-Type"))
}

// hostOf returns the host of an absolute URL without port, or "".
func hostOf(u string) string {
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

// pathOf splits an absolute URL into its path ("/" if empty) and query.
func pathOf(u string) (path, query string) {
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

// bodyScanLimit bounds how much of one body a body: term reads.
const bodyScanLimit = 64 << 20

// scanBufs recycles the scan windows: a body: filter over a large capture
// scans thousands of bodies.
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
	n := []byte(needle)
	bp := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(bp)
	if len(*bp) < 2*len(n)+1024 {
		*bp = make([]byte, 2*len(n)+32<<10)
	}
	buf := *bp
	keep := 0
	r := io.LimitReader(rc, bodyScanLimit)
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

// Glob matches s against pattern, where "*" matches any run (including "/")
// and "?" one byte. Both are expected in the same case.
func Glob(pattern, s string) bool {
	// Iterative matcher with single backtrack point: linear for practical
	// patterns, never exponential.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// String renders the filter in canonical form; parsing it again yields an
// equivalent filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	parts := make([]string, 0, len(f.terms))
	for _, t := range f.terms {
		var b strings.Builder
		if t.negate {
			b.WriteByte('-')
		}
		if t.kind != kText {
			b.WriteString(keyNames[t.kind])
			b.WriteByte(':')
		}
		if t.kind == kWS || t.kind == kGRPC && t.value == "" {
			parts = append(parts, b.String())
			continue
		}
		b.WriteString(quote(t.value))
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " ")
}

// quote quotes v when it is empty or holds characters with a meaning.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n\":\\") && !strings.HasPrefix(v, "-") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}
