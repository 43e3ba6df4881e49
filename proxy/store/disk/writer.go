package disk

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// writeStmts are the writer's prepared statements, all on its one
// connection.
type writeStmts struct {
	upsertFlow, insertPart, growPart, insertWS, insertRule *sql.Stmt
	insertURL, indexText, delURL, delText                  *sql.Stmt
	updSession, setLastID, setTextState, textWaiting       *sql.Stmt
	flowSegs, delBodies, delWS, delRules, delFlow, segUsed *sql.Stmt
	victimsOldest, victimsAge, victimsSession, victimsOf   *sql.Stmt
}

func (st *writeStmts) prepare(ctx context.Context, conn *sql.Conn) error {
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&st.upsertFlow, `INSERT INTO flows (id, session, state, start_ns, end_ns, duration, method, url, scheme,
			host, port, path, status, content_type, req_size, resp_size, error, overridden, websocket,
			replay_of, imported, rules, shared, stored, head, ` + derivedCols + `, composed, composed_from, breakpoint,
			q_headers, ` + noteCols + `, text_state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
				?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state, start_ns = excluded.start_ns,
				end_ns = excluded.end_ns, duration = excluded.duration, method = excluded.method,
				url = excluded.url, scheme = excluded.scheme, host = excluded.host, port = excluded.port,
				path = excluded.path, status = excluded.status, content_type = excluded.content_type,
				req_size = excluded.req_size, resp_size = excluded.resp_size, error = excluded.error,
				overridden = excluded.overridden, websocket = excluded.websocket, replay_of = excluded.replay_of,
				imported = excluded.imported, rules = excluded.rules, shared = excluded.shared,
				stored = excluded.stored, head = excluded.head, kind = excluded.kind, target = excluded.target,
				grpc_status = excluded.grpc_status, grpc_message = excluded.grpc_message,
				is_grpc = excluded.is_grpc, q_host = excluded.q_host, q_host_rev = excluded.q_host_rev,
				q_port = excluded.q_port, q_path = excluded.q_path, q_pathq = excluded.q_pathq,
				q_grpc_error = excluded.q_grpc_error, composed = excluded.composed,
				composed_from = excluded.composed_from, breakpoint = excluded.breakpoint,
				q_headers = excluded.q_headers,
				marked = excluded.marked, color = excluded.color, comment = excluded.comment,
				text_state = iif(flows.text_state = 0, excluded.text_state, flows.text_state)`},
		{&st.insertPart, `INSERT INTO bodies (flow, facet, seq, data, segment, off, len) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&st.growPart, `UPDATE bodies SET len = len + ?4 WHERE flow = ?1 AND facet = ?2 AND seq = ?3`},
		{&st.insertWS, `INSERT INTO ws_messages (flow, seq, direction, time_ns, opcode, size, truncated, data,
			segment, off, len) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.insertRule, `INSERT INTO rule_hits (flow, seq, rule, kind) VALUES (?, ?, ?, ?)`},
		// The full-text index: a flow's URL from its first write, its
		// body text once it ended (text.go).
		{&st.insertURL, `INSERT INTO flow_url (rowid, url) VALUES (?, ?)`},
		{&st.indexText, `INSERT INTO flow_text (rowid, body) VALUES (?, ?)`},
		{&st.delURL, `DELETE FROM flow_url WHERE rowid IN (SELECT value FROM json_each(?1))`},
		{&st.delText, `DELETE FROM flow_text WHERE rowid IN (SELECT value FROM json_each(?1))`},
		{&st.textWaiting, textWaitingQuery},
		{&st.setTextState, `UPDATE flows SET text_state = ?2 WHERE id = ?1`},
		{&st.updSession, `UPDATE sessions SET flows = flows + ?2, bytes = bytes + ?3 WHERE id = ?1`},
		{&st.setLastID, `INSERT INTO meta (key, value) VALUES ('last_id', ?1)
			ON CONFLICT (key) DO UPDATE SET value = max(value, ?1)`},
		// Removal takes a chunk of flow IDs as a JSON array (?1): one
		// statement per table for the whole chunk.
		{&st.flowSegs, `SELECT segment FROM bodies
			WHERE flow IN (SELECT value FROM json_each(?1)) AND segment IS NOT NULL
			UNION SELECT segment FROM ws_messages
			WHERE flow IN (SELECT value FROM json_each(?1)) AND segment IS NOT NULL`},
		{&st.delBodies, `DELETE FROM bodies WHERE flow IN (SELECT value FROM json_each(?1))`},
		{&st.delWS, `DELETE FROM ws_messages WHERE flow IN (SELECT value FROM json_each(?1))`},
		{&st.delRules, `DELETE FROM rule_hits WHERE flow IN (SELECT value FROM json_each(?1))`},
		{&st.delFlow, `DELETE FROM flows WHERE id IN (SELECT value FROM json_each(?1)) RETURNING id, session, stored`},
		{&st.segUsed, `SELECT EXISTS (SELECT 1 FROM bodies WHERE segment = ?1)
			OR EXISTS (SELECT 1 FROM ws_messages WHERE segment = ?1)`},
		// Victims of retention, oldest first, never from a pinned session
		// (?1 is a JSON array of the pinned session IDs).
		{&st.victimsOldest, `SELECT id, stored FROM flows
			WHERE session NOT IN (SELECT value FROM json_each(?1)) ORDER BY id LIMIT ?2`},
		// A flow is as old as the later of its start and its session's
		// creation: flows imported today from a year-old file are today's.
		{&st.victimsAge, `SELECT id, stored FROM flows
			WHERE start_ns < ?2 AND session NOT IN (SELECT value FROM json_each(?1))
				AND session IN (SELECT id FROM sessions WHERE created < ?2)
			ORDER BY start_ns LIMIT ?3`},
		{&st.victimsSession, `SELECT id, stored FROM flows
			WHERE session NOT IN (SELECT value FROM json_each(?1)) AND id > ?2 ORDER BY id LIMIT ?3`},
		// The flows of one session (?1), in chunks above ?2.
		{&st.victimsOf, `SELECT id, stored FROM flows WHERE session = ?1 AND id > ?2 ORDER BY id LIMIT ?3`},
	} {
		stmt, err := conn.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("prepare %.40q: %w", p.q, err)
		}
		*p.s = stmt
	}
	return nil
}

func (st *writeStmts) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.upsertFlow, st.insertPart, st.growPart, st.insertWS, st.insertRule,
		st.insertURL, st.indexText, st.delURL, st.delText,
		st.updSession, st.setLastID, st.setTextState, st.textWaiting, st.flowSegs, st.delBodies, st.delWS, st.delRules, st.delFlow, st.segUsed,
		st.victimsOldest, st.victimsAge, st.victimsSession, st.victimsOf} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// command is work another goroutine asks the writer to do (Delete, Clear,
// Import, Flush): the writer writes what is queued first, so a command sees
// every flow recorded before it was sent.
type command struct {
	fn    func() error
	reply chan error
}

// writer is the one goroutine that writes the capture: it owns the write
// connection, the segments and the map of flows in progress.
type writer struct {
	s    *Store
	conn *sql.Conn
	st   writeStmts
	segs *segments

	// live maps the flows whose final state is not yet written to their
	// handles, so that deleting or evicting one stops its recording.
	live   map[flow.ID]*handle
	pinned map[int64]bool
	// importing are the sessions imports are filling: hidden, and kept
	// from retention until they are committed or dropped.
	importing map[int64]bool
	// session is the session new flows are written into (Store.recording
	// publishes it to readers).
	session int64
	flows   int64 // totals as committed
	bytes   int64

	cmds chan command
	stop chan struct{}
	done chan struct{}

	spare   []event
	touched []*handle
	pub     []published
	deltas  []sessionDelta
	// urls and texts are the batch's rows of the full-text indexes,
	// written after its flows (indexBatch).
	urls, texts []textDoc
	lastAge     time.Time

	lastWarn   time.Time
	quietWarns int
}

// warnEvery spaces the writer's warnings: a full disk fails every batch,
// and one line every few seconds says as much as one per batch.
const warnEvery = 10 * time.Second

// warn logs a write problem, at most once per warnEvery, with the count of
// those left out since.
func (w *writer) warn(msg string, args ...any) {
	if now := time.Now(); now.Sub(w.lastWarn) >= warnEvery {
		if w.quietWarns > 0 {
			args = append(args, "unlogged", w.quietWarns)
		}
		w.s.log.Warn(msg, args...)
		w.lastWarn, w.quietWarns = now, 0
		return
	}
	w.quietWarns++
}

// sessionDelta is the change a batch makes to one session's totals.
type sessionDelta struct {
	session      int64
	flows, bytes int64
}

// addDelta adds a flow's change to its session's totals in ds.
func addDelta(ds []sessionDelta, session, flows, bytes int64) []sessionDelta {
	for i := range ds {
		if ds[i].session == session {
			ds[i].flows += flows
			ds[i].bytes += bytes
			return ds
		}
	}
	return append(ds, sessionDelta{session, flows, bytes})
}

// published is a flow written by the current batch, announced after commit.
type published struct {
	h     *handle
	added bool
	done  bool // final state written: leaves live
	sum   flow.Summary
}

func newWriter(ctx context.Context, s *Store, conn *sql.Conn, segs *segments, st startState) (*writer, error) {
	w := &writer{
		s: s, conn: conn, segs: segs,
		live: map[flow.ID]*handle{}, pinned: st.pinned, importing: map[int64]bool{}, session: st.session,
		flows: st.flows, bytes: st.bytes,
		cmds: make(chan command), stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, id := range st.importing {
		w.importing[id] = true // dropped once the writer runs
	}
	if err := w.st.prepare(ctx, conn); err != nil {
		return nil, fmt.Errorf("capture %s: %w", s.dbPath, err)
	}
	s.c.flows.Store(w.flows)
	s.c.bytes.Store(w.bytes)
	return w, nil
}

// do runs fn on the writer goroutine after it has written what is queued,
// and returns fn's error; ErrClosed once the writer has stopped.
func (w *writer) do(fn func() error) error {
	c := command{fn: fn, reply: make(chan error, 1)}
	select {
	case w.cmds <- c:
		return <-c.reply
	case <-w.done:
		return ErrClosed
	}
}

// stopWriting stops the writer after it has written what is queued.
func (w *writer) stopWriting() {
	close(w.stop)
	<-w.done
}

// close closes the segments and the write connection, once the writer has
// stopped and the readers are closed: the log is checkpointed into the
// database first, so a closed capture is one file plus its segments.
func (w *writer) close() error {
	ctx := context.Background()
	errs := []error{w.segs.closeCurrent()}
	w.conn.ExecContext(ctx, "PRAGMA optimize")
	if _, err := w.conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		errs = append(errs, fmt.Errorf("checkpoint: %w", err))
	}
	// Statements left open would keep SQLite's connection alive after
	// Close (and its write-ahead log with it).
	errs = append(errs, w.st.close(), w.conn.Close())
	return errors.Join(errs...)
}

// run is the writer's loop: it wakes when the queue becomes non-empty,
// gathers events for BatchDelay (or until BatchEvents are waiting), and
// writes them in one transaction. It ends when the store closes, after a
// last batch.
func (w *writer) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	textMore := true // flows of an earlier run may wait for the text index
	for {
		var cmd *command
		// While ended flows wait for the text index, an idle writer goes
		// on indexing them (recording comes first: it is checked between
		// steps).
		var idle <-chan time.Time
		if textMore {
			idle = time.After(time.Millisecond)
		}
		select {
		case <-idle:
		case <-w.s.q.kick:
			timer.Reset(w.s.cfg.BatchDelay)
			select {
			case <-timer.C:
			case <-w.s.q.full:
				timer.Stop()
			case c := <-w.cmds:
				timer.Stop()
				cmd = &c
			case <-w.stop:
				timer.Stop()
			}
		case c := <-w.cmds:
			cmd = &c
		case <-w.stop:
		}
		w.flush(cmd != nil)
		if cmd != nil {
			cmd.reply <- cmd.fn()
		}
		// Then the text index, one step, unless recording has more for
		// the writer: the capture always comes first.
		select {
		case <-w.stop:
		default:
			textMore = true
			if w.s.q.len() == 0 {
				textMore = w.indexText()
			}
		}
		select {
		case <-w.stop:
			w.flush(true)
			return
		default:
		}
	}
}

// flush writes what is queued (repeatedly while more arrives, when all is
// set, unless a batch fails: its flows are queued again for a later try)
// and applies retention.
func (w *writer) flush(all bool) {
	for {
		evs := w.s.q.take(w.spare)
		ok := true
		if len(evs) > 0 {
			ok = w.writeBatch(evs)
		}
		clear(evs) // drop the references to handles and bytes
		w.spare = evs[:0]
		if !all || !ok || w.s.q.len() == 0 {
			break
		}
	}
	w.retain(all)
}

// tx runs fn in an immediate transaction on the write connection.
func (w *writer) tx(fn func(ctx context.Context) error) (err error) {
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(ctx); err != nil {
		w.conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.conn.ExecContext(ctx, "ROLLBACK") // SQLite may have rolled back already
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// batchState marks a handle during one batch (writer-owned).
type batchState struct {
	in     bool
	saved  writerState
	data   [3]bool // the batch carried bytes for this facet
	wsData bool
	// inline are the bytes of the request and response bodies that this
	// batch stored inline, for the text index (see textFromBatch).
	inline [2][]byte
}

// writeBatch writes one batch of events in one transaction: body bytes and
// messages first, then the row of every flow the batch touched (so its
// body counts include this batch's bytes). If the transaction fails, the
// writer's view of each flow is restored, the bytes of this batch are
// counted lost (their bodies marked truncated) and the flows are queued
// again, so that their rows are written by a later batch. It reports
// whether the batch was committed.
func (w *writer) writeBatch(evs []event) bool {
	s := w.s
	w.touched = w.touched[:0]
	for i := range evs {
		e := &evs[i]
		h := e.h
		if !h.b.in {
			h.b = batchState{in: true, saved: h.w}
			w.touched = append(w.touched, h)
		}
		switch e.kind {
		case evFlow:
			if !h.w.written && !h.isGone() {
				w.live[h.id] = h
			}
		case evBody:
			h.b.data[e.facet] = true
		case evWS:
			h.b.wsData = true
		}
	}
	w.pub = w.pub[:0]
	w.deltas = w.deltas[:0]
	w.urls = w.urls[:0]
	w.texts = w.texts[:0]
	var dFlows, dBytes int64
	var lastID flow.ID
	err := w.tx(func(ctx context.Context) error {
		if err := w.writeData(ctx, evs); err != nil {
			return err
		}
		for _, h := range w.touched {
			df, db, err := w.writeFlow(ctx, h)
			if err != nil {
				return err
			}
			dFlows += df
			dBytes += db
			if df != 0 || db != 0 {
				w.deltas = addDelta(w.deltas, h.w.session, df, db)
			}
			lastID = max(lastID, h.id)
		}
		if err := w.indexBatch(ctx); err != nil {
			return err
		}
		for _, d := range w.deltas {
			if _, err := w.st.updSession.ExecContext(ctx, d.session, d.flows, d.bytes); err != nil {
				return fmt.Errorf("update session %d: %w", d.session, err)
			}
		}
		if _, err := w.st.setLastID.ExecContext(ctx, int64(lastID)); err != nil {
			return fmt.Errorf("update last id: %w", err)
		}
		return nil
	})
	for i := range evs {
		if e := &evs[i]; e.kind != evFlow {
			s.q.release(e.reserved())
		}
	}
	failed := err != nil
	if failed {
		w.failBatch(evs, err)
	}
	// The batch is done with its body bytes (the database and the text
	// index copied what they keep): their buffers serve new chunks.
	for i := range evs {
		if e := &evs[i]; e.kind == evBody {
			e.done(&s.q.bufs)
		}
	}
	if failed {
		return false
	}
	s.c.batches.Add(1)
	w.flows += dFlows
	w.bytes += dBytes
	s.c.flows.Store(w.flows)
	s.c.bytes.Store(w.bytes)
	for _, p := range w.pub {
		if p.added {
			s.unwritten.Add(-1)
		}
		if p.done {
			delete(w.live, p.h.id)
		}
		s.recent.put(p.sum)
		if p.added {
			s.feed.PublishAdded(p.h.id)
		} else {
			s.feed.PublishUpdated(p.h.id)
		}
	}
	for _, h := range w.touched {
		h.b = batchState{}
	}
	return true
}

// failBatch undoes the writer's view of a failed batch. The bytes it
// carried are gone (the queue gave them up), so their bodies are marked
// truncated from there on.
func (w *writer) failBatch(evs []event, err error) {
	s := w.s
	s.c.writeErrs.Add(1)
	w.warn("capture: write failed; the batch's bodies are truncated and its flows written again later",
		"path", s.dbPath, "events", len(evs), "err", err)
	var lost uint64
	for i := range evs {
		if e := &evs[i]; e.kind != evFlow {
			lost += uint64(len(e.data))
		}
	}
	s.c.truncBytes.Add(lost)
	for _, h := range w.touched {
		b := h.b
		h.w = b.saved
		h.b = batchState{}
		for i, had := range b.data {
			if had && !h.w.facets[i].failed {
				h.w.facets[i].failed = true
				s.c.truncBodies.Add(1)
			}
		}
		if b.wsData {
			s.c.droppedMsgs.Add(1)
		}
		h.redirty()
	}
}

// chunkGroup is the bytes of one body facet in one batch.
type chunkGroup struct {
	h      *handle
	facet  int
	chunks [][]byte
	n      int64
}

// writeData stores the batch's body bytes, grouped per body, and its
// WebSocket messages.
func (w *writer) writeData(ctx context.Context, evs []event) error {
	var groups []chunkGroup
	index := map[*handle][3]int{} // group index + 1 per facet
	for i := range evs {
		e := &evs[i]
		switch e.kind {
		case evBody:
			ix := index[e.h]
			f := int(e.facet)
			if ix[f] == 0 {
				groups = append(groups, chunkGroup{h: e.h, facet: f})
				ix[f] = len(groups)
				index[e.h] = ix
			}
			g := &groups[ix[f]-1]
			g.chunks = append(g.chunks, e.data)
			g.n += int64(len(e.data))
		case evWS:
			if err := w.writeWS(ctx, e.h, e.ws); err != nil {
				return err
			}
		}
	}
	for i := range groups {
		if err := w.writeBody(ctx, &groups[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeBody stores one body's bytes of this batch: inline while the body
// fits under InlineMax, else appended to the current segment (extending
// the body's last part when the bytes follow on). A failed segment write
// truncates that body and is counted; it does not fail the batch.
func (w *writer) writeBody(ctx context.Context, g *chunkGroup) error {
	h := g.h
	if h.isGone() {
		return nil
	}
	fw := &h.w.facets[g.facet]
	if fw.failed {
		w.s.c.truncBytes.Add(uint64(g.n))
		return nil
	}
	if !fw.segment && fw.written+g.n <= w.s.cfg.InlineMax {
		data := g.chunks[0]
		if len(g.chunks) > 1 {
			data = slices.Concat(g.chunks...)
		}
		if _, err := w.st.insertPart.ExecContext(ctx, int64(h.id), g.facet, fw.seq, data, nil, 0, len(data)); err != nil {
			return fmt.Errorf("flow %d body: %w", h.id, err)
		}
		if g.facet < len(h.b.inline) {
			h.b.inline[g.facet] = data
		}
		fw.seq++
		fw.written += g.n
		return nil
	}
	fw.segment = true
	// Write the chunks with one vectored write per segment, so that a body
	// costs one write and one statement per segment per batch.
	exts, done, err := w.segs.appendAll(g.chunks)
	if err != nil {
		w.bodyLost(h, fw, g.chunks[done:], err)
	}
	for _, e := range exts {
		if fw.seq > 0 && fw.lastSeg == e.seg && fw.lastEnd == e.off {
			if _, err := w.st.growPart.ExecContext(ctx, int64(h.id), g.facet, fw.seq-1, e.n); err != nil {
				return fmt.Errorf("flow %d body: %w", h.id, err)
			}
		} else {
			if _, err := w.st.insertPart.ExecContext(ctx, int64(h.id), g.facet, fw.seq, nil, e.seg, e.off, e.n); err != nil {
				return fmt.Errorf("flow %d body: %w", h.id, err)
			}
			fw.seq++
		}
		fw.lastSeg, fw.lastEnd = e.seg, e.off+e.n
		fw.written += e.n
	}
	return nil
}

// bodyLost stops a body's capture after a failed segment write.
func (w *writer) bodyLost(h *handle, fw *facetWriter, rest [][]byte, err error) {
	s := w.s
	var n int64
	for _, c := range rest {
		n += int64(len(c))
	}
	fw.failed = true
	s.c.writeErrs.Add(1)
	s.c.truncBodies.Add(1)
	s.c.truncBytes.Add(uint64(n))
	w.warn("capture: body truncated: segment write failed", "flow", h.id, "err", err)
}

// writeWS stores one message, its payload inline or in a segment. A failed
// segment write keeps the message without its payload, marked truncated.
func (w *writer) writeWS(ctx context.Context, h *handle, m *flow.WSMessage) error {
	if h.isGone() {
		return nil
	}
	var seg, off any
	data := m.Data
	n := int64(len(data))
	truncated := m.Truncated
	if n > w.s.cfg.InlineMax {
		id, o, err := w.segs.append(data)
		if err != nil {
			w.s.c.writeErrs.Add(1)
			w.s.c.truncBytes.Add(uint64(n))
			w.warn("capture: message payload lost: segment write failed", "flow", h.id, "err", err)
			n, truncated = 0, true
		} else {
			seg, off = id, o
		}
		data = nil
	}
	if off == nil {
		off = 0
	}
	if _, err := w.st.insertWS.ExecContext(ctx, int64(h.id), h.w.wsSeq, string(m.Direction), m.Time.UnixNano(),
		m.Opcode, m.Size, truncated, data, seg, off, n); err != nil {
		return fmt.Errorf("flow %d message: %w", h.id, err)
	}
	h.w.wsSeq++
	h.w.wsBytes += n
	return nil
}

// isGone reports whether the flow was deleted, evicted or cleared.
func (h *handle) isGone() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gone
}

// writeFlow writes the row of one flow from a snapshot of its handle, and
// its new rule hits, and returns the change to the session's totals.
func (w *writer) writeFlow(ctx context.Context, h *handle) (dFlows, dBytes int64, err error) {
	sn := h.snapshot()
	if sn.gone {
		return 0, 0, nil
	}
	if !h.w.written {
		// A flow belongs to the session that was recording when it was
		// first written: a flow that began just before a new session
		// started may open it.
		h.w.session = w.session
	}
	f := &sn.f
	f.Session = flow.SessionID(h.w.session)
	normalizeTimes(f)
	for i := range facets {
		b := bodyFacts(f, i)
		if b == nil {
			continue
		}
		fs, fw := sn.facets[i], h.w.facets[i]
		b.Size = fs.size
		b.Captured = fw.written
		b.Truncated = fs.truncated || fw.failed
		// Complete once the body ended and its bytes are all written: bytes
		// still queued for the next batch (or lost in a crash before it)
		// leave it incomplete.
		b.Complete = fs.complete && (fw.failed || fw.written >= fs.accepted)
	}
	head, shared, err := encodeHead(f)
	if err != nil {
		return 0, 0, fmt.Errorf("flow %d: %w", h.id, err)
	}
	sum := f.Summary()
	sum.Rules = slices.Clone(sum.Rules)
	stored := int64(len(head)) + h.w.wsBytes
	for _, fw := range h.w.facets {
		stored += fw.written
	}
	// The flow's text goes into the index with its final row when this
	// batch holds all of it (most small flows); else the idle writer
	// indexes it later, from the database (indexText).
	textState := h.w.textState
	var doc textDoc
	if sn.finished && !h.w.ended {
		if d, ok := w.textFromBatch(h, f, &sn); ok {
			doc, textState = d, d.state
		}
	}
	if err := w.upsert(ctx, h.w.session, f, &sum, shared, stored, head, textState); err != nil {
		return 0, 0, err
	}
	if doc.id != 0 {
		w.texts = append(w.texts, doc)
		h.w.textState = textState
	}
	h.w.ended = sn.finished
	for i := h.w.rules; i < len(f.Rules); i++ {
		if _, err := w.st.insertRule.ExecContext(ctx, int64(h.id), i, f.Rules[i], sn.kinds[i]); err != nil {
			return 0, 0, fmt.Errorf("flow %d rule hit: %w", h.id, err)
		}
	}
	h.w.rules = len(f.Rules)
	added := !h.w.written
	if added {
		w.urls = append(w.urls, textDoc{id: int64(h.id), url: urlText(f.Request.URL)})
		dFlows = 1
	}
	dBytes = stored - h.w.stored
	h.w.written = true
	h.w.stored = stored
	w.pub = append(w.pub, published{h: h, added: added, done: sn.finished, sum: sum})
	return dFlows, dBytes, nil
}

// upsert writes a flow's row.
func (w *writer) upsert(ctx context.Context, session int64, f *flow.Flow, sum *flow.Summary, shared int, stored int64, head []byte, textState int) error {
	var endNs int64
	if !f.End.IsZero() {
		endNs = f.End.UnixNano()
	}
	var rules any
	if len(f.Rules) > 0 {
		b, err := json.Marshal(f.Rules)
		if err != nil {
			return fmt.Errorf("flow %d rules: %w", f.ID, err)
		}
		rules = string(b)
	}
	d := derive(f)
	args := append([]any{int64(f.ID), session, string(f.State), f.Start.UnixNano(), endNs,
		sum.Duration, sum.Method, sum.URL, sum.Scheme, sum.Host, portNumber(sum.Port), sum.Path, sum.Status,
		sum.ContentType, f.RequestBody.Size, f.ResponseBody.Size, f.Error, f.Overridden, sum.WebSocket,
		int64(f.ReplayOf), f.Imported, rules, shared, stored, head}, d.args()...)
	note := f.Annotation.Value()
	args = append(args, sum.Composed, int64(sum.ComposedFrom), sum.Breakpoint, query.HeaderText(f),
		note.Marked, string(note.Color), note.Comment, textState)
	if _, err := w.st.upsertFlow.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("flow %d: %w", f.ID, err)
	}
	return nil
}

// normalizeTimes drops the monotonic clock readings and locations that a
// database cannot keep, so that the summary written now equals the one read
// back later.
func normalizeTimes(f *flow.Flow) {
	f.Start = time.Unix(0, f.Start.UnixNano())
	if !f.End.IsZero() {
		f.End = time.Unix(0, f.End.UnixNano())
	}
}

// bodyFacts points at facet i's facts in f (nil: the facet is absent).
func bodyFacts(f *flow.Flow, i int) *flow.Body {
	switch i {
	case 0:
		return &f.RequestBody
	case 1:
		return &f.ResponseBody
	}
	return f.UpstreamBody
}
