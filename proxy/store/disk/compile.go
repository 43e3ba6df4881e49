package disk

import (
	"database/sql/driver"
	"strings"
	"sync"
	"unicode/utf8"

	"modernc.org/sqlite"

	"loupe/internal/glob"
	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// compiled is a query as a condition on the flows table. Every term but
// body terms and Func compiles to an exact condition over the columns of
// derive (computed by the same functions the Go evaluation uses), so that
// the SQL and the Go meaning are one. When residual is set the condition
// selects candidates (a superset: body terms use the full-text index and
// flows whose text is not wholly indexed) and each candidate must be
// checked in Go with query.Match.
type compiled struct {
	where    string // "" matches every flow
	args     []any
	residual bool
	// split is set when the residual is only body terms whose needles the
	// text index answers exactly: exact (with exactArgs) then decides every
	// flow whose text is wholly indexed (text_state = 1), and only the
	// others need Go.
	split     bool
	exact     string
	exactArgs []any
	// drive, when set, is the full-text query of the first positive body
	// term, and driveRest (with driveArgs) the exact condition without it:
	// a page of indexed flows then streams from the index newest first,
	// instead of collecting every match before ordering them.
	drive     string
	driveRest string
	driveArgs []any
	// sessionOnly is the session when it is the query's only condition:
	// its flow count is then the session's total (see narrow).
	sessionOnly int64
	// hidesImports is set when the only condition is the one that hides
	// imports in progress (see narrow).
	hidesImports bool
}

// and adds an exact condition to every form of c.
func (c *compiled) and(expr string, args ...any) {
	join := func(where, e string) string {
		if where == "" {
			return e
		}
		return where + " AND " + e
	}
	c.where = join(c.where, expr)
	c.args = append(c.args, args...)
	c.exact = join(c.exact, expr)
	c.exactArgs = append(c.exactArgs, args...)
	c.driveRest = join(c.driveRest, expr)
	c.driveArgs = append(c.driveArgs, args...)
}

// listed is the condition for a flow that lists show across sessions: not
// one of an import in progress.
const listed = `session NOT IN (SELECT id FROM sessions WHERE importing != 0)`

// narrow adds what a query means beyond its terms: its session (through
// the (session, id) index), or, across sessions, that flows of an import
// in progress are not listed (while one is open).
func (s *Store) narrow(c *compiled, q *query.Query) {
	alone := c.where == ""
	switch {
	case q != nil && q.Session != 0:
		c.and("session = ?", int64(q.Session))
		if alone {
			c.sessionOnly = int64(q.Session)
		}
	case s.importsOpen.Load() > 0:
		c.and(listed)
		c.hidesImports = alone
	}
}

// cond renders "WHERE where" with extra conditions appended.
func (c *compiled) cond(extra ...string) string {
	parts := make([]string, 0, 1+len(extra))
	if c.where != "" {
		parts = append(parts, "("+c.where+")")
	}
	parts = append(parts, extra...)
	if len(parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(parts, " AND ")
}

func compile(q *query.Query) compiled {
	var c compiled
	if q == nil {
		return c
	}
	var parts, exactParts, restParts []string
	c.split = q.Func == nil
	for i := range q.Terms {
		t := &q.Terms[i]
		expr, args, exact := termSQL(t)
		if !exact && t.Key == query.Group {
			c.residual, c.split = true, false // only top-level body terms split
		} else if !exact {
			c.residual = true
			// For wholly indexed flows a body term may be exact.
			if m, ok := exactPhrase("body", t.Low); ok {
				e := "id IN (SELECT rowid FROM flow_text WHERE flow_text MATCH ?)"
				if t.Negate {
					e = "NOT (" + e + ")"
				}
				exactParts = append(exactParts, e)
				c.exactArgs = append(c.exactArgs, m)
				if !t.Negate && c.drive == "" {
					c.drive = m
				} else {
					restParts = append(restParts, e)
					c.driveArgs = append(c.driveArgs, m)
				}
			} else {
				c.split = false
			}
		}
		if t.Negate {
			if !exact {
				continue // NOT of a superset is no bound: Go decides alone
			}
			expr = "NOT (" + expr + ")"
		}
		if expr == "" {
			continue
		}
		parts = append(parts, expr)
		c.args = append(c.args, args...)
		if exact {
			exactParts = append(exactParts, expr)
			c.exactArgs = append(c.exactArgs, args...)
			restParts = append(restParts, expr)
			c.driveArgs = append(c.driveArgs, args...)
		}
	}
	if q.Func != nil {
		c.residual = true
	}
	c.split = c.split && c.residual
	c.where = strings.Join(parts, " AND ")
	c.exact = strings.Join(exactParts, " AND ")
	c.driveRest = strings.Join(restParts, " AND ")
	return c
}

// termSQL is the condition of one term (negation aside) and whether it is
// exact; an inexact condition is a superset ("" for no bound at all).
func termSQL(t *query.Term) (expr string, args []any, exact bool) {
	switch t.Key {
	case query.Text:
		e := "instr(lower(url), ?) > 0"
		args = []any{t.Low}
		if m, ok := ftsPhrase("url", t.Low); ok {
			// The URL of every flow is in flow_url from its first write: the
			// index narrows, instr decides.
			e = "id IN (SELECT rowid FROM flow_url WHERE flow_url MATCH ?) AND " + e
			args = append([]any{m}, args...)
		}
		return e, args, true
	case query.Method:
		ph := make([]string, len(t.Methods))
		for i, m := range t.Methods {
			ph[i] = "?"
			args = append(args, m)
		}
		return "method COLLATE NOCASE IN (" + strings.Join(ph, ", ") + ")", args, true
	case query.Status:
		if t.Class {
			return "status BETWEEN ? AND ?", []any{t.Status, t.Status + 99}, true
		}
		return "status = ?", []any{t.Status}, true
	case query.Host:
		e, a := hostSQL(t.Low)
		return e, a, true
	case query.Path:
		g1, a1 := globSQL("q_path", t.Low)
		g2, a2 := globSQL("q_pathq", t.Low)
		return "(" + g1 + " OR (q_pathq != '' AND " + g2 + "))", append(a1, a2...), true
	case query.Type:
		return "instr(lower(content_type), ?) > 0", []any{t.Low}, true
	case query.Rule:
		if t.Value == "" {
			return "rules IS NOT NULL", nil, true
		}
		return "id IN (SELECT flow FROM rule_hits WHERE rule = ?)", []any{t.Value}, true
	case query.Error:
		return "(((state = 'error' OR error != '') AND instr(lower(error), ?) > 0) OR " +
			"(q_grpc_error != '' AND instr(q_grpc_error, ?) > 0))", []any{t.Low, t.Low}, true
	case query.WS:
		return "websocket != 0", nil, true
	case query.Port:
		return "q_port BETWEEN ? AND ?", []any{t.Range.Lo, t.Range.Hi}, true
	case query.Duration:
		// query.FlowMicros: end minus start in whole microseconds
		// (truncated, as SQLite's integer division is), none without an end.
		return "end_ns != 0 AND (end_ns - start_ns) / 1000 BETWEEN ? AND ?", []any{t.Range.Lo, t.Range.Hi}, true
	case query.Size:
		return "resp_size BETWEEN ? AND ?", []any{t.Range.Lo, t.Range.Hi}, true
	case query.Header, query.ReqHeader, query.ResHeader:
		return headerSQL(t)
	case query.Group:
		return groupSQL(t)
	case query.Kind:
		ph := make([]string, len(t.Kinds))
		for i, k := range t.Kinds {
			ph[i] = "?"
			args = append(args, string(k))
		}
		return "kind IN (" + strings.Join(ph, ", ") + ")", args, true
	case query.GRPC:
		switch t.GRPC {
		case query.GRPCAny:
			return "is_grpc != 0", nil, true
		case query.GRPCError:
			return "grpc_status > 0", nil, true
		}
		return "grpc_status = ?", []any{t.GRPC}, true
	case query.Marked:
		return "marked != 0", nil, true
	case query.Composed:
		if t.Of != 0 {
			return "composed != 0 AND composed_from = ?", []any{int64(t.Of)}, true
		}
		return "composed != 0", nil, true
	case query.Replay:
		if t.Of != 0 {
			return "replay_of = ?", []any{int64(t.Of)}, true
		}
		return "replay_of != 0", nil, true
	case query.Color:
		if t.Low == "" {
			return "color != ''", nil, true
		}
		return "color != '' AND color = ?", []any{t.Low}, true
	case query.Comment:
		return "comment != '' AND instr(lower(comment), ?) > 0", []any{t.Low}, true
	case query.Body:
		// Candidates: flows whose body text the index holds and matches,
		// and every flow whose text it does not wholly hold.
		if m, ok := ftsPhrase("body", t.Low); ok {
			return "(text_state != 1 OR id IN (SELECT rowid FROM flow_text WHERE flow_text MATCH ?))", []any{m}, false
		}
		return "", nil, false
	}
	return "", nil, false
}

// headerSQL compiles a header term over q_headers (query.HeaderText): the
// field's presence is a substring test, exact because names and values are
// escaped there; a value glob is decided by loupe_header, which is
// query.MatchHeaderText.
func headerSQL(t *query.Term) (string, []any, bool) {
	sides := t.Sides()
	var ors []string
	var args []any
	for i := 0; i < len(sides); i++ {
		ors = append(ors, "instr(q_headers, ?) > 0")
		args = append(args, query.HeaderNeedle(sides[i], t.Name))
	}
	e := "(" + strings.Join(ors, " OR ") + ")"
	if pattern, ok := t.HeaderPattern(); ok {
		e += " AND loupe_header(?, ?, ?, q_headers)"
		args = append(args, sides, t.Name, pattern)
	}
	return e, args, true
}

// groupSQL compiles alternatives: exact when every term is; otherwise a
// superset (the alternatives' bounds, "" when one has none), which the
// caller checks in Go.
func groupSQL(t *query.Term) (string, []any, bool) {
	var alts []string
	var args []any
	exact, bounded := true, true
	for _, alt := range t.Any {
		var parts []string
		for i := range alt {
			e, a, ex := termSQL(&alt[i])
			if !ex {
				exact = false
				if alt[i].Negate {
					continue // NOT of a superset is no bound
				}
			} else if alt[i].Negate {
				e = "NOT (" + e + ")"
			}
			if e == "" {
				continue
			}
			parts = append(parts, "("+e+")")
			args = append(args, a...)
		}
		if len(parts) == 0 {
			bounded = false // this alternative may match any flow
			continue
		}
		alts = append(alts, strings.Join(parts, " AND "))
	}
	if !bounded {
		return "", nil, false
	}
	return "((" + strings.Join(alts, ") OR (") + "))", args, exact
}

// ftsPhrase is the full-text query for a substring (lower-cased) of one
// column, when the trigram index can answer it: at least three characters
// of valid UTF-8. The index holds the text lower-cased the same way, so it
// finds every flow the exact comparison accepts.
func ftsPhrase(col, s string) (string, bool) {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) < 3 {
		return "", false
	}
	return "{" + col + "} : \"" + strings.ReplaceAll(s, `"`, `""`) + "\"", true
}

// exactPhrase is ftsPhrase for a needle the index answers exactly for a
// wholly indexed flow: one that cannot meet the line feed joining the two
// bodies, nor the U+FFFD standing for invalid bytes.
func exactPhrase(col, s string) (string, bool) {
	if strings.ContainsAny(s, "\n\uFFFD") {
		return "", false
	}
	return ftsPhrase(col, s)
}

// hostSQL compiles a host glob (lower-cased). A pattern with a literal
// prefix is a range of q_host; one with a wildcard first and a literal
// suffix (*.example.com) is a range of q_host_rev, the reversed host. The
// exact test runs on the reversed host too, so that an index on (status,
// q_host_rev) answers status:5xx host:*.example.com alone.
func hostSQL(p string) (string, []any) {
	if prefix := glob.LiteralPrefix(p); prefix != "" || strings.IndexByte(p, '\\') >= 0 {
		// (A pattern with escapes does not reverse: it is tested as written.)
		if prefix == "" {
			return globSQL("q_host", p)
		}
		e, a := globSQL("q_host", p)
		r, ra := rangeSQL("q_host", prefix)
		return r + " AND " + e, append(ra, a...)
	}
	rp := reverse(p)
	e, a := globSQL("q_host_rev", rp)
	if prefix := literalPrefix(rp); prefix != "" {
		r, ra := rangeSQL("q_host_rev", prefix)
		return r + " AND " + e, append(ra, a...)
	}
	return e, a
}

// literalPrefix is the part of a glob without escapes before its first
// wildcard.
func literalPrefix(p string) string {
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		return p[:i]
	}
	return p
}

// rangeSQL bounds col to the strings that start with prefix (BINARY
// order), which an index answers as a range.
func rangeSQL(col, prefix string) (string, []any) {
	b := []byte(prefix)
	for len(b) > 0 && b[len(b)-1] == 0xff {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return col + " >= ?", []any{prefix}
	}
	b[len(b)-1]++
	return col + " >= ? AND " + col + " < ?", []any{prefix, string(b)}
}

// globSQL is the exact test Glob(p, col). SQLite's GLOB agrees with
// internal/glob on an ASCII pattern without "?" (its "*" matches any run,
// its literals compare code points, and an ASCII byte is never part of
// another character), once escapes are rewritten as GLOB writes literals
// ("\*" as "[*]", "[" as "[[]"). Any other pattern goes through
// loupe_glob, the Go matcher itself.
func globSQL(col, p string) (string, []any) {
	if g, ok := sqliteGlob(p); ok {
		return col + " GLOB ?", []any{g}
	}
	return "loupe_glob(?, " + col + ")", []any{p}
}

// sqliteGlob rewrites a pattern for SQLite's GLOB, when it can say the
// same.
func sqliteGlob(p string) (string, bool) {
	if !isASCII(p) {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '?':
			return "", false
		case '\\':
			if i+1 >= len(p) {
				return "", false
			}
			i++
			c = p[i]
			if c == '*' || c == '?' || c == '[' {
				b.WriteString("[" + string(c) + "]")
				continue
			}
			b.WriteByte(c)
		case '[':
			b.WriteString("[[]")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// registerFuncs makes query.Glob available to SQL as loupe_glob(pattern,
// s), and query.MatchHeaderText as loupe_header(sides, name, pattern,
// q_headers). The driver keeps functions per process: registering once is enough
// for every capture.
var registerFuncs = sync.OnceValue(func() error {
	err := sqlite.RegisterDeterministicScalarFunction("loupe_header", 4,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			var s [4]string
			for i := range s {
				v, ok := textArg(args[i])
				if !ok {
					return nil, nil
				}
				s[i] = v
			}
			return query.MatchHeaderText(s[0], s[1], s[2], true, s[3]), nil
		})
	if err != nil {
		return err
	}
	return sqlite.RegisterDeterministicScalarFunction("loupe_glob", 2,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			p, ok1 := textArg(args[0])
			s, ok2 := textArg(args[1])
			if !ok1 || !ok2 {
				return nil, nil
			}
			return query.Glob(p, s), nil
		})
})

func textArg(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// checkRow evaluates the whole query on a decoded candidate.
func (s *Store) checkRow(q *query.Query, f *flow.Flow) bool {
	return q.Match(f, s.decodedBodies)
}
