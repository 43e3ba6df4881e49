package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"loupe/proxy/flow"
)

// maxComposeBytes bounds the JSON of one composed request: its body, base64
// included, is held in memory while it is sent.
const maxComposeBytes = 64 << 20

// ComposeRequest is the body of POST /api/compose: shaped like a flow's own
// request head (method, url, headers as name/value pairs) plus its body as
// text or base64. Its TypeScript twin is ComposeRequest in
// ui/src/api/types.ts.
type ComposeRequest struct {
	Method     string      `json:"method"`
	URL        string      `json:"url"`
	Headers    flow.Fields `json:"headers"`
	Body       *string     `json:"body"`
	BodyBase64 *string     `json:"bodyBase64"`
	// From is the flow the request was edited from; 0 for none.
	From flow.ID `json:"from,omitempty"`
	// Breakpoints lets breakpoint rules hold the request like a client's;
	// by default they let it pass.
	Breakpoints bool `json:"breakpoints,omitempty"`
}

// ComposeAnswer is the answer of POST /api/compose: the new flow, and the
// header fields Loupe did not send as written because it computes them for
// each hop (hop-by-hop and framing fields, a Host the URL already names).
type ComposeAnswer struct {
	ID      flow.ID  `json:"id"`
	Dropped []string `json:"dropped,omitempty"`
}

// fieldError is a bad value in a request body, answered 400 with the field
// named (as "headers[2].name"), so a form can show it where it belongs.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func (s *Server) handleCompose(w http.ResponseWriter, r *http.Request) {
	if s.deps.Composer == nil {
		s.fail(w, r, errNotImplemented)
		return
	}
	var in ComposeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxComposeBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, httpError(http.StatusBadRequest, "compose: "+err.Error()))
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		s.fail(w, r, httpError(http.StatusBadRequest, "compose: one JSON object expected"))
		return
	}
	req, body, dropped, err := checkCompose(&in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var from *flow.Flow
	if in.From != 0 {
		if fl, ok := s.deps.Store.Get(in.From); ok {
			from = fl
		} else {
			// The original may have been evicted or deleted while the
			// request was being edited: the link still says where the
			// request came from, as a replay's does.
			from = &flow.Flow{ID: in.From}
		}
	}
	id, err := s.deps.Composer.Compose(r.Context(), req, body, from, in.Breakpoints)
	if err != nil {
		s.fail(w, r, httpError(http.StatusBadGateway, err.Error()))
		return
	}
	s.awaitReadable(r.Context(), id)
	writeJSON(w, http.StatusCreated, ComposeAnswer{ID: id, Dropped: dropped})
}

// checkCompose validates a composed request and returns what to send: the
// request head (the fragment dropped, the method GET when none is given),
// the body bytes, and the names of the fields left out.
func checkCompose(in *ComposeRequest) (flow.Request, []byte, []string, error) {
	req := flow.Request{Method: in.Method, Proto: "HTTP/1.1"}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	switch {
	case !httpguts.ValidHeaderFieldName(req.Method) || len(req.Method) > 64:
		return req, nil, nil, &fieldError{"method", fmt.Sprintf("%q is not an HTTP method (letters, digits and !#$%%&'*+-.^_`|~ only)", in.Method)}
	case strings.EqualFold(req.Method, http.MethodConnect):
		return req, nil, nil, &fieldError{"method", "CONNECT opens a tunnel; compose sends requests"}
	}

	u, err := checkComposeURL(in.URL)
	if err != nil {
		return req, nil, nil, err
	}
	req.URL = u.String()

	var body []byte
	switch {
	case in.Body != nil && in.BodyBase64 != nil:
		return req, nil, nil, &fieldError{"bodyBase64", "give body (text) or bodyBase64, not both"}
	case in.Body != nil:
		body = []byte(*in.Body)
	case in.BodyBase64 != nil:
		if body, err = base64.StdEncoding.DecodeString(*in.BodyBase64); err != nil {
			return req, nil, nil, &fieldError{"bodyBase64", "not valid standard base64: " + err.Error()}
		}
	}

	hopNames := map[string]bool{}
	for _, f := range in.Headers {
		if textproto.CanonicalMIMEHeaderKey(f.Name) == "Connection" {
			for _, name := range strings.Split(f.Value, ",") {
				if name = strings.TrimSpace(name); name != "" {
					hopNames[textproto.CanonicalMIMEHeaderKey(name)] = true
				}
			}
		}
	}
	var dropped []string
	for i, f := range in.Headers {
		at := fmt.Sprintf("headers[%d]", i)
		if !httpguts.ValidHeaderFieldName(f.Name) {
			return req, nil, nil, &fieldError{at + ".name", fmt.Sprintf("%q is not a valid header name", f.Name)}
		}
		if !httpguts.ValidHeaderFieldValue(f.Value) {
			return req, nil, nil, &fieldError{at + ".value", fmt.Sprintf("the value of %s must not contain control characters (CR, LF, NUL)", f.Name)}
		}
		name := textproto.CanonicalMIMEHeaderKey(f.Name)
		switch {
		case name == "Host":
			if !sameAuthority(f.Value, u) {
				return req, nil, nil, &fieldError{at + ".value", fmt.Sprintf("Host %q is not the URL's host %q: put the host in the URL", f.Value, u.Host)}
			}
			dropped = append(dropped, f.Name)
		case name == "Te" && strings.EqualFold(strings.TrimSpace(f.Value), "trailers"):
			// "TE: trailers" says the client takes trailers end to end
			// (gRPC relies on it): Loupe forwards it.
			req.Header = append(req.Header, f)
		case hopHeader(name) || hopNames[name]:
			dropped = append(dropped, f.Name)
		default:
			req.Header = append(req.Header, f)
		}
	}
	return req, body, dropped, nil
}

// checkComposeURL accepts an absolute http or https URL with a host; the
// fragment, which no client sends, is dropped.
func checkComposeURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, &fieldError{"url", "required: an absolute http:// or https:// URL"}
	}
	if len(s) > 64<<10 {
		return nil, &fieldError{"url", "longer than 64 KiB"}
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &fieldError{"url", fmt.Sprintf("not a URL: %v", err)}
	}
	switch u.Scheme {
	case "http", "https":
	case "ws", "wss":
		return nil, &fieldError{"url", "WebSocket requests cannot be composed: use http:// or https://"}
	case "":
		return nil, &fieldError{"url", "not absolute: start it with http:// or https://"}
	default:
		return nil, &fieldError{"url", fmt.Sprintf("scheme %q: only http and https", u.Scheme)}
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, &fieldError{"url", "no host"}
	}
	if u.User != nil {
		return nil, &fieldError{"url", "credentials in the URL are not sent: use an Authorization header"}
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// sameAuthority reports whether a Host field names u's host and port, the
// scheme's default port written or not.
func sameAuthority(host string, u *url.URL) bool {
	def := ":80"
	if u.Scheme == "https" {
		def = ":443"
	}
	norm := func(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), def)) }
	return norm(host) == norm(u.Host)
}

// hopHeader reports whether a header field describes one connection or the
// framing of one message (RFC 9110 7.6.1): Loupe sets those for each hop
// itself, as it does for every request it forwards.
func hopHeader(canonical string) bool {
	switch canonical {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length":
		return true
	}
	return false
}
