package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"loupe/proxy/headscan"
)

// Go's HTTP/1 server hides two things a proxy needs from the raw request
// head: that it carried both Content-Length and Transfer-Encoding (a
// smuggling vector the server resolves silently) and the client's spelling
// of header names. proxy/headscan watches the raw bytes of every connection
// Loupe serves HTTP/1 on; checkHead is where each request takes its verdict.

type namesKey struct{}

// checkHead takes what the head scanner saw of r's raw head. When the head
// must be refused (both Content-Length and Transfer-Encoding, or framing the
// scanner could not vouch for) it answers 400, closes the connection and
// reports true. Otherwise it returns r carrying the original spelling of
// header names that net/http canonicalised, so that they can be sent
// upstream as the client wrote them. Called once per request, first, on
// every server Loupe runs.
func (p *Proxy) checkHead(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	sc := headscan.FromContext(r.Context())
	if sc == nil {
		return r, false
	}
	names, err := sc.Next()
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, headscan.ErrConflict) {
			level = slog.LevelDebug
		}
		p.log.Log(r.Context(), level, "request refused", "client", r.RemoteAddr, "host", r.Host, "err", err)
		w.Header().Set("Connection", "close")
		http.Error(w, "Loupe: "+err.Error()+"; refused", http.StatusBadRequest)
		return r, true
	}
	if len(names) > 0 {
		r = r.WithContext(context.WithValue(r.Context(), namesKey{}, names))
	}
	return r, false
}

// keepCase are fields net/http reads or writes itself by their canonical
// name; renaming them would duplicate or hide them.
var keepCase = map[string]bool{
	"Host": true, "User-Agent": true, "Content-Length": true, "Transfer-Encoding": true,
	"Trailer": true, "Expect": true, "Te": true, "Connection": true, "Upgrade": true,
}

// restoreCase renames canonicalised header names in h back to the client's
// spelling recorded in ctx (HTTP/1 writes names as given; HTTP/2 lowercases
// them anyway).
func restoreCase(ctx context.Context, h http.Header) {
	names, _ := ctx.Value(namesKey{}).(map[string]string)
	for canon, orig := range names {
		if vs, ok := h[canon]; ok && !keepCase[canon] {
			delete(h, canon)
			h[orig] = vs
		}
	}
}
