package disk

import (
	"context"
	"fmt"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// eachStoredFlow decodes the flows stored so far, in chunks of ID order,
// and calls fn on each: the migrations' backfills read old rows this way,
// inside the migration's transaction.
func eachStoredFlow(ctx context.Context, conn querier, fn func(id int64, f *flow.Flow) error) error {
	const chunk = 1000
	cursor := int64(0)
	for {
		rows, err := conn.QueryContext(ctx, `SELECT `+headCols+` FROM flows WHERE id > ? ORDER BY id LIMIT ?`, cursor, chunk)
		if err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		var heads []storedHead
		for rows.Next() {
			r, err := scanHead(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("backfill: %w", err)
			}
			heads = append(heads, r)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
		if len(heads) == 0 {
			return nil
		}
		for i := range heads {
			cursor = int64(heads[i].cols.id)
			f, err := heads[i].decode()
			if err != nil {
				return fmt.Errorf("backfill: %w", err)
			}
			if err := fn(cursor, f); err != nil {
				return fmt.Errorf("backfill flow %d: %w", cursor, err)
			}
		}
	}
}

// backfillSummaryColumns fills the summary columns schema version 4 added
// (composition, breakpoint state) for the flows written before it.
func backfillSummaryColumns(ctx context.Context, conn querier) error {
	return eachStoredFlow(ctx, conn, func(id int64, f *flow.Flow) error {
		if !f.Composed && f.Breakpoint == nil {
			return nil
		}
		_, err := conn.ExecContext(ctx, "UPDATE flows SET composed = ?, composed_from = ?, breakpoint = ? WHERE id = ?",
			f.Composed, int64(f.ComposedFrom), f.Breakpoint.State(), id)
		return err
	})
}

// backfillHeaders fills q_headers of the flows written before schema
// version 5.
func backfillHeaders(ctx context.Context, conn querier) error {
	return eachStoredFlow(ctx, conn, func(id int64, f *flow.Flow) error {
		_, err := conn.ExecContext(ctx, "UPDATE flows SET q_headers = ? WHERE id = ?", query.HeaderText(f), id)
		return err
	})
}
