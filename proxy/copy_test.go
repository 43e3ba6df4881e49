package proxy

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// pieces returns its chunks one Read at a time.
type pieces struct{ chunks [][]byte }

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.chunks[0])
	if p.chunks[0] = p.chunks[0][n:]; len(p.chunks[0]) == 0 {
		p.chunks = p.chunks[1:]
	}
	return n, nil
}

// writes records the size of every Write.
type writes struct {
	bytes.Buffer
	sizes []int
}

func (w *writes) Write(b []byte) (int, error) {
	w.sizes = append(w.sizes, len(b))
	return w.Buffer.Write(b)
}

// TestWriteToNeverHoldsBack checks the copy loop that serves bodies: every
// read is written at once (a stream is never buffered), small reads keep
// the small buffer, and only a read that fills it moves to the large one.
func TestWriteToNeverHoldsBack(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*largeCopyBuf+5)
	tests := []struct {
		name      string
		chunks    []int
		wantSizes []int
	}{
		{"stream of small events", []int{10, 20, 30}, []int{10, 20, 30}},
		{"bulk", []int{len(big)}, []int{smallCopyBuf, largeCopyBuf, largeCopyBuf, len(big) - smallCopyBuf - 2*largeCopyBuf}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src pieces
			var want []byte
			for i, n := range tt.chunks {
				c := bytes.Repeat([]byte{byte('a' + i)}, n)
				src.chunks = append(src.chunks, c)
				want = append(want, c...)
			}
			x := &exchange{p: &Proxy{}, h: nopHandle{}, refs: 1}
			sb := &servedBody{x: x, src: &src}
			var w writes
			n, err := io.Copy(&w, sb)
			if err != nil || n != int64(len(want)) || !bytes.Equal(w.Bytes(), want) {
				t.Fatalf("copied %d bytes, %v; want %d", n, err, len(want))
			}
			if len(w.sizes) != len(tt.wantSizes) {
				t.Fatalf("writes %v, want %v", w.sizes, tt.wantSizes)
			}
			for i := range w.sizes {
				if w.sizes[i] != tt.wantSizes[i] {
					t.Fatalf("writes %v, want %v", w.sizes, tt.wantSizes)
				}
			}
		})
	}
}

// staged is a body source whose chunks are either already there (Ready)
// or still on their way when the copy asks for them.
type staged struct {
	chunks []stagedChunk
}

type stagedChunk struct {
	n     int
	ready bool
}

func (s *staged) Ready() bool { return len(s.chunks) == 0 || s.chunks[0].ready }

func (s *staged) Read(b []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := min(len(b), s.chunks[0].n)
	for i := range b[:n] {
		b[i] = 'x'
	}
	if s.chunks[0].n -= n; s.chunks[0].n == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// flushLog is a client response writer that logs its writes ("w10") and
// flushes ("F").
type flushLog struct {
	ops []string
}

func (f *flushLog) Write(b []byte) (int, error) {
	f.ops = append(f.ops, fmt.Sprintf("w%d", len(b)))
	return len(b), nil
}

func (f *flushLog) Flush() { f.ops = append(f.ops, "F") }

// TestWriteToFlushesBeforeWaiting checks where the copy loop flushes the
// client response: before every read that may wait for the origin (so the
// head and every byte written leave at once), never before a read the
// source says is ready (so a head and a body that arrived together leave
// together, and a bulk body keeps its large writes).
func TestWriteToFlushesBeforeWaiting(t *testing.T) {
	big := 3*largeCopyBuf + 5
	tests := []struct {
		name string
		src  io.Reader
		want string
	}{
		{"source that cannot tell", &pieces{chunks: [][]byte{make([]byte, 10), make([]byte, 20)}}, "F w10 F w20 F"},
		{"everything already here", &staged{chunks: []stagedChunk{{10, true}, {20, true}}}, "w10 w20"},
		{"head and first bytes together, then a wait", &staged{chunks: []stagedChunk{{10, true}, {20, false}, {30, true}}}, "w10 F w20 w30"},
		{"head alone, then the body", &staged{chunks: []stagedChunk{{10, false}}}, "F w10"},
		{"bulk", &staged{chunks: []stagedChunk{{big, true}}},
			fmt.Sprintf("w%d w%d w%d w%d", smallCopyBuf, largeCopyBuf, largeCopyBuf, big-smallCopyBuf-2*largeCopyBuf)},
		{"empty, at its end", &staged{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := &exchange{p: &Proxy{}, h: nopHandle{}, refs: 1}
			sb := &servedBody{x: x, src: tt.src}
			var w flushLog
			if _, err := io.Copy(&w, sb); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(w.ops, " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
