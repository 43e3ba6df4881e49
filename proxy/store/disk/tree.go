package disk

import (
	"context"
	"math"
	"slices"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// Tree counts the flows matching q under one node of the capture's
// structure by child (hosts at the top, path segments below), keeping the
// limit busiest (limit <= 0: all).
//
// A query the compiler answers exactly is one GROUP BY over the derived
// host and path columns (q_host, q_path: lower-cased by the functions the
// host: and path: terms compare with), so the answer is Complete and each
// count equals the total of a list filtered to that child. Otherwise
// (body terms, Func) the candidates are checked in Go by a bounded scan of
// the newest Config.ScanLimit, as List does, and the answer says how many
// it scanned.
func (s *Store) Tree(q *query.Query, node query.TreeNode, limit int) query.Tree {
	c := compile(q)
	s.narrow(&c, q)
	if !node.Top() {
		c.and("q_host = ?", node.Host)
		r, a := rangeSQL("q_path", node.Prefix)
		c.and(r, a...)
	}
	if c.residual {
		counter := query.NewTreeCounter(node)
		scanned, _, more := s.scanCandidates(s.rdb, q, &c, math.MaxInt64, s.cfg.ScanLimit, func(f *flow.Flow) bool {
			counter.Add(f.Request.URL)
			return true
		})
		t := counter.Tree(limit)
		t.Complete, t.Scanned = !more, scanned
		return t
	}
	t, err := s.treeSQL(&c, node, limit)
	if err != nil {
		s.log.Warn("capture: tree", "err", err)
	}
	return t
}

// treeSQL groups the flows of c by child in one statement. Path segments
// are cut from the column as bytes (a BLOB), so that they split and order
// exactly as query.TreeName does in Go; the group of the prefix itself
// (the empty name) sorts first so that it is never left out.
func (s *Store) treeSQL(c *compiled, node query.TreeNode, limit int) (query.Tree, error) {
	t := query.Tree{Complete: true}
	var inner string
	var args []any
	if node.Top() {
		inner = "SELECT q_host AS name, count(*) AS n FROM flows" + c.cond() + " GROUP BY q_host"
		args = slices.Clone(c.args)
	} else {
		inner = `SELECT CASE WHEN instr(rest, x'2f') > 0 THEN substr(rest, 1, instr(rest, x'2f')) ELSE rest END AS name,
			count(*) AS n FROM (SELECT substr(CAST(q_path AS BLOB), ?) AS rest FROM flows` + c.cond() + `) GROUP BY name`
		args = append([]any{len(node.Prefix) + 1}, c.args...)
	}
	n := math.MaxInt32
	if limit > 0 {
		n = limit + 1 // the prefix's own group may take a row
	}
	stmt := "SELECT name, n, count(*) OVER (), sum(n) OVER () FROM (" + inner +
		") ORDER BY length(name) = 0 AND ? DESC, n DESC, name LIMIT ?"
	args = append(args, !node.Top(), n)
	rows, err := s.rdb.QueryContext(context.Background(), stmt, args...)
	if err != nil {
		return t, err
	}
	defer rows.Close()
	groups, kept := 0, 0
	for rows.Next() {
		var name []byte
		var count int
		if err := rows.Scan(&name, &count, &groups, &t.Total); err != nil {
			return t, err
		}
		if !node.Top() && len(name) == 0 {
			t.Self = count
			continue
		}
		if limit > 0 && len(t.Children) == limit {
			continue
		}
		t.Children = append(t.Children, query.TreeChild{Name: string(name), Count: count})
		kept += count
	}
	if err := rows.Err(); err != nil {
		return t, err
	}
	if t.Self > 0 {
		groups-- // the prefix's own group is no child
	}
	t.More = groups - len(t.Children)
	t.MoreCount = t.Total - t.Self - kept
	t.Children = query.KeepBusiest(t.Children, 0, &t)
	return t, nil
}
