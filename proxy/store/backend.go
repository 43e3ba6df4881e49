package store

import (
	"io"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Backend is everything callers (the proxy, the web API, the HAR export)
// use of a flow store. *Store is the in-memory implementation; the durable
// capture (proxy/store/disk) is the persistent one, reusing Feed for Watch.
//
// A capture is a list of sessions (see Session), one of them recording:
// Begin records into it. A query's Session narrows List and Each to one
// session; without it they, Delete and Clear work over every session, and
// Import adds to the recording one.
type Backend interface {
	flow.Recorder
	Get(id flow.ID) (*flow.Flow, bool)
	Summary(id flow.ID) (flow.Summary, bool)
	// List answers one page of the flows matching q, newest first by key.
	List(q *query.Query, page query.Page) query.Result
	// Each calls fn with every flow matching q, oldest first, until fn
	// returns false; no lock or query is held while fn runs.
	Each(q *query.Query, fn func(*flow.Flow) bool)
	// Tree counts the flows matching q under one node of the capture's
	// structure (hosts, then path segments) by child, keeping the limit
	// busiest children; like List, a bounded scan says so (Complete).
	Tree(q *query.Query, node query.TreeNode, limit int) query.Tree
	// RuleCounts returns how many stored flows each rule touched.
	RuleCounts() map[string]int
	Body(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)
	DecodedBody(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)
	Delete(id flow.ID) bool
	// Annotate applies a patch to the mark, colour and comment of a flow,
	// finished or in progress, in any session, and returns its new
	// summary (ErrNotFound, *flow.AnnotationError); watchers learn of it as
	// of any change.
	Annotate(id flow.ID, p flow.AnnotationPatch) (flow.Summary, error)
	Clear()
	Import(rs []flow.Recorded) ([]flow.ID, error)

	// Sessions lists the sessions, oldest first (imports in progress are
	// not listed).
	Sessions() ([]Session, error)
	// RecordingSession is the session new flows are recorded into.
	RecordingSession() flow.SessionID
	// NewSession starts a session (name "" : the time now) and makes it the
	// recording one; flows in progress finish in the session they began in.
	NewSession(name string) (Session, error)
	// UpdateSession renames or pins a session (ErrNotFound, ErrBadSessionName).
	UpdateSession(id flow.SessionID, p SessionPatch) (Session, error)
	// DeleteSession removes a session with its flows and bodies; the
	// recording session cannot be deleted (ErrRecording).
	DeleteSession(id flow.SessionID) error
	// ClearSession removes the flows of one session and keeps the session.
	ClearSession(id flow.SessionID) error
	// Capacity is the most the capture holds: flows, and bytes of bodies,
	// messages and heads. An import past either cannot succeed.
	Capacity() (flows int, bytes int64)
	// NewImport starts a streamed import (see Importer); it refuses at once
	// (ErrImportTooLarge) an import whose known size exceeds the capture.
	NewImport(t ImportTarget) (Importer, error)
	SetPaused(paused bool)
	Paused() bool
	Stats() Stats
	Seq() uint64
	Watch() *Watcher
	Close() error
}

var _ Backend = (*Store)(nil)
