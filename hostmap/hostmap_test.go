package hostmap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	m, err := Compile(
		[]Entry{{Host: "api.example.com", To: "127.0.0.1:3000"}},
		[]Entry{{Host: "*.staging.example", To: "10.0.0.7"}, {Host: "v6.example", To: "::1"}, {Host: "*", To: "[::1]:9"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ addr, want string }{
		{"api.example.com:443", "127.0.0.1:3000"},
		{"API.Example.com.:80", "127.0.0.1:3000"},
		{"a.b.staging.example:8443", "10.0.0.7:8443"},
		{"v6.example:443", "[::1]:443"},
		{"other:1", "[::1]:9"},
	}
	for _, tt := range tests {
		if got, ok := m.Lookup(tt.addr); !ok || got != tt.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.addr, got, ok, tt.want)
		}
	}
	var none *Map
	if _, ok := none.Lookup("a:1"); ok || none.Len() != 0 {
		t.Error("a nil Map maps something")
	}
}

func TestParse(t *testing.T) {
	tests := []struct{ in, host, to, err string }{
		{in: "api.example.com=127.0.0.1:3000", host: "api.example.com", to: "127.0.0.1:3000"},
		{in: " *.test = localhost ", host: "*.test", to: "localhost"},
		{in: "a.test=[::1]:8443", host: "a.test", to: "[::1]:8443"},
		{in: "a.test", err: "want HOST=ADDRESS"},
		{in: "=127.0.0.1", err: "host: empty"},
		{in: "a.test=", err: "to: empty"},
		{in: "a.test=http://127.0.0.1:3000", err: "an address"},
		{in: "a.test=127.0.0.1:99999", err: "port must be"},
		{in: "a.test:443=127.0.0.1", err: "without scheme, port or path"},
		{in: `a\=b`, err: "escape"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || e.Host != tt.host || e.To != tt.to {
				t.Errorf("= %+v, %v; want %q=%q", e, err, tt.host, tt.to)
			}
		})
	}
}

// The file is written atomically, read back at the next start, and a bad
// change leaves the old map in force.
func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.json")
	fixed := []Entry{{Host: "fixed.test", To: "127.0.0.1:1"}}
	s, err := Open(path, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Replace([]Entry{{Host: "a.test", To: "127.0.0.1:2"}}); err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if err := s.Replace([]Entry{{Host: "b.test", To: "http://x"}}); !errors.As(err, &ve) {
		t.Fatalf("invalid entry: err = %v, want a ValidationError", err)
	}
	if got, _ := s.Current().Lookup("a.test:80"); got != "127.0.0.1:2" {
		t.Errorf("after a refused change a.test maps to %q", got)
	}
	s2, err := Open(path, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Entries(); len(got) != 1 || got[0].Host != "a.test" {
		t.Errorf("reopened entries = %+v", got)
	}
	if got, _ := s2.Current().Lookup("fixed.test:80"); got != "127.0.0.1:1" {
		t.Errorf("fixed mapping lost: %q", got)
	}
	if err := os.WriteFile(path, []byte(`[{"host": "x", "to": "y", "extra": 1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("malformed file: err = %v, want one naming it", err)
	}
}
