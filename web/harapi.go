package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/har"
	"loupe/web/filter"
)

// handleExportHAR streams the flows matching q as HAR 1.2. Secrets
// (Authorization, Proxy-Authorization, cookies) are redacted unless
// secrets=1; redact=a,b names more headers, query parameters and form fields
// to redact. The store's Each holds no lock while an entry is written, so a
// slow download never holds up the proxy.
func (s *Server) handleExportHAR(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := filter.Parse(q.Get("q"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secrets := q.Get("secrets") == "1" || q.Get("secrets") == "true"

	name := fmt.Sprintf("loupe-%s.har", time.Now().UTC().Format("20060102-150405"))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	flows := func(yield func(*flow.Flow) bool) {
		s.deps.Store.Each(f, func(fl *flow.Flow) bool {
			if r.Context().Err() != nil {
				return false
			}
			return yield(fl)
		})
	}
	opt := har.Options{Redact: !secrets, CreatorVersion: s.cfg.Version}
	if opt.Redact {
		for n := range strings.SplitSeq(q.Get("redact"), ",") {
			if n = strings.TrimSpace(n); n != "" {
				opt.RedactNames = append(opt.RedactNames, n)
			}
		}
	}
	if err := har.Export(w, flows, s.deps.Store.Body, opt); err != nil {
		// The status line is gone; the client sees a cut document.
		s.log.Warn("HAR export cut", "err", err)
	}
}

// importAnswer is the answer of POST /api/flows/import.
type importAnswer struct {
	IDs   []flow.ID      `json:"ids"`
	Flows []flow.Summary `json:"flows"`
}

// handleImportHAR loads a HAR document (all entries or none).
func (s *Server) handleImportHAR(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxImportBytes)
	recs, err := har.Import(body)
	if err != nil {
		if mbe := asMaxBytes(err); mbe != nil {
			s.fail(w, r, mbe)
			return
		}
		s.fail(w, r, httpError(http.StatusBadRequest, "import HAR: "+err.Error()))
		return
	}
	ids, err := s.deps.Store.Import(recs)
	if err != nil {
		s.fail(w, r, httpError(http.StatusBadRequest, "import HAR: "+err.Error()))
		return
	}
	ans := importAnswer{IDs: ids, Flows: make([]flow.Summary, 0, len(ids))}
	if ans.IDs == nil {
		ans.IDs = []flow.ID{}
	}
	for _, id := range ids {
		if fl, ok := s.deps.Store.Get(id); ok {
			ans.Flows = append(ans.Flows, fl.Summary())
		}
	}
	writeJSON(w, http.StatusCreated, ans)
}

// asMaxBytes returns the *http.MaxBytesError inside err, or nil.
func asMaxBytes(err error) error {
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		return me
	}
	return nil
}
