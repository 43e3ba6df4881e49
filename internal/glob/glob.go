// Package glob is Loupe's one glob matcher: rule matches, the filter
// language's host: and path: terms (in Go and, translated, in SQL),
// -passthrough and host mappings all compile their patterns here, so a
// pattern means the same everywhere.
//
// Semantics: "*" matches any run of characters, "/", "." and "?" included;
// "?" matches exactly one character (one UTF-8 sequence, or one byte that is
// not valid UTF-8); "\" makes the next character literal ("\*", "\?",
// "\\"); a pattern ending in a lone "\" is an error. There are no
// character classes: "[" and "]" are literal. Matching is whole-string.
// Case folding, when asked for, is ASCII only (see Lower): host names
// travel as ASCII (IDNs as punycode), and SQLite's lower() folds the same
// letters, so Go and SQL agree.
//
// The package uses the standard library only and must never learn what a
// pattern is matched against (hosts, paths, header values): callers
// normalise their subjects.
package glob

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Glob is a compiled pattern. Patterns are split at "*" into segments once,
// so a match is a few prefix, suffix and index checks rather than a
// backtracking walk, and never exponential.
type Glob struct {
	// kind selects a fast path for the common shapes.
	kind Shape
	// lit is the literal for Exact, Prefix and Suffix.
	lit string
	// segs are the parts between stars, for General. The first is
	// anchored at the start unless leadingStar, the last at the end unless
	// trailingStar.
	segs         []segment
	leadingStar  bool
	trailingStar bool
}

// Shape is the form of a pattern, for callers that index patterns (a
// literal host goes into a map, a ".suffix" into another).
type Shape uint8

// The shapes of a pattern.
const (
	Any     Shape = iota // "*"
	Exact                // no wildcard
	Prefix               // "lit*"
	Suffix               // "*lit"
	General              // anything else
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

// ErrTrailingEscape is the error for a pattern that ends in a lone "\".
var ErrTrailingEscape = errors.New(`ends with an unfinished escape "\"`)

// Compile parses pattern. fold lower-cases its ASCII letters (Lower) so
// that the caller matches case-insensitively by passing Lower(subject):
// Match itself never folds, so a subject is folded once for many patterns.
func Compile(pattern string, fold bool) (*Glob, error) {
	if fold {
		pattern = Lower(pattern)
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
				return nil, ErrTrailingEscape
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
	g := &Glob{
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
		g.kind, g.lit = Exact, literalOf(g.segs)
	case len(g.segs) == 0:
		g.kind = Any
	case len(g.segs) == 1 && isLiteral(g.segs[0]) && !g.leadingStar && g.trailingStar:
		g.kind, g.lit = Prefix, g.segs[0].parts[0].lit
	case len(g.segs) == 1 && isLiteral(g.segs[0]) && g.leadingStar && !g.trailingStar:
		g.kind, g.lit = Suffix, g.segs[0].parts[0].lit
	default:
		g.kind = General
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

// Shape is the pattern's form; Lit is its literal for Exact, Prefix and
// Suffix.
func (g *Glob) Shape() Shape { return g.kind }

// Lit is the literal text of an Exact, Prefix or Suffix pattern (with
// escapes resolved and, when folded, lower-cased); "" for the others.
func (g *Glob) Lit() string { return g.lit }

// Match reports whether s matches the whole pattern. A folded pattern
// expects a folded subject (Lower).
func (g *Glob) Match(s string) bool {
	switch g.kind {
	case Any:
		return true
	case Exact:
		return s == g.lit
	case Prefix:
		return strings.HasPrefix(s, g.lit)
	case Suffix:
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

// LiteralPrefix returns the literal text of pattern before its first
// wildcard, with escapes resolved: the part every match shares.
func LiteralPrefix(pattern string) string {
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

// Lower lower-cases ASCII letters only, so byte offsets are preserved and
// folding is the same on a pattern, on its subject and in SQL (SQLite's
// lower() folds the same letters). It allocates only when s has an
// upper-case ASCII letter.
func Lower(s string) string {
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
