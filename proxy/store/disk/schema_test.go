package disk

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// schemaV1 is version 1 of the schema exactly as released, frozen here so
// that the migration test builds a real version 1 database whatever the
// code's list of steps says later.
const schemaV1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT, WITHOUT ROWID;
CREATE TABLE sessions (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created INTEGER NOT NULL,
	pinned INTEGER NOT NULL DEFAULT 0, flows INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE TABLE flows (id INTEGER PRIMARY KEY, session INTEGER NOT NULL, state TEXT NOT NULL,
	start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, duration REAL NOT NULL, method TEXT NOT NULL,
	url TEXT NOT NULL, scheme TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL, path TEXT NOT NULL,
	status INTEGER NOT NULL, content_type TEXT NOT NULL, req_size INTEGER NOT NULL, resp_size INTEGER NOT NULL,
	error TEXT NOT NULL, overridden TEXT NOT NULL, websocket INTEGER NOT NULL, replay_of INTEGER NOT NULL,
	imported INTEGER NOT NULL, rules TEXT, shared INTEGER NOT NULL, stored INTEGER NOT NULL, head BLOB NOT NULL) STRICT;
CREATE INDEX flows_pending ON flows(id) WHERE state = 'pending';
CREATE TABLE bodies (flow INTEGER NOT NULL, facet INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB,
	segment INTEGER, off INTEGER NOT NULL, len INTEGER NOT NULL, PRIMARY KEY (flow, facet, seq)) STRICT;
CREATE INDEX bodies_segment ON bodies(segment) WHERE segment IS NOT NULL;
CREATE TABLE ws_messages (flow INTEGER NOT NULL, seq INTEGER NOT NULL, direction TEXT NOT NULL,
	time_ns INTEGER NOT NULL, opcode INTEGER NOT NULL, size INTEGER NOT NULL, truncated INTEGER NOT NULL,
	data BLOB, segment INTEGER, off INTEGER NOT NULL, len INTEGER NOT NULL, PRIMARY KEY (flow, seq)) STRICT;
CREATE INDEX ws_segment ON ws_messages(segment) WHERE segment IS NOT NULL;
CREATE TABLE rule_hits (flow INTEGER NOT NULL, seq INTEGER NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL,
	PRIMARY KEY (flow, seq)) STRICT;
PRAGMA application_id = 1282372976;
PRAGMA user_version = 1;
`

// rawDB opens path with the driver alone, for building test databases.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%.60s: %v", q, err)
	}
}

func TestMigrateFromVersion1(t *testing.T) {
	dir := t.TempDir()
	db := rawDB(t, filepath.Join(dir, dbName))
	mustExec(t, db, schemaV1)
	mustExec(t, db, "INSERT INTO sessions (id, name, created, flows, bytes) VALUES (1, 'old', 0, 2, 100)")
	done := &flow.Flow{ID: 41, State: flow.StateDone, Request: req("/old"), Response: &flow.Response{Status: 200},
		ResponseBody: flow.Body{Size: 3, Captured: 3, Complete: true}}
	pending := &flow.Flow{ID: 42, State: flow.StatePending, Request: req("/older")}
	for _, f := range []*flow.Flow{done, pending} {
		head, shared, err := encodeHead(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := f.Summary()
		mustExec(t, db, `INSERT INTO flows VALUES (?, 1, ?, ?, 0, -1, ?, ?, ?, ?, 0, ?, ?, '', 0, ?, '', '', 0, 0, 0,
			NULL, ?, 50, ?)`, int64(f.ID), string(f.State), t0.UnixNano(), sum.Method, sum.URL, sum.Scheme,
			sum.Host, sum.Path, sum.Status, f.ResponseBody.Size, shared, head)
	}
	mustExec(t, db, "INSERT INTO bodies VALUES (41, 1, 0, X'616263', NULL, 0, 3)")
	db.Close()

	s := openStore(t, Config{Dir: dir})
	var version int
	s.rdb.QueryRow("PRAGMA user_version").Scan(&version)
	if version != schemaVersion() {
		t.Errorf("version %d after migration, want %d", version, schemaVersion())
	}
	for _, index := range []string{"flows_method", "flows_status", "flows_q_host", "flows_q_host_rev", "flows_q_port", "flows_start", "rule_hits_rule", "flows_unindexed", "flows_session", "flows_text_waiting"} {
		var n int
		s.rdb.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?", index).Scan(&n)
		if n != 1 {
			t.Errorf("index %s missing after migration", index)
		}
	}
	var plan string
	var id, parent, notused int
	s.rdb.QueryRow("EXPLAIN QUERY PLAN SELECT id FROM flows WHERE status = 200").Scan(&id, &parent, &notused, &plan)
	if !strings.Contains(plan, "flows_status") {
		t.Errorf("status filter does not use its index: %s", plan)
	}
	f, ok := s.Get(41)
	if !ok || f.State != flow.StateDone || f.Request.URL != done.Request.URL {
		t.Fatalf("version 1 flow after migration: %+v", f)
	}
	if got := readBody(t, s, 41, flow.FacetResponse); string(got) != "abc" {
		t.Errorf("version 1 body %q", got)
	}
	if f, _ := s.Get(42); f == nil || f.State != flow.StateError || f.Error != interruptedError {
		t.Errorf("pending version 1 flow: %+v", f)
	}
	// Version 3: the session of version 1 lists its flows on its own.
	if ss, err := s.Sessions(); err != nil || len(ss) != 2 || ss[0].ID != 1 || ss[0].Name != "old" || ss[0].Recording {
		t.Errorf("sessions after migration: %+v, %v", ss, err)
	}
	if sums, total := sessionList(s, 1, 0, 0); total != 2 || len(sums) != 2 || sums[0].ID != 41 || sums[0].Session != 1 {
		t.Errorf("version 1 session lists %+v (total %d)", sums, total)
	}
	s.rdb.QueryRow("EXPLAIN QUERY PLAN SELECT id FROM flows WHERE session = 1 AND id < 99 ORDER BY id DESC").Scan(&id, &parent, &notused, &plan)
	if !strings.Contains(plan, "flows_session") {
		t.Errorf("a session's page does not use its index: %s", plan)
	}
	if id := record(s, "/new", nil); id != 43 {
		t.Errorf("first new id %d, want 43", id)
	}
}

// digest reads a file whole, to show that a refused capture is untouched.
func digest(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRefusedCapturesAreUntouched(t *testing.T) {
	random := make([]byte, 8192)
	rand.Read(random)
	damaged := append([]byte(sqliteMagic), make([]byte, 8192)...) // the header says SQLite; nothing else fits
	tests := []struct {
		name  string
		build func(t *testing.T, path string)
		want  error
		says  string
	}{
		{"newer schema", func(t *testing.T, path string) {
			db := rawDB(t, path)
			mustExec(t, db, schemaV1)
			mustExec(t, db, "PRAGMA user_version = 99")
			db.Close()
		}, ErrTooNew, "newer Loupe"},
		{"another program's database", func(t *testing.T, path string) {
			db := rawDB(t, path)
			mustExec(t, db, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine')")
			db.Close()
		}, ErrNotCapture, "another program's database"},
		{"another application id", func(t *testing.T, path string) {
			db := rawDB(t, path)
			mustExec(t, db, "PRAGMA application_id = 42; CREATE TABLE t (x)")
			db.Close()
		}, ErrNotCapture, "application id 0x2a"},
		{"not a database", func(t *testing.T, path string) {
			os.WriteFile(path, random, 0o600)
		}, ErrNotCapture, "not an SQLite database"},
		{"damaged database", func(t *testing.T, path string) {
			os.WriteFile(path, damaged, 0o600)
		}, ErrNotCapture, "Loupe left it untouched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, dbName)
			tt.build(t, path)
			before := digest(t, path)
			_, err := Open(Config{Dir: dir}, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			for _, s := range []string{path, tt.says} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if after := digest(t, path); !bytes.Equal(before, after) {
				t.Error("the refused file changed")
			}
			if _, err := os.Stat(path + "-wal"); err == nil {
				t.Error("a write-ahead log was started on the refused file")
			}
			// The lock was released: the directory can be opened once
			// the file is moved away.
			os.Rename(path, path+".bad")
			s, err := Open(Config{Dir: dir}, nil)
			if err != nil {
				t.Fatalf("Open after moving the file away: %v", err)
			}
			s.Close()
		})
	}
}

func TestEmptyFileIsANewCapture(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, dbName), nil, 0o600)
	s := openStore(t, Config{Dir: dir})
	record(s, "/x", nil)
	flush(t, s)
	if s.Stats().Flows != 1 {
		t.Error("nothing recorded")
	}
}

// A migration that fails part-way changes nothing: the steps run in one
// transaction with the version.
func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	steps := migrations()
	bad := append(steps[:1:1], migration{Version: 2, Name: "broken", SQL: "CREATE INDEX x ON flows(id); CREATE TABLE flows (x)"})

	path := filepath.Join(t.TempDir(), dbName)
	db := rawDB(t, path)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := migrate(ctx, conn, path, bad); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("broken migration of a new database: %v", err)
	}
	var version, objects int
	conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version)
	conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects)
	if version != 0 || objects != 0 {
		t.Errorf("after a failed migration: version %d, %d schema objects; want none", version, objects)
	}

	if err := migrate(ctx, conn, path, steps[:1]); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, conn, path, bad); err == nil {
		t.Fatal("broken step 2 succeeded")
	}
	var index int
	conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version)
	conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'x'").Scan(&index)
	if version != 1 || index != 0 {
		t.Errorf("after a failed step 2: version %d, index x %d; want 1, 0", version, index)
	}
	if err := migrate(ctx, conn, path, steps); err != nil {
		t.Errorf("the real step 2 after a failed one: %v", err)
	}
}

// The steps are numbered 1, 2, 3, ... in order: a gap or a repeat would
// skip or re-run one.
func TestMigrationsAreOrdered(t *testing.T) {
	for i, m := range migrations() {
		if m.Version != i+1 || m.Name == "" || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("step %d: %+v", i, m)
		}
	}
}

// schemaV2 is what version 2 added to version 1, frozen as released.
const schemaV2 = `
CREATE INDEX flows_method ON flows(method);
CREATE INDEX flows_status ON flows(status);
CREATE INDEX flows_host ON flows(host);
CREATE INDEX flows_port ON flows(port);
CREATE INDEX flows_start ON flows(start_ns);
CREATE INDEX rule_hits_rule ON rule_hits(rule);
PRAGMA user_version = 2;
`

// TestMigrateFromVersion2 builds a version 2 capture by hand and opens it:
// step 3 computes the query columns of the old flows from their heads, so
// every filter finds them, and their text is indexed afterwards; step 4
// the rest of their list rows.
func TestMigrateFromVersion2(t *testing.T) {
	dir := t.TempDir()
	db := rawDB(t, filepath.Join(dir, dbName))
	mustExec(t, db, schemaV1)
	mustExec(t, db, schemaV2)
	mustExec(t, db, "INSERT INTO sessions (id, name, created, flows, bytes) VALUES (1, 'old', 0, 3, 100)")
	grpcCall := &flow.Flow{ID: 1, State: flow.StateDone, Request: flow.Request{Method: "POST",
		URL: "https://API.Example.com:8443/pkg.Svc/Get", Header: flow.Fields{{Name: "Content-Type", Value: "application/grpc"}}},
		Response: &flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Type", Value: "application/grpc"}},
			Trailers: flow.Fields{{Name: "Grpc-Status", Value: "5"}, {Name: "Grpc-Message", Value: "no such key"}}}}
	tunnel := &flow.Flow{ID: 2, State: flow.StateDone, Kind: flow.KindTunnel, Tunnel: &flow.Tunnel{Target: "t.example:443"},
		Request: flow.Request{Method: "CONNECT", URL: "https://t.example:443"}}
	page := &flow.Flow{ID: 3, State: flow.StateDone, Request: req("/find/me"), Response: &textResp,
		ResponseBody: flow.Body{Size: 12, Captured: 12, Complete: true}}
	composed := &flow.Flow{ID: 4, State: flow.StateDone, Request: req("/composed"), Composed: true, ComposedFrom: 3,
		Breakpoint: &flow.Breakpoint{Rule: "b", Skipped: "no dashboard connected"}}
	for _, f := range []*flow.Flow{grpcCall, tunnel, page, composed} {
		head, shared, err := encodeHead(f)
		if err != nil {
			t.Fatal(err)
		}
		sum := f.Summary()
		mustExec(t, db, `INSERT INTO flows VALUES (?, 1, ?, ?, 0, -1, ?, ?, ?, ?, 0, ?, ?, '', 0, ?, '', '', 0, 0, 0,
			NULL, ?, 50, ?)`, int64(f.ID), string(f.State), t0.UnixNano(), sum.Method, sum.URL, sum.Scheme,
			sum.Host, sum.Path, sum.Status, f.ResponseBody.Size, shared, head)
	}
	mustExec(t, db, "INSERT INTO bodies VALUES (3, 1, 0, CAST('hidden words' AS BLOB), NULL, 0, 12)")
	db.Close()

	s := openStore(t, Config{Dir: dir})
	var version int
	s.rdb.QueryRow("PRAGMA user_version").Scan(&version)
	if version != schemaVersion() {
		t.Fatalf("version %d after migration, want %d", version, schemaVersion())
	}
	tests := []struct {
		q    string
		want []flow.ID
	}{
		{"host:*.example.com", []flow.ID{1}},
		{"port:8443", []flow.ID{1}},
		{"grpc:NOT_FOUND", []flow.ID{1}},
		{"error:key", []flow.ID{1}},
		{"kind:tunnel", []flow.ID{2}},
		{"find/me", []flow.ID{3}},
		{"body:hidden", []flow.ID{3}},
	}
	check := func() {
		t.Helper()
		for _, tt := range tests {
			q, err := filter.Parse(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := pageIDs(s.List(q, query.Page{})); !slices.Equal(got, tt.want) {
				t.Errorf("%q after migration: %v, want %v", tt.q, got, tt.want)
			}
		}
	}
	check()
	if sum, _ := s.Summary(2); sum.Kind != flow.KindTunnel || sum.Target != "t.example:443" {
		t.Errorf("tunnel summary after migration: %+v", sum)
	}
	if sum, _ := s.Summary(1); sum.GRPCStatus == nil || *sum.GRPCStatus != 5 {
		t.Errorf("gRPC summary after migration: %+v", sum)
	}
	// Version 4 fills the rest of the row from the heads too.
	if sum, _ := s.Summary(4); !sum.Composed || sum.ComposedFrom != 3 || sum.Breakpoint != "skipped" || sum.Session != 1 {
		t.Errorf("composed summary after migration: %+v", sum)
	}
	waitIndexed(t, s)
	var state int
	s.rdb.QueryRow("SELECT text_state FROM flows WHERE id = 3").Scan(&state)
	if state != textFull {
		t.Errorf("old flow's text state %d after indexing, want %d", state, textFull)
	}
	check()
}

// TestMigrateTextWaitingIndex builds a capture of the version before
// flows_text_waiting (the same tables, without that index) and opens it:
// the step adds the index, the writer's look-up of the flows waiting for
// the text index uses it, and a flow left waiting is indexed.
func TestMigrateTextWaitingIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := open(Config{Dir: dir, TextMax: 50}, nil, options{})
	if err != nil {
		t.Fatal(err)
	}
	waiting := record(s, "/waiting", []byte("a body with a needle in it"))
	partial := record(s, "/partial", bytes.Repeat([]byte("long body "), 20))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var step int
	for _, m := range migrations() {
		if strings.Contains(m.SQL, "flows_text_waiting") {
			step = m.Version
		}
	}
	db := rawDB(t, filepath.Join(dir, dbName))
	mustExec(t, db, "DROP INDEX flows_text_waiting")
	mustExec(t, db, fmt.Sprintf("PRAGMA user_version = %d", step-1))
	// A flow the text index does not hold yet, as an import leaves it.
	mustExec(t, db, "DELETE FROM flow_text WHERE rowid = ?", int64(waiting))
	mustExec(t, db, "UPDATE flows SET text_state = 0 WHERE id = ?", int64(waiting))
	db.Close()

	s = openStore(t, Config{Dir: dir, TextMax: 50})
	var version int
	s.rdb.QueryRow("PRAGMA user_version").Scan(&version)
	if version != schemaVersion() {
		t.Errorf("version %d after migration, want %d", version, schemaVersion())
	}
	plan := explain(t, s, textWaitingQuery, 256)
	if !strings.Contains(plan, "flows_text_waiting") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("the look-up of flows waiting for the text index does not use its index:\n%s", plan)
	}
	waitIndexed(t, s)
	states := map[flow.ID]int{}
	for _, id := range []flow.ID{waiting, partial} {
		var st int
		s.rdb.QueryRow("SELECT text_state FROM flows WHERE id = ?", int64(id)).Scan(&st)
		states[id] = st
	}
	if states[waiting] != textFull || states[partial] != textPartial {
		t.Errorf("text states after migration: %v, want %d: %d, %d: %d", states, waiting, textFull, partial, textPartial)
	}
	q, err := filter.Parse("body:needle")
	if err != nil {
		t.Fatal(err)
	}
	if got := pageIDs(s.List(q, query.Page{})); !slices.Equal(got, []flow.ID{waiting}) {
		t.Errorf("body:needle after migration: %v, want [%d]", got, waiting)
	}
}
