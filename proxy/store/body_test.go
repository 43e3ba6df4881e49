package store

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// TestChunkedRAMBody writes bodies in uneven pieces and reads them back:
// the chunk list must keep every byte in order, count its capacity against
// the RAM budget, stay within the spill threshold, and give slack back at
// the end.
func TestChunkedRAMBody(t *testing.T) {
	const threshold = 1 << 20
	tests := []struct {
		name   string
		size   int
		pieces []int // cycled
	}{
		{"tiny", 200, []int{200}},
		{"one byte writes", 3000, []int{1}},
		{"proxy chunks", 1 << 20, []int{32 << 10}},
		{"uneven", 700_001, []int{1, 4096, 777, 65536, 100_000, 3}},
		{"one big write", threshold, []int{threshold}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Config{SpillThreshold: threshold, RAMBudget: 64 << 20})
			want := make([]byte, tt.size)
			for i := range want {
				want[i] = byte(i*7 + i/251)
			}
			h := s.Begin("c", flow.Request{Method: "GET", URL: "http://x.test/"}, t0)
			for off, i := 0, 0; off < len(want); i++ {
				n := min(tt.pieces[i%len(tt.pieces)], len(want)-off)
				h.Body(flow.FacetResponse, want[off:off+n])
				off += n
				if got := s.Stats().BodyBytesRAM; got > threshold {
					t.Fatalf("after %d bytes: %d bytes of RAM, over the spill threshold", off, got)
				}
			}
			// A reader taken mid-body sees what was kept so far.
			rc, _, err := s.Body(h.ID(), flow.FacetResponse)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d (equal prefix: %v)", len(got), len(want), bytes.HasPrefix(want, got))
			}
			h.BodyEnd(flow.FacetResponse)
			st := s.Stats()
			if st.BodyBytesDisk != 0 || st.SpillFiles != 0 {
				t.Errorf("spilled a body within the threshold: %+v", st)
			}
			if slack := st.BodyBytesRAM - int64(len(want)); slack < 0 || slack > int64(len(want))/8+64 {
				t.Errorf("RAM %d for %d bytes after the end", st.BodyBytesRAM, len(want))
			}
			rc, _, err = s.Body(h.ID(), flow.FacetResponse)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, want) {
				t.Errorf("after the end: read %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// TestChunkedBodySpills checks that a body that outgrows the threshold
// moves every chunk to its file, in order.
func TestChunkedBodySpills(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 100_000, RAMBudget: 64 << 20})
	want := make([]byte, 300_000)
	for i := range want {
		want[i] = byte(i % 253)
	}
	h := s.Begin("c", flow.Request{Method: "GET", URL: "http://x.test/"}, t0)
	for off := 0; off < len(want); off += 7000 {
		h.Body(flow.FacetResponse, want[off:min(off+7000, len(want))])
	}
	h.BodyEnd(flow.FacetResponse)
	if st := s.Stats(); st.SpillFiles != 1 || st.BodyBytesRAM != 0 || st.BodyBytesDisk != int64(len(want)) {
		t.Errorf("stats %+v", st)
	}
	rc, _, err := s.Body(h.ID(), flow.FacetResponse)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, want) {
		t.Errorf("read %d bytes, want %d", len(got), len(want))
	}
}

// TestRecycledChunksSpareOpenReaders deletes a flow while a reader of its
// body is open and records new bodies that may reuse its memory: the open
// reader must still read the original bytes.
func TestRecycledChunksSpareOpenReaders(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 4 << 20, RAMBudget: 64 << 20})
	fill := func(v byte) []byte { return bytes.Repeat([]byte{v}, 1<<20) }
	record := func(data []byte) flow.ID {
		h := s.Begin("c", flow.Request{Method: "GET", URL: "http://x.test/"}, t0)
		for off := 0; off < len(data); off += 32 << 10 {
			h.Body(flow.FacetResponse, data[off:off+32<<10])
		}
		h.BodyEnd(flow.FacetResponse)
		h.Finish(t0, nil)
		return h.ID()
	}
	want := fill('a')
	id := record(want)
	rc, _, err := s.Body(id, flow.FacetResponse)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if !s.Delete(id) {
		t.Fatal("delete failed")
	}
	for v := byte('b'); v < 'f'; v++ {
		id := record(fill(v))
		s.Delete(id) // no reader: its chunks are recycled
	}
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("an open reader saw recycled memory: %d bytes, first %q", len(got), got[:min(8, len(got))])
	}

	// A body recorded into recycled chunks reads back whole.
	want = fill('z')
	id = record(want)
	rc2, _, err := s.Body(id, flow.FacetResponse)
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if got, _ := io.ReadAll(rc2); !bytes.Equal(got, want) {
		t.Errorf("body in recycled chunks: %d bytes, want %d", len(got), len(want))
	}
}

// TestBodyProgressCoalesced: a body written in many pieces publishes its
// progress a few times, not once per write, and its end always publishes.
func TestBodyProgressCoalesced(t *testing.T) {
	s := newStore(t, Config{})
	w := s.Watch()
	defer w.Close()
	h := s.Begin("c", flow.Request{Method: "GET", URL: "http://x.test/"}, t0)
	w.Take()
	before := s.Seq()
	for range 1000 {
		h.Body(flow.FacetResponse, []byte("0123456789"))
	}
	if n := s.Seq() - before; n > 10 {
		t.Errorf("1000 quick body writes published %d changes", n)
	}
	w.Take()
	h.BodyEnd(flow.FacetResponse)
	select {
	case <-w.C():
	default:
		t.Fatal("body end not signalled")
	}
	if ch := w.Take(); len(ch.Updated) != 1 || ch.Seq != s.Seq() {
		t.Errorf("after the end: %+v (seq %d)", ch, s.Seq())
	}
	f, _ := s.Get(h.ID())
	if f.ResponseBody.Size != 10_000 || !f.ResponseBody.Complete {
		t.Errorf("body facts %+v", f.ResponseBody)
	}
}

// TestWatcherSignalsOncePerPendingFlow: updates to a flow the watcher
// already holds as changed do not signal again until Take.
func TestWatcherSignalsOncePerPendingFlow(t *testing.T) {
	var f Feed
	w := f.Watch()
	defer w.Close()
	f.PublishAdded(1)
	<-w.C()
	for range 5 {
		f.PublishUpdated(1)
	}
	select {
	case <-w.C():
		t.Fatal("signalled again for a flow already pending")
	default:
	}
	f.PublishUpdated(2) // another flow: a new change
	select {
	case <-w.C():
	default:
		t.Fatal("a new flow's change was not signalled")
	}
	if ch := w.Take(); len(ch.Added) != 1 || len(ch.Updated) != 1 || ch.Seq != 7 {
		t.Errorf("changes %+v", ch)
	}
	f.PublishUpdated(1) // after Take: pending again, signalled again
	select {
	case <-w.C():
	default:
		t.Fatal("update after Take not signalled")
	}
	f.PublishRemoved(1)
	select {
	case <-w.C():
	default:
		t.Fatal("removal of a pending flow not signalled")
	}
}

// TestSpillFailureCountsTruncation makes the spill fail at each point where
// it can (no file, a failed write, a failed final flush): the body must show
// as truncated on the flow, and the store must count it like any other
// truncation, with every byte it lost (buffered ones included).
func TestSpillFailureCountsTruncation(t *testing.T) {
	removeDir := func(t *testing.T, s *Store, _ flow.Handle) {
		if err := os.RemoveAll(s.Dir()); err != nil {
			t.Fatal(err)
		}
	}
	closeFile := func(t *testing.T, s *Store, h flow.Handle) {
		// A closed descriptor fails the next write, as a full or broken
		// disk would.
		b := h.(*handle).e.bodies[1].Load()
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.file == nil {
			t.Fatal("body not spilled")
		}
		b.file.Close()
	}
	tests := []struct {
		name        string
		beforeSpill func(t *testing.T, s *Store, h flow.Handle)
		afterSpill  func(t *testing.T, s *Store, h flow.Handle)
		more        int // bytes written after afterSpill
	}{
		{name: "no spill file", beforeSpill: removeDir},
		{name: "write fails", afterSpill: closeFile, more: 2 * spillBuffer},
		{name: "final flush fails", afterSpill: closeFile, more: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Config{SpillThreshold: 1000, RAMBudget: 64 << 20})
			h := s.Begin("127.0.0.1:5000", req("/"), t0)
			h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1"})
			h.Body(flow.FacetResponse, bytes.Repeat([]byte("a"), 500)) // in RAM
			if tt.beforeSpill != nil {
				tt.beforeSpill(t, s, h)
			}
			h.Body(flow.FacetResponse, bytes.Repeat([]byte("b"), 1500)) // spills
			if tt.afterSpill != nil {
				tt.afterSpill(t, s, h)
			}
			if tt.more > 0 {
				h.Body(flow.FacetResponse, bytes.Repeat([]byte("c"), tt.more))
			}
			h.BodyEnd(flow.FacetResponse)
			h.Finish(t0.Add(time.Millisecond), nil)

			f, _ := s.Get(h.ID())
			b := f.ResponseBody
			if want := int64(2000 + tt.more); b.Size != want || !b.Truncated || b.Captured >= b.Size {
				t.Errorf("body = %+v, want size %d, truncated, captured < size", b, want)
			}
			if got := readBody(t, s, h.ID(), flow.FacetResponse); int64(len(got)) != b.Captured {
				t.Errorf("read %d bytes, flow says %d captured", len(got), b.Captured)
			}
			st := s.Stats()
			if st.SpillErrors != 1 || st.Truncated != 1 || st.TruncatedBytes != uint64(b.Size-b.Captured) {
				t.Errorf("stats spill errors %d, truncated %d, truncated bytes %d; want 1, 1, %d",
					st.SpillErrors, st.Truncated, st.TruncatedBytes, b.Size-b.Captured)
			}
		})
	}
}

// TestRefusedImportCountsNoTruncation checks that an import refused because
// a body could not be spilled leaves the truncation counters alone: nothing
// of it was kept, so nothing of it was cut.
func TestRefusedImportCountsNoTruncation(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 10})
	if err := os.RemoveAll(s.Dir()); err != nil {
		t.Fatal(err)
	}
	r := flow.Recorded{
		Flow:   flow.Flow{Request: req("/imp"), Response: &flow.Response{Status: 200}},
		Bodies: map[flow.Facet][]byte{flow.FacetResponse: bytes.Repeat([]byte("z"), 100)},
	}
	if _, err := s.Import([]flow.Recorded{r}); err == nil {
		t.Fatal("import succeeded without a session directory")
	}
	if st := s.Stats(); st.Flows != 0 || st.Truncated != 0 || st.TruncatedBytes != 0 || st.SpillErrors != 1 {
		t.Errorf("stats after refused import: %+v", st)
	}
}
