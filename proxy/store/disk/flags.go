package disk

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"loupe/proxy/store"
)

// RegisterFlags defines the retention bounds as flags on fs, writing into
// c; c's current values are the defaults shown (start from
// DefaultConfig()). They are named keep-* so that none reuses a flag of
// the memory store with another meaning.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(countValue{&c.MaxFlows}, "keep-flows", "flows the durable capture keeps; the oldest are evicted beyond it (pinned sessions never)")
	fs.Var(store.SizeFlag(&c.MaxBytes), "keep-bytes", "bytes of heads, bodies and messages the durable capture keeps; the oldest flows are evicted beyond it (pinned sessions never)")
	fs.Var(ageValue{&c.MaxAge}, "keep-age", "flows older than this are evicted from the durable capture (pinned sessions never); 0 keeps flows of any age")
}

// DefaultConfig returns the zero Config with its defaults filled in (Dir
// empty), for showing them in flag help.
func DefaultConfig() Config { return Config{}.withDefaults() }

// countValue is a positive count flag.
type countValue struct{ p *int }

func (v countValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v countValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive number of flows")
	}
	*v.p = n
	return nil
}

// ageValue is a duration flag where 0 means no age limit (MaxAge < 0).
type ageValue struct{ p *time.Duration }

func (v ageValue) String() string {
	if v.p == nil || *v.p < 0 {
		return "0"
	}
	return v.p.String()
}

func (v ageValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 720h (0: no age limit)")
	}
	if d == 0 {
		d = -1
	}
	*v.p = d
	return nil
}
