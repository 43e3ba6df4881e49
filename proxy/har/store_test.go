package har_test

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/har"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

// TestStoreRoundTrip runs the path the dashboard uses: flows recorded by the
// store (one spilled to disk), exported from it, imported into it again and
// exported once more: the two documents are the same, and the imported wire
// bodies are byte-identical.
func TestStoreRoundTrip(t *testing.T) {
	s, err := store.New(store.Config{Dir: t.TempDir(), SpillThreshold: 1024}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(bytes.Repeat([]byte(`{"k":"v"},`), 300))
	zw.Close()
	binary := make([]byte, 5000) // spilled
	for i := range binary {
		binary[i] = byte(i * 31)
	}
	record := func(url string, reqBody []byte, status int, h flow.Fields, body []byte) flow.ID {
		hd := s.Begin("127.0.0.1:1", flow.Request{Method: "POST", URL: url, Proto: "HTTP/1.1",
			Header: flow.Fields{{Name: "Content-Type", Value: "application/octet-stream"}}}, start)
		hd.Body(flow.FacetRequest, reqBody)
		hd.BodyEnd(flow.FacetRequest)
		hd.Response(flow.Response{Status: status, Proto: "HTTP/1.1", Header: h})
		hd.Body(flow.FacetResponse, body)
		hd.BodyEnd(flow.FacetResponse)
		hd.WebSocket(flow.WSMessage{Direction: flow.Receive, Time: start.Add(time.Second), Opcode: 2, Size: 3, Data: []byte{9, 8, 7}})
		hd.Timings(flow.Timings{Blocked: -1, DNS: 1, Connect: 2, TLS: 1, Send: 0.5, Wait: 7, Receive: 1})
		hd.Finish(start.Add(12*time.Millisecond), nil)
		return hd.ID()
	}
	record("https://a.test/json", []byte("q=1"), 200,
		flow.Fields{{Name: "Content-Encoding", Value: "gzip"}, {Name: "Content-Type", Value: "application/json"}}, zipped.Bytes())
	record("https://a.test/bin", binary, 201, flow.Fields{{Name: "Content-Type", Value: "application/octet-stream"}}, binary)

	var first bytes.Buffer
	if err := har.Export(&first, s.All(nil), s.Body, har.Options{CreatorVersion: "t"}); err != nil {
		t.Fatal(err)
	}
	rs, err := har.Import(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := s.Import(rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != 3 {
		t.Fatalf("imported ids = %v, want new ones after 2", ids)
	}
	for i, want := range [][]byte{zipped.Bytes(), binary} {
		rc, facts, err := s.Body(ids[i], flow.FacetResponse)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(rc)
		rc.Close()
		if !bytes.Equal(got.Bytes(), want) || (i == 0) != (facts.Encoding == "gzip") {
			t.Errorf("flow %d: imported wire body differs (%d bytes, encoding %q)", ids[i], got.Len(), facts.Encoding)
		}
	}
	imported := func(f *flow.Flow) bool { return f.Imported }
	var second bytes.Buffer
	if err := har.Export(&second, s.All(query.MatchFunc(imported)), s.Body, har.Options{CreatorVersion: "t"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("export of the imported flows differs:\n%s\n%s", first.String(), second.String())
	}
}
