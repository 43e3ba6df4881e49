package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"loupe/rules"
)

// The rule endpoints decode strictly (unknown fields, wrong types: 400 with
// problems), then let the rule store validate and persist. Invalid rules
// answer 400 {"error": ..., "problems": [{"ruleId", "field", "message"}]}.

func (s *Server) rulesStore(w http.ResponseWriter, r *http.Request) (RuleStore, bool) {
	if s.deps.Rules == nil {
		s.fail(w, r, errNotImplemented)
		return nil, false
	}
	return s.deps.Rules, true
}

func (s *Server) handleListRules(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.rulesStore(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, nonNilRules(rs.Rules()))
}

func nonNilRules(l []rules.Rule) []rules.Rule {
	if l == nil {
		return []rules.Rule{}
	}
	return l
}

// handleReplaceRules replaces the whole list and answers it as stored.
func (s *Server) handleReplaceRules(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.rulesStore(w, r)
	if !ok {
		return
	}
	list, err := rules.DecodeRules(http.MaxBytesReader(w, r.Body, rules.MaxDocumentBytes))
	if err == nil {
		err = rs.Replace(list)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNilRules(rs.Rules()))
}

// handleAddRule appends one rule (an ID is assigned when empty) and answers
// it as stored.
func (s *Server) handleAddRule(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.rulesStore(w, r)
	if !ok {
		return
	}
	rule, err := rules.DecodeRule(http.MaxBytesReader(w, r.Body, rules.MaxDocumentBytes))
	if err == nil {
		rule, err = rs.Create(rule)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rule)
}

// handleUpdateRule replaces one rule in place and answers it as stored.
func (s *Server) handleUpdateRule(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.rulesStore(w, r)
	if !ok {
		return
	}
	id := chi.URLParam(r, "ruleID")
	rule, err := rules.DecodeRule(http.MaxBytesReader(w, r.Body, rules.MaxDocumentBytes))
	if err == nil {
		err = rs.Update(id, rule)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	newID := rule.ID
	if newID == "" {
		newID = id
	}
	for _, x := range rs.Rules() {
		if x.ID == newID {
			writeJSON(w, http.StatusOK, x)
			return
		}
	}
	// Changed again meanwhile by another request: the change itself succeeded.
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleDeleteRule(w http.ResponseWriter, r *http.Request) {
	rs, ok := s.rulesStore(w, r)
	if !ok {
		return
	}
	if err := rs.Delete(chi.URLParam(r, "ruleID")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RuleStats is the answer of GET /api/rules/stats: how many stored flows
// each rule touched. Rules that touched none are absent.
type RuleStats struct {
	Counts map[string]int `json:"counts"`
	// BreakpointHits counts, per rule, the exchanges its breakpoint held
	// since the rule last changed; rules that held none are absent.
	BreakpointHits map[string]int `json:"breakpointHits,omitempty"`
}

// handleRuleStats asks the store, which counts without decoding flows
// (the durable capture answers from its index of rule hits).
func (s *Server) handleRuleStats(w http.ResponseWriter, r *http.Request) {
	counts := s.deps.Store.RuleCounts()
	if counts == nil {
		counts = map[string]int{}
	}
	st := RuleStats{Counts: counts}
	if s.deps.Live != nil {
		st.BreakpointHits = s.deps.Live.BreakpointHits()
	}
	writeJSON(w, http.StatusOK, st)
}

// handleRuleActions serves the rules' table of action types, from which the
// rule editor builds its forms.
func (s *Server) handleRuleActions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, rules.ActionSpecs())
}
