package query

import (
	"strings"

	"loupe/internal/glob"
	"loupe/proxy/flow"
)

// Header terms look at the request head as the client sent it and the
// response head as Loupe served it (not trailers, not the upstream
// versions a rule rewrote). header:name matches a field of that name
// (ASCII case ignored) on either side; header:name=glob one whose value
// matches the glob, ASCII case ignored; reqheader: and resheader: look at
// one side only.

// The sides of a HeaderText line.
const (
	SideRequest  = 'q'
	SideResponse = 's'
)

// Sides is the sides a header term looks at ("q", "s" or "qs").
func (t *Term) Sides() string {
	switch t.Key {
	case ReqHeader:
		return "q"
	case ResHeader:
		return "s"
	}
	return "qs"
}

func (t *Term) matchHeaders(fl *flow.Flow) bool {
	sides := t.Sides()
	if strings.IndexByte(sides, SideRequest) >= 0 && t.matchFields(fl.Request.Header) {
		return true
	}
	return fl.Response != nil && strings.IndexByte(sides, SideResponse) >= 0 && t.matchFields(fl.Response.Header)
}

func (t *Term) matchFields(fs flow.Fields) bool {
	for _, f := range fs {
		if t.matchField(Lower(f.Name), f.Value) {
			return true
		}
	}
	return false
}

// matchField is the one test of a field (name lower-cased), shared by the
// flow and HeaderText.
func (t *Term) matchField(name, value string) bool {
	return name == t.Name && (t.Glob == nil || t.Glob.Match(Lower(value)))
}

// HeaderText is a flow's header fields as one string that a store keeps in
// a column: for each field a line "\n" side name "\t" value, name and
// value lower-cased, with a backslash, a line feed and a tab inside them
// escaped as `\\`, `\n` and `\t`. So HeaderNeedle(side, name) occurs in it exactly when a
// field of that name is on that side, and MatchHeaderText decides a term
// from it as Match decides it from the flow.
func HeaderText(fl *flow.Flow) string {
	var b strings.Builder
	write := func(side byte, fs flow.Fields) {
		for _, f := range fs {
			b.WriteByte('\n')
			b.WriteByte(side)
			b.WriteString(escapeField(Lower(f.Name)))
			b.WriteByte('\t')
			b.WriteString(escapeField(Lower(f.Value)))
		}
	}
	write(SideRequest, fl.Request.Header)
	if fl.Response != nil {
		write(SideResponse, fl.Response.Header)
	}
	return b.String()
}

// HeaderNeedle is the text that marks a field named name (lower-case) on
// side in a HeaderText.
func HeaderNeedle(side byte, name string) string {
	return "\n" + string(side) + escapeField(name) + "\t"
}

var fieldEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`)
var fieldUnescaper = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\t`, "\t")

func escapeField(s string) string {
	if !strings.ContainsAny(s, "\\\n\t") {
		return s
	}
	return fieldEscaper.Replace(s)
}

// MatchHeaderText decides a header term (negation aside) from a
// HeaderText: sides, name and pattern are the term's Sides, Name and value
// glob ("" with hasValue false: presence alone).
func MatchHeaderText(sides, name, pattern string, hasValue bool, text string) bool {
	t := Term{Name: name}
	if hasValue {
		g, err := glob.Compile(pattern, true)
		if err != nil {
			return false
		}
		t.Glob = g
	}
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || strings.IndexByte(sides, line[0]) < 0 {
			continue
		}
		n, v, _ := strings.Cut(line[1:], "\t")
		if t.matchField(fieldUnescaper.Replace(n), fieldUnescaper.Replace(v)) {
			return true
		}
	}
	return false
}

// HeaderPattern is the value glob of a header term as written ("" for
// presence), for stores that hand it to MatchHeaderText.
func (t *Term) HeaderPattern() (pattern string, hasValue bool) {
	_, v, ok := strings.Cut(t.Low, "=")
	return v, ok
}
