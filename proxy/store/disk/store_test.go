package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // never returns
	}
	goleak.VerifyTestMain(m)
}

// openStore opens a capture in a fresh directory (or cfg.Dir) and closes it
// at the end of the test.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	return openWith(t, cfg, options{})
}

func openWith(t testing.TB, cfg Config, opt options) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := open(cfg, nil, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func flush(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// t0 is the start of recorded flows: recent, since retention evicts flows
// older than Config.MaxAge.
var t0 = time.Now().Add(-time.Hour).Truncate(time.Second)

func req(path string) flow.Request {
	return flow.Request{Method: "GET", URL: "http://example.test" + path, Proto: "HTTP/1.1",
		Header: flow.Fields{{Name: "Accept", Value: "*/*"}}}
}

var textResp = flow.Response{Status: 200, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}}

// record runs one complete exchange through the Recorder interface.
func record(s flow.Recorder, path string, respBody []byte) flow.ID {
	h := s.Begin("127.0.0.1:5000", req(path), t0)
	h.Response(textResp)
	for len(respBody) > 0 {
		n := min(len(respBody), 4096)
		h.Body(flow.FacetResponse, respBody[:n])
		respBody = respBody[n:]
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(time.Millisecond), nil)
	return h.ID()
}

func readBody(t testing.TB, s *Store, id flow.ID, facet flow.Facet) []byte {
	t.Helper()
	rc, _, err := s.Body(id, facet)
	if err != nil {
		t.Fatalf("Body(%d, %s): %v", id, facet, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read body %d %s: %v", id, facet, err)
	}
	return b
}

// pattern is a body whose bytes depend on seed, so that a mix-up of two
// bodies or of two parts of one shows.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestRecordPhases(t *testing.T) {
	s := openStore(t, Config{})
	w := s.Watch()
	defer w.Close()

	r := req("/a?x=1")
	h := s.Begin("127.0.0.1:1234", r, t0)
	h.Body(flow.FacetRequest, []byte("hello"))
	h.BodyEnd(flow.FacetRequest)
	up := r
	up.Header = flow.Fields{{Name: "Accept", Value: "*/*"}, {Name: "X-Rule", Value: "1"}}
	h.UpstreamRequest(up)
	upResp := flow.Response{Status: 201, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}}
	h.UpstreamResponse(upResp)
	h.Response(upResp)
	h.Rule("r1", "")
	h.Rule("r2", "override")
	h.ReplayOf(7)
	h.Timings(flow.Timings{Blocked: -1, DNS: 1, Connect: 2, TLS: 1, Send: 3, Wait: 4, Receive: 5})
	h.Body(flow.FacetResponse, []byte("wor"))
	h.Body(flow.FacetResponse, []byte("ld"))
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(1500*time.Millisecond), nil)

	if _, ok := s.Get(h.ID()); ok {
		// Possible only if the writer already ran: not an error, but
		// the point below is that Flush makes it certain.
		t.Log("flow visible before Flush")
	}
	flush(t, s)
	f, ok := s.Get(h.ID())
	if !ok {
		t.Fatal("flow not found after Flush")
	}
	if f.State != flow.StateDone || f.Request.URL != r.URL || f.Client != "127.0.0.1:1234" {
		t.Errorf("flow = %+v", f)
	}
	if !f.Start.Equal(t0) || !f.End.Equal(t0.Add(1500*time.Millisecond)) {
		t.Errorf("start %v end %v", f.Start, f.End)
	}
	if !reflect.DeepEqual(f.UpstreamRequest.Header, up.Header) {
		t.Errorf("upstream request headers = %v", f.UpstreamRequest.Header)
	}
	if f.Response == nil || f.Response.Status != 201 || !reflect.DeepEqual(f.Response.Header, upResp.Header) {
		t.Errorf("response = %+v", f.Response)
	}
	if !slices.Equal(f.Rules, []string{"r1", "r2"}) || f.Overridden != "override" || f.ReplayOf != 7 {
		t.Errorf("rules %v overridden %q replayOf %d", f.Rules, f.Overridden, f.ReplayOf)
	}
	if f.Timings.Wait != 4 {
		t.Errorf("timings = %+v", f.Timings)
	}
	want := flow.Body{Size: 5, Captured: 5, Complete: true, ContentType: "text/plain"}
	if f.ResponseBody != want {
		t.Errorf("response body = %+v, want %+v", f.ResponseBody, want)
	}
	if got := readBody(t, s, h.ID(), flow.FacetResponse); string(got) != "world" {
		t.Errorf("response body bytes = %q", got)
	}
	if got := readBody(t, s, h.ID(), flow.FacetRequest); string(got) != "hello" {
		t.Errorf("request body bytes = %q", got)
	}
	if _, _, err := s.Body(h.ID(), flow.FacetUpstream); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("upstream body of a flow without one: %v", err)
	}
	ch := w.Take()
	if !slices.Contains(ch.Added, h.ID()) {
		t.Errorf("changes = %+v, want the flow added", ch)
	}
	sum, ok := s.Summary(h.ID())
	if !ok || sum.Status != 201 || sum.Duration != 1500 {
		t.Errorf("summary = %+v", sum)
	}
}

// A watcher told that a flow was added can read it at once: changes are
// published after the commit, never before.
func TestAddedFlowIsReadable(t *testing.T) {
	s := openStore(t, Config{})
	w := s.Watch()
	defer w.Close()
	const n = 200
	go func() {
		for i := range n {
			record(s, fmt.Sprint("/", i), []byte("x"))
		}
	}()
	seen := 0
	deadline := time.After(30 * time.Second) // a hang detector, not a speed requirement
	for seen < n {
		select {
		case <-w.C():
		case <-deadline:
			t.Fatalf("saw %d of %d flows", seen, n)
		}
		ch := w.Take()
		for _, id := range ch.Added {
			seen++
			if _, ok := s.Summary(id); !ok {
				t.Fatalf("flow %d announced but not readable", id)
			}
			if _, ok := s.Get(id); !ok {
				t.Fatalf("flow %d announced but Get fails", id)
			}
		}
	}
}

// Summary (from columns or the ring) gives the same row as the summary of
// the full flow.
func TestSummaryMatchesGet(t *testing.T) {
	s := openStore(t, Config{})
	// Times as the proxy gives them: with a monotonic clock reading.
	start := time.Now()
	h := s.Begin("127.0.0.1:1", flow.Request{Method: "POST", URL: "https://example.test:8443/s?q=1", Proto: "HTTP/2.0"}, start)
	h.Rule("r1", "")
	h.Response(flow.Response{Status: 404, Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}})
	h.Body(flow.FacetResponse, []byte("nope"))
	h.BodyEnd(flow.FacetResponse)
	h.Finish(time.Now(), errors.New("boom"))
	id2 := record(s, "/plain", nil)
	// A tunnel, a composed request to a target, a gRPC call: every part of
	// a list row.
	tun := s.Begin("127.0.0.1:2", flow.Request{Method: "CONNECT", URL: "https://pinned.test:443"}, start)
	tun.Tunnel(flow.KindTunnel, flow.Tunnel{Mode: flow.TunnelPassthrough, SNI: "pinned.test"})
	tun.Relayed(flow.FacetResponse, 1234)
	tun.Finish(time.Now(), nil)
	comp := s.Begin("127.0.0.1:3", flow.Request{Method: "GET", URL: "https://b.test/x"}, start)
	comp.Composed(id2)
	comp.Target("a.test:8443", "")
	comp.Response(flow.Response{Status: 200})
	comp.Finish(time.Now(), nil)
	grpc := s.Begin("127.0.0.1:4", flow.Request{Method: "POST", URL: "https://g.test/svc/Call"}, start)
	grpc.Response(flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Type", Value: "application/grpc"}}})
	grpc.Trailers(flow.FacetResponse, flow.Fields{{Name: "Grpc-Status", Value: "5"}, {Name: "Grpc-Message", Value: "not%20found"}})
	grpc.Finish(time.Now(), nil)
	bp := s.Begin("127.0.0.1:5", flow.Request{Method: "GET", URL: "https://h.test/"}, start)
	bp.Breakpoint(flow.Breakpoint{Rule: "b1", Skipped: "no dashboard connected"})
	bp.Finish(time.Now(), nil)
	flush(t, s)
	for _, id := range []flow.ID{h.ID(), id2, tun.ID(), comp.ID(), grpc.ID(), bp.ID()} {
		f, ok := s.Get(id)
		if !ok {
			t.Fatal("flow not found")
		}
		want := f.Summary()
		got, ok := s.Summary(id)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Summary (ring) = %+v\nGet().Summary() = %+v", got, want)
		}
		s.recent.clear()
		got, ok = s.Summary(id)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Summary (columns) = %+v\nGet().Summary() = %+v", got, want)
		}
		list, _ := listOf(s, nil, id+1, 1)
		if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
			t.Errorf("List row = %+v\nwant %+v", list, want)
		}
	}
	if sum, _ := s.Summary(grpc.ID()); sum.GRPCStatus == nil || *sum.GRPCStatus != 5 || sum.GRPCMessage != "not found" {
		t.Errorf("gRPC summary %+v", sum)
	}
	if sum, _ := s.Summary(bp.ID()); sum.Breakpoint != "skipped" {
		t.Errorf("breakpoint summary %+v", sum)
	}
	if _, ok := s.Summary(bp.ID() + 1); ok {
		t.Error("summary of a flow that does not exist")
	}
}

func TestListPaging(t *testing.T) {
	s := openStore(t, Config{ScanLimit: 1000})
	var ids []flow.ID
	for i := range 600 {
		ids = append(ids, record(s, fmt.Sprint("/", i), nil))
	}
	flush(t, s)
	sums, total := listOf(s, nil, 0, 10)
	if total != 600 || len(sums) != 10 || sums[9].ID != ids[599] || sums[0].ID != ids[590] {
		t.Fatalf("first page: total %d, %d rows, %v..%v", total, len(sums), sums[0].ID, sums[len(sums)-1].ID)
	}
	// Walk every page backwards by keyset.
	var got []flow.ID
	for before := flow.ID(0); ; {
		page, _ := listOf(s, nil, before, 64)
		if len(page) == 0 {
			break
		}
		for i := len(page) - 1; i >= 0; i-- {
			got = append(got, page[i].ID)
		}
		before = page[0].ID
	}
	slices.Reverse(got)
	if !slices.Equal(got, ids) {
		t.Fatalf("paged %d ids, want %d", len(got), len(ids))
	}

	even := func(f *flow.Flow) bool { return f.ID%2 == 0 }
	sums, total = listOf(s, even, 0, 5)
	if total != 300 || len(sums) != 5 {
		t.Fatalf("filtered: total %d rows %d", total, len(sums))
	}
	for _, sum := range sums {
		if sum.ID%2 != 0 {
			t.Errorf("filtered row %d", sum.ID)
		}
	}
	// A filtered page below a cursor, deep in the capture.
	sums, total = listOf(s, even, ids[10], 3)
	if total != 300 || len(sums) != 3 || sums[2].ID >= ids[10] {
		t.Errorf("filtered page below %d: total %d, %v", ids[10], total, sums)
	}
}

// A filtered List is a bounded scan: it visits the newest ScanLimit flows
// for its total, and at most ScanLimit more for a page below a cursor.
func TestFilteredListIsBounded(t *testing.T) {
	s := openStore(t, Config{ScanLimit: 100})
	var ids []flow.ID
	for i := range 500 {
		ids = append(ids, record(s, fmt.Sprint("/", i), nil))
	}
	flush(t, s)
	visited := 0
	all := func(*flow.Flow) bool { visited++; return true }
	sums, total := listOf(s, all, 0, 10)
	if total != 100 || len(sums) != 10 || visited != 100 {
		t.Errorf("total %d rows %d visited %d, want 100 10 100", total, len(sums), visited)
	}
	visited = 0
	sums, total = listOf(s, all, ids[50], 10)
	if total != 100 || len(sums) != 10 || sums[9].ID != ids[49] {
		t.Errorf("page below %d: total %d rows %v", ids[50], total, sums)
	}
	if visited > 200 {
		t.Errorf("visited %d flows, bound is 200", visited)
	}
}

func TestEach(t *testing.T) {
	s := openStore(t, Config{})
	for i := range 700 {
		record(s, fmt.Sprint("/", i), []byte(fmt.Sprint(i)))
	}
	flush(t, s)
	var got []flow.ID
	s.Each(query.MatchFunc(func(f *flow.Flow) bool { return strings.HasSuffix(f.Request.URL, "7") }), func(f *flow.Flow) bool {
		got = append(got, f.ID)
		return true
	})
	if len(got) != 70 || !slices.IsSorted(got) {
		t.Errorf("Each matched %d flows (sorted %v), want 70", len(got), slices.IsSorted(got))
	}
	n := 0
	s.Each(nil, func(*flow.Flow) bool { n++; return n < 300 })
	if n != 300 {
		t.Errorf("Each did not stop when fn returned false: %d", n)
	}
}

// Bodies up to InlineMax live in the database, larger ones in segments; a
// body that grows past InlineMax across batches is read back whole.
func TestBodiesInlineAndSegments(t *testing.T) {
	s := openStore(t, Config{InlineMax: 1024, SegmentSize: 64 << 10})
	small := pattern(1, 1000)
	large := pattern(2, 200_000) // spans several segments
	idSmall := record(s, "/small", small)
	idLarge := record(s, "/large", large)

	// A body written over several batches, crossing InlineMax.
	h := s.Begin("127.0.0.1:1", req("/grow"), t0)
	grow := pattern(3, 3000)
	for i := 0; i < len(grow); i += 500 {
		h.Body(flow.FacetResponse, grow[i:i+500])
		flush(t, s)
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0, nil)
	flush(t, s)

	for _, c := range []struct {
		id   flow.ID
		want []byte
	}{{idSmall, small}, {idLarge, large}, {h.ID(), grow}} {
		if got := readBody(t, s, c.id, flow.FacetResponse); !bytes.Equal(got, c.want) {
			t.Errorf("flow %d: body of %d bytes differs from the %d recorded", c.id, len(got), len(c.want))
		}
		f, _ := s.Get(c.id)
		if f.ResponseBody.Size != int64(len(c.want)) || f.ResponseBody.Captured != int64(len(c.want)) || f.ResponseBody.Truncated {
			t.Errorf("flow %d facts %+v", c.id, f.ResponseBody)
		}
	}
	var inline, segs int
	s.rdb.QueryRow("SELECT count(*) FILTER (WHERE segment IS NULL), count(*) FILTER (WHERE segment IS NOT NULL) FROM bodies").Scan(&inline, &segs)
	if inline == 0 || segs == 0 {
		t.Errorf("parts: %d inline, %d in segments; want both", inline, segs)
	}
	if c := s.Counters(); c.Segments < 3 {
		t.Errorf("segments = %d, want a 200 KB body over at least three 64 KiB segments", c.Segments)
	}
}

// Bytes that follow on in the same segment extend the body's last part
// rather than add one per chunk.
func TestSegmentPartsMerge(t *testing.T) {
	s := openStore(t, Config{InlineMax: 1024})
	h := s.Begin("127.0.0.1:1", req("/big"), t0)
	body := pattern(4, 100*4096)
	for i := 0; i < len(body); i += 4096 {
		h.Body(flow.FacetResponse, body[i:i+4096])
		if i%(20*4096) == 0 {
			flush(t, s)
		}
	}
	h.Finish(t0, nil)
	flush(t, s)
	var parts int
	s.rdb.QueryRow("SELECT count(*) FROM bodies WHERE flow = ?", int64(h.ID())).Scan(&parts)
	if parts > 2 {
		t.Errorf("%d parts for one body written alone into one segment, want at most 2", parts)
	}
	if got := readBody(t, s, h.ID(), flow.FacetResponse); !bytes.Equal(got, body) {
		t.Error("body differs")
	}
}

func TestUpstreamBodyAndDecoded(t *testing.T) {
	s := openStore(t, Config{})
	h := s.Begin("127.0.0.1:1", req("/gz"), t0)
	h.UpstreamResponse(flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Encoding", Value: "gzip"}}})
	h.Body(flow.FacetUpstream, gzipped(t, "origin said this"))
	h.BodyEnd(flow.FacetUpstream)
	h.Response(flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}})
	h.Body(flow.FacetResponse, []byte("rule said this"))
	h.Finish(t0, nil)
	flush(t, s)
	rc, facts, err := s.DecodedBody(h.ID(), flow.FacetUpstream)
	if err != nil {
		t.Fatalf("DecodedBody: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "origin said this" || facts.Encoding != "gzip" || !facts.Complete {
		t.Errorf("decoded = %q, %v, facts %+v", got, err, facts)
	}
	h2 := s.Begin("127.0.0.1:1", req("/x"), t0)
	h2.Response(flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Encoding", Value: "x-unknown"}}})
	h2.Body(flow.FacetResponse, []byte("?"))
	h2.Finish(t0, nil)
	flush(t, s)
	if _, _, err := s.DecodedBody(h2.ID(), flow.FacetResponse); !errors.Is(err, store.ErrUnsupportedEncoding) {
		t.Errorf("unknown encoding: %v", err)
	}
}

func TestWebSocketMessages(t *testing.T) {
	s := openStore(t, Config{InlineMax: 100})
	r := req("/ws")
	r.Header = append(r.Header, flow.Field{Name: "Upgrade", Value: "websocket"})
	h := s.Begin("127.0.0.1:1", r, t0)
	h.Response(flow.Response{Status: 101})
	big := pattern(5, 500)
	h.WebSocket(flow.WSMessage{Direction: flow.Send, Time: t0, Opcode: 1, Size: 5, Data: []byte("hello")})
	h.WebSocket(flow.WSMessage{Direction: flow.Receive, Time: t0.Add(time.Second), Opcode: 2, Size: 500, Data: big})
	h.Finish(t0.Add(2*time.Second), nil)
	flush(t, s)
	f, ok := s.Get(h.ID())
	if !ok || len(f.WebSocket) != 2 {
		t.Fatalf("messages: %+v", f)
	}
	if m := f.WebSocket[0]; m.Direction != flow.Send || string(m.Data) != "hello" || !m.Time.Equal(t0) {
		t.Errorf("message 0 = %+v", m)
	}
	if m := f.WebSocket[1]; m.Opcode != 2 || !bytes.Equal(m.Data, big) {
		t.Errorf("message 1 (in a segment) differs")
	}
	var n int
	s.Each(nil, func(f *flow.Flow) bool { n = len(f.WebSocket); return true })
	if n != 2 {
		t.Errorf("Each gave %d messages", n)
	}
}

func TestBodyCapTruncates(t *testing.T) {
	s := openStore(t, Config{BodyCap: 10})
	id := record(s, "/cap", []byte("0123456789abcdef"))
	flush(t, s)
	f, _ := s.Get(id)
	if b := f.ResponseBody; b.Size != 16 || b.Captured != 10 || !b.Truncated {
		t.Errorf("facts %+v", b)
	}
	if got := readBody(t, s, id, flow.FacetResponse); string(got) != "0123456789" {
		t.Errorf("body %q", got)
	}
	if st := s.Stats(); st.Truncated != 1 || st.TruncatedBytes != 6 {
		t.Errorf("stats truncated %d bytes %d", st.Truncated, st.TruncatedBytes)
	}
}

func TestDeleteClearPaused(t *testing.T) {
	s := openStore(t, Config{InlineMax: 100, SegmentSize: 1000})
	a := record(s, "/a", pattern(1, 2000))
	b := record(s, "/b", nil)
	live := s.Begin("127.0.0.1:1", req("/live"), t0)
	flush(t, s)
	segs := s.Counters().Segments
	if segs == 0 {
		t.Fatal("no segments for a large body")
	}
	if !s.Delete(a) || s.Delete(a) {
		t.Error("Delete: want true then false")
	}
	if _, ok := s.Get(a); ok {
		t.Error("deleted flow still there")
	}
	if c := s.Counters(); c.Segments != 0 || c.Flows != 2 {
		t.Errorf("after delete: %d segments, %d flows", c.Segments, c.Flows)
	}
	if !s.Delete(live.ID()) {
		t.Error("Delete of a flow in progress")
	}
	live.Response(textResp) // inert now
	live.Finish(t0, nil)
	flush(t, s)
	if _, ok := s.Get(live.ID()); ok {
		t.Error("a deleted flow in progress came back")
	}

	w := s.Watch()
	defer w.Close()
	s.Clear()
	if ch := w.Take(); !ch.Reset {
		t.Errorf("Clear published %+v, want a reset", ch)
	}
	if _, ok := s.Get(b); ok || s.Stats().Flows != 0 {
		t.Error("Clear left flows")
	}

	s.SetPaused(true)
	if h := s.Begin("127.0.0.1:1", req("/p"), t0); h.ID() != 0 {
		t.Error("paused store recorded")
	}
	s.SetPaused(false)
	if !(s.Stats().Skipped == 1 && !s.Paused()) {
		t.Errorf("stats %+v", s.Stats())
	}
}

func TestImport(t *testing.T) {
	s := openStore(t, Config{InlineMax: 10})
	existing := record(s, "/before", nil)
	rs := []flow.Recorded{
		{Flow: flow.Flow{Request: req("/imp1"), Response: &flow.Response{Status: 200},
			ResponseBody: flow.Body{Size: 100, Truncated: true}, Rules: []string{"r"}},
			Bodies: map[flow.Facet][]byte{flow.FacetResponse: []byte("imported response body")}},
		{Flow: flow.Flow{Request: req("/imp2"), State: flow.StatePending,
			WebSocket: []flow.WSMessage{{Direction: flow.Send, Opcode: 1, Size: 2, Data: []byte("hi"), Time: t0}}}},
	}
	ids, err := s.Import(rs)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(ids) != 2 || ids[0] <= existing || ids[1] <= ids[0] {
		t.Fatalf("ids %v after %d", ids, existing)
	}
	f, ok := s.Get(ids[0])
	if !ok || !f.Imported || f.State != flow.StateDone || !slices.Equal(f.Rules, []string{"r"}) {
		t.Fatalf("imported flow %+v", f)
	}
	if b := f.ResponseBody; b.Size != 100 || b.Captured != 22 || !b.Truncated || !b.Complete {
		t.Errorf("imported facts %+v", b)
	}
	if got := readBody(t, s, ids[0], flow.FacetResponse); string(got) != "imported response body" {
		t.Errorf("imported body %q", got)
	}
	f2, _ := s.Get(ids[1])
	if len(f2.WebSocket) != 1 || string(f2.WebSocket[0].Data) != "hi" {
		t.Errorf("imported messages %+v", f2.WebSocket)
	}
	if _, err := s.Import([]flow.Recorded{{Flow: flow.Flow{Request: flow.Request{Method: "GET"}}}}); err == nil {
		t.Error("import of a flow without URL succeeded")
	}
}

// An import whose segment write fails leaves the capture as it was.
func TestImportAllOrNothing(t *testing.T) {
	ff := &faultyFiles{}
	s := openWith(t, Config{InlineMax: 10}, options{createSegment: ff.create})
	flush(t, s)
	before := s.Counters().Flows
	ff.fail.Store(true)
	_, err := s.Import([]flow.Recorded{
		{Flow: flow.Flow{Request: req("/ok")}, Bodies: map[flow.Facet][]byte{flow.FacetResponse: []byte("short")}},
		{Flow: flow.Flow{Request: req("/big")}, Bodies: map[flow.Facet][]byte{flow.FacetResponse: pattern(1, 100)}},
	})
	if err == nil {
		t.Fatal("import with a failing segment write succeeded")
	}
	if c := s.Counters(); c.Flows != before {
		t.Errorf("flows %d after a failed import, want %d", c.Flows, before)
	}
	var n int
	s.rdb.QueryRow("SELECT count(*) FROM flows").Scan(&n)
	if int64(n) != before {
		t.Errorf("%d rows after a failed import", n)
	}
}

// IDs continue across restarts, also past flows deleted before the
// restart, and the capture is there after reopening.
func TestReopenKeepsFlowsAndIDs(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, InlineMax: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := record(s, "/a", pattern(1, 5000))
	b := record(s, "/b", []byte("small"))
	flush(t, s)
	s.Delete(b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Config{Dir: dir})
	if got := readBody(t, s2, a, flow.FacetResponse); !bytes.Equal(got, pattern(1, 5000)) {
		t.Error("body differs after reopening")
	}
	c := record(s2, "/c", nil)
	if c <= b {
		t.Errorf("new id %d not above %d", c, b)
	}
	flush(t, s2)
	sess, err := s2.Sessions()
	if err != nil || len(sess) != 2 || int64(sess[1].ID) != s2.Session() || sess[0].Flows != 1 || sess[1].Flows != 1 {
		t.Errorf("sessions %+v, %v", sess, err)
	}
}

// Flows in progress when the store closed are interrupted on reopening.
func TestPendingBecomesInterrupted(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Begin("127.0.0.1:1", req("/long"), t0)
	h.Body(flow.FacetRequest, []byte("partial"))
	flush(t, s)
	s.Close()
	h.Finish(t0, nil) // after Close: ignored, never blocks

	s2 := openStore(t, Config{Dir: dir})
	f, ok := s2.Get(h.ID())
	if !ok || f.State != flow.StateError || !strings.Contains(f.Error, "interrupted") {
		t.Fatalf("flow %+v", f)
	}
	sum, _ := s2.Summary(h.ID())
	if sum.State != flow.StateError || sum.Error != f.Error {
		t.Errorf("summary %+v", sum)
	}
	if got := readBody(t, s2, h.ID(), flow.FacetRequest); string(got) != "partial" {
		t.Errorf("partial body %q", got)
	}
	if c := s2.Counters(); c.Interrupted != 1 {
		t.Errorf("interrupted = %d", c.Interrupted)
	}
}

// After Close every method answers (not found, an error, a no-op) and
// none panics or blocks.
func TestUseAfterClose(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := record(s, "/x", []byte("body"))
	h := s.Begin("127.0.0.1:1", req("/open"), t0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	h.Body(flow.FacetResponse, []byte("late"))
	h.Finish(t0, nil)
	if h := s.Begin("127.0.0.1:1", req("/after"), t0); h.ID() != 0 {
		t.Error("Begin after Close recorded")
	}
	if _, ok := s.Get(id); ok {
		t.Error("Get after Close")
	}
	if _, ok := s.Summary(id + 1); ok {
		t.Error("Summary after Close")
	}
	if sums, _ := listOf(s, nil, 0, 10); len(sums) != 0 {
		t.Error("List after Close")
	}
	listOf(s, func(*flow.Flow) bool { return true }, 0, 10)
	s.Each(nil, func(*flow.Flow) bool { t.Error("Each after Close"); return false })
	if _, _, err := s.Body(id, flow.FacetResponse); err == nil {
		t.Error("Body after Close")
	}
	if s.Delete(id) {
		t.Error("Delete after Close")
	}
	s.Clear()
	if _, err := s.Import(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Import after Close: %v", err)
	}
	if err := s.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v", err)
	}
	if _, err := s.Sessions(); err == nil {
		t.Error("Sessions after Close")
	}
	s.Stats()
	s.Counters()
}

func TestSecondProcessRefused(t *testing.T) {
	dir := t.TempDir()
	openStore(t, Config{Dir: dir})
	_, err := Open(Config{Dir: dir}, nil)
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
}

func TestConcurrentRecordersAndReaders(t *testing.T) {
	s := openStore(t, Config{InlineMax: 512, SegmentSize: 1 << 16, MaxFlows: 300})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				record(s, fmt.Sprintf("/%d/%d", g, i), pattern(g*1000+i, (i%7)*300))
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
			sums, _ := listOf(s, func(f *flow.Flow) bool { return f.Response != nil }, 0, 20)
			for _, sum := range sums {
				if rc, _, err := s.Body(sum.ID, flow.FacetResponse); err == nil {
					io.Copy(io.Discard, rc)
					rc.Close()
				}
			}
		}
	})
	wg.Wait()
	flush(t, s)
	close(stop)
	readers.Wait()
	if c := s.Counters(); c.Flows != 300 || c.Evicted != 500 {
		t.Errorf("flows %d evicted %d, want 300 and 500", c.Flows, c.Evicted)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil {
		t.Error("Config without Dir is valid")
	}
	err := Config{Dir: "x", MaxFlows: -1, InlineMax: 2 << 20, SegmentSize: 1 << 20}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max flows") || !strings.Contains(err.Error(), "inline max") {
		t.Errorf("Validate = %v", err)
	}
}

// The capture directory holds exactly what the package says it does, all
// private; a closed capture has no write-ahead log left.
func TestDirectoryLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "capture") // created by Open
	s, err := Open(Config{Dir: dir, InlineMax: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	record(s, "/x", pattern(1, 100))
	flush(t, s)
	for name, mode := range map[string]os.FileMode{
		".": 0o700, dbName: 0o600, dbName + "-wal": 0o600, lockName: 0o600, segDirName: 0o700,
		filepath.Join(segDirName, segName(1)): 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{dbName, lockName, segDirName}; !slices.Equal(names, want) {
		t.Errorf("after Close the directory holds %v, want %v", names, want)
	}
}
