//go:build !unix

package connlimit

// DefaultMax is the default bound on client connections (see the unix
// version; other systems do not report their descriptor limit here).
func DefaultMax() int { return defaultMax }
