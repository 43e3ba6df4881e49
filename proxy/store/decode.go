package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"loupe/proxy/flow"
)

// ErrUnsupportedEncoding is returned for a Content-Encoding Loupe cannot
// decode; the wire bytes are still available through Body.
var ErrUnsupportedEncoding = errors.New("unsupported content encoding")

// zstdWindow bounds the memory a zstd stream may ask for.
const zstdWindow = 64 << 20

// DecodedBody is Body with the Content-Encoding undone (gzip, deflate, br,
// zstd, and lists of them). A corrupt body gives an error from DecodedBody
// or from Read, never a panic. The returned facts describe the wire body.
func (s *Store) DecodedBody(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
	rc, facts, err := s.Body(id, facet)
	if err != nil {
		return nil, facts, err
	}
	d, err := Decode(rc, facts.Encoding)
	if err != nil {
		rc.Close()
		return nil, facts, fmt.Errorf("flow %d %s body: %w", id, facet, err)
	}
	return d, facts, nil
}

// Decode wraps r, which carries bytes with the given Content-Encoding (""
// or "identity" for none; a comma-separated list is undone last first).
// Closing the result closes r.
func Decode(r io.ReadCloser, encoding string) (io.ReadCloser, error) {
	codings := strings.Split(encoding, ",")
	out := r
	for i := len(codings) - 1; i >= 0; i-- {
		c := strings.ToLower(strings.TrimSpace(codings[i]))
		next, err := decodeOne(out, c)
		if err != nil {
			out.Close()
			return nil, err
		}
		out = next
	}
	return out, nil
}

// stack is a decoder over an inner ReadCloser: Close closes both.
type stack struct {
	name  string
	r     io.Reader
	close func()
	inner io.Closer
}

func (s *stack) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("decode %s: %w", s.name, err)
	}
	return n, err
}

func (s *stack) Close() error {
	if s.close != nil {
		s.close()
	}
	return s.inner.Close()
}

func decodeOne(r io.ReadCloser, coding string) (io.ReadCloser, error) {
	switch coding {
	case "", "identity":
		return r, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decode gzip: %w", err)
		}
		return &stack{name: coding, r: zr, close: func() { zr.Close() }, inner: r}, nil
	case "deflate":
		// RFC 9110 says zlib-wrapped, but many servers send raw deflate.
		br := bufio.NewReader(r)
		head, _ := br.Peek(2)
		if len(head) == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("decode deflate: %w", err)
			}
			return &stack{name: coding, r: zr, close: func() { zr.Close() }, inner: r}, nil
		}
		fr := flate.NewReader(br)
		return &stack{name: coding, r: fr, close: func() { fr.Close() }, inner: r}, nil
	case "br":
		return &stack{name: coding, r: brotli.NewReader(r), inner: r}, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("decode zstd: %w", err)
		}
		return &stack{name: coding, r: zr, close: zr.Close, inner: r}, nil
	}
	return nil, fmt.Errorf("%q: %w", coding, ErrUnsupportedEncoding)
}

// IsText reports whether a Content-Type names text that a person reads
// (text/*, JSON, XML, JavaScript, forms...), as opposed to binary data.
func IsText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"),
		strings.HasSuffix(mt, "/json"), strings.HasSuffix(mt, "/xml"):
		return true
	}
	switch mt {
	case "application/javascript", "application/x-javascript", "application/ecmascript",
		"application/x-www-form-urlencoded", "application/graphql", "application/x-ndjson",
		"application/jsonl", "application/yaml", "application/x-yaml", "application/toml",
		"application/sql", "image/svg+xml":
		return true
	}
	return false
}

// Charset returns the charset parameter of a Content-Type, lower-cased, or "".
func Charset(contentType string) string {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(params["charset"]))
}

// UTF8Reader converts text in the charset named by contentType to UTF-8.
// Without a charset, or for UTF-8 and US-ASCII, r is returned unchanged. An
// unknown charset is an error (the caller can show the bytes as they are).
func UTF8Reader(r io.Reader, contentType string) (io.Reader, error) {
	cs := Charset(contentType)
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		return nil, fmt.Errorf("charset %q: %w", cs, err)
	}
	if enc == unicode.UTF8 {
		return r, nil
	}
	return transform.NewReader(r, enc.NewDecoder()), nil
}
