package proxy_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

// Streaming bodies reach the client piece by piece: the origin writes the
// next piece only after the client has received the previous one, so any
// buffering in the proxy deadlocks into a timeout.
func TestStreamingIsNeverBuffered(t *testing.T) {
	kinds := []struct {
		name, ctype string
		piece       func(i int) string
	}{
		{"chunked", "application/octet-stream", func(i int) string { return fmt.Sprintf("piece-%d;", i) }},
		{"sse", "text/event-stream", func(i int) string { return fmt.Sprintf("data: event %d\n\n", i) }},
		{"ndjson", "application/x-ndjson", func(i int) string { return fmt.Sprintf("{\"n\":%d}\n", i) }},
	}
	for _, m := range modes {
		for _, k := range kinds {
			t.Run(m.name+"/"+k.name, func(t *testing.T) {
				next, stop := make(chan struct{}), make(chan struct{})
				origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", k.ctype)
					rc := http.NewResponseController(w)
					for i := range 3 {
						_, _ = io.WriteString(w, k.piece(i))
						_ = rc.Flush()
						// The next piece is written only once the client
						// read this one: a proxy that buffers never
						// delivers it.
						select {
						case <-next:
						case <-r.Context().Done():
							return
						case <-stop: // test over
							return
						}
					}
				}))
				t.Cleanup(func() { close(stop) }) // before the origin's Close
				env := proxytest.Start(t, proxy.Config{})
				resp, err := m.client(t, env).Get(origin.URL + "/stream")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.ContentLength != -1 {
					t.Errorf("ContentLength %d, want unknown", resp.ContentLength)
				}
				for i := range 3 {
					want := k.piece(i)
					got := make([]byte, len(want))
					read := make(chan error, 1)
					go func() { _, err := io.ReadFull(resp.Body, got); read <- err }()
					select {
					case err := <-read:
						if err != nil || string(got) != want {
							t.Fatalf("piece %d: %q, %v", i, got, err)
						}
					case <-time.After(30 * time.Second):
						t.Fatalf("piece %d not delivered: the proxy buffers", i)
					}
					next <- struct{}{}
				}
			})
		}
	}
}

// bigSize is the size of the large transfer tests: 64 MiB by default,
// 1 GiB with LOUPE_BIG=1 (too slow for every run on a small machine).
func bigSize() int64 {
	if os.Getenv("LOUPE_BIG") != "" {
		return 1 << 30
	}
	return 64 << 20
}

// heapWatch samples the heap while a transfer runs and reports the peak
// growth over the starting point.
func heapWatch() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
					peak.Store(ms.HeapInuse - base)
				}
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

type zeroReader struct{ left int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	clear(p[:n])
	z.left -= n
	return int(n), nil
}

func TestLargeTransfersKeepMemoryFlat(t *testing.T) {
	size := bigSize()
	const limit = 48 << 20 // far below the transfer size
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					n, err := io.Copy(io.Discard, r.Body)
					fmt.Fprintf(w, "%d %v", n, err)
					return
				}
				w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
				_, _ = io.Copy(w, &zeroReader{left: size})
			}))
			env := proxytest.Start(t, proxy.Config{})
			c := m.client(t, env)
			c.Timeout = 5 * time.Minute

			stop := heapWatch()
			resp, err := c.Get(origin.URL + "/download")
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			peak := stop()
			if err != nil || n != size {
				t.Fatalf("download: %d bytes, %v", n, err)
			}
			t.Logf("download %d MiB: peak heap growth %d MiB", size>>20, peak>>20)
			if peak > limit {
				t.Errorf("download grew the heap by %d MiB", peak>>20)
			}

			stop = heapWatch()
			req, _ := http.NewRequest("POST", origin.URL+"/upload", &zeroReader{left: size})
			req.ContentLength = size
			resp, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			peak = stop()
			if string(b) != fmt.Sprintf("%d <nil>", size) {
				t.Fatalf("upload: origin said %q", b)
			}
			t.Logf("upload %d MiB: peak heap growth %d MiB", size>>20, peak>>20)
			if peak > limit {
				t.Errorf("upload grew the heap by %d MiB", peak>>20)
			}
			f := env.Rec.Last(t)
			if f.Flow.RequestBody.Size != size || !f.Flow.RequestBody.Complete {
				t.Errorf("recorded request body %+v", f.Flow.RequestBody)
			}
		})
	}
}

// A body with content survives the proxy byte for byte, both ways.
func TestBodiesIntact(t *testing.T) {
	payload := make([]byte, 3<<20+17)
	_, _ = rand.Read(payload)
	sum := sha256.Sum256(payload)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				s := sha256.Sum256(b)
				w.Header().Set("X-Sum", fmt.Sprintf("%x", s))
				_, _ = w.Write(b)
			}))
			env := proxytest.Start(t, proxy.Config{})
			resp, err := m.client(t, env).Post(origin.URL, "application/octet-stream", strings.NewReader(string(payload)))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || sha256.Sum256(b) != sum || resp.Header.Get("X-Sum") != fmt.Sprintf("%x", sum) {
				t.Fatalf("body changed in transit (%d bytes, %v)", len(b), err)
			}
		})
	}
}

// Client goes away: the upstream request is cancelled (the origin would
// otherwise hold it open for good).
func TestClientAbortCancelsUpstream(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			cancelled := make(chan time.Time, 1)
			started := make(chan struct{}, 1)
			stop := make(chan struct{})
			origin := m.origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/body" {
					w.Header().Set("Content-Type", "text/plain")
					_, _ = io.WriteString(w, "first")
					_ = http.NewResponseController(w).Flush()
				}
				started <- struct{}{}
				select {
				case <-r.Context().Done():
					cancelled <- time.Now()
				case <-stop: // test over
				}
			}))
			t.Cleanup(func() { close(stop) }) // before the origin's Close
			env := proxytest.Start(t, proxy.Config{})
			for _, path := range []string{"/head", "/body"} {
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, "GET", origin.URL+path, nil)
				errc := make(chan error, 1)
				go func() {
					resp, err := m.client(t, env).Do(req)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					errc <- err
				}()
				<-started
				time.Sleep(50 * time.Millisecond)
				at := time.Now()
				cancel()
				select {
				case got := <-cancelled:
					t.Logf("%s: upstream cancelled %v after the client", path, got.Sub(at))
				case <-time.After(30 * time.Second):
					t.Fatalf("%s: upstream request not cancelled", path)
				}
				// A TLS client's close_notify can race its own cancellation:
				// the answer to the cancelled upstream request may still
				// arrive first. Only a different error is wrong.
				if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("%s: client error %v", path, err)
				}
				f := env.Rec.Last(t)
				if f.Flow.State != flow.StateError || !strings.Contains(f.Flow.Error, "client went away") {
					t.Errorf("%s: flow state %s error %q", path, f.Flow.State, f.Flow.Error)
				}
			}
		})
	}
}
