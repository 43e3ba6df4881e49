package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"loupe/proxy/flow"
	"loupe/rules"
)

// A rule's match.port survives every rule endpoint as written, and a bad
// port answers 400 naming match.port without changing the rules.
func TestRulesAPIPort(t *testing.T) {
	e := newEnv(t, nil)
	all := decode[[]rules.Rule](t, e.do("PUT", "/api/rules", strings.NewReader(
		`[{"id":"dev","enabled":true,"match":{"host":"127.0.0.1","port":20002},"actions":[{"type":"override","body":"x"}]}]`)), 200)
	if len(all) != 1 || all[0].Match.Port != 20002 {
		t.Fatalf("PUT /api/rules = %+v", all)
	}
	if body := readAll(t, e.do("GET", "/api/rules", nil)); !strings.Contains(body, `"match":{"host":"127.0.0.1","port":20002}`) {
		t.Errorf("GET /api/rules = %s, want the port in the match", body)
	}
	added := decode[rules.Rule](t, e.do("POST", "/api/rules", strings.NewReader(
		`{"enabled":true,"match":{"port":443},"actions":[{"type":"block"}]}`)), http.StatusCreated)
	if added.Match.Port != 443 {
		t.Errorf("POST /api/rules = %+v", added)
	}
	upd := decode[rules.Rule](t, e.do("PUT", "/api/rules/dev", strings.NewReader(
		`{"enabled":true,"match":{"host":"127.0.0.1","port":20001},"actions":[{"type":"override","body":"x"}]}`)), 200)
	if upd.Match.Port != 20001 {
		t.Errorf("PUT /api/rules/dev = %+v", upd)
	}
	got := decode[[]rules.Rule](t, e.do("GET", "/api/rules", nil), 200)
	if len(got) != 2 || got[0].Match.Port != 20001 || got[1].Match.Port != 443 {
		t.Fatalf("GET /api/rules = %+v", got)
	}

	bad := []struct{ name, method, path, body, message string }{
		{"too high in list", "PUT", "/api/rules",
			`[{"id":"p","enabled":true,"match":{"port":70000},"actions":[{"type":"block"}]}]`, "must be 1..65535"},
		{"zero", "POST", "/api/rules",
			`{"id":"p","enabled":true,"match":{"port":0},"actions":[{"type":"block"}]}`, "must be 1..65535"},
		{"negative update", "PUT", "/api/rules/dev",
			`{"enabled":true,"match":{"port":-1},"actions":[{"type":"block"}]}`, "must be 1..65535"},
		{"string", "POST", "/api/rules",
			`{"id":"p","enabled":true,"match":{"port":"20002"},"actions":[{"type":"block"}]}`, "must be an integer"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got := decode[ErrorBody](t, e.do(tt.method, tt.path, strings.NewReader(tt.body)), http.StatusBadRequest)
			if len(got.Problems) != 1 || got.Problems[0].Field != "match.port" || !strings.HasPrefix(got.Problems[0].Message, tt.message) {
				t.Errorf("problems = %+v, want one for match.port: %s", got.Problems, tt.message)
			}
		})
	}
	if got := decode[[]rules.Rule](t, e.do("GET", "/api/rules", nil), 200); len(got) != 2 || got[0].Match.Port != 20001 {
		t.Errorf("after bad ports = %+v", got)
	}
}

// port: in the list's filter selects by the port the URL addresses; a bad
// port is a 400 naming the term.
func TestListFlowsPort(t *testing.T) {
	e := newEnv(t, nil)
	a := e.add(flowSpec{url: "http://127.0.0.1:20001/x", status: 200})
	b := e.add(flowSpec{url: "http://127.0.0.1:20002/x", status: 200})
	c := e.add(flowSpec{url: "https://example.com/", status: 200})
	for _, tt := range []struct {
		q    string
		want []flow.ID
	}{
		{"port:20002", []flow.ID{b}},
		{"-port:20002", []flow.ID{a, c}},
		{"port:443", []flow.ID{c}},
	} {
		got := decode[FlowPage](t, e.do("GET", "/api/flows?q="+tt.q, nil), http.StatusOK)
		if !slices.Equal(ids(got.Flows), tt.want) {
			t.Errorf("q=%s: %v, want %v", tt.q, ids(got.Flows), tt.want)
		}
	}
	got := decode[ErrorBody](t, e.do("GET", "/api/flows?q=method:GET+port:http", nil), http.StatusBadRequest)
	if got.Term != "port:http" || !strings.Contains(got.Error, "1..65535") {
		t.Errorf("bad port filter = %+v", got)
	}
}
