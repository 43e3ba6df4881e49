// Package storetest holds the contract tests every store.Backend must pass
// for sessions and streamed imports, so that the memory store and the
// durable capture answer the dashboard alike. Each store's own tests call
// Run with a way to open a fresh store.
//
// It is test support: only _test files import it, and it must never be
// linked into Loupe itself.
package storetest

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

// Harness opens stores for the contract tests.
type Harness struct {
	// Open returns a fresh, empty store that keeps at most maxFlows flows
	// (0: the store's default). The test closes it.
	Open func(t *testing.T, maxFlows int) store.Backend
	// Sync returns once what was recorded before the call is readable (the
	// durable capture writes in batches). Nil: at once.
	Sync func(t *testing.T, b store.Backend)
	// Parse parses a filter of the dashboard's language (web/filter's
	// Parse, which this package may not import). Nil: the filter tests
	// are skipped.
	Parse func(q string) (*query.Query, error)
}

func (h Harness) sync(t *testing.T, b store.Backend) {
	t.Helper()
	if h.Sync != nil {
		h.Sync(t, b)
	}
}

// Run runs every contract test.
func Run(t *testing.T, h Harness) {
	t.Run("Sessions", func(t *testing.T) { testSessions(t, h) })
	t.Run("DeleteAndClearSession", func(t *testing.T) { testDeleteSession(t, h) })
	t.Run("ImportNewSession", func(t *testing.T) { testImportNewSession(t, h) })
	t.Run("ImportIntoSession", func(t *testing.T) { testImportIntoSession(t, h) })
	t.Run("ImportAbort", func(t *testing.T) { testImportAbort(t, h) })
	t.Run("ImportTooLarge", func(t *testing.T) { testImportTooLarge(t, h) })
	t.Run("ImportVerbatim", func(t *testing.T) { testImportVerbatim(t, h) })
	t.Run("Tree", func(t *testing.T) { testTree(t, h) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, h) })
	t.Run("MadeFilters", func(t *testing.T) { testMadeFilters(t, h) })
	t.Run("Annotate", func(t *testing.T) { testAnnotate(t, h) })
	t.Run("ImportAnnotation", func(t *testing.T) { testImportAnnotation(t, h) })
}

// t0 is the start of recorded flows: recent, since the durable capture
// evicts flows older than its age limit.
var t0 = time.Now().Add(-time.Hour).Truncate(time.Second)

func req(path string) flow.Request {
	return flow.Request{Method: "GET", URL: "http://example.test" + path, Proto: "HTTP/1.1",
		Header: flow.Fields{{Name: "Accept", Value: "*/*"}}}
}

// record runs one complete exchange through the Recorder interface.
func record(b store.Backend, path string, body string) flow.ID {
	h := b.Begin("127.0.0.1:5000", req(path), t0)
	h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}})
	if body != "" {
		h.Body(flow.FacetResponse, []byte(body))
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(time.Millisecond), nil)
	return h.ID()
}

// list is one page of a session's flows (0: every session) matching match
// (nil: all), below before, at most limit (0: all): its flows and total.
func list(b store.Backend, session flow.SessionID, match func(*flow.Flow) bool, before flow.ID, limit int) ([]flow.Summary, int) {
	res := b.List(query.InSession(query.MatchFunc(match), session), query.Page{Cursor: before, Limit: limit})
	return res.Flows, res.Total
}

// each visits a session's flows (0: every session) matching match.
func each(b store.Backend, session flow.SessionID, match func(*flow.Flow) bool, fn func(*flow.Flow) bool) {
	b.Each(query.InSession(query.MatchFunc(match), session), fn)
}

func sessionIDs(ss []store.Session) []flow.SessionID {
	var out []flow.SessionID
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func sumIDs(sums []flow.Summary) []flow.ID {
	var out []flow.ID
	for _, s := range sums {
		out = append(out, s.ID)
	}
	return out
}

func sessions(t *testing.T, b store.Backend) []store.Session {
	t.Helper()
	ss, err := b.Sessions()
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	return ss
}

func find(ss []store.Session, id flow.SessionID) (store.Session, bool) {
	for _, s := range ss {
		if s.ID == id {
			return s, true
		}
	}
	return store.Session{}, false
}

func readBody(t *testing.T, b store.Backend, id flow.ID, facet flow.Facet) string {
	t.Helper()
	rc, _, err := b.Body(id, facet)
	if err != nil {
		t.Fatalf("Body(%d, %s): %v", id, facet, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A fresh store records into one session; a new session takes over the
// recording and each session lists and pages its own flows.
func testSessions(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	ss := sessions(t, b)
	if len(ss) != 1 || !ss[0].Recording || ss[0].ID != b.RecordingSession() || ss[0].Name == "" || ss[0].Created.IsZero() {
		t.Fatalf("a fresh store's sessions: %+v (recording %d)", ss, b.RecordingSession())
	}
	first := ss[0].ID
	var a []flow.ID
	for i := range 3 {
		a = append(a, record(b, fmt.Sprint("/first/", i), "body"))
	}
	h.sync(t, b)
	if f, ok := b.Get(a[0]); !ok || f.Session != first {
		t.Fatalf("a recorded flow's session: %+v", f)
	}
	if sum, ok := b.Summary(a[1]); !ok || sum.Session != first {
		t.Errorf("a summary's session: %+v", sum)
	}

	second, err := b.NewSession("  second  ")
	if err != nil {
		t.Fatal(err)
	}
	if second.Name != "second" || !second.Recording || second.ID == first || b.RecordingSession() != second.ID || second.Flows != 0 {
		t.Fatalf("new session %+v (recording %d)", second, b.RecordingSession())
	}
	var c []flow.ID
	for i := range 2 {
		c = append(c, record(b, fmt.Sprint("/second/", i), "x"))
	}
	h.sync(t, b)
	ss = sessions(t, b)
	if got := sessionIDs(ss); !slices.Equal(got, []flow.SessionID{first, second.ID}) {
		t.Fatalf("sessions %v, want oldest first", got)
	}
	s1, _ := find(ss, first)
	s2, _ := find(ss, second.ID)
	if s1.Recording || !s2.Recording || s1.Flows != 3 || s2.Flows != 2 || s1.Bytes <= 0 || s2.Bytes <= 0 {
		t.Errorf("sessions after the switch: %+v", ss)
	}

	sums, total := list(b, first, nil, 0, 0)
	if !slices.Equal(sumIDs(sums), a) || total != 3 {
		t.Errorf("first session lists %v (total %d), want %v", sumIDs(sums), total, a)
	}
	sums, total = list(b, second.ID, nil, 0, 0)
	if !slices.Equal(sumIDs(sums), c) || total != 2 {
		t.Errorf("second session lists %v (total %d), want %v", sumIDs(sums), total, c)
	}
	if _, total := list(b, 0, nil, 0, 0); total != 5 {
		t.Errorf("every session: total %d, want 5", total)
	}
	if _, total := list(b, 0, nil, 0, 0); total != 5 {
		t.Errorf("List: total %d, want 5", total)
	}
	// Paging within a session, below a cursor.
	sums, total = list(b, first, nil, a[2], 1)
	if !slices.Equal(sumIDs(sums), []flow.ID{a[1]}) || total != 3 {
		t.Errorf("page below %d: %v (total %d)", a[2], sumIDs(sums), total)
	}
	// A filter within a session.
	match := func(f *flow.Flow) bool { return f.Request.URL != "http://example.test/first/1" }
	sums, total = list(b, first, match, 0, 0)
	if !slices.Equal(sumIDs(sums), []flow.ID{a[0], a[2]}) || total != 2 {
		t.Errorf("filtered: %v (total %d)", sumIDs(sums), total)
	}
	var visited []flow.ID
	each(b, first, nil, func(f *flow.Flow) bool { visited = append(visited, f.ID); return true })
	if !slices.Equal(visited, a) {
		t.Errorf("Each of a session = %v, want %v", visited, a)
	}

	name, pin := "renamed", true
	up, err := b.UpdateSession(first, store.SessionPatch{Name: &name, Pinned: &pin})
	if err != nil || up.Name != "renamed" || !up.Pinned || up.Recording || up.Flows != 3 {
		t.Fatalf("UpdateSession = %+v, %v", up, err)
	}
	if s, _ := find(sessions(t, b), first); s.Name != "renamed" || !s.Pinned {
		t.Errorf("listed after the update: %+v", s)
	}
	pin = false
	if up, err := b.UpdateSession(first, store.SessionPatch{Pinned: &pin}); err != nil || up.Pinned || up.Name != "renamed" {
		t.Errorf("unpin = %+v, %v", up, err)
	}
	for _, bad := range []string{"", "   ", "a\nb", string(make([]byte, store.MaxSessionName+1))} {
		if _, err := b.UpdateSession(first, store.SessionPatch{Name: &bad}); !errors.Is(err, store.ErrBadSessionName) {
			t.Errorf("rename to %q: %v, want ErrBadSessionName", bad, err)
		}
	}
	if _, err := b.UpdateSession(9999, store.SessionPatch{Name: &name}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing session: %v", err)
	}
	if _, err := b.NewSession("bad\x00name"); !errors.Is(err, store.ErrBadSessionName) {
		t.Errorf("new session with a bad name: %v", err)
	}
	third, err := b.NewSession("")
	if err != nil || third.Name == "" {
		t.Errorf("new session without a name: %+v, %v", third, err)
	}
}

// Deleting a session removes its flows and bodies, announced as removals;
// the recording session cannot be deleted; clearing keeps the session.
func testDeleteSession(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	first := b.RecordingSession()
	a := []flow.ID{record(b, "/a", "aaa"), record(b, "/b", "bbb")}
	h.sync(t, b)
	w := b.Watch()
	defer w.Close()
	if err := b.DeleteSession(first); !errors.Is(err, store.ErrRecording) {
		t.Fatalf("deleting the recording session: %v, want ErrRecording", err)
	}
	second, err := b.NewSession("second")
	if err != nil {
		t.Fatal(err)
	}
	keep := record(b, "/keep", "k")
	h.sync(t, b)
	w.Take()
	if err := b.DeleteSession(first); err != nil {
		t.Fatal(err)
	}
	for _, id := range a {
		if _, ok := b.Get(id); ok {
			t.Errorf("flow %d of a deleted session is still there", id)
		}
		if _, _, err := b.Body(id, flow.FacetResponse); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("body of flow %d of a deleted session: %v", id, err)
		}
	}
	if ch := w.Take(); !slices.Equal(ch.Removed, a) {
		t.Errorf("removals announced %v, want %v", ch.Removed, a)
	}
	if ss := sessions(t, b); !slices.Equal(sessionIDs(ss), []flow.SessionID{second.ID}) {
		t.Errorf("sessions after the delete: %+v", ss)
	}
	if _, ok := b.Get(keep); !ok {
		t.Error("a flow of another session went with it")
	}
	if err := b.DeleteSession(first); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting it again: %v", err)
	}
	if err := b.ClearSession(second.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Get(keep); ok {
		t.Error("a flow of a cleared session is still there")
	}
	ss := sessions(t, b)
	if len(ss) != 1 || ss[0].ID != second.ID || ss[0].Flows != 0 || !ss[0].Recording {
		t.Errorf("after clearing the recording session: %+v", ss)
	}
	after := record(b, "/after", "")
	h.sync(t, b)
	if f, ok := b.Get(after); !ok || f.Session != second.ID {
		t.Errorf("recording after the clear: %+v", f)
	}
	if err := b.ClearSession(9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("clearing a missing session: %v", err)
	}
}

func imported(path, body string) *flow.Recorded {
	return &flow.Recorded{
		Flow: flow.Flow{Start: t0, Request: req(path), Response: &flow.Response{Status: 201, Proto: "HTTP/1.1"},
			ResponseBody: flow.Body{Size: int64(len(body))},
			WebSocket:    []flow.WSMessage{{Direction: flow.Receive, Time: t0, Opcode: 1, Size: 2, Data: []byte("ws")}}},
		Bodies: map[flow.Facet][]byte{flow.FacetResponse: []byte(body)},
	}
}

// An import fills a new session that is not the recording one, visible
// only once committed.
func testImportNewSession(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	rec := b.RecordingSession()
	live := record(b, "/live", "")
	h.sync(t, b)
	w := b.Watch()
	defer w.Close()
	im, err := b.NewImport(store.ImportTarget{Name: "file.har"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // more than one chunk of the durable capture
		if err := im.Add(imported(fmt.Sprint("/imp/", i), fmt.Sprint("body ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if im.Flows() != 300 {
		t.Errorf("Flows() = %d", im.Flows())
	}
	if ss := sessions(t, b); len(ss) != 1 {
		t.Errorf("an import in progress is listed: %+v", ss)
	}
	if sums, total := list(b, 0, nil, 0, 0); total != 1 || len(sums) != 1 {
		t.Errorf("flows of an import in progress are listed: %d, total %d", len(sums), total)
	}
	if sums, total := list(b, 0, func(*flow.Flow) bool { return true }, 0, 0); total != 1 || len(sums) != 1 {
		t.Errorf("flows of an import in progress are scanned: %d, total %d", len(sums), total)
	}
	n := 0
	each(b, 0, nil, func(*flow.Flow) bool { n++; return true })
	if n != 1 {
		t.Errorf("Each visits %d flows during an import, want 1", n)
	}
	sess, ids, err := im.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if sess.Name != "file.har" || sess.Recording || sess.Flows != 300 || sess.ID == rec || len(ids) != 300 {
		t.Fatalf("committed %+v, %d ids", sess, len(ids))
	}
	if b.RecordingSession() != rec {
		t.Error("an import took over the recording")
	}
	if !slices.IsSorted(ids) || ids[0] <= live {
		t.Errorf("ids %v… after %d", ids[:3], live)
	}
	f, ok := b.Get(ids[7])
	if !ok || !f.Imported || f.Session != sess.ID || f.State != flow.StateDone || f.Request.URL != "http://example.test/imp/7" ||
		len(f.WebSocket) != 1 || string(f.WebSocket[0].Data) != "ws" {
		t.Fatalf("imported flow %+v", f)
	}
	if got := readBody(t, b, ids[7], flow.FacetResponse); got != "body 7" {
		t.Errorf("imported body %q", got)
	}
	sums, total := list(b, sess.ID, nil, 0, 10)
	if total != 300 || len(sums) != 10 || sums[9].ID != ids[299] {
		t.Errorf("the import's session lists %d of %d", len(sums), total)
	}
	if _, total := list(b, rec, nil, 0, 0); total != 1 {
		t.Errorf("the recording session holds %d flows, want 1", total)
	}
	ch := w.Take()
	if !ch.Reset && len(ch.Added) != 300 {
		t.Errorf("the import announced %d flows", len(ch.Added))
	}
	if _, _, err := im.Commit(); err == nil {
		t.Error("a second Commit succeeded")
	}
	im.Abort() // after Commit: nothing
	if _, ok := b.Get(ids[0]); !ok {
		t.Error("Abort after Commit removed flows")
	}
}

// An import into an existing session (the HAR import of today) adds its
// flows there.
func testImportIntoSession(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	rec := b.RecordingSession()
	im, err := b.NewImport(store.ImportTarget{Session: rec})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := im.Add(imported(fmt.Sprint("/into/", i), "b")); err != nil {
			t.Fatal(err)
		}
	}
	sess, ids, err := im.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID != rec || !sess.Recording || sess.Flows != 3 {
		t.Errorf("target session %+v", sess)
	}
	if ss := sessions(t, b); len(ss) != 1 {
		t.Errorf("sessions %+v", ss)
	}
	sums, total := list(b, rec, nil, 0, 0)
	if total != 3 || !slices.Equal(sumIDs(sums), ids) {
		t.Errorf("recording session lists %v (%d), want %v", sumIDs(sums), total, ids)
	}
	if _, err := b.NewImport(store.ImportTarget{Session: 9999}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("import into a missing session: %v", err)
	}
}

// An aborted or failed import leaves nothing behind.
func testImportAbort(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	record(b, "/live", "")
	h.sync(t, b)
	before := b.Stats().Flows
	im, err := b.NewImport(store.ImportTarget{Name: "aborted"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if err := im.Add(imported(fmt.Sprint("/a/", i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	im.Abort()
	im.Abort()
	if err := im.Add(imported("/late", "")); err == nil {
		t.Error("Add after Abort succeeded")
	}
	if _, _, err := im.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	h.sync(t, b)
	if ss := sessions(t, b); len(ss) != 1 {
		t.Errorf("sessions after an aborted import: %+v", ss)
	}
	if st := b.Stats(); st.Flows != before {
		t.Errorf("%d flows after an aborted import, want %d", st.Flows, before)
	}

	// A bad flow fails the import; the flows before it go too.
	im, err = b.NewImport(store.ImportTarget{Name: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := im.Add(imported(fmt.Sprint("/ok/", i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	bad := imported("/bad", "")
	bad.Flow.Request.Method = ""
	if err := im.Add(bad); err == nil {
		t.Fatal("a flow without a method was accepted")
	}
	im.Abort()
	if _, _, err := im.Commit(); err == nil {
		t.Error("Commit after a failed Add succeeded")
	}
	h.sync(t, b)
	if st := b.Stats(); st.Flows != before || len(sessions(t, b)) != 1 {
		t.Errorf("after a failed import: %d flows, sessions %+v", st.Flows, sessions(t, b))
	}
}

// An import that cannot fit fails as soon as that is known.
func testImportTooLarge(t *testing.T, h Harness) {
	b := h.Open(t, 10)
	im, err := b.NewImport(store.ImportTarget{})
	if err != nil {
		t.Fatal(err)
	}
	var failed error
	n := 0
	for n = range 20 {
		if failed = im.Add(imported(fmt.Sprint("/", n), "x")); failed != nil {
			break
		}
	}
	if !errors.Is(failed, store.ErrImportTooLarge) || n != 10 {
		t.Fatalf("flow %d: %v, want ErrImportTooLarge at flow 10", n, failed)
	}
	im.Abort()
	if ss := sessions(t, b); len(ss) != 1 {
		t.Errorf("sessions after a refused import: %+v", ss)
	}
	if _, err := b.NewImport(store.ImportTarget{Size: 1 << 50}); !errors.Is(err, store.ErrImportTooLarge) {
		t.Errorf("an import larger than the capture: %v", err)
	}
}

// A Loupe session file keeps every flow as it was: state, marks, body
// completeness; a replay and an edited request point at their original
// (nowhere when it is not in the file); a flow still in progress
// becomes an interrupted error.
func testImportVerbatim(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	im, err := b.NewImport(store.ImportTarget{Name: "file.loupe", Verbatim: true})
	if err != nil {
		t.Fatal(err)
	}
	orig := imported("/orig", "0123456789")
	orig.Flow.ID = 50
	orig.Flow.State = flow.StateDone
	orig.Flow.ResponseBody = flow.Body{Size: 100, Captured: 10, Truncated: true, Complete: false, ContentType: "text/plain"}
	orig.Flow.RequestBody = flow.Body{Size: 7, Truncated: true, Complete: true}
	orig.Flow.Tunnel = &flow.Tunnel{Target: "a.test:443", ServerName: "b.test"}
	orig.Flow.UpstreamBody = &flow.Body{Size: 3, Captured: 3, Complete: true}
	orig.Bodies[flow.FacetUpstream] = []byte("up!")
	replay := imported("/orig", "x")
	replay.Flow.ID = 51
	replay.Flow.State = flow.StateError
	replay.Flow.Error = "boom"
	replay.Flow.ReplayOf = 50
	pending := imported("/pending", "")
	pending.Flow.ID = 52
	pending.Flow.State = flow.StatePending
	dangling := imported("/dangling", "")
	dangling.Flow.ID = 53
	dangling.Flow.State = flow.StateDone
	dangling.Flow.ReplayOf = 7 // not in the file
	dangling.Flow.Imported = true
	edited := imported("/edited", "")
	edited.Flow.ID = 54
	edited.Flow.State = flow.StateDone
	edited.Flow.Composed, edited.Flow.ComposedFrom = true, 50
	editedGone := imported("/edited", "")
	editedGone.Flow.ID = 55
	editedGone.Flow.State = flow.StateDone
	editedGone.Flow.Composed, editedGone.Flow.ComposedFrom = true, 8 // not in the file
	for _, r := range []*flow.Recorded{orig, replay, pending, dangling, edited, editedGone} {
		if err := im.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	_, ids, err := im.Commit()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := b.Get(ids[0])
	if f.Imported || f.State != flow.StateDone || f.Tunnel == nil || f.Tunnel.Target != "a.test:443" || f.Tunnel.ServerName != "b.test" {
		t.Errorf("verbatim flow %+v", f)
	}
	if rb := f.ResponseBody; rb.Size != 100 || rb.Captured != 10 || !rb.Truncated || rb.Complete || rb.ContentType != "text/plain" {
		t.Errorf("response body facts %+v", rb)
	}
	if rb := f.RequestBody; rb.Size != 7 || rb.Captured != 0 || !rb.Truncated || !rb.Complete {
		t.Errorf("request body facts %+v", rb)
	}
	if ub := f.UpstreamBody; ub == nil || ub.Size != 3 || ub.Captured != 3 {
		t.Errorf("upstream body facts %+v", ub)
	}
	if got := readBody(t, b, ids[0], flow.FacetUpstream); got != "up!" {
		t.Errorf("upstream body %q", got)
	}
	if f, _ := b.Get(ids[1]); f.ReplayOf != ids[0] || f.State != flow.StateError || f.Error != "boom" {
		t.Errorf("replay: %+v (want replayOf %d)", f, ids[0])
	}
	if f, _ := b.Get(ids[2]); f.State != flow.StateError || f.Error == "" {
		t.Errorf("a flow in progress in the file: state %s error %q", f.State, f.Error)
	}
	if f, _ := b.Get(ids[3]); f.ReplayOf != 0 || !f.Imported {
		t.Errorf("a replay of a flow not in the file: %+v", f)
	}
	if f, _ := b.Get(ids[4]); !f.Composed || f.ComposedFrom != ids[0] {
		t.Errorf("a request edited from a flow in the file: composed %v from %d, want from %d", f.Composed, f.ComposedFrom, ids[0])
	}
	if f, _ := b.Get(ids[5]); !f.Composed || f.ComposedFrom != 0 {
		t.Errorf("a request edited from a flow not in the file: composed %v from %d, want from 0", f.Composed, f.ComposedFrom)
	}
}

// Every store answers a filter with the same flows: or, groups, header,
// port, duration and size terms, each against a table of the flows it
// must select (by their index in the import; 5 is a flow in flight).
func testFilters(t *testing.T, h Harness) {
	if h.Parse == nil {
		t.Skip("no parser")
	}
	b := h.Open(t, 0)
	mk := func(method, url string, status int, dur time.Duration, size int64, reqH, respH flow.Fields) flow.Recorded {
		f := flow.Flow{Start: t0, End: t0.Add(dur), State: flow.StateDone,
			Request:  flow.Request{Method: method, URL: url, Proto: "HTTP/1.1", Header: reqH},
			Response: &flow.Response{Status: status, Proto: "HTTP/1.1", Header: respH}, ResponseBody: flow.Body{Size: size}}
		r := flow.Recorded{Flow: f}
		if size > 0 {
			f.ResponseBody.Captured = size
			r = flow.Recorded{Flow: f, Bodies: map[flow.Facet][]byte{flow.FacetResponse: make([]byte, size)}}
		}
		return r
	}
	hdr := func(kv ...string) flow.Fields {
		var fs flow.Fields
		for i := 0; i+1 < len(kv); i += 2 {
			fs = append(fs, flow.Field{Name: kv[i], Value: kv[i+1]})
		}
		return fs
	}
	ids, err := b.Import([]flow.Recorded{
		mk("GET", "https://api.a.com/v1/users", 200, 50*time.Millisecond, 100, hdr("Accept", "*/*"), hdr("Content-Type", "application/json")),
		mk("POST", "http://b.com:8080/login", 404, 1500*time.Millisecond, 0, hdr("Cookie", "x=1"), hdr("Content-Type", "text/html")),
		mk("OPTIONS", "https://a.com:9000/x", 204, 2*time.Second, 0, nil, hdr("Access-Control-Allow-Origin", "*")),
		mk("GET", "http://c.org/", 500, 200*time.Millisecond, 0, nil, hdr("Content-Type", "application/problem+json")),
		mk("DELETE", "https://b.com/item", 500, 199999*time.Microsecond, 0, nil, hdr("X-Trace", "ABC")),
	})
	if err != nil {
		t.Fatal(err)
	}
	pending := b.Begin("127.0.0.1:5000", flow.Request{Method: "GET", URL: "http://a.com:8001/pending", Proto: "HTTP/1.1",
		Header: hdr("X-Pending", "yes")}, t0)
	ids = append(ids, pending.ID())
	h.sync(t, b)
	tests := []struct {
		q    string
		want []int
	}{
		{"status:404 or status:500", []int{1, 3, 4}},
		{"status:404 | STATUS:500", []int{1, 3, 4}},
		{"(host:a.com or host:b.com) -method:OPTIONS", []int{1, 4, 5}},
		{"-(host:a.com or host:b.com)", []int{0, 3}},
		{"status:5xx host:c.org or method:post", []int{1, 3}},
		{`"or"`, []int{3}},
		{"header:x-trace", []int{4}},
		{"header:X-Pending", []int{5}},
		{"header:content-type=*json*", []int{0, 3}},
		{"reqheader:accept", []int{0}},
		{"resheader:accept", nil},
		{"resheader:x-trace=abc", []int{4}},
		{"-header:content-type", []int{2, 4, 5}},
		{"port:>8000", []int{1, 2, 5}},
		{"port:8000-8999", []int{1, 5}},
		{"port:<=443", []int{0, 3, 4}},
		{"duration:>1s", []int{1, 2}},
		{"duration:<200ms", []int{0, 4}},
		{"duration:>=1.5s", []int{1, 2}},
		{"-duration:>1s", []int{0, 3, 4, 5}},
		{"duration:200", []int{3}},
		{"size:>50", []int{0}},
		{"(status:404 or duration:<100ms) (header:cookie or size:>=100)", []int{0, 1}},
	}
	for _, tt := range tests {
		q, err := h.Parse(tt.q)
		if err != nil {
			t.Fatalf("%q: %v", tt.q, err)
		}
		var want []flow.ID
		for _, i := range tt.want {
			want = append(want, ids[i])
		}
		res := b.List(q, query.Page{})
		if got := sumIDs(res.Flows); !slices.Equal(got, want) || res.Total != len(want) {
			t.Errorf("%q: List = %v (total %d), want %v", tt.q, got, res.Total, want)
		}
		var got []flow.ID
		b.Each(q, func(f *flow.Flow) bool { got = append(got, f.ID); return true })
		if !slices.Equal(got, want) {
			t.Errorf("%q: Each = %v, want %v", tt.q, got, want)
		}
	}
}

// testMadeFilters: composed: and replay: select the requests Loupe sent for
// a person, all of them or those made from one flow, in both stores alike.
func testMadeFilters(t *testing.T, h Harness) {
	if h.Parse == nil {
		t.Skip("no parser")
	}
	b := h.Open(t, 0)
	orig := []flow.ID{record(b, "/a", "a"), record(b, "/b", "b")}
	made := func(fn func(flow.Handle)) flow.ID {
		hd := b.Begin("127.0.0.1:5000", req("/made"), t0)
		fn(hd)
		hd.Response(flow.Response{Status: 200, Proto: "HTTP/1.1"})
		hd.Finish(t0.Add(time.Millisecond), nil)
		return hd.ID()
	}
	ids := []flow.ID{
		orig[0], orig[1],
		made(func(hd flow.Handle) { hd.Composed(orig[0]) }),
		made(func(hd flow.Handle) { hd.Composed(0) }),
		made(func(hd flow.Handle) { hd.ReplayOf(orig[0]) }),
		made(func(hd flow.Handle) { hd.ReplayOf(orig[1]) }),
	}
	h.sync(t, b)
	n := func(id flow.ID) string { return strconv.FormatUint(uint64(id), 10) }
	tests := []struct {
		q    string
		want []int
	}{
		{"composed:", []int{2, 3}},
		{"composed:" + n(orig[0]), []int{2}},
		{"composed:#" + n(orig[1]), nil},
		{"replay:", []int{4, 5}},
		{"replay:" + n(orig[1]), []int{5}},
		{"-composed: -replay:", []int{0, 1}},
		{"composed: or replay:" + n(orig[0]), []int{2, 3, 4}},
	}
	for _, tt := range tests {
		q, err := h.Parse(tt.q)
		if err != nil {
			t.Fatalf("%q: %v", tt.q, err)
		}
		var want []flow.ID
		for _, i := range tt.want {
			want = append(want, ids[i])
		}
		res := b.List(q, query.Page{})
		if got := sumIDs(res.Flows); !slices.Equal(got, want) || res.Total != len(want) {
			t.Errorf("%q: List = %v (total %d), want %v", tt.q, got, res.Total, want)
		}
	}
}
