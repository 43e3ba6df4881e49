package disk

import (
	"errors"
	"fmt"
	"time"

	"loupe/proxy/store"
)

// Default limits. Retention keeps a long-running capture on a developer
// laptop within a few GiB; the queue bounds what the recorder holds in RAM
// while the writer catches up.
const (
	DefaultMaxFlows    = 1_000_000
	DefaultMaxBytes    = 4 << 30             // 4 GiB of heads, bodies and messages
	DefaultMaxAge      = 30 * 24 * time.Hour // a month
	DefaultBodyCap     = store.DefaultBodyCap
	DefaultInlineMax   = 4 << 10  // bodies up to 4 KiB live in the database
	DefaultSegmentSize = 64 << 20 // larger ones in 64 MiB segment files
	DefaultQueueBytes  = 64 << 20 // body and message bytes waiting for the writer
	DefaultQueueEvents = 1 << 16  // body and message events waiting for the writer
	DefaultQueueFlows  = 1 << 14  // flows begun but not yet written
	DefaultBatchDelay  = 50 * time.Millisecond
	DefaultBatchEvents = 1000
	DefaultReadConns   = 4
	DefaultScanLimit   = 20_000
	DefaultTextMax     = 64 << 10 // decoded body text per facet in the full-text index
)

// Config says where the capture lives and how much of it is kept. Every
// zero field but Dir takes its default.
type Config struct {
	// Dir is the capture directory: the database (capture.db), the
	// segments/ directory for large bodies and a lock file. It is created
	// (0700) when missing. Required.
	Dir string
	// MaxFlows is how many flows retention keeps; the oldest unpinned ones
	// are evicted beyond it. Default DefaultMaxFlows (1,000,000).
	MaxFlows int
	// MaxBytes bounds the bytes the capture stores (flow heads, bodies and
	// WebSocket messages, as counted when written; the database's own
	// overhead is not counted). Default DefaultMaxBytes (4 GiB).
	MaxBytes int64
	// MaxAge evicts flows that started longer ago. Default DefaultMaxAge
	// (30 days); negative: no age limit.
	MaxAge time.Duration
	// BodyCap is how many bytes of one body or WebSocket message are kept;
	// the rest is counted and the body marked truncated. Default
	// DefaultBodyCap (32 MiB).
	BodyCap int64
	// InlineMax is the size up to which a body is stored in the database
	// itself; past it, its bytes go to segment files. Default
	// DefaultInlineMax (4 KiB): writing a body into a segment costs less
	// than writing it into the database from about 1 KiB on (a 16 KiB body
	// half as much), so only the small bodies that most API calls carry,
	// and that a single row reads fastest, stay inline.
	InlineMax int64
	// SegmentSize is the size at which a segment file is closed and a new
	// one started. Retention removes a segment whole once no flow refers to
	// it. Default DefaultSegmentSize (64 MiB).
	SegmentSize int64
	// QueueBytes bounds the body and message bytes handed to the writer
	// and not yet written. Past it, bodies are truncated (counted), never
	// waited for. Default DefaultQueueBytes (64 MiB).
	QueueBytes int64
	// QueueEvents bounds the body and message events waiting for the
	// writer, as QueueBytes bounds their bytes. Default DefaultQueueEvents.
	QueueEvents int
	// QueueFlows bounds the flows begun and not yet written: past it, new
	// flows are not recorded (counted in Counters.DroppedFlows). Default
	// DefaultQueueFlows.
	QueueFlows int
	// BatchDelay is how long the writer gathers events before it writes
	// them in one transaction, unless BatchEvents come first. Default
	// DefaultBatchDelay (50 ms).
	BatchDelay time.Duration
	// BatchEvents is the queue length at which the writer writes without
	// waiting for BatchDelay. Default DefaultBatchEvents (1,000).
	BatchEvents int
	// ReadConns is the number of read-only database connections readers
	// share. Default DefaultReadConns (4).
	ReadConns int
	// ScanLimit bounds how many flows a filtered List visits (the newest
	// ones). Default DefaultScanLimit (20,000).
	ScanLimit int
	// TextMax is how many bytes of each decoded body the full-text index
	// holds (the first ones); a longer body is searched by scanning it.
	// Default DefaultTextMax (64 KiB).
	TextMax int64
	// SessionName names the session this run records into. Default: the
	// start time, "2006-01-02 15:04:05".
	SessionName string
	// Paused starts the store paused: Begin records nothing until
	// SetPaused(false).
	Paused bool
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	def := func(p *int64, v int64) {
		if *p == 0 {
			*p = v
		}
	}
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defInt(&c.MaxFlows, DefaultMaxFlows)
	def(&c.MaxBytes, DefaultMaxBytes)
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	def(&c.BodyCap, DefaultBodyCap)
	def(&c.InlineMax, DefaultInlineMax)
	def(&c.SegmentSize, DefaultSegmentSize)
	def(&c.QueueBytes, DefaultQueueBytes)
	defInt(&c.QueueEvents, DefaultQueueEvents)
	defInt(&c.QueueFlows, DefaultQueueFlows)
	if c.BatchDelay == 0 {
		c.BatchDelay = DefaultBatchDelay
	}
	defInt(&c.BatchEvents, DefaultBatchEvents)
	defInt(&c.ReadConns, DefaultReadConns)
	defInt(&c.ScanLimit, DefaultScanLimit)
	def(&c.TextMax, DefaultTextMax)
	return c
}

// Validate reports every impossible setting at once. Zero fields are valid
// (they take their defaults), except Dir.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("capture directory: required"))
	}
	for _, v := range []struct {
		name string
		n    int64
	}{
		{"max flows", int64(c.MaxFlows)}, {"max bytes", c.MaxBytes}, {"body cap", c.BodyCap},
		{"inline max", c.InlineMax}, {"segment size", c.SegmentSize}, {"queue bytes", c.QueueBytes},
		{"queue events", int64(c.QueueEvents)}, {"queue flows", int64(c.QueueFlows)},
		{"batch delay", int64(c.BatchDelay)}, {"batch events", int64(c.BatchEvents)},
		{"read connections", int64(c.ReadConns)}, {"scan limit", int64(c.ScanLimit)},
		{"text max", c.TextMax},
	} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s %d: must be positive", v.name, v.n))
		}
	}
	if c.InlineMax > 0 && c.SegmentSize > 0 && c.InlineMax > c.SegmentSize {
		errs = append(errs, fmt.Errorf("inline max %d: must not exceed the segment size %d", c.InlineMax, c.SegmentSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("capture config: %w", err)
	}
	return nil
}
