package disk

import (
	"bytes"
	"compress/gzip"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// TestTextIndexSameText checks that the text index holds the same text
// (the bodies' text, no headers) and text_state for a flow whatever path
// indexed it: the writer, with the flow's final row, from the bytes the
// batch holds, or the idle writer later, reading the flow back. The text
// is read back from the index itself (its trigrams, through fts5vocab) and
// compared with what the flow read from the database makes.
func TestTextIndexSameText(t *testing.T) {
	s := openStore(t, Config{TextMax: 300, InlineMax: 1024})
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	long := strings.Repeat("Long Body Text ", 40) // past TextMax
	resp := func(h flow.Fields) flow.Response {
		return flow.Response{Status: 200, Proto: "HTTP/1.1", Header: h}
	}
	plain := flow.Fields{{Name: "Content-Type", Value: "text/plain"}, {Name: "X-Trace", Value: "ÄbC-123"}}
	gzipped := flow.Fields{{Name: "Content-Type", Value: "text/plain"}, {Name: "Content-Encoding", Value: "gzip"}}
	binary := flow.Fields{{Name: "Content-Type", Value: "application/octet-stream"}}
	for _, tc := range []struct {
		name    string
		header  flow.Fields
		reqBody []byte
		chunks  [][]byte // the response body, a Flush after each chunk but the last
	}{
		{name: "no body", header: plain},
		{name: "small bodies", header: plain, reqBody: []byte(`{"Query":"Needle"}`), chunks: [][]byte{[]byte("Hello, World")}},
		{name: "several chunks, one batch", header: plain, chunks: [][]byte{[]byte("abc DEF "), []byte("ghi JKL")}},
		{name: "gzip", header: gzipped, chunks: [][]byte{gz("Compressed BODY text")}},
		{name: "gzip past text max", header: gzipped, chunks: [][]byte{gz(long)}},
		{name: "past text max", header: plain, chunks: [][]byte{[]byte(long[:400])}},
		{name: "invalid utf-8", header: plain, chunks: [][]byte{[]byte("bad \xff\xfe bytes ÉTÉ")}},
		{name: "not gzip", header: gzipped, chunks: [][]byte{[]byte("plain text said to be gzip")}},
		{name: "across batches", header: plain, chunks: [][]byte{[]byte("first half, "), nil, []byte("second half")}},
		{name: "in a segment", header: plain, chunks: [][]byte{bytes.Repeat([]byte("Segment "), 200)}},
		{name: "request body only", header: plain, reqBody: []byte("Request Only")},
		{name: "binary", header: binary, chunks: [][]byte{[]byte("Octet Needle")}},
		{name: "binary in a segment", header: binary, chunks: [][]byte{bytes.Repeat([]byte("Octets "), 200)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req("/Text/" + strings.ReplaceAll(tc.name, " ", "-"))
			r.Method = "POST"
			h := s.Begin("127.0.0.1:5000", r, t0)
			if len(tc.reqBody) > 0 {
				h.Body(flow.FacetRequest, tc.reqBody)
			}
			h.BodyEnd(flow.FacetRequest)
			h.Response(resp(tc.header))
			for _, c := range tc.chunks {
				if c == nil {
					flush(t, s)
					continue
				}
				h.Body(flow.FacetResponse, c)
			}
			h.BodyEnd(flow.FacetResponse)
			h.Finish(t0.Add(time.Millisecond), nil)
			waitIndexed(t, s)

			f, err := s.get(context.Background(), h.ID())
			if err != nil {
				t.Fatal(err)
			}
			state := textFull
			var body strings.Builder
			for i := range 2 {
				if !s.storedText(context.Background(), s.rd.parts, f, i, &body) {
					state = textPartial
				}
			}
			var gotState int
			if err := s.rdb.QueryRow("SELECT text_state FROM flows WHERE id = ?", int64(h.ID())).Scan(&gotState); err != nil {
				t.Fatal(err)
			}
			if gotState != state {
				t.Errorf("text_state %d, want %d", gotState, state)
			}
			headers, text := indexedText(t, s, int64(h.ID()))
			if headers != "" {
				t.Errorf("headers indexed as\n%q\nwant none", headers)
			}
			if want := trigramText(body.String()); text != want {
				t.Errorf("body indexed as\n%q\nwant\n%q", text, want)
			}
		})
	}
}

// trigramText is the part of s that trigrams can hold: nothing when it is
// shorter than three characters.
func trigramText(s string) string {
	if utf8.RuneCountInString(s) < 3 {
		return ""
	}
	return s
}

// indexedText rebuilds the headers and body text that flow_text holds for
// one flow from its trigrams and their positions.
func indexedText(t *testing.T, s *Store, id int64) (headers, body string) {
	t.Helper()
	ctx := context.Background()
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.text_terms USING fts5vocab(main, flow_text, instance)"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT term, col, offset FROM temp.text_terms WHERE doc = ? ORDER BY col, offset", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols := map[string][]string{}
	for rows.Next() {
		var term, col string
		var off int
		if err := rows.Scan(&term, &col, &off); err != nil {
			t.Fatal(err)
		}
		if off != len(cols[col]) {
			t.Fatalf("flow %d %s: trigram at %d after %d", id, col, off, len(cols[col]))
		}
		cols[col] = append(cols[col], term)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := func(terms []string) string {
		var b strings.Builder
		for i, term := range terms {
			r := []rune(term)
			if i == len(terms)-1 {
				b.WriteString(string(r))
			} else {
				b.WriteRune(r[0])
			}
		}
		return b.String()
	}
	return text(cols["headers"]), text(cols["body"])
}

// A binary body is left out of the text index, and a body: term still
// finds it (by the bounded scan of flows not wholly indexed).
func TestBinaryBodiesSearchedWithoutIndex(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		indexed     bool
	}{
		{"application/json; charset=utf-8", true},
		{"text/html", true},
		{"", true},
		{"application/x-www-form-urlencoded", true},
		{"application/octet-stream", false},
		{"image/png", false},
		{"application/grpc", false},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			if got := textLike(tc.contentType); got != tc.indexed {
				t.Errorf("textLike(%q) = %v", tc.contentType, got)
			}
		})
	}
	s := openStore(t, Config{})
	for _, ct := range []string{"application/json", "application/octet-stream"} {
		h := s.Begin("127.0.0.1:5000", req("/bin"), t0)
		h.BodyEnd(flow.FacetRequest)
		h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: ct}}})
		h.Body(flow.FacetResponse, []byte("find the zyx-needle in "+ct))
		h.BodyEnd(flow.FacetResponse)
		h.Finish(t0.Add(time.Millisecond), nil)
	}
	waitIndexed(t, s)
	var states []int
	rows, err := s.rdb.Query("SELECT text_state FROM flows ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var st int
		rows.Scan(&st)
		states = append(states, st)
	}
	rows.Close()
	if !slices.Equal(states, []int{textFull, textPartial}) {
		t.Errorf("text states %v, want the JSON body indexed and the binary one not", states)
	}
	q, err := filter.Parse("body:zyx-needle")
	if err != nil {
		t.Fatal(err)
	}
	if res := s.List(q, query.Page{}); res.Total != 2 || len(res.Flows) != 2 || !res.Complete {
		t.Errorf("body search: %+v", res)
	}
}
