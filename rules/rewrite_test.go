package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateRewrites(t *testing.T) {
	valid := []Rule{
		withActions("body-lit", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "a", Replace: ""}),
		withActions("body-re", Action{Type: TypeReplaceBody, Phase: PhaseRequest, Find: `(?P<k>\w+)=(\d+)`, Replace: "${k}:$2 $$ ${1}x", Regex: true}),
		withActions("body-lit-dollar", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "x", Replace: "$1x"}),
		withActions("hdr", Action{Type: TypeReplaceHeaders, Phase: PhaseResponse, Name: "x-*", Find: "a", Replace: "b"}),
		withActions("hdr-all", Action{Type: TypeReplaceHeaders, Phase: PhaseRequest, Find: "^v(\\d)", Replace: "w$1", Regex: true}),
		withActions("patch-obj", Action{Type: TypeJSONPatch, Phase: PhaseResponse, Patch: json.RawMessage(`{"a":null,"b":{"c":1}}`)}),
		withActions("patch-str", Action{Type: TypeJSONPatch, Phase: PhaseRequest, Patch: json.RawMessage(`"{\"a\": 1}"`)}),
		withActions("query", Action{Type: TypeSetQuery, Params: map[string]string{"a": "1", "b": ""}}, Action{Type: TypeRemoveQuery, Names: []string{"c", "d e"}}),
		withActions("status", Action{Type: TypeSetStatus, Status: 404}, Action{Type: TypeSetStatus, Status: 599}),
	}
	if ps := Validate(valid); ps != nil {
		t.Fatalf("Validate valid rewrites: %v", ps)
	}

	tests := []struct {
		name string
		a    Action
		want []string // "field: message prefix"
	}{
		{"body no phase", Action{Type: TypeReplaceBody, Find: "a"}, []string{"actions[0].phase: is required"}},
		{"body bad phase", Action{Type: TypeReplaceBody, Phase: "both", Find: "a"}, []string{`actions[0].phase: "both" is not request or response`}},
		{"body no find", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Replace: "x"}, []string{"actions[0].find: must not be empty"}},
		{"body bad regex", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "a(", Regex: true}, []string{"actions[0].find: bad regular expression: missing closing )"}},
		{"body long regex", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: strings.Repeat("a", MaxPatternLen+1), Regex: true}, []string{"actions[0].find: a regular expression must be at most"}},
		{"group out of range", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "(a)", Replace: "$2", Regex: true}, []string{"actions[0].replace: refers to group 2, but find has 1"}},
		{"group glued", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "(a)", Replace: "$1x", Regex: true}, []string{`actions[0].replace: $1x is read as the group named "1x"; write ${1}x`}},
		{"group unknown name", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "(?P<a>x)", Replace: "${b}", Regex: true}, []string{`actions[0].replace: refers to the group "b"`}},
		{"body foreign field", Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "a", Name: "X"}, []string{"actions[0].name: not used by replaceBody"}},
		{"hdr bad name", Action{Type: TypeReplaceHeaders, Phase: PhaseResponse, Name: "X A", Find: "a"}, []string{`actions[0].name: "X A" is not a header name`}},
		{"hdr CRLF", Action{Type: TypeReplaceHeaders, Phase: PhaseResponse, Find: "a", Replace: "b\r\nX: y"}, []string{"actions[0].replace: must not contain control characters"}},
		{"patch missing", Action{Type: TypeJSONPatch, Phase: PhaseResponse}, []string{"actions[0].patch: a JSON object is required"}},
		{"patch null", Action{Type: TypeJSONPatch, Phase: PhaseResponse, Patch: json.RawMessage(`null`)}, []string{"actions[0].patch: a JSON object is required"}},
		{"patch array", Action{Type: TypeJSONPatch, Phase: PhaseResponse, Patch: json.RawMessage(`[1]`)}, []string{"actions[0].patch: must be a JSON object"}},
		{"patch bad string", Action{Type: TypeJSONPatch, Phase: PhaseResponse, Patch: json.RawMessage(`"{\"a\": }"`)}, []string{"actions[0].patch: invalid JSON at line 1, column 7"}},
		{"patch string scalar", Action{Type: TypeJSONPatch, Phase: PhaseResponse, Patch: json.RawMessage(`"42"`)}, []string{"actions[0].patch: must be a JSON object"}},
		{"patch no phase", Action{Type: TypeJSONPatch, Patch: json.RawMessage(`{}`)}, []string{"actions[0].phase: is required"}},
		{"query empty", Action{Type: TypeSetQuery, Params: map[string]string{}}, []string{"actions[0].params: at least one parameter"}},
		{"query empty name", Action{Type: TypeSetQuery, Params: map[string]string{"": "x"}}, []string{"actions[0].params: a parameter name must not be empty"}},
		{"remove query none", Action{Type: TypeRemoveQuery}, []string{"actions[0].names: at least one parameter name"}},
		{"remove query empty", Action{Type: TypeRemoveQuery, Names: []string{"a", ""}}, []string{"actions[0].names: a parameter name must not be empty"}},
		{"query phase", Action{Type: TypeSetQuery, Params: map[string]string{"a": "b"}, Phase: PhaseRequest}, []string{"actions[0].phase: not used by setQuery"}},
		{"status missing", Action{Type: TypeSetStatus}, []string{"actions[0].status: is required"}},
		{"status 1xx", Action{Type: TypeSetStatus, Status: 101}, []string{"actions[0].status: must be 200..599"}},
		{"status high", Action{Type: TypeSetStatus, Status: 600}, []string{"actions[0].status: must be 100..599"}},
		{"status with body", Action{Type: TypeSetStatus, Status: 404, Body: str("x")}, []string{"actions[0].body: not used by setStatus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := Validate([]Rule{withActions("r", tt.a)})
			var got []string
			for _, p := range ps {
				got = append(got, p.Field+": "+p.Message)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %q", got, tt.want)
			}
			for i := range tt.want {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestDecodeRewrites(t *testing.T) {
	doc := `[{"id":"r","enabled":true,"actions":[
		{"type":"replaceBody","phase":"response","find":"(a)","replace":"[$1]","regex":true},
		{"type":"replaceHeaders","phase":"request","name":"x-*","find":"a","replace":"b"},
		{"type":"jsonPatch","phase":"response","patch":{"a":null,"b":[1,2]}},
		{"type":"setQuery","params":{"k":"v"}},
		{"type":"removeQuery","names":["x"]},
		{"type":"setStatus","status":404}]}]`
	rs, err := DecodeRules(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ps := Validate(rs); ps != nil {
		t.Fatal(ps)
	}
	as := rs[0].Actions
	if !as[0].Regex || as[0].Replace != "[$1]" || as[1].Name != "x-*" || string(as[2].Patch) != `{"a":null,"b":[1,2]}` ||
		as[3].Params["k"] != "v" || as[4].Names[0] != "x" || as[5].Status != 404 {
		t.Fatalf("decoded %+v", as)
	}
	// Round trip through JSON (rules.json) keeps the patch as JSON.
	out, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"patch":{"a":null,"b":[1,2]}`)) {
		t.Fatalf("marshalled %s", out)
	}

	_, err = DecodeRules(strings.NewReader(`[{"id":"r","actions":[{"type":"replaceBody","regex":"yes","params":[1]}]}]`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	got := fields(ve.Problems)
	want := []string{"r actions[0].regex", "r actions[0].params"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("problems %v, want %v", got, want)
	}
}

func TestPlanRewrites(t *testing.T) {
	set, err := Compile([]Rule{withActions("r",
		Action{Type: TypeReplaceBody, Phase: PhaseRequest, Find: "a"},
		Action{Type: TypeReplaceBody, Phase: PhaseResponse, Find: "b"},
		Action{Type: TypeReplaceHeaders, Phase: PhaseRequest, Find: "c"},
		Action{Type: TypeJSONPatch, Phase: PhaseResponse, Patch: json.RawMessage(`{}`)},
		Action{Type: TypeSetQuery, Params: map[string]string{"a": "1"}},
		Action{Type: TypeRemoveQuery, Names: []string{"b"}},
		Action{Type: TypeSetStatus, Status: 418},
	)})
	if err != nil {
		t.Fatal(err)
	}
	p := set.Plan(Request{Method: "GET", Scheme: "http", Host: "x", Path: "/", URL: "http://x/"})
	var req, resp []string
	for _, a := range p.Request {
		req = append(req, a.Type+":"+a.Find)
	}
	for _, a := range p.Response {
		resp = append(resp, a.Type+":"+a.Find)
	}
	if got := strings.Join(req, ","); got != "replaceBody:a,replaceHeaders:c,setQuery:,removeQuery:" {
		t.Errorf("request actions %s", got)
	}
	if got := strings.Join(resp, ","); got != "replaceBody:b,jsonPatch:,setStatus:" {
		t.Errorf("response actions %s", got)
	}
	if w := set.Rewriter(p.Request[0]); w == nil || w != set.Rewriter(p.Request[0]) {
		t.Errorf("rewriter not compiled once: %p", w)
	}
}

func TestRewriter(t *testing.T) {
	tests := []struct {
		name         string
		a            Action
		in, want     string
		wantChanged  bool
		header, hdrs string // replaceHeaders: a name, and whether it matches ("y"/"n")
	}{
		{name: "literal", a: Action{Find: "cat", Replace: "dog"}, in: "cat catalog", want: "dog dogalog", wantChanged: true},
		{name: "literal dollar is literal", a: Action{Find: "x", Replace: "$1"}, in: "axb", want: "a$1b", wantChanged: true},
		{name: "no match", a: Action{Find: "zzz", Replace: "y"}, in: "abc", want: "abc"},
		{name: "same text", a: Action{Find: "a", Replace: "a"}, in: "abc", want: "abc"},
		{name: "delete", a: Action{Find: "-", Replace: ""}, in: "a-b-c", want: "abc", wantChanged: true},
		{name: "regex groups", a: Action{Find: `(\w+)@(\w+)`, Replace: "$2 at ${1}!", Regex: true}, in: "mail bob@host now", want: "mail host at bob! now", wantChanged: true},
		{name: "regex named", a: Action{Find: `v(?P<n>\d+)`, Replace: "version ${n}", Regex: true}, in: "v1 v22", want: "version 1 version 22", wantChanged: true},
		{name: "regex dollar", a: Action{Find: `(\d+)`, Replace: "$$$1", Regex: true}, in: "cost 5", want: "cost $5", wantChanged: true},
		{name: "regex anchors", a: Action{Find: `(?m)^x`, Replace: "y", Regex: true}, in: "x\nax\nx", want: "y\nax\ny", wantChanged: true},
		{name: "regex empty matches", a: Action{Find: `b*`, Replace: "-", Regex: true}, in: "abc", want: "-a-c-", wantChanged: true},
		{name: "header glob", a: Action{Find: "a", Name: "X-*"}, header: "x-test", hdrs: "y"},
		{name: "header glob miss", a: Action{Find: "a", Name: "X-*"}, header: "Accept", hdrs: "n"},
		{name: "header any", a: Action{Find: "a"}, header: "Accept", hdrs: "y"},
		{name: "header exact any case", a: Action{Find: "a", Name: "content-TYPE"}, header: "Content-Type", hdrs: "y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewRewriter(&tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				if got := w.MatchesName(tt.header); got != (tt.hdrs == "y") {
					t.Fatalf("MatchesName(%q) = %v", tt.header, got)
				}
				return
			}
			in := []byte(tt.in)
			out, changed := w.Bytes(in)
			if string(out) != tt.want || changed != tt.wantChanged {
				t.Fatalf("Bytes = %q, %v; want %q, %v", out, changed, tt.want, tt.wantChanged)
			}
			if string(in) != tt.in {
				t.Fatalf("input modified: %q", in)
			}
			s, changed := w.String(tt.in)
			if s != tt.want || changed != tt.wantChanged {
				t.Fatalf("String = %q, %v; want %q, %v", s, changed, tt.want, tt.wantChanged)
			}
		})
	}
}

func TestMergePatch(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string
	}{
		// The examples of RFC 7386, appendix A (as compact documents).
		{"rfc replace", `{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{"rfc add", `{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{"rfc remove", `{"a":"b"}`, `{"a":null}`, `{}`},
		{"rfc remove one", `{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{"rfc array replaced", `{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{"rfc by array", `{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{"rfc nested", `{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{"rfc array of objects", `{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{"rfc array doc", `["a","b"]`, `{"a":"b"}`, `{"a":"b"}`},
		{"rfc scalar doc", `"a"`, `{"a":"b"}`, `{"a":"b"}`},
		{"rfc null in new object", `{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{"rfc nested nulls dropped", `[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{"rfc deep new", `{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		// What Loupe keeps: member order, number text, unescaped HTML.
		{"order kept", `{"z":1,"a":2,"m":3}`, `{"a":20,"n":4}`, `{"z":1,"a":20,"m":3,"n":4}`},
		{"numbers kept", `{"big":12345678901234567890,"f":1.50,"e":1e3}`, `{"x":true}`, `{"big":12345678901234567890,"f":1.50,"e":1e3,"x":true}`},
		{"html kept", `{"h":"<b>&amp;</b>"}`, `{"x":"é"}`, `{"h":"<b>&amp;</b>","x":"é"}`},
		{"indent kept", "{\n  \"a\": 1\n}\n", `{"b":[2]}`, "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergePatch([]byte(tt.doc), []byte(tt.patch))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("MergePatch = %s, want %s", got, tt.want)
			}
		})
	}
	for _, doc := range []string{"", "<html>", `{"a":1} x`, `{"a":`, strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2)} {
		if _, err := MergePatch([]byte(doc), []byte(`{"a":1}`)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("MergePatch(%.20q) error %v, want ErrNotJSON", doc, err)
		}
	}
}

func TestEditQuery(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		set    map[string]string
		remove []string
		want   string
	}{
		{"add to empty", "", map[string]string{"b": "2", "a": "1"}, nil, "a=1&b=2"},
		{"replace in place", "x=1&a=old&y=2", map[string]string{"a": "new"}, nil, "x=1&a=new&y=2"},
		{"duplicates collapse", "a=1&b=2&a=3", map[string]string{"a": "9"}, nil, "a=9&b=2"},
		{"untouched bytes kept", "q=a+b%2Fc&z=%7E", map[string]string{"n": "x y&z"}, nil, "q=a+b%2Fc&z=%7E&n=x+y%26z"},
		{"remove all of a name", "a=1&b=2&a=3&c", nil, []string{"a", "c"}, "b=2"},
		{"remove encoded name", "a%20b=1&c=2", nil, []string{"a b"}, "c=2"},
		{"remove absent", "a=1", nil, []string{"z"}, "a=1"},
		{"remove and set", "a=1&b=2", map[string]string{"b": "3"}, []string{"a"}, "b=3"},
		{"empty value", "a=1", map[string]string{"a": ""}, nil, "a="},
		{"empty parts dropped", "&&a=1&", nil, []string{"z"}, "a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EditQuery(tt.raw, tt.set, tt.remove); got != tt.want {
				t.Fatalf("EditQuery(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

// FuzzMergePatch: any document and patch either fail with an error or give
// JSON that encoding/json accepts; a patch applied twice changes nothing
// more (merge patches are idempotent).
func FuzzMergePatch(f *testing.F) {
	f.Add([]byte(`{"a":{"b":1},"c":[1,2]}`), []byte(`{"a":{"b":null,"d":"<x>"},"e":1.0}`))
	f.Add([]byte("{\n\t\"a\": 1\n}\n"), []byte(`{"a":{"x":null}}`))
	f.Add([]byte(`[1,"x",null,true]`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		out, err := MergePatch(doc, patch)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("MergePatch(%q, %q) = %q, not JSON", doc, patch, out)
		}
		again, err := MergePatch(out, patch)
		if err != nil {
			t.Fatalf("second MergePatch: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q then %q", out, again)
		}
	})
}
