package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/har"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// handleExportHAR streams the flows matching q (of one session with
// session=ID; default every session, as before sessions) as HAR 1.2. Secrets
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
	var session flow.SessionID // every session
	if q.Get("session") != "" {
		if session, err = s.sessionParam(r); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	secrets := q.Get("secrets") == "1" || q.Get("secrets") == "true"

	name := fmt.Sprintf("loupe-%s.har", time.Now().UTC().Format("20060102-150405"))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	flows := func(yield func(*flow.Flow) bool) {
		s.deps.Store.Each(query.InSession(f, session), func(fl *flow.Flow) bool {
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

// ImportAnswer is the answer of POST /api/flows/import: the IDs of the
// imported flows and the summaries of the first maxImportSummaries.
type ImportAnswer struct {
	IDs   []flow.ID      `json:"ids"`
	Flows []flow.Summary `json:"flows"`
}

// maxImportSummaries bounds the summaries an import answers with (the
// dashboard reads its list from the feed; a script reads them by ID).
const maxImportSummaries = 10_000

// handleImportHAR loads a HAR document (or a Loupe session file) into the
// recording session, all entries or none, streamed (see importFile).
func (s *Server) handleImportHAR(w http.ResponseWriter, r *http.Request) {
	_, ids, err := s.importFile(w, r, store.ImportTarget{Session: s.deps.Store.RecordingSession()})
	if err != nil {
		s.failImport(w, r, err)
		return
	}
	ans := ImportAnswer{IDs: ids, Flows: make([]flow.Summary, 0, min(len(ids), maxImportSummaries))}
	if ans.IDs == nil {
		ans.IDs = []flow.ID{}
	}
	for _, id := range ids[:min(len(ids), maxImportSummaries)] {
		if sum, ok := s.deps.Store.Summary(id); ok {
			ans.Flows = append(ans.Flows, sum)
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
