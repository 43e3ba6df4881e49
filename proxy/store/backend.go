package store

import (
	"io"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Backend is everything callers (the proxy, the web API, the HAR export)
// use of a flow store. *Store is the in-memory implementation; a persistent
// one (embedded SQL, say) can implement Backend later, reusing Feed for
// Watch, without touching its callers.
type Backend interface {
	flow.Recorder
	Get(id flow.ID) (*flow.Flow, bool)
	Summary(id flow.ID) (flow.Summary, bool)
	// List answers one page of the flows matching q, newest first by key.
	List(q *query.Query, page query.Page) query.Result
	// Each calls fn with every flow matching q, oldest first, until fn
	// returns false; no lock or query is held while fn runs.
	Each(q *query.Query, fn func(*flow.Flow) bool)
	// RuleCounts returns how many stored flows each rule touched.
	RuleCounts() map[string]int
	Body(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)
	DecodedBody(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)
	Delete(id flow.ID) bool
	Clear()
	Import(rs []flow.Recorded) ([]flow.ID, error)
	SetPaused(paused bool)
	Paused() bool
	Stats() Stats
	Seq() uint64
	Watch() *Watcher
	Close() error
}

var _ Backend = (*Store)(nil)
