package rules

import (
	"maps"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"loupe/internal/glob"
)

// Request is what rules match against: the proxy fills it once per request.
type Request struct {
	Method string // e.g. "GET"; compared case-insensitively
	Scheme string // "http", "https", "ws" or "wss"
	// Host is the host name without port. A port, if present anyway, is
	// ignored; IPv6 brackets and a final dot are dropped.
	Host string
	// Path is the path and query as sent, escaped ("/a%20b?q=1").
	Path string
	// URL is the absolute URL ("https://example.com/a?q=1").
	URL string
	// Port is the port the URL addresses, as URLPort computes it; zero
	// stands for the default port of Scheme. A port inside Host is not
	// looked at: a caller that knows only a host:port passes the port here.
	Port int
}

// DefaultPort is the port a URL of this scheme addresses when it names
// none: 80 for http and ws, 443 for https and wss, 0 for anything else.
func DefaultPort(scheme string) int {
	switch strings.ToLower(scheme) {
	case "http", "ws":
		return 80
	case "https", "wss":
		return 443
	}
	return 0
}

// URLPort is the port u addresses, which rules compare with match.port:
// its explicit port, else its scheme's default. It is -1, which no rule's
// port equals, when the explicit port is 0 or not a number, and 0 when the
// URL names no port and its scheme has no default.
func URLPort(u *url.URL) int {
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return -1
		}
		return n
	}
	return DefaultPort(u.Scheme)
}

// Set is an immutable, compiled rule list. It is safe for concurrent use;
// a nil *Set matches nothing.
type Set struct {
	rules    []Rule
	compiled []compiled
	// byHost indexes enabled rules whose host is a literal and that name
	// no port, byHostPort those that name one; bySuffix those whose host
	// is "*" followed by a literal starting with "." (the common
	// "*.example.com"); byPort the other enabled rules that name a port;
	// anyHost the rest. All hold ascending rule indices, so a match looks
	// only at rules that can apply: a thousand rules for one host on as
	// many ports cost one more map lookup, and rules without ports nothing.
	byHost     map[string][]int
	byHostPort map[hostPort][]int
	bySuffix   map[string][]int
	byPort     map[int][]int
	anyHost    []int
	ports      bool // some enabled rule names a port
	// rewriters are the compiled find and replace of the replaceBody and
	// replaceHeaders actions, by action.
	rewriters map[*Action]*Rewriter
}

// hostPort is a key of Set.byHostPort.
type hostPort struct {
	host string
	port int
}

type compiled struct {
	port    int        // 0 = any
	methods []string   // upper case; nil = any
	scheme  string     // lower case; "" = any
	host    *glob.Glob // nil = any
	path    *glob.Glob // nil = any
	url     *regexp.Regexp
	// urlPrefix is a literal every URL match starts with (urlAnchored: at the
	// start of the URL; else anywhere). urlLiteral: the prefix is the whole
	// regexp, so finding it decides the match. They let most non-matching
	// URLs skip the regexp engine.
	urlPrefix   string
	urlAnchored bool
	urlLiteral  bool
	// urlNeeds is the longest literal every match contains somewhere
	// (from the expression's top-level sequence): a URL without it cannot
	// match, and finding that is far cheaper than running the regexp.
	urlNeeds string
}

// Compile validates rs and compiles it into a Set. The error is a
// *ValidationError listing every problem. rs is copied: later changes to it
// do not affect the Set.
func Compile(rs []Rule) (*Set, error) {
	if ps := Validate(rs); len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	return compileValid(rs), nil
}

// compileValid compiles rules that passed validation.
func compileValid(rs []Rule) *Set {
	s := &Set{
		rules:      make([]Rule, len(rs)),
		compiled:   make([]compiled, len(rs)),
		byHost:     make(map[string][]int),
		byHostPort: make(map[hostPort][]int),
		bySuffix:   make(map[string][]int),
		byPort:     make(map[int][]int),
	}
	for i := range rs {
		s.rules[i] = cloneRule(rs[i])
		m := &s.rules[i].Match
		c := &s.compiled[i]
		for _, meth := range m.Methods {
			c.methods = append(c.methods, strings.ToUpper(meth))
		}
		c.scheme = strings.ToLower(m.Scheme)
		c.port = m.Port
		if m.Host != "" {
			c.host, _ = compileGlob(trimBrackets(m.Host), true)
		}
		if m.Path != "" {
			c.path, _ = compileGlob(m.Path, false)
		}
		if m.URL != "" {
			c.url = regexp.MustCompile(m.URL) // validated above
			c.urlPrefix, c.urlLiteral = c.url.LiteralPrefix()
			c.urlAnchored = anchoredAtStart(m.URL)
			c.urlNeeds = requiredLiteral(m.URL)
		}
		if !s.rules[i].Enabled {
			continue
		}
		for j := range s.rules[i].Actions {
			a := &s.rules[i].Actions[j]
			if a.Type == TypeReplaceBody || a.Type == TypeReplaceHeaders {
				if w, err := NewRewriter(a); err == nil { // validated above
					if s.rewriters == nil {
						s.rewriters = make(map[*Action]*Rewriter)
					}
					s.rewriters[a] = w
				}
			}
		}
		s.ports = s.ports || c.port != 0
		switch {
		case c.host != nil && c.host.Shape() == glob.Exact && c.port == 0:
			s.byHost[c.host.Lit()] = append(s.byHost[c.host.Lit()], i)
		case c.host != nil && c.host.Shape() == glob.Exact:
			k := hostPort{c.host.Lit(), c.port}
			s.byHostPort[k] = append(s.byHostPort[k], i)
		case c.host != nil && c.host.Shape() == glob.Suffix && strings.HasPrefix(c.host.Lit(), "."):
			s.bySuffix[c.host.Lit()] = append(s.bySuffix[c.host.Lit()], i)
		case c.port != 0:
			s.byPort[c.port] = append(s.byPort[c.port], i)
		default:
			s.anyHost = append(s.anyHost, i)
		}
	}
	return s
}

// Match returns the enabled rules that match r, in list order; nil when none
// match. The rules belong to the Set and must not be modified.
func (s *Set) Match(r Request) []*Rule {
	if s == nil || len(s.rules) == 0 {
		return nil
	}
	host := normalHost(r.Host)
	if r.Port == 0 && s.ports {
		r.Port = DefaultPort(r.Scheme)
	}
	// Candidate lists: the rest, the literal host (without a port and with
	// the request's), the request's port, each ".suffix" of the host. A
	// host has few dots, so this stays on the stack.
	var buf [8][]int
	lists := buf[:0]
	if len(s.anyHost) > 0 {
		lists = append(lists, s.anyHost)
	}
	if l := s.byHost[host]; l != nil {
		lists = append(lists, l)
	}
	if len(s.byHostPort) > 0 && r.Port > 0 {
		if l := s.byHostPort[hostPort{host, r.Port}]; l != nil {
			lists = append(lists, l)
		}
	}
	if len(s.byPort) > 0 && r.Port > 0 {
		if l := s.byPort[r.Port]; l != nil {
			lists = append(lists, l)
		}
	}
	if len(s.bySuffix) > 0 {
		for i := 0; i < len(host); i++ {
			if host[i] == '.' {
				if l := s.bySuffix[host[i:]]; l != nil {
					lists = append(lists, l)
				}
			}
		}
	}
	var out []*Rule
	switch len(lists) {
	case 0:
		return nil
	case 1:
		for _, i := range lists[0] {
			if s.compiled[i].match(&r, host) {
				out = append(out, &s.rules[i])
			}
		}
		return out
	}
	// Merge the ascending lists to keep list order.
	for {
		best := -1
		for k, l := range lists {
			if len(l) > 0 && (best < 0 || l[0] < lists[best][0]) {
				best = k
			}
		}
		if best < 0 {
			return out
		}
		i := lists[best][0]
		lists[best] = lists[best][1:]
		if s.compiled[i].match(&r, host) {
			out = append(out, &s.rules[i])
		}
	}
}

func (c *compiled) match(r *Request, host string) bool {
	// Cheapest first: a port is one comparison, and rules that differ only
	// by port (one per local dev server) are rejected by it.
	if c.port != 0 && c.port != r.Port {
		return false
	}
	if c.scheme != "" && !strings.EqualFold(c.scheme, r.Scheme) {
		return false
	}
	if c.methods != nil {
		ok := false
		for _, m := range c.methods {
			if strings.EqualFold(m, r.Method) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if c.host != nil && !c.host.Match(host) {
		return false
	}
	if c.path != nil && !c.path.Match(r.Path) {
		return false
	}
	if c.url != nil {
		switch {
		case c.urlAnchored && !strings.HasPrefix(r.URL, c.urlPrefix):
			return false
		case !c.urlAnchored && c.urlPrefix != "" && !strings.Contains(r.URL, c.urlPrefix):
			return false
		case c.urlLiteral && !c.urlAnchored:
			return true // the literal is the whole expression, and it was found
		case c.urlNeeds != "" && !strings.Contains(r.URL, c.urlNeeds):
			return false
		}
		return c.url.MatchString(r.URL)
	}
	return true
}

// anchoredAtStart reports whether expr can only match at the start of the
// text (it begins with "^" outside multi-line mode, or "\A").
func anchoredAtStart(expr string) bool {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return false
	}
	for re.Op == syntax.OpConcat || re.Op == syntax.OpCapture {
		if len(re.Sub) == 0 {
			return false
		}
		re = re.Sub[0]
	}
	return re.Op == syntax.OpBeginText
}

// requiredLiteral returns the longest case-sensitive literal of expr's
// top-level sequence (every match contains it), or "" when there is none
// of at least 3 bytes.
func requiredLiteral(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	for re.Op == syntax.OpCapture && len(re.Sub) == 1 {
		re = re.Sub[0]
	}
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	best := ""
	for _, p := range parts {
		if p.Op == syntax.OpLiteral && p.Flags&syntax.FoldCase == 0 {
			if s := string(p.Rune); len(s) > len(best) {
				best = s
			}
		}
	}
	if len(best) < 3 {
		return ""
	}
	return best
}

// normalHost lower-cases h and drops a port, IPv6 brackets and the dot of a
// fully qualified name.
func normalHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h = h[:i]
	}
	if len(h) > 1 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return glob.Lower(h)
}

func trimBrackets(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// Rules returns a copy of the full rule list, disabled rules included.
func (s *Set) Rules() []Rule {
	if s == nil {
		return []Rule{}
	}
	out := make([]Rule, len(s.rules))
	for i := range s.rules {
		out[i] = cloneRule(s.rules[i])
	}
	return out
}

// Rewriter returns the compiled find and replace of a replaceBody or
// replaceHeaders action of the set (compiled now for any other action); nil
// when it does not compile.
func (s *Set) Rewriter(a *Action) *Rewriter {
	if s != nil {
		if w := s.rewriters[a]; w != nil {
			return w
		}
	}
	w, err := NewRewriter(a)
	if err != nil {
		return nil
	}
	return w
}

// Len is the number of rules in the set, disabled ones included.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// cloneRule deep-copies r so that a Set never shares memory with callers.
func cloneRule(r Rule) Rule {
	r.Match.Methods = slices.Clone(r.Match.Methods)
	if r.Actions != nil {
		acts := make([]Action, len(r.Actions))
		for i, a := range r.Actions {
			a.Headers = maps.Clone(a.Headers)
			a.Names = slices.Clone(a.Names)
			a.Params = maps.Clone(a.Params)
			a.Patch = slices.Clone(a.Patch)
			if a.Body != nil {
				b := *a.Body
				a.Body = &b
			}
			acts[i] = a
		}
		r.Actions = acts
	}
	return r
}
