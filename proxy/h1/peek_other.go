//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package h1

import "net"

// peerDone cannot peek on this platform: idle connections the origin closed
// are found when reused (and the request retried) or at IdleConnTimeout.
func peerDone(net.Conn) bool { return false }
