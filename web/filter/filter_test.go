package filter

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"loupe/proxy/flow"
)

func mkFlow(id flow.ID, method, url string, status int, ct string) *flow.Flow {
	f := &flow.Flow{ID: id, State: flow.StateDone, Request: flow.Request{Method: method, URL: url}}
	if status != 0 {
		f.Response = &flow.Response{Status: status}
		if ct != "" {
			f.Response.Header = flow.Fields{{Name: "Content-Type", Value: ct}}
		}
	}
	return f
}

func TestMatch(t *testing.T) {
	api := mkFlow(1, "GET", "https://api.example.com:8443/v1/users/42?full=1", 200, "application/json; charset=utf-8")
	notFound := mkFlow(2, "POST", "http://www.example.com/missing", 404, "text/html")
	root := mkFlow(3, "GET", "http://example.com", 0, "")
	failed := mkFlow(4, "GET", "https://down.test/", 0, "")
	failed.State, failed.Error = flow.StateError, "dial tcp: connection refused"
	ruled := mkFlow(5, "GET", "https://ruled.test/a/b/c.js", 200, "text/javascript")
	ruled.Rules = []string{"mock-1", "hdr"}
	ws := mkFlow(6, "GET", "wss://chat.test/socket", 101, "")
	ipv6 := mkFlow(7, "GET", "http://[::1]:9000/x", 500, "")

	bodies := map[flow.ID]map[flow.Facet]string{
		1: {flow.FacetResponse: `{"name": "Ada Lovelace"}`},
		2: {flow.FacetRequest: "user=grace&pass=HOPPER"},
	}
	open := func(id flow.ID, facet flow.Facet) (io.ReadCloser, error) {
		b, ok := bodies[id][facet]
		if !ok {
			return nil, errors.New("no body")
		}
		return io.NopCloser(strings.NewReader(b)), nil
	}
	all := []*flow.Flow{api, notFound, root, failed, ruled, ws, ipv6}
	for _, fl := range all {
		fl.RequestBody.Captured = int64(len(bodies[fl.ID][flow.FacetRequest]))
		fl.ResponseBody.Captured = int64(len(bodies[fl.ID][flow.FacetResponse]))
	}
	ruled.ResponseBody.Captured = 10 // says it has a body, but opening it fails: no match

	tests := []struct {
		q    string
		want []flow.ID
	}{
		{"", []flow.ID{1, 2, 3, 4, 5, 6, 7}},
		{"example", []flow.ID{1, 2, 3}},
		{"EXAMPLE.com/MISSING", []flow.ID{2}},
		{"-example", []flow.ID{4, 5, 6, 7}},
		{"method:get", []flow.ID{1, 3, 4, 5, 6, 7}},
		{"method:POST,put", []flow.ID{2}},
		{"-method:GET", []flow.ID{2}},
		{"status:404", []flow.ID{2}},
		{"status:4xx", []flow.ID{2}},
		{"status:2XX", []flow.ID{1, 5}},
		{"status:5xx", []flow.ID{7}},
		{"status:101", []flow.ID{6}},
		{"host:*.example.com", []flow.ID{1, 2}},
		{"host:example.com", []flow.ID{3}},
		{"host:api.example.com", []flow.ID{1}}, // port is not part of the host
		{"host:::1", []flow.ID{7}},
		{"path:/v1/*", []flow.ID{1}},
		{"path:/a/*.js", []flow.ID{5}}, // * crosses /
		{"path:/v1/users/42", []flow.ID{1}},
		{"path:*full=1", []flow.ID{1}},
		{"path:/", []flow.ID{3, 4}},
		{"type:json", []flow.ID{1}},
		{"type:html", []flow.ID{2}},
		{`body:"ada love"`, []flow.ID{1}},
		{"body:hopper", []flow.ID{2}},
		{"-body:hopper", []flow.ID{1, 3, 4, 5, 6, 7}},
		{"rule:mock-1", []flow.ID{5}},
		{"rule:", []flow.ID{5}},
		{"-rule:", []flow.ID{1, 2, 3, 4, 6, 7}},
		{"error:", []flow.ID{4}},
		{"error:refused", []flow.ID{4}},
		{"-error:", []flow.ID{1, 2, 3, 5, 6, 7}},
		{"ws:", []flow.ID{6}},
		{"-ws:", []flow.ID{1, 2, 3, 4, 5, 7}},
		{"method:GET status:2xx -type:json", []flow.ID{5}},
		{"https://api", []flow.ID{1}},
		{`"example.com/missing"`, []flow.ID{2}},
		{`"a:b"`, nil},
		{"  host:*.test   -ws:  ", []flow.ID{4, 5}},
		{"port:8443", []flow.ID{1}},
		{"port:80", []flow.ID{2, 3}}, // the default of http
		{"port:443", []flow.ID{4, 5, 6}},
		{"port:9000", []flow.ID{7}},
		{"port:20002", nil},
		{"-port:443", []flow.ID{1, 2, 3, 7}},
		{"host:*.example.com port:80", []flow.ID{2}},
		{`port:"9000"`, []flow.ID{7}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			f, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []flow.ID
			for _, fl := range all {
				if f.Match(fl, open) {
					got = append(got, fl.ID)
				}
			}
			if !equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// kind: shows or hides the flows that record tunnels and failed client
// handshakes.
func TestMatchKind(t *testing.T) {
	plain := mkFlow(1, "GET", "https://app.test/", 200, "text/html")
	tunnel := mkFlow(2, "CONNECT", "https://bank.test:443", 200, "")
	tunnel.Kind = flow.KindTunnel
	rejected := mkFlow(3, "CONNECT", "https://app.test:443", 0, "")
	rejected.Kind, rejected.State = flow.KindTLSError, flow.StateError
	rejected.Error = "the client rejected Loupe's certificate: unknown authority (TLS alert unknown_ca)"
	all := []*flow.Flow{plain, tunnel, rejected}
	tests := []struct {
		q    string
		want []flow.ID
	}{
		{"kind:tunnel", []flow.ID{2}},
		{"kind:TLS-error", []flow.ID{3}},
		{"kind:tunnel,tls-error", []flow.ID{2, 3}},
		{"kind:http", []flow.ID{1}},
		{"-kind:tunnel -kind:tls-error", []flow.ID{1}},
		{"error:unknown_ca", []flow.ID{3}},
		{"host:app.test kind:tls-error", []flow.ID{3}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			f, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []flow.ID
			for _, fl := range all {
				if f.Match(fl, nil) {
					got = append(got, fl.ID)
				}
			}
			if !equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if back, err := Parse(f.String()); err != nil || back.String() != f.String() {
				t.Errorf("String %q does not parse back: %v", f.String(), err)
			}
		})
	}
	for _, q := range []string{"kind:", "kind:socks", "kind:tunnel,"} {
		if _, err := Parse(q); err == nil {
			t.Errorf("Parse(%q) accepted", q)
		}
	}
}

func equal(a, b []flow.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMatchWithoutBodiesSkipsBodyTerms(t *testing.T) {
	f, err := Parse("method:GET body:anything")
	if err != nil {
		t.Fatal(err)
	}
	if !f.NeedsBodies() {
		t.Fatal("NeedsBodies = false")
	}
	if !f.Match(mkFlow(1, "GET", "http://x/", 200, ""), nil) {
		t.Error("pre-filter rejected a flow on its body term")
	}
	if f.Match(mkFlow(1, "POST", "http://x/", 200, ""), nil) {
		t.Error("pre-filter accepted a flow failing a cheap term")
	}
}

func TestBodyNeedleAcrossReads(t *testing.T) {
	body := strings.Repeat("x", 32<<10-3) + "NEEDLE" + strings.Repeat("y", 100)
	open := func(flow.ID, flow.Facet) (io.ReadCloser, error) {
		return io.NopCloser(&oneByteAtTheEdge{s: body}), nil
	}
	f, err := Parse("body:needle")
	if err != nil {
		t.Fatal(err)
	}
	fl := mkFlow(1, "GET", "http://x/", 200, "")
	fl.ResponseBody.Captured = int64(len(body))
	if !f.Match(fl, open) {
		t.Error("needle spanning two reads not found")
	}
	fl.ResponseBody.Captured = 0
	if f.Match(fl, open) {
		t.Error("a facet recorded as empty was searched")
	}
}

// oneByteAtTheEdge returns short reads, so the needle spans several of them.
type oneByteAtTheEdge struct {
	s string
	i int
}

func (r *oneByteAtTheEdge) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := min(len(p), 7000, len(r.s)-r.i)
	copy(p, r.s[r.i:r.i+n])
	r.i += n
	return n, nil
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ q, term string }{
		{"foo:bar", "foo:bar"},
		{"GET nope:1", "nope:1"},
		{`body:"unterminated`, `body:"unterminated`},
		{`ok "open`, `"open`},
		{"-", "-"},
		{"status:abc", "status:abc"},
		{"status:6xx", "status:6xx"},
		{"status:1000", "status:1000"},
		{"method:", "method:"},
		{"host:", "host:"},
		{"path:", "path:"},
		{"type:", "type:"},
		{"body:", "body:"},
		{`body:""`, `body:""`},
		{"ws:yes", "ws:yes"},
		{"localhost:8080", "localhost:8080"},
		{"port:", "port:"},
		{"port:abc", "port:abc"},
		{"method:GET port:http", "port:http"},
		{"port:0", "port:0"},
		{"port:65536", "port:65536"},
		{"port:123456", "port:123456"},
		{"port:-1", "port:-1"},
		{"port:+80", "port:+80"},
		{"port:>65535", "port:>65535"},
		{"port:<1", "port:<1"},
		{"port:9000-8000", "port:9000-8000"},
		{"port:8000-", "port:8000-"},
		{"duration:", "duration:"},
		{"duration:>fast", "duration:>fast"},
		{"duration:-1s", "duration:-1s"},
		{"duration:>1ns", "duration:>1ns"},
		{"size:>lots", "size:>lots"},
		{"size:1e3", "size:1e3"},
		{"header:", "header:"},
		{"header:=x", "header:=x"},
		{`reqheader:a=b\`, `reqheader:a=b\`},
		{`host:a\`, `host:a\`},
		{"or", "or"},
		{"a or", "or"},
		{"OR a", "OR"},
		{"a or or b", "or"},
		{"a | | b", "|"},
		{"(a", "("},
		{"a)", ")"},
		{"()", "()"},
		{"(a or)", "or"},
		{"-(", "-("},
		{"- (a)", "-"},
		{"(a) (b nope:1)", "nope:1"},
		{"port:80,443", "port:80,443"},
		{"-port:x", "-port:x"},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			_, err := Parse(tt.q)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if fe.Term != tt.term {
				t.Errorf("term = %q, want %q", fe.Term, tt.term)
			}
			if fe.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbb", false},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*a", "*xa", true},
		{"**b", "ab", true},
		{"/api/*", "/api/v1/x", true},
	}
	for _, tt := range tests {
		if got := Glob(tt.p, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, q := range []string{
		`-method:GET,POST status:4xx host:*.a.com path:/x/* type:json body:"a \"b\" c" rule: error: ws: free "-dash" "a:b"`,
		`body:back\slash`,
		`port:20002 -port:443`,
		`status:404 or status:500`,
		`(host:a.com or host:b.com) -method:OPTIONS`,
		`-(a | b c) "or" "|" "f(x)" path:"/wiki/A_(b)"`,
		`header:content-type=*json* reqheader:x-a resheader:"x-b=a b"`,
		`port:>8000 port:8000-9000 duration:>=1.5s duration:<200ms size:>10kb`,
		`((a or b) (c or d)) or -e`,
	} {
		f, err := Parse(q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", q, err)
		}
		s := f.String()
		g, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(String()=%q): %v", s, err)
		}
		if g.String() != s {
			t.Errorf("round trip: %q -> %q", s, g.String())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "example", "-method:GET", "status:4xx", "host:*.example.com", "path:/api/*",
		"type:json", `body:"text"`, "rule:abc", "error:", "ws:", `"unterminated`, `a\"b`,
		`body:"x\\" y"`, "-", "foo:bar", "https://x.test/a?b=c",
		"port:20002", "-port:443", "port:0", "port:65536", "port:>1024", `port:"80"`,
		"status:404 or status:500", "(host:a.com | host:b.com) -method:OPTIONS", "-(a or b) c", "a OR", "(a", "a)",
		"()", `"or" or "|"`, "header:content-type=*json*", "reqheader:x", "resheader:x=a\\*", "duration:>1s",
		"duration:100-200", "port:8000-9000", "size:<=1kb", "((((x))))", "-(-(a))",
	} {
		f.Add(s)
	}
	fl := mkFlow(9, "GET", "https://api.example.com:8443/v1/x?y=1", 404, "application/json")
	fl.Rules = []string{"r1"}
	fl.ResponseBody.Captured = 9
	open := func(flow.ID, flow.Facet) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("some body")), nil
	}
	f.Fuzz(func(t *testing.T, q string) {
		flt, err := Parse(q)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		m := flt.Match(fl, open)
		s := flt.String()
		if len(s) > MaxQueryLen {
			return // quoting made it longer than a query may be
		}
		g, err := Parse(s)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", s, q, err)
		}
		if g.String() != s {
			t.Fatalf("canonical form not stable: %q -> %q", s, g.String())
		}
		if g.Match(fl, open) != m {
			t.Fatalf("canonical form %q matches differently from %q", s, q)
		}
	})
}

func TestPortOf(t *testing.T) {
	tests := []struct {
		url  string
		want int
	}{
		{"http://127.0.0.1:20002/x", 20002},
		{"http://127.0.0.1:20001", 20001},
		{"http://x/", 80},
		{"HTTP://x", 80},
		{"ws://x/s", 80},
		{"https://x/?a=b:1", 443},
		{"wss://x#f:2", 443},
		{"http://user:pw@x:81/", 81},
		{"http://user:pw@x/", 80},
		{"http://[::1]:9000/", 9000},
		{"https://[::1]/", 443},
		{"http://[::1", 0},
		{"http://x:/", 80},
		{"http://x:99999/", 0},
		{"ftp://x/", 0},
		{"/relative", 0},
	}
	for _, tt := range tests {
		if got := portOf(tt.url); got != tt.want {
			t.Errorf("portOf(%q) = %d, want %d", tt.url, got, tt.want)
		}
	}
}

// A port term is reported with its message, which names the range.
func TestPortErrorMessage(t *testing.T) {
	_, err := Parse("port:99999")
	var fe *Error
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "1..65535") {
		t.Fatalf("Parse(port:99999) = %v", err)
	}
	if want := `bad filter term "port:99999" at offset 0: port: needs a port number 1..65535, a comparison or a range: port:8080, port:>8000, port:8000-9000`; err.Error() != want {
		t.Errorf("error = %q, want %q", err.Error(), want)
	}
}

// TestParseGroups: juxtaposition binds tighter than or; parentheses and
// "-" group; the canonical form shows the structure.
func TestParseGroups(t *testing.T) {
	tests := []struct{ q, want string }{
		{"a b or c", "(a b or c)"},
		{"a or b c", "(a or b c)"},
		{"a | b", "(a or b)"},
		{"a OR b Or c", "(a or b or c)"},
		{"(a b) c", "a b c"},
		{"(a or b) c", "(a or b) c"},
		{"-(a or b) c", "-(a or b) c"},
		{"-(a)", "-a"},
		{"-(-a)", "a"},
		{"-(a b)", "-(a b)"},
		{"a|b", "(a or b)"},
		{"(a)(b)", "a b"},
		{`"or"`, `"or"`},
		{`x"or"`, `xor`},
		{"status:404 or status:500", "(status:404 or status:500)"},
	}
	for _, tt := range tests {
		f, err := Parse(tt.q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.q, err)
		}
		if got := f.String(); got != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

// TestErrorPosition: an error names the byte offset of what is wrong.
func TestErrorPosition(t *testing.T) {
	tests := []struct {
		q    string
		pos  int
		term string
	}{
		{"status:404 or", 11, "or"},
		{"a (b or c", 2, "("},
		{"a b)", 3, ")"},
		{"host:x nope:1", 7, "nope:1"},
		{"(a or ()) b", 6, "()"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.q)
		var fe *Error
		if !errors.As(err, &fe) || fe.Pos != tt.pos || fe.Term != tt.term {
			t.Errorf("Parse(%q) = %v, want term %q at %d", tt.q, err, tt.term, tt.pos)
		}
	}
}

// TestNumberRanges: comparisons and ranges become inclusive ranges.
func TestNumberRanges(t *testing.T) {
	tests := []struct {
		q      string
		lo, hi int64
	}{
		{"port:8080", 8080, 8080},
		{"port:>8000", 8001, 65535},
		{"port:>=8000", 8000, 65535},
		{"port:<1024", 1, 1023},
		{"port:8000-9000", 8000, 9000},
		{"duration:>1s", 1000001, math.MaxInt64},
		{"duration:<200ms", math.MinInt64, 199999},
		{"duration:>=1.5s", 1500000, math.MaxInt64},
		{"duration:250", 250000, 250000},
		{"duration:100ms-2s", 100000, 2000000},
		{"size:>10kb", 10241, math.MaxInt64},
		{"size:<=1.5mb", math.MinInt64, 1572864},
		{"size:512", 512, 512},
	}
	for _, tt := range tests {
		f, err := Parse(tt.q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.q, err)
		}
		if r := f.Terms[0].Range; r.Lo != tt.lo || r.Hi != tt.hi {
			t.Errorf("Parse(%q) range %d..%d, want %d..%d", tt.q, r.Lo, r.Hi, tt.lo, tt.hi)
		}
	}
}
