package disk

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// rss reads the resident set size in bytes.
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if val, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(val)
			if len(fields) > 0 {
				kb, _ := strconv.ParseInt(fields[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// The Go heap does not grow with the number of flows captured: after the
// first 20,000, another 80,000 leave it where it was (the memory store
// would hold them all). RSS, which includes SQLite's page caches, is
// logged for the record.
func TestMemoryDoesNotGrowWithFlows(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("records 100,000 flows")
	}
	s := openStore(t, Config{})
	medium := pattern(1, 8000)
	small := pattern(2, 200)
	n := 0
	rec := func(count int) {
		for range count {
			body := small
			if n%4 == 0 {
				body = medium
			}
			record(s, fmt.Sprint("/mem/", n), body)
			if n++; n%1000 == 0 {
				flush(t, s)
			}
		}
		flush(t, s)
	}
	rec(20_000)
	heap1, rss1 := liveHeap(), rss()
	rec(80_000)
	heap2, rss2 := liveHeap(), rss()
	c := s.Counters()
	t.Logf("after 20,000 flows: heap %d KiB, RSS %d KiB; after 100,000: heap %d KiB, RSS %d KiB; disk %d B/flow (database %d B/flow)",
		heap1>>10, rss1>>10, heap2>>10, rss2>>10, (c.DBBytes+c.SegmentBytes)/c.Flows, c.DBBytes/c.Flows)
	if c.Flows != 100_000 {
		t.Fatalf("%d flows recorded", c.Flows)
	}
	if grown := heap2 - heap1; grown > 4<<20 {
		t.Errorf("live heap grew by %d KiB over 80,000 flows", grown>>10)
	}
}
