package filter

import (
	"testing"

	"loupe/proxy/store/query"
)

// Every value written by Term reads back as the same value of the same key.
func TestTermRoundTrip(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"host", "api.example.com", "host:api.example.com"},
		{"host", "", `host:""`},
		{"path", "/v1/users/*", "path:/v1/users/*"},
		{"path", "/a b/*", `path:"/a b/*"`},
		{"path", `/q"x\y`, `path:"/q\"x\\y"`},
		{"path", "//double/*", `path:"//double/*"`},
		{"path", "/-x:y/", "path:/-x:y/"},
		{"path", "/wiki/A_(b)", `path:"/wiki/A_(b)"`},
		{"path", "/a|b", `path:"/a|b"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := Term(tt.key, tt.value)
			if got != tt.want {
				t.Errorf("Term(%q, %q) = %s, want %s", tt.key, tt.value, got, tt.want)
			}
			f, err := Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := query.KeyNamed(tt.key)
			if len(f.Terms) != 1 || f.Terms[0].Key != k || f.Terms[0].Value != tt.value || f.Terms[0].Negate {
				t.Errorf("Parse(%s) = %+v, want one %s term of %q", got, f.Terms, tt.key, tt.value)
			}
		})
	}
}
