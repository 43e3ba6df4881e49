package filter

import (
	"testing"

	"loupe/proxy/flow"
)

// composed: and replay: match on flows and summaries alike, with or without
// the flow they were made from, and print back as they parse.
func TestMatchMade(t *testing.T) {
	plain := &flow.Flow{ID: 7, Request: flow.Request{Method: "GET", URL: "http://a.test/"}}
	composed := plain.Clone()
	composed.Composed, composed.ComposedFrom = true, 7
	scratch := plain.Clone()
	scratch.Composed = true
	replay := plain.Clone()
	replay.ReplayOf = 7
	flows := []*flow.Flow{plain, composed, scratch, replay}
	tests := []struct {
		q    string
		want [4]bool // plain, composed from 7, composed from scratch, replay of 7
	}{
		{"composed:", [4]bool{false, true, true, false}},
		{"COMPOSED:7", [4]bool{false, true, false, false}},
		{"composed:#7", [4]bool{false, true, false, false}},
		{"composed:8", [4]bool{false, false, false, false}},
		{"-composed:", [4]bool{true, false, false, true}},
		{"replay:", [4]bool{false, false, false, true}},
		{"replay:7", [4]bool{false, false, false, true}},
		{"replay:70", [4]bool{false, false, false, false}},
		{"composed: or replay:", [4]bool{false, true, true, true}},
	}
	for _, tt := range tests {
		f, err := Parse(tt.q)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.q, err)
		}
		for i, fl := range flows {
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
	for _, q := range []string{"composed:yes", "replay:0", "replay:-3", "composed:1.5", "replay:99999999999999999999"} {
		_, err := Parse(q)
		if fe, ok := err.(*Error); !ok || fe.Term != q {
			t.Errorf("Parse(%q) = %v, want an error naming the term", q, err)
		}
	}
}
