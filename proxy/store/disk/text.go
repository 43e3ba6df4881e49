package disk

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Two full-text indexes (FTS5, trigram tokenizer, case-sensitive over text
// lower-cased as query.Lower does) hold, per flow: flow_url its URL, from
// the flow's first write; flow_text, once the flow ended, its headers and
// the first Config.TextMax bytes of its decoded request and response bodies
// (each row is written once: replacing rows in FTS5 leaves tombstones that
// cost more than the insert). Because the text is lower-cased the way the
// filter lower-cases it, and the trigram tokenizer keeps every character, a
// phrase of three characters or more matches exactly where the filter's
// substring test does. flows.text_state says how much of a flow is there:
const (
	textNone    = 0 // not indexed yet (the URL only)
	textFull    = 1 // headers and every body whole
	textPartial = 2 // headers, and bodies only in part (longer than TextMax)
)

// textBatch is how many flows one indexing step reads and indexes, in one
// transaction after a batch of the recording; textStepBytes bounds the text
// of one step, so that a step keeps the writer from its recording and its
// commands (Flush, Delete) for a short time only.
const (
	textBatch     = 256
	textStepBytes = 256 << 10
)

// indexable is text as the full-text indexes take it: lower-cased as
// query.Lower does, valid UTF-8, each run of invalid bytes replaced by
// U+FFFD. A substring of valid UTF-8 in the original is still a substring of
// the result (UTF-8 resynchronises at every character boundary), so the
// index finds everything the exact test accepts; a needle holding U+FFFD is
// never answered from the index alone.
func indexable(s string) string {
	return strings.ToValidUTF8(query.Lower(s), "\uFFFD")
}

// urlText is a URL as flow_url holds it.
func urlText(u string) string { return indexable(u) }

// indexText indexes the headers and body text of up to textBatch ended
// flows whose text is not indexed yet, newest first, and reports whether
// more are waiting. It runs on the writer after a batch, reading committed
// rows through the read pool; only the writer deletes flows, so none
// disappears in between. A failure leaves the flows unindexed (searched
// by scanning), never wrong.
func (w *writer) indexText() (more bool) {
	s := w.s
	ctx := context.Background()
	rows, err := w.conn.QueryContext(ctx, `SELECT id FROM flows
		WHERE text_state != 1 AND text_state = 0 AND state != 'pending' ORDER BY id DESC LIMIT ?`, textBatch)
	if err != nil {
		w.warn("capture: text index", "err", err)
		return false
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			w.warn("capture: text index", "err", err)
			return false
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil || len(ids) == 0 {
		return false
	}
	type doc struct {
		id            int64
		headers, body string
		state         int
	}
	docs := make([]doc, 0, len(ids))
	size := 0
	for _, id := range ids {
		if size >= textStepBytes || s.q.len() > 0 {
			more = true // recording is waiting, or the step is full: go on later
			break
		}
		f, err := s.get(ctx, flow.ID(id))
		if err != nil {
			continue
		}
		d := doc{id: id, headers: headerText(f), state: textFull}
		var body strings.Builder
		for _, facet := range []flow.Facet{flow.FacetRequest, flow.FacetResponse} {
			whole := s.bodyText(f, facet, &body)
			if !whole {
				d.state = textPartial
			}
		}
		d.body = body.String()
		size += len(d.headers) + len(d.body)
		docs = append(docs, d)
	}
	// Oldest first: FTS5 keeps a transaction's postings in memory only while
	// rowids increase, and flushes a segment of its own for each insert
	// otherwise (then merges them all: several times the whole cost).
	slices.Reverse(docs)
	err = w.tx(func(ctx context.Context) error {
		for _, d := range docs {
			if _, err := w.st.indexText.ExecContext(ctx, d.id, d.headers, d.body); err != nil {
				return fmt.Errorf("flow %d: %w", d.id, err)
			}
			if _, err := w.conn.ExecContext(ctx, "UPDATE flows SET text_state = ? WHERE id = ?", d.state, d.id); err != nil {
				return fmt.Errorf("flow %d: %w", d.id, err)
			}
		}
		return nil
	})
	if err != nil {
		w.warn("capture: text index", "err", err)
		return false
	}
	return more || len(ids) == textBatch
}

// headerText is the request's and the response's header lines.
func headerText(f *flow.Flow) string {
	var b strings.Builder
	for _, fs := range []flow.Fields{f.Request.Header, responseHeader(f)} {
		for _, h := range fs {
			b.WriteString(h.Name)
			b.WriteString(": ")
			b.WriteString(h.Value)
			b.WriteByte('\n')
		}
	}
	return indexable(b.String())
}

func responseHeader(f *flow.Flow) flow.Fields {
	if f.Response == nil {
		return nil
	}
	return f.Response.Header
}

// bodyText appends the first TextMax decoded bytes of one body to b and
// reports whether that is the whole of what a body: term would search
// (nothing captured, or a body that cannot be decoded, counts as whole: the
// term does not match it either).
func (s *Store) bodyText(f *flow.Flow, facet flow.Facet, b *strings.Builder) bool {
	facts := f.RequestBody
	if facet == flow.FacetResponse {
		facts = f.ResponseBody
	}
	if facts.Captured == 0 {
		return true
	}
	rc, _, err := s.DecodedBody(f.ID, facet)
	if err != nil {
		return true
	}
	defer rc.Close()
	max := s.cfg.TextMax
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	whole := int64(len(data)) <= max
	if !whole {
		data = data[:max]
	}
	_ = err // bytes before a decoding error are what the term would search, too
	if b.Len() > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(indexable(string(data)))
	return whole
}
