// Package archive is Loupe's own session file: one session of the capture
// in a single file that opens again in Loupe exactly as it was saved, every
// flow with its heads, bodies (served, upstream and request, as received on
// the wire), WebSocket messages, timings, rules and marks. HAR cannot carry
// all of that (it redacts, decodes bodies, rounds times); this format is
// the capture's own.
//
// The file is a gzip stream of JSON lines, each an object with one key:
//
//	{"loupe":"session","version":1,"name":…,"created":…,"exported":…}   the header, first
//	{"flow":{…flow.Flow without its messages…}}                          one per flow, in ID order
//	{"message":{…flow.WSMessage…}}                                        the flow's messages, in order
//	{"body":{"facet":"response","data":"…base64…"}}                      the flow's bodies, in chunks
//	{"end":{"flows":N}}                                                   the trailer, last
//
// Bodies are written in chunks of at most ChunkBytes, so that neither
// writing nor reading ever holds more than one chunk and one flow's bodies;
// a reader refuses a file without its trailer (a cut download), so an
// import that commits on io.EOF keeps nothing of a damaged file.
//
// The package must never touch a store or the network: it turns flows into
// bytes and back. It imports the flow model and the standard library only.
package archive

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"loupe/proxy/flow"
)

// Version is the format version this package writes and the newest it
// reads.
const Version = 1

// ChunkBytes is the most body bytes one line carries.
const ChunkBytes = 48 << 10

// Extension is the file name extension of a session file.
const Extension = ".loupe"

// ContentType is the media type a session file is served as.
const ContentType = "application/vnd.loupe.session+gzip"

// Header describes the session a file holds.
type Header struct {
	Loupe   string    `json:"loupe"` // "session"
	Version int       `json:"version"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Pinned  bool      `json:"pinned,omitempty"`
	// Exported is when the file was written; Creator the Loupe version.
	Exported time.Time `json:"exported"`
	Creator  string    `json:"creator,omitempty"`
}

// BodyFunc opens the stored bytes of one body facet, as the stores' Body
// does.
type BodyFunc func(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error)

// ErrNotSession is returned by Open for a file that is not a Loupe session
// file; ErrTooNew for one written by a newer Loupe.
var (
	ErrNotSession = errors.New("not a Loupe session file")
	ErrTooNew     = errors.New("written by a newer Loupe")
)

// IsGzip reports whether a file starts as a gzip stream does (the first two
// bytes are enough): how the dashboard tells a session file from a HAR.
func IsGzip(prefix []byte) bool {
	return len(prefix) >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b
}

// line is one line of the file: exactly one field is set.
type line struct {
	Loupe   string          `json:"loupe,omitempty"`
	Flow    *flow.Flow      `json:"flow,omitempty"`
	Message *flow.WSMessage `json:"message,omitempty"`
	Body    *bodyChunk      `json:"body,omitempty"`
	End     *trailer        `json:"end,omitempty"`
}

type bodyChunk struct {
	Facet flow.Facet `json:"facet"`
	Data  []byte     `json:"data"`
}

type trailer struct {
	Flows int `json:"flows"`
}

// Write streams a session file of flows to w: the header, then each flow
// with its messages and the bytes body opens, then the trailer. It holds
// one flow and one chunk at a time. A flow whose body is gone meanwhile
// (ErrNotFound from body, say) is written without it; any other error ends
// the file without its trailer.
func Write(w io.Writer, h Header, flows func(yield func(*flow.Flow) bool), body BodyFunc) error {
	h.Loupe, h.Version = "session", Version
	if h.Exported.IsZero() {
		h.Exported = time.Now()
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	zw.Comment = "Loupe session"
	bw := bufio.NewWriterSize(zw, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	n := 0
	var werr error
	buf := make([]byte, ChunkBytes)
	flows(func(f *flow.Flow) bool {
		if werr = writeFlow(enc, f, body, buf); werr != nil {
			return false
		}
		n++
		return true
	})
	if werr != nil {
		return werr
	}
	if err := enc.Encode(line{End: &trailer{Flows: n}}); err != nil {
		return fmt.Errorf("write trailer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

func writeFlow(enc *json.Encoder, f *flow.Flow, body BodyFunc, buf []byte) error {
	head := *f
	head.WebSocket = nil
	if err := enc.Encode(line{Flow: &head}); err != nil {
		return fmt.Errorf("write flow %d: %w", f.ID, err)
	}
	for i := range f.WebSocket {
		if err := enc.Encode(line{Message: &f.WebSocket[i]}); err != nil {
			return fmt.Errorf("write flow %d message %d: %w", f.ID, i, err)
		}
	}
	for _, facet := range []flow.Facet{flow.FacetRequest, flow.FacetResponse, flow.FacetUpstream} {
		var facts *flow.Body
		switch facet {
		case flow.FacetRequest:
			facts = &f.RequestBody
		case flow.FacetResponse:
			facts = &f.ResponseBody
		default:
			facts = f.UpstreamBody
		}
		if facts == nil || facts.Captured == 0 {
			continue
		}
		if err := writeBody(enc, f.ID, facet, body, buf); err != nil {
			return err
		}
	}
	return nil
}

func writeBody(enc *json.Encoder, id flow.ID, facet flow.Facet, body BodyFunc, buf []byte) error {
	rc, _, err := body(id, facet)
	if err != nil {
		return nil // gone since the flow was read: written without it
	}
	defer rc.Close()
	for {
		n, err := io.ReadFull(rc, buf)
		if n > 0 {
			if werr := enc.Encode(line{Body: &bodyChunk{Facet: facet, Data: buf[:n]}}); werr != nil {
				return fmt.Errorf("write flow %d %s body: %w", id, facet, werr)
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read flow %d %s body: %w", id, facet, err)
		}
	}
}

// Options bound what a Reader holds.
type Options struct {
	// MaxLine bounds one line of the file, in bytes of JSON. Default 64 MiB.
	MaxLine int64
	// MaxBody bounds the bytes kept of one body: the rest is counted in
	// its size and the body marked truncated. Default 32 MiB.
	MaxBody int64
}

// Reader reads a session file one flow at a time.
type Reader struct {
	zr     *gzip.Reader
	lim    *lineLimit
	dec    *json.Decoder
	opt    Options
	header Header
	next   *line // a flow line read ahead
	n      int
	err    error
}

// Open reads a session file's header from r. It refuses (ErrNotSession,
// ErrTooNew) a file it cannot read.
func Open(r io.Reader, opt Options) (*Reader, error) {
	if opt.MaxLine <= 0 {
		opt.MaxLine = 64 << 20
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 32 << 20
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSession, err)
	}
	lim := &lineLimit{r: zr, max: opt.MaxLine}
	rd := &Reader{zr: zr, lim: lim, dec: json.NewDecoder(lim), opt: opt}
	if err := rd.dec.Decode(&rd.header); err != nil || rd.header.Loupe != "session" {
		if err == nil {
			err = errors.New("no session header")
		}
		return nil, fmt.Errorf("%w: %v", ErrNotSession, err)
	}
	if rd.header.Version > Version || rd.header.Version < 1 {
		return nil, fmt.Errorf("%w: format version %d; this Loupe reads up to %d", ErrTooNew, rd.header.Version, Version)
	}
	return rd, nil
}

// Header is the file's header.
func (r *Reader) Header() Header { return r.header }

// Next returns the next flow with its messages and bodies, Flow.ID being
// its ID in the file. After the last flow it checks the trailer and the
// end of the file and returns io.EOF; any other error (a cut or damaged
// file) ends the reading.
func (r *Reader) Next() (*flow.Recorded, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.read()
	if err != nil {
		r.err = err
	}
	return rec, err
}

func (r *Reader) line() (*line, error) {
	r.lim.n = 0
	var l line
	if err := r.dec.Decode(&l); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("flow %d: the file ends without its trailer (cut short?)", r.n)
		}
		return nil, fmt.Errorf("flow %d: %w", r.n, err)
	}
	return &l, nil
}

func (r *Reader) read() (*flow.Recorded, error) {
	l := r.next
	r.next = nil
	if l == nil {
		var err error
		if l, err = r.line(); err != nil {
			return nil, err
		}
	}
	switch {
	case l.End != nil:
		if l.End.Flows != r.n {
			return nil, fmt.Errorf("the trailer counts %d flows, the file holds %d", l.End.Flows, r.n)
		}
		var extra json.RawMessage
		switch err := r.dec.Decode(&extra); {
		case err == nil:
			return nil, errors.New("data after the trailer")
		case err != io.EOF:
			return nil, fmt.Errorf("after the trailer: %w", err) // a damaged gzip stream
		}
		return nil, io.EOF
	case l.Flow == nil:
		return nil, fmt.Errorf("flow %d: a line that is not a flow where one should start", r.n)
	}
	rec := &flow.Recorded{Flow: *l.Flow, Bodies: map[flow.Facet][]byte{}}
	for {
		l, err := r.line()
		if err != nil {
			return nil, err
		}
		switch {
		case l.Message != nil:
			rec.Flow.WebSocket = append(rec.Flow.WebSocket, *l.Message)
		case l.Body != nil:
			if err := r.addBody(rec, l.Body); err != nil {
				return nil, err
			}
		case l.Flow != nil || l.End != nil:
			r.next = l
			r.n++
			return rec, nil
		default:
			return nil, fmt.Errorf("flow %d: a line of an unknown kind", r.n)
		}
	}
}

func (r *Reader) addBody(rec *flow.Recorded, c *bodyChunk) error {
	if !c.Facet.Valid() {
		return fmt.Errorf("flow %d: body facet %q", r.n, c.Facet)
	}
	have := rec.Bodies[c.Facet]
	keep := c.Data[:min(int64(len(c.Data)), max(0, r.opt.MaxBody-int64(len(have))))]
	if len(keep) < len(c.Data) {
		// Beyond what this capture keeps: counted, marked, not held.
		var facts *flow.Body
		switch c.Facet {
		case flow.FacetRequest:
			facts = &rec.Flow.RequestBody
		case flow.FacetResponse:
			facts = &rec.Flow.ResponseBody
		default:
			if rec.Flow.UpstreamBody == nil {
				rec.Flow.UpstreamBody = &flow.Body{}
			}
			facts = rec.Flow.UpstreamBody
		}
		facts.Truncated = true
	}
	rec.Bodies[c.Facet] = append(have, keep...)
	return nil
}

// lineLimit fails a read once more than max bytes were read since the
// Reader last reset n (at each line), so that one huge line cannot make the
// JSON decoder hold it whole.
type lineLimit struct {
	r      io.Reader
	n, max int64
}

func (l *lineLimit) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, fmt.Errorf("a line longer than %d bytes", l.max)
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}
