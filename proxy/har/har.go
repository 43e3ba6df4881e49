// Package har writes flows as HAR 1.2 and reads HAR files back into flows.
//
// Export streams: it writes one entry at a time and never holds the whole
// document (only one entry's bodies, bounded by Options.MaxBodyBytes). Its
// output is meant to load in Chrome DevTools: every required object and
// number is present, strings are never null, send/wait/receive are never
// negative and entry.time is the sum of the timings that happened.
//
// Bodies: content.text (and postData.text) hold the decoded body (the
// Content-Encoding undone), as UTF-8 text when it is text, else base64 with
// encoding "base64". When the wire body was content-encoded, Loupe adds
// _wireEncoding and, unless Options.OmitWire, _wireText (the wire bytes in
// base64), so that Import restores the exact bytes Loupe saw. Text in another
// charset is converted to UTF-8 and marked _charset, and Import converts it
// back. Trailers go in _trailers beside headers, in the same shape. Loupe's
// own fields start with "_".
//
// Import is tolerant of what browsers and other proxies write (BOM, null
// sizes, missing timings, seconds for milliseconds, base64 bodies) and strict
// about what it cannot guess: a malformed file is an error naming the entry
// and the field, and nothing is imported.
//
// The package knows flows and HAR, nothing else: no store, no HTTP server.
package har

import (
	"io"

	"loupe/proxy/flow"
)

// BodyFunc returns the wire bytes of one body facet of a flow and the facet's
// facts (store.Store.Body has this shape).
type BodyFunc func(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)

// DefaultMaxBodyBytes bounds one body (wire or decoded) held while writing an
// entry.
const DefaultMaxBodyBytes = 64 << 20

// Options tune Export. The zero value exports everything, unredacted.
type Options struct {
	// Redact blanks the values (keeping the names) of Authorization,
	// Proxy-Authorization, Cookie and Set-Cookie headers, of the cookies
	// derived from them, and of every header, query parameter and form
	// field named in RedactNames (case-insensitive).
	Redact bool
	// RedactNames are more header and query parameter names to redact.
	RedactNames []string
	// CreatorVersion is written as log.creator.version ("dev" when empty).
	CreatorVersion string
	// OmitWire leaves out _wireText (the base64 wire bytes of a
	// content-encoded body): smaller files, but Import then stores the
	// decoded body instead of the exact wire bytes.
	OmitWire bool
	// MaxBodyBytes bounds one body held in memory while writing its entry;
	// a longer body is cut and marked truncated. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// defaultRedacted are the headers whose values Redact always blanks.
var defaultRedacted = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// The HAR document, as Loupe writes it. Field order follows the spec.

type nameValue struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Comment string `json:"comment,omitempty"`
}

type cookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Expires  string `json:"expires,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
}

// bodyExtras are Loupe's fields on content and postData.
type bodyExtras struct {
	Truncated    bool   `json:"_truncated,omitempty"`
	WireEncoding string `json:"_wireEncoding,omitempty"`
	WireText     string `json:"_wireText,omitempty"`
	Charset      string `json:"_charset,omitempty"`
	// Undecoded marks text that holds the wire bytes (base64) because they
	// could not be decoded.
	Undecoded bool `json:"_undecoded,omitempty"`
}

type postData struct {
	MimeType string      `json:"mimeType"`
	Params   []nameValue `json:"params"`
	Text     string      `json:"text"`
	Encoding string      `json:"encoding,omitempty"`
	Comment  string      `json:"comment,omitempty"`
	bodyExtras
}

type request struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []cookie    `json:"cookies"`
	Headers     []nameValue `json:"headers"`
	QueryString []nameValue `json:"queryString"`
	PostData    *postData   `json:"postData,omitempty"`
	HeadersSize int64       `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
	// Trailers are Loupe's: the fields sent after the body, shaped like
	// headers.
	Trailers []nameValue `json:"_trailers,omitempty"`
}

type content struct {
	Size        int64  `json:"size"`
	Compression *int64 `json:"compression,omitempty"`
	MimeType    string `json:"mimeType"`
	Text        string `json:"text,omitempty"`
	Encoding    string `json:"encoding,omitempty"`
	Comment     string `json:"comment,omitempty"`
	bodyExtras
}

type response struct {
	Status      int         `json:"status"`
	StatusText  string      `json:"statusText"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []cookie    `json:"cookies"`
	Headers     []nameValue `json:"headers"`
	Content     content     `json:"content"`
	RedirectURL string      `json:"redirectURL"`
	HeadersSize int64       `json:"headersSize"`
	BodySize    int64       `json:"bodySize"`
	Trailers    []nameValue `json:"_trailers,omitempty"`
}

type timings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
	SSL     float64 `json:"ssl"`
}

type wsMessage struct {
	Type   string  `json:"type"`
	Time   float64 `json:"time"` // epoch seconds
	Opcode int     `json:"opcode"`
	Data   string  `json:"data"`
	// Loupe's: base64 data for an opcode that is normally text, and the
	// full size of a message whose data was cut.
	Encoding  string `json:"_encoding,omitempty"`
	Truncated bool   `json:"_truncated,omitempty"`
	Size      int    `json:"_size,omitempty"`
}

// upstreamRequest and upstreamResponse are the heads (and body) on the
// origin's side when rules changed them.
type upstreamRequest struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`
	HTTPVersion string      `json:"httpVersion"`
	Headers     []nameValue `json:"headers"`
	Trailers    []nameValue `json:"_trailers,omitempty"`
}

type upstreamResponse struct {
	Status      int         `json:"status"`
	StatusText  string      `json:"statusText"`
	HTTPVersion string      `json:"httpVersion"`
	Headers     []nameValue `json:"headers"`
	Content     *content    `json:"content,omitempty"`
	BodySize    int64       `json:"bodySize"`
	Trailers    []nameValue `json:"_trailers,omitempty"`
}

type upstream struct {
	Request  *upstreamRequest  `json:"request,omitempty"`
	Response *upstreamResponse `json:"response,omitempty"`
}

type entry struct {
	StartedDateTime   string      `json:"startedDateTime"`
	Time              float64     `json:"time"`
	Request           request     `json:"request"`
	Response          response    `json:"response"`
	Cache             struct{}    `json:"cache"`
	Timings           timings     `json:"timings"`
	Comment           string      `json:"comment,omitempty"`
	ResourceType      string      `json:"_resourceType,omitempty"`
	WebSocketMessages []wsMessage `json:"_webSocketMessages,omitempty"`
	Upstream          *upstream   `json:"_upstream,omitempty"`
	Rules             []string    `json:"_rules,omitempty"`
	Overridden        string      `json:"_overridden,omitempty"`
	Error             string      `json:"_error,omitempty"`
	State             string      `json:"_state,omitempty"`
	// Target and ServerName are flow.Tunnel's: where a request inside a
	// CONNECT tunnel went when its URL does not say it, and the TLS name
	// verified there. A replay of the imported flow goes there too.
	Target     string `json:"_target,omitempty"`
	ServerName string `json:"_serverName,omitempty"`
	// MappedTo is flow.Tunnel's: the address a host mapping connected to
	// instead (shown, never dialled by a replay).
	MappedTo string `json:"_mappedTo,omitempty"`
	// Kind and Tunnel describe an entry that records a CONNECT tunnel or a
	// failed client TLS handshake rather than a request (flow.Kind,
	// flow.Tunnel); request.bodySize and response.bodySize are then the
	// bytes that crossed each way, of which nothing was captured.
	Kind   string     `json:"_kind,omitempty"`
	Tunnel *tunnelExt `json:"_tunnel,omitempty"`
	// UpstreamNotKept says why the original body of an overridden
	// response is missing or cut (flow.Flow.UpstreamNotKept).
	UpstreamNotKept string `json:"_upstreamNotKept,omitempty"`
	// Breakpoint records what a breakpoint did to the flow
	// (flow.Flow.Breakpoint), in its JSON form.
	Breakpoint *flow.Breakpoint `json:"_breakpoint,omitempty"`
	// Composed marks a request written in Loupe's dashboard rather than
	// sent by a client (flow.Flow.Composed); ComposedFrom is the ID of the
	// flow it was edited from in the capture it was exported from. IDs are
	// new on import, so an import keeps the mark and drops the link.
	Composed     bool    `json:"_composed,omitempty"`
	ComposedFrom flow.ID `json:"_composedFrom,omitempty"`
	// Marked, Color and Comment are what a person added to the flow in
	// Loupe (flow.Annotation). _comment is not HAR's own comment, which
	// Loupe uses to say that a body was cut.
	Marked bool   `json:"_marked,omitempty"`
	Color  string `json:"_color,omitempty"`
	Note   string `json:"_comment,omitempty"`
}

// tunnelExt is _tunnel: what Loupe knows of a tunnel or failed handshake.
type tunnelExt struct {
	Mode    string `json:"mode,omitempty"`
	SNI     string `json:"sni,omitempty"`
	Failure string `json:"failure,omitempty"`
}
