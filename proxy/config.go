package proxy

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"loupe/hostmap"
	"loupe/proxy/ca"
	"loupe/proxy/flow"
	"loupe/rules"
)

// Defaults for the zero values of Config.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConns          = 1024
	DefaultMaxIdleConnsPerHost   = 256
	DefaultReadHeaderTimeout     = 30 * time.Second
	DefaultClientIdleTimeout     = 120 * time.Second
	DefaultMaxHeaderBytes        = 1 << 20
	DefaultDrainMaxBytes         = 64 << 20
	DefaultDrainTimeout          = 30 * time.Second
	DefaultMaxDrains             = 32
	DefaultWSMessageCap          = 64 << 10
	DefaultBodyIdleTimeout       = 60 * time.Second
	DefaultBodyMinRate           = 256
	DefaultMaxHeld               = 32
	DefaultBreakpointBodyCap     = 10 << 20
	DefaultBreakpointGrace       = 5 * time.Second
)

// Config configures a Proxy. The zero value of every field is usable and
// means the documented default.
type Config struct {
	// CA signs the certificates presented to clients inside intercepted
	// CONNECT tunnels. Nil: CONNECT tunnels carrying TLS pass through blindly
	// (plain-HTTP tunnels are still intercepted).
	CA *ca.CA
	// Rules returns the rule set to apply to each new request; it is called
	// once per request, so a swapped set takes effect at once. Nil: no rules.
	Rules func() *rules.Set
	// Recorder receives every flow's phases. Nil: nothing is recorded.
	Recorder flow.Recorder
	// Logger receives operational messages. Nil: slog.Default().
	Logger *slog.Logger

	// InsecureUpstream skips verification of origin TLS certificates.
	// Default false: origins must present a certificate the system trusts.
	InsecureUpstream bool
	// UpstreamRootCAs, when set, replaces the system roots for verifying
	// origins (tests and private PKI).
	UpstreamRootCAs *x509.CertPool
	// Passthrough lists host globs ("*.bank.example", "pinned.app") whose
	// CONNECT tunnels are relayed blindly, never decrypted. Matched against
	// the CONNECT host without port, case-insensitively, as a rule's
	// match.host is (rules.CompileHostGlob: "*" any run, dots included; "?"
	// one character; "\" escapes).
	Passthrough []string
	// SelfHandler serves requests aimed at the proxy itself (a browser opening
	// http://proxy-address/): the install page and ca.pem. Nil: a short
	// plain-text page.
	SelfHandler http.Handler
	// DashboardAddr is the dashboard listener's address ("127.0.0.1:8081").
	// Requests and CONNECT tunnels aimed at it through the proxy are refused
	// (403), so the proxy never becomes a way around the dashboard's checks.
	DashboardAddr string
	// OwnAddrs are the other listeners of this process (a debug server)
	// that the proxy must never reach either. Whatever name a request uses,
	// a connection to any of Loupe's own listeners is refused (403).
	OwnAddrs []string
	// ProxyAuth, "user:pass", makes every request (and CONNECT) carry a
	// matching Proxy-Authorization (Basic); others get 407. "" disables it.
	// SOCKS5 clients authenticate with the same user name and password
	// (RFC 1929).
	ProxyAuth string
	// HostMap returns the host mappings in force (see hostmap.go); it is
	// called for each new origin connection, so a changed map takes effect
	// at once. Nil: no mappings, and no cost.
	HostMap func() *hostmap.Map
	// UpstreamProxies send origin connections through other proxies (see
	// upstream.go). Nil: every connection is direct. The environment
	// (HTTP_PROXY and the like) is never read.
	UpstreamProxies []UpstreamProxy

	// DialTimeout bounds connecting to an origin. Default 10 s.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the origin TLS handshake. Default 10 s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the origin's response head
	// once the request is sent; past it the client gets 504. Default 60 s.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes idle origin connections. Default 90 s.
	IdleConnTimeout time.Duration
	// MaxIdleConns and MaxIdleConnsPerHost size the origin connection pool.
	// Defaults 1024 and 256. The per-host bound must exceed the number of
	// clients talking to one origin at once: below it, every response that
	// finds the pool full closes its connection and the next request dials
	// again (measured: 50 keep-alive clients with a bound of 16 opened 595
	// origin connections in 3 s instead of 50). An idle connection costs
	// about 10 KiB of buffers.
	MaxIdleConns        int
	MaxIdleConnsPerHost int
	// ReadHeaderTimeout bounds reading a client's request head. Default 30 s.
	ReadHeaderTimeout time.Duration
	// ClientIdleTimeout closes idle client keep-alive connections. Default 120 s.
	ClientIdleTimeout time.Duration
	// MaxHeaderBytes bounds a client's request head; larger heads get 431.
	// Default 1 MiB.
	MaxHeaderBytes int
	// BodyIdleTimeout bounds the wait for the next bytes of a client's
	// request body; a body that stalls longer is answered 408 and its
	// connection closed (the origin's request is aborted). It cuts bodies
	// trickled byte by byte, each of which would pin a client and an origin
	// socket. Default 60 s (nginx's client_body_timeout).
	BodyIdleTimeout time.Duration
	// BodyMinRate is the slowest average rate, in bytes per second, at
	// which a request body may arrive once BodyIdleTimeout has passed since
	// its first read; slower bodies get 408 like stalled ones. Default 256.
	// Negative: no floor.
	BodyMinRate int64
	// MaxClientConns bounds the client connections held at once, on all
	// listeners Serve was given; past it the oldest idle keep-alive
	// connection gives its place, else the new one is refused with a 503.
	// Default connlimit.DefaultMax() (8192, less under a low file limit).
	MaxClientConns int
	// MaxConnsPerClient bounds the connections of one client IP address, so
	// that one client cannot starve the others. Default MaxClientConns / 2.
	MaxConnsPerClient int

	// DrainMaxBytes and DrainTimeout bound how much of an upstream body that
	// nobody reads any more (its response was replaced) is still read, and
	// recorded, in the background so the origin connection can be reused;
	// past either bound the connection is closed. Defaults 64 MiB and 30 s.
	DrainMaxBytes int64
	DrainTimeout  time.Duration
	// MaxDrains bounds how many such bodies are drained at once; beyond it a
	// replaced body's origin connection is closed instead. Draining keeps a
	// connection for reuse, but a burst of overrides on large streams would
	// otherwise spend the proxy's CPU reading bodies nobody asked for and
	// slow the responses that are being served. Default 32.
	MaxDrains int

	// WSMessageCap is how many payload bytes of each WebSocket message are
	// recorded (the size is always recorded). Default 64 KiB.
	WSMessageCap int

	// DisableHeadScan serves HTTP/1 clients with the standard library alone,
	// without proxy/headscan watching the raw request stream. It weakens the
	// smuggling guard: a request with both Content-Length and
	// Transfer-Encoding is then served as net/http frames it (chunked), and
	// header names reach origins canonicalised. Default false.
	DisableHeadScan bool

	// MaxHeld bounds the exchanges held at breakpoints at once; past it a
	// matching breakpoint lets the flow pass, flagged "breakpoint skipped".
	// Default 32.
	MaxHeld int
	// BreakpointBodyCap bounds the body of a held exchange that is read
	// ahead to be shown and edited; a longer one is shown in part and goes
	// through unedited. Default 10 MiB.
	BreakpointBodyCap int64
	// RewriteBodyCap bounds a body that replaceBody and jsonPatch rules
	// rewrite, held in memory whole (before and after its Content-Encoding
	// is undone); a longer one passes unchanged. Default
	// rules.MaxRewriteBodyBytes (16 MiB), which the rule editor's help
	// names.
	RewriteBodyCap int64
	// BreakpointGrace is how long held exchanges wait after the last
	// dashboard disconnected before they take their timeout action (a
	// reload reconnects within it). Default 5 s.
	BreakpointGrace time.Duration

	// OriginClient chooses what sends requests to origins.
	// OriginClientLoupe (the default, also ""): requests without a body go
	// to plain-HTTP origins, and to HTTPS origins that answered over
	// HTTP/1.1, through Loupe's pooled HTTP/1.1 client (proxy/h1), which
	// costs less per request than net/http's Transport; everything else
	// goes through the Transport. OriginClientStdlib: everything goes
	// through the Transport, the fallback should the HTTP/1.1 client ever
	// be suspected of a fault.
	OriginClient string
}

// Values of Config.OriginClient.
const (
	OriginClientLoupe  = "loupe"
	OriginClientStdlib = "stdlib"
)

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.ProxyAuth != "" && !strings.Contains(c.ProxyAuth, ":") {
		return errors.New("proxy auth: want user:pass")
	}
	switch c.OriginClient {
	case "", OriginClientLoupe, OriginClientStdlib:
	default:
		return fmt.Errorf("origin client %q: want %s or %s", c.OriginClient, OriginClientLoupe, OriginClientStdlib)
	}
	if _, err := compilePassthrough(c.Passthrough); err != nil {
		return err
	}
	for name, v := range map[string]int64{
		"dial timeout": int64(c.DialTimeout), "TLS handshake timeout": int64(c.TLSHandshakeTimeout),
		"response header timeout": int64(c.ResponseHeaderTimeout), "idle conn timeout": int64(c.IdleConnTimeout),
		"max idle conns": int64(c.MaxIdleConns), "max idle conns per host": int64(c.MaxIdleConnsPerHost),
		"read header timeout": int64(c.ReadHeaderTimeout), "client idle timeout": int64(c.ClientIdleTimeout),
		"max header bytes": int64(c.MaxHeaderBytes), "drain max bytes": c.DrainMaxBytes,
		"drain timeout": int64(c.DrainTimeout), "max drains": int64(c.MaxDrains),
		"websocket message cap": int64(c.WSMessageCap), "body idle timeout": int64(c.BodyIdleTimeout),
		"max client conns": int64(c.MaxClientConns), "max conns per client": int64(c.MaxConnsPerClient),
		"max held": int64(c.MaxHeld), "breakpoint body cap": c.BreakpointBodyCap, "breakpoint grace": int64(c.BreakpointGrace),
		"rewrite body cap": c.RewriteBodyCap,
	} {
		if v < 0 {
			return fmt.Errorf("%s: negative", name)
		}
	}
	return nil
}

func (c *Config) withDefaults() Config {
	d := *c
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&d.DialTimeout, DefaultDialTimeout)
	setDur(&d.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	setDur(&d.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	setDur(&d.IdleConnTimeout, DefaultIdleConnTimeout)
	setDur(&d.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&d.ClientIdleTimeout, DefaultClientIdleTimeout)
	setDur(&d.DrainTimeout, DefaultDrainTimeout)
	setDur(&d.BodyIdleTimeout, DefaultBodyIdleTimeout)
	setInt(&d.MaxIdleConns, DefaultMaxIdleConns)
	setInt(&d.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost)
	setInt(&d.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setInt(&d.WSMessageCap, DefaultWSMessageCap)
	setInt(&d.MaxDrains, DefaultMaxDrains)
	setInt(&d.MaxHeld, DefaultMaxHeld)
	setDur(&d.BreakpointGrace, DefaultBreakpointGrace)
	if d.BreakpointBodyCap == 0 {
		d.BreakpointBodyCap = DefaultBreakpointBodyCap
	}
	if d.RewriteBodyCap == 0 {
		d.RewriteBodyCap = rules.MaxRewriteBodyBytes
	}
	if d.BodyMinRate == 0 {
		d.BodyMinRate = DefaultBodyMinRate
	}
	if d.DrainMaxBytes == 0 {
		d.DrainMaxBytes = DefaultDrainMaxBytes
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Recorder == nil {
		d.Recorder = nopRecorder{}
	}
	return d
}

// compilePassthrough compiles the Passthrough globs.
func compilePassthrough(globs []string) ([]*rules.HostGlob, error) {
	out := make([]*rules.HostGlob, 0, len(globs))
	for _, g := range globs {
		hg, err := rules.CompileHostGlob(g)
		if err != nil {
			return nil, fmt.Errorf("passthrough: %w", err)
		}
		out = append(out, hg)
	}
	return out, nil
}
