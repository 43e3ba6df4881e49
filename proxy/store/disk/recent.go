package disk

import (
	"slices"
	"sync"

	"loupe/proxy/flow"
)

// recentSize is how many summaries the ring keeps: the live feed asks for
// the summary of every flow it announces, and those are the newest.
const recentSize = 4096

// recent is a ring of the summaries the writer wrote last, so that the
// live feed's Summary calls rarely reach the database. Its size is fixed:
// it never grows with the capture.
type recent struct {
	mu    sync.Mutex
	m     map[flow.ID]flow.Summary
	order []flow.ID // ring of the IDs put, oldest at next
	next  int
}

func (r *recent) init(n int) {
	r.m = make(map[flow.ID]flow.Summary, n)
	r.order = make([]flow.ID, n)
}

// put stores the newest summary of a flow.
func (r *recent) put(sum flow.Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[sum.ID]; !ok {
		if old := r.order[r.next]; old != 0 {
			delete(r.m, old)
		}
		r.order[r.next] = sum.ID
		r.next = (r.next + 1) % len(r.order)
	}
	r.m[sum.ID] = sum
}

// get returns a copy of the summary of id, if the ring has it.
func (r *recent) get(id flow.ID) (flow.Summary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum, ok := r.m[id]
	if ok {
		sum.Rules = slices.Clone(sum.Rules)
		if sum.Rules == nil {
			sum.Rules = []string{}
		}
	}
	return sum, ok
}

// remove forgets id (deleted or evicted). Its slot in the ring is left to
// be reused in turn.
func (r *recent) remove(id flow.ID) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// clear forgets everything.
func (r *recent) clear() {
	r.mu.Lock()
	clear(r.m)
	clear(r.order)
	r.next = 0
	r.mu.Unlock()
}
