package har

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// A request written in the dashboard is exported with its mark and the ID of
// the flow it was edited from; an import keeps the mark and drops the link,
// since the capture it imports into numbers its flows anew.
func TestComposedRoundTrip(t *testing.T) {
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	m := &memStore{}
	for _, from := range []flow.ID{0, 41} {
		m.add(&flow.Flow{Start: base, End: base.Add(time.Millisecond), State: flow.StateDone,
			Request:  flow.Request{Method: "PATCH", URL: "http://api.example.test/items/1", Proto: "HTTP/1.1", Header: fs("X-Edit", "1")},
			Response: &flow.Response{Status: 204, Proto: "HTTP/1.1"},
			Composed: true, ComposedFrom: from, Timings: flow.NoTimings,
		}, nil)
	}
	m.add(&flow.Flow{Start: base, State: flow.StateDone, Request: flow.Request{Method: "GET", URL: "http://api.example.test/", Proto: "HTTP/1.1"},
		Timings: flow.NoTimings}, nil)

	doc := exportString(t, m, Options{CreatorVersion: "test"})
	var parsed struct {
		Log struct {
			Entries []map[string]json.RawMessage `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		composed, from string // the raw JSON, "" when absent
	}{{"true", ""}, {"true", "41"}, {"", ""}}
	for i, tt := range tests {
		e := parsed.Log.Entries[i]
		if got := string(e["_composed"]); got != tt.composed {
			t.Errorf("entry %d _composed = %q, want %q", i, got, tt.composed)
		}
		if got := string(e["_composedFrom"]); got != tt.from {
			t.Errorf("entry %d _composedFrom = %q, want %q", i, got, tt.from)
		}
	}

	rs, err := Import(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		if f := rs[i].Flow; f.Composed != want || f.ComposedFrom != 0 {
			t.Errorf("imported flow %d: composed %v from %d, want %v from 0", i, f.Composed, f.ComposedFrom, want)
		}
	}
}
