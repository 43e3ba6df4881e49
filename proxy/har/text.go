package har

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
)

// errTooLarge is returned when a decoded body passes the export bound.
var errTooLarge = errors.New("decoded body too large")

// decode undoes a Content-Encoding list (last applied first). It returns
// what it decoded before an error, if anything, with the error. The store
// has the same decoding for display; HAR keeps its own copy so that it
// depends on nothing but the flow model.
func decode(wire []byte, encodingList string, limit int64) ([]byte, error) {
	codings := strings.Split(encodingList, ",")
	data := wire
	for i := len(codings) - 1; i >= 0; i-- {
		c := strings.ToLower(strings.TrimSpace(codings[i]))
		r, closeFn, err := decoder(bytes.NewReader(data), c)
		if err != nil {
			return nil, err
		}
		out, err := io.ReadAll(io.LimitReader(r, limit+1))
		closeFn()
		if int64(len(out)) > limit {
			return nil, fmt.Errorf("%s: %w (over %d bytes)", c, errTooLarge, limit)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", c, err)
		}
		data = out
	}
	return data, nil
}

func decoder(r io.Reader, coding string) (io.Reader, func(), error) {
	nop := func() {}
	switch coding {
	case "", "identity":
		return r, nop, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case "deflate":
		br := bufio.NewReader(r)
		head, _ := br.Peek(2)
		if len(head) == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, nil, fmt.Errorf("deflate: %w", err)
			}
			return zr, func() { zr.Close() }, nil
		}
		fr := flate.NewReader(br)
		return fr, func() { fr.Close() }, nil
	case "br":
		return brotli.NewReader(r), nop, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return nil, nil, fmt.Errorf("unsupported content encoding %q", coding)
}

// isText reports whether a Content-Type names text meant to be read.
func isText(contentType string) bool {
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

func charsetOf(contentType string) string {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(params["charset"]))
}

func isUTF8Name(cs string) bool {
	switch cs {
	case "utf-8", "utf8", "us-ascii", "ascii", "unicode-1-1-utf-8":
		return true
	}
	return false
}

func charsetEncoding(cs string) (encoding.Encoding, error) {
	enc, err := htmlindex.Get(cs)
	if err != nil {
		return nil, fmt.Errorf("charset %q: %w", cs, err)
	}
	return enc, nil
}

func toUTF8(p []byte, cs string) (string, error) {
	enc, err := charsetEncoding(cs)
	if err != nil {
		return "", err
	}
	out, err := enc.NewDecoder().Bytes(p)
	if err != nil {
		return "", fmt.Errorf("charset %s: %w", cs, err)
	}
	return string(out), nil
}

func fromUTF8(s string, cs string) ([]byte, error) {
	enc, err := charsetEncoding(cs)
	if err != nil {
		return nil, err
	}
	out, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("charset %s: %w", cs, err)
	}
	return out, nil
}
