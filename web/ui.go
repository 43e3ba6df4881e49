package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
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

// uiHandler serves the browser app: files of files as they are, index.html
// for "/" and for every other unknown GET path (the app routes on the
// client). Files with a content hash in their name are cached for a year;
// everything else, index.html included, is revalidated on each use (by
// ETag). `/?token=T` logs the browser in first.
func (s *Server) uiHandler(files fs.FS) http.HandlerFunc {
	var etags sync.Map // name -> ETag, computed once per file
	serve := func(w http.ResponseWriter, r *http.Request, name string, b []byte) {
		tag, ok := etags.Load(name)
		if !ok {
			sum := sha256.Sum256(b)
			tag = `"` + hex.EncodeToString(sum[:12]) + `"`
			etags.Store(name, tag)
		}
		w.Header().Set("ETag", tag.(string))
		if isHashedName(path.Base(name)) {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		if name == "index.html" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	}
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
			// A page opened at a deep link resolves "./assets/x" below it.
			if i := strings.Index(name, "/assets/"); i >= 0 {
				if _, err := fs.Stat(files, name); err != nil {
					name = name[i+1:]
				}
			}
			b, err := fs.ReadFile(files, name)
			if err == nil {
				serve(w, r, name, b)
				return
			}
			if !errors.Is(err, fs.ErrNotExist) && !isDirErr(files, name) {
				s.fail(w, r, err)
				return
			}
			if strings.HasPrefix(name, "assets/") || path.Ext(name) == ".js" || path.Ext(name) == ".css" {
				// A missing script or style is a stale page, not an app route.
				s.fail(w, r, errNotFound)
				return
			}
		}
		index, err := fs.ReadFile(files, "index.html")
		if err != nil {
			s.fail(w, r, errors.New("dashboard app missing from the build: web/dist/index.html"))
			return
		}
		serve(w, r, "index.html", index)
	}
}

// hashedName matches Vite-style content-hashed file names such as
// "index-4f3a9c1b.js" or "app.BkP3x_9Q.css": an 8-character hash before the
// extension.
var hashedName = regexp.MustCompile(`[-.]([A-Za-z0-9_]{8})\.[a-z0-9]+$`)

// isHashedName requires a digit in the hash too, so that a plain word
// ("-Settings.js") is not taken for one; a hash without digits just loses
// the long cache.
func isHashedName(name string) bool {
	m := hashedName.FindStringSubmatch(name)
	return m != nil && strings.ContainsAny(m[1], "0123456789")
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
