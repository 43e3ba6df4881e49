package query

import "loupe/proxy/flow"

// Page selects one page of a list: the newest Limit matching flows with an
// ID below Cursor (0: from the newest). Paging is by key, never by offset:
// the next page's Cursor is the previous answer's Next.
type Page struct {
	Cursor flow.ID
	Limit  int // <= 0: no limit
}

// Result is one page of a list.
type Result struct {
	// Flows are the page's summaries in ascending ID order.
	Flows []flow.Summary
	// Total is how many flows match (the cursor ignored). When Complete is
	// false it counts the matches among the Scanned newest flows only.
	Total int
	// Complete says Total is exact and paging will find every match. A
	// store sets it false when part of the query had to be evaluated by a
	// bounded scan that stopped before the oldest flow.
	Complete bool
	// Scanned is how many flows a bounded scan examined (0 when the query
	// ran entirely on indexes or the store needs no scan).
	Scanned int
	// Next is the Cursor of the following page, 0 when this page is the
	// last.
	Next flow.ID
}
