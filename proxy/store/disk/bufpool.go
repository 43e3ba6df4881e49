package disk

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// bufPool recycles the buffers that carry body bytes from the recorder to
// the writer. A megabyte body arrives in chunks of 32–256 KiB; fresh
// buffers for each cost a page fault per page on first touch and the
// runtime's returning them to the system afterwards, several times the
// copy itself. Buffers come in classes of powers of two and one and a half
// times those, from 4 KiB to 1 MiB (at most a third of a buffer unused
// from 8 KiB on), all whole blocks for direct I/O (segment.go); larger ones
// are not kept. A sync.Pool lets the collector drop buffers a
// quiet capture no longer needs.
type bufPool struct {
	classes [2 * (bufMaxShift - bufMinShift + 1)]sync.Pool
}

const (
	bufMinShift = 12 // 4 KiB
	bufMaxShift = 20 // 1 MiB
)

// bufClass is the class of the smallest buffer that holds n bytes, and its
// size; ok is false past the largest class.
func bufClass(n int) (class, size int, ok bool) {
	if n <= 1<<bufMinShift {
		return 0, 1 << bufMinShift, true
	}
	shift := bits.Len(uint(n - 1)) // 1<<shift >= n > 1<<(shift-1)
	if shift > bufMaxShift {
		return 0, 0, false
	}
	half := 3 << (shift - 2) // 1.5 × 1<<(shift-1)
	if n <= half && half%dioBlock == 0 {
		return 2*(shift-bufMinShift) - 1, half, true
	}
	return 2 * (shift - bufMinShift), 1 << shift, true
}

// get returns a buffer of length n (its contents are not zeroed).
func (p *bufPool) get(n int) []byte {
	c, size, ok := bufClass(n)
	if !ok {
		return make([]byte, n)
	}
	if b, _ := p.classes[c].Get().(*[]byte); b != nil {
		return (*b)[:n]
	}
	return make([]byte, n, size)
}

// put gives back a buffer from get once nothing refers to its bytes.
func (p *bufPool) put(b []byte) {
	c, size, ok := bufClass(cap(b))
	if !ok || size != cap(b) {
		return
	}
	b = b[:0]
	p.classes[c].Put(&b)
}

// lentBuf is a pool buffer lent to the proxy (flow.BodyLender): the proxy
// reads a body into it and the writer may store a prefix of it. It goes
// back to the pool when the last of them lets go; until then nobody
// writes to it except the writer padding past the stored prefix for
// direct I/O.
type lentBuf struct {
	b    []byte
	refs atomic.Int32
}

// lend returns a buffer of length n with one reference (the borrower's).
func (p *bufPool) lend(n int) *lentBuf {
	lb := &lentBuf{b: p.get(n)}
	lb.refs.Store(1)
	return lb
}

// release drops one reference; the last one returns the buffer to p.
func (lb *lentBuf) release(p *bufPool) {
	if lb.refs.Add(-1) == 0 {
		p.put(lb.b)
		lb.b = nil
	}
}
