package query

import (
	"math"

	"loupe/proxy/flow"
)

// Range is an inclusive interval of a number term: port:8000-9000 is
// {8000, 9000}, duration:>1s is {1000001, MaxInt64} in microseconds.
type Range struct{ Lo, Hi int64 }

// Has reports whether n lies in the range.
func (r Range) Has(n int64) bool { return r.Lo <= n && n <= r.Hi }

// FlowMicros is a flow's total time (its end minus its start) in whole
// microseconds, truncated as time.Duration.Microseconds does, which is
// what duration: terms compare; ok is false for a flow without an end (in
// flight, or interrupted before it ended): such a flow has no duration
// and matches no duration: term.
func FlowMicros(fl *flow.Flow) (us int64, ok bool) {
	if fl.End.IsZero() {
		return 0, false
	}
	return fl.End.Sub(fl.Start).Microseconds(), true
}

// SummaryMicros recovers the microseconds behind flow.Summary.Duration
// (milliseconds, computed as microseconds / 1000).
func SummaryMicros(ms float64) int64 { return int64(math.Round(ms * 1000)) }
