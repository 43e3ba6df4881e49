package store

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// The memory bound, as a formula the README documents:
//
//	live heap <= RAMBudget + MaxFlows*headAllowance + boundSlack
//
// headAllowance covers what one flow costs besides its bodies (the Flow
// struct, its index slot, request and response heads of about 1 KiB as in
// boundFlow); boundSlack covers the Go runtime, the test's own buffers and
// the one body that may overshoot the budget while its write is in flight.
// Peak RSS adds the garbage collector's headroom (GOGC=100 lets the heap
// grow to twice the live heap between collections), so it is checked
// against 2*(bound) + rssSlack.
const (
	headAllowance = 3 << 10
	boundSlack    = 16 << 20
	rssSlack      = 48 << 20
)

// boundConfig is the configuration of the bound test and benchmark.
func boundConfig(t testing.TB) Config {
	return Config{
		MaxFlows:       10_000,
		BodyCap:        1 << 20,
		RAMBudget:      32 << 20,
		SpillThreshold: 256 << 10,
		DiskBudget:     64 << 20,
		Dir:            t.TempDir(),
	}
}

var boundHeaders = flow.Fields{
	{Name: "Accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
	{Name: "Accept-Encoding", Value: "gzip, deflate, br, zstd"},
	{Name: "Accept-Language", Value: "en-GB,en;q=0.7"},
	{Name: "Cookie", Value: "session=0123456789abcdef0123456789abcdef; theme=dark; consent=yes"},
	{Name: "User-Agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"},
	{Name: "Sec-Fetch-Mode", Value: "navigate"},
	{Name: "Sec-Fetch-Site", Value: "none"},
	{Name: "Referer", Value: "https://example.test/some/long/path/that/users/have?with=query&and=more"},
}

var boundRespHeaders = flow.Fields{
	{Name: "Cache-Control", Value: "private, max-age=0"},
	{Name: "Content-Type", Value: "application/json; charset=utf-8"},
	{Name: "Date", Value: "Sun, 22 Nov 2026 05:00:00 GMT"},
	{Name: "Server", Value: "origin/1.0"},
	{Name: "Set-Cookie", Value: "session=0123456789abcdef0123456789abcdef; Path=/; HttpOnly; Secure"},
	{Name: "Strict-Transport-Security", Value: "max-age=63072000"},
}

// boundFlow records flow i the way the proxy would: heads, bodies in 32 KiB
// chunks, timings, finish. Every 50th response is 200 KiB (stays in RAM),
// every 1000th is 3 MiB (spilled, cut at the 1 MiB cap). Without
// mediumBodies the flow count is the binding limit, with them the RAM budget.
func boundFlow(s *Store, rng *rand.Rand, chunk []byte, i int, mediumBodies bool) {
	h := s.Begin("127.0.0.1:40000", flow.Request{Method: "GET", Proto: "HTTP/1.1",
		URL: "https://api.example.test/v1/items/" + strconv.Itoa(i) + "?page=2&sort=name", Header: boundHeaders}, t0)
	h.UpstreamRequest(flow.Request{Method: "GET", Proto: "HTTP/1.1", URL: "https://api.example.test/v1/items/" + strconv.Itoa(i), Header: boundHeaders})
	h.Body(flow.FacetRequest, chunk[:rng.IntN(512)])
	h.BodyEnd(flow.FacetRequest)
	h.UpstreamResponse(flow.Response{Status: 200, Proto: "HTTP/1.1", Header: boundRespHeaders})
	h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1", Header: boundRespHeaders})
	size := rng.IntN(4096)
	switch {
	case i%1000 == 999:
		size = 3 << 20
	case mediumBodies && i%50 == 49:
		size = 200 << 10
	}
	for size > 0 {
		n := min(size, len(chunk))
		h.Body(flow.FacetResponse, chunk[:n])
		size -= n
	}
	h.BodyEnd(flow.FacetResponse)
	h.Timings(flow.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: 0.1, Wait: 2, Receive: 1})
	h.Finish(t0.Add(3*time.Millisecond), nil)
}

// rss reads the resident set size and its peak (VmHWM) in bytes.
func rss() (cur, peak int64, ok bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			cur = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return cur, peak, cur > 0
}

type boundResult struct {
	flows                       int
	liveHeapMax, heapPeak, rssP int64
	bound                       int64
	stats                       Stats
	elapsed                     time.Duration
}

// runBound pushes n flows through a store with boundConfig, measuring the
// live heap (after a forced GC) at checkpoints, the sampled peak heap and
// the peak RSS.
func runBound(t testing.TB, n int, mediumBodies bool) boundResult {
	debug.FreeOSMemory()
	cfg := boundConfig(t)
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.Watch() // a live feed that falls behind must not cost memory beyond the flows held
	defer w.Close()

	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rng := rand.New(rand.NewPCG(1, 2))
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = byte(rng.Uint32())
	}
	res := boundResult{flows: n, bound: cfg.RAMBudget + int64(cfg.MaxFlows)*headAllowance + boundSlack}
	start := time.Now()
	for i := range n {
		boundFlow(s, rng, chunk, i, mediumBodies)
		if i%500 == 0 {
			metrics.Read(sample)
			res.heapPeak = max(res.heapPeak, int64(sample[0].Value.Uint64()))
		}
		if i%20_000 == 19_999 {
			w.Take()
			runtime.GC()
			metrics.Read(sample)
			res.liveHeapMax = max(res.liveHeapMax, int64(sample[0].Value.Uint64()))
		}
	}
	res.elapsed = time.Since(start)
	res.stats = s.Stats()
	_, res.rssP, _ = rss()
	return res
}

func (r boundResult) String() string {
	mib := func(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20)) }
	return fmt.Sprintf("%d flows in %v: live heap max %s, sampled heap peak %s, peak RSS %s; bound %s (RAM budget %s); store: %d flows, RAM %s, disk %s, head bytes %s, evicted %d, truncated %d",
		r.flows, r.elapsed.Round(time.Millisecond), mib(r.liveHeapMax), mib(r.heapPeak), mib(r.rssP), mib(r.bound),
		mib(r.stats.RAMBudget), r.stats.Flows, mib(r.stats.BodyBytesRAM), mib(r.stats.BodyBytesDisk),
		mib(r.stats.HeadBytes), r.stats.Evicted, r.stats.Truncated)
}

// TestMemoryBound pushes 200,000 flows (a few thousand of them with large
// bodies) through a store limited to 10,000 flows, 32 MiB of bodies in RAM
// and 64 MiB on disk, and checks that memory stays within the bound above.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("memory bound test skipped in -short mode")
	}
	n := 200_000
	if raceEnabled {
		// The race detector slows this ~50x; the -race run checks the
		// accounting on fewer flows, the normal run measures the bound.
		n = 20_000
	}
	for _, tc := range []struct {
		name         string
		mediumBodies bool
	}{{"count-bound", false}, {"ram-bound", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBound(t, n, tc.mediumBodies)
			t.Log(r)
			st := r.stats
			if st.Flows > 10_000 || st.Flows+int(st.Evicted) != n {
				t.Errorf("flows %d evicted %d: want at most 10000 kept and every other flow evicted", st.Flows, st.Evicted)
			}
			if !tc.mediumBodies && st.Flows != 10_000 {
				t.Errorf("flows %d, want the 10000 limit reached", st.Flows)
			}
			if st.BodyBytesRAM > st.RAMBudget+256<<10 || st.BodyBytesDisk > st.DiskBudget {
				t.Errorf("store over its budgets: RAM %d/%d disk %d/%d", st.BodyBytesRAM, st.RAMBudget, st.BodyBytesDisk, st.DiskBudget)
			}
			if want := uint64(n / 1000); st.Truncated != want {
				t.Errorf("truncated %d bodies, want the %d cut by the cap", st.Truncated, want)
			}
			if r.liveHeapMax > r.bound {
				t.Errorf("live heap %d over the bound %d", r.liveHeapMax, r.bound)
			}
			if raceEnabled {
				return // the race detector's shadow memory makes RSS meaningless
			}
			if r.heapPeak > 2*r.bound {
				t.Errorf("heap peak %d over twice the bound %d", r.heapPeak, r.bound)
			}
			if r.rssP > 0 && r.rssP > 2*r.bound+rssSlack {
				t.Errorf("peak RSS %d over 2*bound+%d = %d", r.rssP, rssSlack, 2*r.bound+rssSlack)
			}
		})
	}
}

// BenchmarkMemoryBound is the heavier version: one million flows. Run it with
//
//	go test -run '^$' -bench MemoryBound -benchtime 1x ./proxy/store
func BenchmarkMemoryBound(b *testing.B) {
	for b.Loop() {
		r := runBound(b, 1_000_000, true)
		b.ReportMetric(float64(r.liveHeapMax)/(1<<20), "live-MiB")
		b.ReportMetric(float64(r.heapPeak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(r.rssP)/(1<<20), "peak-rss-MiB")
		b.ReportMetric(float64(r.bound)/(1<<20), "bound-MiB")
		b.Log(r)
		if r.liveHeapMax > r.bound {
			b.Errorf("live heap %d over the bound %d", r.liveHeapMax, r.bound)
		}
	}
}
