package disk

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"loupe/proxy/flow"
)

func TestRetentionByCount(t *testing.T) {
	s := openStore(t, Config{MaxFlows: 50})
	w := s.Watch()
	defer w.Close()
	var ids []flow.ID
	for i := range 120 {
		ids = append(ids, record(s, fmt.Sprint("/", i), []byte("x")))
	}
	flush(t, s)
	if c := s.Counters(); c.Flows != 50 || c.Evicted != 70 {
		t.Fatalf("flows %d evicted %d, want 50 and 70", c.Flows, c.Evicted)
	}
	for i, id := range ids {
		_, ok := s.Get(id)
		if want := i >= 70; ok != want {
			t.Errorf("flow %d (#%d) present %v, want %v", id, i, ok, want)
		}
	}
	ch := w.Take()
	for _, id := range ids[:70] {
		if !slices.Contains(ch.Removed, id) {
			t.Fatalf("eviction of %d not published", id)
		}
	}
	if st := s.Stats(); st.Flows != 50 || st.Evicted != 70 {
		t.Errorf("stats %+v", st)
	}
}

// Retention by bytes removes the oldest flows, and their segment files
// whole once nothing refers to them.
func TestRetentionByBytesRemovesSegments(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 200_000
	s := openStore(t, Config{Dir: dir, MaxBytes: maxBytes, InlineMax: 1024, SegmentSize: 32 << 10})
	var ids []flow.ID
	for i := range 100 {
		ids = append(ids, record(s, fmt.Sprint("/", i), pattern(i, 10_000)))
	}
	flush(t, s)
	c := s.Counters()
	if c.Bytes > maxBytes || c.Evicted == 0 {
		t.Fatalf("bytes %d (limit %d), evicted %d", c.Bytes, maxBytes, c.Evicted)
	}
	if _, ok := s.Get(ids[len(ids)-1]); !ok {
		t.Error("the newest flow was evicted")
	}
	if _, ok := s.Get(ids[0]); ok {
		t.Error("the oldest flow survived")
	}
	// Every segment file left is in use, and there are only as many as the
	// kept bytes need (plus the one being filled and one partly freed).
	ents, _ := os.ReadDir(s.segDir())
	if want := maxBytes/(32<<10) + 3; len(ents) > want {
		t.Errorf("%d segment files for %d bytes, want at most %d", len(ents), c.Bytes, want)
	}
	for _, e := range ents {
		id, _ := segID(e.Name())
		var used bool
		s.rdb.QueryRow("SELECT EXISTS (SELECT 1 FROM bodies WHERE segment = ?)", id).Scan(&used)
		if !used && id != s.w.segs.curID {
			t.Errorf("segment %s left with nothing referring to it", e.Name())
		}
	}
	if int64(len(ents)) != c.Segments {
		t.Errorf("%d files, counters say %d", len(ents), c.Segments)
	}
	// The stored bytes counted match the rows.
	var sum int64
	s.rdb.QueryRow("SELECT coalesce(sum(stored), 0) FROM flows").Scan(&sum)
	if sum != c.Bytes {
		t.Errorf("rows store %d bytes, counters say %d", sum, c.Bytes)
	}
}

func TestRetentionByAge(t *testing.T) {
	s := openStore(t, Config{MaxAge: time.Hour})
	old := s.Begin("127.0.0.1:1", req("/old"), time.Now().Add(-2*time.Hour))
	old.Finish(time.Now(), nil)
	newer := s.Begin("127.0.0.1:1", req("/new"), time.Now())
	newer.Finish(time.Now(), nil)
	flush(t, s)
	if _, ok := s.Get(old.ID()); ok {
		t.Error("a flow older than MaxAge survived")
	}
	if _, ok := s.Get(newer.ID()); !ok {
		t.Error("a new flow was evicted")
	}
	if c := s.Counters(); c.Evicted == 0 {
		t.Errorf("evicted %d", c.Evicted)
	}
}

// Retention never evicts a pinned session, and Clear keeps it too.
func TestPinnedSessionIsKept(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pinned []flow.ID
	for i := range 30 {
		pinned = append(pinned, record(s, fmt.Sprint("/pinned/", i), pattern(i, 100)))
	}
	flush(t, s)
	if err := s.SetPinned(s.Session(), true); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := openStore(t, Config{Dir: dir, MaxFlows: 40})
	var fresh []flow.ID
	for i := range 20 {
		fresh = append(fresh, record(s2, fmt.Sprint("/new/", i), nil))
	}
	flush(t, s2)
	for _, id := range pinned {
		if _, ok := s2.Get(id); !ok {
			t.Fatalf("pinned flow %d evicted", id)
		}
	}
	if c := s2.Counters(); c.Flows != 40 || c.Evicted != 10 {
		t.Errorf("flows %d evicted %d, want 40 and 10 (from the unpinned session only)", c.Flows, c.Evicted)
	}
	if _, ok := s2.Get(fresh[9]); ok {
		t.Error("an unpinned flow that should have been evicted is there")
	}
	sess, _ := s2.Sessions()
	if len(sess) != 2 || !sess[0].Pinned || sess[0].Flows != 30 || sess[1].Flows != 10 {
		t.Errorf("sessions %+v", sess)
	}
	s2.Clear()
	if c := s2.Counters(); c.Flows != 30 {
		t.Errorf("after Clear %d flows, want the 30 pinned", c.Flows)
	}
	if err := s2.SetPinned(999, true); err == nil {
		t.Error("pinning a session that does not exist")
	}
}
