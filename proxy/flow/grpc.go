package flow

import (
	"net/url"
	"strconv"
	"strings"
)

// grpcCodes are the names of gRPC status codes, indexed by code, as gRPC's
// own tools print them.
var grpcCodes = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// GRPCCodeName is the name of a gRPC status code ("NOT_FOUND"), or the
// number itself for a code gRPC does not define.
func GRPCCodeName(code int) string {
	if code >= 0 && code < len(grpcCodes) {
		return grpcCodes[code]
	}
	return strconv.Itoa(code)
}

// GRPCCode is the code of a gRPC status name, compared case-insensitively
// ("not_found" is 5).
func GRPCCode(name string) (int, bool) {
	for i, n := range grpcCodes {
		if strings.EqualFold(n, name) {
			return i, true
		}
	}
	return 0, false
}

// IsGRPC reports whether a Content-Type is gRPC's or gRPC-Web's
// (application/grpc, application/grpc+proto, application/grpc-web-text…).
func IsGRPC(contentType string) bool {
	const p = "application/grpc"
	if len(contentType) < len(p) || !strings.EqualFold(contentType[:len(p)], p) {
		return false
	}
	rest := contentType[len(p):]
	return rest == "" || rest[0] == '+' || rest[0] == '-' || rest[0] == ';'
}

// GRPCStatus returns the gRPC status of a gRPC flow's served response: the
// grpc-status and grpc-message trailers, or the headers of a
// trailers-only response (a call that failed before any message). ok is
// false for other flows, and while the status is not known yet. For
// gRPC-Web the trailers travel inside the body; they are found here only
// when the response also carries them as HTTP fields.
func (f *Flow) GRPCStatus() (code int, message string, ok bool) {
	r := f.Response
	if r == nil || !IsGRPC(r.Header.Get("Content-Type")) {
		return 0, "", false
	}
	fields := r.Trailers
	v := fields.Get("Grpc-Status")
	if v == "" {
		fields = r.Header
		v = fields.Get("Grpc-Status")
	}
	if v == "" {
		return 0, "", false
	}
	code, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || code < 0 {
		// gRPC clients read a status they cannot parse as UNKNOWN.
		code = 2
	}
	return code, GRPCMessage(fields.Get("Grpc-Message")), true
}

// GRPCMessage decodes a grpc-message value, which gRPC percent-encodes;
// a value that is not valid percent-encoding is returned as it is.
func GRPCMessage(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}
