package proxy_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// breakRule is a breakpoint rule on paths matching path.
func breakRule(id, path string, a rules.Action) rules.Rule {
	a.Type = rules.TypeBreakpoint
	return rules.Rule{ID: id, Enabled: true, Match: rules.Match{Path: path}, Actions: []rules.Action{a}}
}

// startBP runs a proxy with rs and one dashboard connected.
func startBP(t *testing.T, cfg proxy.Config, rs ...rules.Rule) *proxytest.Env {
	t.Helper()
	if cfg.Rules == nil {
		cfg.Rules = ruleSet(t, rs...)
	}
	env := proxytest.Start(t, cfg)
	env.Proxy.SetViewers(1)
	return env
}

// heldWatch reports the held list as it changes.
type heldWatch struct {
	p  *proxy.Proxy
	ch chan struct{}
}

func watchHeld(t *testing.T, p *proxy.Proxy) *heldWatch {
	w := &heldWatch{p: p, ch: make(chan struct{}, 1)}
	cancel := p.WatchHeld(func() {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	})
	t.Cleanup(cancel)
	return w
}

// wait returns the held list once it has n exchanges.
func (w *heldWatch) wait(t *testing.T, n int) []flow.Held {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		if hs := w.p.Held(); len(hs) == n {
			return hs
		}
		select {
		case <-w.ch:
		case <-timeout:
			t.Fatalf("held = %+v after 10s, want %d exchanges", w.p.Held(), n)
		}
	}
}

// bpAnswer is what a client got.
type bpAnswer struct {
	status int
	header http.Header
	body   string
	err    error
}

// goDo sends req through c in the background.
func goDo(c *http.Client, req *http.Request) <-chan bpAnswer {
	ch := make(chan bpAnswer, 1)
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			ch <- bpAnswer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- bpAnswer{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan bpAnswer) bpAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(15 * time.Second):
		t.Fatal("no bpAnswer after 15s")
	}
	return bpAnswer{}
}

// flowOf waits for flow id to finish and returns it.
func flowOf(t *testing.T, rec *proxytest.Recorder, id flow.ID) flow.Recorded {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, f := range rec.Flows() {
			if f.Flow.ID == id && f.Flow.State != flow.StatePending {
				return f
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow %d not finished", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bpOrigin answers "origin <method> <path> <body>" and counts calls.
type bpOrigin struct {
	calls atomic.Int64
	mu    sync.Mutex
	last  *http.Request
	body  string
}

func (o *bpOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	b, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	o.last, o.body = r.Clone(context.Background()), string(b)
	o.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Origin", "1")
	fmt.Fprintf(w, "origin %s %s %s", r.Method, r.URL.RequestURI(), b)
}

func (o *bpOrigin) seen() (*http.Request, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.body
}

// A held request has not been sent: the origin is called only once it is
// released, and every action on the request phase does what it says.
func TestBreakpointRequestPhase(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			o := &bpOrigin{}
			other := &bpOrigin{}
			origin := m.origin(t, o)
			otherOrigin := m.origin(t, other)
			env := startBP(t, proxy.Config{}, breakRule("bp", "/held*", rules.Action{}))
			w := watchHeld(t, env.Proxy)
			c := m.client(t, env)

			t.Run("continue", func(t *testing.T) {
				ch := goDo(c, mustReq(t, "GET", origin.URL+"/held/a", ""))
				hs := w.wait(t, 1)
				if o.calls.Load() != 0 {
					t.Fatal("the origin was called while the request was held")
				}
				h := hs[0]
				if h.Phase != "request" || h.Rule != "bp" || h.Request.Method != "GET" || !strings.HasSuffix(h.Request.URL, "/held/a") ||
					h.OnTimeout != "continue" || h.RemainingMs <= 0 || h.Request.Headers.Get("Via") == "" {
					t.Errorf("held %+v", h)
				}
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
					t.Fatal(err)
				}
				a := recv(t, ch)
				if a.err != nil || a.status != 200 || a.body != "origin GET /held/a " {
					t.Fatalf("bpAnswer %+v", a)
				}
				f := flowOf(t, env.Rec, h.ID).Flow
				st := f.Breakpoint.Request
				if f.Breakpoint.Rule != "bp" || st == nil || st.Action != flow.ReleaseContinue || st.By != flow.ByDashboard || st.Released.Before(st.Held) {
					t.Errorf("breakpoint %+v %+v", f.Breakpoint, st)
				}
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); !errors.Is(err, flow.ErrNotHeld) {
					t.Errorf("second release = %v, want ErrNotHeld", err)
				}
			})

			t.Run("execute", func(t *testing.T) {
				req := mustReq(t, "POST", origin.URL+"/held/b?q=1", "original body")
				req.Header.Set("X-Keep", "k")
				ch := goDo(c, req)
				h := w.wait(t, 1)[0]
				if h.Request.Body == nil || *h.Request.Body != "original body" || h.Request.Truncated {
					t.Fatalf("held body %+v", h.Request)
				}
				// A bad edit is refused and leaves the request held.
				bad := &flow.Message{Headers: flow.Fields{{Name: "Bad Name", Value: "x"}}}
				var ee *flow.EditError
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseExecute, Edit: bad}); !errors.As(err, &ee) || ee.Field != "headers" {
					t.Fatalf("bad edit = %v", err)
				}
				w.wait(t, 1)
				hdrs := append(flow.Fields{}, h.Request.Headers...)
				hdrs = append(hdrs, flow.Field{Name: "X-Edited", Value: "yes"}, flow.Field{Name: "Connection", Value: "close"})
				body := "edited body, longer than before"
				edit := &flow.Message{Method: "PUT", URL: otherOrigin.URL + "/elsewhere?x=2", Headers: hdrs, Body: &body}
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseExecute, Edit: edit}); err != nil {
					t.Fatal(err)
				}
				a := recv(t, ch)
				if a.err != nil || a.body != "origin PUT /elsewhere?x=2 "+body {
					t.Fatalf("bpAnswer %+v", a)
				}
				if o.calls.Load() != 1 {
					t.Errorf("first origin called %d times, want 1 (only by continue)", o.calls.Load())
				}
				saw, _ := other.seen()
				if saw.Header.Get("X-Edited") != "yes" || saw.Header.Get("X-Keep") != "k" || saw.Header.Get("Connection") != "" ||
					saw.ContentLength != int64(len(body)) || !strings.Contains(saw.Header.Get("Via"), "loupe-") {
					t.Errorf("origin saw %v (length %d)", saw.Header, saw.ContentLength)
				}
				f := flowOf(t, env.Rec, h.ID)
				st := f.Flow.Breakpoint.Request
				if st.Action != flow.ReleaseExecute || !contains(st.Changed, "Content-Length") || !contains(st.Changed, "Connection") {
					t.Errorf("stop %+v", st)
				}
				if st.Edit == nil || ptr(st.Edit.Body) != body || st.Edit.Method != "PUT" {
					t.Errorf("recorded edit %+v", st.Edit)
				}
				up := f.Flow.UpstreamRequest
				if up == nil || up.Method != "PUT" || !strings.HasSuffix(up.URL, "/elsewhere?x=2") || up.Header.Get("X-Edited") != "yes" {
					t.Errorf("upstream request %+v", up)
				}
				if f.Flow.Request.Method != "POST" || string(f.Bodies[flow.FacetRequest]) != "original body" {
					t.Errorf("original request %s %q", f.Flow.Request.Method, f.Bodies[flow.FacetRequest])
				}
			})

			t.Run("respond", func(t *testing.T) {
				ch := goDo(c, mustReq(t, "GET", origin.URL+"/held/c", ""))
				h := w.wait(t, 1)[0]
				body := "answered at the breakpoint"
				edit := &flow.Message{Status: 418, Headers: flow.Fields{{Name: "Content-Type", Value: "text/plain"}, {Name: "Content-Length", Value: "3"}}, Body: &body}
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseRespond, Edit: edit}); err != nil {
					t.Fatal(err)
				}
				a := recv(t, ch)
				if a.err != nil || a.status != 418 || a.body != body {
					t.Fatalf("bpAnswer %+v", a)
				}
				f := flowOf(t, env.Rec, h.ID).Flow
				if o.calls.Load() != 1 || f.UpstreamRequest != nil || f.Response.Status != 418 {
					t.Errorf("origin calls %d, upstream %+v, response %+v", o.calls.Load(), f.UpstreamRequest, f.Response)
				}
				if st := f.Breakpoint.Request; st.Action != flow.ReleaseRespond || st.Status != 418 || !contains(st.Changed, "Content-Length") {
					t.Errorf("stop %+v", st)
				}
			})

			t.Run("abort with status", func(t *testing.T) {
				ch := goDo(c, mustReq(t, "GET", origin.URL+"/held/d", ""))
				h := w.wait(t, 1)[0]
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseAbort, Status: 503}); err != nil {
					t.Fatal(err)
				}
				a := recv(t, ch)
				if a.err != nil || a.status != 503 || !strings.Contains(a.body, "aborted at a breakpoint") {
					t.Fatalf("bpAnswer %+v", a)
				}
				f := flowOf(t, env.Rec, h.ID).Flow
				if f.State != flow.StateError || !strings.Contains(f.Error, "aborted at a breakpoint") || f.Breakpoint.Request.Status != 503 {
					t.Errorf("flow %s %q %+v", f.State, f.Error, f.Breakpoint.Request)
				}
			})

			t.Run("abort", func(t *testing.T) {
				calls := o.calls.Load()
				// A POST: the client must not send it again on its own
				// when its connection is cut.
				ch := goDo(c, mustReq(t, "POST", origin.URL+"/held/e", "x"))
				h := w.wait(t, 1)[0]
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseAbort}); err != nil {
					t.Fatal(err)
				}
				if a := recv(t, ch); a.err == nil {
					t.Fatalf("answer %+v, want the connection cut", a)
				}
				if o.calls.Load() != calls {
					t.Errorf("origin called for an aborted request")
				}
				f := flowOf(t, env.Rec, h.ID).Flow
				if f.State != flow.StateError || f.Breakpoint.Request.Action != flow.ReleaseAbort || f.Response != nil {
					t.Errorf("flow %s %q %+v, response %+v (none was served)", f.State, f.Error, f.Breakpoint.Request, f.Response)
				}
			})
		})
	}
}

func mustReq(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = io.WriteString(zw, s)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(out)
}

// A held response is shown decoded; an edit is re-encoded to its
// Content-Encoding (or sent as it is when the person cleared it), framed
// anew, and the flow keeps the original as the upstream body.
func TestBreakpointResponsePhase(t *testing.T) {
	const original = `{"user": "ada", "admin": false}`
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			wire := gz(t, original)
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Length", fmt.Sprint(len(wire)))
				_, _ = w.Write(wire)
			}))
			env := startBP(t, proxy.Config{}, breakRule("bp", "/r*", rules.Action{Phase: rules.PhaseResponse}))
			w := watchHeld(t, env.Proxy)
			c := m.client(t, env)

			t.Run("execute re-encodes", func(t *testing.T) {
				ch := goDo(c, mustReq(t, "GET", origin.URL+"/r/1", ""))
				h := w.wait(t, 1)[0]
				if h.Phase != "response" || h.Response == nil || h.Response.Status != 200 || h.Response.Body == nil || *h.Response.Body != original {
					t.Fatalf("held %+v", h)
				}
				edited := `{"user": "ada", "admin": true}`
				hdrs := append(flow.Fields{}, h.Response.Headers...)
				hdrs = append(hdrs, flow.Field{Name: "X-Edited", Value: "1"})
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseExecute, Edit: &flow.Message{Status: 201, Headers: hdrs, Body: &edited}}); err != nil {
					t.Fatal(err)
				}
				a := recv(t, ch)
				if a.err != nil || a.status != 201 || a.header.Get("Content-Encoding") != "gzip" || a.header.Get("X-Edited") != "1" {
					t.Fatalf("bpAnswer %+v", a)
				}
				if got := gunzip(t, []byte(a.body)); got != edited {
					t.Errorf("client got %q, want %q", got, edited)
				}
				if cl := a.header.Get("Content-Length"); !m.h2 && cl != fmt.Sprint(len(a.body)) {
					t.Errorf("Content-Length %s for %d bytes", cl, len(a.body))
				}
				f := flowOf(t, env.Rec, h.ID)
				if !bytes.Equal(f.Bodies[flow.FacetUpstream], wire) || f.Flow.UpstreamBody == nil || !f.Flow.UpstreamBody.Complete {
					t.Errorf("upstream body %q %+v, want the origin's", f.Bodies[flow.FacetUpstream], f.Flow.UpstreamBody)
				}
				if gunzip(t, f.Bodies[flow.FacetResponse]) != edited || f.Flow.Response.Status != 201 || f.Flow.UpstreamResponse.Status != 200 {
					t.Errorf("served %d %q", f.Flow.Response.Status, f.Bodies[flow.FacetResponse])
				}
				if st := f.Flow.Breakpoint.Response; st.Action != flow.ReleaseExecute || !contains(st.Changed, "Content-Length") {
					t.Errorf("stop %+v", st)
				}
			})

			t.Run("execute without the encoding", func(t *testing.T) {
				ch := goDo(c, mustReq(t, "GET", origin.URL+"/r/2", ""))
				h := w.wait(t, 1)[0]
				var hdrs flow.Fields
				for _, f := range h.Response.Headers {
					if f.Name != "Content-Encoding" {
						hdrs = append(hdrs, f)
					}
				}
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseExecute, Edit: &flow.Message{Headers: hdrs}}); err != nil {
					t.Fatal(err)
				}
				a := recv(t, ch)
				if a.err != nil || a.header.Get("Content-Encoding") != "" || a.body != original {
					t.Fatalf("bpAnswer %+v, want the body decoded", a)
				}
			})

			t.Run("continue", func(t *testing.T) {
				ch := goDo(c, mustReq(t, "GET", origin.URL+"/r/3", ""))
				h := w.wait(t, 1)[0]
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseRespond}); err == nil {
					t.Fatal("respond accepted for a held response")
				}
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
					t.Fatal(err)
				}
				a := recv(t, ch)
				if a.err != nil || a.body != string(wire) {
					t.Fatalf("bpAnswer %+v", a)
				}
				f := flowOf(t, env.Rec, h.ID)
				if f.Flow.UpstreamBody != nil || !bytes.Equal(f.Bodies[flow.FacetResponse], wire) || !f.Flow.ResponseBody.Complete {
					t.Errorf("bodies: upstream %+v, served %q %+v", f.Flow.UpstreamBody, f.Bodies[flow.FacetResponse], f.Flow.ResponseBody)
				}
			})
		})
	}
}

// After a held response, an HTTP/1.1 client's keep-alive connection
// carries its next request.
func TestBreakpointKeepAliveReused(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	env := startBP(t, proxy.Config{}, breakRule("bp", "/held", rules.Action{Phase: rules.PhaseBoth}))
	w := watchHeld(t, env.Proxy)
	c := env.Client(t)

	var reused []bool
	do := func(path string, held bool) {
		t.Helper()
		var info httptrace.GotConnInfo
		req := mustReq(t, "GET", origin.URL+path, "")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { info = i }}))
		ch := goDo(c, req)
		if held {
			for _, phase := range []string{"request", "response"} {
				h := w.wait(t, 1)[0]
				if h.Phase != phase {
					t.Fatalf("held in %s, want %s", h.Phase, phase)
				}
				if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if a := recv(t, ch); a.err != nil || a.status != 200 {
			t.Fatalf("%s: %+v", path, a)
		}
		reused = append(reused, info.Reused)
	}
	do("/held", true)
	do("/free", false)
	do("/held", true)
	if !reused[1] || !reused[2] {
		t.Errorf("connection reused %v, want every request after the first on the same connection", reused)
	}
	if hits := env.Proxy.BreakpointHits()["bp"]; hits != 2 {
		t.Errorf("hits = %d, want 2 (one per exchange, both phases held)", hits)
	}
}

// Over HTTP/2, a held stream waits alone: another stream on the same
// connection completes meanwhile.
func TestBreakpointH2OneStreamWaits(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.TLSOrigin(t, o)
	env := startBP(t, proxy.Config{}, breakRule("bp", "/held", rules.Action{Phase: rules.PhaseResponse}))
	w := watchHeld(t, env.Proxy)
	c := &http.Client{Transport: env.Transport(t, true), Timeout: 20 * time.Second}

	// The connection exists before the held request, so both streams use it.
	if resp, err := c.Get(origin.URL + "/warm"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	ch := goDo(c, mustReq(t, "GET", origin.URL+"/held", ""))
	h := w.wait(t, 1)[0]
	var info httptrace.GotConnInfo
	req := mustReq(t, "GET", origin.URL+"/free", "")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { info = i }}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || !info.Reused || string(b) != "origin GET /free " {
		t.Fatalf("second stream: proto %s reused %v body %q", resp.Proto, info.Reused, b)
	}
	if hs := env.Proxy.Held(); len(hs) != 1 || hs[0].ID != h.ID {
		t.Fatalf("held %+v: the first stream must still be waiting", hs)
	}
	if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, ch); a.err != nil || a.body != "origin GET /held " {
		t.Fatalf("held stream: %+v", a)
	}
}

// A WebSocket upgrade goes through the one pipeline: a request breakpoint
// holds it, and its flow gets timings and the header handling of every
// exchange (Via, the client's spelling of header names).
func TestBreakpointWebSocketPipeline(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "ws", true: "wss"}[secure]
		t.Run(name, func(t *testing.T) {
			var saw headerSaw
			up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				saw.set(r.Header)
				c, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				for {
					op, msg, err := c.ReadMessage()
					if err != nil || c.WriteMessage(op, msg) != nil {
						return
					}
				}
			})
			var origin *httptest.Server
			if secure {
				origin = httptest.NewTLSServer(h)
				t.Cleanup(origin.Close)
			} else {
				origin = proxytest.Origin(t, h)
			}
			env := startBP(t, proxy.Config{}, rules.Rule{ID: "bp", Enabled: true, Match: rules.Match{Scheme: name},
				Actions: []rules.Action{{Type: rules.TypeBreakpoint, Phase: rules.PhaseBoth}}})
			w := watchHeld(t, env.Proxy)
			d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), TLSClientConfig: &tls.Config{RootCAs: env.CA.Pool()}, HandshakeTimeout: 10 * time.Second}
			u := name + strings.TrimPrefix(strings.TrimPrefix(origin.URL, "https"), "http") + "/socket"
			type dialed struct {
				c   *websocket.Conn
				err error
			}
			ch := make(chan dialed, 1)
			go func() {
				c, _, err := d.Dial(u, http.Header{"x-lower-case": {"1"}})
				ch <- dialed{c, err}
			}()
			held := w.wait(t, 1)[0]
			if held.Phase != "request" || saw.get() != nil {
				t.Fatalf("held %+v; origin saw %v", held, saw.get())
			}
			if err := env.Proxy.Release(held.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
				t.Fatal(err)
			}
			dl := <-ch
			if dl.err != nil {
				t.Fatal(dl.err)
			}
			c := dl.c
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
				t.Fatalf("echo %q %v", msg, err)
			}
			c.Close()
			f := flowOf(t, env.Rec, held.ID).Flow
			if !strings.Contains(saw.get().Get("Via"), "loupe-") {
				t.Errorf("origin saw Via %q", saw.get().Get("Via"))
			}
			if f.UpstreamRequest == nil || !hasName(f.UpstreamRequest.Header, "x-lower-case") {
				t.Errorf("upstream request headers %v: want the client's spelling", f.UpstreamRequest)
			}
			tm := f.Timings
			if tm.Connect < 0 || tm.Wait < 0 || (secure && tm.TLS < 0) {
				t.Errorf("timings %+v: want connect, wait (and TLS) measured", tm)
			}
			if f.Response == nil || f.Response.Status != 101 || f.Breakpoint.Response != nil || f.Breakpoint.Request.Action != flow.ReleaseContinue {
				t.Errorf("response %+v breakpoint %+v", f.Response, f.Breakpoint)
			}
		})
	}
}

func hasName(fs flow.Fields, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// A timeout releases a held exchange with the breakpoint's onTimeout
// action.
func TestBreakpointTimeout(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	env := startBP(t, proxy.Config{},
		breakRule("go-on", "/continue", rules.Action{TimeoutMs: 1}),
		breakRule("stop", "/abort", rules.Action{TimeoutMs: 1, OnTimeout: rules.OnTimeoutAbort, Phase: rules.PhaseResponse}))
	c := env.Client(t)
	if a := recv(t, goDo(c, mustReq(t, "GET", origin.URL+"/continue", ""))); a.err != nil || a.body != "origin GET /continue " {
		t.Fatalf("continue on timeout: %+v", a)
	}
	f := env.Rec.Last(t).Flow
	if st := f.Breakpoint.Request; st == nil || st.By != flow.ByTimeout || st.Action != flow.ReleaseContinue {
		t.Errorf("stop %+v", st)
	}
	if a := recv(t, goDo(c, mustReq(t, "POST", origin.URL+"/abort", "x"))); a.err == nil {
		t.Fatalf("abort on timeout: %+v, want the connection cut", a)
	}
	f = env.Rec.Last(t).Flow
	if st := f.Breakpoint.Response; st == nil || st.By != flow.ByTimeout || st.Action != flow.ReleaseAbort || f.State != flow.StateError {
		t.Errorf("stop %+v, flow %s %q", st, f.State, f.Error)
	}
}

// With no dashboard connected a breakpoint holds nothing and says so on
// the flow; when the last dashboard leaves, held exchanges take their
// timeout action after the grace period, unless one comes back.
func TestBreakpointNobodyWatching(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	t.Run("none connected", func(t *testing.T) {
		env := startBP(t, proxy.Config{}, breakRule("bp", "/*", rules.Action{}))
		env.Proxy.SetViewers(0)
		if a := recv(t, goDo(env.Client(t), mustReq(t, "GET", origin.URL+"/x", ""))); a.err != nil || a.status != 200 {
			t.Fatalf("%+v", a)
		}
		f := env.Rec.Last(t).Flow
		if f.Breakpoint == nil || f.Breakpoint.Skipped != "no dashboard connected" || f.Breakpoint.Request != nil || f.Summary().Breakpoint != "skipped" {
			t.Errorf("breakpoint %+v", f.Breakpoint)
		}
	})
	t.Run("last one leaves", func(t *testing.T) {
		env := startBP(t, proxy.Config{BreakpointGrace: 10 * time.Millisecond}, breakRule("bp", "/*", rules.Action{}))
		w := watchHeld(t, env.Proxy)
		ch := goDo(env.Client(t), mustReq(t, "GET", origin.URL+"/y", ""))
		h := w.wait(t, 1)[0]
		env.Proxy.SetViewers(0)
		if a := recv(t, ch); a.err != nil || a.status != 200 {
			t.Fatalf("%+v", a)
		}
		if st := flowOf(t, env.Rec, h.ID).Flow.Breakpoint.Request; st.By != flow.ByNoDashboard || st.Action != flow.ReleaseContinue {
			t.Errorf("stop %+v", st)
		}
	})
	t.Run("one comes back", func(t *testing.T) {
		env := startBP(t, proxy.Config{BreakpointGrace: time.Hour}, breakRule("bp", "/*", rules.Action{}))
		w := watchHeld(t, env.Proxy)
		ch := goDo(env.Client(t), mustReq(t, "GET", origin.URL+"/z", ""))
		h := w.wait(t, 1)[0]
		env.Proxy.SetViewers(0)
		env.Proxy.SetViewers(1)
		if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
			t.Fatal(err)
		}
		if a := recv(t, ch); a.err != nil || a.status != 200 {
			t.Fatalf("%+v", a)
		}
	})
}

// Shutdown releases every held exchange with its timeout action; nothing
// is left behind.
func TestBreakpointShutdown(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	baseFD := openFDs(t)
	ignore := goleak.IgnoreCurrent()
	rec := &proxytest.Recorder{}
	p, err := proxy.New(proxy.Config{Recorder: rec, Rules: ruleSet(t,
		breakRule("req", "/req", rules.Action{}),
		breakRule("resp", "/resp", rules.Action{Phase: rules.PhaseResponse, OnTimeout: rules.OnTimeoutAbort}))})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(l) }()
	p.SetViewers(1)
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: l.Addr().String()})}
	c := &http.Client{Transport: tr}
	w := watchHeld(t, p)
	a1 := goDo(c, mustReq(t, "GET", origin.URL+"/req", ""))
	w.wait(t, 1)
	a2 := goDo(c, mustReq(t, "POST", origin.URL+"/resp", "x"))
	w.wait(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if a := recv(t, a1); a.err != nil || a.status != 200 {
		t.Errorf("held request after shutdown: %+v, want it continued", a)
	}
	if a := recv(t, a2); a.err == nil {
		t.Errorf("held response after shutdown: %+v, want it aborted", a)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("serve: %v", err)
	}
	for _, f := range rec.WaitFinished(t, 2, 5*time.Second) {
		bp := f.Flow.Breakpoint
		st := bp.Request
		if st == nil {
			st = bp.Response
		}
		if st.By != flow.ByShutdown {
			t.Errorf("flow %d stop %+v", f.Flow.ID, st)
		}
	}
	tr.CloseIdleConnections()
	waitBaseline(t, baseFD)
	goleak.VerifyNone(t, ignore)
}

// waitBaseline waits for open file descriptors to return to base.
func waitBaseline(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > base {
		if time.Now().After(deadline) {
			t.Fatalf("fds %d, baseline %d", openFDs(t), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pendingFlow waits for a flow whose URL ends with suffix to be recorded
// and returns its ID.
func pendingFlow(t *testing.T, rec *proxytest.Recorder, suffix string) flow.ID {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range rec.Flows() {
			if strings.HasSuffix(f.Flow.Request.URL, suffix) {
				return f.Flow.ID
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no flow for %s", suffix)
	return 0
}

// Kill ends a long stream: the client's side is cut off (HTTP/1: the
// connection; HTTP/2: that stream only, the connection goes on), the
// origin sees its request end, and the flow says who did it.
func TestKillLongStream(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			originEnded := make(chan struct{}, 4)
			stop := make(chan struct{})
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/stream" {
					_, _ = io.WriteString(w, "other")
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "data: first\n\n")
				_ = http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
					originEnded <- struct{}{}
				case <-stop:
				}
			}))
			t.Cleanup(func() { close(stop) })
			env := proxytest.Start(t, proxy.Config{})
			c := m.client(t, env)
			if m.h2 {
				// One connection for both streams below.
				if a := recv(t, goDo(c, mustReq(t, "GET", origin.URL+"/warm", ""))); a.err != nil {
					t.Fatal(a.err)
				}
			}
			resp, err := c.Get(origin.URL + "/stream")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			first := make([]byte, len("data: first\n\n"))
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatal(err)
			}
			id := pendingFlow(t, env.Rec, "/stream")
			if err := env.Proxy.Kill(id); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Error("the stream ended cleanly, want it cut off")
			}
			select {
			case <-originEnded:
			case <-time.After(10 * time.Second):
				t.Fatal("the origin's request did not end")
			}
			f := flowOf(t, env.Rec, id).Flow
			if f.State != flow.StateError || f.Error != "killed from the dashboard" {
				t.Errorf("flow %s %q", f.State, f.Error)
			}
			if err := env.Proxy.Kill(id); !errors.Is(err, flow.ErrNotLive) {
				t.Errorf("kill of a finished flow = %v, want ErrNotLive", err)
			}
			if m.h2 {
				var info httptrace.GotConnInfo
				req := mustReq(t, "GET", origin.URL+"/after", "")
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { info = i }}))
				if a := recv(t, goDo(c, req)); a.err != nil || a.body != "other" || !info.Reused {
					t.Errorf("after the kill: %+v reused %v, want the same connection", a, info.Reused)
				}
			}
		})
	}
}

// Kill ends a WebSocket: both of its connections close.
func TestKillWebSocket(t *testing.T) {
	closes := make(chan int, 1)
	origin := wsOrigin(t, false, closes)
	env := proxytest.Start(t, proxy.Config{})
	d := websocket.Dialer{Proxy: http.ProxyURL(env.URL), HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(origin.URL, "http")+"/socket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := pendingFlow(t, env.Rec, "/socket")
	if err := env.Proxy.Kill(id); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after kill: %v, want the connection closed", err)
	}
	if f := flowOf(t, env.Rec, id).Flow; f.Error != "killed from the dashboard" {
		t.Errorf("flow error %q", f.Error)
	}
}

// Incident 2 at a breakpoint: a held response whose body is past the cap
// is aborted (by a person, or by its timeout): its upstream body is
// closed, the origin sees it, and goroutines and file descriptors return
// to their baseline.
func TestBreakpointAbortedResponseLeavesNothing(t *testing.T) {
	for _, how := range []string{"dashboard", "timeout"} {
		t.Run(how, func(t *testing.T) {
			var finished, cut atomic.Int64
			chunk := bytes.Repeat([]byte("x"), 100<<10)
			origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				rc := http.NewResponseController(w)
				for range 100 { // 10 MB, more than the kernel buffers hold
					if _, err := w.Write(chunk); err != nil || rc.Flush() != nil {
						cut.Add(1)
						return
					}
				}
				finished.Add(1)
			}))
			a := rules.Action{Phase: rules.PhaseResponse}
			if how == "timeout" {
				a.TimeoutMs, a.OnTimeout = 1, rules.OnTimeoutAbort
			}
			env := startBP(t, proxy.Config{BreakpointBodyCap: 256 << 10}, breakRule("bp", "/*", a))
			w := watchHeld(t, env.Proxy)
			tr := env.Transport(t, false)
			c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
			baseFD := openFDs(t)
			ignore := goleak.IgnoreCurrent()
			const n = 10
			for i := range n {
				ch := goDo(c, mustReq(t, "POST", fmt.Sprintf("%s/big/%d", origin.URL, i), "x"))
				if how == "dashboard" {
					h := w.wait(t, 1)[0]
					if !h.Response.Truncated {
						t.Fatalf("held body not marked truncated: %d bytes", len(*h.Response.BodyBase64)+len(ptr(h.Response.Body)))
					}
					if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseAbort}); err != nil {
						t.Fatal(err)
					}
				}
				if a := recv(t, ch); a.err == nil {
					t.Fatalf("request %d: %+v, want the connection cut", i, a)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for finished.Load()+cut.Load() != n {
				if time.Now().After(deadline) {
					t.Fatalf("origin: %d finished, %d cut, want %d ended", finished.Load(), cut.Load(), n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, f := range env.Rec.WaitFinished(t, n, 5*time.Second) {
				if st := f.Flow.Breakpoint.Response; st == nil || st.Action != flow.ReleaseAbort || !st.Streamed {
					t.Errorf("flow %d stop %+v", f.Flow.ID, st)
				}
				if ub := f.Flow.UpstreamBody; ub == nil || ub.Size < 256<<10 {
					t.Errorf("flow %d upstream body %+v, want what was read kept", f.Flow.ID, ub)
				}
			}
			tr.CloseIdleConnections()
			waitBaseline(t, baseFD)
			goleak.VerifyNone(t, ignore)
		})
	}
}

func ptr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// hits: the next N matches are held, then the rule stops holding (without
// flagging the flows); changing the rule starts the count over. MaxHeld
// bounds what is held at once.
func TestBreakpointHitsAndCap(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	var set atomic.Pointer[rules.Set]
	compile := func(hits int) {
		s, err := rules.Compile([]rules.Rule{breakRule("bp", "/*", rules.Action{Hits: hits})})
		if err != nil {
			t.Fatal(err)
		}
		set.Store(s)
	}
	compile(2)
	env := startBP(t, proxy.Config{Rules: set.Load, MaxHeld: 1})
	w := watchHeld(t, env.Proxy)
	c := env.Client(t)
	heldOnce := func(path string) {
		t.Helper()
		ch := goDo(c, mustReq(t, "GET", origin.URL+path, ""))
		h := w.wait(t, 1)[0]
		if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
			t.Fatal(err)
		}
		if a := recv(t, ch); a.err != nil {
			t.Fatal(a.err)
		}
	}
	heldOnce("/1")
	heldOnce("/2")
	if a := recv(t, goDo(c, mustReq(t, "GET", origin.URL+"/3", ""))); a.err != nil || a.status != 200 {
		t.Fatalf("third: %+v", a)
	}
	if f := env.Rec.Last(t).Flow; f.Breakpoint != nil {
		t.Errorf("third flow breakpoint %+v, want none: the rule stopped holding", f.Breakpoint)
	}
	if got := env.Proxy.BreakpointHits()["bp"]; got != 2 {
		t.Errorf("hits = %d, want 2", got)
	}

	compile(5)
	ch := goDo(c, mustReq(t, "GET", origin.URL+"/4", ""))
	h := w.wait(t, 1)[0]
	if got := env.Proxy.BreakpointHits()["bp"]; got != 1 {
		t.Errorf("hits after the rule changed = %d, want 1", got)
	}
	// The cap: a second exchange passes, flagged.
	c2 := env.Client(t)
	if a := recv(t, goDo(c2, mustReq(t, "GET", origin.URL+"/5", ""))); a.err != nil || a.status != 200 {
		t.Fatalf("past the cap: %+v", a)
	}
	f := flowOf(t, env.Rec, pendingFlow(t, env.Rec, "/5")).Flow
	if f.Breakpoint == nil || f.Breakpoint.Skipped != "breakpoint skipped: 1 exchanges already held (-max-held)" {
		t.Errorf("flow past the cap: breakpoint %+v", f.Breakpoint)
	}
	if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, ch); a.err != nil {
		t.Fatal(a.err)
	}
}

// Replays are not held unless they ask to be.
func TestBreakpointReplay(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	env := startBP(t, proxy.Config{}, breakRule("bp", "/*", rules.Action{}))
	env.Proxy.SetViewers(0)
	if a := recv(t, goDo(env.Client(t), mustReq(t, "GET", origin.URL+"/r", ""))); a.err != nil {
		t.Fatal(a.err)
	}
	orig := env.Rec.Last(t).Flow
	env.Proxy.SetViewers(1)
	w := watchHeld(t, env.Proxy)
	id, err := env.Proxy.Replay(context.Background(), &orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := flowOf(t, env.Rec, id).Flow; f.Breakpoint != nil || f.State != flow.StateDone || f.ReplayOf != orig.ID {
		t.Errorf("replay %s breakpoint %+v", f.State, f.Breakpoint)
	}
	id, err = env.Proxy.ReplayWith(context.Background(), &orig, nil, proxy.ReplayOptions{Breakpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	h := w.wait(t, 1)[0]
	if h.ID != id {
		t.Fatalf("held %d, replay %d", h.ID, id)
	}
	if err := env.Proxy.Kill(id); err != nil {
		t.Fatal(err)
	}
	if f := flowOf(t, env.Rec, id).Flow; f.Error != "killed from the dashboard" || f.Breakpoint.Request.By != flow.ByKill {
		t.Errorf("killed replay: %q %+v", f.Error, f.Breakpoint.Request)
	}
}

// Composed requests, like replays, are not held unless they ask to be.
func TestBreakpointCompose(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	env := startBP(t, proxy.Config{}, breakRule("bp", "/*", rules.Action{}))
	env.Proxy.SetViewers(1)
	w := watchHeld(t, env.Proxy)
	req := flow.Request{Method: "GET", URL: origin.URL + "/composed"}
	id, err := env.Proxy.Compose(context.Background(), req, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := flowOf(t, env.Rec, id).Flow; f.Breakpoint != nil || f.State != flow.StateDone || !f.Composed {
		t.Errorf("composed %s breakpoint %+v", f.State, f.Breakpoint)
	}
	id, err = env.Proxy.ComposeWith(context.Background(), req, nil, nil, proxy.ReplayOptions{Breakpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	if h := w.wait(t, 1)[0]; h.ID != id {
		t.Fatalf("held %d, composed %d", h.ID, id)
	}
	if err := env.Proxy.Release(id, flow.Release{Action: flow.ReleaseContinue}); err != nil {
		t.Fatal(err)
	}
	if f := flowOf(t, env.Rec, id).Flow; f.State != flow.StateDone || !f.Composed || f.Breakpoint == nil || f.Breakpoint.Request == nil {
		t.Errorf("released composed request %s breakpoint %+v", f.State, f.Breakpoint)
	}
}

// A request body past the cap is shown in part and goes through unedited;
// a client that leaves a held exchange releases it.
func TestBreakpointLongBodyAndClientGone(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	env := startBP(t, proxy.Config{BreakpointBodyCap: 1024}, breakRule("bp", "/*", rules.Action{}))
	w := watchHeld(t, env.Proxy)
	c := env.Client(t)
	body := strings.Repeat("0123456789abcdef", 256) // 4 KiB
	ch := goDo(c, mustReq(t, "POST", origin.URL+"/upload", body))
	h := w.wait(t, 1)[0]
	if !h.Request.Truncated || h.Request.Body == nil || len(*h.Request.Body) < 1024 || len(*h.Request.Body) >= len(body) {
		t.Fatalf("held request body %d bytes, truncated %v", len(ptr(h.Request.Body)), h.Request.Truncated)
	}
	edited := "short"
	var ee *flow.EditError
	if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseExecute, Edit: &flow.Message{Body: &edited}}); !errors.As(err, &ee) || ee.Field != "body" {
		t.Fatalf("body edit past the cap = %v", err)
	}
	if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseContinue}); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, ch); a.err != nil || a.body != "origin POST /upload "+body {
		t.Fatalf("answer %d bytes %v", len(a.body), a.err)
	}
	if st := flowOf(t, env.Rec, h.ID).Flow.Breakpoint.Request; !st.Streamed {
		t.Errorf("stop %+v", st)
	}

	// Answered without the origin while the rest of the body is unread:
	// the client gets the answer, and the exchange ends.
	ch = goDo(c, mustReq(t, "POST", origin.URL+"/upload2", body))
	h = w.wait(t, 1)[0]
	answer := "no upload today"
	if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseRespond, Edit: &flow.Message{Status: 201, Body: &answer}}); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, ch); a.err != nil || a.status != 201 || a.body != answer {
		t.Fatalf("respond with the body unread: %+v", a)
	}
	if f := flowOf(t, env.Rec, h.ID).Flow; f.Response == nil || f.Response.Status != 201 {
		t.Errorf("flow response %+v", f.Response)
	}

	calls := o.calls.Load()
	ctx, cancel := context.WithCancel(context.Background())
	req := mustReq(t, "GET", origin.URL+"/gone", "").WithContext(ctx)
	ch = goDo(c, req)
	h = w.wait(t, 1)[0]
	cancel()
	<-ch
	w.wait(t, 0)
	f := flowOf(t, env.Rec, h.ID).Flow
	if st := f.Breakpoint.Request; st.By != flow.ByClientGone || st.Action != flow.ReleaseAbort || o.calls.Load() != calls {
		t.Errorf("stop %+v, origin calls %d (was %d)", st, o.calls.Load(), calls)
	}
}

// A response a rule replaced is held as served: an edit replaces it
// again, and the origin's body stays the upstream facet, recorded once.
func TestBreakpointAfterOverride(t *testing.T) {
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "from the origin")
	}))
	env := startBP(t, proxy.Config{},
		rules.Rule{ID: "ov", Enabled: true, Actions: []rules.Action{{Type: rules.TypeOverride, Body: str("from the rule")}}},
		breakRule("bp", "/*", rules.Action{Phase: rules.PhaseResponse}))
	w := watchHeld(t, env.Proxy)
	ch := goDo(env.Client(t), mustReq(t, "GET", origin.URL+"/x", ""))
	h := w.wait(t, 1)[0]
	if ptr(h.Response.Body) != "from the rule" {
		t.Fatalf("held %+v", h.Response)
	}
	edited := "from the breakpoint"
	if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseExecute, Edit: &flow.Message{Body: &edited}}); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, ch); a.err != nil || a.body != edited {
		t.Fatalf("answer %+v", a)
	}
	f := flowOf(t, env.Rec, h.ID)
	deadline := time.Now().Add(5 * time.Second)
	for (f.Flow.UpstreamBody == nil || !f.Flow.UpstreamBody.Complete) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		f = flowOf(t, env.Rec, h.ID)
	}
	if got := string(f.Bodies[flow.FacetUpstream]); got != "from the origin" {
		t.Errorf("upstream body %q", got)
	}
	if got := string(f.Bodies[flow.FacetResponse]); got != edited {
		t.Errorf("served body %q", got)
	}
}

// A request whose body stalls is held once nothing more arrives (its
// start shown); answering it leaves the rest unread, and the exchange
// still ends: the connection is closed after the answer.
func TestBreakpointStalledBody(t *testing.T) {
	o := &bpOrigin{}
	origin := proxytest.Origin(t, o)
	env := startBP(t, proxy.Config{}, breakRule("bp", "/*", rules.Action{}))
	w := watchHeld(t, env.Proxy)
	conn, err := net.Dial("tcp", env.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	u := origin.URL + "/stalled"
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\nfirst part", u, strings.TrimPrefix(origin.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	h := w.wait(t, 1)[0]
	if !h.Request.Truncated || ptr(h.Request.Body) != "first part" {
		t.Fatalf("held request %+v", h.Request)
	}
	answer := "not now"
	if err := env.Proxy.Release(h.ID, flow.Release{Action: flow.ReleaseRespond, Edit: &flow.Message{Status: 409, Body: &answer}}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 409 || string(b) != answer {
		t.Fatalf("answer %d %q", resp.StatusCode, b)
	}
	if f := flowOf(t, env.Rec, h.ID).Flow; f.Response == nil || f.Response.Status != 409 {
		t.Errorf("flow %+v", f.Response)
	}
	if o.calls.Load() != 0 {
		t.Error("the origin was called")
	}
}
