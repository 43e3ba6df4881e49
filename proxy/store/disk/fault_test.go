package disk

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"loupe/proxy/flow"
)

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// faultyFiles makes real segment files whose writes fail while fail is set
// (a full disk: half the bytes land, then ENOSPC) and wait while a hold
// channel is set (a stalled disk).
type faultyFiles struct {
	fail atomic.Bool

	mu      sync.Mutex
	hold    chan struct{} // writes wait until it is closed
	entered chan struct{} // receives once per write that waits
}

func (ff *faultyFiles) create(path string) (segFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, ff: ff}, nil
}

// stall makes writes wait until the returned release is called.
func (ff *faultyFiles) stall() (entered <-chan struct{}, release func()) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ff.hold = make(chan struct{})
	ff.entered = make(chan struct{}, 1)
	hold := ff.hold
	return ff.entered, sync.OnceFunc(func() { close(hold) })
}

type faultyFile struct {
	*os.File
	ff *faultyFiles
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	f.ff.mu.Lock()
	hold, entered := f.ff.hold, f.ff.entered
	f.ff.mu.Unlock()
	if hold != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-hold
	}
	if f.ff.fail.Load() {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, fmt.Errorf("write %s: %w", f.Name(), syscall.ENOSPC)
	}
	return f.File.WriteAt(p, off)
}

// A segment write that fails (disk full) truncates that body and is
// counted; small bodies go on being stored, and once the disk has room
// again large ones too.
func TestSegmentWriteFailure(t *testing.T) {
	ff := &faultyFiles{}
	s := openWith(t, Config{InlineMax: 1024}, options{createSegment: ff.create})
	ff.fail.Store(true)
	large := pattern(1, 50_000)
	lost := record(s, "/lost", large)
	small := record(s, "/small", []byte("fits inline"))
	flush(t, s)

	f, ok := s.Get(lost)
	if !ok {
		t.Fatal("flow with a failed body write is missing")
	}
	if b := f.ResponseBody; !b.Truncated || b.Size != int64(len(large)) || b.Captured >= b.Size {
		t.Errorf("facts after a failed write %+v", b)
	}
	got := readBody(t, s, lost, flow.FacetResponse)
	if int64(len(got)) != f.ResponseBody.Captured || !bytes.Equal(got, large[:len(got)]) {
		t.Errorf("kept %d bytes, facts say %d, or not a prefix", len(got), f.ResponseBody.Captured)
	}
	if got := readBody(t, s, small, flow.FacetResponse); string(got) != "fits inline" {
		t.Errorf("small body %q", got)
	}
	st := s.Stats()
	if st.SpillErrors == 0 || st.Truncated == 0 || st.TruncatedBytes == 0 {
		t.Errorf("stats do not count the failure: %+v", st)
	}

	ff.fail.Store(false)
	again := record(s, "/again", large)
	flush(t, s)
	if got := readBody(t, s, again, flow.FacetResponse); !bytes.Equal(got, large) {
		t.Error("large body not stored after the disk has room again")
	}
}

// When the database itself is full, the batch fails: its bodies are
// counted lost, its flows are written again by a later batch, and the
// store goes on working.
func TestDatabaseFull(t *testing.T) {
	s := openWith(t, Config{}, options{writePragmas: []string{"max_page_count = 80"}})
	body := pattern(1, 3000)
	var ids []flow.ID
	for i := range 300 {
		ids = append(ids, record(s, fmt.Sprint("/", i), body))
		if i%20 == 0 {
			s.Flush() // some batches fit, then they stop fitting
		}
	}
	flush(t, s)
	if c := s.Counters(); c.WriteErrors == 0 || c.Truncated == 0 {
		t.Fatalf("a full database was not counted: %+v", c)
	}
	if _, ok := s.Get(ids[0]); !ok {
		t.Error("a flow written before the database filled up is gone")
	}
	// Room again: the flows of the failed batches are written (truncated).
	if err := s.w.do(func() error {
		_, err := s.w.conn.ExecContext(context.Background(), "PRAGMA max_page_count = 1000000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	next := record(s, "/next", body)
	flush(t, s)
	flush(t, s) // the re-queued rows of the failed batches
	if got := readBody(t, s, next, flow.FacetResponse); !bytes.Equal(got, body) {
		t.Error("recording did not resume")
	}
	truncated := 0
	for _, id := range ids {
		f, ok := s.Get(id)
		if !ok {
			t.Fatalf("flow %d never written", id)
		}
		if f.ResponseBody.Truncated {
			truncated++
			continue
		}
		if got := readBody(t, s, id, flow.FacetResponse); !bytes.Equal(got, body) {
			t.Fatalf("flow %d: body differs though not marked truncated", id)
		}
	}
	if truncated == 0 {
		t.Error("no flow marked truncated after failed batches")
	}
}

// With the writer stalled on the disk, recording goes on: every call
// returns, the capture is truncated and counted, and nothing waits.
func TestRecorderNeverBlocks(t *testing.T) {
	ff := &faultyFiles{}
	s := openWith(t, Config{InlineMax: 1024, QueueBytes: 1 << 20, QueueFlows: 500},
		options{createSegment: ff.create})
	entered, release := ff.stall()
	defer release()
	record(s, "/stall", pattern(1, 10_000)) // the writer's next batch waits in its segment write
	select {
	case <-entered:
	case <-time.After(30 * time.Second): // a hang detector, not a speed requirement
		t.Fatal("the writer never reached its segment write")
	}

	done := make(chan struct{})
	body := pattern(2, 8192)
	go func() {
		defer close(done)
		for i := range 5000 {
			h := s.Begin("127.0.0.1:1", req(fmt.Sprint("/", i)), t0)
			h.Response(textResp)
			h.Body(flow.FacetResponse, body)
			h.WebSocket(flow.WSMessage{Direction: flow.Send, Opcode: 1, Size: len(body), Data: body})
			h.BodyEnd(flow.FacetResponse)
			h.Finish(t0, nil)
		}
	}()
	select {
	case <-done: // every call returned while the writer was still held
	case <-time.After(60 * time.Second):
		t.Fatal("recording blocked behind a stalled writer")
	}
	c := s.Counters()
	if c.DroppedFlows == 0 || c.Truncated == 0 || c.DroppedMessages == 0 {
		t.Errorf("a full queue was not counted: %+v", c)
	}
	if c.QueueBytes > 1<<20 {
		t.Errorf("queue holds %d bytes, bound is %d", c.QueueBytes, 1<<20)
	}
	release()
	flush(t, s)
	id := record(s, "/after", []byte("ok"))
	flush(t, s)
	if got := readBody(t, s, id, flow.FacetResponse); string(got) != "ok" {
		t.Errorf("after the stall: %q", got)
	}
	if c := s.Counters(); c.QueueBytes != 0 || c.QueueEvents != 0 {
		t.Errorf("queue not empty after flush: %+v", c)
	}
}
