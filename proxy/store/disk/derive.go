package disk

import (
	"context"
	"database/sql"

	"loupe/proxy/flow"
	"loupe/proxy/store/query"
)

// derived are the columns of a flow that the query compiler compares
// (q_… and the gRPC and kind columns). Each is computed by the function of
// package query that evaluates the term in Go, so that a term means the
// same in SQL as in Go.
type derived struct {
	kind, target  string
	grpcStatus    int // -1: not a finished gRPC call
	grpcMessage   string
	isGRPC        bool
	host, hostRev string // query.Lower(query.HostOf(url)), and reversed
	port          int    // query.PortOf(url)
	path, pathQ   string // lower-cased path, and path?query ("" without a query)
	grpcError     string // lower-cased query.GRPCErrorText, "" unless a gRPC call failed
}

func derive(f *flow.Flow) derived {
	d := derived{kind: string(f.Kind), grpcStatus: -1, isGRPC: query.IsGRPC(f)}
	if f.Tunnel != nil {
		d.target = f.Tunnel.Target
	}
	if code, msg, ok := f.GRPCStatus(); ok {
		d.grpcStatus, d.grpcMessage = code, msg
		if code != 0 {
			d.grpcError = query.Lower(query.GRPCErrorText(code, msg))
		}
	}
	u := f.Request.URL
	d.host = query.Lower(query.HostOf(u))
	d.hostRev = reverse(d.host)
	d.port = query.PortOf(u)
	p, q := query.PathOf(u)
	d.path = query.Lower(p)
	if q != "" {
		d.pathQ = d.path + "?" + query.Lower(q)
	}
	return d
}

// reverse reverses a string byte by byte: a host suffix pattern
// (*.example.com) becomes a prefix of the reversed host, which an index
// answers as a range.
func reverse(s string) string {
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		b[len(s)-1-i] = s[i]
	}
	return string(b)
}

// derivedCols are the columns of derived in the order of args.
const derivedCols = `kind, target, grpc_status, grpc_message, is_grpc, q_host, q_host_rev, q_port, q_path, q_pathq, q_grpc_error`

func (d *derived) args() []any {
	return []any{d.kind, d.target, d.grpcStatus, d.grpcMessage, d.isGRPC, d.host, d.hostRev, d.port, d.path,
		d.pathQ, d.grpcError}
}

// backfillQueryColumns fills the derived columns and the URL index of the
// flows written before schema version 3.
func backfillQueryColumns(ctx context.Context, conn querier) error {
	upd := `UPDATE flows SET kind = ?, target = ?, grpc_status = ?, grpc_message = ?, is_grpc = ?, q_host = ?,
		q_host_rev = ?, q_port = ?, q_path = ?, q_pathq = ?, q_grpc_error = ? WHERE id = ?`
	return eachStoredFlow(ctx, conn, func(id int64, f *flow.Flow) error {
		d := derive(f)
		if _, err := conn.ExecContext(ctx, upd, append(d.args(), id)...); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, "INSERT INTO flow_url (rowid, url) VALUES (?, ?)", id, urlText(f.Request.URL))
		return err
	})
}

var _ querier = (*sql.Conn)(nil)
