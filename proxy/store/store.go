// Package store keeps the flows the proxy records, within fixed bounds: a
// maximum number of flows, a cap per body, a RAM budget for bodies and a
// disk budget for bodies spilled to a private session directory. The oldest
// flows are evicted first, and every eviction is counted and published.
//
// Flows belong to sessions (see Session): one records, earlier ones and
// imported files are kept beside it, all within the same bounds; sessions
// live as long as the process does.
//
// The store is the proxy's flow.Recorder, so its Handle methods sit on the
// proxy's hot path: they copy bytes under short locks and never wait for a
// reader. One exception is documented: when a body grows past the spill
// threshold, its bytes are written to its file on the writing goroutine (a
// 64 KiB buffer after that), under that body's lock only.
//
// Locks: Store.mu (an RWMutex) guards the flow index and the flow heads; each
// body has its own mutex for its bytes. A body's lock is never held while
// taking Store.mu, so readers of the list never wait on disk I/O.
//
// Bodies are kept as received on the wire, with their Content-Encoding;
// DecodedBody decodes on read. The store must never block the proxy on a
// watcher: changes are coalesced per watcher (see Feed).
package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// ErrNotFound is returned for a flow or body facet the store does not hold
// (never recorded, evicted or deleted).
var ErrNotFound = errors.New("not found")

// wsOverhead is what one recorded WebSocket message costs besides its data,
// counted against the RAM budget so that a chatty socket is bounded too.
const wsOverhead = 96

// eachBatch is how many clones Each takes per read lock.
const eachBatch = 256

// scanChunk is how many flows a filtered scan visits per read lock, so that
// a List over every flow never holds the proxy's writers for long.
const scanChunk = 1024

// Stats describes what the store holds and what it had to give up. Its
// TypeScript twin lives in ui/src/api/types.ts.
type Stats struct {
	Flows    int  `json:"flows"`
	MaxFlows int  `json:"maxFlows"`
	Paused   bool `json:"paused"`
	// BodyBytesRAM counts body and WebSocket message bytes in memory
	// (buffer capacity, not just length).
	BodyBytesRAM  int64 `json:"bodyBytesRam"`
	RAMBudget     int64 `json:"ramBudget"`
	BodyBytesDisk int64 `json:"bodyBytesDisk"`
	DiskBudget    int64 `json:"diskBudget"`
	SpillFiles    int64 `json:"spillFiles"`
	BodyCap       int64 `json:"bodyCap"`
	// HeadBytes estimates the memory held by flow heads (URLs, headers).
	HeadBytes int64 `json:"headBytes"`
	// Evicted counts flows dropped to stay within the limits.
	Evicted uint64 `json:"evicted"`
	// Truncated counts bodies cut by the body cap, a budget or a spill
	// error; TruncatedBytes the bytes counted but not stored.
	Truncated      uint64 `json:"truncated"`
	TruncatedBytes uint64 `json:"truncatedBytes"`
	// DroppedMessages counts WebSocket messages not kept for lack of room.
	DroppedMessages uint64 `json:"droppedMessages"`
	// Skipped counts flows not recorded because the store was paused.
	Skipped uint64 `json:"skipped"`
	// Dropped counts flows not recorded because the store could not keep
	// up: the durable capture's writer had too many flows waiting. The
	// memory store never drops a flow (0).
	Dropped uint64 `json:"dropped"`
	// SpillErrors counts bodies whose capture stopped on a disk error.
	SpillErrors uint64 `json:"spillErrors"`
	// WriteErrors counts failed writes to disk (a full disk, an I/O
	// error): the capture of a body, or of a batch of flows, stopped or was
	// cut there. The memory store's are its spill errors.
	WriteErrors uint64 `json:"writeErrors"`
	// UpstreamNotKept counts overridden flows whose original (upstream)
	// body was not kept, or not whole: too many drains at once, a drain
	// bound, shutdown (Flow.UpstreamNotKept says which).
	UpstreamNotKept uint64 `json:"upstreamNotKept"`
	Seq             uint64 `json:"seq"`
}

// entry is one flow in the store.
type entry struct {
	// flow holds everything but the live body counters (see bodies). Guarded
	// by Store.mu, but for flow.ID: set before the entry is published and
	// never changed after, it is read without the lock (the entry's ID; a
	// field of its own would cost the word that keeps an entry in its size
	// class, see TestEntrySizeClass).
	flow flow.Flow
	// bodies by facet index (request, response, upstream); nil when absent.
	bodies [3]atomic.Pointer[body]
	// life holds lifeFinished and lifeGone (evicted or deleted): one word
	// with head rather than two atomic.Bools and an int64, so that the
	// entry stays in its size class (TestEntrySizeClass).
	life    atomic.Uint32
	head    int32        // estimated head bytes, guarded by Store.mu
	bodyPub atomic.Int64 // when body progress was last published (Unix ns)
	wsRAM   int64        // guarded by Store.mu

	// Storage allocated with the entry, so that a small flow costs a few
	// allocations rather than one per part: the request and response
	// bodies, and the heads flow.UpstreamRequest, UpstreamResponse and
	// Response point to once recorded (guarded by Store.mu).
	own    [2]body
	upReq  flow.Request
	upResp flow.Response
	resp   flow.Response
	handle handle // the proxy's handle on this flow
}

// The bits of entry.life.
const (
	lifeFinished = 1 << iota
	lifeGone
)

func (e *entry) isFinished() bool { return e.life.Load()&lifeFinished != 0 }
func (e *entry) isGone() bool     { return e.life.Load()&lifeGone != 0 }
func (e *entry) setFinished()     { e.life.Or(lifeFinished) }

// markGone marks e gone and reports whether it already was.
func (e *entry) markGone() bool { return e.life.Or(lifeGone)&lifeGone != 0 }

func facetIndex(f flow.Facet) int {
	switch f {
	case flow.FacetRequest:
		return 0
	case flow.FacetResponse:
		return 1
	case flow.FacetUpstream:
		return 2
	}
	return -1
}

// Store is the in-memory, bounded flow store. It implements flow.Recorder
// and Backend. Use New.
type Store struct {
	cfg  Config
	log  *slog.Logger
	dir  string
	feed Feed

	mu     sync.RWMutex
	live   int      // flows held (entries in order that are not gone)
	order  []*entry // ascending IDs; entries before head and gone ones are dead
	head   int
	holes  int // gone entries after head
	nextID flow.ID
	closed bool

	// Sessions (see session_mem.go), guarded by mu.
	sessions    []*memSession // ascending IDs
	recording   flow.SessionID
	lastSession flow.SessionID
	sessFlows   map[flow.SessionID]int // live flows per session

	paused atomic.Bool

	ram, disk, files, headBytes atomic.Int64

	evicted, truncBodies, truncBytes, dropped, skipped, spillErrs, notKept atomic.Uint64

	chunks sync.Pool // recycled full-size body chunks (*[maxChunk]byte)
}

// New validates cfg, applies its defaults and creates the private session
// directory for spilled bodies (unless spilling is disabled).
func New(cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	s := &Store{cfg: cfg, log: log, sessFlows: map[flow.SessionID]int{}}
	s.paused.Store(cfg.Paused)
	s.startSessionLocked("", time.Now())
	if cfg.spills() {
		parent := cfg.Dir
		if parent == "" {
			parent = defaultParent()
		}
		dir, err := os.MkdirTemp(parent, sessionPrefix)
		if err != nil {
			return nil, fmt.Errorf("create capture directory in %s: %w", parent, err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("chmod capture directory %s: %w", dir, err)
		}
		if err := markOwner(dir); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("capture directory %s: %w", dir, err)
		}
		s.dir = dir
		if n := removeStale(parent, dir); n > 0 {
			log.Info("removed capture directories left by earlier runs", "dir", parent, "count", n)
		}
	}
	return s, nil
}

// defaultParent is where session directories go without Config.Dir: the
// user's cache directory, which is on disk (the temporary directory is often
// a tmpfs, where spilled bodies would occupy RAM after all), else the
// temporary directory.
func defaultParent() string {
	if cache, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(cache, "loupe")
		if err := os.MkdirAll(dir, 0o700); err == nil {
			return dir
		}
	}
	return os.TempDir()
}

// Config returns the limits in force (defaults applied).
func (s *Store) Config() Config { return s.cfg }

// Dir is the session directory holding spilled bodies ("" when spilling is
// disabled).
func (s *Store) Dir() string { return s.dir }

// Seq increases on every change to the flows.
func (s *Store) Seq() uint64 { return s.feed.Seq() }

// Watch returns a watcher of the store's changes. Close it when done.
func (s *Store) Watch() *Watcher { return s.feed.Watch() }

// SetPaused stops (true) or resumes (false) recording: while paused, Begin
// returns a handle that records nothing. Flows in progress keep recording.
func (s *Store) SetPaused(p bool) { s.paused.Store(p) }

// Paused reports whether recording is paused.
func (s *Store) Paused() bool { return s.paused.Load() }

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	n := s.live
	s.mu.RUnlock()
	disk := s.cfg.DiskBudget
	if disk < 0 {
		disk = 0
	}
	return Stats{
		Flows:           n,
		MaxFlows:        s.cfg.MaxFlows,
		Paused:          s.paused.Load(),
		BodyBytesRAM:    s.ram.Load(),
		RAMBudget:       s.cfg.RAMBudget,
		BodyBytesDisk:   s.disk.Load(),
		DiskBudget:      disk,
		SpillFiles:      s.files.Load(),
		BodyCap:         s.cfg.BodyCap,
		HeadBytes:       s.headBytes.Load(),
		Evicted:         s.evicted.Load(),
		Truncated:       s.truncBodies.Load(),
		TruncatedBytes:  s.truncBytes.Load(),
		DroppedMessages: s.dropped.Load(),
		Skipped:         s.skipped.Load(),
		SpillErrors:     s.spillErrs.Load(),
		WriteErrors:     s.spillErrs.Load(),
		UpstreamNotKept: s.notKept.Load(),
		Seq:             s.feed.Seq(),
	}
}

// account adds a usage change to the totals.
func (s *Store) account(u usage) {
	if u.ram != 0 {
		s.ram.Add(u.ram)
	}
	if u.disk != 0 {
		s.disk.Add(u.disk)
	}
	if u.files != 0 {
		s.files.Add(int64(u.files))
	}
	if u.truncBodies != 0 {
		s.truncBodies.Add(uint64(u.truncBodies))
	}
	if u.truncBytes != 0 {
		s.truncBytes.Add(uint64(u.truncBytes))
	}
	if u.spillErr {
		s.spillErrs.Add(1)
	}
}

func (s *Store) overBudget() bool {
	return s.ram.Load() > s.cfg.RAMBudget || (s.cfg.spills() && s.disk.Load() > s.cfg.DiskBudget)
}

// enforce evicts the oldest flows other than except until the body budgets
// hold, and reports whether they do.
func (s *Store) enforce(except flow.ID) bool {
	s.mu.Lock()
	ramOver := s.ram.Load() - s.cfg.RAMBudget
	diskOver := int64(0)
	if s.cfg.spills() {
		diskOver = s.disk.Load() - s.cfg.DiskBudget
	}
	var victims []*entry
	for i := s.head; i < len(s.order) && (ramOver > 0 || diskOver > 0); i++ {
		e := s.order[i]
		if e.isGone() || e.flow.ID == except {
			continue
		}
		r, d := e.usage()
		ramOver -= r
		diskOver -= d
		victims = append(victims, e)
	}
	for _, e := range victims {
		s.unlinkLocked(e)
	}
	s.compactLocked()
	s.mu.Unlock()
	s.drop(victims, true)
	return ramOver <= 0 && diskOver <= 0
}

// usage is what e's bodies and messages hold. Called with Store.mu held.
func (e *entry) usage() (ram, disk int64) {
	for i := range e.bodies {
		if b := e.bodies[i].Load(); b != nil {
			r, d := b.usageNow()
			ram += r
			disk += d
		}
	}
	return ram + e.wsRAM, disk
}

// unlinkLocked removes e from the index; drop frees it afterwards.
func (s *Store) unlinkLocked(e *entry) {
	if e.markGone() {
		return
	}
	s.live--
	s.headBytes.Add(-int64(e.head))
	s.holes++
	if n := s.sessFlows[e.flow.Session]; n > 1 {
		s.sessFlows[e.flow.Session] = n - 1
	} else {
		delete(s.sessFlows, e.flow.Session)
	}
}

// compactLocked drops dead entries from the order slice once they make up
// half of it, so scans and memory stay proportional to the live flows.
func (s *Store) compactLocked() {
	for s.head < len(s.order) && s.order[s.head].isGone() {
		s.order[s.head] = nil
		s.head++
		s.holes--
	}
	if s.head+s.holes <= len(s.order)/2 || len(s.order) < 64 {
		return
	}
	live := make([]*entry, 0, s.live+s.live/4+16)
	for _, e := range s.order[s.head:] {
		if !e.isGone() {
			live = append(live, e)
		}
	}
	s.order, s.head, s.holes = live, 0, 0
}

// drop frees the bodies of unlinked entries and publishes their removal.
func (s *Store) drop(es []*entry, evicted bool) {
	for _, e := range es {
		s.release(e)
		if evicted {
			s.evicted.Add(1)
		}
		s.feed.PublishRemoved(e.flow.ID)
	}
}

// release frees an unlinked entry's bodies and WebSocket messages and gives
// their memory and disk back to the budgets.
func (s *Store) release(e *entry) {
	var u usage
	for i := range e.bodies {
		if b := e.bodies[i].Load(); b != nil {
			u.add(b.free(s))
		}
	}
	s.mu.Lock()
	u.ram -= e.wsRAM
	e.wsRAM = 0
	e.flow.WebSocket = nil
	s.mu.Unlock()
	s.account(u)
}

// headSize estimates the memory of a flow's heads.
func headSize(req *flow.Request) int64 {
	return int64(len(req.URL)+len(req.Method)+len(req.Proto)+24) + fieldsSize(req.Header) + fieldsSize(req.Trailers)
}

func respSize(resp *flow.Response) int64 {
	return int64(len(resp.Proto)+32) + fieldsSize(resp.Header) + fieldsSize(resp.Trailers)
}

// breakpointSize estimates the memory of a breakpoint record.
func breakpointSize(b *flow.Breakpoint) int64 {
	n := int64(len(b.Rule) + len(b.Skipped) + 40)
	for _, s := range []*flow.BreakpointStop{b.Request, b.Response} {
		if s != nil {
			n += int64(len(s.Action)+len(s.By)) + 96
			for _, c := range s.Changed {
				n += int64(len(c)) + 16
			}
			if e := s.Edit; e != nil {
				n += int64(len(e.Method)+len(e.URL)+len(ptrStr(e.Body))+len(ptrStr(e.BodyBase64))) + fieldsSize(e.Headers) + 96
			}
		}
	}
	return n
}

func ptrStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// fieldsSize estimates the memory of a header or trailer list.
func fieldsSize(fs flow.Fields) int64 {
	var n int64
	for _, f := range fs {
		n += int64(len(f.Name) + len(f.Value) + 32)
	}
	return n
}

// flowOverhead is the fixed cost of an entry (the Flow struct, index, bodies).
const flowOverhead = 900

// Begin records a new flow. It implements flow.Recorder.
func (s *Store) Begin(client string, req flow.Request, start time.Time) flow.Handle {
	if s.paused.Load() {
		s.skipped.Add(1)
		return noop{}
	}
	e := &entry{}
	e.flow = flow.Flow{
		Start:   start,
		Client:  client,
		State:   flow.StatePending,
		Request: req, // the recorder's own (see flow.Recorder)
		Timings: flow.NoTimings,
	}
	e.flow.RequestBody = bodyHead(req.Header)
	e.head = int32(flowOverhead + headSize(&e.flow.Request))
	e.bodies[0].Store(&e.own[0])
	e.bodies[1].Store(&e.own[1])

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return noop{}
	}
	var victims []*entry
	for s.live >= s.cfg.MaxFlows {
		v := s.oldestLocked()
		if v == nil {
			break
		}
		s.unlinkLocked(v)
		victims = append(victims, v)
	}
	s.nextID++
	e.flow.ID = s.nextID
	e.flow.Session = s.recording
	s.insertLocked(e)
	s.compactLocked()
	s.mu.Unlock()

	s.drop(victims, true)
	s.feed.PublishAdded(e.flow.ID)
	e.handle = handle{s: s, e: e}
	return &e.handle
}

func (s *Store) insertLocked(e *entry) {
	s.live++
	s.sessFlows[e.flow.Session]++
	s.order = append(s.order, e)
	s.headBytes.Add(int64(e.head))
}

// lookupLocked finds flow id. The order slice is sorted by ID (IDs are
// handed out in increasing order and appended), so a binary search does
// what a map index did, without a map insert and delete per flow.
func (s *Store) lookupLocked(id flow.ID) (*entry, bool) {
	live := s.order[s.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].flow.ID >= id })
	if i == len(live) || live[i].flow.ID != id || live[i].isGone() {
		return nil, false
	}
	return live[i], true
}

func (s *Store) oldestLocked() *entry {
	for i := s.head; i < len(s.order); i++ {
		if e := s.order[i]; !e.isGone() {
			return e
		}
	}
	return nil
}

// bodyHead derives a body's encoding and type from its message's headers.
func bodyHead(h flow.Fields) flow.Body {
	return flow.Body{Encoding: h.Get("Content-Encoding"), ContentType: h.Get("Content-Type")}
}

// view returns a shallow copy of e's flow with its live body counters. The
// copy shares header slices with the store: callers read it under Store.mu
// and must not keep it.
func (e *entry) view() flow.Flow {
	f := e.flow
	if b := e.bodies[0].Load(); b != nil {
		b.facts(&f.RequestBody)
	}
	if b := e.bodies[1].Load(); b != nil {
		b.facts(&f.ResponseBody)
	}
	if b := e.bodies[2].Load(); b != nil {
		ub := flow.Body{}
		if e.flow.UpstreamBody != nil {
			ub = *e.flow.UpstreamBody
		}
		b.facts(&ub)
		f.UpstreamBody = &ub
	}
	return f
}

// clone returns a deep copy of e's flow with its body counters.
func (e *entry) clone() *flow.Flow {
	v := e.view()
	c := v.Clone()
	if c.UpstreamBody == nil && e.flow.UpstreamBody != nil {
		ub := *e.flow.UpstreamBody
		c.UpstreamBody = &ub
	}
	return c
}

// Summary returns the list-row summary of flow id, without copying the
// flow: the live feed needs one per change.
func (s *Store) Summary(id flow.ID) (flow.Summary, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.lookupLocked(id)
	if !ok {
		return flow.Summary{}, false
	}
	v := e.view()
	sum := v.Summary()
	if len(sum.Rules) > 0 {
		sum.Rules = slices.Clone(sum.Rules) // the store's slice grows under its lock
	}
	return sum, true
}

// Get returns a copy of flow id.
func (s *Store) Get(id flow.ID) (*flow.Flow, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.lookupLocked(id)
	if !ok {
		return nil, false
	}
	return e.clone(), true
}

// List answers one page of the flows matching q (nil: every flow): the
// newest page.Limit with an ID below page.Cursor, in ascending ID order, and
// how many flows match in all (the cursor ignored). The memory store scans
// every flow it holds, so the answer is always Complete.
//
// A filtered List takes the read lock in chunks of scanChunk flows: the
// proxy's writers get in between, and the answer may mix states from during
// the scan. Body terms are evaluated after the scan, without the lock, on
// the flows that passed every other term.
func (s *Store) List(q *query.Query, page query.Page) query.Result {
	limit := page.Limit
	if limit <= 0 {
		limit = math.MaxInt
	}
	before := page.Cursor
	res := query.Result{Complete: true}
	if q.Empty() {
		s.mu.RLock()
		live := s.order[s.head:]
		end := len(live)
		if before > 0 {
			end = sort.Search(len(live), func(i int) bool { return live[i].flow.ID >= before })
		}
		i := end - 1
		for ; i >= 0 && len(res.Flows) < limit; i-- {
			if e := live[i]; !e.isGone() {
				f := e.view()
				res.Flows = append(res.Flows, summary(&f))
			}
		}
		for ; i >= 0 && res.Next == 0; i-- {
			if !live[i].isGone() {
				res.Next = res.Flows[len(res.Flows)-1].ID
			}
		}
		res.Total = s.live
		s.mu.RUnlock()
		slices.Reverse(res.Flows)
		return res
	}
	if q.NeedsBodies() {
		return s.listWithBodies(q, before, limit)
	}
	cursor := flow.ID(math.MaxUint64) // scan IDs below it, newest first
	var f flow.Flow                   // one view reused: match makes it escape
	for done := false; !done; {
		s.mu.RLock()
		live := s.order[s.head:]
		i := sort.Search(len(live), func(i int) bool { return live[i].flow.ID >= cursor }) - 1
		for n := 0; i >= 0 && n < scanChunk; i, n = i-1, n+1 {
			e := live[i]
			cursor = e.flow.ID
			if e.isGone() {
				continue
			}
			f = e.view()
			if !q.Match(&f, nil) {
				continue
			}
			res.Total++
			if before == 0 || e.flow.ID < before {
				if len(res.Flows) < limit {
					res.Flows = append(res.Flows, summary(&f))
				} else if res.Next == 0 {
					res.Next = res.Flows[len(res.Flows)-1].ID
				}
			}
		}
		done = i < 0
		s.mu.RUnlock()
	}
	slices.Reverse(res.Flows)
	return res
}

// listWithBodies is List for a query with body terms: the other terms pick
// the candidates under the lock; bodies are read without it.
func (s *Store) listWithBodies(q *query.Query, before flow.ID, limit int) query.Result {
	res := query.Result{Complete: true}
	var ids []flow.ID
	s.Each(q, func(f *flow.Flow) bool {
		ids = append(ids, f.ID)
		return true
	})
	res.Total = len(ids)
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		if before != 0 && id >= before {
			continue
		}
		if len(res.Flows) == limit {
			res.Next = res.Flows[len(res.Flows)-1].ID
			break
		}
		if sum, ok := s.Summary(id); ok {
			res.Flows = append(res.Flows, sum)
		}
	}
	slices.Reverse(res.Flows)
	return res
}

func summary(f *flow.Flow) flow.Summary {
	sum := f.Summary()
	sum.Rules = slices.Clone(sum.Rules)
	return sum
}

// Each calls fn with a copy of every flow matching q (nil: every flow) in
// ascending ID order until fn returns false. It holds no lock while fn
// runs, or while bodies are read for body terms, so fn may be slow (write
// an export) and flows may come and go meanwhile.
func (s *Store) Each(q *query.Query, fn func(*flow.Flow) bool) {
	var match func(*flow.Flow) bool
	if !q.Empty() {
		match = func(f *flow.Flow) bool { return q.Match(f, nil) }
	}
	var bodies query.Bodies
	if q.NeedsBodies() {
		bodies = s.decodedBodies
	}
	var after flow.ID
	for {
		batch, cursor, more := s.collect(match, after)
		for _, f := range batch {
			if bodies != nil && !q.Match(f, bodies) {
				continue
			}
			if !fn(f) {
				return
			}
		}
		if !more {
			return
		}
		after = cursor
	}
}

// decodedBodies is DecodedBody in the shape body terms take.
func (s *Store) decodedBodies(id flow.ID, facet flow.Facet) (io.ReadCloser, error) {
	rc, _, err := s.DecodedBody(id, facet)
	return rc, err
}

// All returns Each as an iterator (the shape har.Export takes).
func (s *Store) All(q *query.Query) func(yield func(*flow.Flow) bool) {
	return func(yield func(*flow.Flow) bool) { s.Each(q, yield) }
}

// RuleCounts returns how many stored flows each rule touched (a flow counts
// once per rule). It reads every flow's rule list under the read lock, in
// chunks.
func (s *Store) RuleCounts() map[string]int {
	counts := map[string]int{}
	var after flow.ID
	for {
		s.mu.RLock()
		live := s.order[s.head:]
		i := sort.Search(len(live), func(i int) bool { return live[i].flow.ID > after })
		n := 0
		for ; i < len(live) && n < scanChunk; i, n = i+1, n+1 {
			e := live[i]
			after = e.flow.ID
			if e.isGone() {
				continue
			}
			rules := e.flow.Rules
			for k, id := range rules {
				if !slices.Contains(rules[:k], id) {
					counts[id]++
				}
			}
		}
		more := i < len(live)
		s.mu.RUnlock()
		if !more {
			return counts
		}
	}
}

// collect clones up to eachBatch matching flows with IDs above after,
// scanning at most scanChunk flows under one read lock. cursor is the last
// ID scanned; more is false once the scan reached the newest flow.
func (s *Store) collect(match func(*flow.Flow) bool, after flow.ID) (out []*flow.Flow, cursor flow.ID, more bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	live := s.order[s.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].flow.ID > after })
	cursor = after
	var f flow.Flow // one view reused: match makes it escape
	for n := 0; i < len(live); i, n = i+1, n+1 {
		if len(out) == eachBatch || n == scanChunk {
			return out, cursor, true
		}
		e := live[i]
		cursor = e.flow.ID
		if e.isGone() {
			continue
		}
		if match != nil {
			f = e.view()
			if !match(&f) {
				continue
			}
		}
		out = append(out, e.clone())
	}
	return out, cursor, false
}

// Body returns the captured bytes of one facet as received on the wire, and
// the facet's facts. The reader sees the bytes captured so far.
func (s *Store) Body(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
	i := facetIndex(facet)
	if i < 0 {
		return nil, flow.Body{}, fmt.Errorf("body facet %q: %w", facet, ErrNotFound)
	}
	s.mu.RLock()
	e, ok := s.lookupLocked(id)
	if !ok {
		s.mu.RUnlock()
		return nil, flow.Body{}, fmt.Errorf("flow %d: %w", id, ErrNotFound)
	}
	b := e.bodies[i].Load()
	if b == nil {
		s.mu.RUnlock()
		return nil, flow.Body{}, fmt.Errorf("flow %d %s body: %w", id, facet, ErrNotFound)
	}
	v := e.view()
	s.mu.RUnlock()
	var facts flow.Body
	switch facet {
	case flow.FacetRequest:
		facts = v.RequestBody
	case flow.FacetResponse:
		facts = v.ResponseBody
	case flow.FacetUpstream:
		facts = *v.UpstreamBody
	}
	rc, err := b.reader()
	if err != nil {
		return nil, facts, fmt.Errorf("flow %d %s body: %w", id, facet, err)
	}
	return rc, facts, nil
}

// Delete removes one flow and reports whether it was there.
func (s *Store) Delete(id flow.ID) bool {
	s.mu.Lock()
	e, ok := s.lookupLocked(id)
	if ok {
		s.unlinkLocked(e)
		s.compactLocked()
	}
	s.mu.Unlock()
	if ok {
		s.drop([]*entry{e}, false)
	}
	return ok
}

// Clear removes every flow and publishes a reset.
func (s *Store) Clear() {
	s.clear()
	s.feed.PublishReset()
}

func (s *Store) clear() {
	s.mu.Lock()
	var all []*entry
	for _, e := range s.order[s.head:] {
		if !e.markGone() {
			all = append(all, e)
		}
	}
	s.live = 0
	clear(s.sessFlows)
	s.order, s.head, s.holes = nil, 0, 0
	s.headBytes.Store(0)
	s.mu.Unlock()
	for _, e := range all {
		s.release(e)
	}
}

// Close drops every flow and removes the session directory. The store
// records nothing afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.clear()
	s.feed.PublishReset()
	if s.dir == "" {
		return nil
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove capture directory %s: %w", s.dir, err)
	}
	return nil
}
