package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxSamples bounds the latencies one worker keeps; past it, reservoir
// sampling keeps a uniform sample, so percentiles stay honest and memory flat.
const maxSamples = 1 << 16

// loadSpec describes a closed-loop load: clients keep-alive clients, each
// with its own connection, sending requests back to back until duration.
type loadSpec struct {
	clients  int
	duration time.Duration
	// url gives the URL of a worker's i-th request.
	url func(worker, i int) string
	// newClient makes one worker's client (its own Transport, one connection).
	newClient func() *http.Client
	// done, if set, is called when a response body has been read to its end.
	done func(worker, i int, at time.Time)
	// count, if set, is shared by the workers: they stop once limit
	// requests have been started in all.
	count *atomic.Int64
	limit int64
}

// stats is the outcome of a load run.
type stats struct {
	Requests int64
	Errors   int64
	FirstErr error
	Bytes    int64
	Elapsed  time.Duration
	lat      []time.Duration // sorted sample of request latencies

	// CPU figures over the run, when known (compareLoad fills them).
	self, proxy         sched
	haveSelf, haveProxy bool
	originConns         int64 // connections the origin accepted during the run
}

// merge adds o's run to s (first: s is empty).
func (s stats) merge(o stats, first bool) stats {
	if first {
		return o
	}
	s.Requests += o.Requests
	s.Errors += o.Errors
	s.Bytes += o.Bytes
	s.Elapsed += o.Elapsed
	if s.FirstErr == nil {
		s.FirstErr = o.FirstErr
	}
	s.lat = append(s.lat, o.lat...)
	slices.Sort(s.lat)
	s.self = s.self.add(o.self)
	s.proxy = s.proxy.add(o.proxy)
	s.haveSelf = s.haveSelf && o.haveSelf
	s.haveProxy = s.haveProxy && o.haveProxy
	s.originConns += o.originConns
	return s
}

// RPS is completed requests per second.
func (s stats) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// MBps is response body megabytes (10^6) per second.
func (s stats) MBps() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Bytes) / 1e6 / s.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0 < p <= 100) of the latencies.
func (s stats) Percentile(p float64) time.Duration { return percentile(s.lat, p) }

// percentile expects sorted durations (nearest-rank method).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// runLoad runs spec and returns its statistics. It ends at spec.duration or
// when ctx ends, whichever is first.
func runLoad(ctx context.Context, spec loadSpec) stats {
	ctx, cancel := context.WithTimeout(ctx, spec.duration)
	defer cancel()
	type result struct {
		n, errs, bytes int64
		firstErr       error
		lat            []time.Duration
	}
	results := make([]result, spec.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range spec.clients {
		wg.Go(func() {
			res := &results[w]
			client := spec.newClient()
			defer client.CloseIdleConnections()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ctx.Err() == nil; i++ {
				if spec.count != nil && spec.count.Add(1) > spec.limit {
					break
				}
				t0 := time.Now()
				n, err := get(ctx, client, spec.url(w, i))
				if err != nil {
					if ctx.Err() != nil {
						break // cut by the end of the run, not a failure
					}
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
					ctxSleep(ctx, 10*time.Millisecond) // no hot loop on a dead proxy
					continue
				}
				end := time.Now()
				if spec.done != nil {
					spec.done(w, i, end)
				}
				res.n++
				res.bytes += n
				d := end.Sub(t0)
				if len(res.lat) < maxSamples {
					res.lat = append(res.lat, d)
				} else if j := rng.Int64N(res.n); j < maxSamples {
					res.lat[j] = d
				}
			}
		})
	}
	wg.Wait()
	st := stats{Elapsed: time.Since(start)}
	for _, r := range results {
		st.Requests += r.n
		st.Errors += r.errs
		st.Bytes += r.bytes
		st.lat = append(st.lat, r.lat...)
		if st.FirstErr == nil {
			st.FirstErr = r.firstErr
		}
	}
	slices.Sort(st.lat)
	return st
}

// get fetches u, reads the body to its end, and returns its length.
func get(ctx context.Context, c *http.Client, u string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return n, nil
}

// clientFor makes a keep-alive client with one connection, through proxy
// (nil: direct), trusting roots for HTTPS (nil roots through a proxy with an
// unknown CA: no verification). HTTP/2 is off so both paths speak HTTP/1.1.
func clientFor(proxy *url.URL, roots *x509.CertPool, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{RootCAs: roots, InsecureSkipVerify: roots == nil},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// errSkip marks a scenario that cannot run against this proxy.
var errSkip = errors.New("skipped")

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
