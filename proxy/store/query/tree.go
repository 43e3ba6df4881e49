package query

import (
	"slices"
	"strings"
)

// TreeNode names one node of a capture's structure (hosts, then path
// segments, as in Charles' Structure view), whose children a store counts.
// Hosts and paths are compared lower-cased, as the host: and path: terms
// compare them, so that a child's count equals the total of a list
// filtered to it.
type TreeNode struct {
	// Host is the host (lower-cased, without the port) whose paths are
	// asked for; ignored when Prefix is "".
	Host string
	// Prefix is a path that starts and ends with "/" (lower-cased): its
	// children are the next segments of the paths under it. "" asks for
	// the hosts, the top of the tree.
	Prefix string
}

// Top reports whether the node is the top of the tree (its children are
// hosts).
func (n TreeNode) Top() bool { return n.Prefix == "" }

// TreeChild is one child of a node and how many flows are under it.
type TreeChild struct {
	// Name is a host at the top; below, a path segment: "users/" when
	// paths go on below it, "users" for the path that ends there.
	Name  string
	Count int
}

// Tree is the answer for one node.
type Tree struct {
	// Children are the busiest children (at most the limit asked for),
	// ordered by name.
	Children []TreeChild
	// More is how many children were left out, MoreCount how many flows
	// are under them.
	More, MoreCount int
	// Self counts the flows whose path is the node's Prefix itself
	// (always 0 at the top).
	Self int
	// Total counts every flow under the node: Self, the children's and
	// the left-out children's.
	Total int
	// Complete and Scanned mean what they mean in Result: false when part
	// of the query ran as a bounded scan that stopped before the oldest
	// flow, and the counts are those of the Scanned newest candidates.
	Complete bool
	Scanned  int
}

// TreeName is the child of node that a flow with this URL falls under:
// its host at the top, else the next segment of its path below
// node.Prefix. under is false when the flow is not under the node; self
// is true when its path is the prefix itself.
func TreeName(node TreeNode, url string) (name string, under, self bool) {
	host := Lower(HostOf(url))
	if node.Top() {
		return host, true, false
	}
	if host != node.Host {
		return "", false, false
	}
	p, _ := PathOf(url)
	p = Lower(p)
	rest, ok := strings.CutPrefix(p, node.Prefix)
	switch {
	case !ok:
		return "", false, false
	case rest == "":
		return "", true, true
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i+1]
	}
	return rest, true, false
}

// TreeCounter counts the flows of a node by child, for a store that walks
// flows in Go.
type TreeCounter struct {
	node   TreeNode
	counts map[string]int
	self   int
}

// NewTreeCounter starts counting the children of node.
func NewTreeCounter(node TreeNode) *TreeCounter {
	return &TreeCounter{node: node, counts: map[string]int{}}
}

// Add counts one flow (by its URL), if it is under the node.
func (c *TreeCounter) Add(url string) {
	name, under, self := TreeName(c.node, url)
	switch {
	case !under:
	case self:
		c.self++
	default:
		c.counts[name]++
	}
}

// Tree is the answer: the limit busiest children (ties by name), ordered
// by name; limit <= 0 keeps every child.
func (c *TreeCounter) Tree(limit int) Tree {
	t := Tree{Self: c.self, Total: c.self, Complete: true}
	for name, n := range c.counts {
		t.Children = append(t.Children, TreeChild{Name: name, Count: n})
		t.Total += n
	}
	t.Children = KeepBusiest(t.Children, limit, &t)
	return t
}

// KeepBusiest keeps the limit busiest children (ties by name), records
// what it left out in t.More and t.MoreCount, and orders the rest by name.
func KeepBusiest(children []TreeChild, limit int, t *Tree) []TreeChild {
	if limit > 0 && len(children) > limit {
		slices.SortFunc(children, func(a, b TreeChild) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, ch := range children[limit:] {
			t.More++
			t.MoreCount += ch.Count
		}
		children = children[:limit]
	}
	slices.SortFunc(children, func(a, b TreeChild) int { return strings.Compare(a.Name, b.Name) })
	return children
}
