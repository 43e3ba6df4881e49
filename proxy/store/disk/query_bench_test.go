package disk

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// BenchmarkQuery measures queries over a large capture (1,000,000 flows by
// default) built through Import: a first page of
// `status:5xx host:*.example.com` (the SQL path, with its count), body
// substring searches (the full-text index, then a check in Go), and opening
// a flow's detail. Each reports its p95 besides ns/op.
//
//	LOUPE_BENCH_CAPTURE=/tmp/loupe-bench-1m go test -run '^$' -bench Query -benchtime 50x -timeout 60m ./proxy/store/disk
//
// LOUPE_BENCH_CAPTURE keeps the capture between runs (building it takes
// minutes); LOUPE_BENCH_FLOWS changes the size.
func BenchmarkQuery(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("LOUPE_BENCH_FLOWS")); err == nil && v > 0 {
		n = v
	}
	dir := os.Getenv("LOUPE_BENCH_CAPTURE")
	if dir == "" {
		dir = b.TempDir()
	}
	s := openStore(b, Config{Dir: dir, MaxFlows: n + 100_000, MaxBytes: 1 << 40, MaxAge: 100 * 365 * 24 * time.Hour})
	have := int(s.c.flows.Load())
	if have < n {
		start := time.Now()
		rng := rand.New(rand.NewPCG(7, uint64(have)))
		for i := have; i < n; {
			k := min(20_000, n-i)
			if _, err := s.Import(benchFlows(rng, i, k)); err != nil {
				b.Fatal(err)
			}
			i += k
		}
		b.Logf("imported %d flows in %v", n-have, time.Since(start))
	}
	start := time.Now()
	for {
		flush(b, s)
		var left int
		s.rdb.QueryRow("SELECT count(*) FROM flows WHERE text_state = 0 AND state != 'pending'").Scan(&left)
		if left == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Logf("text index caught up after %v", time.Since(start))
	var size int64
	if st, err := os.Stat(s.dbPath); err == nil {
		size = st.Size()
	}
	b.Logf("%d flows, database %d MB (%.0f B per flow)", s.c.flows.Load(), size>>20, float64(size)/float64(s.c.flows.Load()))

	run := func(name, qs string, check func(query.Result)) {
		q, err := filter.Parse(qs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				t := time.Now()
				r := s.List(q, query.Page{Limit: 100})
				times = append(times, time.Since(t))
				check(r)
			}
			reportP95(b, times)
		})
	}
	run("first-page/status:5xx_host:*.example.com", "status:5xx host:*.example.com", func(r query.Result) {
		if len(r.Flows) != 100 || !r.Complete || r.Total < 100 {
			b.Fatalf("page of %d, total %d, complete %v", len(r.Flows), r.Total, r.Complete)
		}
	})
	run("first-page/unfiltered", "", func(r query.Result) {
		if len(r.Flows) != 100 {
			b.Fatalf("page of %d", len(r.Flows))
		}
	})
	run("body/rare", "body:zebra-0042", func(r query.Result) {
		if r.Total == 0 {
			b.Fatal("no match")
		}
	})
	run("body/common", "body:lorem", func(r query.Result) {
		if len(r.Flows) != 100 {
			b.Fatalf("page of %d", len(r.Flows))
		}
	})
	run("url-text", "item/12345", func(r query.Result) {})
	b.Run("detail", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 1))
		var times []time.Duration
		total := s.c.flows.Load()
		for b.Loop() {
			id := flow.ID(1 + rng.Int64N(total))
			t := time.Now()
			if _, ok := s.Get(id); !ok {
				b.Fatalf("flow %d missing", id)
			}
			if rc, _, err := s.DecodedBody(id, flow.FacetResponse); err == nil {
				rc.Close()
			}
			times = append(times, time.Since(t))
		}
		reportP95(b, times)
	})
}

func reportP95(b *testing.B, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	p95 := times[min(len(times)-1, len(times)*95/100)]
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
}

// benchFlows makes k flows numbered from i: a third on *.example.com, one
// in twenty a 5xx, 1 KB text bodies of common words with one rare word.
func benchFlows(rng *rand.Rand, from, k int) []flow.Recorded {
	words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua")
	out := make([]flow.Recorded, 0, k)
	t := time.Now().Add(-time.Hour)
	for i := from; i < from+k; i++ {
		host := []string{fmt.Sprintf("svc%d.example.com", i%50), "cdn.example.org", fmt.Sprintf("h%d.test", i%7)}[i%3]
		status := 200
		if rng.IntN(20) == 0 {
			status = 500 + rng.IntN(4)
		}
		var body strings.Builder
		for body.Len() < 1000 {
			body.WriteString(words[rng.IntN(len(words))])
			body.WriteByte(' ')
		}
		fmt.Fprintf(&body, "zebra-%04d", i%10_000)
		f := flow.Flow{Start: t, End: t.Add(2 * time.Millisecond), State: flow.StateDone,
			Request: flow.Request{Method: "GET", URL: fmt.Sprintf("https://%s/item/%d", host, i), Proto: "HTTP/1.1",
				Header: flow.Fields{{Name: "Accept", Value: "*/*"}}},
			Response: &flow.Response{Status: status, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}}}
		out = append(out, flow.Recorded{Flow: f, Bodies: map[flow.Facet][]byte{flow.FacetResponse: []byte(body.String())}})
	}
	return out
}
