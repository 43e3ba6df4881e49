package disk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
)

// Import adds finished flows (read from a HAR file) to the recording
// session: each gets a new ID and Imported set. It is all or nothing: a
// flow that cannot be stored (a failed segment write included) leaves the
// capture unchanged. It is NewImport with every flow at once.
func (s *Store) Import(rs []flow.Recorded) ([]flow.ID, error) {
	if len(rs) > s.cfg.MaxFlows {
		return nil, fmt.Errorf("import %d flows: more than the %d the capture keeps", len(rs), s.cfg.MaxFlows)
	}
	for i := range rs {
		if err := checkImported(i, &rs[i]); err != nil {
			return nil, err
		}
	}
	im, err := s.NewImport(store.ImportTarget{Session: s.RecordingSession()})
	if err != nil {
		return nil, err
	}
	for i := range rs {
		if err := im.Add(&rs[i]); err != nil {
			im.Abort()
			return nil, err
		}
	}
	_, ids, err := im.Commit()
	return ids, err
}

// checkImported refuses a flow that cannot be stored.
func checkImported(i int, r *flow.Recorded) error {
	if r.Flow.Request.Method == "" || r.Flow.Request.URL == "" {
		return fmt.Errorf("import flow %d: request method and URL are required", i)
	}
	for facet := range r.Bodies {
		if facetIndex(facet) < 0 {
			return fmt.Errorf("import flow %d: unknown body facet %q", i, facet)
		}
	}
	return nil
}

// Capacity is the most the capture holds: Config.MaxFlows flows and
// Config.MaxBytes bytes.
func (s *Store) Capacity() (int, int64) { return s.cfg.MaxFlows, s.cfg.MaxBytes }

// Import chunks: the flows one transaction writes. A chunk is small enough
// that recording goes on between two (the writer takes its queue first),
// large enough that a big import is not a transaction per flow.
const (
	importChunkFlows = 256
	importChunkBytes = 8 << 20
)

// NewImport starts a streamed import into a hidden session: flows are
// written in chunks as they come (each chunk one transaction, between the
// batches of recorded traffic), kept from retention, and become visible
// only at Commit, when the session is shown (or, for an import into an
// existing session, its flows move there). A failed or aborted import
// drops the hidden session with everything written for it, and so does the
// next Open after a crash. An import larger than the capture's MaxFlows or
// MaxBytes fails as soon as it is known to be (ErrImportTooLarge).
func (s *Store) NewImport(t store.ImportTarget) (store.Importer, error) {
	if t.Size > s.cfg.MaxBytes {
		return nil, fmt.Errorf("import of %s: %w (%s)", store.FormatSize(t.Size), store.ErrImportTooLarge, store.FormatSize(s.cfg.MaxBytes))
	}
	now := time.Now()
	name, err := store.SessionName(t.Name, now)
	if err != nil {
		return nil, err
	}
	im := &importer{s: s, t: t}
	// Lists hide the import's flows from before its first chunk is written
	// until its session is shown or dropped.
	s.importsOpen.Add(1)
	err = s.w.do(func() error {
		w := s.w
		if t.Session != 0 {
			ok, err := w.sessionExists(int64(t.Session))
			if err != nil {
				return fmt.Errorf("import: session %d: %w", t.Session, err)
			}
			if !ok {
				return fmt.Errorf("import into session %d: %w", t.Session, store.ErrNotFound)
			}
		}
		if err := w.conn.QueryRowContext(context.Background(),
			"INSERT INTO sessions (name, created, importing) VALUES (?, ?, 1) RETURNING id",
			name, now.UnixNano()).Scan(&im.staging); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		w.importing[im.staging] = true
		return nil
	})
	if err != nil {
		s.importsOpen.Add(-1)
		return nil, err
	}
	return im, nil
}

// importer is the durable capture's store.Importer. Its fields belong to
// the caller's goroutine; the writer reads a chunk while the caller waits.
type importer struct {
	s       *Store
	t       store.ImportTarget
	staging int64 // the hidden session the flows are written into

	chunk      []*flow.Recorded
	chunkBytes int64
	flows      int
	bytes      int64 // bytes kept of bodies and messages, for MaxBytes
	ids        []flow.ID
	idmap      store.IDMap
	err        error
	done       bool
}

func (im *importer) Flows() int { return im.flows }

// fail ends the import with err, dropping what was written.
func (im *importer) fail(err error) error {
	if im.err == nil {
		im.err = err
	}
	if !im.done {
		im.done = true
		im.chunk = nil
		if derr := im.s.w.do(func() error { return im.s.w.dropSession(im.staging, removeQuiet) }); derr != nil && !errors.Is(derr, ErrClosed) {
			im.s.log.Warn("capture: drop a failed import", "session", im.staging, "err", derr)
		}
		im.s.importsOpen.Add(-1)
	}
	return im.err
}

func (im *importer) Abort() {
	if !im.done {
		im.fail(errors.New("import aborted"))
	}
}

// Add queues one flow and writes the chunk once it is full. r is kept
// until its chunk is written: the caller must not change it meanwhile.
func (im *importer) Add(r *flow.Recorded) error {
	if im.err != nil {
		return im.err
	}
	if im.done {
		return errors.New("import: already committed")
	}
	cfg := &im.s.cfg
	i := im.flows
	if err := checkImported(i, r); err != nil {
		return im.fail(err)
	}
	if i >= cfg.MaxFlows {
		return im.fail(fmt.Errorf("import flow %d: %w (%d flows)", i, store.ErrImportTooLarge, cfg.MaxFlows))
	}
	var n int64
	for _, data := range r.Bodies {
		n += min(int64(len(data)), cfg.BodyCap)
	}
	for _, m := range r.Flow.WebSocket {
		n += min(int64(len(m.Data)), cfg.BodyCap)
	}
	if im.bytes+n > cfg.MaxBytes {
		return im.fail(fmt.Errorf("import flow %d: %w (%s)", i, store.ErrImportTooLarge, store.FormatSize(cfg.MaxBytes)))
	}
	im.flows++
	im.bytes += n
	im.chunk = append(im.chunk, r)
	im.chunkBytes += n
	if len(im.chunk) >= importChunkFlows || im.chunkBytes >= importChunkBytes {
		return im.flush()
	}
	return nil
}

// flush writes the queued chunk in one transaction.
func (im *importer) flush() error {
	if len(im.chunk) == 0 {
		return nil
	}
	chunk := im.chunk
	err := im.s.w.do(func() error { return im.s.w.importChunk(im, chunk) })
	clear(im.chunk)
	im.chunk, im.chunkBytes = im.chunk[:0], 0
	if err != nil {
		return im.fail(err)
	}
	return nil
}

func (im *importer) Commit() (store.Session, []flow.ID, error) {
	if im.err != nil {
		return store.Session{}, nil, im.err
	}
	if im.done {
		return store.Session{}, nil, errors.New("import: already committed")
	}
	if err := im.flush(); err != nil {
		return store.Session{}, nil, err
	}
	s := im.s
	target := im.staging
	if im.t.Session != 0 {
		target = int64(im.t.Session)
	}
	err := s.w.do(func() error { return s.w.commitImport(im.staging, target) })
	if err != nil {
		return store.Session{}, nil, im.fail(err)
	}
	im.done = true
	s.importsOpen.Add(-1)
	s.feed.PublishMany(im.ids)
	sess, err := s.session(flow.SessionID(target))
	return sess, im.ids, err
}

// importChunk writes a chunk of imported flows into the import's hidden
// session, in one transaction, and applies retention (which never touches
// the hidden session).
func (w *writer) importChunk(im *importer, chunk []*flow.Recorded) error {
	s := w.s
	var ids []flow.ID
	var dBytes int64
	err := w.tx(func(ctx context.Context) error {
		for k, r := range chunk {
			id := flow.ID(s.nextID.Add(1))
			ids = append(ids, id)
			stored, err := w.importFlow(ctx, id, im.staging, im, r)
			if err != nil {
				return fmt.Errorf("import flow %d: %w", len(im.ids)+k, err)
			}
			dBytes += stored
		}
		if _, err := w.st.updSession.ExecContext(ctx, im.staging, len(chunk), dBytes); err != nil {
			return fmt.Errorf("import: update session: %w", err)
		}
		if _, err := w.st.setLastID.ExecContext(ctx, int64(ids[len(ids)-1])); err != nil {
			return fmt.Errorf("import: update last id: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	im.ids = append(im.ids, ids...)
	s.c.staged.Add(int64(len(chunk)))
	w.flows += int64(len(chunk))
	w.bytes += dBytes
	s.c.flows.Store(w.flows)
	s.c.bytes.Store(w.bytes)
	w.retain(false)
	return nil
}

// commitImport shows an import's hidden session, or moves its flows into
// the existing target session and drops it, in one transaction.
func (w *writer) commitImport(staging, target int64) error {
	var staged int64
	err := w.tx(func(ctx context.Context) error {
		if err := w.conn.QueryRowContext(ctx, "SELECT flows FROM sessions WHERE id = ?", staging).Scan(&staged); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if target == staging {
			_, err := w.conn.ExecContext(ctx, "UPDATE sessions SET importing = 0 WHERE id = ?", staging)
			return err
		}
		var ok int
		if err := w.conn.QueryRowContext(ctx, "SELECT count(*) FROM sessions WHERE id = ? AND importing = 0", target).Scan(&ok); err != nil {
			return err
		}
		if ok == 0 {
			return fmt.Errorf("import into session %d: %w", target, store.ErrNotFound)
		}
		for _, q := range []string{
			"UPDATE flows SET session = ?2 WHERE session = ?1",
			`UPDATE sessions SET flows = flows + (SELECT flows FROM sessions WHERE id = ?1),
				bytes = bytes + (SELECT bytes FROM sessions WHERE id = ?1) WHERE id = ?2`,
			"DELETE FROM sessions WHERE id = ?1",
		} {
			if _, err := w.conn.ExecContext(ctx, q, staging, target); err != nil {
				return fmt.Errorf("import: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	delete(w.importing, staging)
	w.s.c.staged.Add(-staged)
	return nil
}

// importFlow writes one imported flow into session and returns the bytes
// it stores.
func (w *writer) importFlow(ctx context.Context, id flow.ID, session int64, im *importer, r *flow.Recorded) (int64, error) {
	cfg := &w.s.cfg
	f := r.Flow.Clone()
	if im.t.Verbatim {
		im.idmap.Add(f.ID, id)
		f.ReplayOf = im.idmap.Lookup(f.ReplayOf)
		f.ComposedFrom = im.idmap.Lookup(f.ComposedFrom)
		store.VerbatimState(f)
	} else {
		f.Imported = true
		if f.State == "" || f.State == flow.StatePending {
			f.State = flow.StateDone
		}
	}
	f.ID = id
	f.Session = flow.SessionID(session)
	store.CleanAnnotation(f)
	normalizeTimes(f)
	msgs := f.WebSocket
	f.WebSocket = nil
	var stored int64
	for i, facet := range facets {
		data, ok := r.Bodies[facet]
		b := bodyFacts(f, i)
		if b == nil {
			if !ok {
				continue
			}
			f.UpstreamBody = &flow.Body{}
			b = f.UpstreamBody
		}
		// As the memory store does: the facts describe what was imported.
		decl := *b
		*b = flow.Body{Encoding: decl.Encoding, ContentType: decl.ContentType, Complete: true}
		switch {
		case im.t.Verbatim:
			b.Size, b.Truncated, b.Complete = decl.Size, decl.Truncated, decl.Complete
		case f.Kind != flow.KindHTTP:
			b.Size = decl.Size // a tunnel's sizes count bytes that were never captured
		}
		if !ok {
			continue
		}
		keep := data[:min(int64(len(data)), cfg.BodyCap)]
		if len(keep) > 0 {
			if err := w.storeWhole(ctx, id, i, keep); err != nil {
				return 0, err
			}
		}
		b.Size = max(int64(len(data)), decl.Size)
		b.Captured = int64(len(keep))
		b.Truncated = decl.Truncated || len(keep) < len(data)
		stored += b.Captured
	}
	for seq, m := range msgs {
		if int64(len(m.Data)) > cfg.BodyCap {
			m.Data = m.Data[:cfg.BodyCap]
			m.Truncated = true
		}
		n, err := w.storeMessage(ctx, id, seq, &m)
		if err != nil {
			return 0, err
		}
		stored += n
	}
	for seq, rule := range f.Rules {
		if _, err := w.st.insertRule.ExecContext(ctx, int64(id), seq, rule, ""); err != nil {
			return 0, fmt.Errorf("rule hit: %w", err)
		}
	}
	head, shared, err := encodeHead(f)
	if err != nil {
		return 0, err
	}
	stored += int64(len(head))
	sum := f.Summary()
	sum.Rules = slices.Clone(sum.Rules)
	if err := w.upsert(ctx, session, f, &sum, shared, stored, head, textNone); err != nil {
		return 0, err
	}
	if _, err := w.st.insertURL.ExecContext(ctx, int64(id), urlText(f.Request.URL)); err != nil {
		return 0, fmt.Errorf("text: %w", err)
	}
	return stored, nil
}

// storeWhole writes a complete body as one part: inline when it is small,
// else in a segment. A failed segment write is an error (the import is
// then rolled back).
func (w *writer) storeWhole(ctx context.Context, id flow.ID, facet int, data []byte) error {
	if int64(len(data)) <= w.s.cfg.InlineMax {
		_, err := w.st.insertPart.ExecContext(ctx, int64(id), facet, 0, data, nil, 0, len(data))
		return err
	}
	seg, off, err := w.segs.append(data)
	if err != nil {
		return err
	}
	_, err = w.st.insertPart.ExecContext(ctx, int64(id), facet, 0, nil, seg, off, len(data))
	return err
}

// storeMessage writes one imported message; a failed segment write is an
// error.
func (w *writer) storeMessage(ctx context.Context, id flow.ID, seq int, m *flow.WSMessage) (int64, error) {
	data := m.Data
	n := int64(len(data))
	var seg any
	var off int64
	if n > w.s.cfg.InlineMax {
		id, o, err := w.segs.append(data)
		if err != nil {
			return 0, err
		}
		seg, off, data = id, o, nil
	}
	if data == nil && seg == nil {
		data = []byte{}
	}
	size := max(m.Size, len(m.Data))
	if _, err := w.st.insertWS.ExecContext(ctx, int64(id), seq, string(m.Direction), m.Time.UnixNano(),
		m.Opcode, size, m.Truncated, data, seg, off, n); err != nil {
		return 0, fmt.Errorf("message: %w", err)
	}
	return n, nil
}
