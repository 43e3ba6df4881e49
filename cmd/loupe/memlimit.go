package main

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"time"

	"loupe/proxy/store"
)

// memoryHeadroom is what Loupe needs besides captured bodies and flow heads:
// the runtime, connection buffers, certificates, the dashboard.
const memoryHeadroom = 64 << 20

// statser is what the limiter reads of a capture store.
type statser interface{ Stats() store.Stats }

// memoryLimiter keeps a soft Go memory limit of
//
//	RAM budget + 2 x flow head bytes + 64 MiB
//
// so that the process stays near what the capture limits promise. Without
// it the garbage collector lets the heap grow to twice the live heap: with
// the memory store's default 256 MiB body budget full, a proxy streaming
// 1 MB responses reached 526 MB RSS, mostly evicted bodies waiting for the
// next collection. Bodies are pointer-free, so the extra collections the
// limit causes are cheap. Heads grow with the flow count, hence the
// periodic update. It is a soft limit: past it the runtime caps the
// collector's CPU share rather than fail. A GOMEMLIMIT set in the
// environment wins.
//
// The durable capture reports its writer's queue bound (64 MiB) as its RAM
// budget and no head bytes: what it holds in the Go heap is that queue
// (bodies copied once on their way to disk, garbage once written), the
// flows in progress and a fixed ring of summaries (3.5 MiB live after
// 100,000 flows), so the limit is 128 MiB. SQLite's page caches are C
// memory outside the Go heap and outside this limit (a few MiB per
// connection). The limit matters when the writer falls behind: the queue
// fills with copies that are garbage as soon as they are written, and the
// limit has them collected at once rather than when the heap doubles.
func memoryLimiter(st statser) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if os.Getenv("GOMEMLIMIT") != "" {
			return nil
		}
		prev := debug.SetMemoryLimit(-1)
		defer debug.SetMemoryLimit(prev)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			debug.SetMemoryLimit(memoryLimit(st.Stats()))
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

// memoryLimit is the soft limit for the current capture.
func memoryLimit(s store.Stats) int64 {
	heads := min(s.HeadBytes, math.MaxInt64/4)
	return s.RAMBudget + 2*heads + memoryHeadroom
}
