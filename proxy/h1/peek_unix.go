//go:build linux || darwin || freebsd || netbsd || openbsd

package h1

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// peerDone reports whether an idle connection can no longer carry a
// request: the origin closed it, it failed, or it holds bytes nobody asked
// for. It peeks without blocking and without consuming anything.
func peerDone(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		// A TLS alert (close_notify) is a byte on the socket too.
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	done := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is the one healthy answer: EOF,
		// an error, or a byte all mean the connection is done.
		done = !errors.Is(rerr, syscall.EAGAIN) && !errors.Is(rerr, syscall.EWOULDBLOCK)
		return true
	})
	return done || err != nil
}
