package proxy_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/proxy/store"
)

// holdOrigin answers /hold with a head and 1 KiB, then holds the rest of
// the body until release is closed (or the connection is cut); /big sends
// 64 KiB at once.
type holdOrigin struct {
	url     string
	release chan struct{}
	once    sync.Once
}

func newHoldOrigin(t *testing.T) *holdOrigin {
	o := &holdOrigin{release: make(chan struct{})}
	srv := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		chunk := strings.Repeat("x", 1024)
		switch r.URL.Path {
		case "/big":
			_, _ = io.WriteString(w, strings.Repeat(chunk, 64))
		default:
			_, _ = io.WriteString(w, chunk)
			_ = http.NewResponseController(w).Flush()
			select {
			case <-o.release:
				_, _ = io.WriteString(w, chunk)
			case <-r.Context().Done():
			}
		}
	}))
	o.url = srv.URL
	// Cleanups run last-in first-out: the holds end before the origin closes.
	t.Cleanup(o.free)
	return o
}

func (o *holdOrigin) free() { o.once.Do(func() { close(o.release) }) }

// waitDone waits until flow id has finished and returns it.
func waitDone(t *testing.T, st *store.Store, id flow.ID) *flow.Flow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f, ok := st.Get(id); ok && f.State != flow.StatePending {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow %d did not finish", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.New(store.Config{DiskBudget: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// An overridden flow whose original body was not kept, or not whole, says
// why, and the capture stats count it: without it, most overridden flows
// of a load test showed no upstream body and no hint.
func TestUpstreamNotKeptSaysWhy(t *testing.T) {
	get := func(t *testing.T, c *http.Client, url string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "replaced" {
			t.Fatalf("%s served %q", url, b)
		}
	}

	t.Run("max drains", func(t *testing.T) {
		o := newHoldOrigin(t)
		st := newStore(t)
		env := proxytest.Start(t, proxy.Config{Rules: overrideAll(t, "replaced"), MaxDrains: 1, Recorder: st})
		c := env.Client(t)
		// The first override's drain starts before its client is
		// answered, and the origin holds it open.
		get(t, c, o.url+"/hold?n=1")
		get(t, c, o.url+"/hold?n=2")
		o.free()
		first, second := waitDone(t, st, 1), waitDone(t, st, 2)
		if first.UpstreamNotKept != "" || first.UpstreamBody == nil || !first.UpstreamBody.Complete || first.UpstreamBody.Size != 2048 {
			t.Errorf("drained flow: notKept %q, upstream body %+v", first.UpstreamNotKept, first.UpstreamBody)
		}
		if want := "original not kept: 1 drain was already running (-max-drains)"; second.UpstreamNotKept != want {
			t.Errorf("second flow: notKept %q, want %q", second.UpstreamNotKept, want)
		}
		if n := st.Stats().UpstreamNotKept; n != 1 {
			t.Errorf("stats count %d flows without their original, want 1", n)
		}
	})

	for _, tc := range []struct {
		name, path string
		cfg        proxy.Config
		want       string
	}{
		{"drain timeout", "/hold", proxy.Config{DrainTimeout: time.Millisecond}, "original cut short: past -drain-timeout (1ms)"},
		{"drain bytes", "/big", proxy.Config{DrainMaxBytes: 1024}, "original cut short: past -drain-max-bytes (1 KiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newHoldOrigin(t)
			st := newStore(t)
			cfg := tc.cfg
			cfg.Rules, cfg.Recorder = overrideAll(t, "replaced"), st
			env := proxytest.Start(t, cfg)
			get(t, env.Client(t), o.url+tc.path)
			if f := waitDone(t, st, 1); f.UpstreamNotKept != tc.want {
				t.Errorf("notKept %q, want %q", f.UpstreamNotKept, tc.want)
			}
			if n := st.Stats().UpstreamNotKept; n != 1 {
				t.Errorf("stats count %d, want 1", n)
			}
		})
	}

	t.Run("shutdown", func(t *testing.T) {
		o := newHoldOrigin(t)
		st := newStore(t)
		env := proxytest.Start(t, proxy.Config{Rules: overrideAll(t, "replaced"), Recorder: st})
		get(t, env.Client(t), o.url+"/hold")
		// A shutdown out of time cuts the drain the origin holds open.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = env.Proxy.Shutdown(ctx)
		if f := waitDone(t, st, 1); f.UpstreamNotKept != "original cut short: closed at shutdown" {
			t.Errorf("notKept %q", f.UpstreamNotKept)
		}
	})
}
