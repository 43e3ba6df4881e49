package disk

import (
	"bytes"
	"os"
	"testing"
)

// TestAppendAll checks that chunks written together land back to back, one
// extent per segment, rolling to a new segment where append would.
func TestAppendAll(t *testing.T) {
	tests := []struct {
		name   string
		size   int64
		chunks []int
		pooled bool
		want   []extent
	}{
		{"one segment", 100, []int{10, 20, 30}, false, []extent{{1, 0, 60}}},
		{"rolls", 50, []int{20, 20, 20, 5}, false, []extent{{1, 0, 40}, {2, 0, 25}}},
		{"larger than a segment", 10, []int{30, 5}, false, []extent{{1, 0, 30}, {2, 0, 5}}},
		// Direct I/O: runs of whole blocks, a run ends padded to a block
		// after a chunk that is not.
		{"pooled, whole blocks", 1 << 20, []int{32 << 10, 64 << 10, 100}, true, []extent{{1, 0, 96<<10 + 100}}},
		{"pooled, odd chunk first", 1 << 20, []int{5000, 8192, 3}, true, []extent{{1, 0, 5000}, {1, 8192, 8195}}},
		{"pooled, rolls", 64 << 10, []int{32 << 10, 32 << 10, 4096}, true, []extent{{1, 0, 64 << 10}, {2, 0, 4096}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openSegments(dir, tt.size, createSegment)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.closeCurrent() })
			var chunks [][]byte
			var all []byte
			for i, n := range tt.chunks {
				c := bytes.Repeat([]byte{byte('a' + i)}, n)
				chunks = append(chunks, c)
				all = append(all, c...)
			}
			if tt.pooled {
				// Buffers from the pool, as the recorder queues them:
				// written with direct I/O where the file system takes it.
				var p bufPool
				for i, c := range chunks {
					chunks[i] = append(p.get(len(c))[:0], c...)
				}
			}
			exts, done, err := s.appendAll(chunks)
			if err != nil || done != len(chunks) {
				t.Fatalf("appendAll: %d done, %v", done, err)
			}
			if tt.pooled && s.noDirect {
				t.Skip("no direct I/O on this file system")
			}
			if len(exts) != len(tt.want) {
				t.Fatalf("extents %v, want %v", exts, tt.want)
			}
			var got []byte
			for i, e := range exts {
				if e != tt.want[i] {
					t.Fatalf("extents %v, want %v", exts, tt.want)
				}
				b, err := os.ReadFile(segPath(dir, e.seg))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b[e.off:e.off+e.n]...)
			}
			if !bytes.Equal(got, all) {
				t.Fatalf("segments hold %q, want %q", got, all)
			}
		})
	}
}
