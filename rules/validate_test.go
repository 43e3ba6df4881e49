package rules

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func str(s string) *string { return &s }

// okRule is a valid rule to start each validation case from.
func okRule(id string) Rule {
	return Rule{
		ID:      id,
		Enabled: true,
		Actions: []Action{{Type: TypeSetRequestHeaders, Headers: map[string]string{"X-Test": "1"}}},
	}
}

func withActions(id string, as ...Action) Rule {
	r := okRule(id)
	r.Actions = as
	return r
}

func withMatch(id string, m Match) Rule {
	r := okRule(id)
	r.Match = m
	return r
}

// fields renders problems as "ruleId field" for comparison.
func fields(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.RuleID+" "+p.Field)
	}
	return out
}

func TestValidateValid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "body.json")
	if err := os.WriteFile(file, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := []Rule{
		{ID: "override-1", Name: "Override", Enabled: true,
			Match:   Match{Methods: []string{"get", "POST"}, Scheme: "HTTPS", Host: "API.example.com", Path: "/v1/*", URL: `^https://.*\?x=1$`},
			Actions: []Action{{Type: TypeOverride, Status: 201, Headers: map[string]string{"Content-Type": "application/json"}, Body: str(`{"a":1}`)}}},
		withActions("override-status-only", Action{Type: TypeOverride, Status: 500}),
		withActions("override-empty-body", Action{Type: TypeOverride, Body: str("")}),
		withActions("mock-file", Action{Type: TypeMock, BodyFile: file}),
		withActions("mock-b64", Action{Type: TypeMock, BodyBase64: "aGVsbG8="}),
		withActions("mock-dir", Action{Type: TypeMock, Dir: dir}),
		withActions("mock-bare", Action{Type: TypeMock}),
		withActions("map", Action{Type: TypeMapRemote, URL: "http://127.0.0.1:3000/v2"}),
		withActions("map-ipv6", Action{Type: TypeMapRemote, URL: "https://[::1]:8443"}),
		withActions("set-resp", Action{Type: TypeSetResponseHeaders, Headers: map[string]string{"Cache-Control": "no-store", "X-Empty": ""}}),
		withActions("rm", Action{Type: TypeRemoveRequestHeaders, Names: []string{"Cookie", "authorization"}}, Action{Type: TypeRemoveResponseHeaders, Names: []string{"Set-Cookie"}}),
		withActions("delay", Action{Type: TypeDelay, Ms: 1}, Action{Type: TypeDelay, Ms: MaxDelayMs, Phase: PhaseResponse}, Action{Type: TypeDelay, Ms: 5, Phase: PhaseRequest}),
		withActions("throttle", Action{Type: TypeThrottle, BytesPerSecond: 1}),
		withActions("block", Action{Type: TypeBlock}),
		withActions("block-418", Action{Type: TypeBlock, Status: 418, Body: str("no"), Headers: map[string]string{"X-Why": "test"}}),
		withActions("block-reset", Action{Type: TypeBlock, Reset: true}),
		withActions("break", Action{Type: TypeBreakpoint}, Action{Type: TypeBreakpoint, Phase: PhaseBoth, TimeoutMs: 60000, OnTimeout: OnTimeoutAbort, Hits: 3}),
		withActions("break-limits", Action{Type: TypeBreakpoint, Phase: PhaseResponse, TimeoutMs: 1, OnTimeout: OnTimeoutContinue},
			Action{Type: TypeBreakpoint, Phase: PhaseRequest, TimeoutMs: MaxBreakpointTimeoutMs}),
		withMatch("ipv6-host", Match{Host: "::1"}),
		withMatch("bracket-host", Match{Host: "[::1]"}),
		withMatch("any-path", Match{Path: "*"}),
		withMatch("port-low", Match{Port: 1}),
		withMatch("port-high", Match{Host: "127.0.0.1", Port: MaxPort}),
		{ID: "disabled.rule_1", Enabled: false, Actions: []Action{{Type: TypeBlock, Status: 100}}},
		{ID: strings.Repeat("a", MaxIDLen), Actions: []Action{{Type: TypeBlock, Status: 599}}},
	}
	if ps := Validate(rs); ps != nil {
		t.Fatalf("Validate valid rules: %v", ps)
	}
	if ps := Validate(nil); ps != nil {
		t.Fatalf("Validate(nil) = %v", ps)
	}
}

func TestValidateProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "body.txt")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.txt")
	tests := []struct {
		name string
		rule Rule
		want []string // "field: message fragment"
	}{
		{"empty id", okRule(""), []string{"id: must not be empty"}},
		{"long id", okRule(strings.Repeat("a", MaxIDLen+1)), []string{"id: must be at most 100"}},
		{"bad id chars", okRule("a b/c"), []string{"id: may contain only letters"}},
		{"no actions", withActions("r"), []string{"actions: at least one action"}},
		{"unknown type", withActions("r", Action{Type: "explode"}), []string{`actions[0].type: unknown action type "explode"`}},
		{"empty type", withActions("r", Action{}), []string{"actions[0].type: must not be empty"}},
		{"bad method", withMatch("r", Match{Methods: []string{"GET", "GE T", ""}}), []string{
			`match.methods[1]: "GE T" is not a method`, `match.methods[2]: "" is not a method`}},
		{"bad scheme", withMatch("r", Match{Scheme: "ftp"}), []string{`match.scheme: "ftp" is not one of`}},
		{"host with port", withMatch("r", Match{Host: "example.com:8080"}), []string{"match.host: must not include a port (the host is matched without it; use match.port)"}},
		{"port negative", withMatch("r", Match{Port: -1}), []string{"match.port: must be 1..65535"}},
		{"port too high", withMatch("r", Match{Port: MaxPort + 1}), []string{"match.port: must be 1..65535"}},
		{"ipv6 host with port", withMatch("r", Match{Host: "[::1]:8080"}), []string{"match.host: must not include a port"}},
		{"host with path", withMatch("r", Match{Host: "example.com/x"}), []string{"match.host: must be a host name glob"}},
		{"host with scheme", withMatch("r", Match{Host: "https://example.com"}), []string{"match.host: must be a host name glob"}},
		{"host bad escape", withMatch("r", Match{Host: `example\`}), []string{"match.host: bad glob"}},
		{"path bad escape", withMatch("r", Match{Path: `/a\`}), []string{"match.path: bad glob"}},
		{"path relative", withMatch("r", Match{Path: "api/*"}), []string{`match.path: must start with "/"`}},
		{"path space", withMatch("r", Match{Path: "/a b"}), []string{"match.path: must not contain spaces"}},
		{"long path", withMatch("r", Match{Path: "/" + strings.Repeat("a", MaxPatternLen)}), []string{"match.path: must be at most 2048"}},
		{"long url", withMatch("r", Match{URL: strings.Repeat("a", MaxPatternLen+1)}), []string{"match.url: must be at most 2048"}},
		{"bad regexp", withMatch("r", Match{URL: "a(b"}), []string{"match.url: bad regular expression: missing closing )"}},
		{"status low", withActions("r", Action{Type: TypeOverride, Status: 99}), []string{"actions[0].status: must be 100..599"}},
		{"status high", withActions("r", Action{Type: TypeMock, Status: 600}), []string{"actions[0].status: must be 100..599"}},
		{"status negative", withActions("r", Action{Type: TypeBlock, Status: -1}), []string{"actions[0].status: must be 100..599"}},
		{"empty override", withActions("r", Action{Type: TypeOverride}), []string{"actions[0]: an override needs"}},
		{"two bodies", withActions("r", Action{Type: TypeOverride, Body: str("a"), BodyBase64: "YQ=="}), []string{
			"actions[0].bodyBase64: conflicts with body"}},
		{"three bodies", withActions("r", Action{Type: TypeMock, Body: str("a"), BodyBase64: "YQ==", BodyFile: file}), []string{
			"actions[0].bodyBase64: conflicts with body", "actions[0].bodyFile: conflicts with body"}},
		{"bad base64", withActions("r", Action{Type: TypeMock, BodyBase64: "not base64!"}), []string{"actions[0].bodyBase64: not valid"}},
		{"missing bodyFile", withActions("r", Action{Type: TypeOverride, BodyFile: missing}), []string{"actions[0].bodyFile: cannot be read: no such file"}},
		{"bodyFile is dir", withActions("r", Action{Type: TypeOverride, BodyFile: dir}), []string{"actions[0].bodyFile: is not a regular file"}},
		{"dir without mock", withActions("r", Action{Type: TypeOverride, Status: 200, Dir: dir}), []string{"actions[0].dir: only mock actions"}},
		{"dir and body", withActions("r", Action{Type: TypeMock, Dir: dir, Body: str("x")}), []string{"actions[0].dir: conflicts with body"}},
		{"dir missing", withActions("r", Action{Type: TypeMock, Dir: missing}), []string{"actions[0].dir: cannot be read"}},
		{"dir is file", withActions("r", Action{Type: TypeMock, Dir: file}), []string{"actions[0].dir: is not a directory"}},
		{"bad header name", withActions("r", Action{Type: TypeSetRequestHeaders, Headers: map[string]string{"Bad Name": "v", "Ok": "v"}}), []string{
			`actions[0].headers: "Bad Name" is not a valid header name`}},
		{"header name colon", withActions("r", Action{Type: TypeOverride, Headers: map[string]string{"X:Y": "v"}}), []string{
			`actions[0].headers: "X:Y" is not a valid header name`}},
		{"header value CRLF", withActions("r", Action{Type: TypeSetResponseHeaders, Headers: map[string]string{"X": "a\r\nSet-Cookie: x"}}), []string{
			`actions[0].headers: the value of X must not contain control characters`}},
		{"hop-by-hop header", withActions("r", Action{Type: TypeSetResponseHeaders, Headers: map[string]string{"connection": "keep-alive", "Keep-Alive": "timeout=5", "X-Ok": "1"}}), []string{
			`actions[0].headers: Keep-Alive is managed by the proxy`, `actions[0].headers: connection is managed by the proxy`}},
		{"framing header", withActions("r", Action{Type: TypeOverride, Body: str("x"), Headers: map[string]string{"Content-Length": "1", "Transfer-Encoding": "chunked"}}), []string{
			`actions[0].headers: Content-Length is managed`, `actions[0].headers: Transfer-Encoding is managed`}},
		{"empty set headers", withActions("r", Action{Type: TypeSetResponseHeaders, Headers: map[string]string{}}), []string{
			"actions[0].headers: at least one header"}},
		{"nil set headers", withActions("r", Action{Type: TypeSetRequestHeaders}), []string{"actions[0].headers: at least one header"}},
		{"no names", withActions("r", Action{Type: TypeRemoveResponseHeaders}), []string{"actions[0].names: at least one header name"}},
		{"bad name", withActions("r", Action{Type: TypeRemoveRequestHeaders, Names: []string{"ok", "not ok"}}), []string{
			`actions[0].names: "not ok" is not a valid header name`}},
		{"delay zero", withActions("r", Action{Type: TypeDelay}), []string{"actions[0].ms: must be 1..600000"}},
		{"delay long", withActions("r", Action{Type: TypeDelay, Ms: MaxDelayMs + 1}), []string{"actions[0].ms: must be 1..600000"}},
		{"delay phase", withActions("r", Action{Type: TypeDelay, Ms: 10, Phase: "later"}), []string{`actions[0].phase: "later" is not request or response`}},
		{"throttle zero", withActions("r", Action{Type: TypeThrottle}), []string{"actions[0].bytesPerSecond: must be at least 1"}},
		{"throttle negative", withActions("r", Action{Type: TypeThrottle, BytesPerSecond: -5}), []string{"actions[0].bytesPerSecond: must be at least 1"}},
		{"reset with status", withActions("r", Action{Type: TypeBlock, Reset: true, Status: 403}), []string{"actions[0].reset: a reset sends no answer"}},
		{"map no url", withActions("r", Action{Type: TypeMapRemote}), []string{"actions[0].url: must not be empty"}},
		{"map relative", withActions("r", Action{Type: TypeMapRemote, URL: "/v2"}), []string{"actions[0].url: must be an absolute URL"}},
		{"map no host", withActions("r", Action{Type: TypeMapRemote, URL: "http:///x"}), []string{"actions[0].url: must include a host"}},
		{"map ftp", withActions("r", Action{Type: TypeMapRemote, URL: "ftp://x/"}), []string{"actions[0].url: must be an absolute URL"}},
		{"map query", withActions("r", Action{Type: TypeMapRemote, URL: "http://x/?a=1"}), []string{"actions[0].url: must not include a query"}},
		{"map user", withActions("r", Action{Type: TypeMapRemote, URL: "http://u:p@x/"}), []string{"actions[0].url: must not include user"}},
		{"map port", withActions("r", Action{Type: TypeMapRemote, URL: "http://x:99999/"}), []string{"actions[0].url: port must be"}},
		{"field of other type", withActions("r", Action{Type: TypeThrottle, BytesPerSecond: 10, Ms: 5, Status: 200, Names: []string{"x"}}), []string{
			"actions[0].status: not used by throttle", "actions[0].names: not used by throttle", "actions[0].ms: not used by throttle"}},
		{"url on override", withActions("r", Action{Type: TypeOverride, Status: 200, URL: "http://x"}), []string{"actions[0].url: not used by override"}},
		{"breakpoint phase", withActions("r", Action{Type: TypeBreakpoint, Phase: "later"}), []string{`actions[0].phase: "later" is not request, response or both`}},
		{"breakpoint timeout negative", withActions("r", Action{Type: TypeBreakpoint, TimeoutMs: -1}), []string{"actions[0].timeoutMs: must be 1..1800000"}},
		{"breakpoint timeout long", withActions("r", Action{Type: TypeBreakpoint, TimeoutMs: MaxBreakpointTimeoutMs + 1}), []string{"actions[0].timeoutMs: must be 1..1800000"}},
		{"breakpoint on timeout", withActions("r", Action{Type: TypeBreakpoint, OnTimeout: "explode"}), []string{`actions[0].onTimeout: "explode" is not continue or abort`}},
		{"breakpoint hits negative", withActions("r", Action{Type: TypeBreakpoint, Hits: -1}), []string{"actions[0].hits: must be 0 (every match) or more"}},
		{"breakpoint fields elsewhere", withActions("r", Action{Type: TypeDelay, Ms: 5, TimeoutMs: 5, OnTimeout: "abort", Hits: 2}), []string{
			"actions[0].timeoutMs: not used by delay", "actions[0].onTimeout: not used by delay", "actions[0].hits: not used by delay"}},
		{"breakpoint with status", withActions("r", Action{Type: TypeBreakpoint, Status: 503, Ms: 3}), []string{
			"actions[0].status: not used by breakpoint", "actions[0].ms: not used by breakpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := Validate([]Rule{tt.rule})
			var got []string
			for _, p := range ps {
				got = append(got, p.Field+": "+p.Message)
				if p.RuleID != tt.rule.ID || p.Index != 0 {
					t.Errorf("problem %+v: want ruleId %q index 0", p, tt.rule.ID)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i := range tt.want {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestValidateAllProblemsAtOnce(t *testing.T) {
	rs := []Rule{
		okRule("a"),
		{ID: "b", Match: Match{Host: "x:1", URL: "(", Port: 70000}, Actions: []Action{
			{Type: TypeOverride, Status: 700, Headers: map[string]string{"bad name": "v"}},
			{Type: "nope"},
			{Type: TypeDelay, Ms: -1, Phase: "x"},
		}},
		okRule("a"),
		okRule(""),
	}
	ps := Validate(rs)
	want := []string{
		"b match.host",
		"b match.url",
		"b match.port",
		"b actions[0].status",
		"b actions[0].headers",
		"b actions[1].type",
		"b actions[2].ms",
		"b actions[2].phase",
		"a id",
		" id",
	}
	if got := fields(ps); !slices.Equal(got, want) {
		t.Fatalf("fields = %q\nwant     %q", got, want)
	}
	if ps[8].Index != 2 || !strings.Contains(ps[8].Message, "duplicate id (also used by the rule at index 0)") {
		t.Errorf("duplicate problem = %+v", ps[8])
	}
	if ps[9].Index != 3 {
		t.Errorf("empty id problem index = %d, want 3", ps[9].Index)
	}

	_, err := Compile(rs)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != len(want) {
		t.Fatalf("Compile error = %v, want a *ValidationError with %d problems", err, len(want))
	}
	msg := err.Error()
	for _, frag := range []string{`rule "b" actions[0].status: must be 100..599`, "rule at index 3 id: must not be empty", "; "} {
		if !strings.Contains(msg, frag) {
			t.Errorf("error %q lacks %q", msg, frag)
		}
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{RuleID: "x", Field: "actions[0].status", Message: "must be 100..599"}, `rule "x" actions[0].status: must be 100..599`},
		{Problem{Index: 2, Field: "id", Message: "must not be empty"}, "rule at index 2 id: must not be empty"},
		{Problem{RuleID: "x", Message: "must be a JSON object"}, `rule "x": must be a JSON object`},
		{Problem{Index: -1, Message: "invalid JSON"}, "invalid JSON"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// TestProblemJSON pins the shape the API answers with a 400.
func TestProblemJSON(t *testing.T) {
	err := &ValidationError{Problems: []Problem{{RuleID: "r", Index: 1, Field: "actions[0].status", Message: "must be 100..599"}}}
	got, merr := json.Marshal(err)
	if merr != nil {
		t.Fatal(merr)
	}
	want := `{"problems":[{"ruleId":"r","index":1,"field":"actions[0].status","message":"must be 100..599"}]}`
	if string(got) != want {
		t.Fatalf("JSON = %s, want %s", got, want)
	}
}
