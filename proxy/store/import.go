package store

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"loupe/proxy/flow"
)

// Import adds finished flows (read from a HAR file) to the recording
// session: each gets a new ID and Imported set. It is all or nothing: a flow
// that cannot be stored leaves the store unchanged.
func (s *Store) Import(rs []flow.Recorded) ([]flow.ID, error) {
	if len(rs) > s.cfg.MaxFlows {
		return nil, fmt.Errorf("import %d flows: more than the %d the store keeps", len(rs), s.cfg.MaxFlows)
	}
	im, err := s.NewImport(ImportTarget{Session: s.RecordingSession()})
	if err != nil {
		return nil, err
	}
	for i := range rs {
		if err := im.Add(&rs[i]); err != nil {
			im.Abort()
			return nil, err
		}
	}
	_, ids, err := im.Commit()
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Capacity is the most the store holds: MaxFlows flows, and its RAM and
// disk budgets of bodies and messages together.
func (s *Store) Capacity() (int, int64) { return s.cfg.MaxFlows, s.byteBudget() }

// byteBudget is what the store can hold of bodies and messages, in RAM and
// on disk together.
func (s *Store) byteBudget() int64 {
	n := s.cfg.RAMBudget
	if s.cfg.spills() {
		n += s.cfg.DiskBudget
	}
	return n
}

// NewImport starts a streamed import. Flows are staged outside the index
// (their bodies in RAM or spilled like any other) and enter the store at
// Commit; while staged, they count against no budget, so an import holds
// at most one more budget's worth of memory and disk until it commits (it
// fails with ErrImportTooLarge past that), and then the oldest flows are
// evicted as for any new flow.
func (s *Store) NewImport(t ImportTarget) (Importer, error) {
	if t.Size > s.byteBudget() {
		return nil, fmt.Errorf("import of %s: %w (%s of bodies)", FormatSize(t.Size), ErrImportTooLarge, FormatSize(s.byteBudget()))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errors.New("import: store closed")
	}
	if t.Session != 0 && s.sessionLocked(t.Session) == nil {
		return nil, fmt.Errorf("import into session %d: %w", t.Session, ErrNotFound)
	}
	if t.Session == 0 {
		name, err := SessionName(t.Name, time.Now())
		if err != nil {
			return nil, err
		}
		t.Name = name
	}
	return &memImport{s: s, t: t}, nil
}

// memImport is the memory store's Importer.
type memImport struct {
	s       *Store
	t       ImportTarget
	entries []*entry
	olds    []flow.ID // the IDs the flows had in the file (Verbatim)
	total   usage     // of the staged bodies
	wsRAM   int64     // counted only once the flows are in
	err     error
	done    bool
}

func (im *memImport) Flows() int { return len(im.entries) }

// fail drops what was staged and ends the import with err.
func (im *memImport) fail(err error) error {
	s := im.s
	for _, e := range im.entries {
		for i := range e.bodies {
			if b := e.bodies[i].Load(); b != nil {
				im.total.add(b.free(s))
			}
		}
	}
	im.entries = nil
	// A refused import keeps nothing, so it truncated nothing either.
	im.total.truncBodies, im.total.truncBytes = 0, 0
	s.account(im.total)
	im.total = usage{}
	im.err = err
	im.done = true
	return err
}

func (im *memImport) Abort() {
	if !im.done {
		im.fail(errors.New("import aborted"))
	}
}

func (im *memImport) Add(r *flow.Recorded) error {
	if im.err != nil {
		return im.err
	}
	if im.done {
		return errors.New("import: already committed")
	}
	s := im.s
	i := len(im.entries)
	if i >= s.cfg.MaxFlows {
		return im.fail(fmt.Errorf("import flow %d: %w (%d flows)", i, ErrImportTooLarge, s.cfg.MaxFlows))
	}
	if r.Flow.Request.Method == "" || r.Flow.Request.URL == "" {
		return im.fail(fmt.Errorf("import flow %d: request method and URL are required", i))
	}
	e := &entry{flow: *r.Flow.Clone()}
	e.flow.WebSocket = nil
	e.flow.Session = 0
	CleanAnnotation(&e.flow)
	if im.t.Verbatim {
		VerbatimState(&e.flow)
	} else {
		e.flow.Imported = true
		if e.flow.State == "" || e.flow.State == flow.StatePending {
			e.flow.State = flow.StateDone
		}
	}
	e.head = int32(flowOverhead + headSize(&e.flow.Request))
	for facet, data := range r.Bodies {
		fi := facetIndex(facet)
		if fi < 0 {
			return im.fail(fmt.Errorf("import flow %d: unknown body facet %q", i, facet))
		}
		b := &body{}
		im.total.add(b.write(s, data, -1))
		if b.err != nil {
			im.entries = append(im.entries, e)
			return im.fail(fmt.Errorf("import flow %d %s body: %w", i, facet, b.err))
		}
		if facet == flow.FacetUpstream && e.flow.UpstreamBody == nil {
			e.flow.UpstreamBody = &flow.Body{}
		}
		decl := facts(&e.flow, fi)
		var eu usage
		b.finish(s, &eu)
		im.total.add(eu)
		b.complete = !im.t.Verbatim || decl.Complete
		b.truncated = b.truncated || decl.Truncated
		b.size = max(b.size, decl.Size)
		b.publish()
		e.bodies[fi].Store(b)
	}
	for _, m := range r.Flow.WebSocket {
		m.Data = slices.Clone(m.Data)
		if int64(len(m.Data)) > s.cfg.BodyCap {
			m.Data = m.Data[:s.cfg.BodyCap]
			m.Truncated = true
		}
		e.flow.WebSocket = append(e.flow.WebSocket, m)
		e.wsRAM += int64(len(m.Data)) + wsOverhead
	}
	im.wsRAM += e.wsRAM
	for i := range 2 {
		if e.bodies[i].Load() == nil {
			b := &body{complete: true}
			if e.flow.Kind != flow.KindHTTP {
				// A tunnel's sizes count bytes that were never captured.
				b.size = [2]int64{e.flow.RequestBody.Size, e.flow.ResponseBody.Size}[i]
			}
			if im.t.Verbatim {
				decl := facts(&e.flow, i)
				b.size, b.truncated, b.complete = decl.Size, decl.Truncated, decl.Complete
			}
			b.publish()
			e.bodies[i].Store(b)
		}
	}
	e.setFinished()
	im.entries = append(im.entries, e)
	im.olds = append(im.olds, r.Flow.ID)
	// Staged bodies count against nothing yet: past what the store could
	// ever hold, the import cannot succeed.
	if ram := im.total.ram + im.wsRAM; ram > s.cfg.RAMBudget {
		return im.fail(fmt.Errorf("import flow %d: %w (%s of bodies in memory)", i, ErrImportTooLarge, FormatSize(s.cfg.RAMBudget)))
	}
	if s.cfg.spills() && im.total.disk > s.cfg.DiskBudget {
		return im.fail(fmt.Errorf("import flow %d: %w (%s of bodies on disk)", i, ErrImportTooLarge, FormatSize(s.cfg.DiskBudget)))
	}
	return nil
}

// facts points at body facet i of f (the upstream one may be nil).
func facts(f *flow.Flow, i int) flow.Body {
	switch i {
	case 0:
		return f.RequestBody
	case 1:
		return f.ResponseBody
	}
	if f.UpstreamBody != nil {
		return *f.UpstreamBody
	}
	return flow.Body{}
}

func (im *memImport) Commit() (Session, []flow.ID, error) {
	if im.err != nil {
		return Session{}, nil, im.err
	}
	if im.done {
		return Session{}, nil, errors.New("import: already committed")
	}
	s := im.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Session{}, nil, im.fail(errors.New("import: store closed"))
	}
	target := im.t.Session
	if target == 0 {
		target = s.addSessionLocked(im.t.Name, time.Now()).id
	} else if s.sessionLocked(target) == nil {
		s.mu.Unlock()
		return Session{}, nil, im.fail(fmt.Errorf("import into session %d: %w", target, ErrNotFound))
	}
	var victims []*entry
	for s.live+len(im.entries) > s.cfg.MaxFlows {
		v := s.oldestLocked()
		if v == nil {
			break
		}
		s.unlinkLocked(v)
		victims = append(victims, v)
	}
	ids := make([]flow.ID, len(im.entries))
	var m IDMap
	for i, e := range im.entries {
		s.nextID++
		e.flow.ID = s.nextID
		e.flow.Session = target
		ids[i] = e.flow.ID
		if im.t.Verbatim {
			m.Add(im.olds[i], e.flow.ID)
			e.flow.ReplayOf = m.Lookup(e.flow.ReplayOf)
			e.flow.ComposedFrom = m.Lookup(e.flow.ComposedFrom)
		}
		s.insertLocked(e)
	}
	s.compactLocked()
	s.mu.Unlock()
	im.done = true
	im.total.ram += im.wsRAM
	s.account(im.total)
	s.drop(victims, true)
	s.feed.PublishMany(ids)
	if s.overBudget() {
		s.enforce(0)
	}
	sess, err := s.session(target)
	return sess, ids, err
}
