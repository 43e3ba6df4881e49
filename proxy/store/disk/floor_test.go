package disk

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkRowFloor measures what the cheapest possible row per flow costs
// in SQLite through the pure-Go driver, with the capture's settings (WAL,
// synchronous=NORMAL, one prepared statement, 1,000 rows per transaction):
// the floor under any design that writes a flow as a row when it is
// recorded. Compare cpu-µs/row with the recording budget: the durable
// capture within 10% of the memory store leaves about 4 µs per small flow
// for everything the memory store does not do (README, "The cost of the
// durable capture").
//
//	go test -run '^$' -bench RowFloor -benchtime 50000x ./proxy/store/disk
func BenchmarkRowFloor(b *testing.B) {
	head := pattern(1, 600) // an encoded small flow's head is about this size
	body := pattern(2, 200)
	cases := []struct {
		name, schema, insert string
		args                 func(i int) []any
	}{
		{"id+head", `CREATE TABLE f(id INTEGER PRIMARY KEY, head BLOB)`, `INSERT INTO f VALUES(?,?)`,
			func(i int) []any { return []any{i, head} }},
		{"id+head+body", `CREATE TABLE f(id INTEGER PRIMARY KEY, head BLOB, body BLOB)`, `INSERT INTO f VALUES(?,?,?)`,
			func(i int) []any { return []any{i, head, body} }},
		{"10-columns", `CREATE TABLE f(id INTEGER PRIMARY KEY, session INT, status INT, method TEXT, host TEXT, port INT, kind TEXT, start INT, dur INT, size INT, error TEXT, head BLOB, body BLOB)`,
			`INSERT INTO f VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			func(i int) []any {
				return []any{i, 1, 200 + i%5, "GET", "h" + strconv.Itoa(i%50), 8080, "", int64(i) * 1000, 500, 200, "", head, body}
			}},
		{"10-columns+2-indexes", `CREATE TABLE f(id INTEGER PRIMARY KEY, session INT, status INT, method TEXT, host TEXT, port INT, kind TEXT, start INT, dur INT, size INT, error TEXT, head BLOB, body BLOB);
			CREATE INDEX f_session ON f(session, id); CREATE INDEX f_status_host ON f(status, host)`,
			`INSERT INTO f VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			func(i int) []any {
				return []any{i, 1, 200 + i%5, "GET", "h" + strconv.Itoa(i%50), 8080, "", int64(i) * 1000, 500, 200, "", head, body}
			}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "floor.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			conn, err := db.Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { conn.Close() })
			for _, q := range []string{"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", c.schema} {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			ins, err := conn.PrepareContext(ctx, c.insert)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ins.Close() })
			start := cpuTime(b)
			n := 0
			var tx *sql.Tx
			var st *sql.Stmt
			for b.Loop() {
				if tx == nil {
					if tx, err = conn.BeginTx(ctx, nil); err != nil {
						b.Fatal(err)
					}
					st = tx.StmtContext(ctx, ins)
				}
				n++
				if _, err := st.ExecContext(ctx, c.args(n)...); err != nil {
					b.Fatal(err)
				}
				if n%1000 == 0 {
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
					tx = nil
				}
			}
			if tx != nil {
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/1e3/float64(n), "cpu-µs/row")
		})
	}
}
