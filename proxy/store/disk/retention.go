package disk

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"loupe/proxy/flow"
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
	ids := make([]int64, 0, len(w.pinned))
	for id := range w.pinned {
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
		if len(w.pinned) > 0 {
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

// clearUnpinned removes the flows of unpinned sessions in chunks.
func (w *writer) clearUnpinned() error {
	if !w.pinned[w.s.session] {
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

// Session describes one recording session of the capture.
type Session struct {
	ID      int64
	Name    string
	Created time.Time
	Pinned  bool
	Flows   int64
	Bytes   int64
}

// Sessions lists the capture's sessions, oldest first; the last one is
// this run's.
func (s *Store) Sessions() ([]Session, error) {
	rows, err := s.rd.sessions.Query()
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var ss Session
		var created int64
		if err := rows.Scan(&ss.ID, &ss.Name, &created, &ss.Pinned, &ss.Flows, &ss.Bytes); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		ss.Created = time.Unix(0, created)
		out = append(out, ss)
	}
	return out, rows.Err()
}

// SetPinned pins (true) or unpins a session: retention never evicts the
// flows of a pinned session.
func (s *Store) SetPinned(session int64, pinned bool) error {
	return s.w.do(func() error {
		w := s.w
		res, err := w.conn.ExecContext(context.Background(), "UPDATE sessions SET pinned = ? WHERE id = ?", pinned, session)
		if err != nil {
			return fmt.Errorf("pin session %d: %w", session, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("pin session %d: no such session", session)
		}
		if pinned {
			w.pinned[session] = true
		} else {
			delete(w.pinned, session)
		}
		return nil
	})
}
