package disk

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
)

// evictChunk is how many flows one retention transaction removes, so that
// a large eviction (a lowered limit, a day's worth of expiry) never holds
// the write lock for long: batches of new flows go in between.
const evictChunk = 1000

// ageEvery spaces the age checks when nothing else asks for retention.
const ageEvery = time.Second

// victim is a flow chosen for removal.
type victim struct {
	id     flow.ID
	stored int64
}

// retain applies the retention limits, oldest flows first, never touching
// a pinned session. It runs on the writer after each batch; each chunk of
// victims is its own transaction. force checks the age limit now rather
// than at most every ageEvery.
func (w *writer) retain(force bool) {
	cfg := &w.s.cfg
	for {
		var victims []victim
		var err error
		switch {
		case w.flows > int64(cfg.MaxFlows):
			victims, err = w.pick(w.st.victimsOldest, min(w.flows-int64(cfg.MaxFlows), evictChunk))
		case w.bytes > cfg.MaxBytes:
			victims, err = w.pick(w.st.victimsOldest, evictChunk)
			need := w.bytes - cfg.MaxBytes
			for i, v := range victims {
				if need -= v.stored; need <= 0 {
					victims = victims[:i+1]
					break
				}
			}
		case cfg.MaxAge > 0 && (force || time.Since(w.lastAge) >= ageEvery):
			cutoff := time.Now().Add(-cfg.MaxAge).UnixNano()
			victims, err = w.pick(w.st.victimsAge, cutoff, evictChunk)
			if len(victims) < evictChunk {
				w.lastAge = time.Now()
				force = false
			}
		}
		if err != nil {
			w.s.c.writeErrs.Add(1)
			w.s.log.Warn("capture: retention", "err", err)
			return
		}
		if len(victims) == 0 {
			return
		}
		if _, err := w.remove(victims, removeEvict); err != nil {
			w.s.c.writeErrs.Add(1)
			w.s.log.Warn("capture: retention", "err", err)
			return
		}
	}
}

// pinnedJSON is the pinned session IDs as the JSON array the victim
// queries take.
func (w *writer) pinnedJSON() string {
	ids := make([]int64, 0, len(w.pinned)+len(w.importing))
	for id := range w.pinned {
		ids = append(ids, id)
	}
	for id := range w.importing {
		ids = append(ids, id)
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// pick runs a victim query; args follow the pinned sessions.
func (w *writer) pick(stmt *sql.Stmt, args ...any) ([]victim, error) {
	rows, err := stmt.Query(append([]any{w.pinnedJSON()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("choose flows to evict: %w", err)
	}
	defer rows.Close()
	var out []victim
	for rows.Next() {
		var id, stored int64
		if err := rows.Scan(&id, &stored); err != nil {
			return nil, fmt.Errorf("choose flows to evict: %w", err)
		}
		out = append(out, victim{id: flow.ID(id), stored: stored})
	}
	return out, rows.Err()
}

// removeMode says how a removal is counted and announced.
type removeMode int

const (
	removeEvict  removeMode = iota // retention: counted as evicted
	removeDelete                   // asked for (Delete, Clear with pinned sessions)
	removeQuiet                    // announced by the caller (a reset)
)

// remove deletes flows with their bodies, messages and rule hits in one
// transaction, stops the recording of those in progress, announces them,
// and removes the segment files nothing refers to any more. It returns how
// many flows it removed.
func (w *writer) remove(victims []victim, mode removeMode) (int, error) {
	s := w.s
	cands := map[int64]bool{}
	type gone struct {
		id              flow.ID
		session, stored int64
	}
	var removed []gone
	ids := make([]int64, len(victims))
	for i, v := range victims {
		ids[i] = int64(v.id)
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	list := string(b) // text: SQLite reads a BLOB as binary JSON
	err = w.tx(func(ctx context.Context) error {
		if err := w.flowSegments(ctx, list, cands); err != nil {
			return err
		}
		for _, st := range []*sql.Stmt{w.st.delBodies, w.st.delWS, w.st.delRules, w.st.delURL, w.st.delText} {
			if _, err := st.ExecContext(ctx, list); err != nil {
				return fmt.Errorf("remove flows: %w", err)
			}
		}
		rows, err := w.st.delFlow.QueryContext(ctx, list)
		if err != nil {
			return fmt.Errorf("remove flows: %w", err)
		}
		for rows.Next() {
			var g gone
			var id int64
			if err := rows.Scan(&id, &g.session, &g.stored); err != nil {
				rows.Close()
				return fmt.Errorf("remove flows: %w", err)
			}
			g.id = flow.ID(id)
			removed = append(removed, g)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("remove flows: %w", err)
		}
		type delta struct{ flows, bytes int64 }
		per := map[int64]delta{}
		for _, g := range removed {
			d := per[g.session]
			d.flows++
			d.bytes += g.stored
			per[g.session] = d
		}
		for id, d := range per {
			if _, err := w.st.updSession.ExecContext(ctx, id, -d.flows, -d.bytes); err != nil {
				return fmt.Errorf("update session %d: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, g := range removed {
		w.flows--
		w.bytes -= g.stored
		if h, ok := w.live[g.id]; ok {
			w.forget(h)
		}
		s.recent.remove(g.id)
		switch mode {
		case removeEvict:
			s.c.evicted.Add(1)
			s.feed.PublishRemoved(g.id)
		case removeDelete:
			s.feed.PublishRemoved(g.id)
		}
	}
	s.c.flows.Store(w.flows)
	s.c.bytes.Store(w.bytes)
	w.dropSegments(cands)
	return len(removed), nil
}

// forget stops recording a flow in progress that was removed.
func (w *writer) forget(h *handle) {
	h.markGone()
	delete(w.live, h.id)
	if !h.w.written {
		w.s.unwritten.Add(-1)
	}
}

// flowSegments adds the segments used by the flows in list (a JSON array
// of IDs) to into.
func (w *writer) flowSegments(ctx context.Context, list string, into map[int64]bool) error {
	rows, err := w.st.flowSegs.QueryContext(ctx, list)
	if err != nil {
		return fmt.Errorf("segments of removed flows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seg int64
		if err := rows.Scan(&seg); err != nil {
			return fmt.Errorf("segments of removed flows: %w", err)
		}
		into[seg] = true
	}
	return rows.Err()
}

// dropSegments removes those of cands that no body or message refers to
// any more. Removal follows the commit that dropped the last reference; a
// crash in between leaves a file that the next Open sweeps.
func (w *writer) dropSegments(cands map[int64]bool) {
	for id := range cands {
		var used bool
		if err := w.st.segUsed.QueryRow(id).Scan(&used); err != nil {
			w.s.log.Warn("capture: segment use", "segment", segName(id), "err", err)
			continue
		}
		if used {
			continue
		}
		if err := w.segs.remove(id); err != nil {
			w.s.c.writeErrs.Add(1)
			w.s.log.Warn("capture: remove segment", "err", err)
		}
	}
}

// Delete removes one flow and reports whether it was there. A flow in
// progress stops recording.
func (s *Store) Delete(id flow.ID) bool {
	var n int
	err := s.w.do(func() error {
		var err error
		n, err = s.w.remove([]victim{{id: id}}, removeDelete)
		return err
	})
	if err != nil {
		s.log.Warn("capture: delete", "flow", id, "err", err)
	}
	return n > 0
}

// Clear removes every flow except those of pinned sessions. Flows in
// progress stop recording. Without pinned sessions it publishes a reset;
// with them, each removal.
func (s *Store) Clear() {
	err := s.w.do(func() error {
		w := s.w
		if len(w.pinned) > 0 || len(w.importing) > 0 {
			// Flow by flow: pinned sessions stay, and so do imports in
			// progress (their session commits whole or goes whole).
			return w.clearUnpinned()
		}
		for _, h := range w.live {
			w.forget(h)
		}
		err := w.tx(func(ctx context.Context) error {
			for _, q := range []string{"DELETE FROM bodies", "DELETE FROM ws_messages", "DELETE FROM rule_hits",
				"DELETE FROM flows", "UPDATE sessions SET flows = 0, bytes = 0",
				"INSERT INTO flow_url (flow_url) VALUES ('delete-all')",
				"INSERT INTO flow_text (flow_text) VALUES ('delete-all')"} {
				if _, err := w.conn.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("clear: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		w.flows, w.bytes = 0, 0
		s.c.flows.Store(0)
		s.c.bytes.Store(0)
		s.recent.clear()
		cands := map[int64]bool{}
		for _, id := range w.segs.ids() {
			cands[id] = true
		}
		w.dropSegments(cands)
		s.feed.PublishReset()
		return nil
	})
	if err != nil {
		s.log.Warn("capture: clear", "err", err)
	}
}

// clearUnpinned removes the flows of unpinned sessions (and not of imports
// in progress) in chunks.
func (w *writer) clearUnpinned() error {
	if !w.pinned[w.session] {
		for _, h := range w.live {
			w.forget(h)
		}
	}
	cursor := int64(0)
	for {
		victims, err := w.pick(w.st.victimsSession, cursor, evictChunk)
		if err != nil {
			return err
		}
		if len(victims) == 0 {
			return nil
		}
		cursor = int64(victims[len(victims)-1].id)
		if _, err := w.remove(victims, removeDelete); err != nil {
			return err
		}
	}
}

// dropSession removes a session's flows (in chunks, each its own
// transaction) and then the session.
func (w *writer) dropSession(id int64, mode removeMode) error {
	staged := func() int64 {
		var n int64
		if w.importing[id] {
			w.conn.QueryRowContext(context.Background(), "SELECT flows FROM sessions WHERE id = ?", id).Scan(&n)
		}
		return n
	}
	before := staged()
	err := w.removeFlowsOf(id, mode)
	// The flows of an import in progress are counted apart (they are not
	// listed): those removed leave that count.
	w.s.c.staged.Add(staged() - before)
	if err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(context.Background(), "DELETE FROM sessions WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete session %d: %w", id, err)
	}
	delete(w.pinned, id)
	delete(w.importing, id)
	return nil
}

// removeFlowsOf removes every flow of a session, in chunks.
func (w *writer) removeFlowsOf(id int64, mode removeMode) error {
	cursor := int64(0)
	for {
		rows, err := w.st.victimsOf.Query(id, cursor, evictChunk)
		if err != nil {
			return fmt.Errorf("flows of session %d: %w", id, err)
		}
		var victims []victim
		for rows.Next() {
			var v victim
			var fid int64
			if err := rows.Scan(&fid, &v.stored); err != nil {
				rows.Close()
				return fmt.Errorf("flows of session %d: %w", id, err)
			}
			v.id = flow.ID(fid)
			victims = append(victims, v)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("flows of session %d: %w", id, err)
		}
		if len(victims) == 0 {
			return nil
		}
		cursor = int64(victims[len(victims)-1].id)
		if _, err := w.remove(victims, mode); err != nil {
			return err
		}
	}
}

// sessionExists reports whether a listed (not importing) session exists,
// on the write connection.
func (w *writer) sessionExists(id int64) (bool, error) {
	var n int
	err := w.conn.QueryRowContext(context.Background(), "SELECT count(*) FROM sessions WHERE id = ? AND importing = 0", id).Scan(&n)
	return n > 0, err
}

// Sessions lists the capture's sessions, oldest first; imports in progress
// are not listed.
func (s *Store) Sessions() ([]store.Session, error) {
	rows, err := s.rd.sessions.Query()
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	rec := s.recording.Load()
	var out []store.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		ss.Recording = int64(ss.ID) == rec
		out = append(out, ss)
	}
	return out, rows.Err()
}

// sessionCols are the columns scanSession reads.
const sessionCols = `id, name, created, pinned, flows, bytes`

func scanSession(sc scanner) (store.Session, error) {
	var ss store.Session
	var id, created int64
	if err := sc.Scan(&id, &ss.Name, &created, &ss.Pinned, &ss.Flows, &ss.Bytes); err != nil {
		return ss, err
	}
	ss.ID, ss.Created = flow.SessionID(id), time.Unix(0, created)
	return ss, nil
}

// session reads one listed session.
func (s *Store) session(id flow.SessionID) (store.Session, error) {
	ss, err := scanSession(s.rd.session.QueryRow(int64(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return ss, fmt.Errorf("session %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("session %d: %w", id, err)
	}
	ss.Recording = int64(id) == s.recording.Load()
	return ss, nil
}

// RecordingSession is the session new flows are written into.
func (s *Store) RecordingSession() flow.SessionID { return flow.SessionID(s.recording.Load()) }

// NewSession starts a session and makes it the recording one. The queue is
// written first, so flows recorded before the call are in the previous
// session; flows in progress finish there.
func (s *Store) NewSession(name string) (store.Session, error) {
	now := time.Now()
	name, err := store.SessionName(name, now)
	if err != nil {
		return store.Session{}, err
	}
	var id int64
	err = s.w.do(func() error {
		w := s.w
		if err := w.conn.QueryRowContext(context.Background(), "INSERT INTO sessions (name, created) VALUES (?, ?) RETURNING id",
			name, now.UnixNano()).Scan(&id); err != nil {
			return fmt.Errorf("new session: %w", err)
		}
		w.session = id
		s.recording.Store(id)
		return nil
	})
	if err != nil {
		return store.Session{}, err
	}
	return s.session(flow.SessionID(id))
}

// UpdateSession renames or pins a session: retention never evicts the
// flows of a pinned session.
func (s *Store) UpdateSession(id flow.SessionID, p store.SessionPatch) (store.Session, error) {
	var name string
	if p.Name != nil {
		n, err := store.Rename(*p.Name)
		if err != nil {
			return store.Session{}, err
		}
		name = n
	}
	err := s.w.do(func() error {
		w := s.w
		ok, err := w.sessionExists(int64(id))
		if err != nil {
			return fmt.Errorf("session %d: %w", id, err)
		}
		if !ok {
			return fmt.Errorf("session %d: %w", id, store.ErrNotFound)
		}
		ctx := context.Background()
		if p.Name != nil {
			if _, err := w.conn.ExecContext(ctx, "UPDATE sessions SET name = ? WHERE id = ?", name, int64(id)); err != nil {
				return fmt.Errorf("rename session %d: %w", id, err)
			}
		}
		if p.Pinned != nil {
			if _, err := w.conn.ExecContext(ctx, "UPDATE sessions SET pinned = ? WHERE id = ?", *p.Pinned, int64(id)); err != nil {
				return fmt.Errorf("pin session %d: %w", id, err)
			}
			if *p.Pinned {
				w.pinned[int64(id)] = true
			} else {
				delete(w.pinned, int64(id))
			}
		}
		return nil
	})
	if err != nil {
		return store.Session{}, err
	}
	return s.session(id)
}

// SetPinned pins (true) or unpins a session: retention never evicts the
// flows of a pinned session.
func (s *Store) SetPinned(session int64, pinned bool) error {
	_, err := s.UpdateSession(flow.SessionID(session), store.SessionPatch{Pinned: &pinned})
	return err
}

// DeleteSession removes a session with its flows, bodies and messages
// (announced as removals, not counted as evictions). The recording session
// cannot be deleted.
func (s *Store) DeleteSession(id flow.SessionID) error {
	return s.w.do(func() error {
		w := s.w
		if int64(id) == w.session {
			return fmt.Errorf("delete session %d: %w", id, store.ErrRecording)
		}
		ok, err := w.sessionExists(int64(id))
		if err != nil {
			return fmt.Errorf("session %d: %w", id, err)
		}
		if !ok {
			return fmt.Errorf("session %d: %w", id, store.ErrNotFound)
		}
		return w.dropSession(int64(id), removeDelete)
	})
}

// ClearSession removes the flows of one session and keeps the session.
// Flows of it in progress stop recording.
func (s *Store) ClearSession(id flow.SessionID) error {
	return s.w.do(func() error {
		w := s.w
		ok, err := w.sessionExists(int64(id))
		if err != nil {
			return fmt.Errorf("session %d: %w", id, err)
		}
		if !ok {
			return fmt.Errorf("session %d: %w", id, store.ErrNotFound)
		}
		if int64(id) == w.session {
			// Flows of the recording session not yet written would land
			// in it after the clear: they stop too.
			for _, h := range w.live {
				if !h.w.written {
					w.forget(h)
				}
			}
		}
		return w.removeFlowsOf(int64(id), removeDelete)
	})
}
