package proxy

import (
	"context"
	"io"
	"sync"
	"time"
)

// prefetch reads the start of a body ahead of its reader, up to max bytes,
// in a goroutine of its own, so that a breakpoint can show (and edit) a
// body before it goes on; its reader then gets the bytes read ahead, and
// the rest straight from the source. The goroutine ends when the source
// ends or fails (closing the source ends it) or max bytes are in: memory is
// bounded by max plus one read.
type prefetch struct {
	src io.Reader
	max int

	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte // read ahead and not yet handed on
	read    int    // bytes handed on, from the start of buf
	err     error  // the source's error (io.EOF at its end), once stopped
	stopped bool   // the goroutine ended
	full    bool   // it stopped at max

	progress chan struct{} // poked after every read (cap 1)
	done     chan struct{} // closed when the goroutine ends
}

// Waiting for a held body: the breakpoint shows a body once it ended, once
// it reached max, or once its source paused for prefetchIdle (a stream
// whose next bytes may never come) or prefetchWait passed (a trickle).
// What was read by then is shown, marked truncated, and goes through
// unedited.
const (
	prefetchIdle  = 2 * time.Second
	prefetchWait  = 10 * time.Second
	prefetchChunk = 32 << 10
)

// newPrefetch starts reading src ahead.
func newPrefetch(src io.Reader, max int, survive func(string, func(error))) *prefetch {
	f := &prefetch{src: src, max: max, progress: make(chan struct{}, 1), done: make(chan struct{})}
	f.cond.L = &f.mu
	go func() {
		defer close(f.done)
		defer survive("breakpoint body read", func(err error) { f.stop(err) })
		f.run()
	}()
	return f
}

func (f *prefetch) run() {
	chunk := make([]byte, prefetchChunk)
	for {
		n, err := f.src.Read(chunk)
		f.mu.Lock()
		f.buf = append(f.buf, chunk[:n]...)
		full := len(f.buf) >= f.max
		f.mu.Unlock()
		f.cond.Broadcast()
		select {
		case f.progress <- struct{}{}:
		default:
		}
		if err != nil {
			f.stop(err)
			return
		}
		if full {
			f.mu.Lock()
			f.full = true
			f.mu.Unlock()
			f.stop(nil)
			return
		}
	}
}

func (f *prefetch) stop(err error) {
	f.mu.Lock()
	if !f.stopped {
		f.stopped = true
		f.err = err
	}
	f.mu.Unlock()
	f.cond.Broadcast()
}

// wait blocks until the body ended or reached max, its source paused for
// prefetchIdle, prefetchWait passed or ctx ended, and returns what was read
// so far and whether that is the whole body.
func (f *prefetch) wait(ctx context.Context) (head []byte, whole bool) {
	return f.waitFor(ctx, prefetchIdle, prefetchWait)
}

// waitFor is wait with other bounds: a pause of idle, total in all.
func (f *prefetch) waitFor(ctx context.Context, idleFor, totalFor time.Duration) (head []byte, whole bool) {
	idle := time.NewTimer(idleFor)
	defer idle.Stop()
	total := time.NewTimer(totalFor)
	defer total.Stop()
loop:
	for {
		select {
		case <-f.done:
			break loop
		case <-f.progress:
			idle.Reset(idleFor)
		case <-idle.C:
			break loop
		case <-total.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	return f.snapshot()
}

// snapshot returns the bytes read so far (never changed afterwards: later
// reads append) and whether they are the whole body.
func (f *prefetch) snapshot() ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf[:len(f.buf):len(f.buf)], f.stopped && f.err == io.EOF
}

// state says why a wait did not return a whole body: the source passed
// max bytes (full), or failed (err, once stopped), or is still arriving.
func (f *prefetch) state() (full, stopped bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.full, f.stopped, f.err
}

// Read hands on the bytes read ahead, then reads the source itself once
// the goroutine stopped.
func (f *prefetch) Read(p []byte) (int, error) {
	f.mu.Lock()
	for f.read >= len(f.buf) && !f.stopped {
		f.cond.Wait()
	}
	if f.read < len(f.buf) {
		n := copy(p, f.buf[f.read:])
		f.read += n
		if f.read == len(f.buf) && f.stopped {
			f.buf, f.read = nil, 0 // handed on: let it go
		}
		f.mu.Unlock()
		return n, nil
	}
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return f.src.Read(p) // stopped at max: the rest streams through
}

// Ready implements readyReader: bytes read ahead are at hand, and so is
// the end of a body that ended.
func (f *prefetch) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read < len(f.buf) || (f.stopped && f.err != nil)
}
