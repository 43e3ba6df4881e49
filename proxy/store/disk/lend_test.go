package disk

import (
	"bytes"
	"sync"
	"testing"
	"time"
	"unsafe"

	"loupe/proxy/flow"
)

// queuedLent counts the queued body events that hold a lent buffer rather
// than a copy.
func queuedLent(s *Store) (lent, copied int) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	for _, e := range s.q.evs {
		switch {
		case e.kind != evBody:
		case e.lent != nil:
			lent++
		default:
			copied++
		}
	}
	return lent, copied
}

// A body read into lent buffers is stored byte for byte: reads that fill at
// least half their buffer are queued without a copy, the others (and bytes
// from the caller's own buffers) are copied. A buffer kept by the queue is
// not lent again until the writer is done with it, whatever the borrower
// does with the ones it gets next.
func TestLentBodiesKeptWithoutCopy(t *testing.T) {
	s := openStore(t, Config{BatchDelay: time.Hour, BatchEvents: 1 << 30, QueueBytes: 1 << 30})
	h := s.Begin("127.0.0.1:1", req("/lent"), t0)
	h.Response(textResp)
	lender, ok := h.(flow.BodyLender)
	if !ok {
		t.Fatal("the durable capture's handle lends no buffers")
	}
	if b := lender.LendBody(lendMin - 1); b != nil {
		t.Errorf("lent %d bytes for a read of %d", len(b), lendMin-1)
	}
	reads := []struct {
		size, n int
		lent    bool // read into a lent buffer (else the caller's own)
		kept    bool // queued without a copy
	}{
		{32 << 10, 32 << 10, true, true},
		{256 << 10, 256<<10 - 1, true, true},
		{256 << 10, 128<<10 + 3, true, true}, // half full and some: odd length, direct I/O pads it
		{256 << 10, 100_000, true, false},    // under half: copied
		{32 << 10, 5_000, true, false},
		{256 << 10, 70_000, false, false},
		{256 << 10, 200_001, true, true},
	}
	var want []byte
	var kept [][]byte
	for i, r := range reads {
		src := pattern(10+i, r.n)
		want = append(want, src...)
		var buf []byte
		if r.lent {
			buf = lender.LendBody(r.size)
			if len(buf) != r.size {
				t.Fatalf("read %d: lent %d bytes, want %d", i, len(buf), r.size)
			}
			for _, k := range kept {
				if unsafe.SliceData(k) == unsafe.SliceData(buf) {
					t.Fatalf("read %d: lent a buffer the queue still holds", i)
				}
			}
		} else {
			buf = make([]byte, r.size)
		}
		copy(buf, src)
		h.Body(flow.FacetResponse, buf[:r.n])
		if r.lent {
			lender.ReturnBody(buf)
		}
		if r.kept {
			kept = append(kept, buf)
		} else {
			clear(buf) // a copied read's buffer is the caller's again
		}
	}
	wantKept := 0
	for _, r := range reads {
		if r.kept {
			wantKept++
		}
	}
	if lent, copied := queuedLent(s); lent != wantKept || copied != len(reads)-wantKept {
		t.Errorf("queued %d lent and %d copied body events, want %d and %d", lent, copied, wantKept, len(reads)-wantKept)
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(time.Millisecond), nil)
	flush(t, s)
	if got := readBody(t, s, h.ID(), flow.FacetResponse); !bytes.Equal(got, want) {
		t.Errorf("stored body of %d bytes differs from the %d read", len(got), len(want))
	}
	if q := s.q.bytes.Load(); q != 0 {
		t.Errorf("%d bytes still reserved in the queue after the flush", q)
	}
}

// Many flows lend, fill, record and give back buffers at once while the
// writer stores them: every body is stored as read (run with -race).
func TestLentBodiesConcurrent(t *testing.T) {
	s := openStore(t, Config{SegmentSize: 1 << 20})
	const flows, chunks = 8, 12
	var wg sync.WaitGroup
	ids := make([]flow.ID, flows)
	wants := make([][]byte, flows)
	for f := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := s.Begin("127.0.0.1:1", req("/c"), t0)
			h.Response(textResp)
			lender := h.(flow.BodyLender)
			var want []byte
			for c := range chunks {
				n := 16_000 + (f*7919+c*104729)%(240<<10)
				b := lender.LendBody(256 << 10)
				src := pattern(f*100+c, n)
				copy(b, src)
				h.Body(flow.FacetResponse, b[:n])
				lender.ReturnBody(b)
				want = append(want, src...)
			}
			h.BodyEnd(flow.FacetResponse)
			h.Finish(t0.Add(time.Millisecond), nil)
			ids[f], wants[f] = h.ID(), want
		}()
	}
	wg.Wait()
	flush(t, s)
	for f := range flows {
		if got := readBody(t, s, ids[f], flow.FacetResponse); !bytes.Equal(got, wants[f]) {
			t.Errorf("flow %d: stored %d bytes differ from the %d read", ids[f], len(got), len(wants[f]))
		}
	}
}
