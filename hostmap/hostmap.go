// Package hostmap maps host names, or host globs, to other addresses, like
// Charles' DNS spoofing or an /etc/hosts entry that only Loupe sees: a
// connection Loupe opens for a mapped host goes to the mapped address,
// while everything the client addressed stays as it was (the request's
// Host header, the flow's URL, and the TLS name checked upstream).
//
// It holds the model, its validation, the compiled Map the proxy consults
// on each new origin connection, and the hosts.json file the dashboard
// edits. It must never resolve a name or open a connection, never import
// the proxy, and never change a Map it has handed out (a new one replaces
// it).
package hostmap

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"loupe/rules"
)

// Entry maps the hosts matching Host to To. Its TypeScript twin lives in
// ui/src/api/types.ts.
type Entry struct {
	// Host is a host glob, matched as a rule's match.host is: without the
	// port, case-insensitively, "*" matching any run of characters
	// ("api.example.com", "*.staging.example").
	Host string `json:"host"`
	// To is where the connection goes instead: "host:port"
	// ("127.0.0.1:3000", "[::1]:8443"), or a host alone ("127.0.0.1",
	// "::1", "staging.internal"), which keeps the port that was dialled.
	To string `json:"to"`
}

// MaxEntries bounds a map: it is read on every new connection.
const MaxEntries = 1000

// Parse reads a command-line mapping, "HOST=TO" ("api.example.com=127.0.0.1:3000").
func Parse(s string) (Entry, error) {
	host, to, ok := strings.Cut(s, "=")
	if !ok {
		return Entry{}, fmt.Errorf("host mapping %q: want HOST=ADDRESS (api.example.com=127.0.0.1:3000)", s)
	}
	e := Entry{Host: strings.TrimSpace(host), To: strings.TrimSpace(to)}
	if _, err := compile(e); err != nil {
		return Entry{}, fmt.Errorf("host mapping %q: %w", s, err)
	}
	return e, nil
}

// compiled is an Entry ready to match.
type compiled struct {
	glob *rules.HostGlob
	host string // the target host, without brackets
	port string // "" keeps the dialled port
}

func compile(e Entry) (compiled, error) {
	if e.Host == "" {
		return compiled{}, errors.New("host: empty")
	}
	if strings.ContainsAny(e.Host, " /:@") && !strings.HasPrefix(e.Host, "[") {
		return compiled{}, fmt.Errorf("host %q: a host name or glob, without scheme, port or path", e.Host)
	}
	g, err := rules.CompileHostGlob(e.Host)
	if err != nil {
		return compiled{}, err
	}
	host, port, err := splitTo(e.To)
	if err != nil {
		return compiled{}, err
	}
	return compiled{glob: g, host: host, port: port}, nil
}

// splitTo reads an Entry's To.
func splitTo(to string) (host, port string, err error) {
	if to == "" {
		return "", "", errors.New("to: empty")
	}
	if strings.Contains(to, "://") || strings.ContainsAny(to, "/ @*?") {
		return "", "", fmt.Errorf("to %q: an address (127.0.0.1:3000, or a host alone to keep the port)", to)
	}
	if h, p, err := net.SplitHostPort(to); err == nil {
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("to %q: port must be 1..65535", to)
		}
		if h == "" {
			return "", "", fmt.Errorf("to %q: no host", to)
		}
		return h, p, nil
	}
	h := strings.TrimSuffix(strings.TrimPrefix(to, "["), "]")
	if strings.Contains(h, ":") && net.ParseIP(h) == nil {
		return "", "", fmt.Errorf("to %q: not an address (write IPv6 with a port as [::1]:3000)", to)
	}
	return h, "", nil
}

// Map is an immutable, compiled list of mappings; the first entry whose
// host glob matches wins. The zero Map and a nil *Map map nothing.
type Map struct {
	entries []compiled
}

// Compile validates lists of entries and compiles them, in order.
func Compile(lists ...[]Entry) (*Map, error) {
	m := &Map{}
	var errs []error
	n := 0
	for _, l := range lists {
		for _, e := range l {
			c, err := compile(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("mapping %d (%s=%s): %w", n+1, e.Host, e.To, err))
			}
			m.entries = append(m.entries, c)
			n++
		}
	}
	if n > MaxEntries {
		errs = append(errs, fmt.Errorf("%d mappings: at most %d", n, MaxEntries))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Len is the number of mappings.
func (m *Map) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

// Lookup returns where a connection to addr ("host:port") goes instead, and
// whether a mapping applies.
func (m *Map) Lookup(addr string) (string, bool) {
	if m == nil || len(m.entries) == 0 {
		return "", false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	for _, e := range m.entries {
		if !e.glob.Match(host) {
			continue
		}
		p := e.port
		if p == "" {
			p = port
		}
		return net.JoinHostPort(e.host, p), true
	}
	return "", false
}
