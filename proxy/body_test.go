package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// ruleSet compiles rs for Config.Rules.
func ruleSet(t *testing.T, rs ...rules.Rule) func() *rules.Set {
	t.Helper()
	for i := range rs {
		rs[i].Enabled = true
	}
	s, err := rules.Compile(rs)
	if err != nil {
		t.Fatalf("compile rules: %v", err)
	}
	return func() *rules.Set { return s }
}

func str(s string) *string { return &s }

func overrideAll(t *testing.T, body string) func() *rules.Set {
	return ruleSet(t, rules.Rule{ID: "replace", Actions: []rules.Action{
		{Type: rules.TypeOverride, Body: str(body), Headers: map[string]string{"Content-Type": "text/plain"}},
	}})
}

// streamOrigin is the origin of incident 2: 100 KB every 20 ms for 2 s.
// Each response holds after its head and first 100 KB until the test
// releases its path, which get does once the client has its answer: a
// proxy that waited for the upstream body before answering would then
// never answer (the client's timeout ends the test). So the override is
// proved to arrive before the upstream body ends by causality, not by a
// clock.
type streamOrigin struct {
	active   atomic.Int64
	finished atomic.Int64 // wrote everything
	cut      atomic.Int64 // its connection was closed under it
	url      string

	mu      sync.Mutex
	gates   map[string]chan struct{} // by path: closed once released
	closing chan struct{}            // test over: nothing holds any more
}

func newStreamOrigin(t *testing.T, m mode) *streamOrigin {
	o := &streamOrigin{gates: map[string]chan struct{}{}, closing: make(chan struct{})}
	done := make(chan bool, 1024)
	chunk := bytes.Repeat([]byte("x"), 100<<10)
	stream := proxytest.Stream(len(chunk), 20*time.Millisecond, 2*time.Second, done)
	s := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.active.Add(1)
		defer o.active.Add(-1)
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := w.Write(chunk); err != nil || http.NewResponseController(w).Flush() != nil {
			o.cut.Add(1)
			return
		}
		select {
		case <-o.gate(r.URL.Path):
		case <-o.closing:
		}
		stream.ServeHTTP(w, r)
		if <-done {
			o.finished.Add(1)
		} else {
			o.cut.Add(1)
		}
	}))
	// Runs before the origin's Close, which waits for its handlers.
	t.Cleanup(func() { close(o.closing) })
	o.url = s.URL
	return o
}

// gate is the channel that releases path's body.
func (o *streamOrigin) gate(path string) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	g, ok := o.gates[path]
	if !ok {
		g = make(chan struct{})
		o.gates[path] = g
	}
	return g
}

// get fetches path through c, then lets the origin stream the rest of that
// body (see streamOrigin).
func (o *streamOrigin) get(c *http.Client, path string) (string, time.Duration, error) {
	g := o.gate(path)
	defer close(g)
	return fetch(c, o.url+path)
}

func (o *streamOrigin) waitIdle(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for o.active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d origin handlers still writing after %v", o.active.Load(), within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fetch gets url through c and returns the body and how long it took.
func fetch(c *http.Client, url string) (string, time.Duration, error) {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b), time.Since(start), err
}

// Incident 2: an override must reach the client at once and the upstream
// body must be drained (bounded) or its connection closed, never left open.
func TestOverrideDrainsUpstreamBody(t *testing.T) {
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			o := newStreamOrigin(t, m)
			env := proxytest.Start(t, proxy.Config{Rules: overrideAll(t, "replaced")})
			c := m.client(t, env)
			const n = 3
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// The origin holds the rest of the body until this
					// returns: the answer came before the body's end.
					body, took, err := o.get(c, fmt.Sprintf("/stream/%d", i))
					if err != nil || body != "replaced" {
						t.Errorf("got %q, %v", body, err)
					}
					t.Logf("override answered in %v", took)
				}()
			}
			wg.Wait()
			o.waitIdle(t, 5*time.Second)
			if got := o.finished.Load(); got != n {
				t.Errorf("origin finished writing %d times, want %d (drained)", got, n)
			}
			for _, f := range env.Rec.WaitFinished(t, n, 5*time.Second) {
				ub := f.Flow.UpstreamBody
				if ub == nil || !ub.Complete || ub.Size < 3<<20 {
					t.Errorf("flow %d upstream body %+v, want the whole stream drained", f.Flow.ID, ub)
				}
				if string(f.Bodies[flow.FacetResponse]) != "replaced" || f.Flow.Overridden != "override" {
					t.Errorf("flow %d served %q overridden %q", f.Flow.ID, f.Bodies[flow.FacetResponse], f.Flow.Overridden)
				}
			}
		})
	}
}

// Beyond MaxDrains concurrent drains, a replaced body's origin connection
// is closed instead of drained: a burst of overrides on large streams must
// not spend the proxy's CPU reading bodies nobody asked for.
func TestOverrideBeyondMaxDrainsClosesOrigin(t *testing.T) {
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			o := newStreamOrigin(t, m)
			env := proxytest.Start(t, proxy.Config{Rules: overrideAll(t, "replaced"), MaxDrains: 1})
			c := m.client(t, env)
			for i := range 2 {
				if body, _, err := o.get(c, fmt.Sprintf("/stream/%d", i)); err != nil || body != "replaced" {
					t.Fatalf("request %d: %q, %v", i, body, err)
				}
			}
			o.waitIdle(t, 5*time.Second)
			if f, cut := o.finished.Load(), o.cut.Load(); f != 1 || cut != 1 {
				t.Errorf("origin finished %d, cut %d; want 1 drained and 1 closed", f, cut)
			}
			complete := 0
			for _, f := range env.Rec.WaitFinished(t, 2, 5*time.Second) {
				if ub := f.Flow.UpstreamBody; ub != nil && ub.Complete {
					complete++
				}
			}
			if complete != 1 {
				t.Errorf("%d upstream bodies recorded complete, want 1 (the drained one)", complete)
			}
		})
	}
}

// The regression test of incident 2, at volume: 200 overridden requests
// with a small drain bound (so the proxy closes origin connections), after
// which goroutines and file descriptors are back to their baseline.
func TestOverrideIncident2NoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("takes several seconds")
	}
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			o := newStreamOrigin(t, m)
			env := proxytest.Start(t, proxy.Config{
				Rules:         overrideAll(t, "replaced"),
				DrainMaxBytes: 256 << 10,
			})
			tr := env.Transport(t, false)
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			baseG := runtime.NumGoroutine()
			baseFD := openFDs(t)
			ignore := goleak.IgnoreCurrent()

			const total, workers = 200, 2
			took := make([]time.Duration, total)
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= total {
							return
						}
						// The origin holds the rest of the body until
						// the client has its answer.
						body, d, err := o.get(c, fmt.Sprintf("/stream/%d", i))
						if err != nil || body != "replaced" {
							t.Errorf("request %d: %q, %v", i, body, err)
						}
						took[i] = d
					}
				}()
			}
			wg.Wait()
			// Every answer above arrived while its origin still held the
			// rest of the body, so none waited for it; how fast they came
			// depends on the machine, and is only reported.
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			t.Logf("override latency: median %v, p99 %v, max %v", took[total/2], took[total*99/100], took[total-1])
			o.waitIdle(t, 10*time.Second)
			if o.finished.Load()+o.cut.Load() != total {
				t.Errorf("origin: %d finished + %d cut, want %d", o.finished.Load(), o.cut.Load(), total)
			}
			env.Rec.WaitFinished(t, total, 10*time.Second)
			tr.CloseIdleConnections()

			deadline := time.Now().Add(10 * time.Second)
			for {
				g, fd := runtime.NumGoroutine(), openFDs(t)
				if g <= baseG && fd <= baseFD {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("goroutines %d (baseline %d), fds %d (baseline %d)", g, baseG, fd, baseFD)
				}
				time.Sleep(20 * time.Millisecond)
			}
			goleak.VerifyNone(t, ignore)
		})
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(es)
}
