package web

import (
	"net/http"
	"strings"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
	"loupe/web/filter"
)

// Bounds of GET /api/tree: how many children one answer names.
const (
	defaultTreeLimit = 500
	maxTreeLimit     = 5000
)

// FlowTree is the answer of GET /api/tree: the children of one node of the
// capture's structure (hosts at the top; below a host, the next segments
// of its paths), each with how many flows matching q are under it and the
// filter that lists exactly those (host:H, then path:/a/b/* for a segment
// that paths go on below, path:/a/b for one they end at). Host is absent
// at the top. More children than the limit are summed in More and
// MoreCount; Self counts the flows whose path is Prefix itself, listed by
// SelfFilter. Complete and Scanned mean what they mean in FlowPage. Its
// TypeScript twin lives in ui/src/api/types.ts.
type FlowTree struct {
	Seq        uint64         `json:"seq"`
	Host       *string        `json:"host,omitempty"`
	Prefix     string         `json:"prefix,omitempty"`
	Children   []TreeChild    `json:"children"`
	More       int            `json:"more"`
	MoreCount  int            `json:"moreCount"`
	Self       int            `json:"self"`
	SelfFilter string         `json:"selfFilter,omitempty"`
	Total      int            `json:"total"`
	Complete   bool           `json:"complete"`
	Scanned    int            `json:"scanned,omitempty"`
	Session    flow.SessionID `json:"session"`
}

// TreeChild is one child of a FlowTree node. Leaf is true for a path that
// ends there (no deeper segments to ask for).
type TreeChild struct {
	Name   string `json:"name"`
	Count  int    `json:"count"`
	Leaf   bool   `json:"leaf"`
	Filter string `json:"filter"`
}

// handleTree answers GET /api/tree?session=&q=&host=&prefix=&limit=.
// Without host it lists hosts; with it (host= for flows with no host),
// the segments below prefix ("/" by default; it must start and end
// with "/").
func (s *Server) handleTree(w http.ResponseWriter, r *http.Request) {
	l, err := s.listParams(r, defaultTreeLimit, maxTreeLimit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := r.URL.Query()
	var node query.TreeNode
	if v.Has("host") {
		node.Host = query.Lower(v.Get("host"))
		node.Prefix = "/"
		if p := v.Get("prefix"); p != "" {
			if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") {
				s.fail(w, r, httpError(http.StatusBadRequest, "prefix must start and end with /"))
				return
			}
			node.Prefix = query.Lower(p)
		}
	} else if v.Has("prefix") {
		s.fail(w, r, httpError(http.StatusBadRequest, "prefix needs a host"))
		return
	}
	seq := s.deps.Store.Seq()
	t := s.deps.Store.Tree(l.filter, node, l.limit)
	out := FlowTree{Seq: seq, Children: make([]TreeChild, 0, len(t.Children)), More: t.More, MoreCount: t.MoreCount,
		Self: t.Self, Total: t.Total, Complete: t.Complete, Scanned: t.Scanned, Session: l.session}
	if !node.Top() {
		out.Host, out.Prefix = &node.Host, node.Prefix
		out.SelfFilter = filter.Term("host", globLiteral(node.Host)) + " " + filter.Term("path", globLiteral(node.Prefix))
	}
	for _, ch := range t.Children {
		out.Children = append(out.Children, TreeChild{Name: ch.Name, Count: ch.Count,
			Leaf: !node.Top() && !strings.HasSuffix(ch.Name, "/"), Filter: childFilter(node, ch.Name)})
	}
	writeJSON(w, http.StatusOK, out)
}

// childFilter is the filter that lists exactly the flows under a child.
func childFilter(node query.TreeNode, name string) string {
	if node.Top() {
		return filter.Term("host", globLiteral(name))
	}
	p := globLiteral(node.Prefix + name)
	if strings.HasSuffix(p, "/") {
		p += "*"
	}
	return filter.Term("host", globLiteral(node.Host)) + " " + filter.Term("path", p)
}

// globLiteral escapes the glob's special characters (star, question mark,
// backslash), so that a host or path from the capture matches only itself.
func globLiteral(s string) string {
	if !strings.ContainsAny(s, `*?\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '*' || c == '?' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
