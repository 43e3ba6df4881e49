package proxy

import (
	"bytes"
	"io"
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
