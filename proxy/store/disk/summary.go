package disk

import (
	"context"
	"fmt"

	"loupe/proxy/store/query"
)

// backfillSummaryColumns fills the summary columns schema version 4 added
// (composition, breakpoint state) for the flows written before it, from
// their heads, in chunks, inside the migration's transaction.
func backfillSummaryColumns(ctx context.Context, conn querier) error {
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
			if !f.Composed && f.Breakpoint == nil {
				continue
			}
			if _, err := conn.ExecContext(ctx, "UPDATE flows SET composed = ?, composed_from = ?, breakpoint = ? WHERE id = ?",
				f.Composed, int64(f.ComposedFrom), f.Breakpoint.State(), cursor); err != nil {
				return fmt.Errorf("backfill flow %d: %w", cursor, err)
			}
		}
	}
}

// backfillHeaders fills q_headers of the flows written before schema
// version 5, from their heads, in chunks.
func backfillHeaders(ctx context.Context, conn querier) error {
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
			if _, err := conn.ExecContext(ctx, "UPDATE flows SET q_headers = ? WHERE id = ?", query.HeaderText(f), cursor); err != nil {
				return fmt.Errorf("backfill flow %d: %w", cursor, err)
			}
		}
	}
}
