package store

import (
	"io"

	"loupe/proxy/flow"
)

// Backend is everything callers (the proxy, the web API, the HAR export)
// use of a flow store. *Store is the in-memory implementation; a persistent
// one (embedded SQL, say) can implement Backend later, reusing Feed for
// Watch, without touching its callers.
type Backend interface {
	flow.Recorder
	Get(id flow.ID) (*flow.Flow, bool)
	Summary(id flow.ID) (flow.Summary, bool)
	List(match func(*flow.Flow) bool, before flow.ID, limit int) (sums []flow.Summary, total int)
	Each(match func(*flow.Flow) bool, fn func(*flow.Flow) bool)
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
