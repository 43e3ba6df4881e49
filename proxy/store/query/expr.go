package query

import "loupe/proxy/flow"

// tri is a three-valued truth: a body term without bodies, or a term a
// summary cannot decide, is unknown. AND, OR and NOT follow Kleene's
// logic, so an unknown answer stays unknown only when it could decide.
type tri uint8

const (
	no tri = iota
	yes
	unknown
)

func truth(b bool) tri {
	if b {
		return yes
	}
	return no
}

// not negates a definite answer and keeps an unknown one.
func (v tri) not() tri {
	switch v {
	case yes:
		return no
	case no:
		return yes
	}
	return unknown
}

// all is the conjunction of terms on fl: cheap terms decide first, so a
// body is read (bodies != nil) only when they left the answer open.
func all(terms []Term, fl *flow.Flow, bodies Bodies) tri {
	res := yes
	for i := range terms {
		if terms[i].Key == Body {
			continue
		}
		switch terms[i].eval(fl, bodies) {
		case no:
			return no
		case unknown:
			res = unknown
		}
	}
	for i := range terms {
		if terms[i].Key != Body {
			continue
		}
		switch terms[i].eval(fl, bodies) {
		case no:
			return no
		case unknown:
			res = unknown
		}
	}
	return res
}

// anyOf is the disjunction of a group's alternatives.
func anyOf(alts [][]Term, fl *flow.Flow, bodies Bodies) tri {
	res := no
	for _, alt := range alts {
		switch all(alt, fl, bodies) {
		case yes:
			return yes
		case unknown:
			res = unknown
		}
	}
	return res
}

// eval is the term on fl, negation included.
func (t *Term) eval(fl *flow.Flow, bodies Bodies) tri {
	var v tri
	switch {
	case t.Key == Group:
		v = anyOf(t.Any, fl, bodies)
	case t.Key == Body && bodies == nil:
		v = unknown
	default:
		v = truth(t.Match(fl, bodies))
	}
	if t.Negate {
		return v.not()
	}
	return v
}

// allSummary and anyOfSummary are all and anyOf on a list row, where
// unknown means the summary lacks what a term needs.
func allSummary(terms []Term, s *flow.Summary) tri {
	res := yes
	for i := range terms {
		switch terms[i].evalSummary(s) {
		case no:
			return no
		case unknown:
			res = unknown
		}
	}
	return res
}

func anyOfSummary(alts [][]Term, s *flow.Summary) tri {
	res := no
	for _, alt := range alts {
		switch allSummary(alt, s) {
		case yes:
			return yes
		case unknown:
			res = unknown
		}
	}
	return res
}

func (t *Term) evalSummary(s *flow.Summary) tri {
	var v tri
	if t.Key == Group {
		v = anyOfSummary(t.Any, s)
	} else if m, sure := t.matchSummary(s); !sure {
		v = unknown
	} else {
		v = truth(m)
	}
	if t.Negate {
		return v.not()
	}
	return v
}

func needsBodies(terms []Term) bool {
	for i := range terms {
		switch terms[i].Key {
		case Body:
			return true
		case Group:
			for _, alt := range terms[i].Any {
				if needsBodies(alt) {
					return true
				}
			}
		}
	}
	return false
}
