package store

import (
	"flag"
	"strconv"
)

// DefaultConfig returns the zero Config with its defaults filled in, for
// showing them (in flag help, say).
func DefaultConfig() Config { return Config{}.withDefaults() }

// sizeValue is a byte-size flag ("64MiB").
type sizeValue struct{ p *int64 }

// SizeFlag is a flag.Value for a byte size with units ("64MiB", "4GiB"),
// stored in p.
func SizeFlag(p *int64) flag.Value { return sizeValue{p} }

func (v sizeValue) String() string {
	if v.p == nil {
		return "0"
	}
	return FormatSize(*v.p)
}

func (v sizeValue) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

// intValue is a count flag.
type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

// RegisterFlags defines the capture limits as flags on fs, writing into c;
// c's current values are the defaults shown (start from DefaultConfig()).
// Sizes take units: -ram-budget 512MiB. The memory store is the one
// "loupe -ephemeral" records into, so the flags of its own bounds say so;
// -body-cap and -capture-paused apply to the durable capture too.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(intValue{&c.MaxFlows}, "max-flows", "with -ephemeral: flows kept in memory; the oldest are evicted beyond it (the durable capture: -keep-flows)")
	fs.Var(sizeValue{&c.BodyCap}, "body-cap", "bytes kept of one body or WebSocket message; the rest is counted and the body marked truncated")
	fs.Var(sizeValue{&c.RAMBudget}, "ram-budget", "with -ephemeral: memory for captured bodies, all flows together; the oldest flows are evicted beyond it")
	fs.Var(sizeValue{&c.SpillThreshold}, "spill-threshold", "with -ephemeral: bodies larger than this are kept on disk in a private session directory")
	fs.Var(sizeValue{&c.DiskBudget}, "disk-budget", "with -ephemeral: disk space for spilled bodies; the oldest flows are evicted beyond it (-1: never spill)")
	fs.StringVar(&c.Dir, "capture-dir", c.Dir, "with -ephemeral: where the session directory for spilled bodies is made (default: the user cache directory)")
	fs.BoolVar(&c.Paused, "capture-paused", c.Paused, "start with recording paused")
}
