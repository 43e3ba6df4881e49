package disk

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// appID marks a database as a Loupe capture (SQLite's application_id, "Loup").
const appID = 0x4C6F7570

// Errors that Open wraps, with the file's path and what to do, for a
// capture it will not touch.
var (
	// ErrNotCapture: the file is not a Loupe capture (another program's
	// database, not a database at all, or damaged).
	ErrNotCapture = errors.New("not a readable Loupe capture")
	// ErrTooNew: the capture was written by a newer Loupe whose schema this
	// binary does not know.
	ErrTooNew = errors.New("written by a newer Loupe")
	// ErrLocked: another Loupe process has the capture directory open.
	ErrLocked = errors.New("in use by another Loupe process")
)

// migration is one step of the schema: the statements that take a database
// from Version-1 to Version. Steps are applied in order, each batch of steps
// in one transaction, and are never edited once released: a change is a new
// step.
type migration struct {
	Version int
	Name    string
	SQL     string
	// Go, when set, runs after SQL in the same transaction: for a step
	// whose new columns are computed by Go code (from the flow heads).
	Go func(ctx context.Context, conn querier) error
}

// migrations returns the schema's steps, oldest first.
func migrations() []migration {
	return []migration{
		{1, "tables", `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE sessions (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL,
	created INTEGER NOT NULL,
	pinned  INTEGER NOT NULL DEFAULT 0,
	flows   INTEGER NOT NULL DEFAULT 0,
	bytes   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE flows (
	id           INTEGER PRIMARY KEY,
	session      INTEGER NOT NULL,
	state        TEXT NOT NULL,
	start_ns     INTEGER NOT NULL,
	end_ns       INTEGER NOT NULL,
	duration     REAL NOT NULL,
	method       TEXT NOT NULL,
	url          TEXT NOT NULL,
	scheme       TEXT NOT NULL,
	host         TEXT NOT NULL,
	port         INTEGER NOT NULL,
	path         TEXT NOT NULL,
	status       INTEGER NOT NULL,
	content_type TEXT NOT NULL,
	req_size     INTEGER NOT NULL,
	resp_size    INTEGER NOT NULL,
	error        TEXT NOT NULL,
	overridden   TEXT NOT NULL,
	websocket    INTEGER NOT NULL,
	replay_of    INTEGER NOT NULL,
	imported     INTEGER NOT NULL,
	rules        TEXT,
	shared       INTEGER NOT NULL,
	stored       INTEGER NOT NULL,
	head         BLOB NOT NULL
) STRICT;
CREATE INDEX flows_pending ON flows(id) WHERE state = 'pending';

CREATE TABLE bodies (
	flow    INTEGER NOT NULL,
	facet   INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	data    BLOB,
	segment INTEGER,
	off     INTEGER NOT NULL,
	len     INTEGER NOT NULL,
	PRIMARY KEY (flow, facet, seq)
) STRICT;
CREATE INDEX bodies_segment ON bodies(segment) WHERE segment IS NOT NULL;

CREATE TABLE ws_messages (
	flow      INTEGER NOT NULL,
	seq       INTEGER NOT NULL,
	direction TEXT NOT NULL,
	time_ns   INTEGER NOT NULL,
	opcode    INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	truncated INTEGER NOT NULL,
	data      BLOB,
	segment   INTEGER,
	off       INTEGER NOT NULL,
	len       INTEGER NOT NULL,
	PRIMARY KEY (flow, seq)
) STRICT;
CREATE INDEX ws_segment ON ws_messages(segment) WHERE segment IS NOT NULL;

CREATE TABLE rule_hits (
	flow INTEGER NOT NULL,
	seq  INTEGER NOT NULL,
	rule TEXT NOT NULL,
	kind TEXT NOT NULL,
	PRIMARY KEY (flow, seq)
) STRICT;
`, nil},
		// The columns the filter language will push down to, indexed over
		// whatever version 1 recorded.
		{2, "filter indexes", `
CREATE INDEX flows_method ON flows(method);
CREATE INDEX flows_status ON flows(status);
CREATE INDEX flows_host ON flows(host);
CREATE INDEX flows_port ON flows(port);
CREATE INDEX flows_start ON flows(start_ns);
CREATE INDEX rule_hits_rule ON rule_hits(rule);
`, nil},
		// The columns the query compiler compares, each computed in Go by
		// the same function that evaluates the term (see derive), their
		// indexes, and the full-text indexes of URLs (flow_url) and of
		// headers and body text (flow_text; see text.go). Flows written by
		// version 2 get their columns and URLs from their heads; their text
		// is indexed later by the writer (text_state 0).
		{3, "query columns and full-text index", `
ALTER TABLE flows ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN grpc_status INTEGER NOT NULL DEFAULT -1;
ALTER TABLE flows ADD COLUMN grpc_message TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN is_grpc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN q_host TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN q_host_rev TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN q_port INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN q_path TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN q_pathq TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN q_grpc_error TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN text_state INTEGER NOT NULL DEFAULT 0;
DROP INDEX flows_method;
DROP INDEX flows_host;
DROP INDEX flows_port;
CREATE INDEX flows_method ON flows(method COLLATE NOCASE);
CREATE INDEX flows_q_host ON flows(q_host);
CREATE INDEX flows_q_host_rev ON flows(q_host_rev);
CREATE INDEX flows_status_host_rev ON flows(status, q_host_rev);
CREATE INDEX flows_q_port ON flows(q_port);
CREATE INDEX flows_kind ON flows(kind) WHERE kind != '';
CREATE INDEX flows_grpc ON flows(grpc_status) WHERE is_grpc;
CREATE INDEX flows_error ON flows(id) WHERE state = 'error' OR error != '' OR grpc_status > 0;
CREATE INDEX flows_unindexed ON flows(id) WHERE text_state != 1;
CREATE INDEX rule_hits_flow_rule ON rule_hits(rule, flow);
CREATE VIRTUAL TABLE flow_url USING fts5(url, content='', contentless_delete=1,
	tokenize='trigram case_sensitive 1');
CREATE VIRTUAL TABLE flow_text USING fts5(headers, body, content='', contentless_delete=1,
	tokenize='trigram case_sensitive 1');
INSERT INTO flow_text (flow_text, rank) VALUES ('automerge', 16);
INSERT INTO flow_url (flow_url, rank) VALUES ('automerge', 16);
`, backfillQueryColumns},
		// Sessions as a user sees them: a session's flows are listed and
		// paged on their own, and an import fills a session that stays
		// hidden (and is dropped after a crash) until it is complete. And
		// the rest of a list row, so that a summary read from the columns
		// equals the flow's: composition and what a breakpoint did (flows
		// written by version 3 get them from their heads).
		{4, "sessions and the rest of the summary", `
ALTER TABLE sessions ADD COLUMN importing INTEGER NOT NULL DEFAULT 0;
CREATE INDEX flows_session ON flows(session, id);
ALTER TABLE flows ADD COLUMN composed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN composed_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN breakpoint TEXT NOT NULL DEFAULT '';
`, backfillSummaryColumns},
		// The header fields that header: terms search, one column the
		// writer fills with query.HeaderText (flows written by version 4
		// get it from their heads).
		{5, "header fields", `
ALTER TABLE flows ADD COLUMN q_headers TEXT NOT NULL DEFAULT '';
`, backfillHeaders},
		// What a person adds to a flow: a mark, a colour, a comment. The
		// columns alone hold it (not the head); the partial indexes answer
		// marked:, color: and comment: over the few flows that have one
		// (compile repeats each index's condition, so SQLite can use it;
		// annotated flows are few: a person made each one).
		{6, "annotations", `
ALTER TABLE flows ADD COLUMN marked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN color TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN comment TEXT NOT NULL DEFAULT '';
CREATE INDEX flows_marked ON flows(id) WHERE marked != 0;
CREATE INDEX flows_color ON flows(id) WHERE color != '';
CREATE INDEX flows_commented ON flows(id) WHERE comment != '';
`, nil},
		// The flows the idle writer still has to put into the text index
		// (see indexText), on their own: flows_unindexed also holds every
		// flow indexed only in part (bodies longer than TextMax), which the
		// writer's look-up walked through after every batch.
		{7, "flows waiting for the text index", `
CREATE INDEX flows_text_waiting ON flows(id) WHERE text_state = 0 AND state != 'pending';
`, nil},
		// A flow's head may end with where a host mapping sent it
		// (hasMappedTo), which a binary of version 7 cannot read: the
		// version says so, and nothing else changes.
		{8, "host mappings in flow heads", `SELECT 1;`, nil},
	}
}

// schemaVersion is the newest version this binary writes.
func schemaVersion() int {
	ms := migrations()
	return ms[len(ms)-1].Version
}

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// checkHeader reads the database file's header without SQLite (so that
// nothing can be written to it) and refuses a file that is not a Loupe
// capture or is newer than this binary. A missing or empty file is fine
// (a new capture).
func checkHeader(path string, latest int) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open capture %s: %w", path, err)
	}
	defer f.Close()
	hdr := make([]byte, 100)
	n, err := io.ReadFull(f, hdr)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil
	}
	if n < len(hdr) || string(hdr[:16]) != sqliteMagic {
		return refuse(path, ErrNotCapture, "not an SQLite database")
	}
	// The header fields SQLite keeps for PRAGMA user_version and
	// application_id (https://www.sqlite.org/fileformat.html).
	version := int(binary.BigEndian.Uint32(hdr[60:64]))
	id := binary.BigEndian.Uint32(hdr[68:72])
	if id != 0 && id != appID {
		return refuse(path, ErrNotCapture, fmt.Sprintf("another program's database (application id %#x)", id))
	}
	if id == appID && version > latest {
		return refuse(path, ErrTooNew, fmt.Sprintf("schema version %d; this Loupe reads up to %d", version, latest))
	}
	return nil
}

// refuse is the error for a capture Loupe will not open; it says that the
// file is untouched and what to do.
func refuse(path string, kind error, detail string) error {
	what := "move it away or choose another capture directory"
	if errors.Is(kind, ErrTooNew) {
		what = "open it with a newer Loupe, or choose another capture directory"
	}
	return fmt.Errorf("capture %s: %w (%s); Loupe left it untouched: %s", path, kind, detail, what)
}

// withAdvice adds what to do to an error of Open that is not a refusal: a
// full disk, or a directory Loupe may not write. Either way Open changed
// nothing it had not created itself (a failed transaction rolls back).
func withAdvice(err error) error {
	if err == nil || errors.Is(err, ErrNotCapture) || errors.Is(err, ErrTooNew) || errors.Is(err, ErrLocked) {
		return err
	}
	if advice := diskProblem(err); advice != "" {
		return fmt.Errorf("%w: %s; Loupe left the capture as it was", err, advice)
	}
	return err
}

// diskProblem says what to do about an error that comes from the disk
// rather than from the capture's contents ("" for any other error).
func diskProblem(err error) string {
	code := 0
	var se *sqlite.Error
	if errors.As(err, &se) {
		code = se.Code() & 0xff // the primary result code
	}
	switch {
	case code == sqlite3.SQLITE_FULL, errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EFBIG), errors.Is(err, syscall.EDQUOT):
		return "the disk is full: free some space or choose another capture directory"
	case code == sqlite3.SQLITE_READONLY, code == sqlite3.SQLITE_PERM, code == sqlite3.SQLITE_CANTOPEN,
		errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "Loupe cannot write there: make the directory writable or choose another capture directory"
	case code == sqlite3.SQLITE_IOERR:
		return "the disk failed a write (full?): free some space or choose another capture directory"
	}
	return ""
}

// unreadable is the error of a capture SQLite could not read: a refusal,
// unless the disk is to blame (then the capture may be fine).
func unreadable(path string, err error) error {
	if diskProblem(err) != "" {
		return fmt.Errorf("capture %s: %w", path, err)
	}
	return refuse(path, ErrNotCapture, err.Error())
}

// querier is what migrate needs of a connection.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inspect reads what kind of database conn holds, without writing: its
// application id, schema version and whether it has any tables.
func inspect(ctx context.Context, conn querier, path string, latest int) (version int, fresh bool, err error) {
	var id uint32
	var tables int
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&id); err != nil {
		return 0, false, unreadable(path, err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, false, unreadable(path, err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return 0, false, unreadable(path, err)
	}
	switch {
	case id == 0 && version == 0 && tables == 0:
		return 0, true, nil
	case id != appID:
		return 0, false, refuse(path, ErrNotCapture, fmt.Sprintf("another program's database (application id %#x, %d schema objects)", id, tables))
	case version > latest:
		return 0, false, refuse(path, ErrTooNew, fmt.Sprintf("schema version %d; this Loupe reads up to %d", version, latest))
	}
	return version, false, nil
}

// migrate brings the database to the newest of steps in one immediate
// transaction: the version is read again inside it, so the check and the
// change cannot be separated. On any error nothing changes.
func migrate(ctx context.Context, conn querier, path string, steps []migration) (err error) {
	latest := steps[len(steps)-1].Version
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("capture %s: begin migration: %w", path, err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	from, fresh, err := inspect(ctx, conn, path, latest)
	if err != nil {
		return err
	}
	if !fresh && from == latest {
		_, err = conn.ExecContext(ctx, "COMMIT")
		return err
	}
	for _, m := range steps {
		if m.Version <= from {
			continue
		}
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("capture %s: migrate to version %d (%s): %w", path, m.Version, m.Name, err)
		}
		if m.Go != nil && !fresh {
			if err := m.Go(ctx, conn); err != nil {
				return fmt.Errorf("capture %s: migrate to version %d (%s): %w", path, m.Version, m.Name, err)
			}
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
			return fmt.Errorf("capture %s: set version %d: %w", path, m.Version, err)
		}
	}
	if fresh {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", appID)); err != nil {
			return fmt.Errorf("capture %s: mark as a capture: %w", path, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("capture %s: commit migration: %w", path, err)
	}
	return nil
}
