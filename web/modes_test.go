package web

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"loupe/browser"
	"loupe/hostmap"
	"loupe/proxy/store"
)

// fakeBrowsers launches nothing: it records what it was asked.
type fakeBrowsers struct {
	mu       sync.Mutex
	found    []browser.Found
	launched []browser.Info
}

func (f *fakeBrowsers) Available() []browser.Found { return f.found }
func (f *fakeBrowsers) List() []browser.Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]browser.Info(nil), f.launched...)
}
func (f *fakeBrowsers) Launch(_ context.Context, name, url string) (browser.Info, error) {
	fd, err := browser.Pick(f.found, name)
	if err != nil {
		return browser.Info{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in := browser.Info{ID: len(f.launched) + 1, Name: fd.Name, Path: fd.Path + " " + url, PID: 42, Running: true, Started: time.Now()}
	f.launched = append(f.launched, in)
	return in, nil
}
func (f *fakeBrowsers) Stop(id int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.launched {
		if f.launched[i].ID == id {
			f.launched[i].Running = false
			return nil
		}
	}
	return browser.ErrUnknown
}

func newModesEnv(t *testing.T, b Browsers, hm HostMapStore) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.New(store.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Config{Token: testToken, Logger: log}, Deps{Store: st, Browsers: b, HostMap: hm})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, s: s, store: st}
}

func TestBrowsersAPI(t *testing.T) {
	fb := &fakeBrowsers{found: []browser.Found{{Name: "chromium", Kind: browser.Chromium, Path: "/usr/bin/chromium"}}}
	e := newModesEnv(t, fb, nil)
	got := decode[BrowsersState](t, e.do("GET", "/api/browsers", nil), 200)
	if len(got.Available) != 1 || got.Launched == nil || len(got.Launched) != 0 {
		t.Errorf("GET /api/browsers = %+v", got)
	}
	in := decode[browser.Info](t, e.do("POST", "/api/browsers", strings.NewReader(`{"url": "http://a.test/"}`), "Content-Type", "application/json"), 201)
	if in.ID != 1 || !strings.HasSuffix(in.Path, "http://a.test/") {
		t.Errorf("POST /api/browsers = %+v", in)
	}
	if resp := e.do("POST", "/api/browsers", strings.NewReader(`{"browser": "lynx"}`)); resp.StatusCode != 404 || !strings.Contains(readAll(t, resp), "lynx") {
		t.Errorf("unknown browser: %d", resp.StatusCode)
	}
	if resp := e.do("POST", "/api/browsers", strings.NewReader(`{"nope": 1}`)); resp.StatusCode != 400 {
		t.Errorf("unknown field: %d, want 400", resp.StatusCode)
	}
	if resp := e.do("DELETE", "/api/browsers/1", nil); resp.StatusCode != 204 {
		t.Errorf("DELETE: %d, want 204", resp.StatusCode)
	}
	if resp := e.do("DELETE", "/api/browsers/9", nil); resp.StatusCode != 404 {
		t.Errorf("DELETE unknown: %d, want 404", resp.StatusCode)
	}
	// Launching a process is for the token holder, from the dashboard's
	// own origin only.
	if resp := e.do("POST", "/api/browsers", nil, "Authorization", ""); resp.StatusCode != 401 {
		t.Errorf("without token: %d, want 401", resp.StatusCode)
	}
	if resp := e.do("POST", "/api/browsers", nil, "Origin", "http://evil.test"); resp.StatusCode != 403 {
		t.Errorf("cross-site: %d, want 403", resp.StatusCode)
	}
	none := newModesEnv(t, &fakeBrowsers{}, nil)
	if resp := none.do("POST", "/api/browsers", nil); resp.StatusCode != 404 || !strings.Contains(readAll(t, resp), "apt install chromium") {
		t.Errorf("no browser installed: %d, want 404 saying what to install", resp.StatusCode)
	}
	if resp := newModesEnv(t, nil, nil).do("GET", "/api/hostmap", nil); resp.StatusCode != 501 {
		t.Errorf("no host map wired: %d, want 501", resp.StatusCode)
	}
}

func TestHostMapAPI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.json")
	hm, err := hostmap.Open(path, []hostmap.Entry{{Host: "fixed.test", To: "127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	e := newModesEnv(t, nil, hm)
	got := decode[HostMapState](t, e.do("GET", "/api/hostmap", nil), 200)
	if len(got.Fixed) != 1 || got.Entries == nil || len(got.Entries) != 0 {
		t.Errorf("GET = %+v", got)
	}
	got = decode[HostMapState](t, e.do("PUT", "/api/hostmap", strings.NewReader(`{"entries": [{"host": "api.test", "to": "127.0.0.1:3000"}]}`)), 200)
	if len(got.Entries) != 1 || got.Entries[0].To != "127.0.0.1:3000" {
		t.Errorf("PUT = %+v", got)
	}
	if to, _ := hm.Current().Lookup("api.test:443"); to != "127.0.0.1:3000" {
		t.Errorf("after PUT api.test maps to %q", to)
	}
	resp := e.do("PUT", "/api/hostmap", strings.NewReader(`{"entries": [{"host": "b.test", "to": "http://x"}]}`))
	if body := readAll(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "b.test") {
		t.Errorf("invalid mapping: %d %s, want 400 naming it", resp.StatusCode, body)
	}
	if to, _ := hm.Current().Lookup("api.test:443"); to != "127.0.0.1:3000" {
		t.Errorf("a refused PUT changed the map: %q", to)
	}
}
