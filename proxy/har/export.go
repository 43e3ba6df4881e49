package har

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
)

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Export writes a HAR 1.2 document with one entry per flow that flows yields,
// in that order, reading bodies through body (nil: no bodies). It streams:
// memory holds one entry at a time. A body that cannot be read does not stop
// the export; its entry says why in a comment. Write errors do.
func Export(w io.Writer, flows func(yield func(*flow.Flow) bool), body BodyFunc, opt Options) error {
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = DefaultMaxBodyBytes
	}
	version := opt.CreatorVersion
	if version == "" {
		version = "dev"
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	head, err := json.Marshal(version)
	if err != nil {
		return fmt.Errorf("export HAR: %w", err)
	}
	if _, err := fmt.Fprintf(bw, `{"log":{"version":"1.2","creator":{"name":"Loupe","version":%s},"pages":[],"entries":[`, head); err != nil {
		return fmt.Errorf("export HAR: %w", err)
	}
	x := exporter{opt: opt, body: body, redact: redactSet(opt)}
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	first := true
	var werr error
	if flows != nil {
		for f := range flows {
			e := x.entry(f)
			if !first {
				if err := bw.WriteByte(','); err != nil {
					werr = err
					break
				}
			}
			first = false
			if err := enc.Encode(e); err != nil {
				werr = err
				break
			}
		}
	}
	if werr != nil {
		return fmt.Errorf("export HAR: %w", werr)
	}
	if _, err := bw.WriteString("]}}\n"); err != nil {
		return fmt.Errorf("export HAR: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export HAR: %w", err)
	}
	return nil
}

type exporter struct {
	opt    Options
	body   BodyFunc
	redact map[string]bool // lower-case names; nil when not redacting
}

func redactSet(opt Options) map[string]bool {
	if !opt.Redact {
		return nil
	}
	m := map[string]bool{}
	for _, n := range defaultRedacted {
		m[strings.ToLower(n)] = true
	}
	for _, n := range opt.RedactNames {
		m[strings.ToLower(strings.TrimSpace(n))] = true
	}
	return m
}

func (x *exporter) redacted(name string) bool {
	return x.redact != nil && x.redact[strings.ToLower(name)]
}

func (x *exporter) headers(fs flow.Fields) []nameValue {
	out := make([]nameValue, 0, len(fs))
	for _, f := range fs {
		v := f.Value
		if x.redacted(f.Name) {
			v = ""
		}
		out = append(out, nameValue{Name: f.Name, Value: v})
	}
	return out
}

// trailers is headers for a trailer list, nil (left out) when empty.
func (x *exporter) trailers(fs flow.Fields) []nameValue {
	if len(fs) == 0 {
		return nil
	}
	return x.headers(fs)
}

// redactURL blanks the values of redacted query parameters, leaving the rest
// of the URL byte for byte.
func (x *exporter) redactURL(raw string) string {
	if x.redact == nil {
		return raw
	}
	base, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw
	}
	query, frag, hasFrag := strings.Cut(query, "#")
	out := base + "?" + x.redactQuery(query)
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// redactQuery blanks the values of redacted names in a query or form body.
func (x *exporter) redactQuery(query string) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		raw, _, _ := strings.Cut(p, "=")
		name := raw
		if un, err := url.QueryUnescape(raw); err == nil {
			name = un
		}
		if x.redacted(name) {
			parts[i] = raw + "="
		}
	}
	return strings.Join(parts, "&")
}

func (x *exporter) queryString(raw string) []nameValue {
	u, err := url.Parse(raw)
	if err != nil {
		return []nameValue{}
	}
	return x.formParams(u.RawQuery) // a query is form-encoded pairs, in order
}

func (x *exporter) requestCookies(fs flow.Fields) []cookie {
	out := []cookie{}
	blank := x.redacted("Cookie")
	for _, f := range fs {
		if !strings.EqualFold(f.Name, "Cookie") {
			continue
		}
		cs, err := http.ParseCookie(f.Value)
		if err != nil {
			continue
		}
		for _, c := range cs {
			v := c.Value
			if blank || x.redacted(c.Name) {
				v = ""
			}
			out = append(out, cookie{Name: c.Name, Value: v})
		}
	}
	return out
}

func (x *exporter) responseCookies(fs flow.Fields) []cookie {
	out := []cookie{}
	blank := x.redacted("Set-Cookie")
	for _, f := range fs {
		if !strings.EqualFold(f.Name, "Set-Cookie") {
			continue
		}
		c, err := http.ParseSetCookie(f.Value)
		if err != nil {
			continue
		}
		hc := cookie{Name: c.Name, Value: c.Value, Path: c.Path, Domain: c.Domain, HTTPOnly: c.HttpOnly, Secure: c.Secure}
		if !c.Expires.IsZero() {
			hc.Expires = c.Expires.UTC().Format(timeLayout)
		}
		if blank || x.redacted(c.Name) {
			hc.Value = ""
		}
		out = append(out, hc)
	}
	return out
}

// ms rounds a duration in milliseconds to microseconds, so that sums of the
// written numbers add up exactly when read back.
func ms(v float64) float64 { return math.Round(v*1000) / 1000 }

// harTimings makes the flow's timings valid HAR: optional phases are -1 or
// non-negative, send/wait/receive non-negative, and time their sum. A flow
// with no phase timings but a known duration shows it as wait. Pauses a
// rule added are in the phases the proxy put them in (see
// proxy.exchange.phases): a request-phase delay or a request breakpoint in
// blocked, a response-phase delay or a response breakpoint in wait, so that
// time is the flow's real duration.
func harTimings(f *flow.Flow) (timings, float64) {
	opt := func(v float64) float64 {
		if v < 0 || v > maxMillis || math.IsNaN(v) {
			return -1
		}
		return ms(v)
	}
	req := func(v float64) float64 {
		if v < 0 || v > maxMillis || math.IsNaN(v) {
			return 0
		}
		return ms(v)
	}
	t := f.Timings
	h := timings{Blocked: opt(t.Blocked), DNS: opt(t.DNS), Connect: opt(t.Connect), SSL: opt(t.TLS),
		Send: req(t.Send), Wait: req(t.Wait), Receive: req(t.Receive)}
	if h.SSL > h.Connect && h.Connect >= 0 {
		h.SSL = h.Connect // ssl is part of connect
	}
	total := func() float64 {
		sum := 0.0
		for _, v := range []float64{h.Blocked, h.DNS, h.Connect, h.Send, h.Wait, h.Receive} {
			if v != -1 {
				sum += v
			}
		}
		return sum
	}
	if f.End.IsZero() || !f.End.After(f.Start) {
		return h, total()
	}
	d := ms(float64(f.End.Sub(f.Start).Microseconds()) / 1000)
	if total() == 0 {
		h.Wait = d
	} else if gap := d - total(); gap >= 1 && !f.Imported && d <= maxMillis {
		// A flow captured before the proxy's phases covered its whole
		// duration left out the time before the request was sent (a
		// request-phase delay action, a breakpoint's hold): that is
		// blocked. An imported flow keeps the timings it came with.
		h.Blocked = ms(max(h.Blocked, 0) + gap)
	}
	return h, ms(total())
}

func (x *exporter) entry(f *flow.Flow) entry {
	t, total := harTimings(f)
	e := entry{
		StartedDateTime: f.Start.UTC().Format(timeLayout),
		Time:            total,
		Timings:         t,
		Rules:           f.Rules,
		Overridden:      f.Overridden,
		Error:           f.Error,
	}
	if t := f.Tunnel; t != nil {
		e.Target, e.ServerName, e.MappedTo = t.Target, t.ServerName, t.MappedTo
		if t.Mode != "" || t.SNI != "" || t.Failure != "" {
			e.Tunnel = &tunnelExt{Mode: t.Mode, SNI: t.SNI, Failure: t.Failure}
		}
	}
	e.Kind = string(f.Kind)
	e.UpstreamNotKept = f.UpstreamNotKept
	e.Breakpoint = f.Breakpoint
	e.Composed, e.ComposedFrom = f.Composed, f.ComposedFrom
	if a := f.Annotation; a != nil {
		e.Marked, e.Color, e.Note = a.Marked, string(a.Color), a.Comment
	}
	if f.State != flow.StateDone && f.State != "" {
		e.State = string(f.State)
	}
	e.Request = request{
		Method:      f.Request.Method,
		URL:         x.redactURL(f.Request.URL),
		HTTPVersion: f.Request.Proto,
		Cookies:     x.requestCookies(f.Request.Header),
		Headers:     x.headers(f.Request.Header),
		QueryString: x.queryString(f.Request.URL),
		HeadersSize: -1,
		BodySize:    f.RequestBody.Size,
	}
	e.Request.Trailers = x.trailers(f.Request.Trailers)
	if (f.RequestBody.Size > 0 || f.RequestBody.Captured > 0) && f.Kind == flow.KindHTTP {
		b := x.bodyOf(f, flow.FacetRequest, f.RequestBody)
		pd := &postData{MimeType: f.RequestBody.ContentType, Params: []nameValue{}, Text: b.text,
			Encoding: b.encoding, Comment: b.comment, bodyExtras: b.extras}
		if pd.MimeType == "" {
			pd.MimeType = f.Request.Header.Get("Content-Type")
		}
		if b.encoding == "" && strings.HasPrefix(strings.ToLower(pd.MimeType), "application/x-www-form-urlencoded") {
			pd.Params = x.formParams(b.text)
			if x.redact != nil {
				if red := x.redactQuery(b.text); red != b.text {
					pd.Text, pd.WireText = red, "" // the wire copy would leak the values
				}
			}
		}
		e.Request.PostData = pd
	}
	e.Response = x.response(f)
	if f.IsWebSocket() {
		e.ResourceType = "websocket"
	}
	for _, m := range f.WebSocket {
		e.WebSocketMessages = append(e.WebSocketMessages, wsOut(m))
	}
	if f.UpstreamRequest != nil || f.UpstreamResponse != nil || f.UpstreamBody != nil {
		e.Upstream = &upstream{}
		if r := f.UpstreamRequest; r != nil {
			e.Upstream.Request = &upstreamRequest{Method: r.Method, URL: x.redactURL(r.URL), HTTPVersion: r.Proto,
				Headers: x.headers(r.Header), Trailers: x.trailers(r.Trailers)}
		}
		if f.UpstreamResponse != nil || f.UpstreamBody != nil {
			ur := &upstreamResponse{Headers: []nameValue{}, BodySize: -1}
			if r := f.UpstreamResponse; r != nil {
				ur.Status, ur.StatusText, ur.HTTPVersion, ur.Headers = r.Status, http.StatusText(r.Status), r.Proto, x.headers(r.Header)
				ur.Trailers = x.trailers(r.Trailers)
			}
			if f.UpstreamBody != nil {
				c := x.content(f, flow.FacetUpstream, *f.UpstreamBody)
				ur.Content = &c
				ur.BodySize = f.UpstreamBody.Size
			}
			e.Upstream.Response = ur
		}
	}
	return e
}

// formParams splits form-encoded pairs (a query string or an
// application/x-www-form-urlencoded body), keeping order and repeats and
// blanking redacted values.
func (x *exporter) formParams(text string) []nameValue {
	out := []nameValue{}
	for _, p := range strings.Split(text, "&") {
		if p == "" {
			continue
		}
		name, value, _ := strings.Cut(p, "=")
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		if un, err := url.QueryUnescape(value); err == nil {
			value = un
		}
		if x.redacted(name) {
			value = ""
		}
		out = append(out, nameValue{Name: name, Value: value})
	}
	return out
}

func (x *exporter) response(f *flow.Flow) response {
	r := response{Cookies: []cookie{}, Headers: []nameValue{}, HeadersSize: -1, BodySize: -1}
	if f.Response == nil {
		r.Content = content{MimeType: "x-unknown"}
		return r
	}
	r.Status = f.Response.Status
	r.StatusText = http.StatusText(f.Response.Status)
	r.HTTPVersion = f.Response.Proto
	r.Cookies = x.responseCookies(f.Response.Header)
	r.Headers = x.headers(f.Response.Header)
	r.Trailers = x.trailers(f.Response.Trailers)
	if f.Response.Status >= 300 && f.Response.Status < 400 {
		r.RedirectURL = f.Response.Header.Get("Location")
	}
	r.BodySize = f.ResponseBody.Size
	if f.Kind != flow.KindHTTP {
		// A tunnel's bytes were counted, never captured.
		r.Content = content{MimeType: "x-unknown"}
		return r
	}
	r.Content = x.content(f, flow.FacetResponse, f.ResponseBody)
	return r
}

func (x *exporter) content(f *flow.Flow, facet flow.Facet, facts flow.Body) content {
	mt := facts.ContentType
	if mt == "" {
		mt = "x-unknown"
	}
	c := content{MimeType: mt}
	if facts.Size == 0 && facts.Captured == 0 {
		return c
	}
	b := x.bodyOf(f, facet, facts)
	c.Size, c.Text, c.Encoding, c.Comment, c.bodyExtras = b.size, b.text, b.encoding, b.comment, b.extras
	if b.compression != 0 {
		v := b.compression
		c.Compression = &v
	}
	return c
}

// exportedBody is one body as HAR fields.
type exportedBody struct {
	text, encoding, comment string
	size, compression       int64
	extras                  bodyExtras
}

// bodyOf reads one body facet and turns it into HAR text.
func (x *exporter) bodyOf(f *flow.Flow, facet flow.Facet, facts flow.Body) exportedBody {
	var out exportedBody
	var notes []string
	if facts.Truncated {
		out.extras.Truncated = true
		notes = append(notes, fmt.Sprintf("truncated: Loupe kept %d of %d bytes", facts.Captured, facts.Size))
	}
	if x.body == nil {
		out.extras.Truncated = true
		out.comment = "body not exported"
		return out
	}
	rc, got, err := x.body(f.ID, facet)
	if err != nil {
		out.extras.Truncated = true
		out.comment = strings.Join(append(notes, fmt.Sprintf("body unavailable: %v", err)), "; ")
		return out
	}
	wire, err := io.ReadAll(io.LimitReader(rc, x.opt.MaxBodyBytes+1))
	rc.Close()
	if err != nil {
		notes = append(notes, fmt.Sprintf("body read failed: %v", err))
		out.extras.Truncated = true
	}
	if int64(len(wire)) > x.opt.MaxBodyBytes {
		wire = wire[:x.opt.MaxBodyBytes]
		if !out.extras.Truncated {
			notes = append(notes, fmt.Sprintf("truncated: export kept %d bytes", len(wire)))
		}
		out.extras.Truncated = true
	}
	encoding := strings.TrimSpace(got.Encoding)
	if strings.EqualFold(encoding, "identity") {
		encoding = ""
	}
	plain := wire
	if encoding != "" {
		dec, err := codec.DecodeBytes(wire, encoding, x.opt.MaxBodyBytes)
		if err != nil && !(out.extras.Truncated && len(dec) > 0) {
			// Not decodable: export the wire bytes as they are.
			out.text = base64.StdEncoding.EncodeToString(wire)
			out.encoding = "base64"
			out.size = int64(len(wire))
			out.extras.WireEncoding = encoding
			out.extras.Undecoded = true
			notes = append(notes, "not decodable: "+err.Error())
			out.comment = strings.Join(notes, "; ")
			return out
		}
		plain = dec
		out.extras.WireEncoding = encoding
		if !x.opt.OmitWire {
			out.extras.WireText = base64.StdEncoding.EncodeToString(wire)
		}
		if !out.extras.Truncated {
			out.compression = int64(len(plain)) - int64(len(wire))
		}
	}
	out.size = int64(len(plain))
	ct := facts.ContentType
	if ct == "" {
		ct = got.ContentType
	}
	if text, charset, ok := asText(plain, ct); ok {
		out.text = text
		out.extras.Charset = charset
	} else {
		out.text = base64.StdEncoding.EncodeToString(plain)
		out.encoding = "base64"
	}
	out.comment = strings.Join(notes, "; ")
	return out
}

// asText returns p as UTF-8 text when it is text that converts back to the
// same bytes: a text Content-Type (or none, for valid UTF-8 without control
// bytes), in a known charset. Otherwise the body goes out as base64.
func asText(p []byte, contentType string) (string, string, bool) {
	if len(p) == 0 {
		return "", "", true
	}
	textual := codec.IsText(contentType)
	if !textual && contentType != "" && contentType != "x-unknown" {
		return "", "", false
	}
	cs := codec.Charset(contentType)
	if codec.IsUTF8(cs) || !textual {
		if !utf8.Valid(p) || (!textual && hasControl(p)) {
			return "", "", false
		}
		return string(p), "", true
	}
	s, err := codec.ToUTF8(p, cs)
	if err != nil {
		return "", "", false
	}
	back, err := codec.FromUTF8(s, cs)
	if err != nil || !bytes.Equal(back, p) {
		return "", "", false
	}
	return s, cs, true
}

func hasControl(p []byte) bool {
	return slices.ContainsFunc(p, func(c byte) bool { return c < 0x20 && c != '\n' && c != '\r' && c != '\t' })
}

func wsOut(m flow.WSMessage) wsMessage {
	out := wsMessage{Type: string(m.Direction), Time: float64(m.Time.UnixMilli()) / 1000, Opcode: m.Opcode}
	if m.Opcode == 1 && utf8.Valid(m.Data) {
		out.Data = string(m.Data)
	} else {
		out.Data = base64.StdEncoding.EncodeToString(m.Data)
		if m.Opcode == 1 {
			out.Encoding = "base64"
		}
	}
	if m.Truncated {
		out.Truncated = true
		out.Size = m.Size
	}
	return out
}
