package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"

	"loupe/proxy/flow"
)

// HeldMessage carries the whole held list after every change (and on
// connect). Its TypeScript twin lives in ui/src/api/types.ts.
type HeldMessage struct {
	Type string      `json:"type" tstype:"\"held/update\""`
	Held []flow.Held `json:"held"`
}

// ReleasedAnswer is the answer of continue-all and abort-all.
type ReleasedAnswer struct {
	Released int `json:"released"`
}

// AbortRequest is the optional body of .../abort and abort-all.
type AbortRequest struct {
	Status int `json:"status,omitempty"`
}

// feedBodyBudget bounds the bodies one held/update message carries: a
// body that does not fit is left out (flow.Message.BodyOmitted) and
// GET /api/held/{id} serves it. Held bodies go up to the breakpoint body
// cap (10 MiB) each, and a feed message must stay well inside a browser's
// send queue (Config.ClientQueueBytes).
const feedBodyBudget = 1 << 20

// feedBodies returns hs with the bodies that do not fit in
// feedBodyBudget left out, smallest first kept.
func feedBodies(hs []flow.Held) []flow.Held {
	type ref struct {
		i    int
		resp bool // hs[i].Response, else hs[i].Request
		size int
	}
	size := func(m *flow.Message) int { return len(ptrStr(m.Body)) + len(ptrStr(m.BodyBase64)) }
	var refs []ref
	for i := range hs {
		refs = append(refs, ref{i, false, size(&hs[i].Request)})
		if hs[i].Response != nil {
			refs = append(refs, ref{i, true, size(hs[i].Response)})
		}
	}
	slices.SortStableFunc(refs, func(a, b ref) int { return a.size - b.size })
	budget := feedBodyBudget
	for _, r := range refs {
		if r.size <= budget {
			budget -= r.size
			continue
		}
		// Copies: the messages may be shared with whoever listed them.
		if r.resp {
			cp := *hs[r.i].Response
			cp.Body, cp.BodyBase64, cp.BodyOmitted = nil, nil, true
			hs[r.i].Response = &cp
		} else {
			m := &hs[r.i].Request
			m.Body, m.BodyBase64, m.BodyOmitted = nil, nil, true
		}
	}
	return hs
}

func ptrStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// maxEditBytes bounds an edited message (its body as text or base64).
const maxEditBytes = 64 << 20

func (s *Server) live(w http.ResponseWriter, r *http.Request) (Live, bool) {
	if s.deps.Live == nil {
		s.fail(w, r, errNotImplemented)
		return nil, false
	}
	return s.deps.Live, true
}

func (s *Server) heldList() []flow.Held {
	hs := s.deps.Live.Held()
	if hs == nil {
		hs = []flow.Held{}
	}
	return hs
}

func (s *Server) handleHeld(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.live(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.heldList())
}

// handleHeldOne is GET /api/held/{id}: one held exchange, bodies whole.
func (s *Server) handleHeldOne(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.live(w, r); !ok {
		return
	}
	n, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.fail(w, r, errNotFound)
		return
	}
	for _, h := range s.heldList() {
		if h.ID == flow.ID(n) {
			writeJSON(w, http.StatusOK, h)
			return
		}
	}
	s.fail(w, r, flow.ErrNotHeld)
}

// handleRelease is POST /api/held/{id}/{action}: continue, execute,
// respond (both with the edited message as JSON) or abort (optionally
// {"status": N}).
func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	live, ok := s.live(w, r)
	if !ok {
		return
	}
	n, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.fail(w, r, errNotFound)
		return
	}
	rel := flow.Release{Action: chi.URLParam(r, "action")}
	switch rel.Action {
	case flow.ReleaseContinue:
	case flow.ReleaseExecute, flow.ReleaseRespond:
		var m flow.Message
		if err := decodeStrict(w, r, &m, false); err != nil {
			s.fail(w, r, err)
			return
		}
		rel.Edit = &m
	case flow.ReleaseAbort:
		var b AbortRequest
		if err := decodeStrict(w, r, &b, true); err != nil {
			s.fail(w, r, err)
			return
		}
		rel.Status = b.Status
	default:
		s.fail(w, r, errNotFound)
		return
	}
	if err := live.Release(flow.ID(n), rel); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleReleaseAll is POST /api/held/continue-all and abort-all.
func (s *Server) handleReleaseAll(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		live, ok := s.live(w, r)
		if !ok {
			return
		}
		var b AbortRequest
		if action == flow.ReleaseAbort {
			if err := decodeStrict(w, r, &b, true); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		n, err := live.ReleaseAll(action, b.Status)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, ReleasedAnswer{Released: n})
	}
}

// handleKill is POST /api/flows/{id}/kill.
func (s *Server) handleKill(w http.ResponseWriter, r *http.Request) {
	live, ok := s.live(w, r)
	if !ok {
		return
	}
	if err := live.Kill(flowFrom(r).ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeStrict reads one JSON value into v: unknown fields and trailing
// data are errors (400). With optional, an empty body leaves v as it is.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEditBytes))
	if err != nil {
		return err
	}
	if optional && len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpError(http.StatusBadRequest, fmt.Sprintf("bad JSON body: %v", err))
	}
	if dec.More() {
		return httpError(http.StatusBadRequest, "bad JSON body: data after the JSON value")
	}
	return nil
}

// liveStatus maps the errors of Live to statuses (see fail).
func liveStatus(err error, body *ErrorBody) (int, bool) {
	var ee *flow.EditError
	switch {
	case errors.As(err, &ee):
		body.Field = ee.Field
		return http.StatusBadRequest, true
	case errors.Is(err, flow.ErrNotHeld):
		return http.StatusNotFound, true
	case errors.Is(err, flow.ErrNotLive):
		return http.StatusConflict, true
	}
	return 0, false
}
