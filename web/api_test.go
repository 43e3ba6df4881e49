package web

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/rules"
)

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func ids(sums []flow.Summary) []flow.ID {
	out := make([]flow.ID, len(sums))
	for i, s := range sums {
		out[i] = s.ID
	}
	return out
}

func TestListFlows(t *testing.T) {
	e := newEnv(t, nil)
	a := e.add(flowSpec{url: "https://api.example.com/v1/users", status: 200, ct: "application/json", respBody: `{"name":"ada"}`})
	b := e.add(flowSpec{method: "POST", url: "http://www.example.com/login", status: 404, ct: "text/html", reqBody: "user=grace"})
	c := e.add(flowSpec{url: "https://other.test/x", status: 500})
	d := e.add(flowSpec{url: "https://down.test/", err: fmt.Errorf("dial tcp: connection refused")})

	tests := []struct {
		query     string
		want      []flow.ID
		wantTotal int
	}{
		{"", []flow.ID{a, b, c, d}, 4},
		{"?q=status:4xx", []flow.ID{b}, 1},
		{"?q=host:*.example.com", []flow.ID{a, b}, 2},
		{"?q=-host:*.example.com", []flow.ID{c, d}, 2},
		{"?q=error:", []flow.ID{d}, 1},
		{"?q=body:grace", []flow.ID{b}, 1},
		{"?q=body:ADA+type:json", []flow.ID{a}, 1},
		{"?limit=2", []flow.ID{c, d}, 4},
		{fmt.Sprintf("?limit=2&before=%d", d), []flow.ID{b, c}, 4},
		{fmt.Sprintf("?before=%d", b), []flow.ID{a}, 4},
		{fmt.Sprintf("?q=body:a&before=%d&limit=1", c), []flow.ID{b}, 2}, // ada (a), grace (b)
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			seqBefore := e.store.Seq()
			got := decode[FlowPage](t, e.do("GET", "/api/flows"+tt.query, nil), http.StatusOK)
			if !slices.Equal(ids(got.Flows), tt.want) {
				t.Errorf("flows = %v, want %v", ids(got.Flows), tt.want)
			}
			if got.Total != tt.wantTotal {
				t.Errorf("total = %d, want %d", got.Total, tt.wantTotal)
			}
			if got.Seq != seqBefore || got.Seq == 0 {
				t.Errorf("seq = %d, want the store's %d", got.Seq, seqBefore)
			}
		})
	}

	t.Run("summary fields", func(t *testing.T) {
		got := decode[map[string]any](t, e.do("GET", "/api/flows?q=status:404", nil), http.StatusOK)
		row := got["flows"].([]any)[0].(map[string]any)
		for _, k := range []string{"id", "method", "url", "host", "path", "status", "contentType", "size", "duration", "rules", "error"} {
			if _, ok := row[k]; !ok {
				t.Errorf("summary lacks %q: %v", k, row)
			}
		}
	})

	bad := []struct{ query, term string }{
		{"?q=foo:bar", "foo:bar"},
		{"?q=" + `body:"open`, `body:"open`},
		{"?q=status:abc", "status:abc"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.query, func(t *testing.T) {
			got := decode[ErrorBody](t, e.do("GET", "/api/flows"+tt.query, nil), http.StatusBadRequest)
			if got.Term != tt.term || got.Error == "" {
				t.Errorf("got %+v, want term %q", got, tt.term)
			}
		})
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?before=-1"} {
		t.Run("bad "+q, func(t *testing.T) {
			got := decode[ErrorBody](t, e.do("GET", "/api/flows"+q, nil), http.StatusBadRequest)
			if got.Error == "" {
				t.Error("no error message")
			}
		})
	}
}

func TestGetFlow(t *testing.T) {
	e := newEnv(t, nil)
	id := e.add(flowSpec{url: "https://api.example.com/v1?x=1", status: 201, ct: "application/json", respBody: "{}", rules: []string{"r1"}})
	got := decode[flow.Flow](t, e.do("GET", fmt.Sprintf("/api/flows/%d", id), nil), http.StatusOK)
	if got.ID != id || got.Request.URL != "https://api.example.com/v1?x=1" || got.Response == nil || got.Response.Status != 201 {
		t.Errorf("flow = %+v", got)
	}
	if !slices.Equal(got.Rules, []string{"r1"}) {
		t.Errorf("rules = %v", got.Rules)
	}
	for _, p := range []string{"/api/flows/999", "/api/flows/abc", "/api/flows/999/response/body"} {
		if resp := e.do("GET", p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestBodies(t *testing.T) {
	e := newEnv(t, nil)
	jsonID := e.add(flowSpec{method: "POST", url: "https://a.test/j", status: 200, ct: "application/json",
		reqBody: "q=1", respBody: gz(`{"ok":true}`), encoding: "gzip"})
	htmlID := e.add(flowSpec{url: "https://a.test/h", status: 200, ct: "text/html", respBody: "<script>alert(1)</script>"})
	overID := e.add(flowSpec{url: "https://a.test/o", status: 200, ct: "text/plain", respBody: "mocked", upstream: "original", rules: []string{"ov"}})
	noCT := e.add(flowSpec{url: "https://a.test/n", status: 200, respBody: "\x00\x01"})

	tests := []struct {
		name, path      string
		wantStatus      int
		wantBody        string
		wantCT          string
		wantDisposition string
	}{
		{"decoded", fmt.Sprintf("/api/flows/%d/response/body", jsonID), 200, `{"ok":true}`, "application/json", "attachment"},
		{"raw", fmt.Sprintf("/api/flows/%d/response/body?raw=1", jsonID), 200, gz(`{"ok":true}`), "application/json", "attachment"},
		{"request", fmt.Sprintf("/api/flows/%d/request/body", jsonID), 200, "q=1", "application/octet-stream", "attachment"},
		{"inline safe", fmt.Sprintf("/api/flows/%d/response/body?inline=1", jsonID), 200, `{"ok":true}`, "application/json", "inline"},
		{"inline html refused", fmt.Sprintf("/api/flows/%d/response/body?inline=1", htmlID), 200, "<script>alert(1)</script>", "text/html", "attachment"},
		{"served variant", fmt.Sprintf("/api/flows/%d/response/body", overID), 200, "mocked", "text/plain", "attachment"},
		{"upstream variant", fmt.Sprintf("/api/flows/%d/response/body?variant=upstream", overID), 200, "original", "text/plain", "attachment"},
		{"no content type", fmt.Sprintf("/api/flows/%d/response/body?inline=1", noCT), 200, "\x00\x01", "application/octet-stream", "attachment"},
		{"no upstream variant", fmt.Sprintf("/api/flows/%d/response/body?variant=upstream", jsonID), 404, "", "", ""},
		{"bad variant", fmt.Sprintf("/api/flows/%d/response/body?variant=x", jsonID), 400, "", "", ""},
		{"bad facet", fmt.Sprintf("/api/flows/%d/upstream/body", jsonID), 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do("GET", tt.path, nil)
			body := readAll(t, resp)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if tt.wantStatus != 200 {
				return
			}
			if body != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantCT) {
				t.Errorf("Content-Type = %q, want %q", ct, tt.wantCT)
			}
			if d := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, tt.wantDisposition+";") {
				t.Errorf("Content-Disposition = %q, want %s", d, tt.wantDisposition)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
				t.Errorf("body CSP = %q, want sandbox", csp)
			}
		})
	}
}

func TestDeleteAndClear(t *testing.T) {
	e := newEnv(t, nil)
	a := e.add(flowSpec{url: "https://a.test/1", status: 200})
	b := e.add(flowSpec{url: "https://a.test/2", status: 200})
	if resp := e.do("DELETE", fmt.Sprintf("/api/flows/%d", a), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete = %d", resp.StatusCode)
	}
	if resp := e.do("DELETE", fmt.Sprintf("/api/flows/%d", a), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second delete = %d, want 404", resp.StatusCode)
	}
	got := decode[FlowPage](t, e.do("GET", "/api/flows", nil), 200)
	if !slices.Equal(ids(got.Flows), []flow.ID{b}) {
		t.Errorf("after delete: %v", ids(got.Flows))
	}
	if resp := e.do("DELETE", "/api/flows", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("clear = %d", resp.StatusCode)
	}
	got = decode[FlowPage](t, e.do("GET", "/api/flows", nil), 200)
	if len(got.Flows) != 0 || got.Total != 0 {
		t.Errorf("after clear: %+v", got)
	}
}

func TestReplay(t *testing.T) {
	e := newEnv(t, nil)
	orig := e.add(flowSpec{method: "POST", url: "https://a.test/submit", status: 200, reqBody: "a=1&b=2"})
	got := decode[ReplayAnswer](t, e.do("POST", fmt.Sprintf("/api/flows/%d/replay", orig), nil), http.StatusCreated)
	if got.ID == 0 || got.ID == orig {
		t.Fatalf("replay id = %d", got.ID)
	}
	fl := decode[flow.Flow](t, e.do("GET", fmt.Sprintf("/api/flows/%d", got.ID), nil), 200)
	if fl.ReplayOf != orig || fl.Request.Method != "POST" {
		t.Errorf("replayed flow = replayOf %d method %s", fl.ReplayOf, fl.Request.Method)
	}
	e.replay.mu.Lock()
	sent := string(e.replay.bodies[0])
	e.replay.mu.Unlock()
	if sent != "a=1&b=2" {
		t.Errorf("replayed body = %q", sent)
	}

	bad := e.add(flowSpec{url: "https://unreachable.test/", status: 200})
	if resp := e.do("POST", fmt.Sprintf("/api/flows/%d/replay", bad), nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("failed replay = %d, want 502", resp.StatusCode)
	}
	if resp := e.do("POST", "/api/flows/12345/replay", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("replay of unknown flow = %d, want 404", resp.StatusCode)
	}
}

func TestRulesAPI(t *testing.T) {
	e := newEnv(t, nil)
	if got := decode[[]rules.Rule](t, e.do("GET", "/api/rules", nil), 200); len(got) != 0 {
		t.Fatalf("initial rules = %v", got)
	}
	added := decode[rules.Rule](t, e.do("POST", "/api/rules", strings.NewReader(
		`{"name":"block ads","enabled":true,"match":{"host":"*.ads.test"},"actions":[{"type":"block"}]}`)), http.StatusCreated)
	if added.ID == "" || added.Name != "block ads" {
		t.Fatalf("added = %+v", added)
	}
	upd := decode[rules.Rule](t, e.do("PUT", "/api/rules/"+added.ID, strings.NewReader(
		`{"name":"block ads 2","enabled":false,"match":{"host":"*.ads.test"},"actions":[{"type":"block","status":451}]}`)), 200)
	if upd.ID != added.ID || upd.Name != "block ads 2" || upd.Enabled || upd.Actions[0].Status != 451 {
		t.Errorf("updated = %+v", upd)
	}
	all := decode[[]rules.Rule](t, e.do("PUT", "/api/rules", strings.NewReader(
		`[{"id":"one","enabled":true,"match":{},"actions":[{"type":"delay","ms":5}]},{"id":"two","enabled":true,"match":{},"actions":[{"type":"block"}]}]`)), 200)
	if len(all) != 2 || all[0].ID != "one" || all[1].ID != "two" {
		t.Errorf("replaced = %+v", all)
	}
	if resp := e.do("DELETE", "/api/rules/one", nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete = %d", resp.StatusCode)
	}
	if got := decode[[]rules.Rule](t, e.do("GET", "/api/rules", nil), 200); len(got) != 1 || got[0].ID != "two" {
		t.Errorf("after delete = %+v", got)
	}

	invalid := []struct {
		name, method, path, body, field string
		status                          int
	}{
		{"bad status", "POST", "/api/rules", `{"id":"x","enabled":true,"match":{},"actions":[{"type":"mock","status":99}]}`, "actions[0].status", 400},
		{"unknown field", "POST", "/api/rules", `{"id":"x","enabled":true,"match":{},"actions":[],"bogus":1}`, "bogus", 400},
		{"bad type in list", "PUT", "/api/rules", `[{"id":"x","enabled":true,"match":{},"actions":[{"type":"nope"}]}]`, "actions[0].type", 400},
		{"duplicate ids", "PUT", "/api/rules", `[{"id":"d","enabled":true,"match":{},"actions":[{"type":"block"}]},{"id":"d","enabled":true,"match":{},"actions":[{"type":"block"}]}]`, "id", 400},
		{"bad update", "PUT", "/api/rules/two", `{"enabled":true,"match":{"url":"("},"actions":[{"type":"block"}]}`, "match.url", 400},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			got := decode[ErrorBody](t, e.do(tt.method, tt.path, strings.NewReader(tt.body)), tt.status)
			if len(got.Problems) == 0 {
				t.Fatalf("no problems: %+v", got)
			}
			found := false
			for _, p := range got.Problems {
				if strings.Contains(p.Field, tt.field) && p.Message != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %+v lack field %q", got.Problems, tt.field)
			}
		})
	}
	// Invalid changes left the rules alone.
	if got := decode[[]rules.Rule](t, e.do("GET", "/api/rules", nil), 200); len(got) != 1 || got[0].ID != "two" {
		t.Errorf("after invalid changes = %+v", got)
	}
	for _, m := range []string{"PUT", "DELETE"} {
		body := strings.NewReader(`{"enabled":true,"match":{},"actions":[{"type":"block"}]}`)
		if resp := e.do(m, "/api/rules/missing", body); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s unknown rule = %d, want 404", m, resp.StatusCode)
		}
	}
}

func TestRuleStats(t *testing.T) {
	e := newEnv(t, nil)
	e.add(flowSpec{url: "https://a.test/1", status: 200, rules: []string{"r1", "r2"}})
	e.add(flowSpec{url: "https://a.test/2", status: 200, rules: []string{"r1"}})
	e.add(flowSpec{url: "https://a.test/3", status: 200})
	got := decode[RuleStats](t, e.do("GET", "/api/rules/stats", nil), 200)
	if got.Counts["r1"] != 2 || got.Counts["r2"] != 1 || len(got.Counts) != 2 {
		t.Errorf("counts = %v", got.Counts)
	}
}

// The editor's table of action types comes from the rules package as is.
func TestRuleActions(t *testing.T) {
	e := newEnv(t, nil)
	got := decode[[]rules.ActionSpec](t, e.do("GET", "/api/rules/actions", nil), 200)
	if !reflect.DeepEqual(got, rules.ActionSpecs()) {
		t.Errorf("actions = %+v", got)
	}
}

func TestStateAndRecording(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UIAddr = "127.0.0.1:8081" })
	e.add(flowSpec{url: "https://a.test/1", status: 200, respBody: "hello"})
	st := decode[State](t, e.do("GET", "/api/state", nil), 200)
	if st.Flows != 1 || st.Paused || st.CAFingerprint != "AB:CD:EF" || st.ProxyAddr != "127.0.0.1:8080" ||
		st.UIAddr != "127.0.0.1:8081" || st.Stats.BodyBytesRAM == 0 || st.Seq == 0 || st.Process.HeapBytes == 0 ||
		st.Connections == nil || st.Connections.Open != 3 || st.Connections.Refused != 2 {
		t.Errorf("state = %+v", st)
	}
	e.s.SetAddrs("127.0.0.1:18080", "127.0.0.1:18081")
	st = decode[State](t, e.do("POST", "/api/recording/pause", nil), 200)
	if st.ProxyAddr != "127.0.0.1:18080" || st.UIAddr != "127.0.0.1:18081" {
		t.Errorf("after SetAddrs: %s %s", st.ProxyAddr, st.UIAddr)
	}
	if !st.Paused || st.Recording || !e.store.Paused() {
		t.Error("pause did not pause")
	}
	e.add(flowSpec{url: "https://a.test/ignored", status: 200})
	if n := e.store.Stats().Flows; n != 1 {
		t.Errorf("recorded %d flows while paused", n)
	}
	st = decode[State](t, e.do("POST", "/api/recording/resume", nil), 200)
	if st.Paused || e.store.Paused() {
		t.Error("resume did not resume")
	}
	if resp := e.do("GET", "/api/recording/pause", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET pause = %d, want 405", resp.StatusCode)
	}
}

func TestCAAndInstallPage(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/api/ca.pem", "/install"} {
		resp := e.do("GET", p, nil, "Authorization", "")
		body := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s without token = %d", p, resp.StatusCode)
		}
		if p == "/api/ca.pem" {
			if !strings.HasPrefix(body, "-----BEGIN CERTIFICATE-----") || resp.Header.Get("Content-Type") != "application/x-x509-ca-cert" {
				t.Errorf("ca.pem = %q (%s)", body, resp.Header.Get("Content-Type"))
			}
			continue
		}
		for _, want := range []string{"AB:CD:EF", "/api/ca.pem", "macOS", "Windows", "Linux", "iOS", "Android", "Firefox"} {
			if !strings.Contains(body, want) {
				t.Errorf("install page lacks %q", want)
			}
		}
	}
}

func TestPublicHandler(t *testing.T) {
	e := newEnv(t, nil)
	pub := newTestServer(t, e.s.PublicHandler())
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/", 200, "Firefox"},
		{"/install", 200, "Android"},
		{"/install", 200, `--proxy-bypass-list="&lt;-loopback&gt;"`},
		{"/ca.pem", 200, "BEGIN CERTIFICATE"},
		{"/api/ca.pem", 200, "BEGIN CERTIFICATE"},
		{"/api/flows", 404, ""},
		{"/api/state", 404, ""},
		{"/api/ws", 404, ""},
	}
	for _, tt := range tests {
		// The token would not help: the proxy's own address never serves data.
		req, _ := http.NewRequest("GET", pub.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Host = "evil.example:8080"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s = %d %.60q, want %d with %q", tt.path, resp.StatusCode, body, tt.status, tt.want)
		}
	}
}

func TestUIServing(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/", "/flows/12", "/rules"} {
		resp := e.do("GET", p, nil, "Authorization", "")
		body := readAll(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(body, "<html") {
			t.Errorf("GET %s = %d %.80q", p, resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s Cache-Control = %q", p, cc)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'",
			"connect-src 'self' ws://" + strings.TrimPrefix(e.srv.URL, "http://")} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
			t.Errorf("CSP allows script injection: %q", csp)
		}
	}
	if resp := e.do("GET", "/assets/missing-abc123.js", nil); resp.StatusCode != 404 {
		t.Errorf("missing asset = %d, want 404", resp.StatusCode)
	}
	if resp := e.do("POST", "/somewhere", nil); resp.StatusCode != 404 {
		t.Errorf("POST to a UI path = %d, want 404", resp.StatusCode)
	}
}

func TestAssetsCaching(t *testing.T) {
	e := newEnv(t, nil)
	files := fstestFS{
		"index.html":               "<!doctype html><html>app</html>",
		"assets/index-4f3a9c1b.js": "console.log(1)",
		"assets/app.js":            "console.log(2)",
		"favicon.svg":              "<svg/>",
	}
	h := newTestServer(t, e.s.uiHandler(files.FS()))
	const year = "public, max-age=31536000, immutable"
	tests := []struct {
		path   string
		status int
		cc, ct string
		body   string
	}{
		{"/assets/index-4f3a9c1b.js", 200, year, "text/javascript", "console.log(1)"},
		{"/assets/app.js", 200, "no-cache", "text/javascript", "console.log(2)"},
		{"/flows/12/assets/app.js", 200, "no-cache", "text/javascript", "console.log(2)"}, // relative URL from a deep link
		{"/favicon.svg", 200, "no-cache", "image/svg+xml", "<svg/>"},
		{"/", 200, "no-cache", "text/html", "app"},
		{"/deep/link", 200, "no-cache", "text/html", "app"},
		{"/index.html", 200, "no-cache", "text/html", "app"},
		{"/assets/gone-4f3a9c1b.js", 404, "", "", ""},
		{"/old.css", 404, "", "", ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(h.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.status)
			continue
		}
		if tt.status != 200 {
			continue
		}
		if !strings.Contains(body, tt.body) || resp.Header.Get("Cache-Control") != tt.cc ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ct) || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s = %q cc=%q ct=%q etag=%q", tt.path, body, resp.Header.Get("Cache-Control"),
				resp.Header.Get("Content-Type"), resp.Header.Get("ETag"))
		}
		// Revalidation answers 304.
		req, _ := http.NewRequest("GET", h.URL+tt.path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", tt.path, r2.StatusCode)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("New without token succeeded")
	}
	if _, err := New(Config{Token: "x", FlushInterval: -time.Second}, Deps{}); err == nil {
		t.Error("New with negative interval succeeded")
	}
	if _, err := New(Config{Token: "x"}, Deps{}); err == nil {
		t.Error("New without store succeeded")
	}
}

func TestLoginURL(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:8081", "http://127.0.0.1:8081/?token=a%2Bb"},
		{":8081", "http://127.0.0.1:8081/?token=a%2Bb"},
		{"0.0.0.0:8081", "http://127.0.0.1:8081/?token=a%2Bb"},
		{"[::]:8081", "http://[::1]:8081/?token=a%2Bb"},
		{"[::1]:9000", "http://[::1]:9000/?token=a%2Bb"},
		{"localhost:8081", "http://localhost:8081/?token=a%2Bb"},
	}
	for _, tt := range tests {
		if got := LoginURL(tt.addr, "a+b"); got != tt.want {
			t.Errorf("LoginURL(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestOptionalDeps(t *testing.T) {
	e := newEnv(t, nil)
	s, err := New(Config{Token: testToken}, Deps{Store: e.store})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, s.Handler())
	for _, p := range []string{"/api/rules", "/api/ca.pem"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("GET %s without the service = %d, want 501", p, resp.StatusCode)
		}
	}
	id := e.add(flowSpec{url: "https://a.test/", status: 200})
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/flows/%d/replay", srv.URL, id), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("replay without a replayer = %d, want 501", resp.StatusCode)
	}
}

func TestUndecodableBody(t *testing.T) {
	e := newEnv(t, nil)
	id := e.add(flowSpec{url: "https://a.test/x", status: 200, ct: "text/plain", respBody: "opaque", encoding: "x-custom"})
	got := decode[ErrorBody](t, e.do("GET", fmt.Sprintf("/api/flows/%d/response/body", id), nil), http.StatusUnprocessableEntity)
	if !strings.Contains(got.Error, "raw=1") {
		t.Errorf("error = %q", got.Error)
	}
	resp := e.do("GET", fmt.Sprintf("/api/flows/%d/response/body?raw=1", id), nil)
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "opaque" || resp.Header.Get("X-Loupe-Content-Encoding") != "x-custom" {
		t.Errorf("raw = %d %q %q", resp.StatusCode, body, resp.Header.Get("X-Loupe-Content-Encoding"))
	}
}
