package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func req(path string) flow.Request {
	return flow.Request{Method: "GET", URL: "http://example.test" + path, Proto: "HTTP/1.1",
		Header: flow.Fields{{Name: "Accept", Value: "*/*"}}}
}

// record runs one complete exchange through the Recorder interface.
func record(s flow.Recorder, path string, respBody []byte) flow.ID {
	h := s.Begin("127.0.0.1:5000", req(path), t0)
	h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}})
	for len(respBody) > 0 {
		n := min(len(respBody), 4096)
		h.Body(flow.FacetResponse, respBody[:n])
		respBody = respBody[n:]
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(time.Millisecond), nil)
	return h.ID()
}

func readBody(t *testing.T, s *Store, id flow.ID, facet flow.Facet) []byte {
	t.Helper()
	rc, _, err := s.Body(id, facet)
	if err != nil {
		t.Fatalf("Body(%d, %s): %v", id, facet, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

func TestRecordPhases(t *testing.T) {
	s := newStore(t, Config{})
	w := s.Watch()
	defer w.Close()

	r := req("/a?x=1")
	r.Method = "POST"
	r.Header = append(r.Header, flow.Field{Name: "Content-Encoding", Value: "gzip"})
	h := s.Begin("127.0.0.1:1", r, t0)
	h.UpstreamRequest(req("/a?x=1"))
	h.Body(flow.FacetRequest, []byte("hello"))
	h.BodyEnd(flow.FacetRequest)
	h.UpstreamResponse(flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Type", Value: "text/html"}}})
	h.Response(flow.Response{Status: 201, Header: flow.Fields{{Name: "Content-Type", Value: "application/json"}}})
	h.Rule("r1", "")
	h.Rule("r2", "override")
	h.Body(flow.FacetUpstream, []byte("<html>"))
	h.Body(flow.FacetResponse, []byte(`{"a":1}`))
	h.WebSocket(flow.WSMessage{Direction: flow.Send, Time: t0, Opcode: 1, Size: 2, Data: []byte("hi")})
	h.Timings(flow.Timings{Blocked: -1, DNS: 1, Connect: 2, TLS: 1, Send: 1, Wait: 3, Receive: 4})
	h.ReplayOf(7)
	h.Target("192.0.2.1:8443", "a.test")
	h.Finish(t0.Add(10*time.Millisecond), errors.New("boom"))
	h.Body(flow.FacetResponse, []byte("ignored after finish"))
	h.Rule("late", "")

	f, ok := s.Get(h.ID())
	if !ok {
		t.Fatal("flow not found")
	}
	if f.ID != 1 || f.State != flow.StateError || f.Error != "boom" || f.ReplayOf != 7 {
		t.Errorf("flow = id %d state %s error %q replayOf %d", f.ID, f.State, f.Error, f.ReplayOf)
	}
	if f.Tunnel == nil || *f.Tunnel != (flow.Tunnel{Target: "192.0.2.1:8443", ServerName: "a.test"}) {
		t.Errorf("tunnel %+v", f.Tunnel)
	}
	if sum, _ := s.Summary(h.ID()); sum.Target != "192.0.2.1:8443" {
		t.Errorf("summary target %q", sum.Target)
	}
	if f.Request.Header[0].Value != "*/*" {
		t.Errorf("request header %q", f.Request.Header[0].Value)
	}
	if got, want := f.Rules, []string{"r1", "r2"}; !slices.Equal(got, want) {
		t.Errorf("rules = %v, want %v", got, want)
	}
	if f.Overridden != "override" {
		t.Errorf("overridden = %q", f.Overridden)
	}
	if f.RequestBody.Size != 5 || !f.RequestBody.Complete || f.RequestBody.Encoding != "gzip" {
		t.Errorf("request body = %+v", f.RequestBody)
	}
	if f.ResponseBody.Size != 7 || f.ResponseBody.ContentType != "application/json" {
		t.Errorf("response body = %+v", f.ResponseBody)
	}
	if f.UpstreamBody == nil || f.UpstreamBody.Size != 6 || f.UpstreamBody.ContentType != "text/html" {
		t.Errorf("upstream body = %+v", f.UpstreamBody)
	}
	if len(f.WebSocket) != 1 || string(f.WebSocket[0].Data) != "hi" {
		t.Errorf("websocket = %+v", f.WebSocket)
	}
	if got := string(readBody(t, s, h.ID(), flow.FacetResponse)); got != `{"a":1}` {
		t.Errorf("response body bytes = %q", got)
	}
	if got := string(readBody(t, s, h.ID(), flow.FacetUpstream)); got != "<html>" {
		t.Errorf("upstream body bytes = %q", got)
	}
	ch := w.Take()
	if !slices.Equal(ch.Added, []flow.ID{1}) || len(ch.Updated) != 0 || ch.Seq != s.Seq() {
		t.Errorf("changes = %+v, seq %d", ch, s.Seq())
	}
	// A second handle's writes show up as updates.
	if _, _, err := s.Body(99, flow.FacetRequest); !errors.Is(err, ErrNotFound) {
		t.Errorf("Body of unknown flow: err = %v", err)
	}
}

func TestListPaging(t *testing.T) {
	s := newStore(t, Config{})
	for i := range 10 {
		record(s, fmt.Sprintf("/%d", i), nil)
	}
	even := func(f *flow.Flow) bool { return f.ID%2 == 0 }
	tests := []struct {
		name   string
		match  func(*flow.Flow) bool
		before flow.ID
		limit  int
		want   []flow.ID
		total  int
	}{
		{"newest three", nil, 0, 3, []flow.ID{8, 9, 10}, 10},
		{"before", nil, 5, 2, []flow.ID{3, 4}, 10},
		{"no limit", nil, 4, 0, []flow.ID{1, 2, 3}, 10},
		{"filtered", even, 0, 2, []flow.ID{8, 10}, 5},
		{"filtered before", even, 8, 10, []flow.ID{2, 4, 6}, 5},
		{"before first", nil, 1, 5, nil, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sums, total := listOf(s, tt.match, tt.before, tt.limit)
			var got []flow.ID
			for _, sm := range sums {
				got = append(got, sm.ID)
			}
			if !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("got %v total %d, want %v total %d", got, total, tt.want, tt.total)
			}
		})
	}
	var seen []flow.ID
	s.Each(query.MatchFunc(even), func(f *flow.Flow) bool {
		seen = append(seen, f.ID)
		return len(seen) < 3
	})
	if !slices.Equal(seen, []flow.ID{2, 4, 6}) {
		t.Errorf("Each = %v", seen)
	}
}

func TestEachManyBatches(t *testing.T) {
	s := newStore(t, Config{})
	for i := range 600 {
		record(s, fmt.Sprint(i), nil)
	}
	s.Delete(300)
	n := 0
	last := flow.ID(0)
	for f := range s.All(nil) {
		if f.ID <= last {
			t.Fatalf("Each out of order: %d after %d", f.ID, last)
		}
		last = f.ID
		n++
	}
	if n != 599 {
		t.Errorf("Each saw %d flows, want 599", n)
	}
}

func TestEvictionByCount(t *testing.T) {
	s := newStore(t, Config{MaxFlows: 3})
	w := s.Watch()
	defer w.Close()
	for i := range 5 {
		record(s, fmt.Sprint(i), []byte("body"))
	}
	w.Take()
	record(s, "/6", nil)
	ch := w.Take()
	if !slices.Equal(ch.Removed, []flow.ID{3}) || !slices.Equal(ch.Added, []flow.ID{6}) {
		t.Errorf("changes = %+v", ch)
	}
	st := s.Stats()
	if st.Flows != 3 || st.Evicted != 3 {
		t.Errorf("stats flows %d evicted %d, want 3 and 3", st.Flows, st.Evicted)
	}
	if _, ok := s.Get(1); ok {
		t.Error("oldest flow still there")
	}
	if st.BodyBytesRAM != 2*4 {
		t.Errorf("RAM = %d, want 8 (two 4-byte bodies)", st.BodyBytesRAM)
	}
}

func TestEvictedHandleIsInert(t *testing.T) {
	s := newStore(t, Config{MaxFlows: 1})
	h := s.Begin("c", req("/old"), t0)
	record(s, "/new", nil)
	h.Body(flow.FacetResponse, []byte("late bytes"))
	h.Response(flow.Response{Status: 200})
	h.Finish(t0, nil)
	if _, ok := s.Get(h.ID()); ok {
		t.Error("evicted flow came back")
	}
	if st := s.Stats(); st.BodyBytesRAM != 0 || st.Flows != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBodyCapTruncates(t *testing.T) {
	s := newStore(t, Config{BodyCap: 10})
	id := record(s, "/", bytes.Repeat([]byte("x"), 25))
	f, _ := s.Get(id)
	if b := f.ResponseBody; b.Size != 25 || b.Captured != 10 || !b.Truncated {
		t.Errorf("body = %+v, want size 25 captured 10 truncated", b)
	}
	if got := readBody(t, s, id, flow.FacetResponse); len(got) != 10 {
		t.Errorf("stored %d bytes, want 10", len(got))
	}
	if st := s.Stats(); st.Truncated != 1 || st.TruncatedBytes != 15 {
		t.Errorf("stats truncated %d bytes %d, want 1 and 15", st.Truncated, st.TruncatedBytes)
	}
}

func TestRAMBudgetEvictsOldest(t *testing.T) {
	s := newStore(t, Config{RAMBudget: 10_000, SpillThreshold: 10_000, DiskBudget: -1})
	w := s.Watch()
	defer w.Close()
	for i := range 10 {
		record(s, fmt.Sprint(i), bytes.Repeat([]byte{byte(i)}, 3000))
	}
	st := s.Stats()
	if st.BodyBytesRAM > 10_000+3000 {
		t.Errorf("RAM %d over budget 10000 plus one body", st.BodyBytesRAM)
	}
	if st.Evicted == 0 || st.Flows+int(st.Evicted) != 10 {
		t.Errorf("flows %d evicted %d", st.Flows, st.Evicted)
	}
	ch := w.Take()
	if len(ch.Added) != st.Flows {
		t.Errorf("published %d adds for %d live flows (evicted ones must cancel out)", len(ch.Added), st.Flows)
	}
	// The newest survive, byte-exact.
	if got := readBody(t, s, 10, flow.FacetResponse); !bytes.Equal(got, bytes.Repeat([]byte{9}, 3000)) {
		t.Error("newest body damaged")
	}
}

func TestSingleBodyOverBudgetIsTruncated(t *testing.T) {
	s := newStore(t, Config{RAMBudget: 8192, DiskBudget: -1})
	id := record(s, "/big", bytes.Repeat([]byte("y"), 40_000))
	f, _ := s.Get(id)
	if !f.ResponseBody.Truncated || f.ResponseBody.Size != 40_000 {
		t.Errorf("body = %+v", f.ResponseBody)
	}
	if st := s.Stats(); st.BodyBytesRAM > 8192+4096 {
		t.Errorf("RAM %d, budget 8192", st.BodyBytesRAM)
	}
}

func TestSpillToDisk(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 1000})
	dir := s.Dir()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("session dir mode %v, want 0700", fi.Mode().Perm())
	}
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	h := s.Begin("c", req("/big"), t0)
	h.Response(flow.Response{Status: 200})
	for p := big; len(p) > 0; {
		n := min(len(p), 70_001) // larger than the write buffer: direct writes too
		if len(p) > 100_000 {
			n = 999
		}
		h.Body(flow.FacetResponse, p[:n])
		p = p[n:]
	}
	// Readable while still being written (flushes the buffer).
	if got := readBody(t, s, h.ID(), flow.FacetResponse); !bytes.Equal(got, big) {
		t.Fatalf("body read before end: %d bytes, want %d identical", len(got), len(big))
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0, nil)
	small := record(s, "/small", []byte("tiny"))

	files, _ := filepath.Glob(filepath.Join(dir, "body-*"))
	if len(files) != 1 {
		t.Fatalf("spill files = %v, want one", files)
	}
	fi, err = os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != int64(len(big)) {
		t.Errorf("spill file mode %v size %d", fi.Mode().Perm(), fi.Size())
	}
	if got := readBody(t, s, h.ID(), flow.FacetResponse); !bytes.Equal(got, big) {
		t.Error("spilled body differs")
	}
	if got := readBody(t, s, small, flow.FacetResponse); string(got) != "tiny" {
		t.Errorf("small body = %q", got)
	}
	st := s.Stats()
	if st.BodyBytesDisk != int64(len(big)) || st.SpillFiles != 1 || st.BodyBytesRAM != 4 {
		t.Errorf("stats disk %d files %d ram %d", st.BodyBytesDisk, st.SpillFiles, st.BodyBytesRAM)
	}
	s.Delete(h.ID())
	if files, _ := filepath.Glob(filepath.Join(dir, "body-*")); len(files) != 0 {
		t.Errorf("spill file left after delete: %v", files)
	}
	record(s, "/again", big)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("session dir still there after Close: %v", err)
	}
	if h := s.Begin("c", req("/after"), t0); h.ID() != 0 {
		t.Error("closed store recorded a flow")
	}
}

func TestDiskBudgetEvicts(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 100, DiskBudget: 5000})
	for i := range 10 {
		record(s, fmt.Sprint(i), bytes.Repeat([]byte("z"), 2000))
	}
	st := s.Stats()
	if st.BodyBytesDisk > 5000 || st.Evicted < 7 {
		t.Errorf("disk %d evicted %d", st.BodyBytesDisk, st.Evicted)
	}
	files, _ := filepath.Glob(filepath.Join(s.Dir(), "body-*"))
	if int64(len(files)) != st.SpillFiles || len(files) != st.Flows {
		t.Errorf("%d files on disk, stats says %d files for %d flows", len(files), st.SpillFiles, st.Flows)
	}
}

func TestPausedAndClear(t *testing.T) {
	s := newStore(t, Config{Paused: true})
	if id := record(s, "/", nil); id != 0 || s.Stats().Flows != 0 || s.Stats().Skipped != 1 {
		t.Fatalf("paused store recorded flow %d", id)
	}
	s.SetPaused(false)
	w := s.Watch()
	defer w.Close()
	record(s, "/1", []byte("a"))
	record(s, "/2", []byte("b"))
	s.Clear()
	id := record(s, "/3", nil)
	ch := w.Take()
	if !ch.Reset || !slices.Equal(ch.Added, []flow.ID{id}) || len(ch.Removed) != 0 {
		t.Errorf("changes after clear = %+v", ch)
	}
	if st := s.Stats(); st.Flows != 1 || st.BodyBytesRAM != 0 {
		t.Errorf("stats after clear = %+v", st)
	}
	if id != 3 {
		t.Errorf("IDs restarted after Clear: %d", id)
	}
}

func TestImport(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 10})
	record(s, "/live", nil)
	good := flow.Recorded{
		Flow: flow.Flow{ID: 1234, Request: req("/imp"), Response: &flow.Response{Status: 404},
			ResponseBody: flow.Body{Encoding: "gzip"},
			WebSocket:    []flow.WSMessage{{Direction: flow.Receive, Opcode: 2, Data: []byte{0, 1}}}},
		Bodies: map[flow.Facet][]byte{flow.FacetResponse: []byte("0123456789abcdef"), flow.FacetRequest: []byte("q")},
	}
	ids, err := s.Import([]flow.Recorded{good, good})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []flow.ID{2, 3}) {
		t.Errorf("ids = %v", ids)
	}
	f, _ := s.Get(3)
	if !f.Imported || f.State != flow.StateDone || f.ResponseBody.Encoding != "gzip" || f.ResponseBody.Size != 16 || !f.ResponseBody.Complete {
		t.Errorf("imported flow = %+v", f)
	}
	if got := readBody(t, s, 3, flow.FacetResponse); string(got) != "0123456789abcdef" {
		t.Errorf("imported body = %q", got)
	}
	bad := good
	bad.Flow.Request.Method = ""
	before := s.Stats()
	if _, err := s.Import([]flow.Recorded{good, bad}); err == nil {
		t.Fatal("import with a bad flow succeeded")
	}
	after := s.Stats()
	if after.Flows != before.Flows || after.BodyBytesDisk != before.BodyBytesDisk || after.SpillFiles != before.SpillFiles || after.BodyBytesRAM != before.BodyBytesRAM {
		t.Errorf("failed import changed the store: before %+v after %+v", before, after)
	}
}

func TestWatcherCoalesces(t *testing.T) {
	s := newStore(t, Config{})
	w := s.Watch()
	h := s.Begin("c", req("/"), t0)
	for range 1000 {
		h.Body(flow.FacetResponse, []byte("x")) // never blocks, nobody reads C
	}
	select {
	case <-w.C():
	default:
		t.Fatal("no signal")
	}
	ch := w.Take()
	if !slices.Equal(ch.Added, []flow.ID{h.ID()}) || len(ch.Updated) != 0 {
		t.Errorf("changes = %+v", ch)
	}
	h.Finish(t0, nil)
	id2 := record(s, "/2", nil)
	s.Delete(id2)
	ch = w.Take()
	// id2 came and went between two Takes: only its removal is reported.
	if !slices.Equal(ch.Updated, []flow.ID{h.ID()}) || len(ch.Added) != 0 || !slices.Equal(ch.Removed, []flow.ID{id2}) {
		t.Errorf("changes = %+v", ch)
	}
	s.Delete(h.ID())
	if ch := w.Take(); !slices.Equal(ch.Removed, []flow.ID{h.ID()}) {
		t.Errorf("changes = %+v", ch)
	}
	w.Close()
	w.Close()
	record(s, "/3", nil) // no panic after close
}

// TestConcurrentReadersAndWriters is for -race: the proxy writes while the
// API lists, reads bodies and exports.
func TestConcurrentReadersAndWriters(t *testing.T) {
	s := newStore(t, Config{MaxFlows: 50, SpillThreshold: 2048, RAMBudget: 64 << 10, DiskBudget: 256 << 10})
	w := s.Watch()
	defer w.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				h := s.Begin("c", req(fmt.Sprintf("/%d/%d", g, i)), t0)
				var inner sync.WaitGroup
				inner.Go(func() {
					for range 5 {
						h.Body(flow.FacetRequest, make([]byte, 700))
					}
					h.BodyEnd(flow.FacetRequest)
				})
				h.Response(flow.Response{Status: 200})
				for range 5 {
					h.Body(flow.FacetResponse, make([]byte, 900))
				}
				h.WebSocket(flow.WSMessage{Direction: flow.Receive, Data: []byte("m")})
				inner.Wait()
				h.Finish(t0, nil)
			}
		})
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			sums, _ := listOf(s, func(f *flow.Flow) bool { return f.ResponseBody.Size >= 0 }, 0, 20)
			for _, sm := range sums {
				if rc, _, err := s.DecodedBody(sm.ID, flow.FacetResponse); err == nil {
					io.Copy(io.Discard, rc)
					rc.Close()
				}
				s.Get(sm.ID)
			}
			s.Each(nil, func(*flow.Flow) bool { return true })
			s.Stats()
		}
	})
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-w.C():
				w.Take()
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	st := s.Stats()
	if st.Flows > 50 || st.Evicted == 0 {
		t.Errorf("stats = %+v", st)
	}
	s.Clear()
	if st := s.Stats(); st.BodyBytesRAM != 0 || st.BodyBytesDisk != 0 || st.SpillFiles != 0 {
		t.Errorf("accounting leaked after clear: %+v", st)
	}
	if files, _ := filepath.Glob(filepath.Join(s.Dir(), "body-*")); len(files) != 0 {
		t.Errorf("files left: %d", len(files))
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{MaxFlows: -1, BodyCap: -2}, nil); err == nil {
		t.Fatal("negative limits accepted")
	}
	s := newStore(t, Config{RAMBudget: 1000})
	if c := s.Config(); c.SpillThreshold != 1000 || c.MaxFlows != DefaultMaxFlows {
		t.Errorf("defaults = %+v", c)
	}
}

func TestDefaultDirIsUserCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)
	s, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := s.Dir()
	if filepath.Dir(dir) != filepath.Join(cache, "loupe") {
		t.Errorf("session dir %s not under %s/loupe", dir, cache)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("session dir left: %v", err)
	}
}

func TestStaleSessionsRemoved(t *testing.T) {
	parent := t.TempDir()
	mk := func(name, owner string) string {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	crashed := mk(sessionPrefix+"crashed", "2147483000") // no such process
	live := mk(sessionPrefix+"live", fmt.Sprint(os.Getpid()))
	unknown := mk(sessionPrefix+"unknown", "")
	other := mk("not-ours", "2147483000")
	s := newStore(t, Config{Dir: parent})
	for dir, want := range map[string]bool{crashed: false, live: true, unknown: true, other: true, s.Dir(): true} {
		_, err := os.Stat(dir)
		if exists := err == nil; exists != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(dir), exists, want)
		}
	}
}

// A flow added and removed between two Takes must still be reported as
// removed: a consumer whose snapshot was taken in between holds it.
func TestWatcherKeepsRemovalOfUnseenFlow(t *testing.T) {
	s := newStore(t, Config{})
	w := s.Watch()
	defer w.Close()
	record(s, "/a", nil)
	s.Delete(1)
	ch := w.Take()
	if !slices.Equal(ch.Removed, []flow.ID{1}) || len(ch.Added) != 0 {
		t.Errorf("changes = %+v, want only Removed [1]", ch)
	}
}

// Every change counted in a Take's Seq is delivered by that Take or an
// earlier one: with writers racing a reader, the union of delivered
// changes at a given Seq never misses a flow that Seq counts.
func TestWatcherSeqCoversDeliveredChanges(t *testing.T) {
	s := newStore(t, Config{})
	w := s.Watch()
	defer w.Close()
	const writers, perWriter = 4, 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWriter {
					h := s.Begin("127.0.0.1:1", flow.Request{Method: "GET", URL: "http://x/"}, time.Now())
					h.Finish(time.Now(), nil)
				}
			}()
		}
		wg.Wait()
	}()
	seen := map[flow.ID]bool{}
	check := func() {
		ch := w.Take()
		for _, id := range ch.Added {
			seen[id] = true
		}
		// Each flow is one add and one update: Seq counts two changes a
		// flow, so the flows it covers are IDs 1..Seq/2 at least in part;
		// what must hold is that no ID above the highest delivered one is
		// counted without being delivered.
		if ch.Seq > 2*uint64(len(seen)) {
			t.Fatalf("seq %d counts more than the %d flows delivered", ch.Seq, len(seen))
		}
	}
	for {
		select {
		case <-done:
			check()
			if len(seen) != writers*perWriter {
				t.Fatalf("delivered %d flows, want %d", len(seen), writers*perWriter)
			}
			return
		default:
			check()
		}
	}
}

// Summary gives the same row as the summary of a full copy.
func TestSummaryMatchesGet(t *testing.T) {
	s := newStore(t, Config{})
	h := s.Begin("127.0.0.1:1", req("/s?q=1"), t0)
	h.Rule("r1", "")
	h.Response(flow.Response{Status: 404, Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}})
	h.Body(flow.FacetResponse, []byte("nope"))
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(time.Second), nil)
	f, ok := s.Get(h.ID())
	if !ok {
		t.Fatal("flow not found")
	}
	got, ok := s.Summary(h.ID())
	if !ok {
		t.Fatal("summary not found")
	}
	if want := f.Summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("Summary = %+v\nGet().Summary() = %+v", got, want)
	}
	if _, ok := s.Summary(h.ID() + 1); ok {
		t.Error("summary of a flow that does not exist")
	}
}
