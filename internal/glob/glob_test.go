package glob

import (
	"path"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		fold       bool
		want       bool
	}{
		{"", "", false, true},
		{"", "a", false, false},
		{"*", "", false, true},
		{"*", "anything/at/all?q=1", false, true},
		{"**", "x", false, true},
		{"abc", "abc", false, true},
		{"abc", "abcd", false, false},
		{"abc", "ABC", false, false},
		{"abc", "ABC", true, false}, // folding lower-cases the pattern; the caller folds the subject
		{"ABC", "abc", true, true},
		{"a*", "a", false, true},
		{"a*", "abc/def", false, true},
		{"a*", "ba", false, false},
		{"*c", "abc", false, true},
		{"*c", "abd", false, false},
		{"a*c", "ac", false, true},
		{"a*c", "a/b/c", false, true},
		{"a*c", "a/b/cd", false, false},
		{"a*b*c", "a-b-c", false, true},
		{"a*b*c", "abbbc", false, true},
		{"a*b*c", "acb", false, false},
		{"*b*", "abc", false, true},
		{"*b*", "ac", false, false},
		{"*a*a", "aa", false, true},
		{"*a*a", "a", false, false},
		{"*ab*ab", "abab", false, true},
		{"*ab*ab", "abxab", false, true},
		{"*ab*ab", "aab", false, false},
		{"?", "a", false, true},
		{"?", "", false, false},
		{"?", "ab", false, false},
		{"?", "é", false, true}, // one character, two bytes
		{"a?c", "abc", false, true},
		{"a?c", "a/c", false, true},
		{"a?c", "ac", false, false},
		{"??", "ab", false, true},
		{"??", "abc", false, false},
		{"*?", "", false, false},
		{"*?", "x", false, true},
		{"?*", "x", false, true},
		{"*.example.com", "api.example.com", true, true},
		{"*.example.com", "a.b.example.com", true, true},
		{"*.example.com", "example.com", true, false},
		{"*.example.com", "evilexample.com", true, false},
		{"api?.example.*", "api1.example.org", true, true},
		{"/v1/profile*", "/v1/profile?id=1", false, true},
		{"/v1/profile", "/v1/profile?id=1", false, false},
		{"/search?q=*", "/search?q=go", false, true},
		{`/search\?q=*`, "/search?q=go", false, true},
		{`/search\?q=*`, "/searchXq=go", false, false},
		{`/a\*b`, "/a*b", false, true},
		{`/a\*b`, "/axb", false, false},
		{`/a\\b`, `/a\b`, false, true},
		{"/api/*/items/*", "/api/v1/x/items/7", false, true},
		{"/api/*/items/*", "/api/v1/x/item/7", false, false},
		{"*/é?/*", "/x/éz/y", false, true},
	}
	for _, tt := range tests {
		g, err := Compile(tt.pattern, tt.fold)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.pattern, err)
		}
		if got := g.Match(tt.s); got != tt.want {
			t.Errorf("glob %q match %q = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestGlobBad(t *testing.T) {
	if _, err := Compile(`/a\`, false); err == nil {
		t.Fatal("a trailing escape compiled")
	}
}

// TestGlobAgainstPathMatch cross-checks globs without "/" subtleties against
// path.Match, which agrees on "*" and "?" when the subject has no "/".
func TestGlobAgainstPathMatch(t *testing.T) {
	patterns := []string{"*", "a*", "*a", "a*b", "*a*", "a?b*", "?*?", "*ab*ba*", "a**b", "??*a"}
	subjects := []string{"", "a", "b", "ab", "ba", "aab", "abab", "abba", "axb", "axbyab", "bbba", "abcba"}
	for _, p := range patterns {
		g, err := Compile(p, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subjects {
			want, _ := path.Match(p, s)
			if got := g.Match(s); got != want {
				t.Errorf("glob %q match %q = %v, path.Match says %v", p, s, got, want)
			}
		}
	}
}

func TestGlobLiteralPrefix(t *testing.T) {
	tests := map[string]string{
		"":              "",
		"/static/*":     "/static/",
		"/static*":      "/static",
		"/a?b":          "/a",
		"*":             "",
		`/a\*b/*`:       "/a*b/",
		"/exact/path":   "/exact/path",
		`/trailing\`:    "/trailing",
		"/q/x?y=*":      "/q/x",
		"/" + "é" + "*": "/é",
	}
	for pattern, want := range tests {
		if got := LiteralPrefix(pattern); got != want {
			t.Errorf("LiteralPrefix(%q) = %q, want %q", pattern, got, want)
		}
	}
}
