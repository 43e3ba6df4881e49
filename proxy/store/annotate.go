package store

import (
	"fmt"
	"slices"

	"loupe/proxy/flow"
)

// Annotate applies p to the annotation of flow id (finished or in
// progress, in any session) and returns the flow's new summary; the change
// is published to watchers like any other. ErrNotFound for an unknown
// flow, a *flow.AnnotationError for a bad value.
func (s *Store) Annotate(id flow.ID, p flow.AnnotationPatch) (flow.Summary, error) {
	if err := p.Validate(); err != nil {
		return flow.Summary{}, err
	}
	s.mu.Lock()
	e, ok := s.lookupLocked(id)
	if !ok {
		s.mu.Unlock()
		return flow.Summary{}, fmt.Errorf("annotate flow %d: %w", id, ErrNotFound)
	}
	// Replaced whole, never changed in place: clones share the pointer.
	e.flow.Annotation = p.Apply(e.flow.Annotation.Value()).Ptr()
	v := e.view()
	sum := v.Summary()
	sum.Rules = slices.Clone(sum.Rules)
	s.mu.Unlock()
	s.feed.PublishUpdated(id)
	return sum, nil
}

// CleanAnnotation drops from an imported flow's annotation what no valid
// one holds (see flow.Annotation.Clean): a file may say anything.
func CleanAnnotation(f *flow.Flow) {
	if f.Annotation != nil {
		f.Annotation = f.Annotation.Value().Clean().Ptr()
	}
}
