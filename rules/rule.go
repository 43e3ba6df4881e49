package rules

import "encoding/json"

// Rule is one user rule, as stored in rules.json and exchanged with the API.
// Its TypeScript twin lives in ui/src/api/types.ts.
type Rule struct {
	ID      string   `json:"id"`
	Name    string   `json:"name,omitempty"`
	Enabled bool     `json:"enabled"`
	Match   Match    `json:"match"`
	Actions []Action `json:"actions"`
}

// Match selects requests. Every field is optional; an absent field matches
// anything, and all present fields must match.
type Match struct {
	Methods []string `json:"methods,omitempty"` // case-insensitive
	Scheme  string   `json:"scheme,omitempty"`  // "http", "https", "ws", "wss"
	// Host is a glob over the host name without port ("*" any run, "?" one char),
	// case-insensitive.
	Host string `json:"host,omitempty"`
	// Path is a glob over the path and query, as sent (escaped); "*" may
	// cross "/" and "?". "\" makes the next character literal.
	Path string `json:"path,omitempty"`
	// URL is a regular expression (RE2 syntax) searched in the whole absolute
	// URL; anchor it with ^ and $ to match all of it.
	URL string `json:"url,omitempty"`
	// Port is the port the request's URL addresses: its explicit port, else
	// the scheme's default (80 for http and ws, 443 for https and wss), so a
	// rule for 127.0.0.1:20002 leaves 127.0.0.1:20001 alone. 1..65535; zero
	// (absent) matches any port.
	Port int `json:"port,omitempty"`
}

// Action types.
const (
	TypeOverride              = "override"
	TypeMock                  = "mock"
	TypeMapRemote             = "mapRemote"
	TypeSetRequestHeaders     = "setRequestHeaders"
	TypeRemoveRequestHeaders  = "removeRequestHeaders"
	TypeSetResponseHeaders    = "setResponseHeaders"
	TypeRemoveResponseHeaders = "removeResponseHeaders"
	TypeDelay                 = "delay"
	TypeThrottle              = "throttle"
	TypeBlock                 = "block"
	TypeBreakpoint            = "breakpoint"
	// Rewrites: they change traffic as it passes rather than answer it.
	TypeReplaceBody    = "replaceBody"
	TypeReplaceHeaders = "replaceHeaders"
	TypeJSONPatch      = "jsonPatch"
	TypeSetQuery       = "setQuery"
	TypeRemoveQuery    = "removeQuery"
	TypeSetStatus      = "setStatus"
)

// Action is one thing a rule does. Which fields apply depends on Type.
type Action struct {
	Type string `json:"type"`

	// Status of the produced response (override, mock, block). Zero keeps the
	// upstream status (override) or defaults to 200 (mock) / 403 (block).
	// setStatus requires it: the status served instead of the upstream's.
	Status int `json:"status,omitempty"`
	// Headers to set (override, mock, setRequestHeaders, setResponseHeaders).
	Headers map[string]string `json:"headers,omitempty"`
	// Names of headers to remove (removeRequestHeaders, removeResponseHeaders),
	// or of query parameters to remove (removeQuery).
	Names []string `json:"names,omitempty"`

	// Exactly one body source at most (override, mock, block).
	Body       *string `json:"body,omitempty"`
	BodyBase64 string  `json:"bodyBase64,omitempty"`
	// BodyFile is read when a request matches, so editing the file takes effect
	// at once.
	BodyFile string `json:"bodyFile,omitempty"`
	// Dir (mock only) serves files below this directory: the request path
	// after the match's path prefix names the file.
	Dir string `json:"dir,omitempty"`

	// URL (mapRemote) replaces scheme, host and port, and the path prefix.
	URL string `json:"url,omitempty"`

	// Ms (delay) and Phase: "request" (before sending upstream, default) or
	// "response" (before the response head is served). A breakpoint's
	// Phase may also be "both"; the rewrites of bodies and headers
	// (replaceBody, replaceHeaders, jsonPatch) require "request" or
	// "response".
	Ms    int    `json:"ms,omitempty"`
	Phase string `json:"phase,omitempty"`

	// TimeoutMs (breakpoint) is how long an exchange stays held before
	// OnTimeout applies; zero means DefaultBreakpointTimeoutMs.
	TimeoutMs int `json:"timeoutMs,omitempty"`
	// OnTimeout (breakpoint) is "continue" (the default) or "abort".
	OnTimeout string `json:"onTimeout,omitempty"`
	// Hits (breakpoint) is how many of the next matching exchanges are
	// held; then the rule stops holding. Zero holds every match.
	Hits int `json:"hits,omitempty"`

	// BytesPerSecond (throttle) limits the served response body rate.
	BytesPerSecond int64 `json:"bytesPerSecond,omitempty"`

	// Reset (block) closes the client connection without an answer.
	Reset bool `json:"reset,omitempty"`

	// Find and Replace (replaceBody, replaceHeaders): Find is literal text,
	// or an RE2 expression when Regex is set, whose groups Replace may name
	// ($1, ${1}, ${name}; $$ is a dollar sign). Every match is replaced.
	Find    string `json:"find,omitempty"`
	Replace string `json:"replace,omitempty"`
	Regex   bool   `json:"regex,omitempty"`
	// Name (replaceHeaders) limits the rewrite to headers whose name
	// matches this glob, case-insensitively; empty means every header.
	Name string `json:"name,omitempty"`
	// Patch (jsonPatch) is an RFC 7386 merge patch: a JSON object, or a
	// string holding one (what a text form sends).
	Patch json.RawMessage `json:"patch,omitempty"`
	// Params (setQuery) are query parameters to set on the request URL.
	Params map[string]string `json:"params,omitempty"`
}
