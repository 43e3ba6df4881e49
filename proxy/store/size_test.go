package store

import (
	"testing"
	"unsafe"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"64MiB", 64 << 20, false},
		{"64mib", 64 << 20, false},
		{"2 GiB", 2 << 30, false},
		{"1.5G", 3 << 29, false},
		{"512k", 512 << 10, false},
		{"10MB", 10_000_000, false},
		{"-1", -1, false},
		{"", 0, true},
		{"lots", 0, true},
		{"MiB", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
	for _, n := range []int64{DefaultBodyCap, DefaultRAMBudget, DefaultSpillThreshold, DefaultDiskBudget, 1000, -1} {
		if got, err := ParseSize(FormatSize(n)); err != nil || got != n {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", n, got, err)
		}
	}
}

// An entry (a flow and what is allocated with it) is one allocation per
// recorded flow and stays in memory as long as the flow: it must stay in its
// 1280-byte size class, which, with the 8-byte header the runtime puts on
// objects holding pointers, leaves 1272 bytes. A field added to flow.Flow
// that pushes it over (or padding between fields: keep bools together) costs
// every stored flow 128 bytes more.
func TestEntrySizeClass(t *testing.T) {
	const class, header = 1280, 8
	if n := unsafe.Sizeof(entry{}); n+header > class {
		t.Fatalf("entry is %d bytes: with its allocation header it leaves the %d-byte size class", n, class)
	}
}
