package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"loupe/proxy/flow"
)

// maxAnnotationBody bounds the JSON of PATCH /api/flows/{id}: a comment of
// flow.MaxComment bytes, escaped, and the rest.
const maxAnnotationBody = 8*flow.MaxComment + 1024

// handleAnnotate changes the mark, colour or comment of a flow (PATCH
// /api/flows/{id} with any of {"marked", "color", "comment"}; a field left
// out or null stays as it is, "" clears a colour or a comment) and answers
// the flow's new summary. A bad value is a 400 naming its field. The live
// feed tells every dashboard, as for any change of a flow.
func (s *Server) handleAnnotate(w http.ResponseWriter, r *http.Request) {
	p, err := decodeAnnotation(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sum, err := s.deps.Store.Annotate(flowFrom(r).ID, p)
	var ae *flow.AnnotationError
	if errors.As(err, &ae) {
		err = &fieldError{ae.Field, ae.Message}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// decodeAnnotation reads a patch field by field, so that a value of the
// wrong type is reported with its field's name.
func decodeAnnotation(w http.ResponseWriter, r *http.Request) (flow.AnnotationPatch, error) {
	var p flow.AnnotationPatch
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAnnotationBody))
	if err != nil {
		if mbe := asMaxBytes(err); mbe != nil {
			return p, mbe
		}
		return p, httpError(http.StatusBadRequest, "read body: "+err.Error())
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return p, httpError(http.StatusBadRequest, "body must be a JSON object with marked, color or comment")
	}
	for name, raw := range fields {
		var into any
		var msg string
		switch name {
		case "marked":
			into, msg = &p.Marked, "must be true or false"
		case "color":
			into, msg = &p.Color, "must be a string: red, orange, yellow, green, blue, purple, or \"\" for none"
		case "comment":
			into, msg = &p.Comment, "must be a string (\"\" removes the comment)"
		default:
			return p, &fieldError{name, "unknown field: a flow's annotation has marked, color and comment"}
		}
		if err := json.Unmarshal(bytes.TrimSpace(raw), into); err != nil {
			return p, &fieldError{name, msg}
		}
	}
	if p.Marked == nil && p.Color == nil && p.Comment == nil {
		return p, httpError(http.StatusBadRequest, "nothing to change: give marked, color or comment")
	}
	if err := p.Validate(); err != nil {
		var ae *flow.AnnotationError
		if errors.As(err, &ae) {
			return p, &fieldError{ae.Field, ae.Message}
		}
		return p, err
	}
	return p, nil
}
