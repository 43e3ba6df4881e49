package disk

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

// scanChunk is how many rows one query of a scan reads: the rows are
// decoded after the query is done, so no read transaction stays open while
// a caller's match or fn runs.
const scanChunk = 256

// sumCols are the columns a flow.Summary is made of, in scanSummary's order.
const sumCols = `id, start_ns, state, method, url, scheme, host, port, path, status, content_type,
	resp_size, duration, rules, error, overridden, websocket, replay_of, imported, kind, target, grpc_status,
	grpc_message, session, composed, composed_from, breakpoint, ` + noteCols

// headCols are the columns a flow.Flow is made of, in scanHead's order, as
// of schema version 4: the migrations' backfills read them, so they never
// change. Readers use flowCols.
const headCols = `id, shared, start_ns, end_ns, state, error, session, head`

// noteCols hold a flow's annotation (schema version 6); they are
// authoritative: the head does not hold it.
const noteCols = `marked, color, comment`

// flowCols are headCols and noteCols, in scanFlowHead's order.
const flowCols = headCols + `, ` + noteCols

// readStmts are the statements readers share, prepared on the read pool.
type readStmts struct {
	summary, head, ws, parts, sessions, session *sql.Stmt
}

func (rs *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&rs.summary, `SELECT ` + sumCols + ` FROM flows WHERE id = ?`},
		{&rs.head, `SELECT ` + flowCols + ` FROM flows WHERE id = ?`},
		{&rs.ws, `SELECT direction, time_ns, opcode, size, truncated, data, segment, off, len
			FROM ws_messages WHERE flow = ? ORDER BY seq`},
		{&rs.parts, `SELECT data, segment, off, len FROM bodies WHERE flow = ? AND facet = ? ORDER BY seq`},
		{&rs.sessions, `SELECT ` + sessionCols + ` FROM sessions WHERE importing = 0 ORDER BY id`},
		{&rs.session, `SELECT ` + sessionCols + ` FROM sessions WHERE id = ? AND importing = 0`},
	} {
		stmt, err := db.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("prepare %.40q: %w", p.q, err)
		}
		*p.s = stmt
	}
	return nil
}

func (rs *readStmts) close() {
	for _, s := range []*sql.Stmt{rs.summary, rs.head, rs.ws, rs.parts, rs.sessions, rs.session} {
		if s != nil {
			s.Close()
		}
	}
}

type scanner interface{ Scan(dest ...any) error }

// scanSummary reads one row of sumCols.
func scanSummary(sc scanner) (flow.Summary, error) {
	var (
		sum                          flow.Summary
		id, startNs, port, replay    int64
		state                        string
		rules                        sql.NullString
		websocket, imported          bool
		method, url, scheme, host    string
		path, ctype, errMsg, overrid string
		kind, target, grpcMsg        string
		grpcStatus                   int
		session, composedFrom        int64
		composed                     bool
		breakpoint                   string
		color                        string
	)
	if err := sc.Scan(&id, &startNs, &state, &method, &url, &scheme, &host, &port, &path, &sum.Status, &ctype,
		&sum.Size, &sum.Duration, &rules, &errMsg, &overrid, &websocket, &replay, &imported, &kind, &target,
		&grpcStatus, &grpcMsg, &session, &composed, &composedFrom, &breakpoint,
		&sum.Annotation.Marked, &color, &sum.Annotation.Comment); err != nil {
		return sum, err
	}
	sum.Kind, sum.Target = flow.Kind(kind), target
	sum.Annotation.Color = flow.Color(color)
	sum.Session, sum.Composed, sum.ComposedFrom, sum.Breakpoint = flow.SessionID(session), composed, flow.ID(composedFrom), breakpoint
	if grpcStatus >= 0 {
		sum.GRPCStatus, sum.GRPCMessage = &grpcStatus, grpcMsg
	}
	sum.ID, sum.Start, sum.State = flow.ID(id), time.Unix(0, startNs), flow.State(state)
	sum.Method, sum.URL, sum.Scheme, sum.Host, sum.Path = method, url, scheme, host, path
	sum.ContentType, sum.Error, sum.Overridden = ctype, errMsg, overrid
	sum.WebSocket, sum.ReplayOf, sum.Imported = websocket, flow.ID(replay), imported
	if port != 0 {
		sum.Port = strconv.FormatInt(port, 10)
	}
	sum.Rules = []string{}
	if rules.Valid {
		if err := json.Unmarshal([]byte(rules.String), &sum.Rules); err != nil {
			return sum, fmt.Errorf("flow %d rules: %w", id, err)
		}
	}
	return sum, nil
}

// storedHead is one row of headCols, not yet decoded.
type storedHead struct {
	cols   headColumns
	shared int
	head   []byte
}

func scanHead(sc scanner) (storedHead, error) {
	var r storedHead
	var id int64
	var state string
	var session int64
	err := sc.Scan(&id, &r.shared, &r.cols.startNs, &r.cols.endNs, &state, &r.cols.err, &session, &r.head)
	r.cols.id, r.cols.state, r.cols.session = flow.ID(id), flow.State(state), flow.SessionID(session)
	return r, err
}

// scanFlowHead reads one row of flowCols.
func scanFlowHead(sc scanner) (storedHead, error) {
	var r storedHead
	var id, session int64
	var state, color string
	err := sc.Scan(&id, &r.shared, &r.cols.startNs, &r.cols.endNs, &state, &r.cols.err, &session, &r.head,
		&r.cols.note.Marked, &color, &r.cols.note.Comment)
	r.cols.id, r.cols.state, r.cols.session = flow.ID(id), flow.State(state), flow.SessionID(session)
	r.cols.note.Color = flow.Color(color)
	return r, err
}

func (r *storedHead) decode() (*flow.Flow, error) {
	f, err := decodeHead(r.head, r.shared, r.cols)
	if err != nil {
		return nil, fmt.Errorf("flow %d: %w", r.cols.id, err)
	}
	return f, nil
}

// Summary returns the list row of flow id: from the ring of recent
// summaries when it is there, else from the database.
func (s *Store) Summary(id flow.ID) (flow.Summary, bool) {
	if sum, ok := s.recent.get(id); ok {
		return sum, true
	}
	sum, err := scanSummary(s.rd.summary.QueryRow(int64(id)))
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			s.log.Warn("capture: read summary", "flow", id, "err", err)
		}
		return flow.Summary{}, false
	}
	return sum, true
}

// Get returns flow id with its WebSocket messages, as of the writer's last
// batch (a flow in progress lags by up to Config.BatchDelay).
func (s *Store) Get(id flow.ID) (*flow.Flow, bool) {
	f, err := s.get(context.Background(), id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("capture: read flow", "flow", id, "err", err)
		}
		return nil, false
	}
	return f, true
}

func (s *Store) get(ctx context.Context, id flow.ID) (*flow.Flow, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r, err := scanFlowHead(tx.StmtContext(ctx, s.rd.head).QueryRowContext(ctx, int64(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("flow %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	f, err := r.decode()
	if err != nil {
		return nil, err
	}
	if err := s.loadWS(ctx, tx, f); err != nil {
		return nil, err
	}
	return f, nil
}

// loadWS reads the WebSocket messages of f.
func (s *Store) loadWS(ctx context.Context, tx *sql.Tx, f *flow.Flow) error {
	rows, err := tx.StmtContext(ctx, s.rd.ws).QueryContext(ctx, int64(f.ID))
	if err != nil {
		return fmt.Errorf("flow %d messages: %w", f.ID, err)
	}
	defer rows.Close()
	files := map[int64]*os.File{}
	defer func() {
		for _, fl := range files {
			fl.Close()
		}
	}()
	for rows.Next() {
		var (
			m            flow.WSMessage
			dir          string
			timeNs       int64
			data         []byte
			seg          sql.NullInt64
			off, n       int64
			opcode, size int
			truncated    bool
		)
		if err := rows.Scan(&dir, &timeNs, &opcode, &size, &truncated, &data, &seg, &off, &n); err != nil {
			return fmt.Errorf("flow %d messages: %w", f.ID, err)
		}
		m.Direction, m.Time, m.Opcode, m.Size, m.Truncated = flow.Direction(dir), time.Unix(0, timeNs), opcode, size, truncated
		m.Data = data
		if seg.Valid {
			fl, ok := files[seg.Int64]
			if !ok {
				fl, err = os.Open(segPath(s.segDir(), seg.Int64))
				if err != nil {
					return fmt.Errorf("flow %d messages: %w", f.ID, err)
				}
				files[seg.Int64] = fl
			}
			m.Data = make([]byte, n)
			if _, err := fl.ReadAt(m.Data, off); err != nil {
				return fmt.Errorf("flow %d messages: segment %s: %w", f.ID, segName(seg.Int64), err)
			}
		}
		if m.Data == nil {
			m.Data = []byte{}
		}
		f.WebSocket = append(f.WebSocket, m)
	}
	return rows.Err()
}

func (s *Store) segDir() string { return filepath.Join(s.cfg.Dir, segDirName) }

// withWS loads f's messages when it is a WebSocket flow.
func (s *Store) withWS(ctx context.Context, f *flow.Flow) error {
	if !f.IsWebSocket() {
		return nil
	}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return s.loadWS(ctx, tx, f)
}

// All returns Each as an iterator (the shape har.Export takes).
func (s *Store) All(q *query.Query) func(yield func(*flow.Flow) bool) {
	return func(yield func(*flow.Flow) bool) { s.Each(q, yield) }
}

// Body returns the stored bytes of one facet as received on the wire, and
// the facet's facts. Small bodies come from the database; large ones are
// read from their segment files, which the reader keeps open until Close.
func (s *Store) Body(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
	i := facetIndex(facet)
	if i < 0 {
		return nil, flow.Body{}, fmt.Errorf("body facet %q: %w", facet, store.ErrNotFound)
	}
	ctx := context.Background()
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, flow.Body{}, fmt.Errorf("flow %d %s body: %w", id, facet, err)
	}
	defer tx.Rollback()
	r, err := scanFlowHead(tx.StmtContext(ctx, s.rd.head).QueryRowContext(ctx, int64(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, flow.Body{}, fmt.Errorf("flow %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, flow.Body{}, fmt.Errorf("flow %d %s body: %w", id, facet, err)
	}
	f, err := r.decode()
	if err != nil {
		return nil, flow.Body{}, err
	}
	b := bodyFacts(f, i)
	if b == nil {
		return nil, flow.Body{}, fmt.Errorf("flow %d %s body: %w", id, facet, store.ErrNotFound)
	}
	facts := *b
	br, err := s.openParts(ctx, tx.StmtContext(ctx, s.rd.parts), id, i)
	if err != nil {
		return nil, facts, fmt.Errorf("flow %d %s body: %w", id, facet, err)
	}
	return br, facts, nil
}

// openParts opens the stored bytes of body facet i of flow id, reading its
// parts with parts (s.rd.parts in the caller's transaction).
func (s *Store) openParts(ctx context.Context, parts *sql.Stmt, id flow.ID, i int) (*bodyReader, error) {
	rows, err := parts.QueryContext(ctx, int64(id), i)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	br := &bodyReader{}
	files := map[int64]*os.File{}
	for rows.Next() {
		var data []byte
		var seg sql.NullInt64
		var off, n int64
		if err := rows.Scan(&data, &seg, &off, &n); err != nil {
			br.Close()
			return nil, err
		}
		if !seg.Valid {
			br.parts = append(br.parts, bytes.NewReader(data))
			continue
		}
		fl, ok := files[seg.Int64]
		if !ok {
			fl, err = os.Open(segPath(s.segDir(), seg.Int64))
			if errors.Is(err, os.ErrNotExist) {
				// Retention removed it after this read began: the flow
				// is gone.
				br.Close()
				return nil, fmt.Errorf("segment %s: %w", segName(seg.Int64), store.ErrNotFound)
			}
			if err != nil {
				br.Close()
				return nil, err
			}
			files[seg.Int64] = fl
			br.files = append(br.files, fl)
		}
		br.parts = append(br.parts, io.NewSectionReader(fl, off, n))
	}
	if err := rows.Err(); err != nil {
		br.Close()
		return nil, err
	}
	br.r = io.MultiReader(br.parts...)
	return br, nil
}

// bodyReader reads a body's parts in order; Close closes its segment files.
type bodyReader struct {
	r     io.Reader
	parts []io.Reader
	files []*os.File
}

func (b *bodyReader) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *bodyReader) Close() error {
	var errs []error
	for _, f := range b.files {
		errs = append(errs, f.Close())
	}
	b.files = nil
	return errors.Join(errs...)
}

// DecodedBody is Body with the Content-Encoding undone, through the same
// codec the memory store and the HAR export use. The facts describe the
// wire body.
func (s *Store) DecodedBody(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
	rc, facts, err := s.Body(id, facet)
	if err != nil {
		return nil, facts, err
	}
	d, err := codec.Decode(rc, facts.Encoding)
	if err != nil {
		return nil, facts, fmt.Errorf("flow %d %s body: %w", id, facet, err)
	}
	return d, facts, nil
}

// decodedBodies is DecodedBody in the shape body terms take.
func (s *Store) decodedBodies(id flow.ID, facet flow.Facet) (io.ReadCloser, error) {
	rc, _, err := s.DecodedBody(id, facet)
	return rc, err
}
