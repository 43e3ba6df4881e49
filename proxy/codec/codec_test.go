package codec

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

func decoded(encoding string, wire []byte) ([]byte, error) {
	rc, err := Decode(io.NopCloser(bytes.NewReader(wire)), encoding)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestDecode(t *testing.T) {
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
			got, err := decoded(tt.encoding, tt.wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("decoded %d bytes, want the %d original", len(got), len(plain))
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
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
				got, err := decoded(coding, wire)
				if err == nil && bytes.Equal(got, plain) {
					t.Fatal("corrupt body decoded to the original")
				}
				if err == nil {
					t.Fatalf("no error for a corrupt %s body (got %d bytes)", coding, len(got))
				}
			})
		}
	}
	_, err := decoded("compress", garbage)
	if !errors.Is(err, ErrUnsupportedEncoding) {
		t.Errorf("unknown encoding: err = %v", err)
	}
}

func TestCharsets(t *testing.T) {
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

func TestDecodeBytes(t *testing.T) {
	plain := []byte(strings.Repeat("x", 10000))
	gz := compress(t, "gzip", plain)
	got, err := DecodeBytes(gz, "gzip", 10000)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("DecodeBytes = %d bytes, %v", len(got), err)
	}
	// A small wire body that decodes past the limit is refused.
	if _, err := DecodeBytes(gz, "gzip", 9999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: err = %v, want ErrTooLarge", err)
	}
	// A body cut short gives what was decoded, with the error.
	got, err = DecodeBytes(gz[:len(gz)-8], "gzip", 10000)
	if err == nil || len(got) == 0 {
		t.Errorf("truncated: %d bytes, err %v; want a prefix and an error", len(got), err)
	}
}

func TestToAndFromUTF8(t *testing.T) {
	s, err := ToUTF8([]byte{'c', 'a', 'f', 0xe9}, "iso-8859-1")
	if err != nil || s != "café" {
		t.Fatalf("ToUTF8 = %q, %v", s, err)
	}
	back, err := FromUTF8(s, "iso-8859-1")
	if err != nil || !bytes.Equal(back, []byte{'c', 'a', 'f', 0xe9}) {
		t.Errorf("FromUTF8 = %v, %v", back, err)
	}
	if _, err := ToUTF8([]byte("x"), "klingon"); err == nil {
		t.Error("unknown charset accepted")
	}
}

// Encode is Decode's inverse for every coding, and for lists of them.
func TestEncodeRoundTrip(t *testing.T) {
	body := bytes.Repeat([]byte("edited at a breakpoint, "), 100)
	for _, enc := range []string{"", "identity", "gzip", "x-gzip", "deflate", "br", "zstd", "gzip, br", "deflate,zstd"} {
		wire, err := Encode(body, enc)
		if err != nil {
			t.Fatalf("Encode(%q): %v", enc, err)
		}
		got, err := DecodeBytes(wire, enc, 1<<20)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%q: decoded %d bytes, %v", enc, len(got), err)
		}
	}
	if _, err := Encode(body, "compress"); !errors.Is(err, ErrUnsupportedEncoding) {
		t.Errorf("Encode(compress) = %v, want ErrUnsupportedEncoding", err)
	}
}
