package arch

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// deps returns the transitive dependencies of pkg, as go list reports them.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.String())
	}
	return strings.Fields(string(out))
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") && first != "loupe"
}

func TestDependencyDirection(t *testing.T) {
	tests := []struct {
		pkg string
		// allowed reports whether pkg may depend on dep (stdlib always may).
		allowed func(dep string) bool
	}{
		{"loupe/proxy/flow", func(string) bool { return false }},
		// flowtest builds full flows for codec tests: the flow model only.
		{"loupe/proxy/flow/flowtest", func(d string) bool { return d == "loupe/proxy/flow" }},
		// connlimit bounds client connections: standard library only.
		{"loupe/proxy/connlimit", func(string) bool { return false }},
		// headscan sits under net/http's server on every client connection:
		// the standard library only.
		{"loupe/proxy/headscan", func(string) bool { return false }},
		// h1, the pooled HTTP/1.1 origin client, stands alone behind
		// http.RoundTripper: the standard library only, nothing of Loupe.
		{"loupe/proxy/h1", func(string) bool { return false }},
		// rules: the atomic file writer, the glob matcher and the standard
		// library only.
		{"loupe/rules", func(d string) bool { return d == "loupe/internal/atomicfile" || d == "loupe/internal/glob" }},
		// glob is the one glob matcher of rules, filters and -passthrough:
		// the standard library only.
		{"loupe/internal/glob", func(string) bool { return false }},
		// hostmap is consulted on every new origin connection: the rules
		// package's host globs, the atomic file writer and the standard
		// library only.
		{"loupe/hostmap", func(d string) bool {
			return d == "loupe/rules" || d == "loupe/internal/atomicfile" || d == "loupe/internal/glob"
		}},
		// atomicfile replaces files for rules, hostmap and the CA: the
		// standard library only.
		{"loupe/internal/atomicfile", func(string) bool { return false }},
		// browser starts processes: the standard library only, nothing of
		// the proxy or the dashboard.
		{"loupe/browser", func(string) bool { return false }},
		// codec decodes bodies for the store and the HAR codec: compression
		// and text libraries only.
		{"loupe/proxy/codec", func(d string) bool { return !strings.HasPrefix(d, "loupe/") }},
		{"loupe/proxy/store", func(d string) bool {
			return d == "loupe/proxy/flow" || d == "loupe/proxy/codec" || d == "loupe/proxy/store/query" ||
				d == "loupe/internal/glob" || !strings.HasPrefix(d, "loupe/")
		}},
		// The query both stores execute: the flow model and the glob
		// matcher, nothing else of Loupe's (never web, SQL or a store).
		{"loupe/proxy/store/query", func(d string) bool { return d == "loupe/proxy/flow" || d == "loupe/internal/glob" }},
		// The durable capture: the flow model, the store's Backend and Feed,
		// the codec and the SQLite driver (with the modules it pulls in),
		// never the proxy, the dashboard or the rules.
		{"loupe/proxy/store/disk", func(d string) bool {
			return d == "loupe/proxy/flow" || d == "loupe/proxy/store" || d == "loupe/proxy/codec" ||
				d == "loupe/proxy/store/query" || d == "loupe/internal/glob" || !strings.HasPrefix(d, "loupe/")
		}},
		// The stores' shared contract tests: the model and the store only.
		{"loupe/proxy/store/storetest", func(d string) bool {
			return d == "loupe/proxy/flow" || d == "loupe/proxy/store" || d == "loupe/proxy/store/query" ||
				d == "loupe/proxy/codec" || d == "loupe/internal/glob" || !strings.HasPrefix(d, "loupe/")
		}},
		// Loupe's session file: the flow model and the standard library.
		{"loupe/proxy/archive", func(d string) bool { return d == "loupe/proxy/flow" || !strings.HasPrefix(d, "loupe/") }},
		{"loupe/proxy/har", func(d string) bool {
			return d == "loupe/proxy/flow" || d == "loupe/proxy/codec" || !strings.HasPrefix(d, "loupe/")
		}},
		{"loupe/web/...", func(d string) bool {
			return !strings.HasPrefix(d, "github.com/elazarl/goproxy") &&
				d != "loupe/proxy" && d != "loupe/proxy/ca" && d != "loupe/cmd/loupe"
		}},
		// The h2spec helpers (origin and CONNECT shim) stand apart from
		// Loupe: they test it from outside, through its listener.
		{"loupe/scripts/h2conform", func(string) bool { return false }},
		{"loupe/proxy", func(d string) bool {
			return !strings.HasPrefix(d, "loupe/web") && d != "loupe/cmd/loupe" &&
				!strings.HasPrefix(d, "github.com/go-chi/") && d != "loupe/proxy/har"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			for _, d := range deps(t, tt.pkg) {
				if isStdlib(d) || strings.HasPrefix(d, strings.TrimSuffix(tt.pkg, "/...")) {
					continue
				}
				if !tt.allowed(d) {
					t.Errorf("%s must not depend on %s", tt.pkg, d)
				}
			}
		})
	}
}

// TestOnlyProxyImportsItsInternals keeps goproxy and the HTTP/1.1 origin
// client implementation details of the proxy core: everything else reaches
// origins through loupe/proxy.
func TestOnlyProxyImportsItsInternals(t *testing.T) {
	internals := []string{"github.com/elazarl/goproxy", "loupe/proxy/h1"}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "loupe/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == "loupe/proxy" {
			continue
		}
		for _, imp := range fields[1:] {
			for _, in := range internals {
				if imp == in || strings.HasPrefix(imp, in+"/") {
					t.Errorf("%s imports %s; only loupe/proxy may", fields[0], imp)
				}
			}
		}
	}
}

// TestOnlyDiskImportsSQLite keeps the SQL driver, and SQL itself, inside
// the durable capture: everyone else speaks store.Backend.
func TestOnlyDiskImportsSQLite(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "loupe/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == "loupe/proxy/store/disk" {
			continue
		}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "modernc.org/") || imp == "database/sql" {
				t.Errorf("%s imports %s; only loupe/proxy/store/disk may", fields[0], imp)
			}
		}
	}
}

// TestGRPCOnlyInTests keeps gRPC and protobuf out of the binary: they are
// there to test Loupe with real gRPC clients and servers, and the
// dashboard decodes gRPC messages without them.
func TestGRPCOnlyInTests(t *testing.T) {
	for _, d := range deps(t, "loupe/...") {
		if strings.HasPrefix(d, "google.golang.org/grpc") || strings.HasPrefix(d, "google.golang.org/protobuf") {
			t.Errorf("a non-test package depends on %s", d)
		}
	}
}
