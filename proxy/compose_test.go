package proxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// composeSaw is what an origin saw of one request.
type composeSaw struct {
	method, host, path, query string
	header                    http.Header
	body                      string
	contentLength             int64
	transferEncoding          []string
}

func composeOrigin(t *testing.T) (string, chan composeSaw) {
	t.Helper()
	saw := make(chan composeSaw, 8)
	o := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("origin read: %v", err)
		}
		saw <- composeSaw{method: r.Method, host: r.Host, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(),
			body: string(b), contentLength: r.ContentLength, transferEncoding: r.TransferEncoding}
		_, _ = io.WriteString(w, "composed answer")
	}))
	return o.URL, saw
}

// An edited request reaches the origin as edited (method, URL, query,
// fields, body) with framing computed by Loupe, goes through the rules like
// any request, and is recorded as composed from the flow it was edited
// from.
func TestComposeSendsTheEdit(t *testing.T) {
	originURL, saw := composeOrigin(t)
	env := proxytest.Start(t, proxy.Config{Rules: ruleSet(t,
		rules.Rule{ID: "tag", Match: rules.Match{Path: "/edited*"}, Actions: []rules.Action{{Type: "setRequestHeaders", Headers: map[string]string{"X-Rule": "on"}}}},
	)})
	resp, err := env.Client(t).Get(originURL + "/orig")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-saw
	orig := env.Rec.Last(t).Flow

	req := flow.Request{Method: "PATCH", URL: originURL + "/edited?q=1&r=two", Header: flow.Fields{
		{Name: "X-Edit", Value: "yes"},
		{Name: "Content-Type", Value: "application/json"},
		{Name: "Content-Length", Value: "999"},
		{Name: "Transfer-Encoding", Value: "chunked"},
		{Name: "Connection", Value: "close, X-Hop"},
		{Name: "X-Hop", Value: "1"},
		{Name: "Keep-Alive", Value: "timeout=5"},
		{Name: "Host", Value: "elsewhere.invalid"},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := env.Proxy.Compose(ctx, req, []byte(`{"a":1}`), &orig)
	if err != nil {
		t.Fatal(err)
	}
	got := <-saw
	if got.method != "PATCH" || got.path != "/edited" || got.query != "q=1&r=two" || got.body != `{"a":1}` ||
		got.contentLength != 7 || len(got.transferEncoding) != 0 || got.header.Get("X-Edit") != "yes" || got.header.Get("X-Rule") != "on" {
		t.Errorf("origin saw %+v", got)
	}
	for _, name := range []string{"Connection", "X-Hop", "Keep-Alive"} {
		if v := got.header.Get(name); v != "" {
			t.Errorf("origin saw %s: %q", name, v)
		}
	}
	if want := strings.TrimPrefix(originURL, "http://"); got.host != want {
		t.Errorf("origin saw Host %q, want the URL's %q", got.host, want)
	}
	fs := env.Rec.WaitFinished(t, 2, 5*time.Second)
	f := fs[1].Flow
	if f.ID != id || !f.Composed || f.ComposedFrom != orig.ID || f.ReplayOf != 0 || f.Client != "compose" {
		t.Errorf("composed flow: id %d (want %d) composed %v from %d replayOf %d client %q", f.ID, id, f.Composed, f.ComposedFrom, f.ReplayOf, f.Client)
	}
	if f.Response == nil || f.Response.Status != 200 || string(fs[1].Bodies[flow.FacetResponse]) != "composed answer" ||
		string(fs[1].Bodies[flow.FacetRequest]) != `{"a":1}` || strings.Join(f.Rules, ",") != "tag" {
		t.Errorf("composed flow %+v rules %v bodies %q", f.Response, f.Rules, fs[1].Bodies)
	}
}

// A request written from scratch has no origin flow; one without a body
// is sent without one (GET) or with a zero length (POST).
func TestComposeFromScratch(t *testing.T) {
	originURL, saw := composeOrigin(t)
	env := proxytest.Start(t, proxy.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, method := range []string{"GET", "POST"} {
		if _, err := env.Proxy.Compose(ctx, flow.Request{Method: method, URL: originURL + "/new"}, nil, nil); err != nil {
			t.Fatal(err)
		}
		got := <-saw
		if got.method != method || got.body != "" || got.contentLength != 0 || len(got.transferEncoding) != 0 {
			t.Errorf("%s: origin saw %+v", method, got)
		}
		f := env.Rec.WaitFinished(t, i+1, 5*time.Second)[i].Flow
		if !f.Composed || f.ComposedFrom != 0 {
			t.Errorf("%s: composed %v from %d", method, f.Composed, f.ComposedFrom)
		}
	}
}

// Edited from a flow that went through a tunnel to another address than its
// URL says: while the edit keeps the URL's scheme, host and port, it goes
// there too; once it names another host, it goes where its URL says.
func TestComposeKeepsTheDestinationOfItsOrigin(t *testing.T) {
	targetURL, sawTarget := composeOrigin(t)
	otherURL, sawOther := composeOrigin(t)
	env := proxytest.Start(t, proxy.Config{})
	target := strings.TrimPrefix(targetURL, "http://")
	from := &flow.Flow{ID: 77, Request: flow.Request{Method: "GET", URL: "http://b.invalid/r", Proto: "HTTP/1.1"},
		Tunnel: &flow.Tunnel{Target: target}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if _, err := env.Proxy.Compose(ctx, flow.Request{Method: "GET", URL: "http://b.invalid/edited"}, nil, from); err != nil {
		t.Fatal(err)
	}
	if got := <-sawTarget; got.host != "b.invalid" || got.path != "/edited" {
		t.Errorf("tunnel target saw %+v", got)
	}
	f := env.Rec.WaitFinished(t, 1, 5*time.Second)[0].Flow
	if f.Tunnel == nil || f.Tunnel.Target != target || f.ComposedFrom != 77 {
		t.Errorf("flow tunnel %+v from %d", f.Tunnel, f.ComposedFrom)
	}

	if _, err := env.Proxy.Compose(ctx, flow.Request{Method: "GET", URL: otherURL + "/moved"}, nil, from); err != nil {
		t.Fatal(err)
	}
	if got := <-sawOther; got.path != "/moved" {
		t.Errorf("other origin saw %+v", got)
	}
	select {
	case got := <-sawTarget:
		t.Errorf("the original's target was reached: %+v", got)
	default:
	}
}

// Requests the pipeline cannot send are refused before anything is
// recorded.
func TestComposeRefuses(t *testing.T) {
	env := proxytest.Start(t, proxy.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name string
		req  flow.Request
	}{
		{"websocket URL", flow.Request{Method: "GET", URL: "ws://a.invalid/"}},
		{"no host", flow.Request{Method: "GET", URL: "http:///x"}},
		{"relative", flow.Request{Method: "GET", URL: "/x"}},
		{"credentials", flow.Request{Method: "GET", URL: "http://u:p@a.invalid/"}},
		{"CONNECT", flow.Request{Method: "CONNECT", URL: "http://a.invalid/"}},
		{"no method", flow.Request{URL: "http://a.invalid/"}},
		{"upgrade", flow.Request{Method: "GET", URL: "http://a.invalid/", Header: flow.Fields{{Name: "Connection", Value: "Upgrade"}, {Name: "Upgrade", Value: "websocket"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := env.Proxy.Compose(ctx, tt.req, nil, nil); !errors.Is(err, proxy.ErrNotReplayable) {
				t.Errorf("Compose = %v, want ErrNotReplayable", err)
			}
		})
	}
	if n := len(env.Rec.Flows()); n != 0 {
		t.Errorf("%d flows recorded", n)
	}
}

// A composed request aimed at the dashboard is refused like a client's,
// and the dashboard never sees it.
func TestComposeRefusesTheDashboard(t *testing.T) {
	hits := make(chan string, 1)
	dash := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits <- r.URL.Path }))
	env := proxytest.Start(t, proxy.Config{DashboardAddr: dash.Listener.Addr().String()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := env.Proxy.Compose(ctx, flow.Request{Method: "DELETE", URL: dash.URL + "/api/flows"}, nil, nil); !errors.Is(err, proxy.ErrNotReplayable) || !strings.Contains(err.Error(), "dashboard") {
		t.Errorf("Compose = %v, want a refusal naming the dashboard", err)
	}
	select {
	case p := <-hits:
		t.Errorf("the dashboard was reached: %s", p)
	default:
	}
}
