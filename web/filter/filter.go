// Package filter is the flow filter language of the dashboard: a query such
// as `(host:a.com or host:b.com) status:4xx -method:OPTIONS` parsed once
// into a query.Query, the value both stores execute (the memory store in
// Go, the durable capture in SQL).
//
// Grammar:
//
//	query := or
//	or    := and (("or" | "|") and)*    "or" in any case
//	and   := unary+                      juxtaposition: AND binds tighter than OR
//	unary := term | ["-"] "(" or ")"
//	term  := ["-"] (key ":" value | text)
//	value := (char | '"' chars '"')*     (inside quotes, \" and \\ are escapes)
//
// Outside quotes, "(", ")" and "|" are always syntax, and a word "or" (any
// case) is always the operator: to search for them, quote them ("f(x)",
// path:"/wiki/A_(b)", "or"). An operator with no term on one side (a
// leading or trailing "or", "or or", "(or") is a bad filter, not text.
//
// Keys: method, status, host, path, port, type, body, rule, error, ws, kind,
// grpc, header, reqheader, resheader, duration, size, marked, color,
// comment, composed, replay. Text without a key
// matches the URL. A term like `https://x` (a colon followed by "//") is
// text, not a key. An unknown key, a missing value, an unterminated quote,
// a lone "-", an unbalanced parenthesis or a misplaced operator is a bad
// filter, reported as an *Error naming the term and its byte offset.
//
// Text comparisons ignore ASCII case. The package never reads bodies itself:
// the caller passes a Bodies function, so the filter stays free of storage.
package filter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"loupe/internal/glob"
	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Error is a bad filter: Term is the offending term (or operator, or
// parenthesis) as the user wrote it, Pos its byte offset in the query.
type Error struct {
	Term    string
	Pos     int
	Message string
}

// Error names the term, where it is and the problem, for the 400 answer.
func (e *Error) Error() string {
	return fmt.Sprintf("bad filter term %q at offset %d: %s", e.Term, e.Pos, e.Message)
}

// Bodies opens the decoded bytes of one body facet of a flow, for `body:`
// terms. A missing facet is reported with an error and simply doesn't match.
type Bodies = query.Bodies

// Filter is a parsed query: the store-agnostic query value. The zero value
// (and nil) matches every flow.
type Filter = query.Query

// MaxQueryLen bounds a query, so a hostile one can't make matching costly.
const MaxQueryLen = 4096

// MaxDepth bounds the nesting of parentheses.
const MaxDepth = 32

// Parse parses a query. An empty query yields a filter that matches
// everything.
func Parse(q string) (*Filter, error) {
	if len(q) > MaxQueryLen {
		return nil, &Error{Term: q[:32] + "...", Message: fmt.Sprintf("query longer than %d bytes", MaxQueryLen)}
	}
	p := &parser{q: q}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return &Filter{}, nil
	}
	alts, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF { // only a ")" stops an "or" at depth 0
		return nil, p.errorf("no \"(\" to close")
	}
	return &Filter{Terms: group(alts, false)}, nil
}

// The tokens of the language.
const (
	tokEOF = iota
	tokTerm
	tokOr      // "or", "OR", "|"
	tokOpen    // "("
	tokNotOpen // "-("
	tokClose   // ")"
)

type token struct {
	kind  int
	start int
	end   int
	term  query.Term // tokTerm
}

// parser reads tokens one ahead.
type parser struct {
	q   string
	i   int
	tok token
}

func (p *parser) errorf(format string, args ...any) *Error {
	return &Error{Term: p.q[p.tok.start:p.tok.end], Pos: p.tok.start, Message: fmt.Sprintf(format, args...)}
}

// next scans the next token.
func (p *parser) next() error {
	q := p.q
	for p.i < len(q) && isSpace(q[p.i]) {
		p.i++
	}
	start := p.i
	p.tok = token{start: start, end: start}
	if p.i >= len(q) {
		return nil
	}
	switch q[p.i] {
	case '(':
		p.i++
		p.tok.kind, p.tok.end = tokOpen, p.i
		return nil
	case ')':
		p.i++
		p.tok.kind, p.tok.end = tokClose, p.i
		return nil
	case '|':
		p.i++
		p.tok.kind, p.tok.end = tokOr, p.i
		return nil
	case '-':
		if p.i+1 < len(q) && q[p.i+1] == '(' {
			p.i += 2
			p.tok.kind, p.tok.end = tokNotOpen, p.i
			return nil
		}
	}
	raw, text, quoted, end, err := scanTerm(q, p.i)
	p.i = end
	p.tok.end = end
	if err != nil {
		return &Error{Term: q[start:end], Pos: start, Message: err.Error()}
	}
	if !quoted && strings.EqualFold(raw, "or") {
		p.tok.kind = tokOr
		return nil
	}
	t, err := makeTerm(raw, text, quoted)
	if err != nil {
		return &Error{Term: q[start:end], Pos: start, Message: err.Error()}
	}
	p.tok.kind, p.tok.term = tokTerm, t
	return nil
}

// or parses alternatives up to a ")" or the end.
func (p *parser) or(depth int) ([][]query.Term, error) {
	var alts [][]query.Term
	for {
		if p.tok.kind == tokOr {
			return nil, p.errorf("\"or\" needs a term on its left (write \"or\" in quotes to search for the word)")
		}
		and, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		alts = append(alts, and)
		if p.tok.kind != tokOr {
			return alts, nil
		}
		or := p.tok
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind == tokEOF || p.tok.kind == tokClose || p.tok.kind == tokOr {
			p.tok = or
			return nil, p.errorf("\"or\" needs a term on its right (write \"or\" in quotes to search for the word)")
		}
	}
}

// and parses juxtaposed terms and groups.
func (p *parser) and(depth int) ([]query.Term, error) {
	var terms []query.Term
	for {
		switch p.tok.kind {
		case tokTerm:
			terms = append(terms, p.tok.term)
			if err := p.next(); err != nil {
				return nil, err
			}
		case tokOpen, tokNotOpen:
			open := p.tok
			if depth >= MaxDepth {
				return nil, p.errorf("parentheses nested deeper than %d", MaxDepth)
			}
			if err := p.next(); err != nil {
				return nil, err
			}
			if p.tok.kind == tokClose {
				p.tok.start = open.start
				return nil, p.errorf("empty parentheses")
			}
			if p.tok.kind == tokEOF {
				p.tok = open
				return nil, p.errorf("\"(\" is never closed")
			}
			alts, err := p.or(depth + 1)
			if err != nil {
				return nil, err
			}
			if p.tok.kind != tokClose {
				p.tok = open
				return nil, p.errorf("\"(\" is never closed")
			}
			if err := p.next(); err != nil {
				return nil, err
			}
			terms = append(terms, group(alts, open.kind == tokNotOpen)...)
		default:
			if len(terms) == 0 && p.tok.kind == tokClose {
				return nil, p.errorf("no \"(\" to close")
			}
			return terms, nil
		}
	}
}

// group is the terms of a parenthesised (or whole) query: a conjunction
// joins its parent's terms; alternatives become one Group term.
func group(alts [][]query.Term, negate bool) []query.Term {
	if len(alts) == 1 {
		if !negate {
			return alts[0]
		}
		if len(alts[0]) == 1 && alts[0][0].Key != query.Group {
			t := alts[0][0]
			t.Negate = !t.Negate
			return []query.Term{t}
		}
	}
	return []query.Term{{Key: query.Group, Negate: negate, Any: alts}}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isSyntax reports whether c is an operator outside quotes.
func isSyntax(c byte) bool { return c == '(' || c == ')' || c == '|' }

// scanTerm reads one term from q[i:] and returns it twice: text is the term
// with quotes removed and escapes resolved; raw has every quoted section
// replaced by a NUL byte, so keys and the "-" prefix are recognised only
// outside quotes (`"a:b"` stays text). It also reports whether a quote was
// used and where the term ends.
func scanTerm(q string, i int) (raw, text string, quoted bool, end int, err error) {
	var rawB, textB strings.Builder
	for i < len(q) && !isSpace(q[i]) && !isSyntax(q[i]) {
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

func makeTerm(raw, text string, quoted bool) (query.Term, error) {
	var t query.Term
	if strings.HasPrefix(raw, "-") {
		t.Negate = true
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
		t.Key = query.Text
		t.Value = text
		t.Low = lower(text)
		return t, nil
	}
	k, ok := query.KeyNamed(lower(key))
	if !ok {
		return t, fmt.Errorf("unknown key %q (known: %s)", key, strings.Join(query.Names(), ", "))
	}
	t.Key = k
	t.Value = text[len(key)+1:]
	t.Low = lower(t.Value)
	switch k {
	case query.Method:
		for m := range strings.SplitSeq(t.Value, ",") {
			if m = strings.TrimSpace(m); m != "" {
				t.Methods = append(t.Methods, strings.ToUpper(m))
			}
		}
		if len(t.Methods) == 0 {
			return t, errors.New("method: needs a method, e.g. method:GET or method:GET,POST")
		}
	case query.Status:
		v := t.Low
		switch {
		case len(v) == 3 && v[0] >= '1' && v[0] <= '5' && v[1:] == "xx":
			t.Class = true
			t.Status = int(v[0]-'0') * 100
		default:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 999 || len(v) > 3 {
				return t, errors.New("status: needs a code (404) or a class (4xx)")
			}
			t.Status = n
		}
	case query.Host, query.Path, query.Type, query.Body:
		if t.Value == "" && !quoted {
			return t, fmt.Errorf("%s: needs a value", key)
		}
		if k == query.Body && t.Value == "" {
			return t, errors.New("body: needs non-empty text")
		}
		if k == query.Host || k == query.Path {
			g, err := glob.Compile(t.Low, true)
			if err != nil {
				return t, fmt.Errorf("%s: glob %w (write \\\\ for a backslash)", key, err)
			}
			t.Glob = g
		}
	case query.WS:
		if t.Value != "" {
			return t, errors.New("ws: takes no value")
		}
	case query.Composed, query.Replay:
		if t.Value != "" {
			id, err := strconv.ParseUint(strings.TrimPrefix(t.Value, "#"), 10, 63)
			if err != nil || id == 0 {
				return t, fmt.Errorf("%s: takes a flow's number or nothing (%s:42: made from flow 42)", key, lower(key))
			}
			t.Of = flow.ID(id)
		}
	case query.Port, query.Duration, query.Size:
		r, err := numberRange(k, t.Low)
		if err != nil {
			return t, err
		}
		t.Range = r
	case query.Header, query.ReqHeader, query.ResHeader:
		if err := headerTerm(&t, key); err != nil {
			return t, err
		}
	case query.Kind:
		for v := range strings.SplitSeq(t.Low, ",") {
			k, ok := kindNames[strings.TrimSpace(v)]
			if !ok {
				return t, errors.New("kind: needs http, tunnel or tls-error (commas mean any of)")
			}
			t.Kinds = append(t.Kinds, k)
		}
	case query.Marked:
		if t.Value != "" {
			return t, errors.New("marked: takes no value (-marked: for the unmarked flows)")
		}
	case query.Color:
		if !flow.Color(t.Low).Valid() {
			return t, errors.New("color: needs red, orange, yellow, green, blue or purple; color: alone means any colour")
		}
	case query.GRPC:
		code, err := grpcValue(t.Value)
		if err != nil {
			return t, err
		}
		t.GRPC = code
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

// lower lower-cases ASCII letters only (query.Lower).
func lower(s string) string { return query.Lower(s) }

// grpcValue parses the value of a grpc: term: empty (any gRPC flow),
// "error", a status name (NOT_FOUND) or a status number (5).
func grpcValue(v string) (int, error) {
	switch {
	case v == "":
		return query.GRPCAny, nil
	case strings.EqualFold(v, "error"):
		return query.GRPCError, nil
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
// Glob matches s against pattern, where "*" matches any run (including "/")
// and "?" one byte. Both are expected in the same case.
func Glob(pattern, s string) bool { return query.Glob(pattern, s) }
