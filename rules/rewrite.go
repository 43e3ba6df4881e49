package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"loupe/internal/glob"
)

// MaxRewriteBodyBytes bounds a body that replaceBody and jsonPatch rewrite,
// before and after its Content-Encoding is undone: such a body is held in
// memory whole. A longer body (or one that is still arriving, see the
// proxy) passes unchanged, and the flow says the rule did not apply.
const MaxRewriteBodyBytes = 16 << 20

// Rewriter is the compiled find and replace of a replaceBody or
// replaceHeaders action.
type Rewriter struct {
	find    []byte
	replace []byte
	re      *regexp.Regexp // nil: find is literal
	name    *glob.Glob     // replaceHeaders: the header names it applies to; nil: all
}

// NewRewriter compiles the find, replace and name of a. The error (an
// invalid expression or glob) is one validation reports first.
func NewRewriter(a *Action) (*Rewriter, error) {
	w := &Rewriter{find: []byte(a.Find), replace: []byte(a.Replace)}
	if a.Regex {
		re, err := regexp.Compile(a.Find)
		if err != nil {
			return nil, fmt.Errorf("find: %w", err)
		}
		w.re = re
	}
	if a.Name != "" {
		g, err := compileGlob(a.Name, true)
		if err != nil {
			return nil, fmt.Errorf("name: %w", err)
		}
		w.name = g
	}
	return w, nil
}

// Bytes replaces every match of find in b and reports whether that changed
// anything; b itself is never modified, and is returned when nothing
// changed.
func (w *Rewriter) Bytes(b []byte) ([]byte, bool) {
	if w.re == nil {
		if len(w.find) == 0 || !bytes.Contains(b, w.find) {
			return b, false
		}
		out := bytes.ReplaceAll(b, w.find, w.replace)
		return out, !bytes.Equal(out, b)
	}
	// ReplaceAll expands the template match by match into one buffer, so
	// memory stays near the size of the result however many matches.
	if !w.re.Match(b) {
		return b, false
	}
	out := w.re.ReplaceAll(b, w.replace)
	return out, !bytes.Equal(out, b)
}

// String is Bytes for a header value.
func (w *Rewriter) String(s string) (string, bool) {
	if w.re == nil {
		if len(w.find) == 0 || !strings.Contains(s, string(w.find)) {
			return s, false
		}
		out := strings.ReplaceAll(s, string(w.find), string(w.replace))
		return out, out != s
	}
	if !w.re.MatchString(s) {
		return s, false
	}
	out := w.re.ReplaceAllString(s, string(w.replace))
	return out, out != s
}

// MatchesName reports whether a replaceHeaders rewrite looks at the header
// with this name.
func (w *Rewriter) MatchesName(name string) bool {
	return w.name == nil || w.name.Match(glob.Lower(name))
}

// templateProblem checks the group references of a regexp replacement
// against re: a reference to a group the expression does not have expands
// to nothing, silently, which is never what one meant ("$1x" is the group
// named "1x", not group 1 and an "x").
func templateProblem(re *regexp.Regexp, tmpl string) string {
	names := re.SubexpNames()
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '$' || i+1 >= len(tmpl) {
			continue
		}
		rest := tmpl[i+1:]
		if rest[0] == '$' {
			i++
			continue
		}
		var name string
		braced := rest[0] == '{'
		if braced {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue // not a reference: expanded literally
			}
			name = rest[1:end]
		} else {
			n := 0
			for n < len(rest) && (rest[n] == '_' || rest[n] >= '0' && rest[n] <= '9' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z') {
				n++
			}
			name = rest[:n]
		}
		if name == "" || !validGroupName(name) {
			continue // not a reference: expanded literally
		}
		if num, ok := groupNumber(name); ok {
			if num > re.NumSubexp() {
				return fmt.Sprintf("refers to group %d, but find has %d", num, re.NumSubexp())
			}
			continue
		}
		if !slices.Contains(names, name) {
			if !braced && name[0] >= '0' && name[0] <= '9' {
				return fmt.Sprintf("$%s is read as the group named %q; write ${%s}%s for group %s followed by text",
					name, name, leadingDigits(name), name[len(leadingDigits(name)):], leadingDigits(name))
			}
			return fmt.Sprintf("refers to the group %q, which find does not name", name)
		}
	}
	return ""
}

func validGroupName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// groupNumber parses a group reference made of digits only.
func groupNumber(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
		if n > 1<<20 {
			return n, true
		}
	}
	return n, true
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// PatchObject returns the merge patch of a jsonPatch action as JSON: Patch
// itself, or the JSON a string Patch holds.
func (a *Action) PatchObject() ([]byte, error) {
	raw := bytes.TrimSpace(a.Patch)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	return raw, nil
}

// patchProblem says what is wrong with a jsonPatch action's patch, "" when
// it is a JSON object.
func patchProblem(a *Action) string {
	if len(bytes.TrimSpace(a.Patch)) == 0 || string(bytes.TrimSpace(a.Patch)) == "null" {
		return "a JSON object is required (the merge patch)"
	}
	raw, err := a.PatchObject()
	if err != nil {
		return "must be a JSON object, or a string holding one"
	}
	if len(raw) == 0 {
		return "a JSON object is required (the merge patch)"
	}
	// encoding/json's own pass points at the offending character.
	var probe any
	err = json.Unmarshal(raw, &probe)
	var v any
	if err == nil {
		v, err = parseJSON(raw)
	}
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(raw, syn.Offset)
			return fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, syn.Error())
		}
		return "invalid JSON: " + err.Error()
	}
	if _, ok := v.(*jsonObject); !ok {
		return "must be a JSON object: a merge patch that is not an object replaces the whole body (use an override for that)"
	}
	return ""
}

// ErrNotJSON is returned by MergePatch for a document that is not JSON.
var ErrNotJSON = errors.New("not JSON")

// MergePatch applies the RFC 7386 merge patch patch (a JSON object) to the
// JSON document doc. Members keep their order, new ones come last, and
// numbers keep their text; a document indented with a newline is indented
// again the same way, otherwise the result is compact.
func MergePatch(doc, patch []byte) ([]byte, error) {
	target, err := parseJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	p, err := parseJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, mergePatch(target, p)); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if indent, ok := indentOf(doc); ok {
		var ind bytes.Buffer
		if err := json.Indent(&ind, out, "", indent); err != nil {
			return nil, err
		}
		out = ind.Bytes()
	}
	if n := len(doc); n > 0 && doc[n-1] == '\n' {
		out = append(out, '\n')
	}
	return out, nil
}

func mergePatch(target, patch any) any {
	po, ok := patch.(*jsonObject)
	if !ok {
		return patch
	}
	to, ok := target.(*jsonObject)
	if !ok {
		to = &jsonObject{vals: map[string]any{}}
	}
	for _, k := range po.keys {
		v := po.vals[k]
		if v == nil {
			to.remove(k)
			continue
		}
		to.set(k, mergePatch(to.vals[k], v))
	}
	return to
}

// indentOf returns the indent of a document laid out on several lines: the
// blanks that start its second line.
func indentOf(doc []byte) (string, bool) {
	doc = bytes.TrimRight(doc, " \t\r\n")
	i := bytes.IndexByte(doc, '\n')
	if i < 0 {
		return "", false
	}
	j := i + 1
	for j < len(doc) && (doc[j] == ' ' || doc[j] == '\t') {
		j++
	}
	if j == i+1 {
		return "", false
	}
	return string(doc[i+1 : j]), true
}

// jsonObject is a JSON object that keeps the order of its members.
type jsonObject struct {
	keys []string
	vals map[string]any
}

func (o *jsonObject) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *jsonObject) remove(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	o.keys = slices.DeleteFunc(o.keys, func(s string) bool { return s == k })
}

// maxJSONDepth bounds the nesting parseJSON accepts (as encoding/json
// does), so a hostile body cannot exhaust the stack.
const maxJSONDepth = 10000

// parseJSON decodes one JSON value: objects as *jsonObject, numbers as
// json.Number, null as nil. Trailing data is an error.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &jsonObject{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return tok, nil // nil, bool, json.Number, string
	}
}

// writeJSON writes v compactly; strings are escaped as JSON needs and no
// more (no \u003c for "<", unlike encoding/json's default).
func writeJSON(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if t {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		buf.WriteString(string(t))
	case string:
		writeString(buf, t)
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case *jsonObject:
		buf.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeJSON(buf, t.vals[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value %T", v)
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode's newline
}

// EditQuery returns rawQuery (a URL's encoded query) with the parameters
// named in remove taken out and those in set set: the first parameter of
// each name keeps its place with the new value, later ones of that name go,
// and names not there yet come last, in sorted order. Parameters the edit
// does not name keep their bytes exactly. Names are compared decoded.
func EditQuery(rawQuery string, set map[string]string, remove []string) string {
	var out []string
	done := make(map[string]bool, len(set))
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if slices.Contains(remove, key) {
			continue
		}
		if v, ok := set[key]; ok {
			if !done[key] {
				out = append(out, url.QueryEscape(key)+"="+url.QueryEscape(v))
				done[key] = true
			}
			continue
		}
		out = append(out, part)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		if !done[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, url.QueryEscape(k)+"="+url.QueryEscape(set[k]))
	}
	return strings.Join(out, "&")
}
