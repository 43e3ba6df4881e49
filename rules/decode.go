package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxDocumentBytes bounds a rules document (inline bodies included).
const MaxDocumentBytes = 32 << 20

// DecodeRules reads a JSON array of rules strictly: unknown or duplicate
// fields, wrong JSON types and trailing data are problems, reported all at
// once with their field paths in a *ValidationError. Field names are
// case-sensitive (unlike encoding/json's default). It checks the shape only;
// Validate (or Compile, or the Store) checks the values.
func DecodeRules(r io.Reader) ([]Rule, error) {
	data, err := readDoc(r)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := unmarshalDoc(data, &raws, "a JSON array of rules"); err != nil {
		return nil, err
	}
	rs := make([]Rule, len(raws))
	var ps []Problem
	for i, raw := range raws {
		ps = append(ps, decodeRule(raw, i, &rs[i])...)
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	return rs, nil
}

// DecodeRule reads one rule (a JSON object) as strictly as DecodeRules.
func DecodeRule(r io.Reader) (Rule, error) {
	data, err := readDoc(r)
	if err != nil {
		return Rule{}, err
	}
	var raw json.RawMessage
	if err := unmarshalDoc(data, &raw, "a JSON object"); err != nil {
		return Rule{}, err
	}
	var rule Rule
	if ps := decodeRule(raw, 0, &rule); len(ps) > 0 {
		return Rule{}, &ValidationError{Problems: ps}
	}
	return rule, nil
}

func readDoc(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	if len(data) > MaxDocumentBytes {
		return nil, docError(fmt.Sprintf("larger than %d bytes", MaxDocumentBytes))
	}
	return data, nil
}

// unmarshalDoc decodes the top level, turning syntax errors into a problem
// with a line and column.
func unmarshalDoc(data []byte, v any, want string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return docError("empty document: want " + want)
	}
	err := json.Unmarshal(data, v)
	if err == nil {
		if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
			return docError("null: want " + want)
		}
		return nil
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return docError(fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, syn.Error()))
	}
	return docError("want " + want)
}

func docError(msg string) *ValidationError {
	return &ValidationError{Problems: []Problem{{Index: -1, Message: msg}}}
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// member is one key and raw value of a JSON object, in document order.
type member struct {
	key string
	val json.RawMessage
}

// members splits a JSON object into its members, keeping their order.
func members(raw json.RawMessage) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, false
		}
		ms = append(ms, member{key, val})
	}
	return ms, true
}

// fieldSpec says how to decode one known field and what JSON it wants.
type fieldSpec struct {
	into func() any
	want string
}

type objDecoder struct {
	ruleID   string
	index    int
	problems []Problem
}

func (d *objDecoder) add(field, msg string) {
	d.problems = append(d.problems, Problem{RuleID: d.ruleID, Index: d.index, Field: field, Message: msg})
}

// object decodes raw using specs; at is the path prefix ("", "match.",
// "actions[0].") for problems.
func (d *objDecoder) object(raw json.RawMessage, at string, specs map[string]fieldSpec) {
	ms, ok := members(raw)
	if !ok {
		d.add(trimDot(at), "must be a JSON object")
		return
	}
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		spec, known := specs[m.key]
		switch {
		case !known:
			d.add(at+m.key, "unknown field")
		case seen[m.key]:
			d.add(at+m.key, "duplicate field")
		default:
			if err := json.Unmarshal(m.val, spec.into()); err != nil {
				d.add(at+m.key, "must be "+spec.want)
			}
		}
		seen[m.key] = true
	}
}

func trimDot(at string) string {
	if len(at) > 0 && at[len(at)-1] == '.' {
		return at[:len(at)-1]
	}
	return at
}

// decodeRule decodes one rule strictly into r and returns its problems.
func decodeRule(raw json.RawMessage, index int, r *Rule) []Problem {
	d := &objDecoder{index: index}
	// Name the rule in problems when its id is readable.
	if ms, ok := members(raw); ok {
		for _, m := range ms {
			if m.key == "id" {
				_ = json.Unmarshal(m.val, &d.ruleID)
			}
		}
	}
	var matchRaw, actionsRaw json.RawMessage
	d.object(raw, "", map[string]fieldSpec{
		"id":      {func() any { return &r.ID }, "a string"},
		"name":    {func() any { return &r.Name }, "a string"},
		"enabled": {func() any { return &r.Enabled }, "true or false"},
		"match":   {func() any { return &matchRaw }, "an object"},
		"actions": {func() any { return &actionsRaw }, "an array"},
	})
	if len(matchRaw) > 0 && string(matchRaw) != "null" {
		m := &r.Match
		var port json.RawMessage
		d.object(matchRaw, "match.", map[string]fieldSpec{
			"methods": {func() any { return &m.Methods }, "an array of strings"},
			"scheme":  {func() any { return &m.Scheme }, "a string"},
			"host":    {func() any { return &m.Host }, "a string"},
			"path":    {func() any { return &m.Path }, "a string"},
			"url":     {func() any { return &m.URL }, "a string"},
			"port":    {func() any { return &port }, "an integer"},
		})
		if len(port) > 0 && string(port) != "null" {
			switch err := json.Unmarshal(port, &m.Port); {
			case err != nil:
				d.add("match.port", "must be an integer")
			case m.Port == 0:
				// Zero is how Match says "any port", so only the document
				// can tell an explicit 0, which is never a port anyone meant.
				d.add("match.port", portRange+" (leave it out to match any port)")
			}
		}
	}
	if len(actionsRaw) > 0 && string(actionsRaw) != "null" {
		var raws []json.RawMessage
		if err := json.Unmarshal(actionsRaw, &raws); err != nil {
			d.add("actions", "must be an array")
		} else {
			r.Actions = make([]Action, len(raws))
			for i, ar := range raws {
				d.action(ar, fmt.Sprintf("actions[%d].", i), &r.Actions[i])
			}
		}
	}
	return d.problems
}

func (d *objDecoder) action(raw json.RawMessage, at string, a *Action) {
	d.object(raw, at, map[string]fieldSpec{
		"type":           {func() any { return &a.Type }, "a string"},
		"status":         {func() any { return &a.Status }, "an integer"},
		"headers":        {func() any { return &a.Headers }, "an object of strings"},
		"names":          {func() any { return &a.Names }, "an array of strings"},
		"body":           {func() any { return &a.Body }, "a string"},
		"bodyBase64":     {func() any { return &a.BodyBase64 }, "a string"},
		"bodyFile":       {func() any { return &a.BodyFile }, "a string"},
		"dir":            {func() any { return &a.Dir }, "a string"},
		"url":            {func() any { return &a.URL }, "a string"},
		"ms":             {func() any { return &a.Ms }, "an integer"},
		"phase":          {func() any { return &a.Phase }, "a string"},
		"bytesPerSecond": {func() any { return &a.BytesPerSecond }, "an integer"},
		"reset":          {func() any { return &a.Reset }, "true or false"},
		"timeoutMs":      {func() any { return &a.TimeoutMs }, "an integer"},
		"onTimeout":      {func() any { return &a.OnTimeout }, "a string"},
		"hits":           {func() any { return &a.Hits }, "an integer"},
		"find":           {func() any { return &a.Find }, "a string"},
		"replace":        {func() any { return &a.Replace }, "a string"},
		"regex":          {func() any { return &a.Regex }, "true or false"},
		"name":           {func() any { return &a.Name }, "a string"},
		"patch":          {func() any { return &a.Patch }, "a JSON object"},
		"params":         {func() any { return &a.Params }, "an object of strings"},
	})
}
