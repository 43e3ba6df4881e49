package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"loupe/proxy/flow"
)

// spillBuffer is the write buffer of a body that lives on disk: bytes are
// appended here and written to the file when it fills, when the body ends,
// and when a reader asks for the body.
const spillBuffer = 64 << 10

// body holds the captured bytes of one facet of one flow, as received on the
// wire. Small bodies stay in buf; once a body grows past the spill threshold
// its bytes go to a file in the session directory.
//
// Lock order: a body's mu is never held while taking Store.mu (Store.mu may be
// held while taking a body's mu).
type body struct {
	mu        sync.Mutex
	size      int64 // bytes seen
	captured  int64 // bytes kept (in buf and file)
	truncated bool
	complete  bool
	removed   bool // evicted or deleted: writes are dropped
	sealed    bool // ended or flow finished: late writes are dropped

	// While in RAM the body is a list of chunks, all full but the last:
	// appending never copies what is already kept (a growing slice copies
	// every byte about twice and zeroes twice the memory), and readers share
	// the chunks (bytes below a chunk's length never change).
	chunks  [][]byte
	first   [1][]byte // backs chunks while there is one: no list allocation for a small body
	readers int       // open readers sharing chunks: they are not recycled then
	buf     []byte    // the write buffer once spilled
	path    string    // spill file, "" while in RAM
	file    *os.File  // open for appends until the body ends
	disk    int64     // bytes written to the file
	err     error     // first spill error: capture stopped there

	ram int64 // bytes of buf counted against the RAM budget (its capacity)

	// Published copies of the counters, for readers that must never wait
	// on mu (a writer may hold it across a spill write).
	pSize, pCaptured, pRAM, pDisk atomic.Int64
	pFlags                        atomic.Uint32
}

const (
	flagTruncated = 1 << iota
	flagComplete
)

// publish copies the counters for lock-free readers; called with mu held
// after every change.
func (b *body) publish() {
	b.pSize.Store(b.size)
	b.pCaptured.Store(b.captured)
	b.pRAM.Store(b.ram)
	disk := int64(0)
	if b.path != "" && !b.removed {
		disk = b.captured
	}
	b.pDisk.Store(disk)
	var f uint32
	if b.truncated {
		f |= flagTruncated
	}
	if b.complete {
		f |= flagComplete
	}
	b.pFlags.Store(f)
}

// facts returns the body's flow.Body counters without taking its lock.
func (b *body) facts(into *flow.Body) {
	f := b.pFlags.Load()
	into.Size = b.pSize.Load()
	into.Captured = b.pCaptured.Load()
	into.Truncated = f&flagTruncated != 0
	into.Complete = f&flagComplete != 0
}

// usage is what one body costs, returned by writes and frees so that the
// store can keep its totals.
type usage struct {
	ram, disk   int64
	files       int
	truncBodies int64 // 1 when this write truncated the body for the first time
	truncBytes  int64
	spillErr    bool
}

func (u *usage) add(o usage) {
	u.ram += o.ram
	u.disk += o.disk
	u.files += o.files
	u.truncBodies += o.truncBodies
	u.truncBytes += o.truncBytes
	u.spillErr = u.spillErr || o.spillErr
}

// write appends p, keeping at most limit bytes in total, and reports the
// change in usage. room bounds what may be kept by this write (budgets);
// a negative room means unbounded.
func (b *body) write(s *Store, p []byte, room int64) usage {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.publish()
	var u usage
	if b.removed || b.sealed {
		return u
	}
	n := int64(len(p))
	b.size += n
	keep := min(n, s.cfg.BodyCap-b.captured)
	if room >= 0 {
		keep = min(keep, room)
	}
	if b.err != nil {
		keep = 0
	}
	keep = max(keep, 0)
	if keep < n {
		if !b.truncated {
			u.truncBodies = 1
		}
		b.truncated = true
		u.truncBytes = n - keep
	}
	if keep == 0 {
		return u
	}
	p = p[:keep]
	if b.path == "" && (!s.cfg.spills() || b.captured+keep <= s.cfg.SpillThreshold) {
		u.ram += b.appendRAM(s, p, s.cfg.SpillThreshold)
		b.captured += keep
		return u
	}
	if b.path == "" {
		if err := b.spill(s); err != nil {
			b.fail(s, err, &u)
			u.truncBytes += keep
			return u
		}
		u.files = 1
		u.disk += b.captured
		u.ram -= b.ram
		b.ram = 0
		b.recycle(s)
	}
	// On disk: append to the write buffer, flushing it when full. Disk usage
	// counts bytes as soon as they are accepted.
	if len(b.buf)+len(p) > spillBuffer {
		if err := b.flush(); err != nil {
			b.fail(s, err, &u)
			u.truncBytes += keep
			return u
		}
		if len(p) >= spillBuffer {
			if _, err := b.file.Write(p); err != nil {
				b.fail(s, fmt.Errorf("write spill file %s: %w", b.path, err), &u)
				u.truncBytes += keep
				return u
			}
			b.disk += keep
			b.captured += keep
			u.disk += keep
			return u
		}
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, spillBuffer)
		b.ram = spillBuffer
		u.ram += spillBuffer
	}
	b.buf = append(b.buf, p...)
	b.captured += keep
	u.disk += keep
	return u
}

// Chunk sizes of an in-RAM body: the first chunk fits the first write, each
// next one doubles (at least minChunk) up to maxChunk.
const (
	minChunk = 512
	maxChunk = 64 << 10
)

// appendRAM copies p after the kept bytes and returns the growth of the
// chunks' capacity. limit (the spill threshold, when positive) bounds the
// total capacity while the bytes fit under it.
func (b *body) appendRAM(s *Store, p []byte, limit int64) int64 {
	var grown int64
	for len(p) > 0 {
		if n := len(b.chunks); n > 0 {
			last := b.chunks[n-1]
			if k := min(cap(last)-len(last), len(p)); k > 0 {
				b.chunks[n-1] = append(last, p[:k]...)
				p = p[k:]
				continue
			}
		}
		// The first chunk fits the first write exactly: most small bodies
		// arrive in one read and then need no trimming copy at the end.
		c := len(p)
		if n := len(b.chunks); n > 0 {
			c = max(2*cap(b.chunks[n-1]), minChunk, len(p))
		}
		c = min(c, maxChunk)
		// Every chunk but the last is full, so b.ram+grown is what is kept
		// so far: no chunk is made larger than what could still fit under
		// the limit.
		if left := limit - b.ram - grown; limit > 0 && int64(c) > left && int64(len(p)) <= left {
			c = int(left)
		}
		if b.chunks == nil {
			b.chunks = b.first[:0]
		}
		b.chunks = append(b.chunks, s.newChunk(c))
		grown += int64(c)
	}
	b.ram += grown
	return grown
}

// newChunk returns an empty chunk of capacity c; full-size chunks come
// from the store's pool of recycled ones when it has any.
func (s *Store) newChunk(c int) []byte {
	if c == maxChunk {
		if a, ok := s.chunks.Get().(*[maxChunk]byte); ok {
			return a[:0]
		}
	}
	return make([]byte, 0, c)
}

// recycle drops the chunks, handing the full-size ones back to the store's
// pool unless a reader still shares them; called with mu held. With the RAM
// budget full every new body evicts an old one, and reusing its memory
// spares the garbage collector and the page faults of fresh memory.
func (b *body) recycle(s *Store) {
	if b.readers == 0 {
		for _, c := range b.chunks {
			if cap(c) == maxChunk {
				s.chunks.Put((*[maxChunk]byte)(c[:maxChunk]))
			}
		}
	}
	b.chunks = nil
}

// ramLen is the number of bytes held in chunks.
func (b *body) ramLen() int64 {
	var n int64
	for _, c := range b.chunks {
		n += int64(len(c))
	}
	return n
}

// spill moves the chunks to a new file in the session directory. On failure
// nothing changes (the body stays in RAM).
func (b *body) spill(s *Store) error {
	f, err := os.CreateTemp(s.dir, "body-*")
	if err != nil {
		return fmt.Errorf("create spill file in %s: %w", s.dir, err)
	}
	// CreateTemp makes 0600 files already; say it so nothing can widen it.
	err = f.Chmod(0o600)
	for _, c := range b.chunks {
		if err != nil {
			break
		}
		_, err = f.Write(c)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("spill body to %s: %w", f.Name(), err)
	}
	b.file = f
	b.path = f.Name()
	b.disk = b.ramLen()
	return nil
}

// flush writes the spill write buffer to the file.
func (b *body) flush() error {
	if b.file == nil || len(b.buf) == 0 {
		return nil
	}
	if _, err := b.file.Write(b.buf); err != nil {
		return fmt.Errorf("write spill file %s: %w", b.path, err)
	}
	b.disk += int64(len(b.buf))
	b.buf = b.buf[:0]
	return nil
}

// fail stops capturing after a spill error: what reached the file (or the
// RAM buffer, when the file could not be made) stays readable, nothing more
// is kept. The body is truncated like one cut by the cap or a budget, and
// counted so: bytes that were accepted into the write buffer but never
// reached the file are lost, so they count as truncated bytes too (the
// caller counts the bytes of the failed write itself).
func (b *body) fail(s *Store, err error, u *usage) {
	if b.err == nil {
		s.log.Warn("body capture stopped", "err", err)
		u.spillErr = true
	}
	b.err = err
	if !b.truncated {
		u.truncBodies = 1
	}
	b.truncated = true
	if b.path == "" {
		return
	}
	lost := b.captured - b.disk
	u.disk -= lost
	u.truncBytes += lost
	b.captured = b.disk
	if b.file != nil {
		b.file.Close()
		b.file = nil
	}
	u.ram -= b.ram
	b.ram = 0
	b.buf = nil
	b.chunks = nil
}

// end marks the body complete: the write buffer is flushed and the file
// closed (so a long session does not pile up descriptors), and an in-RAM
// buffer is trimmed to its length.
func (b *body) end(s *Store) usage {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.publish()
	var u usage
	if b.removed {
		return u
	}
	b.complete = true
	b.finish(s, &u)
	return u
}

// finish releases write resources (flow finished or body ended); later
// writes are dropped.
func (b *body) finish(s *Store, u *usage) {
	b.sealed = true
	if b.path != "" {
		if b.file != nil {
			if err := b.flush(); err != nil {
				b.fail(s, err, u)
				return
			}
			if err := b.file.Close(); err != nil {
				s.log.Warn("close spill file", "path", b.path, "err", err)
			}
			b.file = nil
		}
		u.ram -= b.ram
		b.ram = 0
		b.buf = nil
		return
	}
	// Only the last chunk has slack; trim it when it is worth a copy.
	if n := len(b.chunks); n > 0 {
		last := b.chunks[n-1]
		if cap(last) > len(last)+len(last)/8+64 {
			var nb []byte
			if len(last) > 0 {
				nb = make([]byte, len(last))
				copy(nb, last)
				b.chunks[n-1] = nb
			} else {
				b.chunks = b.chunks[:n-1]
			}
			if cap(last) == maxChunk && b.readers == 0 {
				s.chunks.Put((*[maxChunk]byte)(last[:maxChunk]))
			}
			u.ram += int64(len(nb)) - int64(cap(last))
			b.ram += int64(len(nb)) - int64(cap(last))
		}
	}
}

// free drops the body (eviction, deletion) and reports what it gave back.
func (b *body) free(s *Store) usage {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.publish()
	var u usage
	if b.removed {
		return u
	}
	b.removed = true
	u.ram = -b.ram
	b.ram = 0
	b.buf = nil
	b.recycle(s)
	if b.path != "" {
		if b.file != nil {
			b.file.Close()
			b.file = nil
		}
		os.Remove(b.path)
		u.disk = -b.captured
		u.files = -1
		b.disk = 0
	}
	return u
}

// usageNow is the body's current cost, for eviction planning. It does not
// take the body's lock (the store lock is held by the caller).
func (b *body) usageNow() (ram, disk int64) {
	return b.pRAM.Load(), b.pDisk.Load()
}

// reader returns the captured bytes as of now.
func (b *body) reader() (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.removed {
		return nil, ErrNotFound
	}
	if b.path == "" {
		// The bytes below each chunk's length never change (appends only),
		// so the reader can share them.
		switch len(b.chunks) {
		case 0:
			return io.NopCloser(bytes.NewReader(nil)), nil
		case 1:
			c := b.chunks[0]
			b.readers++
			return &chunkReader{Reader: bytes.NewReader(c[:len(c):len(c)]), b: b}, nil
		}
		rs := make([]io.Reader, len(b.chunks))
		for i, c := range b.chunks {
			rs[i] = bytes.NewReader(c[:len(c):len(c)])
		}
		b.readers++
		return &chunkReader{Reader: io.MultiReader(rs...), b: b}, nil
	}
	if b.file != nil {
		if err := b.flush(); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(b.path)
	if err != nil {
		return nil, fmt.Errorf("open spill file %s: %w", filepath.Base(b.path), err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, b.disk), f}, nil
}

// chunkReader reads a body's chunks in place; until it is closed they are
// not recycled.
type chunkReader struct {
	io.Reader
	b      *body
	closed bool
}

func (r *chunkReader) Close() error {
	r.b.mu.Lock()
	if !r.closed {
		r.closed = true
		r.b.readers--
	}
	r.b.mu.Unlock()
	return nil
}
