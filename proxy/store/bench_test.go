package store

import (
	"fmt"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// BenchmarkRecord measures the proxy's side: one flow with heads, a 16 KiB
// response body in 4 KiB chunks and Finish, from parallel goroutines, while
// a reader lists the newest flows.
//
//	go test -run '^$' -bench Record -benchtime 20000x ./proxy/store
func BenchmarkRecord(b *testing.B) {
	b.Run("alone", func(b *testing.B) { benchRecord(b, false) })
	b.Run("with-reader", func(b *testing.B) { benchRecord(b, true) })
}

func benchRecord(b *testing.B, reader bool) {
	s := newStore(b, Config{MaxFlows: 5000, RAMBudget: 32 << 20})
	chunk := make([]byte, 4096)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for reader {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // a dashboard refreshing its filter
				listOf(s, func(f *flow.Flow) bool { return f.Response != nil }, 0, 100)
			}
		}
		<-stop
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h := s.Begin("127.0.0.1:1", req("/bench"), t0)
			h.Response(flow.Response{Status: 200, Header: boundRespHeaders})
			for range 4 {
				h.Body(flow.FacetResponse, chunk)
			}
			h.BodyEnd(flow.FacetResponse)
			h.Finish(t0, nil)
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

// BenchmarkList measures a filtered List over a full store of 50,000 flows.
//
//	go test -run '^$' -bench List ./proxy/store
func BenchmarkList(b *testing.B) {
	s := newStore(b, Config{MaxFlows: 50_000})
	for i := range 50_000 {
		record(s, fmt.Sprint("/", i), []byte("ok"))
	}
	match := func(f *flow.Flow) bool { return f.ID%10 == 0 }
	b.ReportAllocs()
	for b.Loop() {
		if _, total := listOf(s, match, 0, 100); total != 5000 {
			b.Fatalf("total %d", total)
		}
	}
}

// BenchmarkRecordMegabyte measures capturing 1 MiB responses in 32 KiB
// writes (what the proxy's copy loop hands over) with the default RAM
// budget full, so that every new body evicts an old one.
//
//	go test -run '^$' -bench RecordMegabyte ./proxy/store
func BenchmarkRecordMegabyte(b *testing.B) {
	s := newStore(b, Config{})
	chunk := make([]byte, 32<<10)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		h := s.Begin("127.0.0.1:1", req("/mb"), t0)
		h.Response(flow.Response{Status: 200, Header: boundRespHeaders})
		for range 32 {
			h.Body(flow.FacetResponse, chunk)
		}
		h.BodyEnd(flow.FacetResponse)
		h.Finish(t0, nil)
	}
}

// BenchmarkRecordSmall measures what the proxy reports for one small GET
// answered by the origin: the four heads (as sent and as received, equal
// here), a 200-byte response body, timings and Finish, with the default
// flow limit so that old flows are evicted as in a long capture.
//
//	go test -run '^$' -bench RecordSmall -benchtime 200000x ./proxy/store
func BenchmarkRecordSmall(b *testing.B) {
	s := newStore(b, Config{})
	reqHead := flow.Request{Method: "GET", URL: "http://127.0.0.1:8080/small", Proto: "HTTP/1.1", Header: flow.Fields{
		{Name: "Host", Value: "127.0.0.1:8080"}, {Name: "Accept-Encoding", Value: "gzip"}, {Name: "User-Agent", Value: "Go-http-client/1.1"},
	}}
	respHead := flow.Response{Status: 200, Proto: "HTTP/1.1", Header: flow.Fields{
		{Name: "Content-Length", Value: "200"}, {Name: "Content-Type", Value: "text/plain"}, {Name: "Date", Value: "Sun, 22 Nov 2026 07:00:00 GMT"},
	}}
	payload := make([]byte, 200)
	b.ReportAllocs()
	for b.Loop() {
		h := s.Begin("127.0.0.1:40000", reqHead, t0)
		h.BodyEnd(flow.FacetRequest)
		h.UpstreamRequest(reqHead)
		h.UpstreamResponse(respHead)
		h.Response(respHead)
		h.Body(flow.FacetResponse, payload)
		h.BodyEnd(flow.FacetResponse)
		h.Timings(flow.NoTimings)
		h.Finish(t0, nil)
	}
}
