package disk

import (
	"sync"
	"sync/atomic"
	"time"

	"loupe/proxy/flow"
)

// evKind is what an event tells the writer.
type evKind uint8

const (
	// evFlow: the flow's head changed (or it began); the writer snapshots
	// the handle when it writes, so a flow has at most one of these waiting
	// however often it changes.
	evFlow evKind = iota + 1
	// evBody: bytes of one body facet, copied once from the proxy's buffer.
	evBody
	// evWS: one WebSocket message.
	evWS
)

// event is one entry of the queue. It is small: a body's bytes are the one
// copy the recorder makes, and the writer hands that same slice to the
// segment file or the database.
type event struct {
	h     *handle
	kind  evKind
	facet int8
	data  []byte
	ws    *flow.WSMessage // evWS only; Data is data
	// lent is the buffer data is a prefix of when the proxy lent it
	// (flow.BodyLender) rather than the recorder copying into it: the
	// event holds a reference, and the whole buffer is reserved.
	lent *lentBuf
}

// reserved is the queue room the event holds (see queue.reserve).
func (e *event) reserved() int64 {
	if e.lent != nil {
		return int64(cap(e.lent.b))
	}
	return int64(len(e.data))
}

// done gives the event's body buffer back once the writer is done with it.
func (e *event) done(p *bufPool) {
	if e.lent != nil {
		e.lent.release(p)
		e.lent = nil
	} else {
		p.put(e.data)
	}
	e.data = nil
}

// queue is the bounded hand-over from the recorder's callers to the one
// writer goroutine. Pushing never waits for the writer: a caller takes the
// mutex for an append. Body and message bytes are reserved against
// Config.QueueBytes and Config.QueueEvents before they are copied, and a
// reservation that does not fit is refused (the caller truncates the
// capture). Flow events are not reserved: there is at most one waiting per
// flow, and the flows begun but not written are bounded by QueueFlows.
type queue struct {
	mu     sync.Mutex
	evs    []event
	closed bool

	maxBytes  int64
	maxEvents int64
	bytes     atomic.Int64 // reserved body and message bytes
	events    atomic.Int64 // reserved body and message events

	bufs bufPool // body buffers, back from the writer once written

	batch      int           // queue length that wakes the writer at once
	batchBytes int64         // reserved bytes that wake the writer at once
	kick       chan struct{} // the queue became non-empty
	full       chan struct{} // the queue reached batch events or batchBytes
}

func newQueue(cfg Config) *queue {
	return &queue{
		maxBytes:  cfg.QueueBytes,
		maxEvents: int64(cfg.QueueEvents),
		batch:     cfg.BatchEvents,
		// Large bodies fill the queue's bytes long before its events: a
		// writer that waited BatchDelay for them would find the queue full
		// and the bodies cut.
		batchBytes: cfg.QueueBytes / 8,
		kick:       make(chan struct{}, 1),
		full:       make(chan struct{}, 1),
	}
}

// reserve claims room for one data event of n bytes, or reports that the
// queue is full.
func (q *queue) reserve(n int64) bool {
	if q.events.Add(1) > q.maxEvents {
		q.events.Add(-1)
		return false
	}
	if q.bytes.Add(n) > q.maxBytes {
		q.bytes.Add(-n)
		q.events.Add(-1)
		return false
	}
	return true
}

// release gives back a reservation once the writer is done with its event.
func (q *queue) release(n int64) {
	q.bytes.Add(-n)
	q.events.Add(-1)
}

// push appends e and wakes the writer; it reports false once the queue is
// closed (the store is closing: the event is dropped).
func (q *queue) push(e event) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.evs = append(q.evs, e)
	n := len(q.evs)
	q.mu.Unlock()
	if n == 1 {
		signal(q.kick)
	}
	if n == q.batch || (e.kind != evFlow && q.bytes.Load() >= q.batchBytes) {
		signal(q.full)
	}
	return true
}

// take hands the waiting events to the writer, leaving spare (emptied) as
// the new queue, so two slices alternate and neither is reallocated.
func (q *queue) take(spare []event) []event {
	q.mu.Lock()
	evs := q.evs
	q.evs = spare[:0]
	q.mu.Unlock()
	return evs
}

// len is the number of waiting events.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.evs)
}

// close refuses further events; those waiting stay for the writer's last
// batch.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.kick)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// wsCopy is the queued copy of a message: data is the one copy of its
// payload.
func wsCopy(msg flow.WSMessage, data []byte, truncated bool) *flow.WSMessage {
	m := msg
	m.Data = data
	m.Truncated = m.Truncated || truncated
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	return &m
}
