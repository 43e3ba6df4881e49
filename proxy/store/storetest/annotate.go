package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

func ptr[T any](v T) *T { return &v }

// match lists the IDs (ascending) of the flows matching terms, over
// every session, both by List (the stores' compiled queries) and by Each
// with query.Match on each flow (the Go meaning), which must agree.
func match(t *testing.T, b store.Backend, terms ...query.Term) []flow.ID {
	t.Helper()
	q := &query.Query{Terms: terms}
	got := sumIDs(b.List(q, query.Page{}).Flows)
	var byGo []flow.ID
	b.Each(nil, func(f *flow.Flow) bool {
		if q.Match(f, nil) {
			byGo = append(byGo, f.ID)
		}
		return true
	})
	if !slices.Equal(got, byGo) {
		t.Errorf("terms %+v: List says %v, Match on each flow %v", terms, got, byGo)
	}
	return got
}

// testAnnotate: a mark, a colour and a comment go on finished flows and
// flows in progress, in any session; a patch changes only what it names;
// watchers are told; the filter keys find them; bad values and unknown
// flows are refused.
func testAnnotate(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	done := record(b, "/done", "x")
	other := record(b, "/other", "")
	live := b.Begin("127.0.0.1:5001", req("/live"), t0)
	h.sync(t, b)
	w := b.Watch()
	defer w.Close()

	sum, err := b.Annotate(done, flow.AnnotationPatch{Marked: ptr(true), Color: ptr(flow.ColorRed)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (flow.Annotation{Marked: true, Color: flow.ColorRed}); sum.Annotation != want || sum.ID != done {
		t.Errorf("answer %+v, want the summary of %d with %+v", sum, done, want)
	}
	// A patch changes only what it names.
	sum, err = b.Annotate(done, flow.AnnotationPatch{Comment: ptr("Login FAILS here")})
	if err != nil {
		t.Fatal(err)
	}
	want := flow.Annotation{Marked: true, Color: flow.ColorRed, Comment: "Login FAILS here"}
	if sum.Annotation != want {
		t.Errorf("after a comment: %+v, want %+v", sum.Annotation, want)
	}
	if ch := w.Take(); !slices.Contains(ch.Updated, done) {
		t.Errorf("watcher not told of the change: %+v", ch)
	}

	// A flow in progress keeps its annotation through its later changes.
	if _, err := b.Annotate(live.ID(), flow.AnnotationPatch{Color: ptr(flow.ColorBlue)}); err != nil {
		t.Fatal(err)
	}
	live.Response(flow.Response{Status: 204, Proto: "HTTP/1.1"})
	live.Finish(t0.Add(2*time.Millisecond), nil)
	h.sync(t, b)

	// In a session that is no longer recording.
	if _, err := b.NewSession("next"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Annotate(other, flow.AnnotationPatch{Marked: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Annotate(other, flow.AnnotationPatch{Marked: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	h.sync(t, b)

	for id, want := range map[flow.ID]flow.Annotation{
		done:      want,
		live.ID(): {Color: flow.ColorBlue},
		other:     {},
	} {
		s, ok := b.Summary(id)
		if !ok || s.Annotation != want {
			t.Errorf("summary of %d: %+v, want %+v", id, s.Annotation, want)
		}
		f, ok := b.Get(id)
		if !ok || f.Annotation.Value() != want || (f.Annotation == nil) != want.IsZero() {
			t.Errorf("flow %d: %+v, want %+v", id, f.Annotation, want)
		}
		if id == live.ID() && (f.Response == nil || f.Response.Status != 204) {
			t.Errorf("the flow in progress lost its response: %+v", f.Response)
		}
	}

	tests := []struct {
		name  string
		terms []query.Term
		want  []flow.ID
	}{
		{"marked", []query.Term{{Key: query.Marked}}, []flow.ID{done}},
		{"not marked", []query.Term{{Key: query.Marked, Negate: true}}, []flow.ID{other, live.ID()}},
		{"any colour", []query.Term{{Key: query.Color}}, []flow.ID{done, live.ID()}},
		{"blue", []query.Term{{Key: query.Color, Value: "blue", Low: "blue"}}, []flow.ID{live.ID()}},
		{"not red", []query.Term{{Key: query.Color, Value: "red", Low: "red", Negate: true}}, []flow.ID{other, live.ID()}},
		{"comment, any case", []query.Term{{Key: query.Comment, Value: "fails", Low: "fails"}}, []flow.ID{done}},
		{"any comment", []query.Term{{Key: query.Comment}}, []flow.ID{done}},
		{"no comment", []query.Term{{Key: query.Comment, Negate: true}}, []flow.ID{other, live.ID()}},
		{"comment not there", []query.Term{{Key: query.Comment, Value: "nope", Low: "nope"}}, nil},
		{"marked and red", []query.Term{{Key: query.Marked}, {Key: query.Color, Value: "red", Low: "red"}}, []flow.ID{done}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := match(t, b, tt.terms...); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			q := &query.Query{Terms: tt.terms}
			for _, id := range []flow.ID{done, live.ID(), other} {
				s, _ := b.Summary(id)
				m, sure := q.MatchSummary(&s)
				if !sure || m != slices.Contains(tt.want, id) {
					t.Errorf("MatchSummary(%d) = %v, %v", id, m, sure)
				}
			}
		})
	}

	// Clearing.
	sum, err = b.Annotate(done, flow.AnnotationPatch{Marked: ptr(false), Color: ptr(flow.Color("")), Comment: ptr("")})
	if err != nil || !sum.Annotation.IsZero() {
		t.Errorf("cleared: %+v, %v", sum.Annotation, err)
	}
	h.sync(t, b)
	if f, _ := b.Get(done); f.Annotation != nil {
		t.Errorf("a cleared annotation reads back as %+v", f.Annotation)
	}

	// Refusals.
	if _, err := b.Annotate(9999, flow.AnnotationPatch{Marked: ptr(true)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown flow: %v", err)
	}
	var ae *flow.AnnotationError
	if _, err := b.Annotate(done, flow.AnnotationPatch{Color: ptr(flow.Color("pink"))}); !errors.As(err, &ae) || ae.Field != "color" {
		t.Errorf("bad colour: %v", err)
	}
	long := string(make([]byte, flow.MaxComment+1))
	if _, err := b.Annotate(done, flow.AnnotationPatch{Comment: &long}); !errors.As(err, &ae) || ae.Field != "comment" {
		t.Errorf("long comment: %v", err)
	}
	if s, _ := b.Summary(done); !s.Annotation.IsZero() {
		t.Errorf("a refused patch changed the flow: %+v", s.Annotation)
	}
}

// testImportAnnotation: an import keeps the annotations of its flows (a
// session file, a HAR), and drops what no valid one holds.
func testImportAnnotation(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	note := &flow.Annotation{Marked: true, Color: flow.ColorGreen, Comment: "kept"}
	a := imported("/a", "1")
	a.Flow.Annotation = note
	bad := imported("/bad", "2")
	bad.Flow.Annotation = &flow.Annotation{Color: "pink", Comment: string(make([]byte, flow.MaxComment+10))}
	for _, verbatim := range []bool{false, true} {
		im, err := b.NewImport(store.ImportTarget{Name: "file", Verbatim: verbatim})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*flow.Recorded{a, bad} {
			if err := im.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		_, ids, err := im.Commit()
		if err != nil || len(ids) != 2 {
			t.Fatalf("commit: %v %v", ids, err)
		}
		h.sync(t, b)
		if f, _ := b.Get(ids[0]); f.Annotation.Value() != *note {
			t.Errorf("verbatim %v: imported annotation %+v, want %+v", verbatim, f.Annotation, note)
		}
		if s, _ := b.Summary(ids[0]); s.Annotation != *note {
			t.Errorf("verbatim %v: imported summary %+v", verbatim, s.Annotation)
		}
		f, _ := b.Get(ids[1])
		if got := f.Annotation.Value(); got.Color != "" || len(got.Comment) != flow.MaxComment {
			t.Errorf("verbatim %v: an invalid annotation imported as colour %q, %d bytes of comment", verbatim, got.Color, len(got.Comment))
		}
	}
}
