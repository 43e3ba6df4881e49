package har

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// A flow's mark, colour and comment go out as _marked, _color and _comment
// on the entry and come back on import; a flow without any carries none of
// the keys.
func TestAnnotationRoundTrip(t *testing.T) {
	m := &memStore{}
	note := &flow.Annotation{Marked: true, Color: flow.ColorPurple, Comment: "login fails here\nsee ticket"}
	for _, a := range []*flow.Annotation{note, nil, {Color: flow.ColorGreen}} {
		m.add(&flow.Flow{Start: base, End: base.Add(time.Millisecond), State: flow.StateDone,
			Request:  flow.Request{Method: "GET", URL: "https://a.example.test/", Proto: "HTTP/1.1"},
			Response: &flow.Response{Status: 200, Proto: "HTTP/1.1"}, Timings: flow.NoTimings, Annotation: a}, nil)
	}
	doc := exportString(t, m, Options{CreatorVersion: "t"})
	var parsed struct {
		Log struct {
			Entries []map[string]json.RawMessage `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	if e := parsed.Log.Entries[0]; string(e["_marked"]) != "true" || string(e["_color"]) != `"purple"` ||
		string(e["_comment"]) != `"login fails here\nsee ticket"` {
		t.Errorf("first entry's extensions: %s %s %s", e["_marked"], e["_color"], e["_comment"])
	}
	for _, k := range []string{"_marked", "_color", "_comment"} {
		if _, ok := parsed.Log.Entries[1][k]; ok {
			t.Errorf("a flow without annotation has %s", k)
		}
	}
	rs, err := Import(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []*flow.Annotation{note, nil, {Color: flow.ColorGreen}} {
		if got := rs[i].Flow.Annotation; got.Value() != want.Value() || (got == nil) != (want == nil) {
			t.Errorf("flow %d annotation %+v, want %+v", i, got, want)
		}
	}
}

// A file may say anything: an unknown colour is dropped, a colour's case
// ignored, a comment past flow.MaxComment cut, a stringly mark accepted.
func TestImportAnnotationIsCleaned(t *testing.T) {
	long := strings.Repeat("é", flow.MaxComment) // two bytes each
	entry := func(ext string) string {
		return `{"startedDateTime":"2024-01-02T03:04:05Z","time":1,"request":{"method":"GET","url":"http://x.test/",
			"httpVersion":"HTTP/1.1","headers":[]},"response":{"status":200,"httpVersion":"HTTP/1.1","headers":[],
			"content":{"size":0}},"timings":{"send":0,"wait":0,"receive":0}` + ext + `}`
	}
	doc := `{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[` +
		entry(`,"_color":"pink","_marked":"true"`) + `,` + entry(`,"_color":"RED","_comment":"`+long+`"`) + `]}}`
	rs, err := Import(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].Flow.Annotation.Value(); got != (flow.Annotation{Marked: true}) {
		t.Errorf("unknown colour: %+v", got)
	}
	got := rs[1].Flow.Annotation.Value()
	if got.Color != flow.ColorRed || len(got.Comment) != flow.MaxComment || !strings.HasPrefix(long, got.Comment) {
		t.Errorf("long comment: colour %q, %d bytes", got.Color, len(got.Comment))
	}
}
