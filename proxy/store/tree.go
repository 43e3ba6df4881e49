package store

import (
	"sort"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Tree counts the flows matching q under one node of the capture's
// structure (hosts, then path segments) by child, keeping the limit
// busiest children (limit <= 0: all). The memory store walks every flow it
// holds, in chunks of the read lock as List does, so the answer is always
// Complete; body terms are evaluated without the lock (through Each).
func (s *Store) Tree(q *query.Query, node query.TreeNode, limit int) query.Tree {
	c := query.NewTreeCounter(node)
	if q.NeedsBodies() {
		s.Each(q, func(f *flow.Flow) bool {
			c.Add(f.Request.URL)
			return true
		})
		return c.Tree(limit)
	}
	cursor := flow.ID(0) // scan IDs above it, oldest first
	var f flow.Flow      // one view reused
	for done := false; !done; {
		s.mu.RLock()
		live := s.order[s.head:]
		i := sort.Search(len(live), func(i int) bool { return live[i].flow.ID > cursor })
		for n := 0; i < len(live) && n < scanChunk; i, n = i+1, n+1 {
			e := live[i]
			cursor = e.flow.ID
			if e.isGone() {
				continue
			}
			if !q.Empty() {
				f = e.view()
				if !q.Match(&f, nil) {
					continue
				}
			}
			c.Add(e.flow.Request.URL)
		}
		done = i >= len(live)
		s.mu.RUnlock()
	}
	return c.Tree(limit)
}
