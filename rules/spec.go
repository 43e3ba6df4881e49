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
	KindHeaders FieldKind = "headers" // an object of name to value (headers, query parameters)
	KindNames   FieldKind = "names"   // a list of header or parameter names
	// KindJSON is a JSON value (jsonPatch's patch), edited as text: the
	// form may send the JSON itself or a string holding it.
	KindJSON FieldKind = "json"
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
	// The rewrites of bodies and headers name their phase.
	fieldRewritePhase = FieldSpec{Name: "phase", Kind: KindEnum, Label: "Phase", Options: []string{"response", "request"},
		Help: "Response rewrites what the client gets; request rewrites what is sent upstream."}
	fieldRegex = FieldSpec{Name: "regex", Kind: KindBool, Label: "Regular expression",
		Help: "Find is an RE2 regular expression; replace may name its groups as $1, ${1} or ${name} ($$ is a dollar sign)."}
)

// rewriteCap is how the help of body rewrites names their size cap.
const rewriteCap = "16 MiB"

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
		{Type: TypeReplaceBody, Label: "Find and replace in body",
			Help: "Replaces every match in the request or response body, its Content-Encoding (gzip, br, deflate, zstd) undone and redone, with Content-Length recomputed. " +
				"A body over " + rewriteCap + " (or still arriving after a pause of 5 s, or 30 s in all) passes unchanged, and the flow notes that the rule did not apply.",
			Fields: []FieldSpec{
				fieldRewritePhase,
				{Name: "find", Kind: KindText, Label: "Find", Help: "Text to find; every match is replaced."},
				{Name: "replace", Kind: KindText, Label: "Replace with", Help: "Empty deletes the matches."},
				fieldRegex,
			}},
		{Type: TypeReplaceHeaders, Label: "Find and replace in headers",
			Help: "Replaces every match in the values of the request or response headers. Connection, framing and other hop-by-hop headers are never touched.",
			Fields: []FieldSpec{
				fieldRewritePhase,
				{Name: "name", Kind: KindString, Label: "Header name", Help: "Only headers whose name matches this glob (\"*\" any run, \"?\" one character; any case); empty looks at every header."},
				{Name: "find", Kind: KindString, Label: "Find", Help: "Text to find in the values; every match is replaced."},
				{Name: "replace", Kind: KindString, Label: "Replace with", Help: "Empty deletes the matches; a value left empty stays, empty."},
				fieldRegex,
			}},
		{Type: TypeJSONPatch, Label: "JSON merge patch",
			Help: "Merges a JSON object into a JSON request or response body (RFC 7386: null removes a member, objects merge, anything else replaces). " +
				"A body that is not JSON, or is over " + rewriteCap + ", passes unchanged, and the flow notes that the rule did not apply.",
			Fields: []FieldSpec{
				fieldRewritePhase,
				{Name: "patch", Kind: KindJSON, Label: "Patch", Help: "A JSON object, e.g. {\"debug\": true, \"token\": null}."},
			}},
		{Type: TypeSetQuery, Label: "Set query parameters",
			Help:   "Sets parameters in the query of the URL sent upstream: the first of each name takes the new value in its place, the others of that name go, and new names come last.",
			Fields: []FieldSpec{{Name: "params", Kind: KindHeaders, Label: "Parameters"}}},
		{Type: TypeRemoveQuery, Label: "Remove query parameters",
			Help:   "Removes every parameter of these names from the query of the URL sent upstream.",
			Fields: []FieldSpec{{Name: "names", Kind: KindNames, Label: "Parameter names"}}},
		{Type: TypeSetStatus, Label: "Set response status",
			Help:   "Serves this status instead of the upstream's, with the upstream's headers and body (none for 204 and 304, whose upstream body is still read to the end).",
			Fields: []FieldSpec{{Name: "status", Kind: KindInt, Label: "Status", Help: "200..599."}}},
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
