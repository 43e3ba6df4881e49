package filter

import (
	"testing"

	"loupe/proxy/flow"
	"loupe/rules"
)

// TestGlobsAgree: a host or path pattern means the same in a rule's match,
// in -passthrough (rules.HostGlob, which the proxy's passthrough check
// uses) and in a host: or path: filter term: "*" any run, dots and
// slashes included; "?" one character; "\" escapes; "[" literal; host
// case ignored.
func TestGlobsAgree(t *testing.T) {
	hosts := []struct {
		pattern, host string
		want          bool
	}{
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.Example.COM", "API.example.com", true},
		{"*", "anything.at.all", true},
		{"api?.example.com", "api1.example.com", true},
		{"api?.example.com", "api12.example.com", false},
		{"api?.example.com", "api.example.com", false},
		{"10.0.0.?", "10.0.0.7", true},
		{"10.0.0.?", "10.0.0.17", false},
		{"*.0.1", "127.0.0.1", true},
		{`a\*b.test`, "a*b.test", true},
		{`a\*b.test`, "axb.test", false},
		{`a\?.test`, "ab.test", false},
		{"a[b].test", "a[b].test", true},
		{"a[b].test", "ab.test", false},
		{"*example*", "my-example-site.org", true},
		{"münchen.*", "münchen.test", true},
		{"m?nchen.test", "münchen.test", true}, // "?" is one character, not one byte
	}
	for _, tt := range hosts {
		g, err := rules.CompileHostGlob(tt.pattern)
		if err != nil {
			t.Fatalf("CompileHostGlob(%q): %v", tt.pattern, err)
		}
		if got := g.Match(tt.host); got != tt.want {
			t.Errorf("passthrough/host glob %q on %q = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
		if got := ruleMatches(t, rules.Match{Host: tt.pattern}, tt.host, "/"); got != tt.want {
			t.Errorf("rule host %q on %q = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
		if got := filterMatches(t, "host:"+quoteGlob(tt.pattern), "http://"+tt.host+"/"); got != tt.want {
			t.Errorf("filter host:%q on %q = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
	paths := []struct {
		pattern, path string
		want          bool
	}{
		{"/api/*", "/api/v1/users", true},
		{"/api/*", "/apix", false},
		{"/api/*/items", "/api/a/b/items", true},
		{"/v?/x", "/v1/x", true},
		{"/v?/x", "/v12/x", false},
		{"/é?", "/éa", true},
		{`/search\?q=*`, "/search?q=go", true},
		{`/search\?q=*`, "/searchxq=go", false},
		{"/search?q=*", "/searchxq=go", true},
		{`/a\*b`, "/a*b", true},
		{`/a\*b`, "/axb", false},
		{`/a\\b`, `/a\b`, true},
		{"/a[1]", "/a[1]", true},
		{"/a[1]", "/a1", false},
		{"*.js", "/static/app.js", true},
	}
	for _, tt := range paths {
		if got := ruleMatches(t, rules.Match{Path: tt.pattern}, "x.test", tt.path); got != tt.want {
			t.Errorf("rule path %q on %q = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
		if got := filterMatches(t, "path:"+quoteGlob(tt.pattern), "http://x.test"+tt.path); got != tt.want {
			t.Errorf("filter path:%q on %q = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func ruleMatches(t *testing.T, m rules.Match, host, path string) bool {
	t.Helper()
	set, err := rules.Compile([]rules.Rule{{ID: "g", Enabled: true, Match: m,
		Actions: []rules.Action{{Type: rules.TypeSetRequestHeaders, Headers: map[string]string{"X-T": "1"}}}}})
	if err != nil {
		t.Fatalf("rule %+v: %v", m, err)
	}
	return len(set.Match(rules.Request{Method: "GET", Scheme: "http", Host: host, Path: path,
		URL: "http://" + host + path, Port: 80})) == 1
}

func filterMatches(t *testing.T, q, url string) bool {
	t.Helper()
	f, err := Parse(q)
	if err != nil {
		t.Fatalf("Parse(%q): %v", q, err)
	}
	return f.Match(&flow.Flow{Request: flow.Request{Method: "GET", URL: url}}, nil)
}

// quoteGlob writes a pattern as a filter value: quoted, where a
// backslash is written twice.
func quoteGlob(p string) string {
	out := []byte{'"'}
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' || p[i] == '"' {
			out = append(out, '\\')
		}
		out = append(out, p[i])
	}
	return string(append(out, '"'))
}
