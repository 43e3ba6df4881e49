package filter

import "strings"

// parsePort reads a port:value: 1..65535 in decimal digits, else 0.
func parsePort(v string) int {
	if v == "" || len(v) > 5 {
		return 0
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0
	}
	return n
}

// portOf is the port an absolute URL addresses, as rules compare it: its
// explicit port, else 80 for http and ws, 443 for https and wss; 0 when
// neither is known (an imported flow with an odd URL matches no port).
func portOf(u string) int {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return 0
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		i := strings.IndexByte(rest, ']')
		if i < 0 {
			return 0
		}
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		if p := rest[i+1:]; p != "" {
			return parsePort(p)
		}
	}
	switch lower(scheme) {
	case "http", "ws":
		return 80
	case "https", "wss":
		return 443
	}
	return 0
}
