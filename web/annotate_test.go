package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
)

func patch(t *testing.T, e *senv, id flow.ID, body string, want int) *http.Response {
	t.Helper()
	resp := e.do("PATCH", fmt.Sprintf("/api/flows/%d", id), strings.NewReader(body))
	if resp.StatusCode != want {
		t.Fatalf("PATCH %d %s: status %d, want %d", id, body, resp.StatusCode, want)
	}
	return resp
}

// PATCH /api/flows/{id} through the real router, on both stores: it
// answers the new summary, changes only the fields it names, reaches
// flows in progress and flows of other sessions, is pushed by the live
// feed, and the filter keys find the result.
func TestAnnotateAPI(t *testing.T) {
	for _, b := range sessionBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newSessionEnv(t, b, 0, nil)
			done := e.add(flowSpec{url: "https://api.example.test/login", status: 401})
			other := e.add(flowSpec{url: "https://api.example.test/other", status: 200})
			live := e.rec.Begin("127.0.0.1:9", flow.Request{Method: "GET", URL: "https://slow.example.test/", Proto: "HTTP/1.1"}, time.Now())
			e.sync()
			c := mustDial(t, e.env)
			waitFor(t, c, "the first state", func(m feedMsg) bool { return m.Type == "state/update" })

			sum := decode[flow.Summary](t, patch(t, e, done, `{"marked":true,"color":"red"}`, 200), 200)
			if sum.ID != done || sum.Annotation != (flow.Annotation{Marked: true, Color: flow.ColorRed}) || sum.Status != 401 {
				t.Errorf("answer %+v", sum)
			}
			// The feed sends the flow with its annotation: as an update, or
			// as part of an add when the flow reached this dashboard in the
			// same batch.
			inFeed := func(m feedMsg) (flow.Summary, bool) {
				if s, ok := hasSummary(m.Update, done); ok {
					return s, true
				}
				return hasSummary(m.Add, done)
			}
			m := waitFor(t, c, "the change in the feed", func(m feedMsg) bool {
				s, ok := inFeed(m)
				return ok && s.Annotation.Marked
			})
			if s, _ := inFeed(m); s.Annotation.Color != flow.ColorRed {
				t.Errorf("feed update %+v", s)
			}
			sum = decode[flow.Summary](t, patch(t, e, done, `{"comment":"Token expired\n(see 2nd call)"}`, 200), 200)
			if sum.Annotation != (flow.Annotation{Marked: true, Color: flow.ColorRed, Comment: "Token expired\n(see 2nd call)"}) {
				t.Errorf("a comment undid the rest: %+v", sum.Annotation)
			}

			// In progress, then finished: the annotation stays.
			decode[flow.Summary](t, patch(t, e, live.ID(), `{"color":"blue","marked":null}`, 200), 200)
			live.Response(flow.Response{Status: 204, Proto: "HTTP/1.1"})
			live.Finish(time.Now(), nil)

			// A session that no longer records.
			decode[map[string]any](t, e.do("POST", "/api/sessions", strings.NewReader(`{"name":"next"}`)), http.StatusCreated)
			decode[flow.Summary](t, patch(t, e, other, `{"marked":true}`, 200), 200)
			decode[flow.Summary](t, patch(t, e, other, `{"marked":false}`, 200), 200)
			e.sync()

			got := decode[flow.Flow](t, e.do("GET", fmt.Sprintf("/api/flows/%d", live.ID()), nil), 200)
			if got.Annotation.Value() != (flow.Annotation{Color: flow.ColorBlue}) || got.Response == nil || got.Response.Status != 204 {
				t.Errorf("flow in progress: annotation %+v, response %+v", got.Annotation, got.Response)
			}
			raw := readAll(t, e.do("GET", fmt.Sprintf("/api/flows/%d", other), nil))
			if strings.Contains(raw, `"annotation"`) {
				t.Errorf("an emptied annotation is still sent: %s", raw)
			}
			for q, want := range map[string][]flow.ID{
				"marked:":                {done},
				"-marked:":               {other, live.ID()},
				"color:red":              {done},
				"color:":                 {done, live.ID()},
				"comment:token":          {done},
				`comment:"(SEE 2nd"`:     {done},
				"-comment: status:2xx":   {other, live.ID()},
				"marked: comment:absent": nil,
			} {
				l := e.list(t, "?session=all&q="+urlQuery(q))
				if !slices.Equal(listIDs(l), want) {
					t.Errorf("%q: %v, want %v", q, listIDs(l), want)
				}
			}
		})
	}
}

func urlQuery(q string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "+", "#", "%23", `"`, "%22", "\n", "%0A")
	return r.Replace(q)
}

// Bad input is a 400 naming the field; an unknown flow a 404; nothing
// changes.
func TestAnnotateAPIRefusals(t *testing.T) {
	e := newSessionEnv(t, sessionBackends[0], 0, nil)
	id := e.add(flowSpec{url: "https://a.example.test/", status: 200})
	tests := []struct {
		body  string
		field string
	}{
		{`{"color":"pink"}`, "color"},
		{`{"color":7}`, "color"},
		{`{"marked":"yes"}`, "marked"},
		{`{"comment":5}`, "comment"},
		{`{"comment":"` + strings.Repeat("x", flow.MaxComment+1) + `"}`, "comment"},
		{`{"marked":true,"colour":"red"}`, "colour"},
		{`{}`, ""},
		{`[]`, ""},
		{`not json`, ""},
	}
	for _, tt := range tests {
		name := tt.body
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			got := decode[ErrorBody](t, e.do("PATCH", fmt.Sprintf("/api/flows/%d", id), strings.NewReader(tt.body)), http.StatusBadRequest)
			if got.Field != tt.field || got.Error == "" {
				t.Errorf("error %+v, want field %q", got, tt.field)
			}
		})
	}
	if s, _ := e.st.Summary(id); !s.Annotation.IsZero() {
		t.Errorf("a refused patch changed the flow: %+v", s.Annotation)
	}
	decode[ErrorBody](t, e.do("PATCH", "/api/flows/99999", strings.NewReader(`{"marked":true}`)), http.StatusNotFound)
	decode[ErrorBody](t, e.do("PATCH", "/api/flows/x", strings.NewReader(`{"marked":true}`)), http.StatusNotFound)
	huge := `{"comment":"` + strings.Repeat("x", maxAnnotationBody) + `"}`
	if resp := e.do("PATCH", fmt.Sprintf("/api/flows/%d", id), strings.NewReader(huge)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
}

// Annotations travel in a session file and in HAR, from either store into
// either store.
func TestAnnotationsInFiles(t *testing.T) {
	note := flow.Annotation{Marked: true, Color: flow.ColorYellow, Comment: "kept in files"}
	for _, from := range sessionBackends {
		for _, to := range sessionBackends {
			t.Run(from.name+" to "+to.name, func(t *testing.T) {
				src := newSessionEnv(t, from, 0, nil)
				id := src.add(flowSpec{url: "https://a.example.test/noted", status: 200})
				plain := src.add(flowSpec{url: "https://a.example.test/plain", status: 200})
				src.sync()
				patch(t, src, id, `{"marked":true,"color":"yellow","comment":"kept in files"}`, 200)
				sess := src.sessions(t)[0]
				for _, exp := range []string{fmt.Sprintf("/api/sessions/%d/export", sess.ID), "/api/flows/export.har"} {
					resp := src.do("GET", exp, nil)
					file := readAll(t, resp)
					if resp.StatusCode != 200 {
						t.Fatalf("%s: %d", exp, resp.StatusCode)
					}
					dst := newSessionEnv(t, to, 0, nil)
					got := decode[map[string]any](t, dst.do("POST", "/api/sessions/import", strings.NewReader(file)), http.StatusCreated)
					back := dst.list(t, fmt.Sprintf("?session=%v", got["id"]))
					if len(back.Flows) != 2 {
						t.Fatalf("%s: %d flows back", exp, len(back.Flows))
					}
					for i, want := range []flow.Annotation{note, {}} {
						if a := back.Flows[i].Annotation; a != want {
							t.Errorf("%s: flow %d (was %d) annotation %+v, want %+v", exp, back.Flows[i].ID, []flow.ID{id, plain}[i], a, want)
						}
					}
					if l := dst.list(t, "?session=all&q=marked:+color:yellow"); len(l.Flows) != 1 {
						t.Errorf("%s: the imported mark is not found: %v", exp, listIDs(l))
					}
				}
			})
		}
	}
}
