//go:build unix

package connlimit

import "syscall"

// DefaultMax is the default bound on client connections: 8192, or less when
// the process may open fewer files. Each client connection can hold a second
// descriptor to its origin, and the capture needs a few of its own, so the
// bound leaves a third of the limit for them.
func DefaultMax() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return defaultMax
	}
	return fromFileLimit(rl.Cur)
}
