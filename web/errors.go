package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"loupe/proxy/store"
	"loupe/rules"
	"loupe/web/filter"
)

// statusError is an error with the HTTP status it answers. Handlers return
// these (or sentinel errors from other packages); fail maps them all.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func httpError(status int, msg string) error { return &statusError{status: status, msg: msg} }

var (
	errNotFound       = httpError(http.StatusNotFound, "not found")
	errMethod         = httpError(http.StatusMethodNotAllowed, "method not allowed")
	errUnauthorized   = httpError(http.StatusUnauthorized, "missing or invalid token: open the dashboard URL printed at start-up, or send Authorization: Bearer <token>")
	errCrossSite      = httpError(http.StatusForbidden, "cross-site request refused")
	errNotImplemented = httpError(http.StatusNotImplemented, "not available in this setup")
)

// ErrorBody is the JSON of every error answer. Term is set for a bad filter,
// Field for a bad value in a request body (a composed request's "url", a
// held exchange's edit),
// Problems for invalid rules.
type ErrorBody struct {
	Error    string          `json:"error"`
	Term     string          `json:"term,omitempty"`
	Field    string          `json:"field,omitempty"`
	Problems []rules.Problem `json:"problems,omitempty"`
}

// fail is the one place where errors become HTTP statuses.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	body := ErrorBody{Error: err.Error()}
	var (
		se *statusError
		fe *filter.Error
		ve *rules.ValidationError
		me *http.MaxBytesError
	)
	var badField *fieldError
	if st, ok := liveStatus(err, &body); ok {
		status = st // a held exchange's release or a kill
	}
	switch {
	case status != http.StatusInternalServerError:
	case errors.As(err, &se):
		status = se.status
	case errors.As(err, &fe):
		status = http.StatusBadRequest
		body.Term = fe.Term
	case errors.As(err, &badField):
		status = http.StatusBadRequest
		body.Field = badField.field
	case errors.As(err, &ve):
		status = http.StatusBadRequest
		body.Problems = ve.Problems
		if body.Problems == nil {
			body.Problems = []rules.Problem{}
		}
	case errors.As(err, &me):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, store.ErrNotFound), errors.Is(err, rules.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, store.ErrRecording):
		status = http.StatusConflict
	case errors.Is(err, store.ErrImportTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, store.ErrBadSessionName):
		status = http.StatusBadRequest
	case errors.Is(err, store.ErrUnsupportedEncoding):
		status = http.StatusUnprocessableEntity
		body.Error = err.Error() + " (raw=1 serves the bytes as received)"
	}
	if status == http.StatusInternalServerError {
		s.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error = "internal error: " + err.Error()
	}
	writeJSON(w, status, body)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may be gone; nothing left to tell it
}
