package web

import (
	"io"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Bounds of the matcher: jobs waiting, and flows in one job. Past either,
// the browser is told to refetch its first page instead (flows/stale).
const (
	matchQueue  = 16
	matchJobMax = 256
)

// matchJob asks whether the flows ids (changed in the batch of seq) match
// a browser's filter q, which a summary could not decide.
type matchJob struct {
	c   *client
	q   *query.Query
	seq uint64
	ids []flow.ID
}

// resolvedBatch is the matcher's answer for one job: a flows/batch for
// the browser, sent by the hub if the browser still has that filter.
type resolvedBatch struct {
	c   *client
	q   *query.Query
	msg []byte
}

// matcher evaluates filters that need the store (body terms) on its own
// goroutine, so the hub never reads a body or waits on a query. Its queue
// is bounded; a job that does not fit is refused (submit reports false).
type matcher struct {
	h    *hub
	jobs chan matchJob
	quit chan struct{} // closed by stop
	done chan struct{} // closed when run returns
}

func newMatcher(h *hub) *matcher {
	m := &matcher{h: h, jobs: make(chan matchJob, matchQueue), quit: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

// submit queues a job without waiting; false when the queue is full or the
// job too large.
func (m *matcher) submit(j matchJob) bool {
	if len(j.ids) > matchJobMax {
		return false
	}
	select {
	case m.jobs <- j:
		return true
	default:
		return false
	}
}

// stop ends the goroutine after the flow in hand; queued jobs are dropped.
// Only the hub calls it, once, as it returns.
func (m *matcher) stop() {
	close(m.quit)
	<-m.done
}

func (m *matcher) run() {
	defer close(m.done)
	st := m.h.s.deps.Store
	bodies := func(id flow.ID, facet flow.Facet) (io.ReadCloser, error) {
		rc, _, err := st.DecodedBody(id, facet)
		return rc, err
	}
	for {
		var j matchJob
		select {
		case j = <-m.jobs:
		case <-m.quit:
			return
		}
		b := newBatch(j.seq)
		for _, id := range j.ids {
			select {
			case <-m.quit:
				return
			default:
			}
			f, ok := st.Get(id)
			switch {
			case !ok:
				b.Remove = append(b.Remove, id)
			case j.q.Match(f, bodies):
				b.Add = append(b.Add, f.Summary())
			default:
				b.Remove = append(b.Remove, id)
			}
		}
		select {
		case m.h.resolved <- resolvedBatch{c: j.c, q: j.q, msg: mustJSON(b)}:
		case <-m.quit:
			return
		}
	}
}
