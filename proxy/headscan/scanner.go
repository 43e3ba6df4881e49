package headscan

import (
	"bytes"
	"net/textproto"
)

// What the scanner mirrors is net/http's server (net/http/server.go
// readRequest, request.go readRequest, transfer.go readTransfer and
// body.readTrailer, net/textproto ReadMIMEHeader, net/http/internal
// chunkedReader), reading through its 4 KiB bufio.Reader. Where the server
// rejects a request it closes the connection, so the scanner only has to
// agree with it on every stream the server accepts; where it cannot be
// sure, it stops and the connection is refused.

const (
	// lineMax bounds the part of a head line kept for inspection; the server
	// enforces the real limit on the head's size.
	lineMax = 256
	// chunkLineMax is the longest chunk-size line, CRLF included, that the
	// server accepts: it must fit its 4 KiB read buffer.
	chunkLineMax = 4096
	// maxExcess is the chunk overhead past which the server gives up on a
	// body ("chunked encoding contains too much non-data").
	maxExcess = 16 << 10
	// maxCLDigits bounds the Content-Length values the scanner follows
	// (2^63-1 has 19 digits; longer ones carry leading zeros).
	maxCLDigits = 20
	// maxQueue bounds the heads scanned but not yet taken with Next. The
	// server reads at most its 4 KiB buffer and one byte ahead of the
	// request it handles, and a head it accepts takes more than 8 bytes.
	maxQueue = 512
	// maxNames bounds the spellings kept per head, maxNameBytes their bytes
	// per connection.
	maxNames     = 64
	maxNameBytes = 16 << 10
)

type state uint8

const (
	stStart     state = iota // before a request line
	stReqLine                // in the request line
	stField                  // in a header field line, or the blank line ending the head
	stBody                   // in a Content-Length body
	stChunkLine              // in a chunk-size line
	stChunkData              // in chunk data
	stChunkCR                // after chunk data: CR
	stChunkLF                // after chunk data: LF
	stTrailer                // in the trailer section of a chunked body
	stDone                   // scanning ended: see err
)

// chunk-size line phases: size, whitespace after it, extension, CR seen.
const (
	cSize uint8 = iota
	cWS
	cExt
	cCR
)

// pending is a Content-Length or Transfer-Encoding value, checked once the
// next line shows that the field is not folded onto more lines.
type pending struct {
	kind field
	val  [maxCLDigits]byte
	n    int
	long bool // longer than val
}

type field uint8

const (
	fieldOther field = iota
	fieldCL
	fieldTE
)

// entry is what Next hands out for one head.
type entry struct {
	conflict  bool
	names     map[string]string
	nameBytes int
}

// scanner follows one connection's request stream. Its zero value is ready
// for the first byte of a connection.
type scanner struct {
	st  state
	err error // why scanning ended; Next returns it once the queue is empty

	// The line being read (request line, header or trailer field line).
	line    [lineMax]byte // its first bytes
	lineLen int           // its length so far, LF excluded
	tail    [10]byte      // the last bytes of the request line
	spaces  int           // spaces in the request line

	// The head being read.
	skip      int  // CR/LF bytes the server still skips before a request line
	post      bool // the method is POST: the server then skips up to 4 CR/LF
	http11    bool // HTTP/1.1 or later: Transfer-Encoding applies
	fields    int  // field lines so far
	last      field
	cl, te    int // Content-Length and Transfer-Encoding field lines
	clVal     [maxCLDigits]byte
	clLen     int
	clN       uint64
	chunked   bool // the first Transfer-Encoding value is "chunked"
	pend      pending
	names     map[string]string
	nameBytes int

	// The body being read.
	remain   uint64
	excess   int64
	cphase   uint8
	cdigits  int
	cn       uint64
	cLineLen int

	// Heads scanned and not yet taken: q[qHead:].
	q          []entry
	qHead      int
	qNameBytes int
}

// fail ends scanning; the first reason is kept.
func (s *scanner) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	s.st = stDone
}

func (s *scanner) reject() { s.fail(errRejected) }

// drop forgets the queued heads.
func (s *scanner) drop() {
	s.q, s.qHead, s.qNameBytes = nil, 0, 0
	s.names = nil
}

// next pops the oldest queued head.
func (s *scanner) next() (map[string]string, error) {
	if s.qHead < len(s.q) {
		e := s.q[s.qHead]
		s.q[s.qHead] = entry{}
		s.qHead++
		if s.qHead == len(s.q) {
			s.q, s.qHead = s.q[:0], 0
		}
		s.qNameBytes -= e.nameBytes
		if e.conflict {
			return nil, ErrConflict
		}
		return e.names, nil
	}
	if s.err != nil {
		return nil, s.err
	}
	return nil, errUnseen
}

func (s *scanner) push(e entry) {
	if len(s.q)-s.qHead >= maxQueue {
		s.fail(errTooMany)
		return
	}
	if s.qHead > 0 && len(s.q) == cap(s.q) {
		n := copy(s.q, s.q[s.qHead:])
		clear(s.q[n:])
		s.q, s.qHead = s.q[:n], 0
	}
	s.q = append(s.q, e)
	s.qNameBytes += e.nameBytes
}

// feed scans p, the next bytes the server reads.
func (s *scanner) feed(p []byte) {
	for len(p) > 0 {
		switch s.st {
		case stDone:
			return
		case stStart:
			if s.skip > 0 && (p[0] == '\r' || p[0] == '\n') {
				s.skip--
				p = p[1:]
				continue
			}
			s.skip = 0
			s.st = stReqLine
		case stBody, stChunkData:
			k := uint64(len(p))
			if k > s.remain {
				k = s.remain
			}
			s.remain -= k
			p = p[k:]
			if s.remain == 0 {
				if s.st == stBody {
					s.startNext()
				} else {
					s.st = stChunkCR
				}
			}
		case stChunkCR, stChunkLF:
			want := byte('\r')
			if s.st == stChunkLF {
				want = '\n'
			}
			if p[0] != want {
				s.reject() // "malformed chunked encoding"
				return
			}
			p = p[1:]
			if s.st == stChunkCR {
				s.st = stChunkLF
			} else {
				s.beginChunkLine()
			}
		case stChunkLine:
			p = s.chunkLine(p)
		default: // stReqLine, stField, stTrailer: lines
			i := bytes.IndexByte(p, '\n')
			part := p
			if i >= 0 {
				part = p[:i]
			}
			s.addLine(part)
			if i < 0 {
				return
			}
			p = p[i+1:]
			s.endLine()
		}
	}
}

// addLine appends part to the line being read.
func (s *scanner) addLine(part []byte) {
	if s.lineLen < lineMax {
		copy(s.line[s.lineLen:], part)
	}
	s.lineLen += len(part)
	if s.st != stReqLine {
		return
	}
	s.spaces += bytes.Count(part, []byte{' '})
	if len(part) >= len(s.tail) {
		copy(s.tail[:], part[len(part)-len(s.tail):])
	} else {
		copy(s.tail[:], s.tail[len(part):])
		copy(s.tail[len(s.tail)-len(part):], part)
	}
}

// emptyLine reports that the line read is blank ("\n" or "\r\n").
func (s *scanner) emptyLine() bool {
	return s.lineLen == 0 || s.lineLen == 1 && s.line[0] == '\r'
}

// endLine handles a complete line.
func (s *scanner) endLine() {
	switch s.st {
	case stReqLine:
		s.requestLine()
	case stField:
		s.fieldLine()
	case stTrailer:
		// The server reads the trailer with ReadMIMEHeader: it ends at the
		// first blank line (folded lines start with a space or tab).
		if s.emptyLine() {
			s.startNext()
		}
	}
	s.lineLen, s.spaces = 0, 0
}

// requestLine checks the request line as the server parses it
// (parseRequestLine, ParseHTTPVersion): "METHOD SP target SP HTTP/x.y", the
// version being what follows the second space.
func (s *scanner) requestLine() {
	var end []byte // the line's last bytes
	if s.lineLen <= lineMax {
		end = s.line[max(0, s.lineLen-len(s.tail)):s.lineLen]
	} else {
		end = s.tail[:]
	}
	if n := len(end); n > 0 && end[n-1] == '\r' {
		end = end[:n-1]
	}
	n := len(end)
	if s.spaces != 2 || n < 9 || end[n-9] != ' ' {
		s.reject()
		return
	}
	v := end[n-8:]
	if string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		s.reject()
		return
	}
	major, minor := v[5]-'0', v[7]-'0'
	s.http11 = major > 1 || major == 1 && minor >= 1
	s.post = s.lineLen >= 5 && string(s.line[:5]) == "POST "
	s.st = stField
}

// fieldLine handles a line of the head after the request line.
func (s *scanner) fieldLine() {
	if c := s.line[0]; s.lineLen > 0 && (c == ' ' || c == '\t') {
		// A folded continuation of the previous field.
		switch {
		case s.fields == 0:
			s.reject() // "malformed MIME header initial line"
		case s.last != fieldOther:
			s.fail(errUnfollowed)
		}
		return
	}
	if s.pend.kind != fieldOther {
		s.framingValue()
		if s.st == stDone {
			return
		}
	}
	if s.emptyLine() {
		s.endHead()
		return
	}
	s.fields++
	whole := s.lineLen <= lineMax
	kept := s.line[:min(s.lineLen, lineMax)]
	if whole && kept[len(kept)-1] == '\r' {
		kept = kept[:len(kept)-1]
	}
	i := bytes.IndexByte(kept, ':')
	if i < 0 {
		if whole {
			s.reject() // "missing colon"
		}
		s.last = fieldOther // a name longer than lineMax: not one of ours
		return
	}
	name := kept[:i]
	s.last = fieldOther
	switch {
	case asciiEqualFold(name, "Content-Length"):
		s.last = fieldCL
	case asciiEqualFold(name, "Transfer-Encoding"):
		s.last = fieldTE
	}
	if s.last != fieldOther {
		if !whole {
			s.fail(errUnfollowed)
			return
		}
		v := trimOWS(kept[i+1:])
		s.pend.kind, s.pend.long = s.last, len(v) > len(s.pend.val)
		s.pend.n = copy(s.pend.val[:], v)
	}
	s.recordName(name)
}

// framingValue checks the pending Content-Length or Transfer-Encoding value.
func (s *scanner) framingValue() {
	p := &s.pend
	kind := p.kind
	p.kind = fieldOther
	v := p.val[:p.n]
	if kind == fieldTE {
		s.te++
		if s.te == 1 {
			s.chunked = !p.long && asciiEqualFold(v, "chunked")
		}
		return
	}
	s.cl++
	if p.long {
		s.fail(errUnfollowed)
		return
	}
	s.contentLength(v)
}

// contentLength checks one Content-Length value as the server does
// (fixLength, parseContentLength): digits only, at most 2^63-1, and every
// value equal to the first.
func (s *scanner) contentLength(v []byte) {
	if len(v) == 0 {
		s.reject()
		return
	}
	var n uint64
	for _, c := range v {
		if !isDigit(c) {
			s.reject()
			return
		}
		d := uint64(c - '0')
		if n > (1<<63-1-d)/10 {
			s.reject() // out of range
			return
		}
		n = n*10 + d
	}
	if s.cl == 1 {
		s.clLen = copy(s.clVal[:], v)
		s.clN = n
		return
	}
	if !bytes.Equal(v, s.clVal[:s.clLen]) {
		s.reject() // "multiple Content-Length headers"
	}
}

// recordName keeps the client's spelling of a name the server will
// canonicalise.
func (s *scanner) recordName(name []byte) {
	if canonicalKey(name) || len(s.names) >= maxNames || s.qNameBytes+s.nameBytes+len(name) > maxNameBytes {
		return
	}
	orig := string(name)
	canon := textproto.CanonicalMIMEHeaderKey(orig)
	if canon == orig {
		return
	}
	if s.names == nil {
		s.names = make(map[string]string)
	}
	if _, seen := s.names[canon]; !seen {
		s.names[canon] = orig
		s.nameBytes += len(orig)
	}
}

// endHead queues the head just read and follows its body, framed as the
// server frames it (readTransfer).
func (s *scanner) endHead() {
	conflict := s.cl > 0 && s.te > 0
	// Transfer-Encoding is ignored on HTTP/1.0 requests; otherwise the
	// server takes exactly one field, "chunked".
	chunked := s.te > 0 && s.http11
	if chunked && (s.te != 1 || !s.chunked) {
		s.reject() // "unsupported transfer encoding"
		return
	}
	s.push(entry{conflict: conflict, names: s.names, nameBytes: s.nameBytes})
	s.names, s.nameBytes = nil, 0
	if s.st == stDone {
		return
	}
	switch {
	case conflict:
		// The handler refuses it and the connection closes.
		s.fail(errConflicted)
	case chunked:
		s.excess = 0
		s.beginChunkLine()
	case s.cl > 0 && s.clN > 0:
		s.st, s.remain = stBody, s.clN
	default:
		s.startNext()
	}
}

// startNext prepares for the next request head.
func (s *scanner) startNext() {
	s.st = stStart
	s.skip = 0
	if s.post {
		// "RFC 7230 section 3 tolerance for old buggy clients": after a
		// POST the server discards up to 4 leading CR or LF bytes.
		s.skip = 4
	}
	s.post, s.http11, s.fields, s.last = false, false, 0, fieldOther
	s.cl, s.te, s.clLen, s.clN, s.chunked = 0, 0, 0, 0, false
	s.pend.kind = fieldOther
}

func (s *scanner) beginChunkLine() {
	s.st = stChunkLine
	s.cphase, s.cdigits, s.cn, s.cLineLen = cSize, 0, 0, 0
}

// chunkLine scans a chunk-size line as the server's chunked reader reads it
// (readChunkLine, trimTrailingWhitespace, removeChunkExtension,
// parseHexUint): at most 4096 bytes ending in CRLF with no other CR, 1 to
// 16 hex digits, then either spaces and tabs or ";" and anything. It
// returns what follows the line.
func (s *scanner) chunkLine(p []byte) []byte {
	for i, b := range p {
		s.cLineLen++
		if s.cLineLen == chunkLineMax && b != '\n' {
			// The server's buffer is full and holds no line end.
			s.reject() // "header line too long"
			return nil
		}
		switch s.cphase {
		case cSize:
			if v, ok := hexValue(b); ok {
				if s.cdigits == 16 {
					s.reject() // "http chunk length too large"
					return nil
				}
				s.cn = s.cn<<4 | uint64(v)
				s.cdigits++
				continue
			}
			switch {
			case s.cdigits == 0:
				s.reject() // empty size, sign, space, "0x"...
				return nil
			case b == ';':
				s.cphase = cExt
			case b == ' ' || b == '\t':
				s.cphase = cWS
			case b == '\r':
				s.cphase = cCR
			default:
				s.reject()
				return nil
			}
		case cWS:
			switch b {
			case ' ', '\t':
			case '\r':
				s.cphase = cCR
			default:
				s.reject() // whitespace is trimmed only at the end of the line
				return nil
			}
		case cExt:
			switch b {
			case '\r':
				s.cphase = cCR
			case '\n':
				s.reject() // "chunked line ends with bare LF"
				return nil
			}
		case cCR:
			if b != '\n' {
				s.reject() // "invalid CR in chunked line"
				return nil
			}
			s.endChunkLine()
			return p[i+1:]
		}
	}
	return nil
}

// endChunkLine follows the size just read, with the server's accounting of
// chunk overhead (beginChunk).
func (s *scanner) endChunkLine() {
	s.excess += int64(s.cLineLen)
	s.excess -= 16 + (2 * int64(s.cn))
	s.excess = max(s.excess, 0)
	if s.cn == 0 {
		s.st = stTrailer
		return
	}
	if s.excess > maxExcess {
		s.reject() // "chunked encoding contains too much non-data"
		return
	}
	s.st, s.remain = stChunkData, s.cn
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// trimOWS trims spaces and tabs at both ends, as the server does with
// field values.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold compares b and s ignoring ASCII case only (bytes.EqualFold
// would also match non-ASCII letters the server rejects).
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(s) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// canonicalKey reports, without allocating, that name is already in the form
// textproto.CanonicalMIMEHeaderKey gives it (a false answer only means
// "ask CanonicalMIMEHeaderKey").
func canonicalKey(name []byte) bool {
	upper := true
	for _, c := range name {
		switch {
		case 'A' <= c && c <= 'Z':
			if !upper {
				return false
			}
		case 'a' <= c && c <= 'z':
			if upper {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
		default:
			return false
		}
		upper = c == '-'
	}
	return true
}
