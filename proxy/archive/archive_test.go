package archive

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/flow/flowtest"
)

// memBodies serves bodies from a map, as a store would.
type memBodies map[flow.ID]map[flow.Facet][]byte

func (m memBodies) open(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
	b, ok := m[id][facet]
	if !ok {
		return nil, flow.Body{}, errors.New("not found")
	}
	return io.NopCloser(bytes.NewReader(b)), flow.Body{}, nil
}

func each(fs []*flow.Flow) func(yield func(*flow.Flow) bool) {
	return func(yield func(*flow.Flow) bool) {
		for _, f := range fs {
			if !yield(f) {
				return
			}
		}
	}
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every field of flow.Flow, every body facet (across chunks) and every
// message come back as they were written: a field added to the model
// travels without a change here, or this test says why not.
func TestRoundTripsEveryField(t *testing.T) {
	full := flowtest.Full()
	full.ID = 7
	big := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // several chunks
	full.ResponseBody.Captured = int64(len(big))
	full.RequestBody.Captured = 3
	full.UpstreamBody.Captured = 2
	minimal := &flow.Flow{ID: 9, Start: time.Unix(5, 0).UTC(), State: flow.StatePending,
		Request: flow.Request{Method: "GET", URL: "http://a.test/"}}
	bodies := memBodies{7: {flow.FacetResponse: big, flow.FacetRequest: []byte("req"), flow.FacetUpstream: []byte("up")}}

	var file bytes.Buffer
	created := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := Write(&file, Header{Name: "my session", Created: created, Pinned: true, Creator: "test"},
		each([]*flow.Flow{&full, minimal}), bodies.open); err != nil {
		t.Fatal(err)
	}
	r, err := Open(bytes.NewReader(file.Bytes()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.Name != "my session" || !h.Created.Equal(created) || !h.Pinned || h.Version != Version || h.Exported.IsZero() {
		t.Errorf("header %+v", h)
	}
	got1, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if js(t, got1.Flow) != js(t, full) {
		t.Errorf("flow differs:\n got %s\nwant %s", js(t, got1.Flow), js(t, full))
	}
	if !bytes.Equal(got1.Bodies[flow.FacetResponse], big) || string(got1.Bodies[flow.FacetRequest]) != "req" ||
		string(got1.Bodies[flow.FacetUpstream]) != "up" {
		t.Errorf("bodies differ: %d, %q, %q", len(got1.Bodies[flow.FacetResponse]), got1.Bodies[flow.FacetRequest], got1.Bodies[flow.FacetUpstream])
	}
	got2, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if js(t, got2.Flow) != js(t, minimal) || len(got2.Bodies) != 0 {
		t.Errorf("minimal flow differs: %s", js(t, got2.Flow))
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last flow: %v, want io.EOF", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("again: %v, want io.EOF", err)
	}
}

// A file cut anywhere is an error, never a shorter session.
func TestCutFileIsAnError(t *testing.T) {
	var fs []*flow.Flow
	bodies := memBodies{}
	for i := range 20 {
		f := &flow.Flow{ID: flow.ID(i + 1), Request: flow.Request{Method: "GET", URL: fmt.Sprint("http://a.test/", i)},
			ResponseBody: flow.Body{Captured: 5000}}
		fs = append(fs, f)
		bodies[f.ID] = map[flow.Facet][]byte{flow.FacetResponse: bytes.Repeat([]byte{byte(i)}, 5000)}
	}
	var file bytes.Buffer
	if err := Write(&file, Header{Name: "x"}, each(fs), bodies.open); err != nil {
		t.Fatal(err)
	}
	data := file.Bytes()
	for cut := 1; cut < len(data); cut += 1 + len(data)/97 {
		r, err := Open(bytes.NewReader(data[:cut]), Options{})
		if err != nil {
			continue // cut inside the header: refused at once
		}
		for err == nil {
			_, err = r.Next()
		}
		if err == io.EOF {
			t.Fatalf("cut at %d of %d: read as a whole file", cut, len(data))
		}
	}
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	zw.Close()
	return b.Bytes()
}

func TestRefusedFiles(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"a HAR", []byte(`{"log":{"entries":[]}}`), ErrNotSession},
		{"gzip of something else", gzipped(`{"log":{}}` + "\n"), ErrNotSession},
		{"newer", gzipped(`{"loupe":"session","version":99}` + "\n"), ErrTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(bytes.NewReader(tt.data), Options{}); !errors.Is(err, tt.want) {
				t.Errorf("Open: %v, want %v", err, tt.want)
			}
		})
	}
	bad := map[string]string{
		"no trailer":        `{"flow":{"id":1,"request":{"method":"GET","url":"http://a/"}}}`,
		"wrong count":       `{"flow":{"id":1,"request":{"method":"GET","url":"http://a/"}}}` + "\n" + `{"end":{"flows":2}}`,
		"body first":        `{"body":{"facet":"response","data":"YQ=="}}` + "\n" + `{"end":{"flows":0}}`,
		"unknown line":      `{"flow":{"id":1,"request":{"method":"GET","url":"http://a/"}}}` + "\n" + `{"what":1}` + "\n" + `{"end":{"flows":1}}`,
		"bad facet":         `{"flow":{"id":1,"request":{"method":"GET","url":"http://a/"}}}` + "\n" + `{"body":{"facet":"x","data":""}}` + "\n" + `{"end":{"flows":1}}`,
		"after the trailer": `{"end":{"flows":0}}` + "\n" + `{"end":{"flows":0}}`,
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			r, err := Open(bytes.NewReader(gzipped(`{"loupe":"session","version":1}`+"\n"+body+"\n")), Options{})
			if err != nil {
				t.Fatal(err)
			}
			for err == nil {
				_, err = r.Next()
			}
			if err == io.EOF {
				t.Error("read as a good file")
			}
		})
	}
}

// A reader holds no line longer than MaxLine and no body longer than
// MaxBody (the rest is counted as truncated).
func TestReaderBounds(t *testing.T) {
	f := &flow.Flow{ID: 1, Request: flow.Request{Method: "GET", URL: "http://a/"}, ResponseBody: flow.Body{Size: 300_000, Captured: 300_000}}
	bodies := memBodies{1: {flow.FacetResponse: bytes.Repeat([]byte("z"), 300_000)}}
	var file bytes.Buffer
	if err := Write(&file, Header{}, each([]*flow.Flow{f}), bodies.open); err != nil {
		t.Fatal(err)
	}
	r, err := Open(bytes.NewReader(file.Bytes()), Options{MaxBody: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rec.Bodies[flow.FacetResponse]); got != 100_000 || !rec.Flow.ResponseBody.Truncated || rec.Flow.ResponseBody.Size != 300_000 {
		t.Errorf("kept %d bytes, facts %+v", got, rec.Flow.ResponseBody)
	}

	long := `{"flow":{"id":1,"request":{"method":"GET","url":"http://a/` + strings.Repeat("x", 1<<20) + `"}}}`
	r, err = Open(bytes.NewReader(gzipped(`{"loupe":"session","version":1}`+"\n"+long+"\n"+`{"end":{"flows":1}}`+"\n")), Options{MaxLine: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a line over MaxLine: %v", err)
	}
}

// A write error ends the file without its trailer, so that what was
// written never reads as a whole session.
func TestWriteError(t *testing.T) {
	f := &flow.Flow{ID: 1, Request: flow.Request{Method: "GET", URL: "http://a/"}, ResponseBody: flow.Body{Captured: 10}}
	failing := func(flow.ID, flow.Facet) (io.ReadCloser, flow.Body, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("abc"), errReader{})), flow.Body{}, nil
	}
	var file bytes.Buffer
	if err := Write(&file, Header{}, each([]*flow.Flow{f}), failing); err == nil {
		t.Fatal("Write succeeded with a failing body")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }
