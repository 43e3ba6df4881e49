package proxy

import (
	"net/textproto"
	"slices"
	"testing"
)

func scanAll(chunks ...[]byte) []bool {
	c := newScanConn(nil)
	for _, p := range chunks {
		c.feed(p)
	}
	return c.heads
}

func TestScanFindsConflictingFraming(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want []bool
	}{
		{"plain", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []bool{false}},
		{"length body then next", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", []bool{false, false}},
		{"body looks like a head", "POST / HTTP/1.1\r\nContent-Length: 52\r\n\r\nX: 1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", []bool{false}},
		{"chunked then next", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n\r\n", []bool{false, false}},
		{"conflict", "POST / HTTP/1.1\r\ncontent-length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n", []bool{true}},
		{"connect stops", "CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01", []bool{false}},
		{"upgrade stops", "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello\r\n\r\n", []bool{false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := scanAll([]byte(tc.raw)); !slices.Equal(got, tc.want) {
				t.Errorf("whole: %v, want %v", got, tc.want)
			}
			var bytewise [][]byte
			for i := range len(tc.raw) {
				bytewise = append(bytewise, []byte{tc.raw[i]})
			}
			if got := scanAll(bytewise...); !slices.Equal(got, tc.want) {
				t.Errorf("byte by byte: %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzScan: the scanner never panics and does not depend on how reads split
// the stream.
func FuzzScan(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 7)
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nff;x=y\r\n"), 3)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 1)
	f.Fuzz(func(t *testing.T, raw []byte, cut int) {
		whole := scanAll(raw)
		if cut < 0 {
			cut = -cut
		}
		if len(raw) == 0 {
			cut = 0
		} else {
			cut %= len(raw)
		}
		split := scanAll(raw[:cut], raw[cut:])
		if !slices.Equal(whole, split) {
			t.Fatalf("whole %v != split at %d %v", whole, cut, split)
		}
	})
}

// FuzzCanonicalKey checks that canonicalKey never claims a name is
// canonical when CanonicalMIMEHeaderKey would change it (that spelling would
// then be lost), and that it recognises the common canonical names.
func FuzzCanonicalKey(f *testing.F) {
	for _, s := range []string{"Content-Length", "content-length", "X-1a", "X-A1", "ETag", "Etag", "WWW-Authenticate", "A--B", "", "Foo Bar", "Ünicode", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		canon := textproto.CanonicalMIMEHeaderKey(s)
		if canonicalKey([]byte(s)) && canon != s {
			t.Fatalf("canonicalKey(%q) = true, CanonicalMIMEHeaderKey gives %q", s, canon)
		}
	})
}

func TestCanonicalKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Content-Length", true}, {"User-Agent", true}, {"X-Forwarded-For", true}, {"X-1a", true}, {"Accept", true},
		{"content-length", false}, {"ETag", false}, {"User-agent", false}, {"X-A1", true}, {"Foo Bar", false},
	} {
		if got := canonicalKey([]byte(tc.name)); got != tc.want {
			t.Errorf("canonicalKey(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
