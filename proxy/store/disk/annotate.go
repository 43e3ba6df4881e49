package disk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"loupe/proxy/flow"
	"loupe/proxy/store"
)

// Annotate applies p to the annotation of flow id and returns its new
// summary. It runs on the writer, after what is queued: the row's columns
// hold the annotation, and a flow in progress also carries it in its
// handle, so that the writer's later upserts of the flow keep it.
func (s *Store) Annotate(id flow.ID, p flow.AnnotationPatch) (flow.Summary, error) {
	if err := p.Validate(); err != nil {
		return flow.Summary{}, err
	}
	var (
		sum     flow.Summary
		written bool
	)
	err := s.w.do(func() error {
		var err error
		sum, written, err = s.w.annotate(id, p)
		return err
	})
	if err != nil {
		return flow.Summary{}, err
	}
	if written {
		s.feed.PublishUpdated(id)
	}
	return sum, nil
}

// annotate is Annotate on the writer goroutine. written reports whether
// the flow's row exists (a flow whose first write failed has none yet: its
// handle's annotation goes with its next one).
func (w *writer) annotate(id flow.ID, p flow.AnnotationPatch) (sum flow.Summary, written bool, err error) {
	ctx := context.Background()
	var cur flow.Annotation
	var color string
	err = w.conn.QueryRowContext(ctx, `SELECT `+noteCols+` FROM flows WHERE id = ?`, int64(id)).
		Scan(&cur.Marked, &color, &cur.Comment)
	cur.Color = flow.Color(color)
	written = err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sum, false, fmt.Errorf("annotate flow %d: %w", id, err)
	}
	h := w.live[id]
	if h != nil {
		h.mu.Lock()
		if h.gone {
			h.mu.Unlock()
			h = nil
		} else {
			cur = h.f.Annotation.Value()
		}
	}
	if h == nil && !written {
		return sum, false, fmt.Errorf("annotate flow %d: %w", id, store.ErrNotFound)
	}
	next := p.Apply(cur)
	if h != nil {
		// Replaced whole: snapshots taken before share the old one.
		h.f.Annotation = next.Ptr()
		if !written {
			h.markDirtyLocked()
			sum = h.f.Summary()
			sum.Rules = slices.Clone(sum.Rules)
		}
		h.mu.Unlock()
	}
	if !written {
		return sum, false, nil
	}
	err = w.tx(func(ctx context.Context) error {
		if _, err := w.conn.ExecContext(ctx, `UPDATE flows SET marked = ?, color = ?, comment = ? WHERE id = ?`,
			next.Marked, string(next.Color), next.Comment, int64(id)); err != nil {
			return err
		}
		sum, err = scanSummary(w.conn.QueryRowContext(ctx, `SELECT `+sumCols+` FROM flows WHERE id = ?`, int64(id)))
		return err
	})
	if err != nil {
		return sum, false, fmt.Errorf("annotate flow %d: %w", id, err)
	}
	// The ring holds the summary as the writer last wrote it: readers
	// now read the row until the writer puts a newer one.
	w.s.recent.remove(id)
	return sum, true, nil
}
