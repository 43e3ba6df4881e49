package flow

import "testing"

func TestGRPCStatus(t *testing.T) {
	grpc := func(ct string, header, trailers Fields) *Flow {
		h := append(Fields{{Name: "Content-Type", Value: ct}}, header...)
		return &Flow{Response: &Response{Status: 200, Header: h, Trailers: trailers}}
	}
	st := func(v string) Fields { return Fields{{Name: "Grpc-Status", Value: v}} }
	tests := []struct {
		name    string
		f       *Flow
		code    int
		message string
		ok      bool
	}{
		{"no response", &Flow{}, 0, "", false},
		{"not gRPC", &Flow{Response: &Response{Status: 200, Header: Fields{{Name: "Content-Type", Value: "application/json"}}, Trailers: st("5")}}, 0, "", false},
		{"grpcfoo is not gRPC", grpc("application/grpcfoo", nil, st("5")), 0, "", false},
		{"ok in trailers", grpc("application/grpc", nil, st("0")), 0, "", true},
		{"error with a percent-encoded message", grpc("application/grpc+proto", nil,
			Fields{{Name: "grpc-status", Value: "5"}, {Name: "grpc-message", Value: "user%2042%20not%20found"}}), 5, "user 42 not found", true},
		{"trailers-only: status in the headers", grpc("application/grpc", Fields{{Name: "Grpc-Status", Value: "16"}, {Name: "Grpc-Message", Value: "who?"}}, nil), 16, "who?", true},
		{"trailers win over headers", grpc("application/grpc", st("3"), st("0")), 0, "", true},
		{"gRPC-Web with HTTP trailers", grpc("application/grpc-web-text", nil, st("7")), 7, "", true},
		{"not finished", grpc("application/grpc", nil, nil), 0, "", false},
		{"unparsable status reads as UNKNOWN", grpc("application/grpc", nil, st("x")), 2, "", true},
		{"bad percent-encoding kept as is", grpc("application/grpc", nil, Fields{{Name: "Grpc-Status", Value: "13"}, {Name: "Grpc-Message", Value: "100%"}}), 13, "100%", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, ok := tt.f.GRPCStatus()
			if code != tt.code || msg != tt.message || ok != tt.ok {
				t.Errorf("GRPCStatus = %d %q %v, want %d %q %v", code, msg, ok, tt.code, tt.message, tt.ok)
			}
			sum := tt.f.Summary()
			if tt.ok != (sum.GRPCStatus != nil) || (tt.ok && *sum.GRPCStatus != tt.code) {
				t.Errorf("Summary().GRPCStatus = %v", sum.GRPCStatus)
			}
		})
	}
}

func TestGRPCCodeNames(t *testing.T) {
	for code, name := range map[int]string{0: "OK", 5: "NOT_FOUND", 16: "UNAUTHENTICATED", 17: "17", -1: "-1"} {
		if got := GRPCCodeName(code); got != name {
			t.Errorf("GRPCCodeName(%d) = %q, want %q", code, got, name)
		}
	}
	if c, ok := GRPCCode("not_found"); !ok || c != 5 {
		t.Errorf("GRPCCode(not_found) = %d %v", c, ok)
	}
	if _, ok := GRPCCode("NOPE"); ok {
		t.Error("GRPCCode(NOPE) found")
	}
}
