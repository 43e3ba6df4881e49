// Package flow is Loupe's domain model: one Flow per proxied request (and per
// CONNECT that is recorded as itself: a tunnel, a failed client handshake),
// with the request and response heads as received and as sent, body facts,
// timings, WebSocket messages, errors and the rules that touched it.
//
// It is the vocabulary shared by the proxy core (which reports phases through
// Recorder), the store (which keeps flows), the HAR codec and the web API. It
// imports only the standard library and must never learn about goproxy,
// storage or HTTP servers.
package flow

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ID identifies a flow. IDs are monotonic within one run, so they sort in
// arrival order and serve as paging cursors. In JSON they are plain numbers.
type ID uint64

// SessionID identifies a session of the capture: a named run of flows
// (the one recording, earlier ones, imported files). In JSON it is a plain
// number; 0 means no session (a flow not yet stored).
type SessionID int64

// State is where a flow is in its life.
type State string

// The states of a flow.
const (
	StatePending State = "pending" // request seen, response not finished
	StateDone    State = "done"    // response finished (or WebSocket closed) normally
	StateError   State = "error"   // failed: see Flow.Error
)

// Field is one header line. A list of fields keeps the order in which Loupe
// saw them, which a map cannot.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Fields is an ordered header list.
type Fields []Field

// FieldsFromHeader converts an http.Header. Go's parser has already lost the
// wire order, so names are sorted for a stable display; the values of one
// name keep their order.
func FieldsFromHeader(h http.Header) Fields {
	var buf [32]string // most heads: the names stay off the heap
	names := buf[:0]
	n := 0
	for k, vs := range h {
		names = append(names, k)
		n += len(vs)
	}
	slices.Sort(names)
	out := make(Fields, 0, n)
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, Field{Name: k, Value: v})
		}
	}
	return out
}

// Header converts back to an http.Header (names canonicalised).
func (fs Fields) Header() http.Header {
	h := make(http.Header, len(fs))
	for _, f := range fs {
		h.Add(f.Name, f.Value)
	}
	return h
}

// Get returns the first value of name, compared case-insensitively, or "".
func (fs Fields) Get(name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Request is a request head.
type Request struct {
	Method string `json:"method"`
	// URL is absolute (scheme and host included), also for requests that
	// arrived inside a MITM tunnel.
	URL    string `json:"url"`
	Proto  string `json:"proto"` // "HTTP/1.1", "HTTP/2.0"
	Header Fields `json:"headers"`
	// Trailers are the fields sent after the body (HTTP/1.1 chunked
	// trailers, HTTP/2 trailing HEADERS); known only at the body's end.
	Trailers Fields `json:"trailers,omitempty"`
}

// Response is a response head.
type Response struct {
	Status int    `json:"status"`
	Proto  string `json:"proto"`
	Header Fields `json:"headers"`
	// Trailers are the fields sent after the body: where gRPC puts
	// grpc-status and grpc-message. Known only at the body's end.
	Trailers Fields `json:"trailers,omitempty"`
}

// Facet names one of the bodies a flow can hold.
type Facet string

// The body facets of a flow.
const (
	// FacetRequest is the request body as received from the client.
	FacetRequest Facet = "request"
	// FacetResponse is the response body as served to the client.
	FacetResponse Facet = "response"
	// FacetUpstream is the origin's response body when it differs from the
	// served one (a rule replaced it). It is absent otherwise.
	FacetUpstream Facet = "upstream"
)

// Valid reports whether f is one of the known facets.
func (f Facet) Valid() bool {
	return f == FacetRequest || f == FacetResponse || f == FacetUpstream
}

// Body describes one body facet. The bytes themselves live in the store.
type Body struct {
	// Size is the number of bytes that crossed the proxy, as on the wire
	// (still content-encoded).
	Size int64 `json:"size"`
	// Captured is how many of those bytes were kept; Captured < Size means the
	// capture cap cut the body (Truncated is then true).
	Captured  int64 `json:"captured"`
	Truncated bool  `json:"truncated"`
	// Complete is true once the body was read to its end.
	Complete bool `json:"complete"`
	// Encoding is the Content-Encoding of the bytes ("" for identity).
	Encoding string `json:"encoding,omitempty"`
	// ContentType is the Content-Type of the message that carried the body.
	ContentType string `json:"contentType,omitempty"`
}

// Timings of a flow in milliseconds; -1 where a phase did not happen (a
// reused connection has no DNS or connect time). TLS is part of Connect, as in
// HAR. A captured flow's phases add up to its duration: Blocked is the time
// before the request left for the origin (request rules, a request-phase
// delay, a request breakpoint), Wait the time from then to the client's
// response head less DNS and Connect (a response-phase delay and a response
// breakpoint included), Receive the rest.
type Timings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	TLS     float64 `json:"ssl"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// NoTimings is the value for a flow whose phases are unknown.
var NoTimings = Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: 0, Wait: 0, Receive: 0}

// Total is the sum of the phases that happened, TLS excluded (it is inside
// Connect).
func (t Timings) Total() float64 {
	sum := 0.0
	for _, v := range []float64{t.Blocked, t.DNS, t.Connect, t.Send, t.Wait, t.Receive} {
		if v > 0 {
			sum += v
		}
	}
	return sum
}

// Direction of a WebSocket message, from the client's point of view.
type Direction string

// WebSocket message directions (the names Chrome's HAR uses).
const (
	Send    Direction = "send"    // client to server
	Receive Direction = "receive" // server to client
)

// WSMessage is one recorded WebSocket message.
type WSMessage struct {
	Direction Direction `json:"type"`
	Time      time.Time `json:"time"`
	// Opcode as on the wire: 1 text, 2 binary, 8 close, 9 ping, 10 pong.
	Opcode int `json:"opcode"`
	// Size is the full payload length; Data holds at most the capture cap.
	Size      int    `json:"size"`
	Data      []byte `json:"data"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Tunnel is where a request inside a CONNECT tunnel was sent, when its URL
// (scheme, Host header, path: what the client addressed) does not say it:
// a client pinning an IP address, curl --connect-to, a gRPC client
// overriding :authority; or where a host mapping sent it (MappedTo). It is
// never changed in place once recorded: a change replaces it whole.
type Tunnel struct {
	// Target is the address ("host:port") the request is sent to: the
	// target of the CONNECT. A mapRemote rule still overrides it
	// (UpstreamRequest.URL then names the destination). Replays go to it
	// too. "" when it is the URL's host and port.
	Target string `json:"target,omitempty"`
	// ServerName is the TLS name Loupe verifies the origin against (and
	// sends as SNI): the name the client sent as SNI inside the tunnel,
	// else the CONNECT host. "" when it is the URL's host, or the request
	// is not HTTPS.
	ServerName string `json:"serverName,omitempty"`
	// MappedTo is the address ("host:port") a host mapping (-map-host,
	// hosts.json) connected to instead of the one the request was for
	// (its URL's, or Target); "" when no mapping applied. A replay goes
	// through the mappings in force when it is sent, not through this.
	MappedTo string `json:"mappedTo,omitempty"`

	// The fields below describe a flow that is itself a tunnel or a failed
	// handshake (Flow.Kind), not a request inside a tunnel.

	// Mode is how a tunnel's bytes were relayed: TunnelPassthrough,
	// TunnelOpaque or TunnelRaw; "" on other flows.
	Mode string `json:"mode,omitempty"`
	// SNI is the server name the client sent in its TLS ClientHello, when
	// Loupe saw one.
	SNI string `json:"sni,omitempty"`
	// Failure classifies a failed client handshake (KindTLSError): the TLS
	// alert the client sent, by its RFC 8446 name ("unknown_ca",
	// "bad_certificate", "certificate_unknown", "handshake_failure", ...),
	// or "closed" (the client closed without an alert), "not_tls",
	// "timeout", "other".
	Failure string `json:"failure,omitempty"`
}

// Kind says what a flow records when it is not an HTTP exchange. A client
// whose TLS handshake with Loupe failed, or a tunnel Loupe relayed without
// decrypting, would otherwise leave no trace: the most common first-run
// problem (the client does not trust Loupe's CA) showed an empty list.
type Kind string

// The kinds of flow.
const (
	// KindHTTP is an HTTP exchange (a WebSocket included): nearly every flow.
	KindHTTP Kind = ""
	// KindTunnel is a CONNECT tunnel whose bytes Loupe relayed without
	// reading them (Tunnel.Mode says why). Its request and response body
	// sizes count the bytes that crossed each way; no bytes are captured.
	KindTunnel Kind = "tunnel"
	// KindTLSError is a CONNECT tunnel whose client broke off the TLS
	// handshake with Loupe (Tunnel.Failure says how, Error in words).
	KindTLSError Kind = "tls-error"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool { return k == KindHTTP || k == KindTunnel || k == KindTLSError }

// WithMappedTo returns a copy of t (which may be nil) that says a host
// mapping sent the request to addr. A flow's Tunnel is replaced whole,
// never changed in place: clones of the flow may share it.
func (t *Tunnel) WithMappedTo(addr string) *Tunnel {
	var c Tunnel
	if t != nil {
		c = *t
	}
	c.MappedTo = addr
	return &c
}

// Tunnel modes (Tunnel.Mode).
const (
	// TunnelPassthrough: the CONNECT host matched a passthrough glob.
	TunnelPassthrough = "passthrough"
	// TunnelOpaque: the client spoke TLS and Loupe had no CA to decrypt it.
	TunnelOpaque = "opaque"
	// TunnelRaw: the client spoke neither TLS nor HTTP (SSH, a database
	// protocol), so there was nothing to decrypt or read.
	TunnelRaw = "raw"
)

// Flow is everything Loupe knows about one exchange.
type Flow struct {
	ID     ID        `json:"id"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Client string    `json:"client"` // client address "ip:port"
	State  State     `json:"state"`

	// Request is the head as received from the client. Its URL is what the
	// client addressed: scheme, then the Host header (:authority in
	// HTTP/2), then the path; inside a CONNECT tunnel that need not be
	// where the request goes (see Target).
	Request Request `json:"request"`
	// Tunnel says where the request went when Request.URL does not say
	// it; nil when it does (nearly always). A pointer, so that the common
	// case costs 8 bytes: the store keeps a Flow per request.
	Tunnel *Tunnel `json:"tunnel,omitempty"`
	// Kind is KindHTTP ("") for an HTTP exchange, else what the flow
	// records instead (a tunnel, a failed client handshake); Tunnel then
	// holds its details.
	Kind Kind `json:"kind,omitempty"`
	// UpstreamRequest is the head as sent to the origin, after rules; nil when
	// nothing was sent (mocked, blocked, failed before sending).
	UpstreamRequest *Request `json:"upstreamRequest,omitempty"`
	// UpstreamResponse is the head as received from the origin; nil when there
	// was none.
	UpstreamResponse *Response `json:"upstreamResponse,omitempty"`
	// Response is the head as served to the client; nil until it is sent.
	Response *Response `json:"response,omitempty"`

	RequestBody  Body  `json:"requestBody"`
	ResponseBody Body  `json:"responseBody"`
	UpstreamBody *Body `json:"upstreamBody,omitempty"` // only when a rule replaced the body
	// UpstreamNotKept says, in words, why the origin's body of a replaced
	// response was not kept, or not whole ("original not kept: 32 drains
	// were already running (-max-drains)"); "" when it was read to its end.
	UpstreamNotKept string `json:"upstreamNotKept,omitempty"`

	Timings   Timings     `json:"timings"`
	WebSocket []WSMessage `json:"websocket,omitempty"`
	// Error says what went wrong, in words for a person; "" when nothing did.
	Error string `json:"error,omitempty"`
	// Rules lists the IDs of the rules that touched the flow, in order.
	Rules []string `json:"rules,omitempty"`
	// Overridden is set when a rule produced the response (override, mock, block).
	Overridden string `json:"overridden,omitempty"` // "override", "mock", "block" or ""
	// ReplayOf is the ID of the flow this one replays, 0 if none.
	ReplayOf ID `json:"replayOf,omitempty"`
	// ComposedFrom is the ID of the flow the editor started from; 0 for a
	// request written from scratch.
	ComposedFrom ID `json:"composedFrom,omitempty"`
	// Session is the session the store keeps the flow in; the store sets
	// it, 0 before.
	Session SessionID `json:"session,omitempty"`
	// Breakpoint records what a breakpoint rule did to the flow; nil when
	// none matched (nearly always: a pointer, so the common case costs 8
	// bytes).
	Breakpoint *Breakpoint `json:"breakpoint,omitempty"`
	// Annotation is the mark, colour and comment a person gave the flow;
	// nil when none (nearly always: a pointer, so the common case costs 8
	// bytes). It is replaced whole, never changed in place, so a clone may
	// share it.
	Annotation *Annotation `json:"annotation,omitempty"`
	// Composed marks a request written in the dashboard's editor (edit and
	// send, or a pasted cURL command) rather than sent by a client.
	Composed bool `json:"composed,omitempty"`
	// Imported marks a flow loaded from a HAR file rather than captured.
	// (The bools come last, together: padding between fields would cost a
	// word per flow, and the store's entry sits at the edge of its size
	// class; see TestEntrySizeClass in proxy/store.)
	Imported bool `json:"imported,omitempty"`
}

// Summary is what one row of the flow list needs. Its TypeScript twin lives in
// ui/src/api/types.ts.
type Summary struct {
	ID          ID        `json:"id"`
	Start       time.Time `json:"start"`
	State       State     `json:"state"`
	Method      string    `json:"method"`
	URL         string    `json:"url"`
	Target      string    `json:"target,omitempty"` // Tunnel.Target
	Scheme      string    `json:"scheme"`
	Host        string    `json:"host"` // host without port
	Port        string    `json:"port,omitempty"`
	Path        string    `json:"path"` // path with query
	Status      int       `json:"status"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`     // served response body bytes
	Duration    float64   `json:"duration"` // ms; -1 while pending
	Rules       []string  `json:"rules"`
	Error       string    `json:"error"`
	Overridden  string    `json:"overridden,omitempty"`
	WebSocket   bool      `json:"websocket,omitempty"`
	ReplayOf    ID        `json:"replayOf,omitempty"`
	Imported    bool      `json:"imported,omitempty"`
	Kind        Kind      `json:"kind,omitempty"`
	// Breakpoint is Flow.Breakpoint.State(): "held", "skipped" or the
	// action that released it.
	Breakpoint string `json:"breakpoint,omitempty"`
	// GRPCStatus is the status code of a gRPC response (see GRPCStatus),
	// nil for other flows and for gRPC calls not finished yet.
	GRPCStatus  *int   `json:"grpcStatus,omitempty"`
	GRPCMessage string `json:"grpcMessage,omitempty"`

	// Composed and ComposedFrom are Flow's.
	Composed     bool `json:"composed,omitempty"`
	ComposedFrom ID   `json:"composedFrom,omitempty"`

	// Session is Flow's.
	Session SessionID `json:"session,omitempty"`

	// Annotation is Flow's (zero when it has none).
	Annotation Annotation `json:"annotation,omitzero"`
}

// Summary derives the list row of f.
func (f *Flow) Summary() Summary {
	s := Summary{
		ID:         f.ID,
		Start:      f.Start,
		State:      f.State,
		Method:     f.Request.Method,
		URL:        f.Request.URL,
		Size:       f.ResponseBody.Size,
		Duration:   -1,
		Rules:      f.Rules,
		Error:      f.Error,
		Overridden: f.Overridden,
		WebSocket:  f.IsWebSocket(),
		ReplayOf:   f.ReplayOf,
		Imported:   f.Imported,
		Kind:       f.Kind,
		Session:    f.Session,
		Breakpoint: f.Breakpoint.State(),
	}
	if s.Rules == nil {
		s.Rules = []string{}
	}
	s.Composed, s.ComposedFrom = f.Composed, f.ComposedFrom
	s.Annotation = f.Annotation.Value()
	if f.Tunnel != nil {
		s.Target = f.Tunnel.Target
	}
	if u, err := url.Parse(f.Request.URL); err == nil {
		s.Scheme = u.Scheme
		s.Host = u.Hostname()
		s.Port = u.Port()
		s.Path = u.RequestURI()
	}
	if f.Response != nil {
		s.Status = f.Response.Status
		s.ContentType = f.Response.Header.Get("Content-Type")
		if code, msg, ok := f.GRPCStatus(); ok {
			s.GRPCStatus, s.GRPCMessage = &code, msg
		}
	}
	if !f.End.IsZero() {
		s.Duration = float64(f.End.Sub(f.Start).Microseconds()) / 1000
	}
	return s
}

// IsWebSocket reports whether the flow is a WebSocket upgrade.
func (f *Flow) IsWebSocket() bool {
	return strings.EqualFold(f.Request.Header.Get("Upgrade"), "websocket") ||
		(f.Response != nil && f.Response.Status == http.StatusSwitchingProtocols)
}

// Clone returns a deep copy, so readers can hold a flow while the proxy keeps
// writing to the original.
func (f *Flow) Clone() *Flow {
	c := *f
	c.Request.Header = cloneFields(f.Request.Header)
	c.Request.Trailers = cloneFields(f.Request.Trailers)
	if f.UpstreamRequest != nil {
		r := *f.UpstreamRequest
		r.Header = cloneFields(r.Header)
		r.Trailers = cloneFields(r.Trailers)
		c.UpstreamRequest = &r
	}
	if f.UpstreamResponse != nil {
		r := *f.UpstreamResponse
		r.Header = cloneFields(r.Header)
		r.Trailers = cloneFields(r.Trailers)
		c.UpstreamResponse = &r
	}
	if f.Response != nil {
		r := *f.Response
		r.Header = cloneFields(r.Header)
		r.Trailers = cloneFields(r.Trailers)
		c.Response = &r
	}
	if f.UpstreamBody != nil {
		b := *f.UpstreamBody
		c.UpstreamBody = &b
	}
	c.Breakpoint = f.Breakpoint.Clone()
	// Tunnel is never changed once recorded, Annotation is replaced
	// whole: both shared.
	if f.WebSocket != nil {
		// Message payloads are never mutated after recording, so sharing Data is safe.
		c.WebSocket = append([]WSMessage(nil), f.WebSocket...)
	}
	if f.Rules != nil {
		c.Rules = append([]string(nil), f.Rules...)
	}
	return &c
}

func cloneFields(fs Fields) Fields {
	if fs == nil {
		return nil
	}
	return append(Fields(nil), fs...)
}
