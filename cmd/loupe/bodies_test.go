package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Large bodies reach the durable capture byte for byte, however the origin
// cuts them up and however many flows share the writer's buffers: the
// capture's buffers are the ones the proxy reads into (flow.BodyLender),
// so a buffer reused too early would show here as another flow's bytes.
// Plain HTTP/1.1 and HTTP/2 through a TLS tunnel, with a length or chunked.
func TestLargeBodiesStoredAsServed(t *testing.T) {
	bodies := map[string][]byte{}
	for i, n := range []int{1<<20 + 17, 300_001, 64 << 10, 2<<20 - 3} {
		b := make([]byte, n)
		r := rand.New(rand.NewPCG(uint64(i), 7))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		bodies["/b"+strconv.Itoa(i)] = b
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			_, _ = w.Write(b)
			return
		}
		// Odd pieces, flushed one by one: reads of every size reach the proxy.
		for len(b) > 0 {
			n := min(len(b), 1+len(b)%50_021)
			_, _ = w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(h)
	secure.EnableHTTP2 = true
	secure.StartTLS()
	defer secure.Close()

	m, _ := start(t, "-insecure-upstream")
	c1 := client(t, m)
	c2 := client(t, m)
	c2.Transport.(*http.Transport).ForceAttemptHTTP2 = true

	type fetch struct{ url, path string }
	var fetches []fetch
	for path := range bodies {
		for _, base := range []string{plain.URL, secure.URL} {
			fetches = append(fetches, fetch{base + path, path}, fetch{base + path + "?chunked=1", path})
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(fetches))
	for i, f := range fetches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c1
			if i%2 == 1 {
				c = c2
			}
			resp, err := c.Get(f.url)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(got, bodies[f.path]) {
				errs <- fmt.Errorf("%s through the proxy: %d bytes, %v", f.url, len(got), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	type listed struct {
		ID    int    `json:"id"`
		URL   string `json:"url"`
		State string `json:"state"`
	}
	var list struct {
		Flows []listed `json:"flows"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, b := api(t, m, "GET", "/api/flows?limit=100", "")
		if status != http.StatusOK {
			t.Fatalf("list: %d %s", status, b)
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, f := range list.Flows {
			if f.State == "done" {
				done++
			}
		}
		if done == len(fetches) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(list.Flows) != len(fetches) {
		t.Fatalf("%d finished flows in the capture, want %d", len(list.Flows), len(fetches))
	}
	protos := map[string]bool{}
	for _, f := range list.Flows {
		_, detail := api(t, m, "GET", "/api/flows/"+strconv.Itoa(f.ID), "")
		var d struct {
			Request struct {
				Proto string `json:"proto"`
			} `json:"request"`
		}
		_ = json.Unmarshal(detail, &d)
		protos[d.Request.Proto] = true
		var path string
		for p := range bodies {
			if bytes.Contains([]byte(f.URL), []byte(p+"?")) || bytes.HasSuffix([]byte(f.URL), []byte(p)) {
				path = p
			}
		}
		status, got := api(t, m, "GET", "/api/flows/"+strconv.Itoa(f.ID)+"/response/body", "")
		if status != http.StatusOK || !bytes.Equal(got, bodies[path]) {
			t.Errorf("flow %d (%s): stored %d bytes (status %d), want the %d served", f.ID, f.URL, len(got), status, len(bodies[path]))
		}
	}
	if !protos["HTTP/1.1"] || !protos["HTTP/2.0"] {
		t.Errorf("protocols recorded %v, want HTTP/1.1 and HTTP/2.0", protos)
	}
}
