package store

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"loupe/proxy/flow"
)

func compress(t *testing.T, coding string, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "rawdeflate":
		w, err = flate.NewWriter(&buf, flate.BestSpeed)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	default:
		t.Fatalf("unknown coding %s", coding)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// storeBody records one response with the given wire bytes and encoding.
func storeBody(s *Store, encoding string, wire []byte) flow.ID {
	h := s.Begin("c", req("/"), t0)
	h.Response(flow.Response{Status: 200, Header: flow.Fields{{Name: "Content-Encoding", Value: encoding}}})
	h.Body(flow.FacetResponse, wire)
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0, nil)
	return h.ID()
}

func decoded(s *Store, id flow.ID) ([]byte, error) {
	rc, _, err := s.DecodedBody(id, flow.FacetResponse)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestDecodedBody(t *testing.T) {
	s := newStore(t, Config{SpillThreshold: 256})
	plain := []byte(strings.Repeat("Loupe sees every byte. ", 100))
	gz := compress(t, "gzip", plain)
	tests := []struct {
		encoding string
		wire     []byte
	}{
		{"", plain},
		{"identity", plain},
		{"gzip", gz},
		{"x-gzip", gz},
		{"deflate", compress(t, "deflate", plain)},
		{"deflate", compress(t, "rawdeflate", plain)},
		{"br", compress(t, "br", plain)},
		{"zstd", compress(t, "zstd", plain)},
		{"gzip, br", compress(t, "br", gz)},
		{"GZIP", gz},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			id := storeBody(s, tt.encoding, tt.wire)
			got, err := decoded(s, id)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("decoded %d bytes, want the %d original", len(got), len(plain))
			}
			if raw := readBody(t, s, id, flow.FacetResponse); !bytes.Equal(raw, tt.wire) {
				t.Error("wire bytes changed")
			}
		})
	}
}

func TestDecodedBodyCorrupt(t *testing.T) {
	s := newStore(t, Config{})
	plain := []byte(strings.Repeat("abcdefgh", 500))
	garbage := []byte("this is not compressed at all, not even a little bit")
	for _, coding := range []string{"gzip", "deflate", "br", "zstd"} {
		whole := compress(t, coding, plain)
		flipped := bytes.Clone(whole)
		flipped[len(flipped)/2] ^= 0xff
		cases := map[string][]byte{
			"garbage":   garbage,
			"truncated": whole[:len(whole)/2],
			"flipped":   flipped,
		}
		for name, wire := range cases {
			t.Run(coding+"/"+name, func(t *testing.T) {
				got, err := decoded(s, storeBody(s, coding, wire))
				if err == nil && bytes.Equal(got, plain) {
					t.Fatal("corrupt body decoded to the original")
				}
				if err == nil {
					t.Fatalf("no error for a corrupt %s body (got %d bytes)", coding, len(got))
				}
			})
		}
	}
	_, err := decoded(s, storeBody(s, "compress", garbage))
	if !errors.Is(err, ErrUnsupportedEncoding) {
		t.Errorf("unknown encoding: err = %v", err)
	}
}

func TestUTF8Reader(t *testing.T) {
	tests := []struct {
		contentType string
		in          []byte
		want        string
	}{
		{"text/plain; charset=iso-8859-1", []byte{'c', 'a', 'f', 0xe9}, "café"},
		{"text/html; charset=windows-1252", []byte{0x93, 'q', 0x94}, "\u201cq\u201d"},
		{"text/plain; charset=Shift_JIS", []byte{0x82, 0xa0}, "あ"},
		{"application/json", []byte("{\"a\":\"é\"}"), "{\"a\":\"é\"}"},
		{"text/plain; charset=utf-8", []byte("ok"), "ok"},
	}
	for _, tt := range tests {
		r, err := UTF8Reader(bytes.NewReader(tt.in), tt.contentType)
		if err != nil {
			t.Errorf("%s: %v", tt.contentType, err)
			continue
		}
		got, _ := io.ReadAll(r)
		if string(got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.contentType, got, tt.want)
		}
	}
	if _, err := UTF8Reader(strings.NewReader("x"), "text/plain; charset=klingon"); err == nil {
		t.Error("unknown charset accepted")
	}
	for ct, want := range map[string]bool{"text/css": true, "application/vnd.api+json": true,
		"application/json; charset=utf-8": true, "image/png": false, "application/octet-stream": false, "": false} {
		if IsText(ct) != want {
			t.Errorf("IsText(%q) = %v", ct, !want)
		}
	}
}
