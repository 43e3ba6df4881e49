package proxy_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

const rewriteCap = 64 << 10

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewriteOrigin serves /json, /html and /big (?gzip=1 encodes, ?chunked=1
// streams without a Content-Length) and echoes requests at /echo. It
// counts bodies written to their end.
func rewriteOrigin(t *testing.T, m mode, finished *atomic.Int64) string {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			body = []byte(`{"user":"bob@example.com","token":"s3cret","n":12345678901234567890}`)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			body = []byte(`<p>cat bob@example.com</p>`)
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			body = bytes.Repeat([]byte("cat "), rewriteCap/4+10)
		case "/echo":
			got, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Got-Query", r.URL.RawQuery)
			w.Header().Set("X-Got-Length", strconv.FormatInt(r.ContentLength, 10))
			w.Header().Set("X-Got-Encoding", r.Header.Get("Content-Encoding"))
			w.Header().Set("X-Got-Token", r.Header.Get("X-Token"))
			body = got
		}
		w.Header().Set("X-Version", "v1-beta")
		if r.URL.Query().Get("gzip") == "1" {
			w.Header().Set("Content-Encoding", "gzip")
			body = gzipBytes(t, body)
		}
		if r.URL.Query().Get("chunked") == "1" {
			half := len(body) / 2
			_, _ = w.Write(body[:half])
			_ = http.NewResponseController(w).Flush()
			body = body[half:]
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		if _, err := w.Write(body); err == nil {
			finished.Add(1)
		}
	})
	return m.origin(t, h).URL
}

type rwResult struct {
	status int
	header http.Header
	wire   []byte
}

func rwDo(t *testing.T, c *http.Client, method, url string, body []byte, hdr map[string]string) rwResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	// Asked for explicitly, so the client hands over the encoded bytes.
	req.Header.Set("Accept-Encoding", "gzip")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rwResult{status: resp.StatusCode, header: resp.Header, wire: b}
}

func TestRewriteRules(t *testing.T) {
	jsonOrig := `{"user":"bob@example.com","token":"s3cret","n":12345678901234567890}`
	type tc struct {
		name    string
		actions []rules.Action
		method  string
		path    string
		body    []byte
		hdr     map[string]string
		check   func(t *testing.T, r rwResult, f flow.Recorded)
	}
	cases := []tc{
		{
			name:    "replaceBody literal, Content-Length",
			actions: []rules.Action{{Type: rules.TypeReplaceBody, Phase: "response", Find: "bob", Replace: "alice"}},
			path:    "/json",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				want := strings.Replace(jsonOrig, "bob", "alice", 1)
				if string(r.wire) != want || r.header.Get("Content-Length") != strconv.Itoa(len(want)) {
					t.Errorf("served %q, Content-Length %q", r.wire, r.header.Get("Content-Length"))
				}
				if string(f.Bodies[flow.FacetUpstream]) != jsonOrig || string(f.Bodies[flow.FacetResponse]) != want {
					t.Errorf("recorded upstream %q served %q", f.Bodies[flow.FacetUpstream], f.Bodies[flow.FacetResponse])
				}
				if !f.Flow.ResponseBody.Complete || f.Flow.UpstreamBody == nil || !f.Flow.UpstreamBody.Complete {
					t.Errorf("bodies %+v %+v", f.Flow.ResponseBody, f.Flow.UpstreamBody)
				}
			},
		},
		{
			name:    "replaceBody regex groups, gzip, chunked",
			actions: []rules.Action{{Type: rules.TypeReplaceBody, Phase: "response", Find: `(\w+)@(?P<dom>[\w.]+)`, Replace: "${dom} at $1", Regex: true}},
			path:    "/json?gzip=1&chunked=1",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				want := strings.Replace(jsonOrig, "bob@example.com", "example.com at bob", 1)
				if r.header.Get("Content-Encoding") != "gzip" || gunzip(t, r.wire) != want {
					t.Errorf("served %q encoded %q", r.wire, r.header.Get("Content-Encoding"))
				}
				if r.header.Get("Content-Length") != strconv.Itoa(len(r.wire)) {
					t.Errorf("Content-Length %q for %d bytes", r.header.Get("Content-Length"), len(r.wire))
				}
				if gunzip(t, f.Bodies[flow.FacetUpstream]) != jsonOrig || gunzip(t, f.Bodies[flow.FacetResponse]) != want {
					t.Errorf("recorded upstream/served differ from what crossed")
				}
			},
		},
		{
			name:    "jsonPatch gzip",
			actions: []rules.Action{{Type: rules.TypeJSONPatch, Phase: "response", Patch: json.RawMessage(`{"token":null,"debug":true}`)}},
			path:    "/json?gzip=1",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if got := gunzip(t, r.wire); got != `{"user":"bob@example.com","n":12345678901234567890,"debug":true}` {
					t.Errorf("served %s", got)
				}
			},
		},
		{
			name:    "jsonPatch leaves HTML alone",
			actions: []rules.Action{{Type: rules.TypeJSONPatch, Phase: "response", Patch: json.RawMessage(`{"a":1}`)}},
			path:    "/html",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if string(r.wire) != `<p>cat bob@example.com</p>` || f.Flow.UpstreamBody != nil {
					t.Errorf("served %q, upstream facet %+v", r.wire, f.Flow.UpstreamBody)
				}
				if string(f.Bodies[flow.FacetResponse]) != string(r.wire) || !f.Flow.ResponseBody.Complete {
					t.Errorf("recorded %q %+v", f.Bodies[flow.FacetResponse], f.Flow.ResponseBody)
				}
			},
		},
		{
			name:    "over the cap passes unchanged",
			actions: []rules.Action{{Type: rules.TypeReplaceBody, Phase: "response", Find: "cat", Replace: "dog"}},
			path:    "/big?chunked=1",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if len(r.wire) != 4*(rewriteCap/4+10) || bytes.Contains(r.wire, []byte("dog")) {
					t.Errorf("served %d bytes, rewritten: %v", len(r.wire), bytes.Contains(r.wire, []byte("dog")))
				}
				if f.Flow.UpstreamBody != nil || len(f.Bodies[flow.FacetResponse]) != len(r.wire) || !f.Flow.ResponseBody.Complete {
					t.Errorf("upstream facet %+v, recorded %d bytes", f.Flow.UpstreamBody, len(f.Bodies[flow.FacetResponse]))
				}
			},
		},
		{
			name: "request phase: body (gzip), headers, query",
			actions: []rules.Action{
				{Type: rules.TypeReplaceBody, Phase: "request", Find: `"id":(\d+)`, Replace: `"id":"$1"`, Regex: true},
				{Type: rules.TypeReplaceHeaders, Phase: "request", Name: "x-tok*", Find: "old", Replace: "new"},
				{Type: rules.TypeSetQuery, Params: map[string]string{"page": "2", "new": "a b"}},
				{Type: rules.TypeRemoveQuery, Names: []string{"secret"}},
			},
			method: "POST",
			path:   "/echo?page=1&secret=x&keep=%7E",
			body:   gzipBytes(t, []byte(`{"id":42}`)),
			hdr:    map[string]string{"Content-Encoding": "gzip", "X-Token": "old-token"},
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if got := gunzip(t, r.wire); got != `{"id":"42"}` {
					t.Errorf("origin got body %q", got)
				}
				if r.header.Get("X-Got-Encoding") != "gzip" || r.header.Get("X-Got-Length") != strconv.Itoa(len(r.wire)) {
					t.Errorf("origin got encoding %q length %q (%d bytes)", r.header.Get("X-Got-Encoding"), r.header.Get("X-Got-Length"), len(r.wire))
				}
				if q := r.header.Get("X-Got-Query"); q != "page=2&keep=%7E&new=a+b" {
					t.Errorf("origin got query %q", q)
				}
				if r.header.Get("X-Got-Token") != "new-token" {
					t.Errorf("origin got X-Token %q", r.header.Get("X-Got-Token"))
				}
				up := f.Flow.UpstreamRequest
				if up == nil || !strings.HasSuffix(up.URL, "/echo?page=2&keep=%7E&new=a+b") || up.Header.Get("X-Token") != "new-token" ||
					up.Header.Get("Content-Length") != strconv.Itoa(len(r.wire)) {
					t.Errorf("upstream request %+v", up)
				}
				if !strings.HasSuffix(f.Flow.Request.URL, "/echo?page=1&secret=x&keep=%7E") || gunzip(t, f.Bodies[flow.FacetRequest]) != `{"id":42}` {
					t.Errorf("client request recorded as %s, body %q", f.Flow.Request.URL, f.Bodies[flow.FacetRequest])
				}
			},
		},
		{
			name:    "replaceHeaders response",
			actions: []rules.Action{{Type: rules.TypeReplaceHeaders, Phase: "response", Name: "X-Ver*", Find: `v(\d)-beta`, Replace: "v${1}", Regex: true}},
			path:    "/html",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if r.header.Get("X-Version") != "v1" || f.Flow.UpstreamResponse.Header.Get("X-Version") != "v1-beta" || f.Flow.Response.Header.Get("X-Version") != "v1" {
					t.Errorf("served X-Version %q, recorded %+v", r.header.Get("X-Version"), f.Flow.Response)
				}
			},
		},
		{
			name:    "setStatus keeps the body",
			actions: []rules.Action{{Type: rules.TypeSetStatus, Status: 404}},
			path:    "/json?gzip=1&chunked=1",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if r.status != 404 || gunzip(t, r.wire) != jsonOrig || f.Flow.UpstreamResponse.Status != 200 || f.Flow.Response.Status != 404 {
					t.Errorf("got %d %q", r.status, r.wire)
				}
			},
		},
		{
			name:    "setStatus 204 drops the body",
			actions: []rules.Action{{Type: rules.TypeSetStatus, Status: 204}},
			path:    "/json",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if r.status != 204 || len(r.wire) != 0 {
					t.Errorf("got %d %q", r.status, r.wire)
				}
			},
		},
		{
			name:    "override with status and headers keeps the gzip stream",
			actions: []rules.Action{{Type: rules.TypeOverride, Status: 503, Headers: map[string]string{"Retry-After": "5"}}},
			path:    "/json?gzip=1&chunked=1",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if r.status != 503 || r.header.Get("Retry-After") != "5" || gunzip(t, r.wire) != jsonOrig {
					t.Errorf("got %d %v %q", r.status, r.header, r.wire)
				}
				if f.Flow.UpstreamBody != nil || !bytes.Equal(f.Bodies[flow.FacetResponse], r.wire) {
					t.Errorf("upstream facet %+v", f.Flow.UpstreamBody)
				}
			},
		},
		{
			name: "override body then replaceBody on it",
			actions: []rules.Action{
				{Type: rules.TypeOverride, Body: str("hello cat")},
				{Type: rules.TypeReplaceBody, Phase: "response", Find: "cat", Replace: "dog"},
			},
			path: "/json?gzip=1",
			check: func(t *testing.T, r rwResult, f flow.Recorded) {
				if string(r.wire) != "hello dog" || r.header.Get("Content-Encoding") != "" {
					t.Errorf("got %q %v", r.wire, r.header)
				}
				if gunzip(t, f.Bodies[flow.FacetUpstream]) != jsonOrig || string(f.Bodies[flow.FacetResponse]) != "hello dog" {
					t.Errorf("recorded served %q", f.Bodies[flow.FacetResponse])
				}
			},
		},
	}
	for _, m := range []mode{modes[0], modes[2]} {
		t.Run(m.name, func(t *testing.T) {
			var finished atomic.Int64
			origin := rewriteOrigin(t, m, &finished)
			for _, tt := range cases {
				t.Run(tt.name, func(t *testing.T) {
					env := proxytest.Start(t, proxy.Config{
						Rules:          ruleSet(t, rules.Rule{ID: "rw", Actions: tt.actions}),
						RewriteBodyCap: rewriteCap,
					})
					method := tt.method
					if method == "" {
						method = "GET"
					}
					r := rwDo(t, m.client(t, env), method, origin+tt.path, tt.body, tt.hdr)
					f := env.Rec.WaitFinished(t, 1, 5e9)[0]
					if strings.Join(f.Flow.Rules, ",") != "rw" {
						t.Errorf("flow rules %v", f.Flow.Rules)
					}
					tt.check(t, r, f)
				})
			}
		})
	}
}

// A rewritten response's upstream body is read to its end: the origin
// connection goes back to the pool, so sequential requests share one.
func TestRewriteReadsUpstreamToTheEnd(t *testing.T) {
	var finished, conns atomic.Int64
	o := httptest.NewUnstartedServer(nil)
	o.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	h := http.NewServeMux()
	o.Config.Handler = h
	o.Start()
	t.Cleanup(o.Close)
	// The body handler of rewriteOrigin, behind this server.
	inner := rewriteOrigin(t, modes[0], &finished)
	h.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest("GET", inner+r.URL.RequestURI(), nil)
		req.Header.Set("Accept-Encoding", "gzip") // the encoded bytes, as they are
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		_, _ = io.Copy(w, resp.Body) // chunked to the proxy
	})
	env := proxytest.Start(t, proxy.Config{
		Rules: ruleSet(t, rules.Rule{ID: "rw", Actions: []rules.Action{
			{Type: rules.TypeReplaceBody, Phase: "response", Find: "cat", Replace: "dog"},
			{Type: rules.TypeJSONPatch, Phase: "response", Patch: json.RawMessage(`{"x":1}`)},
		}}),
		RewriteBodyCap: rewriteCap,
	})
	c := env.Client(t)
	const n = 4
	for i := range n {
		path := "/html?gzip=1"
		if i%2 == 1 {
			path = "/big" // over the cap: passes unchanged, read by the client
		}
		r := rwDo(t, c, "GET", o.URL+path, nil, nil)
		if i%2 == 0 && gunzip(t, r.wire) != "<p>dog bob@example.com</p>" {
			t.Errorf("request %d served %q", i, gunzip(t, r.wire))
		}
	}
	env.Rec.WaitFinished(t, n, 5e9)
	if got := finished.Load(); got != n {
		t.Errorf("origin finished %d bodies, want %d", got, n)
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("the proxy opened %d connections to the origin, want 1 (each body read to its end, the connection reused)", got)
	}
}
