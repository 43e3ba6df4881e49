package filter

import (
	"testing"

	"loupe/proxy/flow"
)

func TestMatchAnnotation(t *testing.T) {
	plain := &flow.Flow{Request: flow.Request{Method: "GET", URL: "http://a.test/"}}
	marked := plain.Clone()
	marked.Annotation = &flow.Annotation{Marked: true}
	red := plain.Clone()
	red.Annotation = &flow.Annotation{Color: flow.ColorRed, Comment: "Token EXPIRED here"}
	tests := []struct {
		q    string
		want [3]bool // plain, marked, red
	}{
		{"marked:", [3]bool{false, true, false}},
		{"-marked:", [3]bool{true, false, true}},
		{"MARKED:", [3]bool{false, true, false}},
		{"color:red", [3]bool{false, false, true}},
		{"color:RED", [3]bool{false, false, true}},
		{"color:blue", [3]bool{false, false, false}},
		{"color:", [3]bool{false, false, true}},
		{"-color:", [3]bool{true, true, false}},
		{"comment:expired", [3]bool{false, false, true}},
		{`comment:"token expired"`, [3]bool{false, false, true}},
		{"comment:", [3]bool{false, false, true}},
		{"-comment:", [3]bool{true, true, false}},
		{"comment:nope", [3]bool{false, false, false}},
	}
	for _, tt := range tests {
		f, err := Parse(tt.q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.q, err)
		}
		for i, fl := range []*flow.Flow{plain, marked, red} {
			if got := f.Match(fl, nil); got != tt.want[i] {
				t.Errorf("%q on flow %d = %v, want %v", tt.q, i, got, tt.want[i])
			}
			sum := fl.Summary()
			if got, sure := f.MatchSummary(&sum); !sure || got != tt.want[i] {
				t.Errorf("%q on summary %d = %v (sure %v), want %v", tt.q, i, got, sure, tt.want[i])
			}
		}
		if back, err := Parse(f.String()); err != nil || back.String() != f.String() {
			t.Errorf("String %q does not parse back: %v", f.String(), err)
		}
	}
}

func TestAnnotationParseErrors(t *testing.T) {
	for _, q := range []string{"marked:yes", "color:pink", "color:re"} {
		_, err := Parse(q)
		if fe, ok := err.(*Error); !ok || fe.Term != q {
			t.Errorf("Parse(%q) = %v, want an error naming the term", q, err)
		}
	}
}
