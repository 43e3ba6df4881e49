package har

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
)

// Import reads a HAR document into flows with their bodies, ready for
// store.Import. It accepts the exports of browsers and proxies (Chrome,
// Firefox, Charles, mitmproxy, HTTP Toolkit) with their quirks; a malformed
// document is an error that names the entry (0-based) and the field, and
// then no flow is returned. The error says what is wrong ("entry 3:
// request.url: missing"), not what was being done: the caller names its
// operation (the dashboard says "import HAR: ...").
func Import(r io.Reader) ([]flow.Recorded, error) {
	d := NewDecoder(r)
	out := []flow.Recorded{}
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
}

// describe turns a JSON error into "field: problem".
func describe(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return fmt.Errorf("%s: unexpected %s", field, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return err
}

// num is a tolerant JSON number: null, "" and absent are unset; a string
// holding a number is accepted.
type num struct {
	v  float64
	ok bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
	} else if b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return &json.UnmarshalTypeError{Value: kindOf(b), Type: reflect.TypeFor[float64]()}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: reflect.TypeFor[float64]()}
	}
	n.v, n.ok = v, true
	return nil
}

func (n num) or(def float64) float64 {
	if n.ok {
		return n.v
	}
	return def
}

// str is a tolerant JSON string: null is "", numbers and booleans are taken
// as their text.
type str string

func (s *str) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	switch b[0] {
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = str(v)
	case '{', '[':
		return &json.UnmarshalTypeError{Value: kindOf(b), Type: reflect.TypeFor[string]()}
	default:
		*s = str(b)
	}
	return nil
}

// boolish is a tolerant boolean: true, "true", 1.
type boolish bool

func (f *boolish) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(bytes.TrimSpace(b)), `"`) {
	case "true", "1":
		*f = true
	case "{", "[":
		return &json.UnmarshalTypeError{Value: kindOf(b), Type: reflect.TypeFor[bool]()}
	}
	return nil
}

func kindOf(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "value"
}

type inNV struct {
	Name  str `json:"name"`
	Value str `json:"value"`
}

type inExtras struct {
	Truncated    boolish `json:"_truncated"`
	WireEncoding str     `json:"_wireEncoding"`
	WireText     str     `json:"_wireText"`
	Charset      str     `json:"_charset"`
	Undecoded    boolish `json:"_undecoded"`
}

type inPostData struct {
	MimeType  str    `json:"mimeType"`
	Text      *str   `json:"text"`
	Params    []inNV `json:"params"`
	Encoding  str    `json:"encoding"`
	Encoding2 str    `json:"_encoding"`
	inExtras
}

type inContent struct {
	Size      num  `json:"size"`
	MimeType  str  `json:"mimeType"`
	Text      *str `json:"text"`
	Encoding  str  `json:"encoding"`
	Encoding2 str  `json:"_encoding"`
	inExtras
}

type inRequest struct {
	Method      str         `json:"method"`
	URL         str         `json:"url"`
	HTTPVersion str         `json:"httpVersion"`
	Headers     []inNV      `json:"headers"`
	PostData    *inPostData `json:"postData"`
	BodySize    num         `json:"bodySize"`
	Trailers    []inNV      `json:"_trailers"`
}

type inResponse struct {
	Status      num        `json:"status"`
	HTTPVersion str        `json:"httpVersion"`
	Headers     []inNV     `json:"headers"`
	Content     *inContent `json:"content"`
	BodySize    num        `json:"bodySize"`
	Error       str        `json:"_error"`
	Trailers    []inNV     `json:"_trailers"`
}

type inTimings struct {
	Blocked num `json:"blocked"`
	DNS     num `json:"dns"`
	Connect num `json:"connect"`
	Send    num `json:"send"`
	Wait    num `json:"wait"`
	Receive num `json:"receive"`
	SSL     num `json:"ssl"`
}

type inWS struct {
	Type      str     `json:"type"`
	Time      num     `json:"time"`
	Opcode    num     `json:"opcode"`
	Data      str     `json:"data"`
	Encoding  str     `json:"_encoding"`
	Truncated boolish `json:"_truncated"`
	Size      num     `json:"_size"`
}

type inEntry struct {
	StartedDateTime   json.RawMessage `json:"startedDateTime"`
	Time              num             `json:"time"`
	Request           *inRequest      `json:"request"`
	Response          *inResponse     `json:"response"`
	Timings           *inTimings      `json:"timings"`
	WebSocketMessages []inWS          `json:"_webSocketMessages"`
	Upstream          *struct {
		Request  *inRequest  `json:"request"`
		Response *inResponse `json:"response"`
	} `json:"_upstream"`
	Rules      []str `json:"_rules"`
	Overridden str   `json:"_overridden"`
	Error      str   `json:"_error"`
	State      str   `json:"_state"`
	Target     str   `json:"_target"`
	ServerName str   `json:"_serverName"`
	MappedTo   str   `json:"_mappedTo"`
	Kind       str   `json:"_kind"`
	Tunnel     *struct {
		Mode    str `json:"mode"`
		SNI     str `json:"sni"`
		Failure str `json:"failure"`
	} `json:"_tunnel"`
	UpstreamNotKept str              `json:"_upstreamNotKept"`
	Breakpoint      *flow.Breakpoint `json:"_breakpoint"`
	Composed        boolish          `json:"_composed"`
	Marked          boolish          `json:"_marked"`
	Color           str              `json:"_color"`
	Comment         str              `json:"_comment"`
}

func importEntry(raw json.RawMessage) (flow.Recorded, error) {
	var in inEntry
	if err := json.Unmarshal(raw, &in); err != nil {
		return flow.Recorded{}, describe(err)
	}
	rec := flow.Recorded{Bodies: map[flow.Facet][]byte{}}
	f := &rec.Flow
	f.Imported = true
	start, err := parseStart(in.StartedDateTime)
	if err != nil {
		return rec, fmt.Errorf("startedDateTime: %w", err)
	}
	f.Start = start
	if in.Request == nil {
		return rec, errors.New("request: missing")
	}
	req, err := importRequest("request", in.Request)
	if err != nil {
		return rec, err
	}
	f.Request = req
	if pd := in.Request.PostData; pd != nil {
		data, facts, err := importPostData(pd, in.Request.BodySize)
		if err != nil {
			return rec, err
		}
		if facts.ContentType == "" {
			facts.ContentType = req.Header.Get("Content-Type")
		}
		f.RequestBody = facts
		if len(data) > 0 {
			rec.Bodies[flow.FacetRequest] = data
		}
	}
	if r := in.Response; r != nil && (r.Status.v > 0 || len(r.Headers) > 0) {
		resp, data, facts, err := importResponse("response", r)
		if err != nil {
			return rec, err
		}
		f.Response = &resp
		f.ResponseBody = facts
		if len(data) > 0 {
			rec.Bodies[flow.FacetResponse] = data
		}
	}
	if up := in.Upstream; up != nil {
		if up.Request != nil {
			r, err := importRequest("_upstream.request", up.Request)
			if err != nil {
				return rec, err
			}
			f.UpstreamRequest = &r
		}
		if up.Response != nil {
			resp, data, facts, err := importResponse("_upstream.response", up.Response)
			if err != nil {
				return rec, err
			}
			if resp.Status > 0 || len(resp.Header) > 0 {
				f.UpstreamResponse = &resp
			}
			if up.Response.Content != nil {
				f.UpstreamBody = &facts
				if len(data) > 0 {
					rec.Bodies[flow.FacetUpstream] = data
				}
			}
		}
	}
	if in.Time.ok && math.Abs(in.Time.v) > maxMillis {
		return rec, fmt.Errorf("time: %v is out of range", in.Time.v)
	}
	if t := in.Timings; t != nil {
		for _, p := range []struct {
			name string
			n    num
		}{{"blocked", t.Blocked}, {"dns", t.DNS}, {"connect", t.Connect}, {"ssl", t.SSL}, {"send", t.Send}, {"wait", t.Wait}, {"receive", t.Receive}} {
			if p.n.ok && math.Abs(p.n.v) > maxMillis {
				return rec, fmt.Errorf("timings.%s: %v is out of range", p.name, p.n.v)
			}
		}
	}
	f.Timings = importTimings(in.Timings, in.Time)
	switch {
	case in.Time.ok && in.Time.v >= 0:
		f.End = f.Start.Add(time.Duration(math.Round(in.Time.v*1000)) * time.Microsecond)
	default:
		f.End = f.Start.Add(time.Duration(math.Round(f.Timings.Total()*1000)) * time.Microsecond)
	}
	for j, m := range in.WebSocketMessages {
		msg, err := importWS(m, f.Start)
		if err != nil {
			return rec, fmt.Errorf("_webSocketMessages[%d].%w", j, err)
		}
		f.WebSocket = append(f.WebSocket, msg)
	}
	for _, r := range in.Rules {
		f.Rules = append(f.Rules, string(r))
	}
	f.Overridden = string(in.Overridden)
	f.Composed = bool(in.Composed)
	// A file may say anything: an unknown colour is dropped, a long
	// comment cut.
	f.Annotation = flow.Annotation{Marked: bool(in.Marked), Color: flow.Color(strings.ToLower(string(in.Color))),
		Comment: string(in.Comment)}.Clean().Ptr()
	if t := string(in.Target); t != "" {
		// A replay of the flow dials it: only a host and a port.
		host, port, err := net.SplitHostPort(t)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n < 1 || n > 65535 {
			return rec, fmt.Errorf("_target: %q is not a host:port", t)
		}
		f.Tunnel = &flow.Tunnel{Target: t}
	}
	if n := string(in.ServerName); n != "" {
		if len(n) > 253 || strings.ContainsAny(n, " \t\r\n/") {
			return rec, fmt.Errorf("_serverName: %q is not a host name", n)
		}
		if f.Tunnel == nil {
			f.Tunnel = &flow.Tunnel{}
		}
		f.Tunnel.ServerName = n
	}
	if m := string(in.MappedTo); m != "" {
		host, port, err := net.SplitHostPort(m)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n < 1 || n > 65535 {
			return rec, fmt.Errorf("_mappedTo: %q is not a host:port", m)
		}
		if f.Tunnel == nil {
			f.Tunnel = &flow.Tunnel{}
		}
		f.Tunnel.MappedTo = m
	}
	if err := importKind(f, &in); err != nil {
		return rec, err
	}
	f.UpstreamNotKept = string(in.UpstreamNotKept)
	f.Breakpoint = in.Breakpoint
	f.Error = string(in.Error)
	if f.Error == "" && in.Response != nil {
		f.Error = string(in.Response.Error)
	}
	switch flow.State(in.State) {
	case flow.StatePending, flow.StateError:
		f.State = flow.State(in.State)
	default:
		f.State = flow.StateDone
		if f.Error != "" {
			f.State = flow.StateError
		}
	}
	if len(rec.Bodies) == 0 {
		rec.Bodies = nil
	}
	return rec, nil
}

// importKind reads _kind and _tunnel: an entry that records a CONNECT
// tunnel or a failed client handshake. Its body sizes are the bytes that
// crossed each way, never captured.
func importKind(f *flow.Flow, in *inEntry) error {
	k := flow.Kind(in.Kind)
	if !k.Valid() {
		return fmt.Errorf("_kind: %q is not a kind Loupe knows (%q, %q)", k, flow.KindTunnel, flow.KindTLSError)
	}
	f.Kind = k
	if t := in.Tunnel; t != nil {
		for _, v := range []struct {
			name string
			s    str
		}{{"mode", t.Mode}, {"sni", t.SNI}, {"failure", t.Failure}} {
			if len(v.s) > 253 || strings.ContainsAny(string(v.s), " \t\r\n/") {
				return fmt.Errorf("_tunnel.%s: %q is not a name", v.name, v.s)
			}
		}
		if f.Tunnel == nil {
			f.Tunnel = &flow.Tunnel{}
		}
		f.Tunnel.Mode, f.Tunnel.SNI, f.Tunnel.Failure = string(t.Mode), string(t.SNI), string(t.Failure)
	}
	if k == flow.KindHTTP {
		return nil
	}
	f.RequestBody = flow.Body{Complete: true}
	if in.Request.BodySize.v > 0 {
		f.RequestBody.Size = int64(in.Request.BodySize.v)
	}
	f.ResponseBody = flow.Body{Complete: true}
	if in.Response != nil && in.Response.BodySize.v > 0 {
		f.ResponseBody.Size = int64(in.Response.BodySize.v)
	}
	return nil
}

var startLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// parseStart reads an ISO 8601 time (with or without zone; UTC assumed), or
// epoch seconds or milliseconds as a number.
func parseStart(raw json.RawMessage) (time.Time, error) {
	var n num
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, errors.New("missing")
	}
	if raw[0] != '"' {
		if err := json.Unmarshal(raw, &n); err != nil || !n.ok {
			return time.Time{}, fmt.Errorf("unexpected %s", kindOf(raw))
		}
		return epoch(n.v)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	for _, l := range startLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
				return time.Time{}, fmt.Errorf("%q is out of range", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time", s)
}

// epoch reads seconds since 1970, or milliseconds when the value is too large
// to be seconds (later than year 5138). Times outside years 1-9999 are an
// error.
func epoch(v float64) (time.Time, error) {
	msec := v * 1000
	if math.Abs(v) > 1e11 {
		msec = v
	}
	if msec < minEpochMilli || msec > maxEpochMilli {
		return time.Time{}, fmt.Errorf("%v is out of range", v)
	}
	return time.UnixMilli(int64(math.Round(msec))).UTC(), nil
}

// The times ISO 8601 can say with four-digit years.
var (
	minEpochMilli = float64(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	maxEpochMilli = float64(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli())
)

// maxMillis bounds durations (about 31 years): beyond it a number is junk.
const maxMillis = 1e12

// maxSize bounds byte counts: 2^53-1, the largest integer that a JSON number
// carries exactly where HAR files are written and read (browsers, and the
// dashboard, in JavaScript). No exporter measured a larger body; a size
// beyond it (9.2e18, 1e300) is junk that would show as a real size.
const maxSize = 1<<53 - 1

// checkSize refuses a byte count that no exporter could have measured, as
// the importer refuses a junk status or an out-of-range time: a negative
// other than -1, a fraction, or more than maxSize. null, "" and absent stay
// unknown, and -1 is HAR's "not available", as for every tolerant number.
// The sizes read are request.bodySize, response.bodySize,
// response.content.size (and their _upstream twins) and
// _webSocketMessages[]._size.
func checkSize(field string, n num) error {
	switch {
	case !n.ok || n.v == -1:
		return nil
	case n.v < 0 || n.v != math.Trunc(n.v):
		return fmt.Errorf("%s: %v is not a byte count", field, n.v)
	case n.v > maxSize:
		return fmt.Errorf("%s: %v is out of range", field, n.v)
	}
	return nil
}

func importRequest(field string, in *inRequest) (flow.Request, error) {
	r := flow.Request{Method: string(in.Method), URL: string(in.URL), Proto: string(in.HTTPVersion),
		Header: fields(in.Headers), Trailers: trailerFields(in.Trailers)}
	if strings.TrimSpace(r.Method) == "" {
		return r, fmt.Errorf("%s.method: missing", field)
	}
	if err := checkSize(field+".bodySize", in.BodySize); err != nil {
		return r, err
	}
	if r.URL == "" {
		return r, fmt.Errorf("%s.url: missing", field)
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return r, fmt.Errorf("%s.url: %q is not an absolute URL", field, r.URL)
	}
	return r, nil
}

func fields(in []inNV) flow.Fields {
	out := make(flow.Fields, 0, len(in))
	for _, h := range in {
		out = append(out, flow.Field{Name: string(h.Name), Value: string(h.Value)})
	}
	return out
}

// trailerFields reads Loupe's _trailers; nil when absent or empty, as on
// a captured flow without trailers.
func trailerFields(in []inNV) flow.Fields {
	if len(in) == 0 {
		return nil
	}
	return fields(in)
}

func importResponse(field string, in *inResponse) (flow.Response, []byte, flow.Body, error) {
	resp := flow.Response{Status: int(in.Status.v), Proto: string(in.HTTPVersion),
		Header: fields(in.Headers), Trailers: trailerFields(in.Trailers)}
	if in.Status.v < 0 || in.Status.v > 999 || in.Status.v != math.Trunc(in.Status.v) {
		return resp, nil, flow.Body{}, fmt.Errorf("%s.status: %v is not an HTTP status", field, in.Status.v)
	}
	if err := checkSize(field+".bodySize", in.BodySize); err != nil {
		return resp, nil, flow.Body{}, err
	}
	facts := flow.Body{ContentType: resp.Header.Get("Content-Type"), Complete: true}
	c := in.Content
	if c == nil {
		return resp, nil, facts, nil
	}
	if err := checkSize(field+".content.size", c.Size); err != nil {
		return resp, nil, facts, err
	}
	enc := string(c.Encoding)
	if enc == "" {
		enc = string(c.Encoding2)
	}
	data, wireEnc, err := importBody(field+".content", c.Text, enc, c.inExtras)
	if err != nil {
		return resp, nil, facts, err
	}
	if mt := string(c.MimeType); mt != "" && mt != "x-unknown" {
		facts.ContentType = mt
	}
	facts.Encoding = wireEnc
	facts.Size = int64(len(data))
	facts.Captured = int64(len(data))
	facts.Truncated = bool(c.Truncated)
	if c.Text == nil && c.Size.v > 0 {
		facts.Truncated = true // the exporter left the body out (Firefox does for large ones)
	}
	if facts.Truncated {
		facts.Size = max(facts.Size, int64(in.BodySize.v), int64(c.Size.v))
	}
	return resp, data, facts, nil
}

func importPostData(pd *inPostData, bodySize num) ([]byte, flow.Body, error) {
	enc := string(pd.Encoding)
	if enc == "" {
		enc = string(pd.Encoding2)
	}
	text := pd.Text
	if text == nil && len(pd.Params) > 0 {
		// Firefox and Charles may give only params for a form.
		v := url.Values{}
		for _, p := range pd.Params {
			v.Add(string(p.Name), string(p.Value))
		}
		s := str(v.Encode())
		text = &s
	}
	data, wireEnc, err := importBody("request.postData", text, enc, pd.inExtras)
	if err != nil {
		return nil, flow.Body{}, err
	}
	facts := flow.Body{Encoding: wireEnc, Size: int64(len(data)), Captured: int64(len(data)),
		Truncated: bool(pd.Truncated), Complete: true}
	if mt := string(pd.MimeType); mt != "x-unknown" {
		facts.ContentType = mt
	}
	if facts.Truncated {
		facts.Size = max(facts.Size, int64(bodySize.v))
	}
	return data, facts, nil
}

// importBody returns the stored bytes of a body and their Content-Encoding:
// the exact wire bytes when the export carried them, else the decoded body.
func importBody(field string, text *str, encoding string, ex inExtras) ([]byte, string, error) {
	if ex.WireText != "" {
		wire, err := unbase64(string(ex.WireText))
		if err != nil {
			return nil, "", fmt.Errorf("%s._wireText: %w", field, err)
		}
		return wire, string(ex.WireEncoding), nil
	}
	if text == nil {
		return nil, "", nil
	}
	var data []byte
	if strings.EqualFold(strings.TrimSpace(encoding), "base64") {
		d, err := unbase64(string(*text))
		if err != nil {
			return nil, "", fmt.Errorf("%s.text: %w", field, err)
		}
		data = d
	} else {
		data = []byte(*text)
		if cs := strings.ToLower(string(ex.Charset)); !codec.IsUTF8(cs) {
			if back, err := codec.FromUTF8(string(*text), cs); err == nil {
				data = back
			}
		}
	}
	if ex.Undecoded {
		return data, string(ex.WireEncoding), nil
	}
	return data, "", nil
}

// unbase64 accepts standard or URL alphabets, padded or not, with line breaks.
func unbase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(s); err == nil {
			return d, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return nil, fmt.Errorf("invalid base64: %w", err)
}

// importTimings reads timings, -1 where absent, and converts them from
// seconds when they add up to entry.time only as seconds.
func importTimings(in *inTimings, total num) flow.Timings {
	if in == nil {
		return flow.NoTimings
	}
	opt := func(n num) float64 {
		if !n.ok || n.v < 0 {
			return -1
		}
		return n.v
	}
	req := func(n num) float64 { return max(n.or(0), 0) }
	t := flow.Timings{Blocked: opt(in.Blocked), DNS: opt(in.DNS), Connect: opt(in.Connect), TLS: opt(in.SSL),
		Send: req(in.Send), Wait: req(in.Wait), Receive: req(in.Receive)}
	if sum := t.Total(); total.ok && total.v > 0 && sum > 0 && sum < total.v &&
		math.Abs(sum*1000-total.v) <= total.v/100 {
		scale := func(v float64) float64 {
			if v < 0 {
				return v
			}
			return v * 1000
		}
		t = flow.Timings{Blocked: scale(t.Blocked), DNS: scale(t.DNS), Connect: scale(t.Connect), TLS: scale(t.TLS),
			Send: scale(t.Send), Wait: scale(t.Wait), Receive: scale(t.Receive)}
	}
	return t
}

// importWS reads one message; one without a time gets the flow's start.
func importWS(m inWS, start time.Time) (flow.WSMessage, error) {
	msg := flow.WSMessage{Direction: flow.Send, Opcode: int(m.Opcode.or(1)), Time: start}
	switch strings.ToLower(string(m.Type)) {
	case "receive", "received", "incoming", "in", "server":
		msg.Direction = flow.Receive
	}
	if err := checkSize("_size", m.Size); err != nil {
		return msg, err
	}
	if m.Time.ok {
		t, err := epoch(m.Time.v)
		if err != nil {
			return msg, fmt.Errorf("time: %w", err)
		}
		msg.Time = t
	}
	text := string(m.Data)
	if msg.Opcode == 1 && !strings.EqualFold(string(m.Encoding), "base64") {
		msg.Data = []byte(text)
	} else if d, err := unbase64(text); err == nil {
		msg.Data = d
	} else {
		msg.Data = []byte(text) // some tools write binary frames as text
	}
	msg.Size = len(msg.Data)
	if m.Truncated {
		msg.Truncated = true
		msg.Size = max(msg.Size, int(min(m.Size.v, math.MaxInt32)))
	}
	return msg, nil
}
