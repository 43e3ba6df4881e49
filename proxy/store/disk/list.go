package disk

import (
	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// List answers one page of the flows matching q.
func (s *Store) List(q *query.Query, page query.Page) query.Result {
	var match func(*flow.Flow) bool
	if !q.Empty() {
		match = func(f *flow.Flow) bool { return q.Match(f, s.decodedBodies) }
	}
	sums, total := s.listScan(match, page.Cursor, page.Limit)
	return query.Result{Flows: sums, Total: total, Complete: match == nil}
}

// Each calls fn with every flow matching q in ascending ID order.
func (s *Store) Each(q *query.Query, fn func(*flow.Flow) bool) {
	var match func(*flow.Flow) bool
	if !q.Empty() {
		match = func(f *flow.Flow) bool { return q.Match(f, s.decodedBodies) }
	}
	s.eachScan(match, fn)
}

// RuleCounts returns how many stored flows each rule touched.
func (s *Store) RuleCounts() map[string]int {
	return nil
}
