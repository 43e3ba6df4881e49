package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"loupe/proxy/archive"
	"loupe/proxy/flow"
	"loupe/proxy/har"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

// The session endpoints: the capture as a list of named sessions, one of
// them recording (GET, POST /api/sessions; PATCH, DELETE
// /api/sessions/{id}), saved as one file and opened again
// (GET /api/sessions/{id}/export, POST /api/sessions/import).

// findSession returns one session, or a 404.
func (s *Server) findSession(id flow.SessionID) (store.Session, error) {
	ss, err := s.deps.Store.Sessions()
	if err != nil {
		return store.Session{}, err
	}
	for _, x := range ss {
		if x.ID == id {
			return x, nil
		}
	}
	return store.Session{}, httpError(http.StatusNotFound, fmt.Sprintf("no session %d", id))
}

type sessionKey struct{}

// sessionCtx loads the session named in the path, or answers 404.
func (s *Server) sessionCtx(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := chi.URLParam(r, "sessionID")
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			s.fail(w, r, httpError(http.StatusNotFound, "no session "+raw))
			return
		}
		ss, err := s.findSession(flow.SessionID(n))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, ss)))
	})
}

func sessionFrom(r *http.Request) store.Session {
	return r.Context().Value(sessionKey{}).(store.Session)
}

// handleListSessions answers every session, oldest first.
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	ss, err := s.deps.Store.Sessions()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ss == nil {
		ss = []store.Session{}
	}
	writeJSON(w, http.StatusOK, ss)
}

// maxSessionBody bounds the JSON of a session's creation or change.
const maxSessionBody = 16 << 10

// decodeSessionBody reads a small JSON object strictly; an empty body is
// an empty object.
func decodeSessionBody(w http.ResponseWriter, r *http.Request, into any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSessionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		if mbe := asMaxBytes(err); mbe != nil {
			return mbe
		}
		return httpError(http.StatusBadRequest, "session: "+err.Error())
	}
	return nil
}

// NewSessionRequest is the optional body of POST /api/sessions.
type NewSessionRequest struct {
	// Name names the session; "" names it after the time.
	Name string `json:"name,omitempty"`
}

// handleNewSession starts a session ({"name"} optional) that becomes the
// recording one; 201 with it.
func (s *Server) handleNewSession(w http.ResponseWriter, r *http.Request) {
	var body NewSessionRequest
	if err := decodeSessionBody(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	ss, err := s.deps.Store.NewSession(body.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.hub.pokeState()
	writeJSON(w, http.StatusCreated, ss)
}

// handleUpdateSession renames or pins a session ({"name", "pinned"}, both
// optional) and answers it.
func (s *Server) handleUpdateSession(w http.ResponseWriter, r *http.Request) {
	var p store.SessionPatch
	if err := decodeSessionBody(w, r, &p); err != nil {
		s.fail(w, r, err)
		return
	}
	ss, err := s.deps.Store.UpdateSession(sessionFrom(r).ID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.hub.pokeState()
	writeJSON(w, http.StatusOK, ss)
}

// handleDeleteSession removes a session with its flows (204). The
// recording session is refused (409): start a new session first, or clear
// its flows (DELETE /api/flows?session=ID).
func (s *Server) handleDeleteSession(w http.ResponseWriter, r *http.Request) {
	id := sessionFrom(r).ID
	if err := s.deps.Store.DeleteSession(id); err != nil {
		if errors.Is(err, store.ErrRecording) {
			err = httpError(http.StatusConflict, fmt.Sprintf(
				"session %d is recording: start a new session first (POST /api/sessions), or clear its flows (DELETE /api/flows?session=%d)", id, id))
		}
		s.fail(w, r, err)
		return
	}
	s.hub.pokeState()
	w.WriteHeader(http.StatusNoContent)
}

// handleExportSession streams a session as one Loupe session file (see
// proxy/archive): every flow with its bodies and messages, nothing
// redacted, since the file is the capture itself. A failure once the file
// has begun aborts the response, so a client never keeps a cut file that
// looks whole (the file's trailer would be missing anyway).
func (s *Server) handleExportSession(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r)
	name := fileName(ss.Name) + archive.Extension
	w.Header().Set("Content-Type", archive.ContentType)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	flows := func(yield func(*flow.Flow) bool) {
		s.deps.Store.Each(query.InSession(nil, ss.ID), func(f *flow.Flow) bool {
			return r.Context().Err() == nil && yield(f)
		})
	}
	h := archive.Header{Name: ss.Name, Created: ss.Created, Pinned: ss.Pinned, Creator: "Loupe " + s.cfg.Version}
	if err := archive.Write(w, h, flows, s.deps.Store.Body); err != nil || r.Context().Err() != nil {
		s.log.Warn("session export cut", "session", ss.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// fileName makes a session's name safe as a file name.
func fileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(name))
	if name == "" {
		name = "session"
	}
	return "loupe-" + name
}

// handleImportSession opens a Loupe session file, or a HAR, as a new
// session (never the recording one): 201 with the session. ?name= names it
// (default: the name saved in a session file, else the time). The import
// streams, is all or nothing, and is refused early when it cannot fit.
func (s *Server) handleImportSession(w http.ResponseWriter, r *http.Request) {
	ss, _, err := s.importFile(w, r, store.ImportTarget{Name: r.URL.Query().Get("name")})
	if err != nil {
		s.failImport(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ss)
}

// importFile streams an import body (a Loupe session file, told apart by
// its gzip magic, or a HAR document) into the store: entry by entry, so
// that memory holds one entry and the store's staging, never the file.
// Nothing is kept unless the whole file is read without error.
func (s *Server) importFile(w http.ResponseWriter, r *http.Request, t store.ImportTarget) (store.Session, []flow.ID, error) {
	if r.ContentLength > s.cfg.MaxImportBytes {
		return store.Session{}, nil, httpError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("import: the file is %s; imports are limited to %s", store.FormatSize(r.ContentLength), store.FormatSize(s.cfg.MaxImportBytes)))
	}
	if _, capBytes := s.deps.Store.Capacity(); r.ContentLength > capBytes {
		return store.Session{}, nil, httpError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("import: the file is %s: %v (%s)", store.FormatSize(r.ContentLength), store.ErrImportTooLarge, store.FormatSize(capBytes)))
	}
	if r.ContentLength > 0 {
		t.Size = r.ContentLength
	}
	run := s.imports.start(t.Name, r.ContentLength)
	defer func() {
		s.imports.end(run)
		s.hub.pokeState()
	}()
	s.hub.pokeState()
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxImportBytes), n: &run.bytes}
	br := bufio.NewReaderSize(body, 64<<10)
	prefix, _ := br.Peek(2)

	what := "import HAR"
	var next func() (*flow.Recorded, error)
	if archive.IsGzip(prefix) {
		what = "import session"
		ar, err := archive.Open(br, archive.Options{MaxBody: s.deps.Store.Stats().BodyCap})
		if err != nil {
			return store.Session{}, nil, importError(what, err)
		}
		t.Verbatim = true
		if t.Name == "" && t.Session == 0 {
			t.Name = ar.Header().Name
			run.setName(t.Name)
		}
		next = ar.Next
	} else {
		dec := har.NewDecoder(br)
		next = func() (*flow.Recorded, error) {
			rec, err := dec.Next()
			return &rec, err
		}
	}
	im, err := s.deps.Store.NewImport(t)
	if err != nil {
		return store.Session{}, nil, importError(what, err)
	}
	for {
		rec, err := next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = im.Add(rec)
		}
		if err != nil {
			im.Abort()
			return store.Session{}, nil, importError(what, err)
		}
		run.flows.Store(int64(im.Flows()))
	}
	ss, ids, err := im.Commit()
	if err != nil {
		return store.Session{}, nil, importError(what, err)
	}
	return ss, ids, nil
}

// failImport answers a failed import and closes the connection: the rest
// of a refused file is not worth reading (net/http would otherwise read up
// to 256 KiB of it before answering).
func (s *Server) failImport(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Connection", "close")
	s.fail(w, r, err)
}

// importError says what failed: too large (413) or malformed (400), unless
// the store itself failed.
func importError(what string, err error) error {
	if mbe := asMaxBytes(err); mbe != nil {
		return fmt.Errorf("%s: %w", what, mbe)
	}
	switch {
	case errors.Is(err, store.ErrImportTooLarge):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrBadSessionName):
		return err
	}
	var se *statusError
	if errors.As(err, &se) {
		return err
	}
	return httpError(http.StatusBadRequest, what+": "+err.Error())
}

// countingReader counts the bytes read through it, for the import's
// progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ImportProgress is one import in progress, in the state: the bytes read of
// the file (Total: its size, -1 when the client did not say) and the flows
// read so far. Its TypeScript twin lives in ui/src/api/types.ts.
type ImportProgress struct {
	ID      int       `json:"id"`
	Name    string    `json:"name"`
	Bytes   int64     `json:"bytes"`
	Total   int64     `json:"total"`
	Flows   int64     `json:"flows"`
	Started time.Time `json:"started"`
}

// imports are the imports in progress.
type imports struct {
	mu   sync.Mutex
	last int
	runs []*importRun
}

type importRun struct {
	id      int
	total   int64
	started time.Time
	bytes   atomic.Int64
	flows   atomic.Int64
	name    atomic.Pointer[string]
}

func (r *importRun) setName(n string) { r.name.Store(&n) }

func (im *imports) start(name string, total int64) *importRun {
	if total <= 0 {
		total = -1
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	im.last++
	run := &importRun{id: im.last, total: total, started: time.Now()}
	run.setName(name)
	im.runs = append(im.runs, run)
	return run
}

func (im *imports) end(run *importRun) {
	im.mu.Lock()
	defer im.mu.Unlock()
	for i, x := range im.runs {
		if x == run {
			im.runs = append(im.runs[:i], im.runs[i+1:]...)
			return
		}
	}
}

// progress lists the imports in progress (nil when none).
func (im *imports) progress() []ImportProgress {
	im.mu.Lock()
	defer im.mu.Unlock()
	var out []ImportProgress
	for _, r := range im.runs {
		out = append(out, ImportProgress{ID: r.id, Name: *r.name.Load(), Bytes: r.bytes.Load(), Total: r.total,
			Flows: r.flows.Load(), Started: r.started})
	}
	return out
}
