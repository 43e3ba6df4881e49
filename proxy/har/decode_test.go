package har

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"loupe/proxy/flow"
)

// wholeImport is the import Loupe had before it streamed: the document read
// whole, then decoded. It is kept as the oracle the Decoder must agree with.
func wholeImport(r io.Reader) ([]flow.Recorded, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}), bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		data, _, err = transform.Bytes(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder(), data)
		if err != nil {
			return nil, err
		}
	}
	var doc struct {
		Log *struct {
			Entries []json.RawMessage `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, describe(err)
	}
	if doc.Log == nil {
		return nil, errors.New("log: missing")
	}
	out := make([]flow.Recorded, 0, len(doc.Log.Entries))
	for i, raw := range doc.Log.Entries {
		rec, err := importEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func TestDecoderMatchesWholeImport(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "import", "*.har"))
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.har"))
	docs := map[string]string{
		"empty log":       `{"log":{}}`,
		"null entries":    `{"log":{"entries":null,"version":"1.2"}}`,
		"null log":        `{"log":null}`,
		"keys around":     `{"a":[1,{"b":2}],"log":{"creator":{"name":"x"},"entries":[],"pages":[{}]},"z":"y"}`,
		"case of keys":    `{"LOG":{"Entries":[]}}`,
		"trailing data":   `{"log":{"entries":[]}} x`,
		"cut after entry": `{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"}}]`,
		"array":           `[]`,
		"string":          `"log"`,
		"log string":      `{"log":"x"}`,
		"entries object":  `{"log":{"entries":{}}}`,
		"entry number":    `{"log":{"entries":[1]}}`,
		"bad second":      `{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"}},{}]}}`,
	}
	for _, name := range append(files, golden...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(name)] = string(data)
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			want, werr := wholeImport(strings.NewReader(doc))
			got, gerr := Import(strings.NewReader(doc))
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("streamed: %v; whole: %v", gerr, werr)
			}
			if werr != nil {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("streamed and whole imports differ: %d and %d flows", len(got), len(want))
			}
		})
	}
}

// The decoder hands over each entry as soon as it is read: the writer of
// the document below holds the rest of it until the test has the first
// entry, which a decoder reading the whole document first would never give.
func TestDecoderStreams(t *testing.T) {
	pr, pw := io.Pipe()
	got := make(chan struct{})
	entry := func(i int) string {
		return fmt.Sprintf(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a.test/%d"}}`, i)
	}
	go func() {
		io.WriteString(pw, `{"log":{"version":"1.2","entries":[`+entry(0))
		<-got
		for i := 1; i < 1000; i++ {
			io.WriteString(pw, ","+entry(i))
		}
		io.WriteString(pw, `]}}`)
		pw.Close()
	}()
	d := NewDecoder(pr)
	// The decoder can only tell that entry 0 is whole once it sees what
	// follows it: a lone comma is enough, sent before the wait.
	rec, err := d.Next()
	if err != nil {
		close(got)
		t.Fatal(err)
	}
	if rec.Flow.Request.URL != "http://a.test/0" {
		t.Errorf("first entry %q", rec.Flow.Request.URL)
	}
	close(got)
	n := 1
	for {
		_, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1000 || d.Index() != 1000 {
		t.Errorf("%d entries (index %d), want 1000", n, d.Index())
	}
}

// A document cut after its last complete entry yields those entries, then
// an error, never io.EOF: an import that commits on io.EOF keeps nothing
// of a cut file.
func TestDecoderCutDocument(t *testing.T) {
	doc := `{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"}},` +
		`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://b/"}}]}}`
	for cut := len(doc) - 1; cut > 0; cut-- {
		d := NewDecoder(strings.NewReader(doc[:cut]))
		var err error
		for err == nil {
			_, err = d.Next()
		}
		if err == io.EOF {
			t.Fatalf("cut at %d of %d: io.EOF", cut, len(doc))
		}
		if _, again := d.Next(); again == nil || again == io.EOF {
			t.Fatalf("cut at %d: the error did not stick", cut)
		}
	}
}

// The streamed import agrees with the whole-document one on any input.
func FuzzDecoder(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "import", "*.har"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"log":{"entries":[]}} `))
	f.Add([]byte(`{"x":{},"log":{"pages":[],"entries":[{"request":{"method":"GET","url":"http://a/"},"startedDateTime":"2026-01-01T00:00:00Z"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := wholeImport(bytes.NewReader(data))
		got, gerr := Import(bytes.NewReader(data))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("streamed: %v; whole: %v", gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("streamed and whole imports differ")
		}
	})
}
