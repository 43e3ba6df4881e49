package proxy_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// ruleOrigin answers "orig" and counts hits; it echoes what it saw in
// response headers.
type ruleOrigin struct {
	hits atomic.Int64
	saw  headerSaw
	host atomic.Value
	url  string
}

func newRuleOrigin(t *testing.T, m mode) *ruleOrigin {
	o := &ruleOrigin{}
	s := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		o.saw.set(r.Header)
		o.host.Store(r.Host)
		w.Header().Set("X-Orig", "1")
		w.Header().Set("X-Drop-Me", "1")
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, strings.Repeat("orig", 2500))
	}))
	o.url = s.URL
	return o
}

type result struct {
	status int
	header http.Header
	body   string
	err    error
	took   time.Duration
}

func do(c *http.Client, method, url string) result {
	start := time.Now()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("request body")
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("X-Remove", "secret")
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err, took: time.Since(start)}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), err: err, took: time.Since(start)}
}

func TestRuleActions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(`{"ok":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	orig := strings.Repeat("orig", 2500)
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			o := newRuleOrigin(t, m)
			other := newRuleOrigin(t, mode{tls: true})
			cases := []struct {
				name    string
				rules   []rules.Rule
				method  string
				path    string
				check   func(t *testing.T, r result, f flow.Recorded)
				origins int64 // origin hits expected
			}{
				{
					name:  "override",
					rules: []rules.Rule{{ID: "ov", Actions: []rules.Action{{Type: "override", Status: 201, Headers: map[string]string{"X-Rule": "yes"}, Body: str("new")}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 201 || r.body != "new" || r.header.Get("X-Rule") != "yes" || r.header.Get("X-Orig") != "1" {
							t.Errorf("got %d %q %v", r.status, r.body, r.header)
						}
						if f.Flow.Overridden != "override" || strings.Join(f.Flow.Rules, ",") != "ov" {
							t.Errorf("flow overridden %q rules %v", f.Flow.Overridden, f.Flow.Rules)
						}
						if string(f.Bodies[flow.FacetUpstream]) != orig || string(f.Bodies[flow.FacetResponse]) != "new" {
							t.Errorf("recorded upstream %d bytes, served %q", len(f.Bodies[flow.FacetUpstream]), f.Bodies[flow.FacetResponse])
						}
						if f.Flow.UpstreamResponse == nil || f.Flow.UpstreamResponse.Status != 200 || f.Flow.Response.Status != 201 {
							t.Errorf("heads %+v %+v", f.Flow.UpstreamResponse, f.Flow.Response)
						}
					},
					origins: 1,
				},
				{
					name:  "override without a body keeps the upstream body",
					rules: []rules.Rule{{ID: "st", Actions: []rules.Action{{Type: "override", Status: 503, Headers: map[string]string{"Retry-After": "5"}}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 503 || r.body != orig || r.header.Get("Retry-After") != "5" {
							t.Errorf("got %d, %d bytes, %v", r.status, len(r.body), r.header)
						}
						if f.Flow.Overridden != "override" || f.Flow.UpstreamBody != nil || string(f.Bodies[flow.FacetResponse]) != orig {
							t.Errorf("flow overridden %q upstream facet %+v, served %d bytes", f.Flow.Overridden, f.Flow.UpstreamBody, len(f.Bodies[flow.FacetResponse]))
						}
					},
					origins: 1,
				},
				{
					name:  "override to 204 without a body drops the upstream body",
					rules: []rules.Rule{{ID: "nc", Actions: []rules.Action{{Type: "override", Status: 204}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 204 || r.body != "" || r.header.Get("Content-Length") != "" {
							t.Errorf("got %d %q %v", r.status, r.body, r.header)
						}
					},
					origins: 1,
				},
				{
					name:   "override HEAD has no body",
					rules:  []rules.Rule{{ID: "ov", Actions: []rules.Action{{Type: "override", Body: str("new")}}}},
					method: "HEAD",
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 200 || r.body != "" {
							t.Errorf("got %d %q", r.status, r.body)
						}
					},
					origins: 1,
				},
				{
					name:   "mock",
					method: "POST",
					rules:  []rules.Rule{{ID: "mk", Actions: []rules.Action{{Type: "mock", Body: str(`{"mock":1}`), Headers: map[string]string{"Content-Type": "application/json"}}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 200 || r.body != `{"mock":1}` || r.header.Get("Content-Type") != "application/json" {
							t.Errorf("got %d %q %v", r.status, r.body, r.header)
						}
						if f.Flow.Overridden != "mock" || f.Flow.UpstreamRequest != nil {
							t.Errorf("flow overridden %q upstream %+v", f.Flow.Overridden, f.Flow.UpstreamRequest)
						}
						if string(f.Bodies[flow.FacetRequest]) != "request body" || !f.Flow.RequestBody.Complete {
							t.Errorf("mocked request body recorded %q %+v", f.Bodies[flow.FacetRequest], f.Flow.RequestBody)
						}
					},
				},
				{
					name:  "mock dir",
					rules: []rules.Rule{{ID: "md", Match: rules.Match{Path: "/files/*"}, Actions: []rules.Action{{Type: "mock", Dir: dir}}}},
					path:  "/files/data.json",
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 200 || r.body != `{"ok":true}` || r.header.Get("Content-Type") != "application/json" {
							t.Errorf("got %d %q %v", r.status, r.body, r.header)
						}
					},
				},
				{
					name:  "mock dir missing file",
					rules: []rules.Rule{{ID: "md", Match: rules.Match{Path: "/files/*"}, Actions: []rules.Action{{Type: "mock", Dir: dir}}}},
					path:  "/files/nope.json",
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 404 {
							t.Errorf("got %d %q", r.status, r.body)
						}
					},
				},
				{
					name:  "mapRemote",
					rules: []rules.Rule{{ID: "map", Actions: []rules.Action{{Type: "mapRemote", URL: other.url}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 200 || other.hits.Load() != 1 {
							t.Errorf("got %d, other origin hit %d times", r.status, other.hits.Load())
						}
						if h, _ := other.host.Load().(string); "https://"+h != other.url {
							t.Errorf("other origin saw Host %q, want %s", h, other.url)
						}
						if f.Flow.UpstreamRequest == nil || !strings.HasPrefix(f.Flow.UpstreamRequest.URL, other.url) {
							t.Errorf("upstream request %+v", f.Flow.UpstreamRequest)
						}
					},
				},
				{
					name: "headers",
					rules: []rules.Rule{{ID: "h", Actions: []rules.Action{
						{Type: "setRequestHeaders", Headers: map[string]string{"X-Added": "1"}},
						{Type: "removeRequestHeaders", Names: []string{"X-Remove"}},
						{Type: "setResponseHeaders", Headers: map[string]string{"X-Resp-Added": "2"}},
						{Type: "removeResponseHeaders", Names: []string{"X-Drop-Me"}},
					}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						h := o.saw.get()
						if h.Get("X-Added") != "1" || h.Get("X-Remove") != "" {
							t.Errorf("origin saw %v", h)
						}
						if r.header.Get("X-Resp-Added") != "2" || r.header.Get("X-Drop-Me") != "" || r.body != orig {
							t.Errorf("client got %v", r.header)
						}
					},
					origins: 1,
				},
				{
					name: "delay",
					rules: []rules.Rule{{ID: "d", Actions: []rules.Action{
						{Type: "delay", Ms: 200, Phase: "request"},
						{Type: "delay", Ms: 200, Phase: "response"},
					}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						// Two 200 ms waits in a row: a lower bound that the
						// rule's own sleeps impose.
						if r.status != 200 || r.took < 400*time.Millisecond {
							t.Errorf("got %d after %v, want >= 400ms", r.status, r.took)
						}
					},
					origins: 1,
				},
				{
					name:  "throttle",
					rules: []rules.Rule{{ID: "th", Actions: []rules.Action{{Type: "throttle", BytesPerSecond: 20000}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						// 10 000 bytes at 20 000 B/s, in slices of 2000: the
						// last slice is not read before 400 ms (a lower
						// bound the throttle's own waits impose; how much
						// longer a busy machine takes is not its promise).
						if r.body != orig || r.took < 400*time.Millisecond {
							t.Errorf("got %d bytes after %v, want all of them, after at least 400ms", len(r.body), r.took)
						}
					},
					origins: 1,
				},
				{
					name:  "block",
					rules: []rules.Rule{{ID: "b", Actions: []rules.Action{{Type: "block"}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 403 || !strings.Contains(r.body, "Blocked") {
							t.Errorf("got %d %q", r.status, r.body)
						}
						if f.Flow.Overridden != "block" {
							t.Errorf("overridden %q", f.Flow.Overridden)
						}
					},
				},
				{
					name:  "block status",
					rules: []rules.Rule{{ID: "b", Actions: []rules.Action{{Type: "block", Status: 451}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.status != 451 {
							t.Errorf("got %d %q", r.status, r.body)
						}
					},
				},
				{
					name:  "block reset",
					rules: []rules.Rule{{ID: "b", Actions: []rules.Action{{Type: "block", Reset: true}}}},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.err == nil {
							t.Errorf("got %d %q, want the connection reset", r.status, r.body)
						}
					},
				},
				{
					name: "first response-producing action wins",
					rules: []rules.Rule{
						{ID: "first", Actions: []rules.Action{{Type: "mock", Body: str("mocked")}}},
						{ID: "second", Actions: []rules.Action{{Type: "override", Body: str("overridden")}, {Type: "setResponseHeaders", Headers: map[string]string{"X-Second": "1"}}}},
					},
					check: func(t *testing.T, r result, f flow.Recorded) {
						if r.body != "mocked" || r.header.Get("X-Second") != "1" {
							t.Errorf("got %q %v", r.body, r.header)
						}
						if strings.Join(f.Flow.Rules, ",") != "first,second" || f.Flow.Overridden != "mock" {
							t.Errorf("rules %v overridden %q", f.Flow.Rules, f.Flow.Overridden)
						}
					},
				},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t, tc.rules...)})
					before := o.hits.Load()
					other.hits.Store(0)
					method, path := tc.method, tc.path
					if method == "" {
						method = "GET"
					}
					if path == "" {
						path = "/x"
					}
					c := m.client(t, env)
					c.Timeout = 5 * time.Second
					r := do(c, method, o.url+path)
					f := env.Rec.Last(t)
					tc.check(t, r, f)
					if got := o.hits.Load() - before; got != tc.origins {
						t.Errorf("origin hit %d times, want %d", got, tc.origins)
					}
				})
			}
		})
	}
}
