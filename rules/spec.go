package rules

// FieldKind says how a form edits an action field and how its JSON looks.
type FieldKind string

// Field kinds.
const (
	KindInt     FieldKind = "int"     // a JSON number
	KindString  FieldKind = "string"  // one line of text
	KindText    FieldKind = "text"    // several lines (a body, a replacement)
	KindBool    FieldKind = "bool"    // a checkbox
	KindEnum    FieldKind = "enum"    // one of Options
	KindHeaders FieldKind = "headers" // an object of header name to value
	KindNames   FieldKind = "names"   // a list of header or parameter names
)

// FieldSpec is one field of an action type: its JSON name in Action and how
// to edit it.
type FieldSpec struct {
	// Name is the field's JSON name in Action, e.g. "status".
	Name string    `json:"name"`
	Kind FieldKind `json:"kind"`
	// Label is the form's label, Help one sentence on what the field does.
	Label string `json:"label"`
	Help  string `json:"help,omitempty"`
	// Options are the values of an enum field, the default first.
	Options []string `json:"options,omitempty"`
	// Group names fields of which at most one may be set (the body sources).
	Group string `json:"group,omitempty"`
}

// ActionSpec describes one action type. It is the one table of action
// types: validation reports fields a type does not use from it, and the
// dashboard's rule editor builds its forms from it (GET /api/rules/actions).
type ActionSpec struct {
	Type string `json:"type"`
	// Label names the action in the editor's type menu; Help says what it
	// does in one or two sentences.
	Label  string      `json:"label"`
	Help   string      `json:"help"`
	Fields []FieldSpec `json:"fields"`
}

// Shared field specs.
var (
	fieldStatusKeep = FieldSpec{Name: "status", Kind: KindInt, Label: "Status",
		Help: "Empty keeps the upstream status."}
	fieldHeaders = FieldSpec{Name: "headers", Kind: KindHeaders, Label: "Headers"}
	fieldBody    = FieldSpec{Name: "body", Kind: KindText, Label: "Body", Group: "body",
		Help: "Text served as the body."}
	fieldBodyBase64 = FieldSpec{Name: "bodyBase64", Kind: KindString, Label: "Body (base64)", Group: "body",
		Help: "Binary body, base64-encoded."}
	fieldBodyFile = FieldSpec{Name: "bodyFile", Kind: KindString, Label: "Body file", Group: "body",
		Help: "A file read at each match, so edits take effect at once."}
	fieldNames = FieldSpec{Name: "names", Kind: KindNames, Label: "Header names"}
)

// ActionSpecs returns the table of action types, in the order the editor
// offers them. Each call returns a fresh copy.
func ActionSpecs() []ActionSpec {
	return []ActionSpec{
		{Type: TypeOverride, Label: "Override response (upstream still called)",
			Help:   "Replaces the status, headers or body of the real response; the upstream body is still read to the end. Without a body source the upstream body is kept.",
			Fields: []FieldSpec{fieldStatusKeep, fieldHeaders, fieldBody, fieldBodyBase64, fieldBodyFile}},
		{Type: TypeMock, Label: "Mock response (no upstream)",
			Help: "Answers without contacting the upstream.",
			Fields: []FieldSpec{
				{Name: "status", Kind: KindInt, Label: "Status", Help: "Empty answers 200."},
				fieldHeaders, fieldBody, fieldBodyBase64, fieldBodyFile,
				{Name: "dir", Kind: KindString, Label: "Directory", Group: "body",
					Help: "Serves files below this directory: the request path after the match's path prefix names the file."},
			}},
		{Type: TypeMapRemote, Label: "Map remote (send elsewhere)",
			Help:   "Sends the request to another scheme, host and port, replacing the path prefix.",
			Fields: []FieldSpec{{Name: "url", Kind: KindString, Label: "Target URL"}}},
		{Type: TypeSetRequestHeaders, Label: "Set request headers", Help: "Sets headers on the request sent upstream.",
			Fields: []FieldSpec{fieldHeaders}},
		{Type: TypeRemoveRequestHeaders, Label: "Remove request headers", Help: "Removes headers from the request sent upstream.",
			Fields: []FieldSpec{fieldNames}},
		{Type: TypeSetResponseHeaders, Label: "Set response headers", Help: "Sets headers on the response served.",
			Fields: []FieldSpec{fieldHeaders}},
		{Type: TypeRemoveResponseHeaders, Label: "Remove response headers", Help: "Removes headers from the response served.",
			Fields: []FieldSpec{fieldNames}},
		{Type: TypeDelay, Label: "Delay", Help: "Waits before sending the request upstream, or before serving the response head.",
			Fields: []FieldSpec{
				{Name: "ms", Kind: KindInt, Label: "Milliseconds"},
				{Name: "phase", Kind: KindEnum, Label: "Phase", Options: []string{"request", "response"}},
			}},
		{Type: TypeThrottle, Label: "Throttle response", Help: "Limits the rate at which the response body is served.",
			Fields: []FieldSpec{{Name: "bytesPerSecond", Kind: KindInt, Label: "Bytes per second"}}},
		{Type: TypeBlock, Label: "Block", Help: "Answers at once without contacting the upstream (403 unless a status is given), or resets the connection.",
			Fields: []FieldSpec{
				{Name: "status", Kind: KindInt, Label: "Status", Help: "Empty answers 403."},
				fieldHeaders, fieldBody, fieldBodyBase64, fieldBodyFile,
				{Name: "reset", Kind: KindBool, Label: "Reset the connection instead of answering"},
			}},
		{Type: TypeBreakpoint, Label: "Breakpoint (hold to inspect and edit)",
			Help: "Holds matching exchanges in the dashboard until they are continued, edited or aborted.",
			Fields: []FieldSpec{
				{Name: "phase", Kind: KindEnum, Label: "Phase", Options: []string{"request", "response", "both"}},
				{Name: "timeoutMs", Kind: KindInt, Label: "Timeout (ms)", Help: "How long an exchange stays held; empty is one minute."},
				{Name: "onTimeout", Kind: KindEnum, Label: "On timeout", Options: []string{"continue", "abort"}},
				{Name: "hits", Kind: KindInt, Label: "Hits", Help: "Hold only the next N matches; empty holds every match."},
			}},
	}
}

// specOf returns the spec of an action type; false for unknown types.
func specOf(typ string) (ActionSpec, bool) {
	for _, s := range ActionSpecs() {
		if s.Type == typ {
			return s, true
		}
	}
	return ActionSpec{}, false
}
