package disk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
)

// File names inside the capture directory.
const (
	dbName     = "capture.db"
	segDirName = "segments"
	lockName   = "lock"
)

// interruptedError is the error of a flow that was in progress when Loupe
// stopped without finishing it (crash, kill, power loss).
const interruptedError = "interrupted: Loupe stopped before the flow finished"

// ErrClosed is returned by the store's writing methods after Close.
var ErrClosed = errors.New("capture closed")

// Counters are the durable capture's own figures, beyond store.Stats.
type Counters struct {
	// Flows and Bytes are what the capture holds (Bytes as retention counts
	// them: heads, bodies and messages).
	Flows int64
	Bytes int64
	// DBBytes and SegmentBytes are the sizes of the database (with its
	// write-ahead log) and of the segment files; Segments counts the files.
	DBBytes      int64
	SegmentBytes int64
	Segments     int64
	// QueueBytes and QueueEvents are body and message bytes and events
	// waiting for the writer now.
	QueueBytes  int64
	QueueEvents int64
	// Batches counts committed write transactions; WriteErrors failed
	// writes (a transaction, or a body's segment write).
	Batches     uint64
	WriteErrors uint64
	// Evicted counts flows removed by retention.
	Evicted uint64
	// Truncated and TruncatedBytes count bodies cut (body cap, full queue,
	// failed write) and the bytes not stored.
	Truncated      uint64
	TruncatedBytes uint64
	// DroppedMessages counts WebSocket messages not stored.
	DroppedMessages uint64
	// DroppedFlows counts flows not recorded because too many were waiting
	// for the writer; Skipped those not recorded while paused.
	DroppedFlows uint64
	Skipped      uint64
	// Interrupted is how many flows Open found in progress and marked
	// interrupted.
	Interrupted int64
	// Session is the ID of the session new flows are recorded into.
	Session int64
}

// counters are updated from the recorder's callers and the writer.
type counters struct {
	truncBodies, truncBytes, droppedMsgs, droppedFlows, skipped atomic.Uint64
	batches, writeErrs, evicted, notKept                        atomic.Uint64
	flows, bytes                                                atomic.Int64
	staged                                                      atomic.Int64 // flows of imports in progress
}

// Store is the durable capture. It implements flow.Recorder and
// store.Backend. Use Open; Close when done.
type Store struct {
	cfg    Config
	log    *slog.Logger
	dbPath string

	q      *queue
	feed   store.Feed
	recent recent
	c      counters

	paused      atomic.Bool
	nextID      atomic.Uint64
	unwritten   atomic.Int64 // flows begun and not yet written
	recording   atomic.Int64 // the session new flows are written into
	importsOpen atomic.Int64 // imports begun and not yet committed or dropped
	interrupted int64

	rdb *sql.DB // read-only connections
	rd  readStmts
	wdb *sql.DB // the one write connection, owned by the writer
	w   *writer

	unlock    func()
	closeOnce sync.Once
	closeErr  error
}

var _ store.Backend = (*Store)(nil)

// options are the seams tests use to inject failures.
type options struct {
	// createSegment replaces the segment file constructor.
	createSegment func(path string) (segFile, error)
	// writePragmas run on the write connection after the schema is ready
	// (a test sets max_page_count to fill the database).
	writePragmas []string
}

// Open opens the capture in cfg.Dir, creating it when missing, and starts
// its writer. It refuses (with an error naming the file and saying what to
// do) a database that is not a Loupe capture, is damaged, or was written by
// a newer Loupe, and it changes nothing in such a file. Flows found in
// progress (left by a crash) are marked interrupted. A new session is
// started for this run.
func Open(cfg Config, log *slog.Logger) (*Store, error) {
	s, err := open(cfg, log, options{})
	return s, withAdvice(err)
}

func open(cfg Config, log *slog.Logger, opt options) (_ *Store, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.createSegment == nil {
		opt.createSegment = createSegment
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("capture directory %s: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("capture directory %s: %w", dir, err)
	}
	unlock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: log, dbPath: filepath.Join(dir, dbName), q: newQueue(cfg), unlock: unlock}
	s.paused.Store(cfg.Paused)
	// SQLite makes the write-ahead log and its index beside the database
	// as it opens it; if this Open fails, those it made (still empty) go,
	// so a failed start leaves the directory as it found it. A log that
	// was there before may hold committed flows: it is never touched.
	fresh := freshFilesOf(s.dbPath+"-wal", s.dbPath+"-shm")
	defer func() {
		if err != nil {
			s.closeDBs()
			fresh.remove()
			unlock()
		}
	}()
	// Nothing is written to a database before it is known to be a Loupe
	// capture this binary can read: first the file header, read without
	// SQLite, then SQLite's own view of it.
	latest := schemaVersion()
	if err := checkHeader(s.dbPath, latest); err != nil {
		return nil, err
	}
	// The capture holds cookies and credentials: the database is made
	// private before SQLite opens it, and SQLite gives its log and index
	// files the database's permissions.
	if f, err := os.OpenFile(s.dbPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("capture %s: %w", s.dbPath, err)
	}
	ctx := context.Background()
	if err := registerFuncs(); err != nil {
		return nil, fmt.Errorf("capture %s: SQL functions: %w", s.dbPath, err)
	}
	s.wdb, err = sql.Open("sqlite", dsn(s.dbPath, false))
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", s.dbPath, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, unreadable(s.dbPath, err)
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	if _, _, err := inspect(ctx, conn, s.dbPath, latest); err != nil {
		return nil, err
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil || mode != "wal" {
		return nil, fmt.Errorf("capture %s: write-ahead log: mode %q, %v", s.dbPath, mode, err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return nil, fmt.Errorf("capture %s: %w", s.dbPath, err)
	}
	if err := migrate(ctx, conn, s.dbPath, migrations()); err != nil {
		return nil, err
	}
	for _, p := range opt.writePragmas {
		if _, err := conn.ExecContext(ctx, "PRAGMA "+p); err != nil {
			return nil, fmt.Errorf("capture %s: pragma %s: %w", s.dbPath, p, err)
		}
	}
	st, err := s.startup(ctx, conn)
	if err != nil {
		return nil, err
	}
	segs, err := openSegments(filepath.Join(dir, segDirName), cfg.SegmentSize, opt.createSegment)
	if err != nil {
		return nil, err
	}
	if err := sweepSegments(ctx, conn, segs); err != nil {
		return nil, err
	}
	s.rdb, err = sql.Open("sqlite", dsn(s.dbPath, true))
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", s.dbPath, err)
	}
	s.rdb.SetMaxOpenConns(cfg.ReadConns)
	s.rdb.SetMaxIdleConns(cfg.ReadConns)
	if err := s.rd.prepare(ctx, s.rdb); err != nil {
		return nil, fmt.Errorf("capture %s: %w", s.dbPath, err)
	}
	w, err := newWriter(ctx, s, conn, segs, st)
	if err != nil {
		return nil, err
	}
	s.w = w
	s.recent.init(recentSize)
	go w.run()
	if s.interrupted > 0 {
		log.Info("capture: flows in progress at the last stop marked interrupted", "count", s.interrupted, "path", s.dbPath)
	}
	// Imports that a stop cut short never completed: they go, as a failed
	// import does.
	s.importsOpen.Store(int64(len(st.importing)))
	for _, id := range st.importing {
		if err := w.do(func() error { return w.dropSession(id, removeQuiet) }); err != nil {
			s.Close()
			return nil, fmt.Errorf("capture %s: drop an unfinished import: %w", s.dbPath, err)
		}
		s.importsOpen.Add(-1)
		log.Info("capture: dropped an import that the last stop cut short", "session", id, "path", s.dbPath)
	}
	return s, nil
}

// freshFiles are paths that did not exist when they were listed.
type freshFiles []string

func freshFilesOf(paths ...string) freshFiles {
	var out freshFiles
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			out = append(out, p)
		}
	}
	return out
}

// remove deletes those that are still empty (SQLite's index of the log,
// whose contents it rebuilds, is removed whatever its size).
func (f freshFiles) remove() {
	for _, p := range f {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if fi.Size() == 0 || strings.HasSuffix(p, "-shm") {
			os.Remove(p)
		}
	}
}

// dsn is the driver's name for the database: a file: URI, so that SQLite
// applies mode=ro to read connections (they can never write, whatever a
// statement says).
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Set("mode", "ro")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// startState is what Open reads from the database for the writer.
type startState struct {
	pinned       map[int64]bool
	importing    []int64 // sessions of imports a stop cut short
	session      int64   // this run's
	flows, bytes int64
}

// startup marks the flows in progress at the last stop as interrupted,
// starts this run's session and reads the totals, in one transaction.
func (s *Store) startup(ctx context.Context, conn *sql.Conn) (st startState, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return st, fmt.Errorf("capture %s: %w", s.dbPath, err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(ctx, "ROLLBACK")
			err = fmt.Errorf("capture %s: start: %w", s.dbPath, err)
		}
	}()
	res, err := conn.ExecContext(ctx, `UPDATE flows SET state = 'error', error = ? WHERE state = 'pending'`, interruptedError)
	if err != nil {
		return st, err
	}
	s.interrupted, _ = res.RowsAffected()
	// Sessions that recorded nothing (a run that captured no traffic) are
	// not worth keeping.
	if _, err := conn.ExecContext(ctx, "DELETE FROM sessions WHERE flows = 0 AND pinned = 0 AND importing = 0"); err != nil {
		return st, err
	}
	now := time.Now()
	name, err := store.SessionName(s.cfg.SessionName, now)
	if err != nil {
		return st, err
	}
	if err := conn.QueryRowContext(ctx, "INSERT INTO sessions (name, created) VALUES (?, ?) RETURNING id",
		name, now.UnixNano()).Scan(&st.session); err != nil {
		return st, err
	}
	s.recording.Store(st.session)
	var lastID, maxID int64
	if err := conn.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = 'last_id'), 0),
		coalesce((SELECT max(id) FROM flows), 0)`).Scan(&lastID, &maxID); err != nil {
		return st, err
	}
	s.nextID.Store(uint64(max(lastID, maxID)))
	st.pinned = map[int64]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT id FROM sessions WHERE pinned != 0")
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return st, err
		}
		st.pinned[id] = true
	}
	if err := rows.Close(); err != nil {
		return st, err
	}
	rows, err = conn.QueryContext(ctx, "SELECT id FROM sessions WHERE importing != 0")
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return st, err
		}
		st.importing = append(st.importing, id)
	}
	if err := rows.Close(); err != nil {
		return st, err
	}
	var staged int64
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(sum(flows), 0) FROM sessions WHERE importing != 0").Scan(&staged); err != nil {
		return st, err
	}
	s.c.staged.Store(staged)
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(sum(flows), 0), coalesce(sum(bytes), 0) FROM sessions").
		Scan(&st.flows, &st.bytes); err != nil {
		return st, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return st, err
	}
	return st, nil
}

// sweepSegments removes segment files that no flow refers to: left by a
// crash between a segment write and the commit that would have referred to
// it, or by retention that stopped between its commit and the removal.
func sweepSegments(ctx context.Context, conn *sql.Conn, segs *segments) error {
	rows, err := conn.QueryContext(ctx, `SELECT segment FROM bodies WHERE segment IS NOT NULL
		UNION SELECT segment FROM ws_messages WHERE segment IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	used := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("list segments: %w", err)
		}
		used[id] = true
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	for _, id := range segs.ids() {
		if !used[id] {
			if err := segs.remove(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// Dir is the capture directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// Config returns the settings in force (defaults applied).
func (s *Store) Config() Config { return s.cfg }

// Session is the ID of the session new flows are recorded into.
func (s *Store) Session() int64 { return s.recording.Load() }

// Begin records a new flow. It implements flow.Recorder and never waits:
// the flow is queued for the writer, or, when too many flows are waiting
// already, not recorded (counted in Counters.DroppedFlows).
func (s *Store) Begin(client string, req flow.Request, start time.Time) flow.Handle {
	if s.paused.Load() {
		s.c.skipped.Add(1)
		return noop{}
	}
	if s.unwritten.Add(1) > int64(s.cfg.QueueFlows) {
		s.unwritten.Add(-1)
		s.c.droppedFlows.Add(1)
		return noop{}
	}
	h := &handle{s: s, id: flow.ID(s.nextID.Add(1))}
	h.f = flow.Flow{
		ID:          h.id,
		Start:       start,
		Client:      client,
		State:       flow.StatePending,
		Request:     req, // the recorder's own (see flow.Recorder)
		Timings:     flow.NoTimings,
		RequestBody: bodyHead(req.Header),
	}
	h.dirty = true
	if !s.q.push(event{h: h, kind: evFlow}) {
		s.unwritten.Add(-1)
		return noop{}
	}
	return h
}

// SetPaused stops (true) or resumes (false) recording new flows; flows in
// progress keep recording.
func (s *Store) SetPaused(p bool) { s.paused.Store(p) }

// Paused reports whether recording is paused.
func (s *Store) Paused() bool { return s.paused.Load() }

// Seq increases on every change published to watchers.
func (s *Store) Seq() uint64 { return s.feed.Seq() }

// Watch returns a watcher of the capture's changes. A change is published
// once it is committed, so a watcher told of a flow can read it. Close the
// watcher when done.
func (s *Store) Watch() *store.Watcher { return s.feed.Watch() }

// Flush writes everything recorded before the call, applies retention, and
// returns once that is committed.
func (s *Store) Flush() error {
	return s.w.do(func() error { return nil })
}

// Stats returns the counters in the memory store's terms: RAM is the
// writer's queue, disk is what the capture stores, spill files are
// segments, spill errors and write errors are failed writes, skipped flows
// are those not recorded while paused and dropped ones those not recorded
// because too many were waiting for the writer. Counters has more.
func (s *Store) Stats() store.Stats {
	segs := s.w.segs
	return store.Stats{
		Flows:           int(s.c.flows.Load()),
		MaxFlows:        s.cfg.MaxFlows,
		Paused:          s.paused.Load(),
		BodyBytesRAM:    s.q.bytes.Load(),
		RAMBudget:       s.cfg.QueueBytes,
		BodyBytesDisk:   s.c.bytes.Load(),
		DiskBudget:      s.cfg.MaxBytes,
		SpillFiles:      segs.files.Load(),
		BodyCap:         s.cfg.BodyCap,
		Evicted:         s.c.evicted.Load(),
		Truncated:       s.c.truncBodies.Load(),
		TruncatedBytes:  s.c.truncBytes.Load(),
		DroppedMessages: s.c.droppedMsgs.Load(),
		Skipped:         s.c.skipped.Load(),
		Dropped:         s.c.droppedFlows.Load(),
		SpillErrors:     s.c.writeErrs.Load(),
		WriteErrors:     s.c.writeErrs.Load(),
		UpstreamNotKept: s.c.notKept.Load(),
		Seq:             s.feed.Seq(),
	}
}

// Counters returns the durable capture's own figures.
func (s *Store) Counters() Counters {
	var dbBytes int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(s.dbPath + suffix); err == nil {
			dbBytes += fi.Size()
		}
	}
	return Counters{
		Flows:           s.c.flows.Load(),
		Bytes:           s.c.bytes.Load(),
		DBBytes:         dbBytes,
		SegmentBytes:    s.w.segs.bytes.Load(),
		Segments:        s.w.segs.files.Load(),
		QueueBytes:      s.q.bytes.Load(),
		QueueEvents:     s.q.events.Load(),
		Batches:         s.c.batches.Load(),
		WriteErrors:     s.c.writeErrs.Load(),
		Evicted:         s.c.evicted.Load(),
		Truncated:       s.c.truncBodies.Load(),
		TruncatedBytes:  s.c.truncBytes.Load(),
		DroppedMessages: s.c.droppedMsgs.Load(),
		DroppedFlows:    s.c.droppedFlows.Load(),
		Skipped:         s.c.skipped.Load(),
		Interrupted:     s.interrupted,
		Session:         s.recording.Load(),
	}
}

// Close stops recording, writes what is queued, stops the writer and closes
// the database. Flows still in progress stay pending in the capture and are
// marked interrupted by the next Open. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.q.close()
		s.w.stopWriting()
		// Readers first: the write connection, closing last, checkpoints
		// the log into the database.
		s.recent.clear()
		s.rd.close()
		errs := []error{s.rdb.Close(), s.w.close(), s.wdb.Close()}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close capture %s: %w", s.dbPath, err)
		}
		s.unlock()
	})
	return s.closeErr
}

// closeDBs closes what a failed Open had opened.
func (s *Store) closeDBs() error {
	var errs []error
	if s.rdb != nil {
		s.rd.close()
		errs = append(errs, s.rdb.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close capture %s: %w", s.dbPath, err)
	}
	return nil
}
