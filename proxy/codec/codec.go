// Package codec undoes what HTTP does to a body on the wire: content codings
// (gzip, deflate, br, zstd, and lists of them) and text charsets. Loupe keeps
// bodies as received; the store decodes them for display and the HAR codec
// for export, both through this one package. It also redoes the codings,
// for a body a person edited decoded at a breakpoint (Encode).
//
// It depends on the standard library and the compression and text libraries
// only, never on the rest of Loupe, and it never panics on corrupt input:
// errors come from the constructor or from Read.
package codec

import (
	"bufio"
	"bytes"
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
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// ErrUnsupportedEncoding is returned for a Content-Encoding Loupe cannot
// decode; the wire bytes are still there for whoever wants them.
var ErrUnsupportedEncoding = errors.New("unsupported content encoding")

// ErrTooLarge is returned by DecodeBytes when the decoded body passes its
// limit (a small body can expand enormously: a decompression bomb).
var ErrTooLarge = errors.New("decoded body too large")

// zstdWindow bounds the memory a zstd stream may ask for.
const zstdWindow = 64 << 20

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

// DecodeBytes decodes a whole body held in memory, refusing to produce more
// than limit bytes. On a decoding error it returns what it decoded before
// the error, with the error.
func DecodeBytes(wire []byte, encoding string, limit int64) ([]byte, error) {
	rc, err := Decode(io.NopCloser(bytes.NewReader(wire)), encoding)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%s: %w (over %d bytes)", encoding, ErrTooLarge, limit)
	}
	return out, err
}

// Encode applies the content codings of encoding (a comma-separated
// list, applied first to last; "" or "identity" for none) to body, so that
// bytes edited decoded go out as the message's Content-Encoding says.
func Encode(body []byte, encoding string) ([]byte, error) {
	out := body
	for _, c := range strings.Split(encoding, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		var buf bytes.Buffer
		var w io.WriteCloser
		switch c {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			w = gzip.NewWriter(&buf)
		case "deflate":
			w = zlib.NewWriter(&buf)
		case "br":
			w = brotli.NewWriter(&buf)
		case "zstd":
			zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return nil, fmt.Errorf("encode zstd: %w", err)
			}
			w = zw
		default:
			return nil, fmt.Errorf("%q: %w", c, ErrUnsupportedEncoding)
		}
		if _, err := w.Write(out); err != nil {
			return nil, fmt.Errorf("encode %s: %w", c, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("encode %s: %w", c, err)
		}
		out = buf.Bytes()
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

// IsUTF8 reports whether a charset name (lower-case) means bytes that are
// already UTF-8; "" counts, as text without a charset is read as UTF-8.
func IsUTF8(charset string) bool {
	switch charset {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "unicode-1-1-utf-8":
		return true
	}
	return false
}

func lookup(charset string) (encoding.Encoding, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, fmt.Errorf("charset %q: %w", charset, err)
	}
	return enc, nil
}

// UTF8Reader converts text in the charset named by contentType to UTF-8.
// Without a charset, or for UTF-8 and US-ASCII, r is returned unchanged. An
// unknown charset is an error (the caller can show the bytes as they are).
func UTF8Reader(r io.Reader, contentType string) (io.Reader, error) {
	cs := Charset(contentType)
	if IsUTF8(cs) {
		return r, nil
	}
	enc, err := lookup(cs)
	if err != nil {
		return nil, err
	}
	if enc == unicode.UTF8 {
		return r, nil
	}
	return transform.NewReader(r, enc.NewDecoder()), nil
}

// ToUTF8 converts p from charset to a UTF-8 string.
func ToUTF8(p []byte, charset string) (string, error) {
	enc, err := lookup(charset)
	if err != nil {
		return "", err
	}
	out, err := enc.NewDecoder().Bytes(p)
	if err != nil {
		return "", fmt.Errorf("charset %s: %w", charset, err)
	}
	return string(out), nil
}

// FromUTF8 converts s back to charset, so text shown as UTF-8 can be
// restored to the bytes that crossed the wire.
func FromUTF8(s string, charset string) ([]byte, error) {
	enc, err := lookup(charset)
	if err != nil {
		return nil, err
	}
	out, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("charset %s: %w", charset, err)
	}
	return out, nil
}
