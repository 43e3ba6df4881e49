package web

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// Paging bounds of GET /api/flows.
const (
	defaultLimit = 1000
	maxLimit     = 10000
)

// FlowPage is the answer of GET /api/flows. Seq is the store's sequence
// number read before the list was taken: the UI drops feed batches with a seq
// at or below it. Next is the cursor of the following (older) page, absent
// on the last one. Complete is false when part of the filter ran as a
// bounded scan that stopped before the oldest flow: Total then counts the
// matches among the Scanned newest flows. Session is the session listed (0:
// every session). Its TypeScript twin lives in ui/src/api/types.ts.
type FlowPage struct {
	Seq      uint64         `json:"seq"`
	Flows    []flow.Summary `json:"flows"`
	Total    int            `json:"total"`
	Next     flow.ID        `json:"next,omitempty"`
	Complete bool           `json:"complete"`
	Scanned  int            `json:"scanned,omitempty"`
	Session  flow.SessionID `json:"session"`
}

// sessionParam reads the session a request is about: session=ID, or
// session=all (0: every session); without it, the recording session. An
// unknown session is a 404.
func (s *Server) sessionParam(r *http.Request) (flow.SessionID, error) {
	v := r.URL.Query().Get("session")
	switch v {
	case "":
		return s.deps.Store.RecordingSession(), nil
	case "all":
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, httpError(http.StatusBadRequest, "session must be a session ID or all")
	}
	if _, err := s.findSession(flow.SessionID(n)); err != nil {
		return 0, err
	}
	return flow.SessionID(n), nil
}

// listing is what GET /api/flows and GET /api/tree both read from the
// query string.
type listing struct {
	filter  *filter.Filter // q, restricted to session
	session flow.SessionID
	limit   int
}

// listParams reads q, session and limit (def when absent, at most
// ceiling), checked in that order, so that both endpoints refuse a bad
// request alike.
func (s *Server) listParams(r *http.Request, def, ceiling int) (listing, error) {
	q := r.URL.Query()
	f, err := filter.Parse(q.Get("q"))
	if err != nil {
		return listing{}, err
	}
	session, err := s.sessionParam(r)
	if err != nil {
		return listing{}, err
	}
	limit := def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return listing{}, httpError(http.StatusBadRequest, "limit must be a positive integer")
		}
		limit = min(n, ceiling)
	}
	return listing{filter: query.InSession(f, session), session: session, limit: limit}, nil
}

func (s *Server) handleListFlows(w http.ResponseWriter, r *http.Request) {
	l, err := s.listParams(r, defaultLimit, maxLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	// cursor (the previous answer's next) and before are the same bound:
	// flows with a smaller ID.
	var cursor flow.ID
	for _, name := range []string{"cursor", "before"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, r, httpError(http.StatusBadRequest, name+" must be a flow ID"))
			return
		}
		cursor = flow.ID(n)
		break
	}
	// Seq first: a change between here and the list is then in a later
	// batch, never lost.
	seq := s.deps.Store.Seq()
	res := s.deps.Store.List(l.filter, query.Page{Cursor: cursor, Limit: l.limit})
	if res.Flows == nil {
		res.Flows = []flow.Summary{}
	}
	writeJSON(w, http.StatusOK, FlowPage{Seq: seq, Flows: res.Flows, Total: res.Total, Next: res.Next,
		Complete: res.Complete, Scanned: res.Scanned, Session: l.session})
}

type flowKey struct{}

// flowCtx loads the flow named in the path, or answers 404.
func (s *Server) flowCtx(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
		if err != nil {
			s.fail(w, r, httpError(http.StatusNotFound, "no flow "+chi.URLParam(r, "id")))
			return
		}
		fl, ok := s.deps.Store.Get(flow.ID(n))
		if !ok {
			s.fail(w, r, httpError(http.StatusNotFound, fmt.Sprintf("no flow %d", n)))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), flowKey{}, fl)))
	})
}

func flowFrom(r *http.Request) *flow.Flow { return r.Context().Value(flowKey{}).(*flow.Flow) }

func (s *Server) handleGetFlow(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, flowFrom(r))
}

func (s *Server) handleDeleteFlow(w http.ResponseWriter, r *http.Request) {
	fl := flowFrom(r)
	if !s.deps.Store.Delete(fl.ID) {
		s.fail(w, r, httpError(http.StatusNotFound, fmt.Sprintf("no flow %d", fl.ID)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleClearFlows clears every flow, or with session=ID the flows of one
// session (the session stays).
func (s *Server) handleClearFlows(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("session"); v != "" && v != "all" {
		id, err := s.sessionParam(r)
		if err == nil {
			err = s.deps.Store.ClearSession(id)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.hub.pokeState()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.deps.Store.Clear()
	s.hub.pokeState()
	w.WriteHeader(http.StatusNoContent)
}

// inlineTypes are the content types a browser may render from a body URL
// without risk: no HTML, SVG, XML or anything scriptable.
var inlineTypes = []string{
	"text/plain", "application/json",
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp", "image/x-icon",
	"audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "video/mp4", "video/webm", "video/ogg",
}

// handleBody serves one body of a flow: decoded by default, wire bytes with
// raw=1, the origin's original body of an overridden response with
// variant=upstream. Always nosniff, sandboxed, and an attachment unless
// inline=1 asks for a type in inlineTypes.
func (s *Server) handleBody(w http.ResponseWriter, r *http.Request) {
	fl := flowFrom(r)
	q := r.URL.Query()
	var facet flow.Facet
	switch chi.URLParam(r, "facet") {
	case "request":
		facet = flow.FacetRequest
	case "response":
		facet = flow.FacetResponse
		switch q.Get("variant") {
		case "", "served":
		case "upstream":
			facet = flow.FacetUpstream
		default:
			s.fail(w, r, httpError(http.StatusBadRequest, "variant must be upstream or served"))
			return
		}
	default:
		s.fail(w, r, httpError(http.StatusNotFound, "body facet must be request or response"))
		return
	}
	if facet == flow.FacetUpstream && fl.UpstreamBody == nil {
		s.fail(w, r, httpError(http.StatusNotFound, fmt.Sprintf("flow %d has no upstream variant: no rule replaced its response", fl.ID)))
		return
	}
	raw := q.Get("raw") == "1" || q.Get("raw") == "true"
	open := s.deps.Store.DecodedBody
	if raw {
		open = s.deps.Store.Body
	}
	rc, body, err := open(fl.ID, facet)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()

	ct := body.ContentType
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		ct, mt = "application/octet-stream", "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Loupe-Truncated", strconv.FormatBool(body.Truncated))
	if raw && body.Encoding != "" {
		h.Set("X-Loupe-Content-Encoding", body.Encoding)
	}
	inline := q.Get("inline") == "1" || q.Get("inline") == "true"
	disposition := "attachment"
	if inline && slices.Contains(inlineTypes, strings.ToLower(mt)) {
		disposition = "inline"
	}
	name := fmt.Sprintf("flow-%d-%s%s", fl.ID, facet, extension(mt, raw && body.Encoding != ""))
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": name}))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, rc)
	}
}

func extension(mt string, encoded bool) string {
	if encoded {
		return ".bin"
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return ".json"
	case mt == "text/html":
		return ".html"
	case mt == "text/plain":
		return ".txt"
	}
	if exts, err := mime.ExtensionsByType(mt); err == nil && len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

// ReplayAnswer is the answer of POST /api/flows/{id}/replay.
type ReplayAnswer struct {
	ID flow.ID `json:"id"`
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) {
	if s.deps.Replayer == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	fl := flowFrom(r)
	if fl.Kind != flow.KindHTTP {
		s.fail(w, r, httpError(http.StatusConflict, fmt.Sprintf("flow %d records a CONNECT tunnel (%s), not a request: it cannot be replayed", fl.ID, fl.Kind)))
		return
	}
	if fl.RequestBody.Truncated {
		s.fail(w, r, httpError(http.StatusConflict, fmt.Sprintf("flow %d: the request body was only partly captured; a replay would send it cut", fl.ID)))
		return
	}
	var body []byte
	if fl.RequestBody.Captured > 0 || fl.RequestBody.Size > 0 {
		rc, _, err := s.deps.Store.Body(fl.ID, flow.FacetRequest)
		if err != nil {
			s.fail(w, r, fmt.Errorf("replay flow %d: read request body: %w", fl.ID, err))
			return
		}
		body, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			s.fail(w, r, fmt.Errorf("replay flow %d: read request body: %w", fl.ID, err))
			return
		}
	}
	id, err := s.deps.Replayer.Replay(r.Context(), fl, body)
	if err != nil {
		s.fail(w, r, httpError(http.StatusBadGateway, fmt.Sprintf("replay flow %d: %v", fl.ID, err)))
		return
	}
	s.awaitReadable(r.Context(), id)
	writeJSON(w, http.StatusCreated, ReplayAnswer{ID: id})
}

// awaitReadable waits, briefly, until the store can read flow id. The
// durable capture writes new flows in batches (every ~50 ms), so a flow the
// proxy just began may not be readable yet; an answer that names a new flow
// (replay, compose) waits for it, so that the dashboard can open it at once.
// Bounded (2 s, or the request's end): a capture that is paused or falls
// behind still gets its answer.
func (s *Server) awaitReadable(ctx context.Context, id flow.ID) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := s.deps.Store.Summary(id); ok || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
