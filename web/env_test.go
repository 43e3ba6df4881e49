package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy/connlimit"
	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/rules"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testToken = "test-token-0123456789abcdef"

// fakeCA stands in for proxy/ca.
type fakeCA struct{}

func (fakeCA) CertPEM() []byte {
	return []byte("-----BEGIN CERTIFICATE-----\nTUlJQmZha2U=\n-----END CERTIFICATE-----\n")
}
func (fakeCA) Fingerprint() string { return "AB:CD:EF" }

// fakeReplayer records a replay as a new flow in the store, as the core does.
type fakeReplayer struct {
	st *store.Store

	mu     sync.Mutex
	bodies [][]byte
}

func (r *fakeReplayer) Replay(ctx context.Context, f *flow.Flow, body []byte) (flow.ID, error) {
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	if strings.Contains(f.Request.URL, "unreachable") {
		return 0, errors.New("dial tcp: connection refused")
	}
	h := r.st.Begin("replay", f.Request, time.Now())
	h.ReplayOf(f.ID)
	h.Body(flow.FacetRequest, body)
	h.BodyEnd(flow.FacetRequest)
	h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1"})
	h.Finish(time.Now(), nil)
	return h.ID(), nil
}

// env is a dashboard on a real listener, over a real store and rule store.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	s      *Server
	store  *store.Store
	rules  *rules.Store
	replay *fakeReplayer
}

func newEnv(t testing.TB, tweak func(*Config)) *env {
	t.Helper()
	return newEnvListener(t, tweak, nil)
}

// newEnvListener is newEnv with the dashboard's listener wrapped.
func newEnvListener(t testing.TB, tweak func(*Config), wrap func(net.Listener) net.Listener) *env {
	t.Helper()
	return newEnvWith(t, tweak, wrap, nil)
}

// newEnvDeps is newEnv with the dashboard's services changed.
func newEnvDeps(t testing.TB, deps func(*Deps)) *env {
	t.Helper()
	return newEnvWith(t, nil, nil, deps)
}

func newEnvWith(t testing.TB, tweak func(*Config), wrap func(net.Listener) net.Listener, tweakDeps func(*Deps)) *env {
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
	rp := &fakeReplayer{st: st}
	cfg := Config{
		Token:         testToken,
		ProxyAddr:     "127.0.0.1:8080",
		Logger:        log,
		FlushInterval: 10 * time.Millisecond,
		StateInterval: 50 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	conns := func() connlimit.Stats { return connlimit.Stats{Open: 3, Max: 100, Refused: 2} }
	deps := Deps{Store: st, Rules: rs, Replayer: rp, CA: fakeCA{}, Conns: conns}
	if tweakDeps != nil {
		tweakDeps(&deps)
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
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
	return &env{t: t, srv: srv, s: s, store: st, rules: rs, replay: rp}
}

// do sends a request with the token (unless a header map overrides
// Authorization with "").
func (e *env) do(method, path string, body io.Reader, hdr ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// decode reads a JSON answer after checking its status.
func decode[T any](t *testing.T, resp *http.Response, wantStatus int) T {
	t.Helper()
	var v T
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, wantStatus, b)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flowSpec describes a flow to record.
type flowSpec struct {
	method, url string
	status      int
	ct          string
	reqBody     string
	respBody    string
	encoding    string // response Content-Encoding; respBody is then wire bytes
	rules       []string
	err         error
	upstream    string // original body when a rule replaced it
	header      flow.Fields
}

func (e *env) add(fs flowSpec) flow.ID {
	e.t.Helper()
	return addFlow(e.store, fs)
}

func addFlow(st flow.Recorder, fs flowSpec) flow.ID {
	if fs.method == "" {
		fs.method = "GET"
	}
	h := st.Begin("127.0.0.1:5555", flow.Request{Method: fs.method, URL: fs.url, Proto: "HTTP/1.1",
		Header: append(flow.Fields{{Name: "Accept", Value: "*/*"}}, fs.header...)}, time.Now())
	if fs.reqBody != "" {
		h.Body(flow.FacetRequest, []byte(fs.reqBody))
	}
	h.BodyEnd(flow.FacetRequest)
	for _, r := range fs.rules {
		kind := ""
		if fs.upstream != "" {
			kind = "override"
		}
		h.Rule(r, kind)
	}
	if fs.status != 0 {
		hdr := flow.Fields{}
		if fs.ct != "" {
			hdr = append(hdr, flow.Field{Name: "Content-Type", Value: fs.ct})
		}
		if fs.encoding != "" {
			hdr = append(hdr, flow.Field{Name: "Content-Encoding", Value: fs.encoding})
		}
		if fs.upstream != "" {
			h.UpstreamResponse(flow.Response{Status: fs.status, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}})
			h.Body(flow.FacetUpstream, []byte(fs.upstream))
			h.BodyEnd(flow.FacetUpstream)
		}
		h.Response(flow.Response{Status: fs.status, Proto: "HTTP/1.1", Header: hdr})
		h.Body(flow.FacetResponse, []byte(fs.respBody))
		h.BodyEnd(flow.FacetResponse)
	}
	h.Finish(time.Now(), fs.err)
	return h.ID()
}

func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// fstestFS builds an app file tree from names and contents.
type fstestFS map[string]string

func (m fstestFS) FS() fstest.MapFS {
	out := fstest.MapFS{}
	for name, data := range m {
		out[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return out
}
