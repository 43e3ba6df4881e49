package disk

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// The benchmarks mirror the memory store's (proxy/store/bench_test.go) so
// that the two can be compared:
//
//	go test -run '^$' -bench 'Record' -benchtime 20000x ./proxy/store ./proxy/store/disk
//
// Each has two forms. "enqueue" is what the proxy's goroutines pay: the
// recorder's calls, with the writer held off until the timing ends (a
// batch delay of an hour and queues that never fill), so that the writer
// does not compete for the two cores of this machine. "durable" flushes
// every 1,000 flows inside the timing, so ns/op is the sustained cost of a
// flow through to the database, writer included.

var smallReq = flow.Request{Method: "GET", URL: "http://127.0.0.1:8080/small", Proto: "HTTP/1.1", Header: flow.Fields{
	{Name: "Host", Value: "127.0.0.1:8080"}, {Name: "Accept-Encoding", Value: "gzip"}, {Name: "User-Agent", Value: "Go-http-client/1.1"},
}}

var smallResp = flow.Response{Status: 200, Proto: "HTTP/1.1", Header: flow.Fields{
	{Name: "Content-Length", Value: "200"}, {Name: "Content-Type", Value: "text/plain"}, {Name: "Date", Value: "Sun, 22 Nov 2026 07:00:00 GMT"},
}}

// recordSmall is BenchmarkRecordSmall's flow: a small GET answered by the
// origin, heads as sent equal to heads as received.
func recordSmall(s *Store, payload []byte) {
	h := s.Begin("127.0.0.1:40000", smallReq, time.Now())
	h.BodyEnd(flow.FacetRequest)
	h.UpstreamRequest(smallReq)
	h.UpstreamResponse(smallResp)
	h.Response(smallResp)
	h.Body(flow.FacetResponse, payload)
	h.BodyEnd(flow.FacetResponse)
	h.Timings(flow.NoTimings)
	h.Finish(time.Now(), nil)
}

// recordMedium is BenchmarkRecord's flow: a 16 KiB response in 4 KiB
// chunks.
func recordMedium(s *Store, chunk []byte) {
	h := s.Begin("127.0.0.1:1", req("/bench"), time.Now())
	h.Response(flow.Response{Status: 200, Header: smallResp.Header})
	for range 4 {
		h.Body(flow.FacetResponse, chunk)
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(time.Now(), nil)
}

// benchConfig is cfg with, for the enqueue form, the writer held off.
func benchConfig(cfg Config, durable bool) Config {
	if !durable {
		cfg.BatchDelay = time.Hour
		cfg.BatchEvents = 1 << 30
		cfg.QueueEvents = 1 << 30
		cfg.QueueFlows = 1 << 30
		cfg.QueueBytes = 1 << 40
	}
	return cfg
}

var forms = []struct {
	name    string
	durable bool
}{{"enqueue", false}, {"durable", true}}

func reportCapture(b *testing.B, s *Store) {
	c := s.Counters()
	b.ReportMetric(float64(c.DroppedFlows)/float64(b.N), "dropped-flows/op")
	b.ReportMetric(float64(c.Truncated)/float64(b.N), "truncated/op")
	if c.Flows > 0 {
		b.ReportMetric(float64(c.DBBytes+c.SegmentBytes)/float64(c.Flows), "disk-B/flow")
	}
}

func BenchmarkRecordSmall(b *testing.B) {
	payload := make([]byte, 200)
	for _, form := range forms {
		durable := form.durable
		b.Run(form.name, func(b *testing.B) {
			s := openStore(b, benchConfig(Config{MaxFlows: 50_000}, durable))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				recordSmall(s, payload)
				if i++; durable && i%1000 == 0 {
					s.Flush()
				}
			}
			if durable {
				s.Flush()
			}
			b.StopTimer()
			s.Flush()
			reportCapture(b, s)
		})
	}
}

func BenchmarkRecord(b *testing.B) {
	chunk := make([]byte, 4096)
	for _, form := range forms {
		durable := form.durable
		b.Run(form.name, func(b *testing.B) {
			s := openStore(b, benchConfig(Config{MaxFlows: 5000}, durable))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					recordMedium(s, chunk)
					if i++; durable && i%1000 == 0 {
						s.Flush()
					}
				}
			})
			if durable {
				s.Flush()
			}
			b.StopTimer()
			s.Flush()
			reportCapture(b, s)
		})
	}
}

// BenchmarkRecordMegabyte records 1 MiB responses through to segment
// files, read as the proxy's copy loop reads a bulk body: in 256 KiB reads
// into its own reused buffer, which Body copies ("copied"), or into
// buffers the handle lends, which Body keeps ("lent", flow.BodyLender).
// The read itself is a copy from a source buffer, as the kernel's is, and
// the body is binary (not text-indexed).
// cpu-µs/MB is the process's CPU time (getrusage: the writer's included).
func BenchmarkRecordMegabyte(b *testing.B) {
	// A binary body: the text index does not read it.
	binaryHeader := flow.Fields{{Name: "Content-Length", Value: "1048576"}, {Name: "Content-Type", Value: "application/octet-stream"}}
	src := pattern(1, 1<<20)
	for _, lend := range []bool{false, true} {
		b.Run(map[bool]string{false: "copied", true: "lent"}[lend], func(b *testing.B) {
			s := openStore(b, Config{MaxBytes: 256 << 20})
			own := make([]byte, 256<<10)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			start := cpuTime(b)
			n := 0
			for b.Loop() {
				h := s.Begin("127.0.0.1:1", req("/mb"), time.Now())
				h.Response(flow.Response{Status: 200, Header: binaryHeader})
				lender := h.(flow.BodyLender)
				for off := 0; off < len(src); off += len(own) {
					buf := own
					if lend {
						buf = lender.LendBody(len(own))
					}
					copy(buf, src[off:])
					h.Body(flow.FacetResponse, buf)
					if lend {
						lender.ReturnBody(buf)
					}
				}
				h.BodyEnd(flow.FacetResponse)
				h.Finish(time.Now(), nil)
				if n++; n%8 == 0 {
					s.Flush()
				}
			}
			s.Flush()
			b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(n), "cpu-µs/MB")
			b.StopTimer()
			reportCapture(b, s)
		})
	}
}

// BenchmarkList measures a page of the newest flows and a filtered List
// over a capture of 50,000 flows.
func BenchmarkList(b *testing.B) {
	s := openStore(b, Config{})
	payload := make([]byte, 200)
	for range 50_000 {
		recordSmall(s, payload)
	}
	s.Flush()
	b.Run("newest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if sums, _ := listOf(s, nil, 0, 100); len(sums) != 100 {
				b.Fatal(len(sums))
			}
		}
	})
	b.Run(fmt.Sprintf("filtered-scan-%d", s.cfg.ScanLimit), func(b *testing.B) {
		match := func(f *flow.Flow) bool { return f.ID%10 == 0 }
		b.ReportAllocs()
		for b.Loop() {
			listOf(s, match, 0, 100)
		}
	})
}

// BenchmarkRecordSmallCPU records small flows through to the database and
// then waits for the text index to catch up, and reports the process's CPU
// time per flow (getrusage: every goroutine, the writer's included), split
// into the recording and writing (write-µs/flow) and the text index after
// it (text-µs/flow). CPU time, unlike ns/op, holds on a shared machine.
// "flush" flushes every 1,000 flows; "paced" records 100 flows every 50 ms
// (2,000 flows/s, batches as the proxy makes them under a steady load).
func BenchmarkRecordSmallCPU(b *testing.B) {
	payload := []byte(strings.Repeat("a small response body, ", 9))
	for _, paced := range []bool{false, true} {
		name := "flush"
		if paced {
			name = "paced"
		}
		b.Run(name, func(b *testing.B) {
			s := openStore(b, Config{MaxFlows: 1 << 20})
			start := cpuTime(b)
			n := 0
			tick := time.Now()
			for b.Loop() {
				recordSmall(s, payload)
				n++
				switch {
				case paced && n%100 == 0:
					tick = tick.Add(50 * time.Millisecond)
					time.Sleep(time.Until(tick))
				case !paced && n%1000 == 0:
					s.Flush()
				}
			}
			s.Flush()
			written := cpuTime(b)
			waitText(b, s)
			indexed := cpuTime(b)
			b.ReportMetric(float64((written-start).Microseconds())/float64(n), "write-µs/flow")
			b.ReportMetric(float64((indexed-written).Microseconds())/float64(n), "text-µs/flow")
			b.ReportMetric(float64((indexed-start).Microseconds())/float64(n), "cpu-µs/flow")
			b.ReportMetric(float64(s.Counters().Batches)/float64(n), "batches/flow")
		})
	}
}

// BenchmarkImportTextCPU imports small flows (1 KB text bodies) and waits
// for the idle writer to index their text (imported flows, like flows whose
// bytes span batches, are indexed from the database), and reports the
// process's CPU time per flow for the import (import-µs/flow) and for the
// text index after it (text-µs/flow).
func BenchmarkImportTextCPU(b *testing.B) {
	s := openStore(b, Config{MaxFlows: 1 << 20})
	rng := rand.New(rand.NewPCG(3, 4))
	recs := benchFlows(rng, 0, b.N)
	b.ResetTimer()
	start := cpuTime(b)
	if _, err := s.Import(recs); err != nil {
		b.Fatal(err)
	}
	s.Flush()
	imported := cpuTime(b)
	waitText(b, s)
	indexed := cpuTime(b)
	b.ReportMetric(float64((imported-start).Microseconds())/float64(b.N), "import-µs/flow")
	b.ReportMetric(float64((indexed-imported).Microseconds())/float64(b.N), "text-µs/flow")
}

// waitText waits until the text index holds every ended flow.
func waitText(b *testing.B, s *Store) {
	for range 100_000 {
		var left bool
		s.rdb.QueryRow("SELECT EXISTS (SELECT 1 FROM flows WHERE text_state = 0 AND state != 'pending')").Scan(&left)
		if !left {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("text index never caught up")
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
