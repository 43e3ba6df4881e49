package disk

import (
	"context"
	"fmt"
	"slices"

	"loupe/proxy/flow"
)

// Import adds finished flows (read from a HAR file) to this run's session:
// each gets a new ID and Imported set. It is all or nothing: one
// transaction, and a flow that cannot be stored (a failed segment write
// included) leaves the capture unchanged.
func (s *Store) Import(rs []flow.Recorded) ([]flow.ID, error) {
	if len(rs) > s.cfg.MaxFlows {
		return nil, fmt.Errorf("import %d flows: more than the %d the capture keeps", len(rs), s.cfg.MaxFlows)
	}
	for i := range rs {
		if rs[i].Flow.Request.Method == "" || rs[i].Flow.Request.URL == "" {
			return nil, fmt.Errorf("import flow %d: request method and URL are required", i)
		}
		for facet := range rs[i].Bodies {
			if facetIndex(facet) < 0 {
				return nil, fmt.Errorf("import flow %d: unknown body facet %q", i, facet)
			}
		}
	}
	var ids []flow.ID
	err := s.w.do(func() error {
		var err error
		ids, err = s.w.importFlows(rs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// importFlows writes imported flows in one transaction and announces them
// once it is committed.
func (w *writer) importFlows(rs []flow.Recorded) ([]flow.ID, error) {
	s := w.s
	ids := make([]flow.ID, len(rs))
	sums := make([]flow.Summary, len(rs))
	var dBytes int64
	err := w.tx(func(ctx context.Context) error {
		for i := range rs {
			id := flow.ID(s.nextID.Add(1))
			ids[i] = id
			stored, sum, err := w.importFlow(ctx, id, &rs[i])
			if err != nil {
				return fmt.Errorf("import flow %d: %w", i, err)
			}
			dBytes += stored
			sums[i] = sum
		}
		if _, err := w.st.updSession.ExecContext(ctx, s.session, len(rs), dBytes); err != nil {
			return fmt.Errorf("import: update session: %w", err)
		}
		if len(ids) > 0 {
			if _, err := w.st.setLastID.ExecContext(ctx, int64(ids[len(ids)-1])); err != nil {
				return fmt.Errorf("import: update last id: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w.flows += int64(len(rs))
	w.bytes += dBytes
	s.c.flows.Store(w.flows)
	s.c.bytes.Store(w.bytes)
	for i, id := range ids {
		s.recent.put(sums[i])
		s.feed.PublishAdded(id)
	}
	w.retain(false)
	return ids, nil
}

// importFlow writes one imported flow and returns the bytes it stores.
func (w *writer) importFlow(ctx context.Context, id flow.ID, r *flow.Recorded) (int64, flow.Summary, error) {
	cfg := &w.s.cfg
	f := r.Flow.Clone()
	f.ID = id
	f.Imported = true
	normalizeTimes(f)
	if f.State == "" || f.State == flow.StatePending {
		f.State = flow.StateDone
	}
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
		declSize, declTrunc := b.Size, b.Truncated
		*b = flow.Body{Encoding: b.Encoding, ContentType: b.ContentType, Complete: true}
		if !ok {
			continue
		}
		keep := data[:min(int64(len(data)), cfg.BodyCap)]
		if len(keep) > 0 {
			if err := w.storeWhole(ctx, id, i, keep); err != nil {
				return 0, flow.Summary{}, err
			}
		}
		b.Size = max(int64(len(data)), declSize)
		b.Captured = int64(len(keep))
		b.Truncated = declTrunc || len(keep) < len(data)
		stored += b.Captured
	}
	for seq, m := range msgs {
		if int64(len(m.Data)) > cfg.BodyCap {
			m.Data = m.Data[:cfg.BodyCap]
			m.Truncated = true
		}
		n, err := w.storeMessage(ctx, id, seq, &m)
		if err != nil {
			return 0, flow.Summary{}, err
		}
		stored += n
	}
	for seq, rule := range f.Rules {
		if _, err := w.st.insertRule.ExecContext(ctx, int64(id), seq, rule, ""); err != nil {
			return 0, flow.Summary{}, fmt.Errorf("rule hit: %w", err)
		}
	}
	head, shared, err := encodeHead(f)
	if err != nil {
		return 0, flow.Summary{}, err
	}
	stored += int64(len(head))
	sum := f.Summary()
	sum.Rules = slices.Clone(sum.Rules)
	if err := w.upsert(ctx, w.s.session, f, &sum, shared, stored, head); err != nil {
		return 0, flow.Summary{}, err
	}
	if _, err := w.st.insertURL.ExecContext(ctx, int64(id), urlText(f.Request.URL)); err != nil {
		return 0, flow.Summary{}, fmt.Errorf("text: %w", err)
	}
	return stored, sum, nil
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
