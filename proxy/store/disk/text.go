package disk

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Two full-text indexes (FTS5, trigram tokenizer, case-sensitive over text
// lower-cased as query.Lower does) hold, per flow: flow_url its URL, from
// the flow's first write; flow_text, once the flow ended, the first
// Config.TextMax bytes of its decoded request and response bodies, in its
// body column (each row is written once: replacing rows in FTS5 leaves
// tombstones that cost more than the insert). Its headers column is left
// empty: no term searches headers, and their trigrams would cost about as
// much again as a small flow's body (captures written before hold them;
// nothing reads them). The writer indexes a flow's text with its final row
// when the batch holds all of it (textFromBatch: most small flows), and the
// others later, when it is idle (indexText). Because the text is
// lower-cased the way the filter lower-cases it, and the trigram tokenizer
// keeps every character, a phrase of three characters or more matches
// exactly where the filter's substring test does. flows.text_state says
// how much of a flow is there:
const (
	textNone    = 0 // not indexed yet (the URL only)
	textFull    = 1 // every body whole
	textPartial = 2 // bodies only in part (longer than TextMax, or binary: see textLike)
)

// textLike says whether a body of this Content-Type is worth its trigrams:
// text, JSON, XML, scripts, forms, and bodies whose type is not given.
// Binary bodies (images, media, archives, octet streams, protobuf) are
// left out of the index: 64 KiB of trigrams cost the writer about half a
// millisecond per body, for text nobody searches. Their flows are marked
// partial, so a body: term still checks them, by the bounded scan.
func textLike(contentType string) bool {
	ct := query.Lower(contentType)
	if ct == "" || strings.HasPrefix(ct, "text/") {
		return true
	}
	for _, kind := range []string{"json", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "graphql",
		"yaml", "csv", "html", "multipart/form-data", "x-ndjson", "event-stream", "sql", "toml"} {
		if strings.Contains(ct, kind) {
			return true
		}
	}
	return false
}

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

// textWaitingQuery selects the newest flows waiting for the text index,
// from their own index: the planner, left to itself, may scan another one
// (its statistics come from PRAGMA optimize on whatever the capture held).
const textWaitingQuery = `SELECT id FROM flows INDEXED BY flows_text_waiting
	WHERE text_state = 0 AND state != 'pending' ORDER BY id DESC LIMIT ?`

// indexText indexes the body text of up to textBatch ended flows whose
// text is not indexed yet, newest first, and reports whether more are
// waiting. It runs on the writer after a batch, reading committed
// rows through the read pool; only the writer deletes flows, so none
// disappears in between. A failure leaves the flows unindexed (searched
// by scanning), never wrong.
func (w *writer) indexText() (more bool) {
	s := w.s
	ctx := context.Background()
	rows, err := w.st.textWaiting.QueryContext(ctx, textBatch)
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
	docs := make([]textDoc, 0, len(ids))
	size := 0
	// One read transaction for the whole step.
	rtx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		w.warn("capture: text index", "err", err)
		return false
	}
	head, parts := rtx.StmtContext(ctx, s.rd.head), rtx.StmtContext(ctx, s.rd.parts)
	for _, id := range ids {
		if size >= textStepBytes || s.q.len() > 0 {
			more = true // recording is waiting, or the step is full: go on later
			break
		}
		r, err := scanFlowHead(head.QueryRowContext(ctx, id))
		var f *flow.Flow
		if err == nil {
			f, err = r.decode()
		}
		if err != nil {
			// Left unindexed, the flow would be picked again at every idle
			// moment: it is marked partial (searched by the bounded scan).
			w.warn("capture: text index", "flow", id, "err", err)
			docs = append(docs, textDoc{id: id, state: textPartial})
			continue
		}
		d := textDoc{id: id, state: textFull}
		var body strings.Builder
		for i := range 2 {
			if !s.storedText(ctx, parts, f, i, &body) {
				d.state = textPartial
			}
		}
		d.body = body.String()
		size += len(d.body)
		docs = append(docs, d)
	}
	rtx.Rollback()
	// Oldest first (see indexBatch).
	slices.Reverse(docs)
	err = w.tx(func(ctx context.Context) error {
		for _, d := range docs {
			if _, err := w.st.indexText.ExecContext(ctx, d.id, d.body); err != nil {
				return fmt.Errorf("flow %d: %w", d.id, err)
			}
			if _, err := w.st.setTextState.ExecContext(ctx, d.id, d.state); err != nil {
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

// textDoc is a flow's row of a full-text index: url for flow_url, or body
// (with the text_state it makes) for flow_text.
type textDoc struct {
	id    int64
	url   string
	body  string
	state int
}

// textFromBatch is the flow_text row of a flow whose final row the batch
// writes, when the batch holds all of its text: every byte of its request
// and response bodies was queued before it ended and stored inline by this
// batch (most small flows). Then the text is indexed from the bytes in
// hand, in the batch's transaction, rather than read back from the
// database later; the text is the same either way (storedText).
func (w *writer) textFromBatch(h *handle, f *flow.Flow, sn *snap) (textDoc, bool) {
	d := textDoc{id: int64(h.id), state: textFull}
	var body strings.Builder
	for i := range h.b.inline {
		facts := bodyFacts(f, i)
		if h.w.facets[i].written < sn.facets[i].accepted {
			return textDoc{}, false // bytes still queued for a later batch
		}
		if facts.Captured == 0 {
			continue // as storedText: nothing to search
		}
		if !textLike(facts.ContentType) {
			d.state = textPartial // as storedText
			continue
		}
		raw := h.b.inline[i]
		if int64(len(raw)) != facts.Captured {
			return textDoc{}, false // part of it was stored by an earlier batch
		}
		if !w.s.appendText(io.NopCloser(bytes.NewReader(raw)), facts.Encoding, &body) {
			d.state = textPartial
		}
	}
	d.body = body.String()
	return d, true
}

// indexBatch writes the batch's rows of the full-text indexes, oldest flow
// first: FTS5 keeps a transaction's postings in memory only while rowids
// increase, and flushes a segment of its own for each insert otherwise
// (then merges them all: several times the whole cost). Flows reach the
// batch in the order of their events, not of their IDs.
func (w *writer) indexBatch(ctx context.Context) error {
	byID := func(a, b textDoc) int { return cmp.Compare(a.id, b.id) }
	slices.SortFunc(w.urls, byID)
	for _, d := range w.urls {
		if _, err := w.st.insertURL.ExecContext(ctx, d.id, d.url); err != nil {
			return fmt.Errorf("flow %d text: %w", d.id, err)
		}
	}
	slices.SortFunc(w.texts, byID)
	for _, d := range w.texts {
		if _, err := w.st.indexText.ExecContext(ctx, d.id, d.body); err != nil {
			return fmt.Errorf("flow %d text: %w", d.id, err)
		}
	}
	clear(w.texts) // drop the text
	return nil
}

// storedText appends the first TextMax decoded bytes of body facet i of f
// (0: request, 1: response), read with parts (the read statement of its
// parts), to b and reports whether that is the whole of what a body: term
// would search (nothing captured, or a body that cannot be read or decoded,
// counts as whole: the term does not match it either).
func (s *Store) storedText(ctx context.Context, parts *sql.Stmt, f *flow.Flow, i int, b *strings.Builder) bool {
	facts := bodyFacts(f, i)
	if facts.Captured == 0 {
		return true
	}
	if !textLike(facts.ContentType) {
		return false
	}
	raw, err := s.openParts(ctx, parts, f.ID, i)
	if err != nil {
		return true
	}
	return s.appendText(raw, facts.Encoding, b)
}

// appendText appends to b the first TextMax bytes of a body decoded from
// raw (its captured bytes, with its content encoding) and reports whether
// that is all of it; a body that cannot be decoded counts as whole, as in
// storedText. It closes raw.
func (s *Store) appendText(raw io.ReadCloser, encoding string, b *strings.Builder) bool {
	rc, err := codec.Decode(raw, encoding)
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
