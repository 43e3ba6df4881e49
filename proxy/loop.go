package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Request loops through an outside hop.
//
// Loupe refuses requests aimed at itself, but it cannot see a loop that
// leaves the machine: an origin, a mapRemote target or another proxy that
// sends the request back through Loupe, which forwards it again, and so on
// until something runs out. RFC 9110 7.6.3 gives proxies the tool: every
// intermediary appends itself to Via. Loupe appends "1.1 loupe-<token>"
// (the protocol version it received, and a pseudonym holding a random token
// made when the Proxy is built), keeping the values already there, and a
// request that arrives already naming its own token has been here before:
// it is answered 508 Loop Detected and recorded as a failed flow, instead of
// being forwarded once more.
//
// Via is added to requests only. The token is random so that two Loupe
// instances chained on purpose (one in front of another) do not take each
// other's requests for loops, and so that nobody can forge a loop without
// having seen one of this instance's requests.

// viaTag is one Proxy's entry in Via.
type viaTag struct {
	// token is the pseudonym, "loupe-" and 16 hex digits.
	token string
	// byProto holds the whole value for HTTP/1.0, HTTP/1.1 and HTTP/2,
	// each as a one-element slice of capacity one: it is put into request
	// headers that had no Via without allocating, and is never written to
	// (an append to it copies).
	byProto [3][]string
}

func newViaTag() (viaTag, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return viaTag{}, fmt.Errorf("via token: %w", err)
	}
	t := viaTag{token: "loupe-" + hex.EncodeToString(b[:])}
	for i, v := range []string{"1.0", "1.1", "2"} {
		s := []string{v + " " + t.token}
		t.byProto[i] = s[:1:1]
	}
	return t, nil
}

// value returns the Via entry for a request received as r.
func (t *viaTag) value(r *http.Request) []string {
	switch {
	case r.ProtoMajor >= 2:
		return t.byProto[2]
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return t.byProto[0]
	default:
		return t.byProto[1]
	}
}

// add appends this proxy's entry to the Via of h, an outgoing request's
// header; r is the request as received.
func (t *viaTag) add(h http.Header, r *http.Request) {
	v := t.value(r)
	if old, ok := h["Via"]; ok && len(old) > 0 {
		h["Via"] = append(old[:len(old):len(old)], v[0])
		return
	}
	h["Via"] = v
}

// seen reports whether a request's header names this proxy in Via: the
// request went through it before.
func (t *viaTag) seen(h http.Header) bool {
	for _, v := range h["Via"] {
		if strings.Contains(v, t.token) {
			return true
		}
	}
	return false
}
