package rules

import (
	"fmt"

	"loupe/internal/glob"
)

// HostGlob is a compiled host-name glob, matched as a rule's match.host is:
// case-insensitively, against the host without port, IPv6 brackets or the
// trailing dot of a fully qualified name. It is what other parts of Loupe
// that pick hosts by pattern (host mapping, upstream proxies) use, so a
// pattern means the same everywhere.
type HostGlob struct {
	pattern string
	g       *glob.Glob
}

// CompileHostGlob parses a host glob ("api.example.com", "*.internal",
// "10.0.0.?"). "*" matches any run of characters, dots included.
func CompileHostGlob(pattern string) (*HostGlob, error) {
	g, err := compileGlob(trimBrackets(pattern), true)
	if err != nil {
		return nil, fmt.Errorf("host glob %q: %w", pattern, err)
	}
	return &HostGlob{pattern: pattern, g: g}, nil
}

// Match reports whether host (a name or IP, with or without a port)
// matches the glob.
func (h *HostGlob) Match(host string) bool { return h.g.Match(normalHost(host)) }

// String returns the pattern as given.
func (h *HostGlob) String() string { return h.pattern }
