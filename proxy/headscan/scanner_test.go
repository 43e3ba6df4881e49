package headscan

import (
	"errors"
	"maps"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// verdicts feeds the chunks to a new scanner and takes every verdict:
// "ok", "conflict", then the error that ends the queue ("unseen" when the
// scanner is still following the stream).
func verdicts(chunks ...[]byte) []string {
	s := &scanner{}
	for _, p := range chunks {
		s.feed(p)
	}
	var out []string
	for {
		_, err := s.next()
		switch {
		case err == nil:
			out = append(out, "ok")
			continue
		case errors.Is(err, ErrConflict):
			out = append(out, "conflict")
			continue
		case err == errUnseen:
			out = append(out, "unseen")
		case err == errRejected:
			out = append(out, "rejected")
		case err == errUnfollowed:
			out = append(out, "unfollowed")
		case err == errConflicted:
			out = append(out, "conflicted")
		case err == errTooMany:
			out = append(out, "too many")
		default:
			out = append(out, err.Error())
		}
		return out
	}
}

func bytewise(raw string) [][]byte {
	var out [][]byte
	for i := range len(raw) {
		out = append(out, []byte{raw[i]})
	}
	return out
}

func TestVerdicts(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want []string
	}{
		{"plain", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []string{"ok", "unseen"}},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\nHost: a\n\n", []string{"ok", "ok", "unseen"}},
		{"length body then next", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", []string{"ok", "ok", "unseen"}},
		{"body looks like a head", "POST / HTTP/1.1\r\nContent-Length: 52\r\n\r\nX: 1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", []string{"ok", "unseen"}},
		{"chunked then next", chunkedPost + "5\r\nhello\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n\r\n", []string{"ok", "ok", "unseen"}},
		{"chunk extension and trailing space", chunkedPost + "5;a=b\r\nhello\r\n5 \t\r\nhello\r\n0\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
		{"conflict", "POST / HTTP/1.1\r\ncontent-length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n", []string{"conflict", "conflicted"}},
		{"conflict on HTTP/1.0", "POST / HTTP/1.0\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", []string{"conflict", "conflicted"}},
		{"negative chunk size", chunkedPost + "-1\r\nx", []string{"ok", "rejected"}},
		{"signed chunk size", chunkedPost + "+1\r\nx", []string{"ok", "rejected"}},
		{"0x chunk size", chunkedPost + "0x1\r\nx", []string{"ok", "rejected"}},
		{"17 hex digits", chunkedPost + "00000000000000001\r\nx", []string{"ok", "rejected"}},
		{"16 hex digits, huge", chunkedPost + "ffffffffffffffff\r\nxxxx", []string{"ok", "unseen"}},
		{"space before extension", chunkedPost + "1 ;x\r\nx", []string{"ok", "rejected"}},
		{"leading space", chunkedPost + " 1\r\nx", []string{"ok", "rejected"}},
		{"bare LF chunk line", chunkedPost + "1\nx", []string{"ok", "rejected"}},
		{"no CRLF after chunk data", chunkedPost + "1\r\nxy", []string{"ok", "rejected"}},
		{"chunk line too long", chunkedPost + "1;" + strings.Repeat("e", 4093) + "\r\n", []string{"ok", "rejected"}},
		{"chunk line at the limit", chunkedPost + "1;" + strings.Repeat("e", 4092) + "\r\nx\r\n0\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
		{"too much chunk overhead", chunkedPost + strings.Repeat("1;"+strings.Repeat("e", 100)+"\r\na\r\n", 200), []string{"ok", "rejected"}},
		{"Transfer-Encoding ignored on HTTP/1.0", "GET / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
		{"two Transfer-Encodings", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", []string{"rejected"}},
		{"gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", []string{"rejected"}},
		{"signed length", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", []string{"rejected"}},
		{"length out of range", "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", []string{"rejected"}},
		{"two equal lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx" + nextGet, []string{"ok", "ok", "unseen"}},
		{"two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 01\r\n\r\n", []string{"rejected"}},
		{"folded length", "POST / HTTP/1.1\r\nContent-Length:\r\n 1\r\n\r\nx", []string{"unfollowed"}},
		{"folded other field", "GET / HTTP/1.1\r\nX: a\r\n Content-Length: 5\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
		{"name with space", "GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
		{"CR/LF after POST", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
		{"blank line after GET", "GET / HTTP/1.1\r\n\r\n\r\n" + nextGet, []string{"ok", "rejected"}},
		{"bad version", "GET / HTTP/1.x\r\n\r\n", []string{"rejected"}},
		{"three spaces", "GET /a b HTTP/1.1\r\n\r\n", []string{"rejected"}},
		{"long target", "GET /" + strings.Repeat("a", 400) + " HTTP/1.1\r\nContent-Length: 1\r\n\r\nx" + nextGet, []string{"ok", "ok", "unseen"}},
		{"CONNECT goes on", "CONNECT a:443 HTTP/1.1\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
		{"upgrade offer goes on", "GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n" + nextGet, []string{"ok", "ok", "unseen"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdicts([]byte(tc.raw)); !slices.Equal(got, tc.want) {
				t.Errorf("whole: %v, want %v", got, tc.want)
			}
			if got := verdicts(bytewise(tc.raw)...); !slices.Equal(got, tc.want) {
				t.Errorf("byte by byte: %v, want %v", got, tc.want)
			}
		})
	}
}

// Every seed stream, split every way the tests try, gets the verdicts
// net/http's own reading implies (see compareWithServer).
func TestAgreesWithServer(t *testing.T) {
	for i, seed := range seeds() {
		for _, splits := range [][]byte{nil, {0}, {1, 7, 0, 63}} {
			if msg, _ := compareWithServer([]byte(seed), splits); msg != "" {
				t.Errorf("seed %d, splits %v: %s\n%q", i, splits, msg, seed)
			}
		}
	}
}

// A fault inside the scanner is recovered in Read: the bytes still reach
// the reader, scanning stops, and the connection is refused from the next
// head on.
func TestFaultIsRecoveredAndPoisons(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := NewConn(server)
	defer c.Close()
	go func() { _, _ = client.Write([]byte("GET / HTTP/1.1\r\n\r\nGET")) }()
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.s.lineLen = -1 // corrupt the state: the next line append faults
	c.mu.Unlock()
	go func() { _, _ = client.Write([]byte(" / HTTP/1.1\r\n\r\n")) }()
	m, err := c.Read(buf[n:])
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n+m]); got != "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n" {
		t.Errorf("read %q", got)
	}
	if _, err := c.Next(); err != nil {
		t.Errorf("first head: %v", err)
	}
	_, err = c.Next()
	if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "fault") {
		t.Errorf("after a fault: %v, want ErrLost", err)
	}
	if !c.stopped.Load() {
		t.Errorf("still scanning after a fault")
	}
}

// The queue of heads not yet taken is bounded.
func TestQueueBounded(t *testing.T) {
	s := &scanner{}
	s.feed([]byte(strings.Repeat("GET / HTTP/1.1\r\n\r\n", maxQueue+10)))
	for range maxQueue {
		if _, err := s.next(); err != nil {
			t.Fatalf("queued head: %v", err)
		}
	}
	if _, err := s.next(); err != errTooMany {
		t.Errorf("past the bound: %v, want errTooMany", err)
	}

	// A queue that never empties (one head always ahead) does not grow.
	s = &scanner{}
	s.feed([]byte("GET / HTTP/1.1\r\n\r\n"))
	for range 10 * maxQueue {
		s.feed([]byte("GET / HTTP/1.1\r\n\r\n"))
		if _, err := s.next(); err != nil {
			t.Fatal(err)
		}
	}
	if cap(s.q) > 2*maxQueue {
		t.Errorf("queue capacity %d", cap(s.q))
	}
}

// Stop ends scanning: later heads are refused, later bytes pass unread.
func TestStop(t *testing.T) {
	var nilConn *Conn
	nilConn.Stop() // no scanner: nothing to do

	client, server := net.Pipe()
	defer client.Close()
	c := NewConn(server)
	defer c.Close()
	go func() { _, _ = client.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }()
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	go func() { _, _ = client.Write([]byte("\x81\x05hello")) }()
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(); !errors.Is(err, ErrLost) {
		t.Errorf("after Stop: %v, want ErrLost", err)
	}
}

func TestNames(t *testing.T) {
	s := &scanner{}
	s.feed([]byte("GET / HTTP/1.1\r\nHost: a\r\nx-trace-id: 1\r\nX-TRACE-ID: 2\r\netag: x\r\nAccept: */*\r\nbad name: x\r\n\r\n" + nextGet))
	names, err := s.next()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"X-Trace-Id": "x-trace-id", "Etag": "etag"}
	if !maps.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if names, err := s.next(); err != nil || names != nil {
		t.Errorf("canonical head: %v %v", names, err)
	}
}

// A head of canonical names costs the scanner no allocation once the
// connection's queue exists.
func TestNoAllocsPerHead(t *testing.T) {
	head := []byte("GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n")
	post := []byte("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloPOST /y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	s := &scanner{}
	s.feed(head)
	_, _ = s.next()
	allocs := testing.AllocsPerRun(200, func() {
		s.feed(head)
		s.feed(post)
		for range 3 {
			if _, err := s.next(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per run, want 0", allocs)
	}
}

// FuzzScan: the scanner never panics (it is called here without the
// recover that guards Conn.Read), keeps its queue bounded, and its verdicts
// do not depend on how reads split the stream, down to single bytes.
//
//	go test -fuzz FuzzScan -fuzztime 3m ./proxy/headscan
func FuzzScan(f *testing.F) {
	for _, seed := range seeds() {
		f.Add([]byte(seed), []byte{})
		f.Add([]byte(seed), []byte{0})
	}
	f.Fuzz(func(t *testing.T, raw, splits []byte) {
		whole := verdicts(raw)
		var chunks [][]byte
		rest := raw
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(splits) > 0 {
				n = min(n, 1+int(splits[i%len(splits)])%64)
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		if split := verdicts(chunks...); !slices.Equal(whole, split) {
			t.Fatalf("whole %v != split %v", whole, split)
		}
		if len(whole) > maxQueue+1 {
			t.Fatalf("%d verdicts queued", len(whole))
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

// BenchmarkHead measures scanning one typical browser request head and
// taking its verdict.
//
//	go test -run '^$' -bench Head ./proxy/headscan
func BenchmarkHead(b *testing.B) {
	head := []byte("GET http://example.com/static/app.js?v=3 HTTP/1.1\r\nHost: example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Referer: http://example.com/\r\nCookie: session=0123456789abcdef0123456789abcdef\r\n" +
		"Connection: keep-alive\r\n\r\n")
	s := &scanner{}
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		s.feed(head)
		if _, err := s.next(); err != nil {
			b.Fatal(err)
		}
	}
}
