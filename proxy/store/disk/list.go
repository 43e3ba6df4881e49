package disk

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

// List answers one page of the flows matching q, newest first by key
// (id < page.Cursor, never OFFSET), in ascending ID order.
//
// A query without body terms or Func compiles to one exact condition: the
// page and the total come from SQL (indexes where the terms have them) and
// the answer is Complete. Otherwise the condition selects candidates and
// each is checked in Go: a bounded scan. The total then counts the matches
// among the newest Config.ScanLimit candidates (Scanned), and a page looks
// at most ScanLimit candidates below its cursor; when it stops there
// before filling, Next continues the scan where it stopped.
func (s *Store) List(q *query.Query, page query.Page) query.Result {
	limit := page.Limit
	if limit <= 0 {
		limit = math.MaxInt32
	}
	cursor := int64(math.MaxInt64)
	if page.Cursor > 0 {
		cursor = int64(page.Cursor)
	}
	c := compile(q)
	s.narrow(&c, q)
	if c.split {
		return s.listSplit(q, &c, cursor, limit)
	}
	if c.residual {
		return s.listResidual(q, &c, cursor, limit)
	}
	ctx := context.Background()
	res := query.Result{Complete: true}
	// One snapshot for the page and its count: a flow the writer commits
	// in between would otherwise be counted but not listed (or listed but
	// not counted).
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		s.log.Warn("capture: list", "err", err)
		return res
	}
	defer tx.Rollback()
	// The page's IDs first (an index can answer them without touching
	// rows), then the rows of just those.
	ids, err := s.ids(ctx, tx, &c, cursor, limit+1)
	if err != nil {
		s.log.Warn("capture: list", "err", err)
		return res
	}
	if len(ids) > limit {
		ids = ids[:limit]
		res.Next = flow.ID(ids[limit-1])
	}
	res.Flows = s.summaries(ctx, tx, ids)
	switch {
	case c.where == "":
		res.Total = int(s.c.flows.Load())
	case c.hidesImports:
		res.Total = int(s.c.flows.Load() - s.c.staged.Load())
	case c.sessionOnly != 0:
		// The writer keeps each session's count with its rows.
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT flows FROM sessions WHERE id = ?", c.sessionOnly).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
			s.log.Warn("capture: count", "err", err)
		}
		res.Total = int(n)
	default:
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM flows"+c.cond(), c.args...).Scan(&res.Total); err != nil {
			s.log.Warn("capture: count", "err", err)
		}
	}
	// The counters move just after a commit the page may already see.
	if cursor == math.MaxInt64 && res.Next == 0 {
		res.Total = max(res.Total, len(res.Flows))
	}
	return res
}

// reader is what a list reads through: the read pool, or one read
// transaction when its parts must see one snapshot.
type reader interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ids returns up to n IDs of flows matching c below cursor, newest first.
func (s *Store) ids(ctx context.Context, db reader, c *compiled, cursor int64, n int) ([]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT id FROM flows"+c.cond("id < ?")+" ORDER BY id DESC LIMIT ?",
		append(slices.Clone(c.args), cursor, n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// summaries reads the rows of ids (newest first) and returns them oldest
// first; flows removed meanwhile are left out.
func (s *Store) summaries(ctx context.Context, db reader, ids []int64) []flow.Summary {
	out := make([]flow.Summary, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		sum, err := scanSummary(db.QueryRowContext(ctx, "SELECT "+sumCols+" FROM flows WHERE id = ?", ids[i]))
		if err != nil {
			if !errors.Is(err, sql.ErrNoRows) {
				s.log.Warn("capture: list", "flow", ids[i], "err", err)
			}
			continue
		}
		out = append(out, sum)
	}
	return out
}

// listResidual is List for a query part of which only Go can decide: the
// compiled condition picks candidates, newest first, and query.Match
// checks each, within the scan bounds.
func (s *Store) listResidual(q *query.Query, c *compiled, cursor int64, limit int) query.Result {
	var res query.Result
	bound := s.cfg.ScanLimit
	// The total: matches among the newest ScanLimit candidates. When the
	// page starts at the newest flow it comes from the same scan.
	top := cursor == math.MaxInt64
	var page []flow.Summary
	scanned, last, more := s.scanCandidates(s.rdb, q, c, math.MaxInt64, bound, func(f *flow.Flow) bool {
		res.Total++
		if top && len(page) <= limit {
			page = append(page, f.Summary())
		}
		return true
	})
	res.Scanned, res.Complete = scanned, !more
	if !top {
		_, last, more = s.scanCandidates(s.rdb, q, c, cursor, bound, func(f *flow.Flow) bool {
			page = append(page, f.Summary())
			return len(page) <= limit
		})
	}
	switch {
	case len(page) > limit:
		page = page[:limit]
		res.Next = page[limit-1].ID
	case more:
		res.Next = flow.ID(last) // stopped by the bound: the next page goes on from there
	}
	for i := range page {
		page[i].Rules = slices.Clone(page[i].Rules)
	}
	slices.Reverse(page)
	res.Flows = page
	return res
}

// listSplit is List for a query whose only residual terms are body
// searches the text index answers exactly: flows whose text is wholly
// indexed (nearly all) are decided by SQL, exactly and counted; the others
// (in progress, not indexed yet, or with bodies longer than TextMax) by a
// bounded scan in Go. The page merges both, newest first.
func (s *Store) listSplit(q *query.Query, c *compiled, cursor int64, limit int) query.Result {
	ctx := context.Background()
	var res query.Result
	// One snapshot for both parts: the writer moves flows from the scanned
	// part to the indexed one as it indexes them.
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		s.log.Warn("capture: list", "err", err)
		return res
	}
	defer tx.Rollback()
	indexed := compiled{where: "text_state = 1", args: c.exactArgs}
	if c.exact != "" {
		indexed.where += " AND (" + c.exact + ")"
	}
	rest := compiled{where: "text_state != 1", args: c.args}
	if c.where != "" {
		rest.where += " AND (" + c.where + ")"
	}
	var idsA []int64
	capped := false
	if c.drive != "" {
		idsA, capped, err = s.driveIDs(ctx, tx, c, cursor, limit+1, &res.Total)
	} else {
		idsA, err = s.ids(ctx, tx, &indexed, cursor, limit+1)
		if err == nil {
			err = tx.QueryRowContext(ctx, "SELECT count(*) FROM flows"+indexed.cond(), indexed.args...).Scan(&res.Total)
		}
	}
	if err != nil {
		s.log.Warn("capture: list", "err", err)
		return res
	}
	top := cursor == math.MaxInt64
	bound := s.cfg.ScanLimit
	var pageB []flow.Summary
	scanned, last, more := s.scanCandidates(tx, q, &rest, math.MaxInt64, bound, func(f *flow.Flow) bool {
		res.Total++
		if top && len(pageB) <= limit {
			pageB = append(pageB, f.Summary())
		}
		return true
	})
	res.Scanned, res.Complete = scanned, !more && !capped
	if !top {
		_, last, more = s.scanCandidates(tx, q, &rest, cursor, bound, func(f *flow.Flow) bool {
			pageB = append(pageB, f.Summary())
			return len(pageB) <= limit
		})
	}
	if !more {
		last = 0
	}
	// Merge, newest first; B's scan may have stopped at last: nothing older
	// than last is known from it.
	byID := map[flow.ID]flow.Summary{}
	var merged []int64
	for _, sum := range pageB {
		byID[sum.ID] = sum
		merged = append(merged, int64(sum.ID))
	}
	for _, id := range idsA {
		if last == 0 || id > last {
			merged = append(merged, id)
		}
	}
	slices.SortFunc(merged, func(a, b int64) int { return int(b - a) })
	switch {
	case len(merged) > limit:
		merged = merged[:limit]
		res.Next = flow.ID(merged[limit-1])
	case last != 0:
		res.Next = flow.ID(last)
	}
	var fromA []int64
	for _, id := range merged {
		if _, ok := byID[flow.ID(id)]; !ok {
			fromA = append(fromA, id)
		}
	}
	for _, sum := range s.summaries(ctx, tx, fromA) {
		byID[sum.ID] = sum
	}
	for i := len(merged) - 1; i >= 0; i-- {
		if sum, ok := byID[flow.ID(merged[i])]; ok {
			sum.Rules = slices.Clone(sum.Rules)
			res.Flows = append(res.Flows, sum)
		}
	}
	return res
}

// countCap bounds how many matches of a body search are counted: the
// count walks the index's matches, so a word found in every flow would
// cost a walk over the whole capture. Past it the total says "at least".
const countCap = 100_000

// driveIDs pages the indexed flows of a body search from the full-text
// index itself, newest first (the index yields its matches in rowid order
// and the page stops at n), and counts them up to countCap (capped says
// the count stopped there).
func (s *Store) driveIDs(ctx context.Context, db reader, c *compiled, cursor int64, n int, total *int) (ids []int64, capped bool, err error) {
	from := ` FROM flow_text JOIN flows ON flows.id = flow_text.rowid
		WHERE flow_text MATCH ? AND flows.text_state = 1`
	if c.driveRest != "" {
		from += " AND (" + c.driveRest + ")"
	}
	args := append([]any{c.drive}, c.driveArgs...)
	rows, err := db.QueryContext(ctx, "SELECT flow_text.rowid"+from+" AND flow_text.rowid < ? ORDER BY flow_text.rowid DESC LIMIT ?",
		append(slices.Clone(args), cursor, n)...)
	if err != nil {
		return nil, false, err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, false, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, false, err
	}
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1"+from+" LIMIT ?)", append(args, countCap+1)...).Scan(total)
	if *total > countCap {
		*total, capped = countCap, true
	}
	return ids, capped, err
}

// scanCandidates visits the candidates of c with IDs below cursor, newest
// first, at most bound of them, and calls fn with each that matches q
// until fn returns false. No query is open while q or fn runs. It returns
// how many candidates it examined, the last one's ID, and whether it
// stopped before the oldest candidate.
func (s *Store) scanCandidates(db reader, q *query.Query, c *compiled, cursor int64, bound int, fn func(*flow.Flow) bool) (scanned int, last int64, more bool) {
	ctx := context.Background()
	stmt := "SELECT " + flowCols + " FROM flows" + c.cond("id < ?") + " ORDER BY id DESC LIMIT ?"
	for scanned < bound {
		n := min(scanChunk, bound-scanned)
		batch, err := s.scanQuery(ctx, db, stmt, append(slices.Clone(c.args), cursor, n)...)
		if err != nil {
			s.log.Warn("capture: scan", "err", err)
			return scanned, last, false
		}
		for _, f := range batch {
			scanned++
			last, cursor = int64(f.ID), int64(f.ID)
			if s.checkRow(q, f) && !fn(f) {
				return scanned, last, true
			}
		}
		if len(batch) < n {
			return scanned, last, false
		}
	}
	return scanned, last, true
}

// scanQuery runs a query of flowCols and decodes its rows after closing
// it.
func (s *Store) scanQuery(ctx context.Context, db reader, stmt string, args ...any) ([]*flow.Flow, error) {
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	var raw []storedHead
	for rows.Next() {
		r, err := scanFlowHead(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		raw = append(raw, r)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	out := make([]*flow.Flow, 0, len(raw))
	for i := range raw {
		f, err := raw[i].decode()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Each calls fn with every flow matching q (WebSocket messages included)
// in ascending ID order until fn returns false. The compiled condition
// selects the rows; a residual query is checked in Go. No query is open
// while q or fn runs, so fn may be slow (an export) and the writer goes on.
func (s *Store) Each(q *query.Query, fn func(*flow.Flow) bool) {
	ctx := context.Background()
	c := compile(q)
	s.narrow(&c, q)
	stmt := "SELECT " + flowCols + " FROM flows" + c.cond("id > ?") + " ORDER BY id LIMIT ?"
	cursor := int64(0)
	for {
		batch, err := s.scanQuery(ctx, s.rdb, stmt, append(slices.Clone(c.args), cursor, scanChunk)...)
		if err != nil {
			s.log.Warn("capture: each", "err", err)
			return
		}
		for _, f := range batch {
			cursor = int64(f.ID)
			if c.residual && !s.checkRow(q, f) {
				continue
			}
			if err := s.withWS(ctx, f); err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					s.log.Warn("capture: each", "flow", f.ID, "err", err)
				}
				continue
			}
			if !fn(f) {
				return
			}
		}
		if len(batch) < scanChunk {
			return
		}
	}
}

// RuleCounts returns how many stored flows each rule touched: one query
// over the index of rule hits.
func (s *Store) RuleCounts() map[string]int {
	counts := map[string]int{}
	rows, err := s.rdb.Query("SELECT rule, count(DISTINCT flow) FROM rule_hits GROUP BY rule")
	if err != nil {
		s.log.Warn("capture: rule counts", "err", err)
		return counts
	}
	defer rows.Close()
	for rows.Next() {
		var rule string
		var n int
		if err := rows.Scan(&rule, &n); err != nil {
			s.log.Warn("capture: rule counts", "err", err)
			return counts
		}
		counts[rule] = n
	}
	return counts
}
