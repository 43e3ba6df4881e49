package rules

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// glob is a compiled glob pattern: "*" matches any run of characters
// (including "/"), "?" matches exactly one character, and "\" makes the next
// character literal. Patterns are split at "*" into segments once, so a match
// is a few prefix, suffix and index checks rather than a backtracking walk.
type glob struct {
	// kind selects a fast path for the common shapes.
	kind globKind
	// lit is the literal for globExact, globPrefix and globSuffix.
	lit string
	// segs are the parts between stars, for globGeneral. The first is
	// anchored at the start unless leadingStar, the last at the end unless
	// trailingStar.
	segs         []segment
	leadingStar  bool
	trailingStar bool
}

type globKind uint8

const (
	globAny     globKind = iota // "*"
	globExact                   // no wildcard
	globPrefix                  // "lit*"
	globSuffix                  // "*lit"
	globGeneral                 // anything else
)

// segment is a run without stars: literal text with "?" placeholders.
type segment struct {
	parts []part
	// lead is the literal text the segment starts with ("" when it starts
	// with "?"), used to find candidate positions quickly.
	lead string
}

// part is either literal text or a number of "?" (one character each).
type part struct {
	lit  string
	anys int
}

var errTrailingEscape = errors.New(`ends with an unfinished escape "\"`)

// compileGlob parses pattern. fold lower-cases the literal text so that the
// caller can match case-insensitively by lower-casing the subject once.
func compileGlob(pattern string, fold bool) (*glob, error) {
	if fold {
		pattern = strings.ToLower(pattern)
	}
	// Split into star-separated segments, resolving escapes.
	var (
		segs    []segment
		cur     segment
		lit     strings.Builder
		anyWild bool
	)
	flushLit := func() {
		if lit.Len() > 0 {
			cur.parts = append(cur.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	flushSeg := func() {
		flushLit()
		segs = append(segs, cur)
		cur = segment{}
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '\\':
			if i+1 >= len(pattern) {
				return nil, errTrailingEscape
			}
			i++
			lit.WriteByte(pattern[i])
		case '*':
			anyWild = true
			flushSeg()
			// Collapse runs of stars.
			for i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
			}
		case '?':
			anyWild = true
			flushLit()
			if n := len(cur.parts); n > 0 && cur.parts[n-1].lit == "" {
				cur.parts[n-1].anys++
			} else {
				cur.parts = append(cur.parts, part{anys: 1})
			}
		default:
			lit.WriteByte(c)
		}
	}
	flushSeg()
	// Star runs are collapsed, so only the first and last segments can be
	// empty: when the pattern starts or ends with a star.
	hasStar := len(segs) > 1
	g := &glob{
		leadingStar:  hasStar && len(segs[0].parts) == 0,
		trailingStar: hasStar && len(segs[len(segs)-1].parts) == 0,
	}
	for _, s := range segs {
		if len(s.parts) == 0 {
			continue
		}
		if s.parts[0].lit != "" {
			s.lead = s.parts[0].lit
		}
		g.segs = append(g.segs, s)
	}
	switch {
	case !anyWild:
		g.kind, g.lit = globExact, literalOf(g.segs)
	case len(g.segs) == 0:
		g.kind = globAny
	case len(g.segs) == 1 && isLiteral(g.segs[0]) && !g.leadingStar && g.trailingStar:
		g.kind, g.lit = globPrefix, g.segs[0].parts[0].lit
	case len(g.segs) == 1 && isLiteral(g.segs[0]) && g.leadingStar && !g.trailingStar:
		g.kind, g.lit = globSuffix, g.segs[0].parts[0].lit
	default:
		g.kind = globGeneral
	}
	return g, nil
}

func isLiteral(s segment) bool { return len(s.parts) == 1 && s.parts[0].anys == 0 }

func literalOf(segs []segment) string {
	if len(segs) == 0 {
		return ""
	}
	return segs[0].parts[0].lit
}

// match reports whether s matches the whole pattern.
func (g *glob) match(s string) bool {
	switch g.kind {
	case globAny:
		return true
	case globExact:
		return s == g.lit
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	}
	segs := g.segs
	if !g.leadingStar {
		n, ok := segs[0].matchAt(s)
		if !ok {
			return false
		}
		s = s[n:]
		segs = segs[1:]
		if len(segs) == 0 {
			return g.trailingStar || s == ""
		}
	}
	var last *segment
	if !g.trailingStar {
		last = &segs[len(segs)-1]
		segs = segs[:len(segs)-1]
	}
	for i := range segs {
		start, n, ok := segs[i].find(s)
		if !ok {
			return false
		}
		s = s[start+n:]
	}
	if last == nil {
		return true
	}
	// The last segment must end exactly at the end of s: try it at each rune
	// boundary from the right-most place it could start.
	return last.matchSuffix(s)
}

// matchAt matches the segment at the start of s and returns its byte length.
func (seg *segment) matchAt(s string) (int, bool) {
	n := 0
	for _, p := range seg.parts {
		if p.anys == 0 {
			if !strings.HasPrefix(s[n:], p.lit) {
				return 0, false
			}
			n += len(p.lit)
			continue
		}
		for k := 0; k < p.anys; k++ {
			if n >= len(s) {
				return 0, false
			}
			_, size := utf8.DecodeRuneInString(s[n:])
			n += size
		}
	}
	return n, true
}

// find returns the leftmost match of the segment in s. Leftmost is enough:
// it leaves the longest rest for the segments after it.
func (seg *segment) find(s string) (start, n int, ok bool) {
	for i := 0; i <= len(s); {
		if seg.lead != "" {
			j := strings.Index(s[i:], seg.lead)
			if j < 0 {
				return 0, 0, false
			}
			i += j
		}
		if n, ok := seg.matchAt(s[i:]); ok {
			return i, n, true
		}
		if i >= len(s) {
			break
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return 0, 0, false
}

// matchSuffix reports whether the segment matches a suffix of s exactly.
func (seg *segment) matchSuffix(s string) bool {
	for i := len(s); i >= 0; i-- {
		if i < len(s) && !utf8.RuneStart(s[i]) {
			continue
		}
		if n, ok := seg.matchAt(s[i:]); ok && i+n == len(s) {
			return true
		}
	}
	return false
}

// globLiteralPrefix returns the literal text of pattern before its first
// wildcard, with escapes resolved: the part of a path every match shares.
func globLiteralPrefix(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?':
			return b.String()
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteByte(pattern[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
