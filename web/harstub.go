package web

import (
	"errors"
	"net/http"
)

// The HAR endpoints answer 501 in a build without the HAR codec.

func (s *Server) handleExportHAR(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, errNotImplemented)
}

func (s *Server) handleImportHAR(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, errNotImplemented)
}

var _ = errors.New
