package rules

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const exampleJSON = `[
  {
    "id": "mock-profile",
    "name": "Mock the profile API",
    "enabled": true,
    "match": {"methods": ["GET"], "scheme": "https", "host": "api.example.com", "path": "/v1/profile*"},
    "actions": [
      {"type": "override", "status": 200,
       "headers": {"Content-Type": "application/json"},
       "body": "{\"name\": \"test\"}"}
    ]
  }
]`

func TestDecodeRulesExample(t *testing.T) {
	rs, err := DecodeRules(strings.NewReader(exampleJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{
		ID: "mock-profile", Name: "Mock the profile API", Enabled: true,
		Match: Match{Methods: []string{"GET"}, Scheme: "https", Host: "api.example.com", Path: "/v1/profile*"},
		Actions: []Action{{Type: TypeOverride, Status: 200,
			Headers: map[string]string{"Content-Type": "application/json"}, Body: str(`{"name": "test"}`)}},
	}}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("decoded %+v\nwant %+v", rs, want)
	}
	if _, err := Compile(rs); err != nil {
		t.Fatalf("Compile(example): %v", err)
	}
	// What we write reads back the same.
	data, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeRules(strings.NewReader(string(data)))
	if err != nil || !reflect.DeepEqual(again, rs) {
		t.Fatalf("round trip = %+v, %v", again, err)
	}
}

func TestDecodeRulesEmpty(t *testing.T) {
	rs, err := DecodeRules(strings.NewReader(" [ ] \n"))
	if err != nil || len(rs) != 0 {
		t.Fatalf("DecodeRules([]) = %v, %v", rs, err)
	}
}

func TestDecodeRulesProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // "ruleId|index|field|message prefix"
	}{
		{"empty", "", []string{"|-1||empty document"}},
		{"null", "null", []string{"|-1||null"}},
		{"object", `{"id": "x"}`, []string{"|-1||want a JSON array"}},
		{"syntax", "[\n  {\"id\": \"x\",}\n]", []string{"|-1||invalid JSON at line 2, column 14"}},
		{"trailing", `[] []`, []string{"|-1||invalid JSON at line 1"}},
		{"not object", `[1]`, []string{"|0||must be a JSON object"}},
		{"unknown field", `[{"id": "a", "enabled": true, "hots": "x", "actions": []}]`, []string{"a|0|hots|unknown field"}},
		{"case matters", `[{"ID": "a"}]`, []string{"|0|ID|unknown field"}},
		{"duplicate field", `[{"id": "a", "id": "b"}]`, []string{"b|0|id|duplicate field"}},
		{"nested unknown", `[{"id": "a", "match": {"host": "x", "prot": 80}, "actions": [{"type": "block"}, {"type": "delay", "ms": 1, "phse": "x"}]}]`,
			[]string{"a|0|match.prot|unknown field", "a|0|actions[1].phse|unknown field"}},
		{"port case matters", `[{"id": "a", "match": {"Port": 80}, "actions": [{"type": "block"}]}]`, []string{"a|0|match.Port|unknown field"}},
		{"port string", `[{"id": "a", "match": {"port": "20002"}, "actions": [{"type": "block"}]}]`, []string{"a|0|match.port|must be an integer"}},
		{"port float", `[{"id": "a", "match": {"port": 80.5}, "actions": [{"type": "block"}]}]`, []string{"a|0|match.port|must be an integer"}},
		{"port zero", `[{"id": "a", "match": {"port": 0}, "actions": [{"type": "block"}]}]`, []string{"a|0|match.port|must be 1..65535 (leave it out to match any port)"}},
		{"port duplicate", `[{"id": "a", "match": {"port": 1, "port": 2}, "actions": [{"type": "block"}]}]`, []string{"a|0|match.port|duplicate field"}},
		{"wrong types", `[{"id": "a", "enabled": "yes", "match": {"methods": "GET"}, "actions": [{"type": "override", "status": "200", "headers": {"X": 1}, "body": 5}]}]`,
			[]string{
				"a|0|enabled|must be true or false",
				"a|0|match.methods|must be an array of strings",
				"a|0|actions[0].status|must be an integer",
				"a|0|actions[0].headers|must be an object of strings",
				"a|0|actions[0].body|must be a string",
			}},
		{"float status", `[{"id": "a", "actions": [{"type": "block", "status": 403.5}]}]`, []string{"a|0|actions[0].status|must be an integer"}},
		{"match not object", `[{"id": "a", "match": [], "actions": []}]`, []string{"a|0|match|must be a JSON object"}},
		{"actions not array", `[{"id": "a", "actions": {}}]`, []string{"a|0|actions|must be an array"}},
		{"action not object", `[{"id": "a", "actions": ["block"]}]`, []string{"a|0|actions[0]|must be a JSON object"}},
		{"several rules", `[{"id": "a", "x": 1}, {"id": "b"}, {"id": "c", "y": 2}]`, []string{"a|0|x|unknown field", "c|2|y|unknown field"}},
		{"id not string", `[{"id": 7}]`, []string{"|0|id|must be a string"}},
		{"breakpoint types", `[{"id": "a", "actions": [{"type": "breakpoint", "timeoutMs": "60000", "onTimeout": 1, "hits": 1.5}]}]`, []string{
			"a|0|actions[0].timeoutMs|must be an integer", "a|0|actions[0].onTimeout|must be a string", "a|0|actions[0].hits|must be an integer"}},
		{"breakpoint unknown field", `[{"id": "a", "actions": [{"type": "breakpoint", "timeout": 5}]}]`, []string{"a|0|actions[0].timeout|unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := DecodeRules(strings.NewReader(tt.doc))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("DecodeRules = %v, %v; want a *ValidationError", rs, err)
			}
			if rs != nil {
				t.Errorf("rules = %v, want nil on error", rs)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, strings.Join([]string{p.RuleID, strconv.Itoa(p.Index), p.Field, p.Message}, "|"))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q\nwant %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodeRule(t *testing.T) {
	r, err := DecodeRule(strings.NewReader(`{"enabled": true, "match": {"host": "*.test"}, "actions": [{"type": "block", "reset": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "" || !r.Enabled || r.Match.Host != "*.test" || len(r.Actions) != 1 || !r.Actions[0].Reset {
		t.Fatalf("DecodeRule = %+v", r)
	}
	_, err = DecodeRule(strings.NewReader(`{"id": "x", "actions": [{"type": "block", "bogus": 1}]}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || !slices.Equal(fields(ve.Problems), []string{"x actions[0].bogus"}) {
		t.Fatalf("DecodeRule(unknown field) = %v", err)
	}
	_, err = DecodeRule(strings.NewReader(`[]`))
	if !errors.As(err, &ve) || ve.Problems[0].Message != "must be a JSON object" {
		t.Fatalf("DecodeRule([]) = %v", err)
	}
}

// The breakpoint action in the form scripts send it decodes and compiles;
// "hits": 0 (every match) is accepted although it is the zero value.
func TestDecodeBreakpoint(t *testing.T) {
	doc := `[{"id": "bp", "enabled": true, "match": {"host": "api.example.com"}, "actions": [
		{"type": "breakpoint", "phase": "both", "timeoutMs": 60000, "onTimeout": "continue", "hits": 0}]}]`
	rs, err := DecodeRules(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(rs); err != nil {
		t.Fatal(err)
	}
	a := rs[0].Actions[0]
	if a.Type != TypeBreakpoint || a.Phase != PhaseBoth || a.TimeoutMs != 60000 || a.OnTimeout != OnTimeoutContinue || a.Hits != 0 {
		t.Fatalf("decoded %+v", a)
	}
	if !a.HoldsRequest() || !a.HoldsResponse() || a.BreakpointTimeout() != time.Minute || a.TimeoutAction() != OnTimeoutContinue {
		t.Errorf("helpers of %+v", a)
	}
	bare := Action{Type: TypeBreakpoint}
	if !bare.HoldsRequest() || bare.HoldsResponse() || bare.BreakpointTimeout() != time.Minute || bare.TimeoutAction() != OnTimeoutContinue {
		t.Errorf("defaults of a bare breakpoint: request %v response %v timeout %v on timeout %q",
			bare.HoldsRequest(), bare.HoldsResponse(), bare.BreakpointTimeout(), bare.TimeoutAction())
	}
	resp := Action{Type: TypeBreakpoint, Phase: PhaseResponse, TimeoutMs: 1500, OnTimeout: OnTimeoutAbort}
	if resp.HoldsRequest() || !resp.HoldsResponse() || resp.BreakpointTimeout() != 1500*time.Millisecond || resp.TimeoutAction() != OnTimeoutAbort {
		t.Errorf("helpers of %+v", resp)
	}
}

func TestDecodeRulesTooLarge(t *testing.T) {
	doc := `["` + strings.Repeat("x", MaxDocumentBytes) + `"]`
	_, err := DecodeRules(strings.NewReader(doc))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("DecodeRules(huge) = %v", err)
	}
}

func TestDecodePort(t *testing.T) {
	const doc = `[{"id": "dev", "enabled": true, "match": {"host": "127.0.0.1", "port": 20002}, "actions": [{"type": "block"}]}]`
	rs, err := DecodeRules(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].Match.Port; got != 20002 {
		t.Fatalf("match.port = %d, want 20002", got)
	}
	data, err := json.Marshal(rs[0].Match)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), `{"host":"127.0.0.1","port":20002}`; got != want {
		t.Errorf("encoded match = %s, want %s", got, want)
	}
	// Absent and null both mean any port, and nothing is written for it.
	for _, m := range []string{`{}`, `{"port": null}`} {
		r, err := DecodeRule(strings.NewReader(`{"id": "a", "match": ` + m + `, "actions": [{"type": "block"}]}`))
		if err != nil || r.Match.Port != 0 {
			t.Errorf("DecodeRule(match %s) = %+v, %v; want port 0", m, r.Match, err)
		}
		if data, _ := json.Marshal(r.Match); string(data) != `{}` {
			t.Errorf("match %s encodes as %s, want {}", m, data)
		}
	}
}
