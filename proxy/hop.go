package proxy

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// hopHeaders are the hop-by-hop fields of RFC 9110 7.6.1 (plus the
// historical Proxy-Connection and Keep-Alive), as net/http/httputil lists
// them. They describe one connection and must never be relayed.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders deletes, in place, the fields named by Connection and then
// the hop-by-hop list, in that order (the names must be read before
// Connection itself goes). "TE: trailers" is kept on requests because it
// says the client accepts trailers end to end (gRPC relies on it).
func removeHopHeaders(h http.Header, isRequest bool) {
	for _, f := range h["Connection"] {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	keepTE := isRequest && httpguts.HeaderValuesContainsToken(h["Te"], "trailers")
	for _, name := range hopHeaders {
		h.Del(name)
	}
	if keepTE {
		h.Set("Te", "trailers")
	}
}

// upgradeType returns the protocol a request or response asks to switch to
// ("websocket"), or "" when Connection does not carry the upgrade token.
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return strings.ToLower(h.Get("Upgrade"))
}
