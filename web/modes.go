package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"loupe/browser"
	"loupe/hostmap"
)

// modeRoutes adds the routes of the browser launcher and the host map to
// the token-guarded /api router.
func (s *Server) modeRoutes(r chi.Router) {
	r.Get("/browsers", s.handleBrowsers)
	r.Post("/browsers", s.handleLaunchBrowser)
	r.Delete("/browsers/{browserID}", s.handleStopBrowser)
	r.Get("/hostmap", s.handleHostMap)
	r.Put("/hostmap", s.handleReplaceHostMap)
}

// BrowsersState is the answer of GET /api/browsers. Its TypeScript twin
// lives in ui/src/api/types.ts.
type BrowsersState struct {
	// Available are the browsers installed on Loupe's machine.
	Available []browser.Found `json:"available"`
	// Launched are the browsers started from the dashboard, newest first.
	Launched []browser.Info `json:"launched"`
}

func (s *Server) handleBrowsers(w http.ResponseWriter, r *http.Request) {
	if s.deps.Browsers == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	writeJSON(w, http.StatusOK, BrowsersState{Available: nonNil(s.deps.Browsers.Available()), Launched: nonNil(s.deps.Browsers.List())})
}

// LaunchRequest is the body of POST /api/browsers; both fields are
// optional. Its TypeScript twin lives in ui/src/api/types.ts.
type LaunchRequest struct {
	// Browser is a name from BrowsersState.Available; "" the first one.
	Browser string `json:"browser,omitempty"`
	// URL is the first page to open.
	URL string `json:"url,omitempty"`
}

func (s *Server) handleLaunchBrowser(w http.ResponseWriter, r *http.Request) {
	if s.deps.Browsers == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	var req LaunchRequest
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.fail(w, r, httpError(http.StatusBadRequest, "launch request: "+err.Error()))
			return
		}
	}
	info, err := s.deps.Browsers.Launch(r.Context(), req.Browser, req.URL)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, browser.ErrNoBrowser) || errors.Is(err, browser.ErrNoSuchBrowser) {
			status = http.StatusNotFound
		}
		s.fail(w, r, httpError(status, err.Error()))
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (s *Server) handleStopBrowser(w http.ResponseWriter, r *http.Request) {
	if s.deps.Browsers == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	id, err := strconv.Atoi(chi.URLParam(r, "browserID"))
	if err != nil {
		s.fail(w, r, errNotFound)
		return
	}
	if err := s.deps.Browsers.Stop(id); err != nil {
		if errors.Is(err, browser.ErrUnknown) {
			err = errNotFound
		}
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// HostMapState is the answer of GET and PUT /api/hostmap; PUT takes its
// Entries. Its TypeScript twin lives in ui/src/api/types.ts.
type HostMapState struct {
	// Fixed are the command line's mappings (-map-host), in force first;
	// the dashboard cannot change them.
	Fixed []hostmap.Entry `json:"fixed"`
	// Entries are the mappings kept in hosts.json.
	Entries []hostmap.Entry `json:"entries"`
}

// HostMapRequest is the body of PUT /api/hostmap: the mappings to keep
// in hosts.json, replacing the ones there.
type HostMapRequest struct {
	Entries []hostmap.Entry `json:"entries"`
}

func (s *Server) hostMapState() HostMapState {
	return HostMapState{Fixed: nonNil(s.deps.HostMap.Fixed()), Entries: nonNil(s.deps.HostMap.Entries())}
}

func (s *Server) handleHostMap(w http.ResponseWriter, r *http.Request) {
	if s.deps.HostMap == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	writeJSON(w, http.StatusOK, s.hostMapState())
}

func (s *Server) handleReplaceHostMap(w http.ResponseWriter, r *http.Request) {
	if s.deps.HostMap == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	var body HostMapRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		s.fail(w, r, httpError(http.StatusBadRequest, "host mappings: "+err.Error()))
		return
	}
	if err := s.deps.HostMap.Replace(body.Entries); err != nil {
		var ve *hostmap.ValidationError
		if errors.As(err, &ve) {
			err = httpError(http.StatusBadRequest, err.Error())
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.hostMapState())
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}
