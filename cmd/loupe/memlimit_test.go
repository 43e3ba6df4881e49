package main

import (
	"context"
	"runtime/debug"
	"testing"
	"time"

	"loupe/proxy/store"
	"loupe/proxy/store/disk"
)

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		name  string
		stats store.Stats
		want  int64
	}{
		{"empty", store.Stats{RAMBudget: 256 << 20}, 320 << 20},
		{"heads", store.Stats{RAMBudget: 256 << 20, HeadBytes: 50 << 20}, 420 << 20},
		{"small budget", store.Stats{RAMBudget: 16 << 20, HeadBytes: 1 << 20}, 82 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := memoryLimit(tt.stats); got != tt.want {
				t.Errorf("memoryLimit = %d MiB, want %d MiB", got>>20, tt.want>>20)
			}
		})
	}
}

func TestMemoryLimiterSetsAndRestores(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	st, err := store.New(store.Config{RAMBudget: 32 << 20, Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	before := debug.SetMemoryLimit(-1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- memoryLimiter(st)(ctx) }()
	want := int64(32<<20 + memoryHeadroom)
	deadline := time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) != want {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d, want %d", debug.SetMemoryLimit(-1), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit after the end %d, want the previous %d", got, before)
	}
}

// The durable capture's limit is its writer's queue plus the headroom: its
// heap holds little else (see memoryLimiter).
func TestMemoryLimitDurable(t *testing.T) {
	st, err := disk.Open(disk.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if got, want := memoryLimit(st.Stats()), int64(disk.DefaultQueueBytes+memoryHeadroom); got != want {
		t.Errorf("limit %d MiB, want %d MiB", got>>20, want>>20)
	}
}
