package store

import (
	"slices"
	"sync"
	"sync/atomic"

	"loupe/proxy/flow"
)

// Changes is what happened to the store since a watcher last called Take,
// coalesced: a flow added then updated is only Added; a flow added then
// removed is only Removed (a consumer whose snapshot caught the flow between
// the two must still learn that it is gone; removing an unknown flow is
// harmless). Reset means everything was cleared first: the watcher should
// drop what it holds (then apply Added).
//
// Seq covers exactly the changes delivered so far: every change counted in
// Seq is in this Changes or an earlier one, never in a later one.
type Changes struct {
	Seq     uint64    `json:"seq"`
	Added   []flow.ID `json:"added"`
	Updated []flow.ID `json:"updated"`
	Removed []flow.ID `json:"removed"`
	Reset   bool      `json:"reset"`
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return !c.Reset && len(c.Added) == 0 && len(c.Updated) == 0 && len(c.Removed) == 0
}

type change uint8

const (
	changeAdd change = iota + 1
	changeUpdate
	changeRemove
)

// Feed publishes store changes to watchers without ever waiting for them:
// each watcher has its own dirty set and a one-slot signal channel. It is
// exported so that another Backend implementation can reuse it.
type Feed struct {
	seq atomic.Uint64
	// mu guards watchers. Publishing holds it exclusively while it counts the
	// change and marks it in every watcher, and Take holds it shared while it
	// reads the count, so a Take never reports a count that includes a change
	// it did not deliver.
	mu       sync.RWMutex
	watchers []*Watcher
}

// Seq is the number of changes published so far.
func (f *Feed) Seq() uint64 { return f.seq.Load() }

// Watch registers a new watcher. Close it when done.
func (f *Feed) Watch() *Watcher {
	w := &Watcher{feed: f, c: make(chan struct{}, 1), dirty: map[flow.ID]change{}}
	f.mu.Lock()
	f.watchers = append(f.watchers, w)
	f.mu.Unlock()
	return w
}

// Publish records that id was added, updated or removed.
func (f *Feed) publish(id flow.ID, c change) {
	f.mu.Lock()
	f.seq.Add(1)
	for _, w := range f.watchers {
		w.mark(id, c)
	}
	f.mu.Unlock()
}

// PublishAdded records a new flow.
func (f *Feed) PublishAdded(id flow.ID) { f.publish(id, changeAdd) }

// PublishUpdated records a change to an existing flow.
func (f *Feed) PublishUpdated(id flow.ID) { f.publish(id, changeUpdate) }

// PublishRemoved records a deleted or evicted flow.
func (f *Feed) PublishRemoved(id flow.ID) { f.publish(id, changeRemove) }

// AnnounceMax is the most flows PublishMany announces one by one: past it, a
// watcher is told to start over (a reset) rather than handed a change list
// it would have to turn into that many rows at once.
const AnnounceMax = 10_000

// PublishMany records new flows (an import): each one, or, past AnnounceMax,
// a reset, after which watchers read the store afresh.
func (f *Feed) PublishMany(ids []flow.ID) {
	if len(ids) > AnnounceMax {
		f.PublishReset()
		return
	}
	for _, id := range ids {
		f.PublishAdded(id)
	}
}

// PublishReset records that every flow was removed.
func (f *Feed) PublishReset() {
	f.mu.Lock()
	f.seq.Add(1)
	for _, w := range f.watchers {
		w.reset()
	}
	f.mu.Unlock()
}

func (f *Feed) remove(w *Watcher) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watchers = slices.DeleteFunc(f.watchers, func(x *Watcher) bool { return x == w })
}

// Watcher collects the changes of a store for one consumer (a websocket
// hub, a test). The store never blocks on it: changes pile up as a set of
// flow IDs (bounded by the flows the store holds) and C receives at most
// one pending signal.
type Watcher struct {
	feed *Feed
	c    chan struct{}

	mu       sync.Mutex
	dirty    map[flow.ID]change
	isReset  bool
	isClosed bool
}

// C signals that changes are waiting; call Take to get them. The channel is
// never closed (Close only stops the signals).
func (w *Watcher) C() <-chan struct{} { return w.c }

func (w *Watcher) mark(id flow.ID, c change) {
	w.mu.Lock()
	if w.isClosed {
		w.mu.Unlock()
		return
	}
	old, seen := w.dirty[id]
	changed := true
	switch {
	case !seen:
		w.dirty[id] = c
	case c == changeRemove:
		w.dirty[id] = changeRemove
	case old == changeRemove && c == changeAdd:
		w.dirty[id] = changeAdd
	default:
		// An update after an add or update changes nothing.
		changed = false
	}
	w.mu.Unlock()
	// A flow already marked was signalled when it was marked, and Take has
	// not run since: waking the consumer again would tell it nothing (a
	// recorded request publishes about ten updates).
	if changed {
		w.signal()
	}
}

func (w *Watcher) reset() {
	w.mu.Lock()
	if w.isClosed {
		w.mu.Unlock()
		return
	}
	clear(w.dirty)
	w.isReset = true
	w.mu.Unlock()
	w.signal()
}

func (w *Watcher) signal() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// Take returns and forgets the changes collected since the last Take. ID
// lists are in ascending order.
func (w *Watcher) Take() Changes {
	w.feed.mu.RLock()
	defer w.feed.mu.RUnlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := Changes{Seq: w.feed.Seq(), Reset: w.isReset}
	for id, c := range w.dirty {
		switch c {
		case changeAdd:
			ch.Added = append(ch.Added, id)
		case changeUpdate:
			ch.Updated = append(ch.Updated, id)
		case changeRemove:
			ch.Removed = append(ch.Removed, id)
		}
	}
	slices.Sort(ch.Added)
	slices.Sort(ch.Updated)
	slices.Sort(ch.Removed)
	w.isReset = false
	if len(w.dirty) > 1024 {
		w.dirty = map[flow.ID]change{} // let a burst's large map go
	} else {
		clear(w.dirty)
	}
	return ch
}

// Close unregisters the watcher. It is idempotent.
func (w *Watcher) Close() {
	w.mu.Lock()
	if w.isClosed {
		w.mu.Unlock()
		return
	}
	w.isClosed = true
	w.dirty = nil
	w.mu.Unlock()
	w.feed.remove(w)
}
