package disk

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

func ptr[T any](v T) *T { return &v }

// An annotation is in the capture: it survives a restart, on a finished
// flow and on one that was in progress when it was annotated, and the
// filter keys find it afterwards.
func TestAnnotationSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Config{Dir: dir})
	done := record(s, "/done", []byte("x"))
	h := s.Begin("127.0.0.1:1", req("/open"), t0)
	flush(t, s)
	note := flow.Annotation{Marked: true, Color: flow.ColorOrange, Comment: "Retry storm starts here"}
	if _, err := s.Annotate(done, flow.AnnotationPatch{Marked: &note.Marked, Color: &note.Color, Comment: &note.Comment}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Annotate(h.ID(), flow.AnnotationPatch{Color: ptr(flow.ColorGreen)}); err != nil {
		t.Fatal(err)
	}
	h.Response(textResp)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, Config{Dir: dir})
	if f, _ := s2.Get(done); f == nil || f.Annotation.Value() != note {
		t.Errorf("finished flow after restart: %+v", f)
	}
	if sum, _ := s2.Summary(h.ID()); sum.Annotation != (flow.Annotation{Color: flow.ColorGreen}) || sum.Status != 200 {
		t.Errorf("flow in progress after restart: %+v", sum)
	}
	for q, want := range map[string][]flow.ID{
		"marked:":                     {done},
		"-marked:":                    {h.ID()},
		"color:orange":                {done},
		"color:":                      {done, h.ID()},
		`comment:"retry storm"`:       {done},
		"-comment:":                   {h.ID()},
		"marked: color:green":         nil,
		"comment:storm path:/done":    {done},
		"color:green -comment:storm ": {h.ID()},
	} {
		f, err := filter.Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageIDs(s2.List(f, query.Page{})); !slices.Equal(got, want) {
			t.Errorf("%q after restart: %v, want %v", q, got, want)
		}
	}
}

// The annotation keys are answered from their partial indexes, not by
// scanning the flows table.
func TestAnnotationQueryPlans(t *testing.T) {
	s := openStore(t, Config{})
	for q, want := range map[string]string{
		"marked:":      "flows_marked",
		"color:red":    "flows_color",
		"color:":       "flows_color",
		"comment:todo": "flows_commented",
	} {
		f, err := filter.Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		c := compile(f)
		plan := explain(t, s, "SELECT id FROM flows"+c.cond("id < ?")+" ORDER BY id DESC LIMIT ?", append(slices.Clone(c.args), 1<<62, 100)...)
		if !strings.Contains(plan, want) {
			t.Errorf("%q: plan does not use %s:\n%s", q, want, plan)
		}
	}
}

// TestMigrateFromVersion4 builds a version 4 capture (with the released
// steps, which never change) holding a flow, and opens it: step 5 adds the
// annotation columns, empty, and the flow can be annotated and found.
func TestMigrateFromVersion4(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, dbName)
	db := rawDB(t, path)
	ctx := context.Background()
	if err := migrate(ctx, db, path, migrations()[:4]); err != nil {
		t.Fatal(err)
	}
	f := &flow.Flow{ID: 7, State: flow.StateDone, Start: t0, End: t0.Add(time.Millisecond), Request: req("/old"), Response: &textResp}
	head, shared, err := encodeHead(f)
	if err != nil {
		t.Fatal(err)
	}
	sum := f.Summary()
	d := derive(f)
	mustExec(t, db, "INSERT INTO sessions (id, name, created) VALUES (1, 'old', ?)", t0.UnixNano())
	mustExec(t, db, `INSERT INTO flows (id, session, state, start_ns, end_ns, duration, method, url, scheme, host, port,
		path, status, content_type, req_size, resp_size, error, overridden, websocket, replay_of, imported, rules,
		shared, stored, head, `+derivedCols+`, composed, composed_from, breakpoint)
		VALUES (7, 1, 'done', ?, ?, 1, 'GET', ?, ?, ?, 0, ?, 200, '', 0, 0, '', '', 0, 0, 0, NULL, ?, ?, ?,
			?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '')`,
		append([]any{t0.UnixNano(), f.End.UnixNano(), sum.URL, sum.Scheme, sum.Host, sum.Path, shared, len(head), head}, d.args()...)...)
	mustExec(t, db, "UPDATE sessions SET flows = 1, bytes = ?", len(head))
	var version int
	db.QueryRow("PRAGMA user_version").Scan(&version)
	db.Close()
	if version != 4 {
		t.Fatalf("built version %d, want 4", version)
	}

	s := openStore(t, Config{Dir: dir})
	s.rdb.QueryRow("PRAGMA user_version").Scan(&version)
	if version != schemaVersion() || version < 5 {
		t.Fatalf("version %d after migration, want %d", version, schemaVersion())
	}
	if got, ok := s.Get(7); !ok || got.Annotation != nil || got.Request.URL != f.Request.URL {
		t.Fatalf("old flow after migration: %+v", got)
	}
	if _, err := s.Annotate(7, flow.AnnotationPatch{Marked: ptr(true), Comment: ptr("from v4")}); err != nil {
		t.Fatal(err)
	}
	q, _ := filter.Parse("marked: comment:v4")
	if got := pageIDs(s.List(q, query.Page{})); !slices.Equal(got, []flow.ID{7}) {
		t.Errorf("annotated old flow not found: %v", got)
	}
	sessionTotalsMatch(t, s)
}
