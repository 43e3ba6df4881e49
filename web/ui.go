package web

import (
	"bytes"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// dist is the built browser app (`npm run build` writes it; it is committed
// so that a fresh clone serves the full dashboard).
//
//go:embed all:dist
var dist embed.FS

// distFiles is the app's file tree (dist/ itself as the root).
func distFiles() fs.FS {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return files
}

// uiHandler serves the browser app: files of dist as they are (Vite's
// content-hashed files under assets/ cached for a year), index.html for "/"
// and for every other unknown GET path (the app routes on the client), never
// cached. `/?token=T` logs the browser in first.
func (s *Server) uiHandler(files fs.FS) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.fail(w, r, errNotFound)
			return
		}
		if r.URL.Path == "/" && r.URL.Query().Has("token") {
			s.login(w, r)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if b, err := fs.ReadFile(files, name); err == nil {
				if strings.HasPrefix(name, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					w.Header().Set("Cache-Control", "no-cache")
				}
				http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
				return
			} else if !errors.Is(err, fs.ErrNotExist) && !isDirErr(files, name) {
				s.fail(w, r, err)
				return
			}
			if strings.HasPrefix(name, "assets/") {
				// A missing asset is a stale page, not an app route.
				s.fail(w, r, errNotFound)
				return
			}
		}
		index, err := fs.ReadFile(files, "index.html")
		if err != nil {
			s.fail(w, r, errors.New("dashboard app missing from the build: web/dist/index.html"))
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
	}
}

func isDirErr(files fs.FS, name string) bool {
	st, err := fs.Stat(files, name)
	return err == nil && st.IsDir()
}

// login checks `/?token=T`, stores the token in a strict cookie and
// redirects to "/", so the token leaves the address bar and the history.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !s.tokenOK(r.URL.Query().Get("token")) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("Loupe: invalid token. Open the dashboard URL printed at start-up.\n"))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    s.cfg.Token,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
