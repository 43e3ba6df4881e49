package disk

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
	"loupe/proxy/store/storetest"
	"loupe/web/filter"
)

func TestBackendContract(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Parse: func(q string) (*query.Query, error) { return filter.Parse(q) },
		Open: func(t *testing.T, maxFlows int) store.Backend {
			return openStore(t, Config{MaxFlows: maxFlows, InlineMax: 4})
		},
		Sync: func(t *testing.T, b store.Backend) { flush(t, b.(*Store)) },
	})
}

// sessionTotalsMatch checks that every session's totals equal its rows.
func sessionTotalsMatch(t *testing.T, s *Store) {
	t.Helper()
	rows, err := s.rdb.Query(`SELECT s.id, s.flows, s.bytes, count(f.id), coalesce(sum(f.stored), 0)
		FROM sessions s LEFT JOIN flows f ON f.session = s.id GROUP BY s.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, flows, bytes, n, sum int64
		if err := rows.Scan(&id, &flows, &bytes, &n, &sum); err != nil {
			t.Fatal(err)
		}
		if flows != n || bytes != sum {
			t.Errorf("session %d says %d flows, %d bytes; its rows %d, %d", id, flows, bytes, n, sum)
		}
	}
}

// A flow in progress when a new session starts finishes in the session it
// began in, and both sessions' totals stay true.
func TestFlowInProgressKeepsItsSession(t *testing.T) {
	s := openStore(t, Config{InlineMax: 10})
	first := flow.SessionID(s.Session())
	h := s.Begin("127.0.0.1:1", req("/slow"), t0)
	h.Body(flow.FacetRequest, []byte("early"))
	second, err := s.NewSession("second")
	if err != nil {
		t.Fatal(err)
	}
	h.Body(flow.FacetRequest, pattern(3, 100))
	h.Response(textResp)
	h.Finish(time.Now(), nil)
	newer := record(s, "/new", []byte("n"))
	flush(t, s)
	if f, _ := s.Get(h.ID()); f == nil || f.Session != first || f.RequestBody.Captured != 105 {
		t.Fatalf("flow in progress across the switch: %+v", f)
	}
	if f, _ := s.Get(newer); f == nil || f.Session != second.ID {
		t.Errorf("flow after the switch: %+v", f)
	}
	sessionTotalsMatch(t, s)
}

// Deleting a session stops the recording of its flows in progress.
func TestDeleteSessionStopsItsFlows(t *testing.T) {
	s := openStore(t, Config{})
	first := flow.SessionID(s.Session())
	h := s.Begin("127.0.0.1:1", req("/open"), t0)
	flush(t, s)
	if _, err := s.NewSession(""); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(first); err != nil {
		t.Fatal(err)
	}
	h.Response(textResp)
	h.Body(flow.FacetResponse, []byte("late"))
	h.Finish(time.Now(), nil)
	flush(t, s)
	if _, ok := s.Get(h.ID()); ok {
		t.Error("a flow of a deleted session came back")
	}
	sessionTotalsMatch(t, s)
	if c := s.Counters(); c.Flows != 0 {
		t.Errorf("%d flows counted", c.Flows)
	}
}

// An import that a stop cut short is dropped at the next Open, bodies and
// segments included, as a failed import is.
func TestUnfinishedImportIsDroppedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, InlineMax: 10, SegmentSize: 4096}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept := record(s, "/kept", pattern(1, 50))
	im, err := s.NewImport(store.ImportTarget{Name: "cut short"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range importChunkFlows + 10 {
		r := &flow.Recorded{Flow: flow.Flow{Request: req(fmt.Sprint("/imp/", i))},
			Bodies: map[flow.Facet][]byte{flow.FacetResponse: pattern(i, 1000)}}
		if err := im.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	// The first chunk is written; the process stops before Commit.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var written int
	db := rawDB(t, filepath.Join(dir, dbName))
	db.QueryRow("SELECT count(*) FROM flows").Scan(&written)
	db.Close()
	if written != importChunkFlows+1 {
		t.Fatalf("%d rows before reopening, want the chunk and the recorded flow", written)
	}

	s2 := openStore(t, Config{Dir: dir, InlineMax: 10, SegmentSize: 4096})
	sums, total := sessionList(s2, 0, 0, 0)
	if total != 1 || len(sums) != 1 || sums[0].ID != kept {
		t.Errorf("after reopening: %d flows listed (total %d)", len(sums), total)
	}
	if c := s2.Counters(); c.Flows != 1 {
		t.Errorf("%d flows counted after reopening", c.Flows)
	}
	ss, _ := s2.Sessions()
	for _, x := range ss {
		if x.Name == "cut short" {
			t.Errorf("the unfinished import is listed: %+v", x)
		}
	}
	var left int
	s2.rdb.QueryRow("SELECT count(*) FROM sessions WHERE importing != 0").Scan(&left)
	if left != 0 {
		t.Errorf("%d import sessions left", left)
	}
	if got := readBody(t, s2, kept, flow.FacetResponse); string(got) != string(pattern(1, 50)) {
		t.Error("the recorded flow's body changed")
	}
	ents, _ := os.ReadDir(filepath.Join(dir, segDirName))
	if len(ents) > 1 {
		t.Errorf("%d segment files left after the import was dropped", len(ents))
	}
	sessionTotalsMatch(t, s2)
}

// Clear leaves an import in progress alone: its session is committed whole.
func TestClearKeepsImportInProgress(t *testing.T) {
	s := openStore(t, Config{InlineMax: 10})
	record(s, "/recorded", pattern(1, 100))
	im, err := s.NewImport(store.ImportTarget{Name: "in progress"})
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int) {
		for i := range n {
			if err := im.Add(&flow.Recorded{Flow: flow.Flow{Request: req(fmt.Sprint("/imp/", i))},
				Bodies: map[flow.Facet][]byte{flow.FacetResponse: pattern(i, 100)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(importChunkFlows) // one chunk written
	flush(t, s)
	s.Clear()
	add(5)
	sess, ids, err := im.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if sess.Flows != importChunkFlows+5 || len(ids) != importChunkFlows+5 {
		t.Errorf("import after a Clear: %+v, %d ids", sess, len(ids))
	}
	if got := readBody(t, s, ids[3], flow.FacetResponse); string(got) != string(pattern(3, 100)) {
		t.Error("a body of the import was cleared")
	}
	if _, total := listOf(s, nil, 0, 0); total != importChunkFlows+5 {
		t.Errorf("%d flows after the Clear and the import", total)
	}
	sessionTotalsMatch(t, s)
}
