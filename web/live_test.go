package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/rules"
)

// fakeLive stands in for the core's live exchanges.
type fakeLive struct {
	mu       sync.Mutex
	held     []flow.Held
	releases []flow.Release
	ids      []flow.ID
	all      []string
	killed   []flow.ID
	viewers  []int
	watch    func()
	err      error // the next Release's error
	live     map[flow.ID]bool
}

func (l *fakeLive) Held() []flow.Held {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]flow.Held(nil), l.held...)
}

func (l *fakeLive) Release(id flow.ID, r flow.Release) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.err; err != nil {
		l.err = nil
		return err
	}
	for i, h := range l.held {
		if h.ID == id {
			l.held = append(l.held[:i], l.held[i+1:]...)
			l.releases = append(l.releases, r)
			l.ids = append(l.ids, id)
			return nil
		}
	}
	return flow.ErrNotHeld
}

func (l *fakeLive) ReleaseAll(action string, status int) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.held)
	l.held = nil
	l.all = append(l.all, action+" "+http.StatusText(status))
	return n, nil
}

func (l *fakeLive) Kill(id flow.ID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.live[id] {
		return flow.ErrNotLive
	}
	l.killed = append(l.killed, id)
	return nil
}

func (l *fakeLive) SetViewers(n int) {
	l.mu.Lock()
	l.viewers = append(l.viewers, n)
	l.mu.Unlock()
}

func (l *fakeLive) WatchHeld(fn func()) func() {
	l.mu.Lock()
	l.watch = fn
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.watch = nil
		l.mu.Unlock()
	}
}

func (l *fakeLive) BreakpointHits() map[string]int { return map[string]int{"bp": 3} }

// hold adds a held exchange and tells the watcher, as the core does.
func (l *fakeLive) hold(h flow.Held) {
	l.mu.Lock()
	l.held = append(l.held, h)
	fn := l.watch
	l.mu.Unlock()
	if fn != nil {
		fn()
	}
}

func (l *fakeLive) viewerCounts() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.viewers...)
}

// newLiveEnv is newEnv with a Live (nil: none, the endpoints answer 501).
func newLiveEnv(t *testing.T, live Live) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.New(store.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rs, err := rules.Open(filepath.Join(t.TempDir(), "rules.json"), log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Token: testToken, Logger: log, FlushInterval: 10 * time.Millisecond, StateInterval: 50 * time.Millisecond},
		Deps{Store: st, Rules: rs, Live: live, CA: fakeCA{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.Close()
	})
	return &env{t: t, srv: srv, s: s, store: st, rules: rs}
}

func heldSample(id flow.ID) flow.Held {
	body := `{"a":1}`
	return flow.Held{ID: id, Phase: "request", Rule: "bp", HeldAt: "2026-12-07T10:00:00.000Z", Deadline: "2026-12-07T10:01:00.000Z",
		RemainingMs: 59000, OnTimeout: "continue",
		Request: flow.Message{Method: "POST", URL: "https://api.test/x", Headers: flow.Fields{{Name: "Host", Value: "api.test"}}, Body: &body}}
}

func TestHeldAPI(t *testing.T) {
	live := &fakeLive{live: map[flow.ID]bool{}}
	e := newLiveEnv(t, live)
	live.hold(heldSample(7))
	live.hold(heldSample(8))

	var raw []map[string]any
	raw = decode[[]map[string]any](t, e.do("GET", "/api/held", nil), 200)
	if len(raw) != 2 || raw[0]["id"] != float64(7) || raw[0]["deadline"] != "2026-12-07T10:01:00.000Z" || raw[0]["remainingMs"] != float64(59000) {
		t.Fatalf("GET /api/held = %v", raw)
	}
	if req, ok := raw[0]["request"].(map[string]any); !ok || req["method"] != "POST" || req["body"] != `{"a":1}` {
		t.Errorf("held request = %v", raw[0]["request"])
	}

	tests := []struct {
		name, path, body string
		status           int
		want             *flow.Release
		errField         string
	}{
		{"bad edit", "/api/held/7/execute", `{"headers": [{"name": "Bad Name", "value": "x"}]}`, 400, nil, "headers"},
		{"unknown field", "/api/held/7/execute", `{"metod": "PUT"}`, 400, nil, ""},
		{"trailing data", "/api/held/7/abort", `{"status": 503} {}`, 400, nil, ""},
		{"unknown action", "/api/held/7/explode", ``, 404, nil, ""},
		{"not a number", "/api/held/x/continue", ``, 404, nil, ""},
		{"execute", "/api/held/7/execute", `{"method": "PUT", "headers": [{"name": "X-A", "value": "1"}], "bodyBase64": "AAE="}`, 204,
			&flow.Release{Action: "execute"}, ""},
		{"abort with a status", "/api/held/8/abort", `{"status": 503}`, 204, &flow.Release{Action: "abort", Status: 503}, ""},
		{"not held", "/api/held/9/continue", ``, 404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.errField != "" {
				live.mu.Lock()
				live.err = &flow.EditError{Field: tt.errField, Message: "nope"}
				live.mu.Unlock()
			}
			before := len(live.ids)
			resp := e.do("POST", tt.path, strings.NewReader(tt.body))
			body := readAll(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.errField != "" {
				var eb ErrorBody
				if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Field != tt.errField {
					t.Errorf("error body %s", body)
				}
			}
			if tt.want == nil {
				if len(live.ids) != before {
					t.Errorf("released %v", live.releases[before:])
				}
				return
			}
			got := live.releases[len(live.releases)-1]
			if got.Action != tt.want.Action || got.Status != tt.want.Status {
				t.Errorf("release %+v, want %+v", got, tt.want)
			}
			if tt.want.Action == "execute" {
				m := got.Edit
				if m == nil || m.Method != "PUT" || m.URL != "" || len(m.Headers) != 1 || m.BodyBase64 == nil || *m.BodyBase64 != "AAE=" || m.Body != nil {
					t.Errorf("edit %+v", m)
				}
			}
		})
	}

	live.hold(heldSample(10))
	live.hold(heldSample(11))
	if got := decode[ReleasedAnswer](t, e.do("POST", "/api/held/abort-all", strings.NewReader(`{"status": 502}`)), 200); got.Released != 2 {
		t.Errorf("abort-all released %d", got.Released)
	}
	if got := decode[ReleasedAnswer](t, e.do("POST", "/api/held/continue-all", nil), 200); got.Released != 0 {
		t.Errorf("continue-all released %d", got.Released)
	}
	if strings.Join(live.all, ",") != "abort Bad Gateway,continue " {
		t.Errorf("bulk releases %q", live.all)
	}

	// Kill: a flow in flight, a finished one, none.
	running := e.add(flowSpec{url: "https://api.test/stream"})
	live.live[running] = true
	if resp := e.do("POST", "/api/flows/"+itoa(running)+"/kill", nil); resp.StatusCode != 204 {
		t.Errorf("kill: %d %s", resp.StatusCode, readAll(t, resp))
	}
	done := e.add(flowSpec{url: "https://api.test/done", status: 200})
	if resp := e.do("POST", "/api/flows/"+itoa(done)+"/kill", nil); resp.StatusCode != 409 {
		t.Errorf("kill of a finished flow: %d", resp.StatusCode)
	}
	if resp := e.do("POST", "/api/flows/999999/kill", nil); resp.StatusCode != 404 {
		t.Errorf("kill of no flow: %d", resp.StatusCode)
	}
	if len(live.killed) != 1 || live.killed[0] != running {
		t.Errorf("killed %v", live.killed)
	}

	st := decode[RuleStats](t, e.do("GET", "/api/rules/stats", nil), 200)
	if st.BreakpointHits["bp"] != 3 {
		t.Errorf("stats %+v", st)
	}
	if resp := e.do("GET", "/api/held", nil, "Authorization", ""); resp.StatusCode != 401 {
		t.Errorf("without token: %d", resp.StatusCode)
	}
}

func itoa(id flow.ID) string { return strings.TrimSpace(string(mustJSON(id))) }

func TestHeldAPIWithoutLive(t *testing.T) {
	e := newLiveEnv(t, nil)
	for _, p := range []string{"/api/held/1/continue", "/api/held/continue-all"} {
		if resp := e.do("POST", p, nil); resp.StatusCode != 501 {
			t.Errorf("%s: %d, want 501", p, resp.StatusCode)
		}
	}
	if resp := e.do("GET", "/api/held", nil); resp.StatusCode != 501 {
		t.Errorf("GET /api/held: %d", resp.StatusCode)
	}
}

// The feed sends the held list on connect and after every change, and a
// dashboard counts as connected while its feed is open.
func TestHeldFeed(t *testing.T) {
	live := &fakeLive{}
	e := newLiveEnv(t, live)
	live.hold(heldSample(3))
	c := mustDial(t, e)
	type heldFeed struct {
		Type string      `json:"type"`
		Held []flow.Held `json:"held"`
	}
	read := func(what string, ok func(heldFeed) bool) heldFeed {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var m heldFeed
			if err := c.ReadJSON(&m); err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if m.Type == "held/update" && ok(m) {
				return m
			}
		}
	}
	read("the held list on connect", func(m heldFeed) bool { return len(m.Held) == 1 && m.Held[0].ID == 3 })
	if v := live.viewerCounts(); len(v) == 0 || v[len(v)-1] != 1 {
		t.Errorf("viewers %v, want 1 once connected", v)
	}
	live.hold(heldSample(4))
	read("the change", func(m heldFeed) bool { return len(m.Held) == 2 })

	c2 := mustDial(t, e)
	_ = c2
	waitViewers(t, live, 2)
	c2.Close()
	waitViewers(t, live, 1)
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.Close()
	waitViewers(t, live, 0)
}

func waitViewers(t *testing.T, l *fakeLive, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := l.viewerCounts()
		if len(v) > 0 && v[len(v)-1] == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewers %v, want %d last", v, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A held/update message stays small: bodies that do not fit its budget
// are left out, and GET /api/held/{id} serves them whole.
func TestHeldFeedLeavesLargeBodiesOut(t *testing.T) {
	live := &fakeLive{}
	e := newLiveEnv(t, live)
	big := strings.Repeat("x", feedBodyBudget)
	small := heldSample(1)
	large := heldSample(2)
	large.Request.Body = &big
	live.hold(small)
	live.hold(large)
	c := mustDial(t, e)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m struct {
			Type string      `json:"type"`
			Held []flow.Held `json:"held"`
		}
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "held/update" {
			continue
		}
		if len(m.Held) != 2 || m.Held[0].Request.Body == nil || m.Held[0].Request.BodyOmitted ||
			m.Held[1].Request.Body != nil || !m.Held[1].Request.BodyOmitted {
			t.Fatalf("held/update %+v", m.Held)
		}
		break
	}
	one := decode[flow.Held](t, e.do("GET", "/api/held/2", nil), 200)
	if one.Request.Body == nil || len(*one.Request.Body) != len(big) || one.Request.BodyOmitted {
		t.Errorf("GET /api/held/2: body %d bytes, omitted %v", len(ptrStr(one.Request.Body)), one.Request.BodyOmitted)
	}
	if resp := e.do("GET", "/api/held/3", nil); resp.StatusCode != 404 {
		t.Errorf("GET /api/held/3: %d", resp.StatusCode)
	}
	if live.Held()[1].Request.Body == nil {
		t.Error("the feed changed the core's list")
	}
}
