package flow

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBreakpointState(t *testing.T) {
	now := time.Unix(100, 0)
	held := &BreakpointStop{Held: now}
	done := &BreakpointStop{Held: now, Released: now, Action: ReleaseExecute, By: ByDashboard}
	tests := []struct {
		b    *Breakpoint
		want string
	}{
		{nil, ""},
		{&Breakpoint{Rule: "r", Skipped: "no dashboard connected"}, "skipped"},
		{&Breakpoint{Rule: "r", Request: held}, "held"},
		{&Breakpoint{Rule: "r", Request: done}, "execute"},
		{&Breakpoint{Rule: "r", Request: done, Response: held}, "held"},
		{&Breakpoint{Rule: "r", Request: held, Response: &BreakpointStop{Held: now, Action: ReleaseAbort}}, "abort"},
	}
	for _, tt := range tests {
		if got := tt.b.State(); got != tt.want {
			t.Errorf("%+v State() = %q, want %q", tt.b, got, tt.want)
		}
		f := Flow{Breakpoint: tt.b}
		if got := f.Summary().Breakpoint; got != tt.want {
			t.Errorf("summary breakpoint = %q, want %q", got, tt.want)
		}
	}
}

func TestBreakpointCloneIsDeep(t *testing.T) {
	b := &Breakpoint{Rule: "r", Request: &BreakpointStop{Changed: []string{"Content-Length"}}}
	f := &Flow{Breakpoint: b}
	c := f.Clone()
	c.Breakpoint.Request.Changed[0] = "x"
	c.Breakpoint.Request.Action = "y"
	if b.Request.Changed[0] != "Content-Length" || b.Request.Action != "" {
		t.Fatalf("clone shares the original: %+v", b.Request)
	}
}

// Held and Message keep the shape the dashboard relies on.
func TestHeldJSON(t *testing.T) {
	var m Message
	m.SetBody([]byte("héllo"))
	if m.Body == nil || *m.Body != "héllo" || m.BodyBase64 != nil {
		t.Fatalf("text body: %+v", m)
	}
	m.SetBody([]byte{0xff, 0})
	if m.Body != nil || m.BodyBase64 == nil || *m.BodyBase64 != "/wA=" {
		t.Fatalf("binary body: %+v", m)
	}
	h := Held{ID: 7, Phase: "request", Rule: "r", HeldAt: MillisUTC(time.Unix(1, 5e6)), Deadline: MillisUTC(time.Unix(61, 0)),
		RemainingMs: 60000, OnTimeout: "continue", Request: Message{Method: "GET", URL: "http://x/", Headers: Fields{}}}
	got, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":7,"phase":"request","rule":"r","heldAt":"1970-01-01T00:00:01.005Z","deadline":"1970-01-01T00:01:01.000Z",` +
		`"remainingMs":60000,"onTimeout":"continue","request":{"method":"GET","url":"http://x/","headers":[]}}`
	if string(got) != want {
		t.Fatalf("JSON\n got %s\nwant %s", got, want)
	}
	// An edit leaves out what stays: absent headers decode as nil, an
	// empty list as empty.
	var e Message
	if err := json.Unmarshal([]byte(`{"status": 201}`), &e); err != nil || e.Headers != nil || e.Body != nil {
		t.Fatalf("edit without headers: %+v, %v", e, err)
	}
	if err := json.Unmarshal([]byte(`{"headers": [], "body": ""}`), &e); err != nil || e.Headers == nil || len(e.Headers) != 0 || e.Body == nil {
		t.Fatalf("edit clearing headers: %+v, %v", e, err)
	}
}

// An edit is kept with its body cut at EditRecordCap, never in the middle
// of a character or of a base64 quantum.
func TestMessageRecorded(t *testing.T) {
	long := strings.Repeat("é", EditRecordCap) // two bytes each
	b64 := strings.Repeat("QUJD", EditRecordCap)
	m := &Message{Method: "PUT", Headers: Fields{{Name: "A", Value: "1"}}, Body: &long}
	r := m.Recorded()
	if !r.Truncated || len(*r.Body) > EditRecordCap || !utf8.ValidString(*r.Body) || r.Method != "PUT" {
		t.Fatalf("recorded text body: %d bytes, truncated %v", len(*r.Body), r.Truncated)
	}
	r.Headers[0].Value = "changed"
	if m.Headers[0].Value != "1" {
		t.Error("the record shares the edit's headers")
	}
	r = (&Message{BodyBase64: &b64}).Recorded()
	if !r.Truncated || len(*r.BodyBase64)%4 != 0 || len(*r.BodyBase64) > EditRecordCap {
		t.Fatalf("recorded base64 body: %d bytes", len(*r.BodyBase64))
	}
	short := "ok"
	if r := (&Message{Body: &short}).Recorded(); r.Truncated || *r.Body != "ok" {
		t.Errorf("short body recorded as %+v", r)
	}
	if (*Message)(nil).Recorded() != nil {
		t.Error("nil edit recorded")
	}
}
