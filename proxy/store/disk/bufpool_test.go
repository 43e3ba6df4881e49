package disk

import "testing"

// TestBufClass checks that a class holds the bytes asked for and wastes at
// most a third of its buffer.
func TestBufClass(t *testing.T) {
	seen := map[int]int{}
	for n := 1; n <= 1<<bufMaxShift; n += 97 {
		c, size, ok := bufClass(n)
		if !ok || size < n {
			t.Fatalf("bufClass(%d) = %d, %d, %v", n, c, size, ok)
		}
		if size%dioBlock != 0 {
			t.Fatalf("bufClass(%d): size %d is not whole blocks", n, size)
		}
		if n > 2<<bufMinShift && size-n > size/3 {
			t.Fatalf("bufClass(%d): size %d wastes more than a third", n, size)
		}
		if s, dup := seen[c]; dup && s != size {
			t.Fatalf("class %d has sizes %d and %d", c, s, size)
		}
		seen[c] = size
	}
	if _, _, ok := bufClass(1<<bufMaxShift + 1); ok {
		t.Fatal("a buffer past the largest class is pooled")
	}
	var p bufPool
	b := p.get(40 << 10)
	if len(b) != 40<<10 || cap(b) != 48<<10 {
		t.Fatalf("get(40 KiB): len %d cap %d", len(b), cap(b))
	}
	p.put(b)
}
