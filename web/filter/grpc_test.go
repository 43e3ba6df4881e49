package filter

import (
	"errors"
	"testing"

	"loupe/proxy/flow"
)

func TestMatchGRPC(t *testing.T) {
	call := func(id flow.ID, status string, inHeaders bool) *flow.Flow {
		f := mkFlow(id, "POST", "https://api.test/users.Users/Get", 200, "application/grpc")
		f.Request.Header = flow.Fields{{Name: "Content-Type", Value: "application/grpc"}}
		if status == "" {
			return f
		}
		st := flow.Fields{{Name: "Grpc-Status", Value: status}, {Name: "Grpc-Message", Value: "user%2042%20missing"}}
		if inHeaders { // a trailers-only answer
			f.Response.Header = append(f.Response.Header, st...)
		} else {
			f.Response.Trailers = st
		}
		return f
	}
	ok := call(1, "0", false)
	notFound := call(2, "5", false)
	unauth := call(3, "16", true)
	pending := call(4, "", false)
	pending.Response = nil
	web := mkFlow(5, "POST", "https://api.test/web", 200, "application/grpc-web+proto")
	web.Response.Trailers = flow.Fields{{Name: "grpc-status", Value: "13"}}
	plain := mkFlow(6, "GET", "https://api.test/json", 200, "application/json")
	plain.Response.Trailers = flow.Fields{{Name: "Grpc-Status", Value: "5"}} // not a gRPC response
	failed := mkFlow(7, "GET", "https://down.test/", 0, "")
	failed.State, failed.Error = flow.StateError, "dial tcp: connection refused"
	all := []*flow.Flow{ok, notFound, unauth, pending, web, plain, failed}

	tests := []struct {
		q    string
		want []flow.ID
	}{
		{"grpc:", []flow.ID{1, 2, 3, 4, 5}},
		{"-grpc:", []flow.ID{6, 7}},
		{"grpc:error", []flow.ID{2, 3, 5}},
		{"grpc:ERROR", []flow.ID{2, 3, 5}},
		{"grpc:ok", []flow.ID{1}},
		{"grpc:0", []flow.ID{1}},
		{"grpc:NOT_FOUND", []flow.ID{2}},
		{"grpc:not_found", []flow.ID{2}},
		{"grpc:5", []flow.ID{2}},
		{"grpc:UNAUTHENTICATED", []flow.ID{3}}, // from the headers of a trailers-only answer
		{"grpc:internal", []flow.ID{5}},        // gRPC-Web with HTTP trailers
		{"error:", []flow.ID{2, 3, 5, 7}},      // a failed gRPC call is an error, though HTTP said 200
		{"-error:", []flow.ID{1, 4, 6}},
		{"error:not_found", []flow.ID{2}},
		{`error:"42 missing"`, []flow.ID{2, 3}},
		{"error:refused", []flow.ID{7}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			f, err := Parse(tt.q)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []flow.ID
			for _, fl := range all {
				if f.Match(fl, nil) {
					got = append(got, fl.ID)
				}
			}
			if !equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if g, err := Parse(f.String()); err != nil || g.String() != f.String() {
				t.Errorf("canonical form %q: %v", f.String(), err)
			}
		})
	}
}

func TestParseGRPCErrors(t *testing.T) {
	for _, q := range []string{"grpc:NOPE", "grpc:-1", "grpc:100", "grpc:4xx"} {
		t.Run(q, func(t *testing.T) {
			_, err := Parse(q)
			var fe *Error
			if !errors.As(err, &fe) || fe.Term != q {
				t.Fatalf("err = %v, want a bad term %q", err, q)
			}
		})
	}
}
