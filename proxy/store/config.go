package store

import (
	"errors"
	"fmt"
)

// Default limits, chosen so that a long session on a developer laptop stays
// within a few hundred MiB of RAM and a few GiB of temporary disk.
const (
	DefaultMaxFlows       = 50_000
	DefaultBodyCap        = 32 << 20  // 32 MiB kept per body
	DefaultRAMBudget      = 256 << 20 // 256 MiB of bodies in memory
	DefaultSpillThreshold = 1 << 20   // bodies above 1 MiB go to disk
	DefaultDiskBudget     = 2 << 30   // 2 GiB of spilled bodies
)

// Config bounds what the store keeps. Every zero field takes its default, so
// the zero Config is a sensible one.
type Config struct {
	// MaxFlows is how many flows are kept; the oldest are evicted beyond it.
	// Default DefaultMaxFlows (50,000).
	MaxFlows int
	// BodyCap is how many bytes of one body (or one WebSocket message) are
	// kept. Bytes beyond it are counted, not stored, and the body is marked
	// truncated. Default DefaultBodyCap (32 MiB).
	BodyCap int64
	// RAMBudget bounds the body and WebSocket message bytes held in memory,
	// all flows together. Going over it evicts the oldest flows. Default
	// DefaultRAMBudget (256 MiB).
	RAMBudget int64
	// SpillThreshold is the size above which a body moves to a file in the
	// session directory. Default DefaultSpillThreshold (1 MiB); it is lowered
	// to RAMBudget when larger.
	SpillThreshold int64
	// DiskBudget bounds the bytes of spilled bodies. Going over it evicts
	// the oldest flows. Default DefaultDiskBudget (2 GiB). A negative value
	// disables spilling: bodies then stay in memory, bounded by BodyCap and
	// RAMBudget.
	DiskBudget int64
	// Dir is where the private session directory (0700) is created; it and
	// its files (0600) are removed by Close. Default: the user's cache
	// directory + "/loupe" (on disk, unlike a tmpfs /tmp), else os.TempDir().
	Dir string
	// Paused starts the store paused: Begin records nothing until SetPaused(false).
	Paused bool
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxFlows == 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.BodyCap == 0 {
		c.BodyCap = DefaultBodyCap
	}
	if c.RAMBudget == 0 {
		c.RAMBudget = DefaultRAMBudget
	}
	if c.SpillThreshold == 0 {
		c.SpillThreshold = DefaultSpillThreshold
	}
	if c.SpillThreshold > c.RAMBudget {
		c.SpillThreshold = c.RAMBudget
	}
	if c.DiskBudget == 0 {
		c.DiskBudget = DefaultDiskBudget
	}
	return c
}

// spills reports whether large bodies go to disk.
func (c Config) spills() bool { return c.DiskBudget > 0 }

// Validate reports every impossible limit at once. Zero fields are valid
// (they take their defaults).
func (c Config) Validate() error {
	var errs []error
	if c.MaxFlows < 0 {
		errs = append(errs, fmt.Errorf("max flows %d: must be positive", c.MaxFlows))
	}
	if c.BodyCap < 0 {
		errs = append(errs, fmt.Errorf("body cap %d: must be positive", c.BodyCap))
	}
	if c.RAMBudget < 0 {
		errs = append(errs, fmt.Errorf("RAM budget %d: must be positive", c.RAMBudget))
	}
	if c.SpillThreshold < 0 {
		errs = append(errs, fmt.Errorf("spill threshold %d: must be positive", c.SpillThreshold))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store config: %w", err)
	}
	return nil
}
