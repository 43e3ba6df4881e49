package rules

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"testing"
)

func req(method, scheme, host, path string) Request {
	return Request{Method: method, Scheme: scheme, Host: host, Path: path, URL: scheme + "://" + host + path}
}

func ids(rs []*Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func mustCompile(t testing.TB, rs []Rule) *Set {
	t.Helper()
	s, err := Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name  string
		match Match
		req   Request
		want  bool
	}{
		{"empty matches all", Match{}, req("GET", "http", "x", "/"), true},
		{"host exact", Match{Host: "api.example.com"}, req("GET", "https", "api.example.com", "/"), true},
		{"host other", Match{Host: "api.example.com"}, req("GET", "https", "example.com", "/"), false},
		{"host case pattern", Match{Host: "API.Example.COM"}, req("GET", "https", "api.example.com", "/"), true},
		{"host case request", Match{Host: "api.example.com"}, req("GET", "https", "API.EXAMPLE.com", "/"), true},
		{"host glob case", Match{Host: "*.Example.com"}, req("GET", "https", "CDN.example.COM", "/"), true},
		{"host star", Match{Host: "*.example.com"}, req("GET", "https", "a.b.example.com", "/"), true},
		{"host star apex", Match{Host: "*.example.com"}, req("GET", "https", "example.com", "/"), false},
		{"host question", Match{Host: "api?.example.com"}, req("GET", "https", "api2.example.com", "/"), true},
		{"host question none", Match{Host: "api?.example.com"}, req("GET", "https", "api.example.com", "/"), false},
		{"host port ignored", Match{Host: "localhost"}, req("GET", "http", "localhost:8080", "/"), true},
		{"host final dot", Match{Host: "example.com"}, req("GET", "http", "Example.COM.", "/"), true},
		{"host ipv6 brackets", Match{Host: "::1"}, req("GET", "http", "[::1]:8080", "/"), true},
		{"host ipv6 pattern brackets", Match{Host: "[::1]"}, req("GET", "http", "::1", "/"), true},
		{"path exact", Match{Path: "/v1/profile"}, req("GET", "https", "x", "/v1/profile"), true},
		{"path exact no query", Match{Path: "/v1/profile"}, req("GET", "https", "x", "/v1/profile?id=1"), false},
		{"path star query", Match{Path: "/v1/profile*"}, req("GET", "https", "x", "/v1/profile?id=1"), true},
		{"path star crosses slash", Match{Path: "/api/*"}, req("GET", "https", "x", "/api/v1/users/7"), true},
		{"path star middle", Match{Path: "/api/*/users"}, req("GET", "https", "x", "/api/v1/beta/users"), true},
		{"path case sensitive", Match{Path: "/API/*"}, req("GET", "https", "x", "/api/x"), false},
		{"path question", Match{Path: "/v?/x"}, req("GET", "https", "x", "/v2/x"), true},
		{"path query glob", Match{Path: "/search?q=*"}, req("GET", "https", "x", "/search?q=go"), true},
		{"path query value", Match{Path: "*?debug=1*"}, req("GET", "https", "x", "/a/b?x=2&debug=1"), true},
		{"path query value miss", Match{Path: "*?debug=1*"}, req("GET", "https", "x", "/a/b?debug=0"), false},
		{"method", Match{Methods: []string{"POST", "put"}}, req("PUT", "https", "x", "/"), true},
		{"method lower request", Match{Methods: []string{"POST"}}, req("post", "https", "x", "/"), true},
		{"method other", Match{Methods: []string{"POST"}}, req("GET", "https", "x", "/"), false},
		{"scheme", Match{Scheme: "https"}, req("GET", "https", "x", "/"), true},
		{"scheme case", Match{Scheme: "HTTPS"}, req("GET", "https", "x", "/"), true},
		{"scheme other", Match{Scheme: "https"}, req("GET", "http", "x", "/"), false},
		{"scheme ws", Match{Scheme: "wss"}, req("GET", "wss", "x", "/socket"), true},
		{"url regexp", Match{URL: `^https://api\.example\.com/v[0-9]+/`}, req("GET", "https", "api.example.com", "/v2/x"), true},
		{"url regexp unanchored", Match{URL: `token=`}, req("GET", "https", "x", "/a?token=1"), true},
		{"url regexp miss", Match{URL: `^http://`}, req("GET", "https", "x", "/"), false},
		{"all fields", Match{Methods: []string{"GET"}, Scheme: "https", Host: "*.example.com", Path: "/v1/*", URL: `id=\d+`},
			req("GET", "https", "api.example.com", "/v1/x?id=42"), true},
		{"all fields one off", Match{Methods: []string{"GET"}, Scheme: "https", Host: "*.example.com", Path: "/v1/*", URL: `id=\d+`},
			req("GET", "https", "api.example.com", "/v1/x?id=x"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, []Rule{withMatch("r", tt.match)})
			got := len(s.Match(tt.req)) == 1
			if got != tt.want {
				t.Errorf("match %+v against %+v = %v, want %v", tt.match, tt.req, got, tt.want)
			}
		})
	}
}

// TestMatchPort: a rule with a port matches the port the URL addresses,
// explicit or the scheme's default, and no other.
func TestMatchPort(t *testing.T) {
	at := func(scheme, host string, port int) Request {
		r := req("GET", scheme, host, "/")
		r.Port = port
		return r
	}
	tests := []struct {
		name  string
		match Match
		req   Request
		want  bool
	}{
		{"same port", Match{Port: 20002}, at("http", "127.0.0.1", 20002), true},
		{"other port", Match{Port: 20002}, at("http", "127.0.0.1", 20001), false},
		{"with host", Match{Host: "127.0.0.1", Port: 20002}, at("http", "127.0.0.1", 20002), true},
		{"with host other port", Match{Host: "127.0.0.1", Port: 20002}, at("http", "127.0.0.1", 20001), false},
		{"with glob host other port", Match{Host: "*.test", Port: 8443}, at("https", "a.test", 443), false},
		{"no port matches any", Match{Host: "127.0.0.1"}, at("http", "127.0.0.1", 20001), true},
		{"http default", Match{Port: 80}, at("http", "x", 0), true},
		{"ws default", Match{Port: 80}, at("ws", "x", 0), true},
		{"https default", Match{Port: 443}, at("https", "x", 0), true},
		{"wss default", Match{Port: 443}, at("WSS", "x", 0), true},
		{"https not 80", Match{Port: 80}, at("https", "x", 0), false},
		{"http not 443", Match{Port: 443}, at("http", "x", 0), false},
		{"explicit default", Match{Port: 80}, at("http", "x", 80), true},
		{"explicit beats scheme", Match{Port: 443}, at("http", "x", 443), true},
		{"unknown scheme no default", Match{Port: 80}, at("", "x", 0), false},
		{"bad explicit port", Match{Port: 80}, at("http", "x", -1), false},
		{"port in host ignored", Match{Port: 8080}, at("http", "localhost:8080", 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, []Rule{withMatch("r", tt.match)})
			if got := len(s.Match(tt.req)) == 1; got != tt.want {
				t.Errorf("match %+v against %+v = %v, want %v", tt.match, tt.req, got, tt.want)
			}
		})
	}
}

// TestMatchPortIndexed: rules that differ only by port, behind the host
// index, each match their own port and keep list order.
func TestMatchPortIndexed(t *testing.T) {
	rs := []Rule{
		withMatch("one", Match{Host: "127.0.0.1", Port: 20001}),
		withMatch("two", Match{Host: "127.0.0.1", Port: 20002}),
		withMatch("any", Match{Port: 20002}),
		withMatch("glob", Match{Host: "*.0.0.1", Port: 20002}),
	}
	s := mustCompile(t, rs)
	for _, tt := range []struct {
		port int
		want []string
	}{{20001, []string{"one"}}, {20002, []string{"two", "any", "glob"}}, {80, nil}} {
		r := req("GET", "http", "127.0.0.1", "/")
		r.Port = tt.port
		if got := ids(s.Match(r)); !slices.Equal(got, tt.want) {
			t.Errorf("port %d: Match = %q, want %q", tt.port, got, tt.want)
		}
	}
	r := req("GET", "http", "a.0.0.1", "/")
	r.Port = 20002
	if got := ids(s.Match(r)); !slices.Equal(got, []string{"any", "glob"}) {
		t.Errorf("a.0.0.1:20002: Match = %q", got)
	}
}

func TestURLPort(t *testing.T) {
	tests := []struct {
		url  string
		want int
	}{
		{"http://127.0.0.1:20002/", 20002},
		{"http://x/", 80},
		{"https://x/", 443},
		{"ws://x/", 80},
		{"wss://x/", 443},
		{"HTTPS://x/", 443},
		{"http://x:443/", 443},
		{"https://[::1]:8443/", 8443},
		{"https://[::1]/", 443},
		{"http://x:0/", -1},
		{"http://x:99999999999999999999/", -1},
		{"ftp://x/", 0},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.url, err)
		}
		if got := URLPort(u); got != tt.want {
			t.Errorf("URLPort(%q) = %d, want %d", tt.url, got, tt.want)
		}
	}
}

func TestMatchOrderAndDisabled(t *testing.T) {
	rs := []Rule{
		withMatch("any-1", Match{}),
		withMatch("lit-2", Match{Host: "example.com"}),
		withMatch("glob-3", Match{Host: "*.com"}),
		withMatch("lit-4", Match{Host: "example.com", Path: "/a*"}),
		withMatch("other-5", Match{Host: "other.com"}),
		withMatch("any-6", Match{Path: "/a"}),
		withMatch("lit-7", Match{Host: "EXAMPLE.com"}),
	}
	rs[5].Enabled = false
	s := mustCompile(t, rs)
	got := ids(s.Match(req("GET", "https", "example.com", "/a")))
	want := []string{"any-1", "lit-2", "glob-3", "lit-4", "lit-7"}
	if !slices.Equal(got, want) {
		t.Fatalf("Match = %q, want %q", got, want)
	}
	if got := s.Match(req("GET", "https", "example.org", "/zzz")); !slices.Equal(ids(got), []string{"any-1"}) {
		t.Fatalf("Match(example.org) = %q", ids(got))
	}
	if len(s.Rules()) != len(rs) || s.Len() != len(rs) {
		t.Fatalf("Rules() has %d rules, want %d (disabled included)", len(s.Rules()), len(rs))
	}
}

func TestMatchNilAndEmpty(t *testing.T) {
	var s *Set
	if got := s.Match(req("GET", "http", "x", "/")); got != nil {
		t.Fatalf("nil set matched %v", got)
	}
	if got := s.Rules(); got == nil || len(got) != 0 {
		t.Fatalf("nil set Rules() = %#v, want empty non-nil", got)
	}
	empty := mustCompile(t, nil)
	if got := empty.Match(req("GET", "http", "x", "/")); got != nil {
		t.Fatalf("empty set matched %v", got)
	}
	p := s.Plan(req("GET", "http", "x", "/"))
	if p.Rules != nil || p.Respond != nil {
		t.Fatalf("nil set Plan = %+v", p)
	}
}

func TestCompileIsolation(t *testing.T) {
	rs := []Rule{withActions("r", Action{Type: TypeOverride, Body: str("a"), Headers: map[string]string{"X": "1"}})}
	rs[0].Match.Methods = []string{"GET"}
	s := mustCompile(t, rs)
	// Changing the input after Compile does not change the Set.
	*rs[0].Actions[0].Body = "changed"
	rs[0].Actions[0].Headers["X"] = "changed"
	rs[0].Match.Methods[0] = "POST"
	rs[0].ID = "changed"
	got := s.Match(req("GET", "http", "x", "/"))
	if len(got) != 1 || got[0].ID != "r" || *got[0].Actions[0].Body != "a" || got[0].Actions[0].Headers["X"] != "1" {
		t.Fatalf("Set shares memory with its input: %+v", got)
	}
	// Changing Rules() output does not change the Set either.
	out := s.Rules()
	*out[0].Actions[0].Body = "changed"
	out[0].Actions[0].Headers["X"] = "changed"
	if got := s.Rules(); *got[0].Actions[0].Body != "a" || got[0].Actions[0].Headers["X"] != "1" {
		t.Fatalf("Rules() shares memory with the Set")
	}
}

func TestCompileError(t *testing.T) {
	s, err := Compile([]Rule{withActions("r", Action{Type: TypeBlock, Status: 1000})})
	var ve *ValidationError
	if s != nil || !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "actions[0].status" {
		t.Fatalf("Compile = %v, %v", s, err)
	}
}

func TestPlan(t *testing.T) {
	rs := []Rule{
		withActions("a",
			Action{Type: TypeSetRequestHeaders, Headers: map[string]string{"X-A": "1"}},
			Action{Type: TypeDelay, Ms: 10},
			Action{Type: TypeMapRemote, URL: "http://127.0.0.1:1"},
			Action{Type: TypeDelay, Ms: 20, Phase: PhaseResponse}),
		withActions("b",
			Action{Type: TypeMapRemote, URL: "http://127.0.0.1:2"},
			Action{Type: TypeMock, Body: str("mocked")},
			Action{Type: TypeSetResponseHeaders, Headers: map[string]string{"X-B": "1"}}),
		withActions("c",
			Action{Type: TypeBlock},
			Action{Type: TypeRemoveRequestHeaders, Names: []string{"Cookie"}},
			Action{Type: TypeThrottle, BytesPerSecond: 100},
			Action{Type: TypeRemoveResponseHeaders, Names: []string{"Server"}},
			Action{Type: TypeBreakpoint, Phase: PhaseBoth}),
		withActions("d", Action{Type: TypeBreakpoint, Hits: 1}),
	}
	p := mustCompile(t, rs).Plan(req("GET", "https", "x", "/"))
	if len(p.Breakpoints) != 2 || p.Breakpoints[0].Rule.ID != "c" || p.Breakpoints[0].Action.Phase != PhaseBoth ||
		p.Breakpoints[1].Rule.ID != "d" || p.Breakpoints[1].Action.Hits != 1 {
		t.Errorf("Plan.Breakpoints = %+v, want c's then d's", p.Breakpoints)
	}
	rs = rs[:3]
	p = mustCompile(t, rs).Plan(req("GET", "https", "x", "/"))
	if !slices.Equal(ids(p.Rules), []string{"a", "b", "c"}) {
		t.Errorf("Plan.Rules = %q", ids(p.Rules))
	}
	if p.MapRemote == nil || p.MapRemote.URL != "http://127.0.0.1:1" || p.MapRemoteRule.ID != "a" {
		t.Errorf("Plan.MapRemote = %+v", p.MapRemote)
	}
	if p.Respond == nil || p.Respond.Type != TypeMock || p.RespondRule.ID != "b" {
		t.Errorf("Plan.Respond = %+v, want the first (mock of b)", p.Respond)
	}
	types := func(as []*Action) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Type)
		}
		return out
	}
	if got, want := types(p.Request), []string{TypeSetRequestHeaders, TypeDelay, TypeRemoveRequestHeaders}; !slices.Equal(got, want) {
		t.Errorf("Plan.Request = %q, want %q", got, want)
	}
	if got, want := types(p.Response), []string{TypeDelay, TypeSetResponseHeaders, TypeThrottle, TypeRemoveResponseHeaders}; !slices.Equal(got, want) {
		t.Errorf("Plan.Response = %q, want %q", got, want)
	}
	if got := rs[2].ResponseAction(); got == nil || got.Type != TypeBlock {
		t.Errorf("ResponseAction = %+v", got)
	}
	if got := rs[0].ResponseAction(); got != nil {
		t.Errorf("ResponseAction of a rule without one = %+v", got)
	}
}

func TestResponseStatusAndPhase(t *testing.T) {
	tests := []struct {
		a    Action
		want int
	}{
		{Action{Type: TypeOverride}, 502},
		{Action{Type: TypeOverride, Status: 201}, 201},
		{Action{Type: TypeMock}, 200},
		{Action{Type: TypeMock, Status: 404}, 404},
		{Action{Type: TypeBlock}, 403},
		{Action{Type: TypeBlock, Status: 451}, 451},
	}
	for _, tt := range tests {
		if got := tt.a.ResponseStatus(502); got != tt.want {
			t.Errorf("%+v ResponseStatus(502) = %d, want %d", tt.a, got, tt.want)
		}
	}
	if (&Action{Type: TypeDelay}).DelayPhase() != PhaseRequest || (&Action{Type: TypeDelay, Phase: PhaseResponse}).DelayPhase() != PhaseResponse {
		t.Error("DelayPhase defaults wrong")
	}
}

func TestMatchManyHostsIndex(t *testing.T) {
	// Rules spread over the literal-host index and the scan list still come
	// back in list order.
	var rs []Rule
	for i := range 50 {
		host := fmt.Sprintf("h%d.test", i%5)
		if i%7 == 0 {
			host = "*.test"
		}
		rs = append(rs, withMatch(fmt.Sprintf("r%02d", i), Match{Host: host}))
	}
	s := mustCompile(t, rs)
	var want []string
	for i := range 50 {
		if i%7 == 0 || i%5 == 3 {
			want = append(want, fmt.Sprintf("r%02d", i))
		}
	}
	if got := ids(s.Match(req("GET", "http", "h3.test", "/"))); !slices.Equal(got, want) {
		t.Fatalf("Match = %q\nwant %q", got, want)
	}
}

// TestURLPrefilter: the literal-prefix shortcut never changes a result.
func TestURLPrefilter(t *testing.T) {
	exprs := []string{
		`^https://api\.example\.com/v[0-9]+/`, `token=`, `^token=`, `\Ahttps://x`, `(^https://x)`,
		`(?m)^https://x`, `^abc|^https`, `(?i)^HTTPS://X`, `x/a`, `^https://x/a$`, `a.*b`, `^`, `$`, `.*`,
		`^(?:https)://x/a`, `^https://x/a?`,
		`^https?://[^/]*nomatch3\.example/`, `(?i)nomatch`, `ex(am|xx)ple\.com`, `api\.exa?mple`, `(api)\.example`,
		`x+/ab`, `https|token`, `(?i:TOKEN)=1`, `a{2}pi`,
	}
	urls := []string{"https://x/a", "https://api.example.com/v2/z", "https://x/?token=1", "token=1", "http://x", "", "HTTPS://X/a", "https://x/ab",
		"https://a.nomatch3.example/", "http://NOMATCH3.example/", "https://api.exmple.com/", "https://x/?TOKEN=1", "https://aapi/"}
	for _, expr := range exprs {
		s := mustCompile(t, []Rule{withMatch("r", Match{URL: expr})})
		re := regexp.MustCompile(expr)
		for _, u := range urls {
			got := len(s.Match(Request{URL: u})) == 1
			if want := re.MatchString(u); got != want {
				t.Errorf("url %q against %q = %v, regexp says %v", u, expr, got, want)
			}
		}
	}
}

func TestRequiredLiteral(t *testing.T) {
	for expr, want := range map[string]string{
		`^https?://[^/]*nomatch3\.example/`: "nomatch3.example/",
		`(abcd)`:                            "abcd",
		`(?i)abcd`:                          "",
		`ab`:                                "",
		`abc|defg`:                          "",
		`x(abc)?defgh[0-9]`:                 "defgh",
		`[`:                                 "",
	} {
		if got := requiredLiteral(expr); got != want {
			t.Errorf("requiredLiteral(%q) = %q, want %q", expr, got, want)
		}
	}
}
