package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// promptBound bounds how long these tests wait for something that must
// already have happened: reaching it means the proxy held bytes back (a
// deadlock, since the origin waits for the test), never a slow machine.
const promptBound = 10 * time.Second

// promptCase is one way a response with a Content-Length reaches the
// client: through a client mode, an origin client, and perhaps a rule that
// changes the head and lets the origin's body stream through.
type promptCase struct {
	name  string
	m     mode
	oc    string
	rules func(t *testing.T) func() *rules.Set
}

func promptCases() []promptCase {
	statusOverride := func(t *testing.T) func() *rules.Set {
		return ruleSet(t, rules.Rule{ID: "status", Actions: []rules.Action{
			{Type: rules.TypeOverride, Status: 203, Headers: map[string]string{"X-Rule": "1"}},
		}})
	}
	var cases []promptCase
	for _, oc := range originClients {
		for _, m := range modes {
			cases = append(cases, promptCase{name: oc + "/" + m.name, m: m, oc: oc})
		}
	}
	for _, m := range modes {
		cases = append(cases, promptCase{name: "status override/" + m.name, m: m, rules: statusOverride})
	}
	return cases
}

// start runs an origin with h and a proxy for pc, and sends one request
// first, so that an HTTPS origin is known to speak HTTP/1.1 and the
// request under test takes the same path as every later one (Loupe's
// HTTP/1.1 client, unless pc.oc says stdlib). The returned channel is
// closed when the test ends, before the proxy shuts down: an origin
// handler that waits for the test must also give up on it, so that a
// failing test ends at once.
func (pc promptCase) start(t *testing.T, h http.Handler) (*http.Client, string, <-chan struct{}) {
	t.Helper()
	origin := pc.m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/warm" {
			io.WriteString(w, "warm")
			return
		}
		h.ServeHTTP(w, r)
	}))
	cfg := proxy.Config{OriginClient: pc.oc}
	if pc.rules != nil {
		cfg.Rules = pc.rules(t)
	}
	env := proxytest.Start(t, cfg)
	over := make(chan struct{})
	t.Cleanup(func() { close(over) }) // runs before the proxy's Shutdown
	c := pc.m.client(t, env)
	resp, err := c.Get(origin.URL + "/warm")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, origin.URL, over
}

// wait returns what ch delivers, or fails the test after promptBound.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(promptBound):
		t.Fatalf("%s did not arrive while the origin waited for it: the proxy held it back", what)
		panic("unreachable")
	}
}

type answer struct {
	resp *http.Response
	err  error
}

// The status line and headers of a response with a Content-Length reach
// the client as soon as the origin sent them, while the origin still holds
// the body: a debugging proxy must not delay the head until body bytes
// arrive. (It used to wait for about 4 KB of body or the end.)
func TestHeadNotHeldBack(t *testing.T) {
	for _, pc := range promptCases() {
		t.Run(pc.name, func(t *testing.T) {
			release := make(chan struct{})
			var over <-chan struct{}
			c, url, over := pc.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Content-Length", "5")
				w.Header().Set("X-Origin", "head")
				w.WriteHeader(http.StatusOK)
				_ = http.NewResponseController(w).Flush()
				select {
				case <-release:
				case <-over:
					return
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "hello")
			}))
			got := make(chan answer, 1)
			go func() {
				resp, err := c.Get(url + "/held")
				got <- answer{resp, err}
			}()
			a := wait(t, got, "the response head")
			if a.err != nil {
				t.Fatal(a.err)
			}
			defer a.resp.Body.Close()
			// Only now may the origin send the body.
			close(release)
			if a.resp.Header.Get("X-Origin") != "head" || a.resp.ContentLength != 5 {
				t.Errorf("head %v, Content-Length %d", a.resp.Header, a.resp.ContentLength)
			}
			body := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(a.resp.Body)
				body <- string(b)
			}()
			if b := wait(t, body, "the body"); b != "hello" {
				t.Errorf("body %q, want hello", b)
			}
		})
	}
}

// Each body byte the origin sends reaches the client before the origin
// sends the next one: the origin writes byte i+1 only once the client has
// read byte i, so a proxy that coalesces more than what already arrived
// never delivers.
func TestBodyBytesNotHeldBack(t *testing.T) {
	const body = "abcd"
	for _, pc := range promptCases() {
		t.Run(pc.name, func(t *testing.T) {
			next := make(chan struct{})
			var over <-chan struct{}
			c, url, over := pc.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", "4")
				rc := http.NewResponseController(w)
				for i := range len(body) {
					if i > 0 {
						select {
						case <-next:
						case <-over:
							return
						case <-r.Context().Done():
							return
						}
					}
					io.WriteString(w, body[i:i+1])
					_ = rc.Flush()
				}
			}))
			got := make(chan answer, 1)
			go func() {
				resp, err := c.Get(url + "/bytes")
				got <- answer{resp, err}
			}()
			a := wait(t, got, "the response head")
			if a.err != nil {
				t.Fatal(a.err)
			}
			defer a.resp.Body.Close()
			var all strings.Builder
			for i := range len(body) {
				if i > 0 {
					select {
					case next <- struct{}{}:
					case <-time.After(promptBound):
						t.Fatalf("the origin stopped before byte %d", i)
					}
				}
				read := make(chan string, 1)
				go func() {
					b := make([]byte, 1)
					n, _ := io.ReadFull(a.resp.Body, b)
					read <- string(b[:n])
				}()
				b := wait(t, read, "body byte "+body[i:i+1])
				all.WriteString(b)
			}
			if all.String() != body {
				t.Errorf("body %q, want %q", all.String(), body)
			}
			if n, _ := io.Copy(io.Discard, a.resp.Body); n != 0 {
				t.Errorf("%d bytes after the end", n)
			}
		})
	}
}
