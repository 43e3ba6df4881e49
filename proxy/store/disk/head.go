package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"loupe/proxy/flow"
)

// The head of a flow (flow.Flow without its WebSocket messages, which have
// their own table) is stored in the head column in a small binary format,
// beside the columns that list rows and indexes need. Decoding it is what a
// filtered scan, Get and Each spend their time on: this format decodes in
// about a tenth of the time encoding/json takes for the same head (and
// encodes in a fifth), with one allocation for all its strings. A test
// fills every field of flow.Flow and checks the round trip, so a field
// added to the model without a place here fails it.
//
// The columns are authoritative for the ID, state, error, times and
// session (the start-up's "interrupted" update changes only columns, and
// an import moves flows between sessions by their column alone), and they
// alone hold the annotation (mark, colour, comment): a person changes it
// on finished flows, and a column is cheaper to change than a head.
//
// Format 1: a version byte, then the fields in the order of encodeHead;
// strings and counts as uvarints (strings length-prefixed), signed numbers
// as varints, timings as IEEE-754 bits. Parts added later are optional
// sections at the end, each opened by its marker byte, so heads written
// before they existed still decode.
//
// Sections: hasBreakpoint (flow.Breakpoint).
const headFormat = 1

// A header list that is the same as the one it derives from (the request
// as sent equal to the request as received, the response as served equal
// to the response as received: most flows) is stored once; shared says
// which were left out.
const (
	sharedUpReq = 1 << iota // UpstreamRequest.Header is Request.Header
	sharedResp              // Response.Header is UpstreamResponse.Header
)

// Presence flags of the optional parts of a head.
const (
	hasUpReq = 1 << iota
	hasUpResp
	hasResp
	hasUpBody
	isImported
	hasTunnel
	isComposed // the head ends with ComposedFrom
)

// Markers of the optional sections at the end of a head.
const (
	hasBreakpoint = 1
	hasMappedTo   = 2 // Tunnel.MappedTo (schema version 8)
)

// Presence flags of a breakpoint's stops.
const (
	bpRequest = 1 << iota
	bpResponse
	bpStreamed // inside a stop: Streamed
	bpEdit     // inside a stop: an Edit follows
)

// Flags of a stop's Edit.
const (
	editBody = 1 << iota
	editBodyBase64
	editTruncated
	editHeaders // Headers is set (maybe empty: every header removed)
	editOmitted // BodyOmitted
)

// Body flags.
const (
	bodyTruncated = 1 << iota
	bodyComplete
)

// encodeHead returns the stored form of f's head.
func encodeHead(f *flow.Flow) ([]byte, int, error) {
	shared := 0
	if r := f.UpstreamRequest; r != nil && len(r.Header) > 0 && slices.Equal(r.Header, f.Request.Header) {
		shared |= sharedUpReq
	}
	if r, up := f.Response, f.UpstreamResponse; r != nil && up != nil && len(r.Header) > 0 && slices.Equal(r.Header, up.Header) {
		shared |= sharedResp
	}
	b := make([]byte, 0, 256+8*len(f.Request.Header))
	b = append(b, headFormat)
	b = binary.AppendUvarint(b, uint64(f.ID))
	b = appendString(b, f.Client)
	b = appendString(b, string(f.State))
	b = appendRequest(b, &f.Request, false)
	var flags byte
	if f.UpstreamRequest != nil {
		flags |= hasUpReq
	}
	if f.UpstreamResponse != nil {
		flags |= hasUpResp
	}
	if f.Response != nil {
		flags |= hasResp
	}
	if f.UpstreamBody != nil {
		flags |= hasUpBody
	}
	if f.Imported {
		flags |= isImported
	}
	if f.Tunnel != nil {
		flags |= hasTunnel
	}
	if f.Composed {
		flags |= isComposed
	}
	b = append(b, flags)
	if f.UpstreamRequest != nil {
		b = appendRequest(b, f.UpstreamRequest, shared&sharedUpReq != 0)
	}
	if f.UpstreamResponse != nil {
		b = appendResponse(b, f.UpstreamResponse, false)
	}
	if f.Response != nil {
		b = appendResponse(b, f.Response, shared&sharedResp != 0)
	}
	b = appendBody(b, &f.RequestBody)
	b = appendBody(b, &f.ResponseBody)
	if f.UpstreamBody != nil {
		b = appendBody(b, f.UpstreamBody)
	}
	t := &f.Timings
	for _, v := range []float64{t.Blocked, t.DNS, t.Connect, t.TLS, t.Send, t.Wait, t.Receive} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	b = appendString(b, f.Error)
	b = binary.AppendUvarint(b, uint64(len(f.Rules)))
	for _, r := range f.Rules {
		b = appendString(b, r)
	}
	b = appendString(b, f.Overridden)
	b = binary.AppendUvarint(b, uint64(f.ReplayOf))
	if t := f.Tunnel; t != nil {
		for _, v := range []string{t.Target, t.ServerName, t.Mode, t.SNI, t.Failure} {
			b = appendString(b, v)
		}
	}
	b = appendString(b, string(f.Kind))
	b = appendString(b, f.UpstreamNotKept)
	if f.Composed {
		b = binary.AppendUvarint(b, uint64(f.ComposedFrom))
	}
	if t := f.Tunnel; t != nil && t.MappedTo != "" {
		b = append(b, hasMappedTo)
		b = appendString(b, t.MappedTo)
	}
	if bp := f.Breakpoint; bp != nil {
		b = append(b, hasBreakpoint)
		b = appendBreakpoint(b, bp)
	}
	return b, shared, nil
}

func appendBreakpoint(b []byte, bp *flow.Breakpoint) []byte {
	b = appendString(b, bp.Rule)
	b = appendString(b, bp.Skipped)
	var flags byte
	if bp.Request != nil {
		flags |= bpRequest
	}
	if bp.Response != nil {
		flags |= bpResponse
	}
	b = append(b, flags)
	for _, st := range []*flow.BreakpointStop{bp.Request, bp.Response} {
		if st == nil {
			continue
		}
		b = binary.AppendVarint(b, unixNano(st.Held))
		b = binary.AppendVarint(b, unixNano(st.Released))
		b = appendString(b, st.Action)
		b = appendString(b, st.By)
		b = binary.AppendVarint(b, int64(st.Status))
		b = binary.AppendUvarint(b, uint64(len(st.Changed)))
		for _, c := range st.Changed {
			b = appendString(b, c)
		}
		var sf byte
		if st.Streamed {
			sf |= bpStreamed
		}
		if st.Edit != nil {
			sf |= bpEdit
		}
		b = append(b, sf)
		if e := st.Edit; e != nil {
			b = appendString(b, e.Method)
			b = appendString(b, e.URL)
			b = binary.AppendVarint(b, int64(e.Status))
			b = appendFields(b, e.Headers)
			var ef byte
			if e.Body != nil {
				ef |= editBody
			}
			if e.BodyBase64 != nil {
				ef |= editBodyBase64
			}
			if e.Truncated {
				ef |= editTruncated
			}
			if e.Headers != nil {
				ef |= editHeaders
			}
			if e.BodyOmitted {
				ef |= editOmitted
			}
			b = append(b, ef)
			if e.Body != nil {
				b = appendString(b, *e.Body)
			}
			if e.BodyBase64 != nil {
				b = appendString(b, *e.BodyBase64)
			}
		}
	}
	return b
}

// unixNano is t in nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is unixNano's inverse.
func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFields(b []byte, fs flow.Fields) []byte {
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = appendString(b, f.Name)
		b = appendString(b, f.Value)
	}
	return b
}

func appendRequest(b []byte, r *flow.Request, sharedHeader bool) []byte {
	b = appendString(b, r.Method)
	b = appendString(b, r.URL)
	b = appendString(b, r.Proto)
	if sharedHeader {
		b = appendFields(b, nil)
	} else {
		b = appendFields(b, r.Header)
	}
	return appendFields(b, r.Trailers)
}

func appendResponse(b []byte, r *flow.Response, sharedHeader bool) []byte {
	b = binary.AppendVarint(b, int64(r.Status))
	b = appendString(b, r.Proto)
	if sharedHeader {
		b = appendFields(b, nil)
	} else {
		b = appendFields(b, r.Header)
	}
	return appendFields(b, r.Trailers)
}

func appendBody(b []byte, body *flow.Body) []byte {
	b = binary.AppendVarint(b, body.Size)
	b = binary.AppendVarint(b, body.Captured)
	var flags byte
	if body.Truncated {
		flags |= bodyTruncated
	}
	if body.Complete {
		flags |= bodyComplete
	}
	b = append(b, flags)
	b = appendString(b, body.Encoding)
	return appendString(b, body.ContentType)
}

// errCorruptHead is the error for a head that does not decode.
var errCorruptHead = errors.New("corrupt flow head")

// headReader decodes a head. Strings are cut from one string copy of the
// whole head; the first error sticks and every later read returns zero.
type headReader struct {
	s   string
	off int
	err error
}

func (r *headReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w at byte %d", errCorruptHead, r.off)
	}
	r.off = len(r.s)
}

func (r *headReader) byte() byte {
	if r.off >= len(r.s) {
		r.fail()
		return 0
	}
	c := r.s[r.off]
	r.off++
	return c
}

func (r *headReader) uvarint() uint64 {
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if c < 0x80 {
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.fail()
	return 0
}

func (r *headReader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a length and checks that at least min bytes per item remain,
// so that a corrupt count cannot make the decoder allocate without bound.
func (r *headReader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.off)/uint64(min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *headReader) string() string {
	n := r.count(1)
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

func (r *headReader) float() float64 {
	if len(r.s)-r.off < 8 {
		r.fail()
		return 0
	}
	var bits uint64
	for i := 7; i >= 0; i-- {
		bits = bits<<8 | uint64(r.s[r.off+i])
	}
	r.off += 8
	return math.Float64frombits(bits)
}

func (r *headReader) fields() flow.Fields {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	fs := make(flow.Fields, n)
	for i := range fs {
		fs[i] = flow.Field{Name: r.string(), Value: r.string()}
	}
	return fs
}

func (r *headReader) request(into *flow.Request) {
	into.Method = r.string()
	into.URL = r.string()
	into.Proto = r.string()
	into.Header = r.fields()
	into.Trailers = r.fields()
}

func (r *headReader) response(into *flow.Response) {
	into.Status = int(r.varint())
	into.Proto = r.string()
	into.Header = r.fields()
	into.Trailers = r.fields()
}

func (r *headReader) body(into *flow.Body) {
	into.Size = r.varint()
	into.Captured = r.varint()
	flags := r.byte()
	into.Truncated = flags&bodyTruncated != 0
	into.Complete = flags&bodyComplete != 0
	into.Encoding = r.string()
	into.ContentType = r.string()
}

func (r *headReader) breakpoint() *flow.Breakpoint {
	bp := &flow.Breakpoint{Rule: r.string(), Skipped: r.string()}
	flags := r.byte()
	for _, p := range []struct {
		bit  byte
		stop **flow.BreakpointStop
	}{{bpRequest, &bp.Request}, {bpResponse, &bp.Response}} {
		if flags&p.bit == 0 {
			continue
		}
		st := &flow.BreakpointStop{Held: fromUnixNano(r.varint()), Released: fromUnixNano(r.varint())}
		st.Action = r.string()
		st.By = r.string()
		st.Status = int(r.varint())
		if n := r.count(1); n > 0 {
			st.Changed = make([]string, n)
			for i := range st.Changed {
				st.Changed[i] = r.string()
			}
		}
		sf := r.byte()
		st.Streamed = sf&bpStreamed != 0
		if sf&bpEdit != 0 {
			e := &flow.Message{Method: r.string(), URL: r.string(), Status: int(r.varint()), Headers: r.fields()}
			ef := r.byte()
			if ef&editBody != 0 {
				s := r.string()
				e.Body = &s
			}
			if ef&editBodyBase64 != 0 {
				s := r.string()
				e.BodyBase64 = &s
			}
			e.Truncated = ef&editTruncated != 0
			e.BodyOmitted = ef&editOmitted != 0
			if ef&editHeaders != 0 && e.Headers == nil {
				e.Headers = flow.Fields{}
			}
			st.Edit = e
		}
		*p.stop = st
	}
	return bp
}

// decodeHead rebuilds a flow from its stored head and its authoritative
// columns. It never panics on a corrupt head: it returns an error.
func decodeHead(head []byte, shared int, c headColumns) (*flow.Flow, error) {
	r := &headReader{s: string(head)}
	if v := r.byte(); v != headFormat {
		return nil, fmt.Errorf("%w: format %d, this Loupe reads %d", errCorruptHead, v, headFormat)
	}
	f := &flow.Flow{}
	r.uvarint() // the ID: the column's is authoritative
	f.Client = r.string()
	r.string() // the state: the column's is authoritative
	r.request(&f.Request)
	flags := r.byte()
	if flags&hasUpReq != 0 {
		f.UpstreamRequest = &flow.Request{}
		r.request(f.UpstreamRequest)
		if shared&sharedUpReq != 0 {
			f.UpstreamRequest.Header = slices.Clone(f.Request.Header)
		}
	}
	if flags&hasUpResp != 0 {
		f.UpstreamResponse = &flow.Response{}
		r.response(f.UpstreamResponse)
	}
	if flags&hasResp != 0 {
		f.Response = &flow.Response{}
		r.response(f.Response)
		if shared&sharedResp != 0 && f.UpstreamResponse != nil {
			f.Response.Header = slices.Clone(f.UpstreamResponse.Header)
		}
	}
	f.Imported = flags&isImported != 0
	r.body(&f.RequestBody)
	r.body(&f.ResponseBody)
	if flags&hasUpBody != 0 {
		f.UpstreamBody = &flow.Body{}
		r.body(f.UpstreamBody)
	}
	t := &f.Timings
	for _, p := range []*float64{&t.Blocked, &t.DNS, &t.Connect, &t.TLS, &t.Send, &t.Wait, &t.Receive} {
		*p = r.float()
	}
	r.string() // the error: the column's is authoritative
	if n := r.count(1); n > 0 {
		f.Rules = make([]string, n)
		for i := range f.Rules {
			f.Rules[i] = r.string()
		}
	}
	f.Overridden = r.string()
	f.ReplayOf = flow.ID(r.uvarint())
	if flags&hasTunnel != 0 {
		f.Tunnel = &flow.Tunnel{Target: r.string(), ServerName: r.string(), Mode: r.string(), SNI: r.string(), Failure: r.string()}
	}
	f.Kind = flow.Kind(r.string())
	f.UpstreamNotKept = r.string()
	if flags&isComposed != 0 {
		f.Composed = true
		f.ComposedFrom = flow.ID(r.uvarint())
	}
	for r.err == nil && r.off < len(r.s) {
		switch r.byte() {
		case hasBreakpoint:
			if f.Breakpoint != nil {
				r.fail()
				break
			}
			f.Breakpoint = r.breakpoint()
		case hasMappedTo:
			if f.Tunnel == nil || f.Tunnel.MappedTo != "" {
				r.fail()
				break
			}
			f.Tunnel.MappedTo = r.string()
		default:
			r.fail()
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(r.s) {
		return nil, fmt.Errorf("%w: %d bytes left over", errCorruptHead, len(r.s)-r.off)
	}
	f.ID, f.State, f.Error, f.Session = c.id, c.state, c.err, c.session
	f.Annotation = c.note.Ptr()
	f.Start = time.Unix(0, c.startNs)
	if c.endNs != 0 {
		f.End = time.Unix(0, c.endNs)
	}
	return f, nil
}

// headColumns are the columns that take precedence over the head.
type headColumns struct {
	id             flow.ID
	session        flow.SessionID
	state          flow.State
	err            string
	startNs, endNs int64
	note           flow.Annotation
}

// portNumber is the port column's value: 0 for none.
func portNumber(p string) int64 {
	n, err := strconv.ParseInt(p, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
