package disk

import (
	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// listOf is List in the shape the older tests use: a Go predicate, a
// cursor and a limit in; the page and the total out.
func listOf(s interface {
	List(*query.Query, query.Page) query.Result
}, match func(*flow.Flow) bool, before flow.ID, limit int) ([]flow.Summary, int) {
	r := s.List(query.MatchFunc(match), query.Page{Cursor: before, Limit: limit})
	return r.Flows, r.Total
}

// sessionList is one page of a session's flows (0: every session).
func sessionList(s *Store, session flow.SessionID, before flow.ID, limit int) ([]flow.Summary, int) {
	r := s.List(query.InSession(nil, session), query.Page{Cursor: before, Limit: limit})
	return r.Flows, r.Total
}
