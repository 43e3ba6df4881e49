package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
)

// fakeComposer records a composed request as a new flow in the store, as
// the core does, and keeps what it was given.
type fakeComposer struct {
	st *store.Store

	mu    sync.Mutex
	calls []composeCall
}

type composeCall struct {
	req         flow.Request
	body        string
	from        *flow.Flow
	breakpoints bool
}

func (c *fakeComposer) Compose(ctx context.Context, req flow.Request, body []byte, from *flow.Flow, breakpoints bool) (flow.ID, error) {
	c.mu.Lock()
	c.calls = append(c.calls, composeCall{req, string(body), from, breakpoints})
	c.mu.Unlock()
	if strings.Contains(req.URL, "unreachable") {
		return 0, errors.New("compose: dial tcp: connection refused")
	}
	h := c.st.Begin("compose", req, time.Now())
	var id flow.ID
	if from != nil {
		id = from.ID
	}
	h.Composed(id)
	h.Body(flow.FacetRequest, body)
	h.BodyEnd(flow.FacetRequest)
	h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1"})
	h.Finish(time.Now(), nil)
	return h.ID(), nil
}

func (c *fakeComposer) last(t *testing.T) composeCall {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.calls) == 0 {
		t.Fatal("nothing composed")
	}
	return c.calls[len(c.calls)-1]
}

func (c *fakeComposer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// newComposeEnv is newEnv with a Composer behind the dashboard.
func newComposeEnv(t *testing.T) (*env, *fakeComposer) {
	t.Helper()
	var fc *fakeComposer
	e := newEnvDeps(t, func(d *Deps) {
		fc = &fakeComposer{st: d.Store.(*store.Store)}
		d.Composer = fc
	})
	return e, fc
}

// An edited request is handed to the core with its link, its body as text
// or base64, and without the fields Loupe computes per hop (named in the
// answer); the new flow is linked to its origin.
func TestCompose(t *testing.T) {
	e, fc := newComposeEnv(t)
	orig := e.add(flowSpec{method: "POST", url: "https://a.test/submit", status: 200, reqBody: "a=1"})

	got := decode[ComposeAnswer](t, e.do("POST", "/api/compose", strings.NewReader(fmt.Sprintf(`{
		"method": "PUT", "url": "https://a.test/submit?x=1#frag", "from": %d,
		"headers": [{"name": "X-Edit", "value": "1"}, {"name": "Content-Length", "value": "3"},
			{"name": "Connection", "value": "keep-alive, X-Per-Hop"}, {"name": "X-Per-Hop", "value": "y"},
			{"name": "host", "value": "a.test:443"}, {"name": "TE", "value": "trailers"},
			{"name": "Transfer-Encoding", "value": "chunked"}, {"name": "Content-Type", "value": "application/json"}],
		"body": "{\"b\":2}"}`, orig))), http.StatusCreated)
	if got.ID == 0 || got.ID == orig {
		t.Fatalf("compose id = %d", got.ID)
	}
	if want := "Content-Length,Connection,X-Per-Hop,host,Transfer-Encoding"; strings.Join(got.Dropped, ",") != want {
		t.Errorf("dropped = %v, want %s", got.Dropped, want)
	}
	call := fc.last(t)
	if call.req.Method != "PUT" || call.req.URL != "https://a.test/submit?x=1" || call.body != `{"b":2}` || call.from == nil || call.from.ID != orig {
		t.Errorf("core got %+v body %q from %v", call.req, call.body, call.from)
	}
	if want := (flow.Fields{{Name: "X-Edit", Value: "1"}, {Name: "TE", Value: "trailers"}, {Name: "Content-Type", Value: "application/json"}}); fmt.Sprint(call.req.Header) != fmt.Sprint(want) {
		t.Errorf("core got headers %v, want %v", call.req.Header, want)
	}
	fl := decode[flow.Flow](t, e.do("GET", fmt.Sprintf("/api/flows/%d", got.ID), nil), 200)
	if !fl.Composed || fl.ComposedFrom != orig {
		t.Errorf("new flow composed %v from %d, want from %d", fl.Composed, fl.ComposedFrom, orig)
	}
	list := decode[FlowPage](t, e.do("GET", "/api/flows", nil), 200)
	if s := list.Flows[len(list.Flows)-1]; s.ID != got.ID || !s.Composed || s.ComposedFrom != orig {
		t.Errorf("list row %+v", s)
	}

	// From scratch, a binary body, the method left to its default.
	got = decode[ComposeAnswer](t, e.do("POST", "/api/compose", strings.NewReader(
		`{"url": "http://b.test/up", "bodyBase64": "AAH+/w=="}`)), http.StatusCreated)
	call = fc.last(t)
	if call.req.Method != "GET" || call.body != "\x00\x01\xfe\xff" || call.from != nil || len(got.Dropped) != 0 || call.breakpoints {
		t.Errorf("from scratch: core got %+v body %q from %v, dropped %v, breakpoints %v", call.req, call.body, call.from, got.Dropped, call.breakpoints)
	}

	// Asked for, breakpoint rules may hold it.
	decode[ComposeAnswer](t, e.do("POST", "/api/compose", strings.NewReader(`{"url": "http://b.test/held", "breakpoints": true}`)), http.StatusCreated)
	if call = fc.last(t); !call.breakpoints || call.req.URL != "http://b.test/held" {
		t.Errorf("breakpoints asked for: core got %+v, breakpoints %v", call.req, call.breakpoints)
	}

	// The original gone meanwhile: the request still goes, linked.
	decode[ComposeAnswer](t, e.do("POST", "/api/compose", strings.NewReader(`{"url": "http://b.test/", "from": 9999}`)), http.StatusCreated)
	if call = fc.last(t); call.from == nil || call.from.ID != 9999 || call.from.Request.URL != "" {
		t.Errorf("gone original: from %+v", call.from)
	}

	if resp := e.do("POST", "/api/compose", strings.NewReader(`{"url": "http://unreachable.test/"}`)); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("core failure = %d, want 502", resp.StatusCode)
	}
}

// Bad requests are answered 400 naming the field, and never reach the core.
func TestComposeRefusesBadRequests(t *testing.T) {
	e, fc := newComposeEnv(t)
	tests := []struct {
		name, body, field, want string
	}{
		{"no url", `{"method": "GET"}`, "url", "required"},
		{"relative url", `{"url": "/path"}`, "url", "not absolute"},
		{"ftp", `{"url": "ftp://a.test/"}`, "url", "only http and https"},
		{"websocket", `{"url": "wss://a.test/"}`, "url", "WebSocket"},
		{"no host", `{"url": "http:///x"}`, "url", "no host"},
		{"credentials", `{"url": "http://u:p@a.test/"}`, "url", "Authorization"},
		{"bad url", `{"url": "http://a.test/%zz"}`, "url", "not a URL"},
		{"bad method", `{"method": "GE T", "url": "http://a.test/"}`, "method", "not an HTTP method"},
		{"connect", `{"method": "CONNECT", "url": "http://a.test/"}`, "method", "tunnel"},
		{"bad header name", `{"url": "http://a.test/", "headers": [{"name": "X-Ok", "value": "1"}, {"name": "Bad Name", "value": "1"}]}`, "headers[1].name", "not a valid header name"},
		{"pseudo-header", `{"url": "http://a.test/", "headers": [{"name": ":authority", "value": "a.test"}]}`, "headers[0].name", "not a valid header name"},
		{"header injection", `{"url": "http://a.test/", "headers": [{"name": "X-A", "value": "1\r\nX-B: 2"}]}`, "headers[0].value", "control characters"},
		{"other host", `{"url": "http://a.test/", "headers": [{"name": "Host", "value": "b.test"}]}`, "headers[0].value", "put the host in the URL"},
		{"two bodies", `{"url": "http://a.test/", "body": "x", "bodyBase64": "eA=="}`, "bodyBase64", "not both"},
		{"bad base64", `{"url": "http://a.test/", "bodyBase64": "!!"}`, "bodyBase64", "base64"},
		{"unknown field", `{"url": "http://a.test/", "bdy": "x"}`, "", "unknown field"},
		{"not json", `url=http://a.test/`, "", "invalid character"},
		{"two objects", `{"url": "http://a.test/"} {}`, "", "one JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decode[ErrorBody](t, e.do("POST", "/api/compose", strings.NewReader(tt.body)), http.StatusBadRequest)
			if got.Field != tt.field || !strings.Contains(got.Error, tt.want) {
				t.Errorf("answer %+v, want field %q and %q in the message", got, tt.field, tt.want)
			}
		})
	}
	if n := fc.count(); n != 0 {
		t.Errorf("the core was called %d times", n)
	}
}

// Without a Composer (a dashboard over an imported capture) compose is not
// available; the route wants the token like every other.
func TestComposeUnavailableAndGuarded(t *testing.T) {
	e := newEnv(t, nil)
	if resp := e.do("POST", "/api/compose", strings.NewReader(`{"url": "http://a.test/"}`)); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("no composer = %d, want 501", resp.StatusCode)
	}
	if resp := e.do("POST", "/api/compose", strings.NewReader(`{"url": "http://a.test/"}`), "Authorization", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token = %d, want 401", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/compose", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET = %d, want 405", resp.StatusCode)
	}
}
