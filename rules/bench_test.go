package rules

import (
	"fmt"
	"testing"
)

// BenchmarkMatch1000Rules matches one request against 1,000 rules of one
// shape, with no rule or exactly one rule matching. A proxied request costs
// tens of microseconds at the very least; matching must stay far below that.
func BenchmarkMatch1000Rules(b *testing.B) {
	shapes := []struct {
		name string
		rule func(i int) Match
	}{
		{"literal-host", func(i int) Match {
			return Match{Methods: []string{"GET"}, Host: fmt.Sprintf("api%d.example.com", i), Path: "/v1/*"}
		}},
		{"glob-host", func(i int) Match {
			return Match{Scheme: "https", Host: fmt.Sprintf("*.svc%d.example.com", i), Path: "/v1/*"}
		}},
		{"path-only", func(i int) Match {
			return Match{Path: fmt.Sprintf("/api/v%d/*/items?id=*", i)}
		}},
		{"url-regexp", func(i int) Match {
			return Match{URL: fmt.Sprintf(`^https://api\.example\.com/v%d/users/[0-9]+$`, i)}
		}},
		// One host, a rule per port: local development servers.
		{"one-host-ports", func(i int) Match {
			return Match{Methods: []string{"GET"}, Host: "127.0.0.1", Port: 10000 + i, Path: "/v1/*"}
		}},
	}
	requests := map[string]func(i int) Request{
		"literal-host": func(i int) Request { return req("GET", "https", fmt.Sprintf("api%d.example.com", i), "/v1/users/7") },
		"glob-host":    func(i int) Request { return req("GET", "https", fmt.Sprintf("x.svc%d.example.com", i), "/v1/users/7") },
		"path-only": func(i int) Request {
			return req("GET", "https", "example.com", fmt.Sprintf("/api/v%d/users/items?id=7", i))
		},
		"url-regexp": func(i int) Request { return req("GET", "https", "api.example.com", fmt.Sprintf("/v%d/users/7", i)) },
		"one-host-ports": func(i int) Request {
			r := req("GET", "http", "127.0.0.1", "/v1/users/7")
			r.Port = 10000 + i
			return r
		},
	}
	for _, shape := range shapes {
		rs := make([]Rule, 1000)
		for i := range rs {
			rs[i] = Rule{ID: fmt.Sprintf("r%d", i), Enabled: true, Match: shape.rule(i),
				Actions: []Action{{Type: TypeSetResponseHeaders, Headers: map[string]string{"X-Rule": "1"}}}}
		}
		set, err := Compile(rs)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			index int
			want  int
		}{{"none", 5000, 0}, {"one", 777, 1}} {
			r := requests[shape.name](c.index)
			if got := len(set.Match(r)); got != c.want {
				b.Fatalf("%s/%s: %d matches, want %d", shape.name, c.name, got, c.want)
			}
			b.Run(shape.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					set.Match(r)
				}
			})
		}
	}
}

func BenchmarkCompile1000Rules(b *testing.B) {
	rs := make([]Rule, 1000)
	for i := range rs {
		rs[i] = Rule{ID: fmt.Sprintf("r%d", i), Enabled: true,
			Match:   Match{Host: fmt.Sprintf("*.svc%d.example.com", i), Path: "/v1/*", URL: fmt.Sprintf(`/v%d/`, i)},
			Actions: []Action{{Type: TypeBlock}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(rs); err != nil {
			b.Fatal(err)
		}
	}
}
