// Command loupe is a web-based HTTP(S) debugging proxy: it starts the
// intercepting proxy and the dashboard, and prints where to find both.
//
// This file only reads configuration, wires services and handles signals;
// the logic lives in the packages it wires.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"loupe/browser"
	"loupe/hostmap"
	"loupe/proxy"
	"loupe/proxy/ca"
	"loupe/proxy/connlimit"
	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/disk"
	"loupe/rules"
)

// version is reported in HAR exports; release builds set it with
// -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "browser" {
		os.Exit(runBrowser(ctx, os.Args[2:], os.Stdout, os.Stderr))
	}
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "loupe:", err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "loupe:", err)
		_ = m.Close()
		os.Exit(1)
	}
	<-ctx.Done()
	stop() // a second signal kills the process at once
	m.Logger.Info("shutting down", "grace", m.Config.Grace)
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "loupe:", err)
		os.Exit(1)
	}
}

// Config is what the command line sets.
type Config struct {
	ProxyAddr string // -proxy
	UIAddr    string // -ui
	DataDir   string // -data
	Token     string // LOUPE_TOKEN, else random
	Grace     time.Duration
	LogLevel  slog.Level
	// Proxy holds the core's settings (timeouts, pools, limits, passthrough).
	Proxy proxy.Config
	// Ephemeral records into memory only (-ephemeral): nothing survives a
	// restart, as before the durable capture. Default: the durable capture
	// in the data directory.
	Ephemeral bool
	// Store holds the memory store's limits (flows, body cap, RAM and disk
	// budgets); its BodyCap and Paused apply to the durable capture too.
	Store store.Config
	// Capture holds the durable capture's retention (flows, bytes, age);
	// its directory is the data directory's capture/.
	Capture disk.Config
	// AllowedHosts are extra host names the dashboard answers to, besides
	// localhost and loopback addresses (-ui-allowed-hosts).
	AllowedHosts []string
	// DebugAddr, when set, serves net/http/pprof on its own loopback
	// listener (-debug-addr). Default "": off.
	DebugAddr string
	// SOCKSAddr, when set, serves a SOCKS5 listener there (-socks).
	SOCKSAddr string
	// Reverse are the reverse listeners (-reverse).
	Reverse []ReverseListener
	// HostMap are the command line's host mappings (-map-host), in force
	// before the ones in hosts.json.
	HostMap []hostmap.Entry
}

// Main is the program: ParseFlags, then Run, then Close. Services are
// fields so that they can be replaced before Run (tests, other wiring).
type Main struct {
	Config Config
	Logger *slog.Logger
	Stdout io.Writer

	// Services wired into the proxy; nil fields get the defaults noted.
	CA *ca.CA // nil: loaded from (or created in) the data directory
	// Recorder receives the flows. Nil: nothing is recorded.
	Recorder flow.Recorder
	// Rules returns the active rule set. Nil: rules.json in the data
	// directory, loaded at start (a malformed file stops Loupe).
	Rules func() *rules.Set
	// HostMap holds the host mappings. Nil: hosts.json in the data
	// directory under the command line's, opened before Wire runs.
	HostMap *hostmap.Store
	// Browsers starts browsers for the dashboard. Nil: a launcher for this
	// Loupe's proxy and CA, made before Wire runs.
	Browsers *browser.Launcher
	// SelfHandler serves requests aimed at the proxy itself (install page,
	// ca.pem). Nil: a minimal page offering the CA certificate.
	SelfHandler http.Handler
	// UIHandler serves the dashboard listener. Nil: a page saying the
	// dashboard is not built in, plus ca.pem.
	UIHandler http.Handler
	// Wire runs in Run once the CA, the token and both listeners exist, and
	// before anything is served: the place to build the store, the rules
	// store and the dashboard and set the fields above. NewMain sets it to
	// the full wiring; tests replace it.
	Wire func(m *Main) error
	// Background services (the dashboard hub) run from Run until Close,
	// with a context that Close cancels once the listeners have stopped.
	Background []func(ctx context.Context) error
	// Closers run at Close, after the listeners and Background stopped, in
	// reverse order.
	Closers []func() error

	Proxy *proxy.Proxy

	proxyLn, uiLn, debugLn net.Listener
	socksLn                net.Listener
	reverseLns             []net.Listener
	ui, debug              *http.Server
	bgCancel               context.CancelFunc
	wg                     sync.WaitGroup
	closeOnce              sync.Once
	closeErr               error
}

// NewMain returns a Main with its defaults.
func NewMain() *Main {
	return &Main{
		Config: Config{ProxyAddr: "127.0.0.1:8080", UIAddr: "127.0.0.1:8081", Grace: 10 * time.Second,
			Store: store.DefaultConfig(), Capture: disk.DefaultConfig()},
		Stdout: os.Stdout,
		Wire:   wireDashboard,
	}
}

// ParseFlags reads the command line and the environment.
func (m *Main) ParseFlags(args []string) error {
	c := &m.Config
	fs := flag.NewFlagSet("loupe", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loupe [flags]\n       loupe browser [flags] [URL]   (a browser that uses a running Loupe; loupe browser -h)\n\n"+
			"Loupe is an HTTP(S) debugging proxy with a web dashboard.\n"+
			"The dashboard token comes from LOUPE_TOKEN, or is random per start.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	defData := os.Getenv("LOUPE_DATA")
	if defData == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			defData = filepath.Join(dir, "loupe")
		}
	}
	var passthrough, logLevel, allowedHosts string
	headScan := true
	p := &c.Proxy
	fs.StringVar(&c.ProxyAddr, "proxy", c.ProxyAddr, "proxy listener `address`")
	fs.StringVar(&c.UIAddr, "ui", c.UIAddr, "dashboard listener `address`")
	fs.StringVar(&c.DataDir, "data", defData, "data `directory` for ca.pem, ca-key.pem, rules.json and the durable capture (capture/) ($LOUPE_DATA, else the user config dir + /loupe)")
	fs.BoolVar(&c.Ephemeral, "ephemeral", false, "record into memory only: nothing is kept across restarts (-max-flows, -ram-budget, -spill-threshold, -disk-budget and -capture-dir bound it); default: the durable capture in the data directory (-keep-flows, -keep-bytes, -keep-age)")
	fs.BoolVar(&p.InsecureUpstream, "insecure-upstream", false, "skip verification of upstream TLS certificates")
	fs.StringVar(&passthrough, "passthrough", "", "comma-separated host `globs` tunnelled without interception (pinned apps)")
	fs.StringVar(&p.ProxyAuth, "proxy-auth", "", "require proxy authentication as `user:pass` (default off)")
	fs.DurationVar(&p.DialTimeout, "dial-timeout", proxy.DefaultDialTimeout, "timeout for connecting to an origin")
	fs.DurationVar(&p.TLSHandshakeTimeout, "tls-timeout", proxy.DefaultTLSHandshakeTimeout, "timeout for TLS handshakes with origins")
	fs.DurationVar(&p.ResponseHeaderTimeout, "response-timeout", proxy.DefaultResponseHeaderTimeout, "timeout for an origin's response head (then 504)")
	fs.DurationVar(&p.IdleConnTimeout, "upstream-idle-timeout", proxy.DefaultIdleConnTimeout, "idle origin connections are closed after this")
	fs.DurationVar(&p.ClientIdleTimeout, "client-idle-timeout", proxy.DefaultClientIdleTimeout, "idle client connections are closed after this")
	fs.DurationVar(&p.ReadHeaderTimeout, "read-header-timeout", proxy.DefaultReadHeaderTimeout, "timeout for reading a client's request head")
	fs.IntVar(&p.MaxIdleConns, "max-idle-conns", proxy.DefaultMaxIdleConns, "idle origin connections kept in total")
	fs.IntVar(&p.MaxIdleConnsPerHost, "max-idle-conns-per-host", proxy.DefaultMaxIdleConnsPerHost, "idle origin connections kept per host")
	fs.IntVar(&p.MaxHeaderBytes, "max-header-bytes", proxy.DefaultMaxHeaderBytes, "largest request head accepted from clients (then 431)")
	fs.Int64Var(&p.DrainMaxBytes, "drain-max-bytes", proxy.DefaultDrainMaxBytes, "most bytes of a replaced upstream body read in the background")
	fs.DurationVar(&p.DrainTimeout, "drain-timeout", proxy.DefaultDrainTimeout, "longest background read of a replaced upstream body")
	fs.IntVar(&p.MaxDrains, "max-drains", proxy.DefaultMaxDrains, "replaced upstream bodies drained at once; beyond it their origin connections are closed")
	fs.IntVar(&p.WSMessageCap, "ws-message-cap", proxy.DefaultWSMessageCap, "payload bytes recorded per WebSocket message")
	fs.IntVar(&p.MaxClientConns, "max-conns", connlimit.DefaultMax(), "client connections held at once; past it the oldest idle one is closed, else the new one gets 503")
	fs.IntVar(&p.MaxConnsPerClient, "max-conns-per-client", 0, "client connections of one client IP address (default half of -max-conns)")
	fs.DurationVar(&p.BodyIdleTimeout, "body-idle-timeout", proxy.DefaultBodyIdleTimeout, "longest wait for the next bytes of a client's request body (then 408)")
	fs.Int64Var(&p.BodyMinRate, "body-min-rate", proxy.DefaultBodyMinRate, "slowest average rate of a request body in bytes/s, checked once -body-idle-timeout has passed (then 408); -1: no floor")
	fs.BoolVar(&headScan, "head-scan", headScan, "scan raw HTTP/1 request heads; false leaves framing to the standard library alone, which weakens the request smuggling guard (Content-Length with Transfer-Encoding is then accepted)")
	fs.StringVar(&p.OriginClient, "origin-client", proxy.OriginClientLoupe, "which `client` sends requests to origins: loupe (Loupe's pooled HTTP/1.1 client for requests without a body to HTTP/1.1 origins, net/http's Transport for the rest) or stdlib (net/http's Transport for everything)")
	fs.IntVar(&p.MaxHeld, "max-held", proxy.DefaultMaxHeld, "exchanges held at breakpoints at once; past it matching flows pass, flagged \"breakpoint skipped\"")
	fs.DurationVar(&c.Grace, "grace", c.Grace, "on SIGINT/SIGTERM, how long in-flight exchanges may finish")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&allowedHosts, "ui-allowed-hosts", "", "comma-separated extra host `names` the dashboard answers to (besides localhost and loopback IPs)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "serve Go profiling (net/http/pprof: /debug/pprof/) on this loopback `address` without a token, and on the dashboard with the token as a Bearer header; default off")
	c.Store.RegisterFlags(fs)
	c.Capture.RegisterFlags(fs)
	modes := registerModeFlags(fs, c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := modes.apply(c); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	p.Passthrough = splitList(passthrough)
	p.DisableHeadScan = !headScan
	c.AllowedHosts = splitList(allowedHosts)
	if err := c.Store.Validate(); err != nil {
		return err
	}
	capture := c.Capture
	capture.Dir = "capture" // set by the wiring, inside the data directory
	if err := capture.Validate(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return errors.New("no data directory: set -data or LOUPE_DATA")
	}
	c.Token = os.Getenv("LOUPE_TOKEN")
	return p.Validate()
}

// Run loads the CA and the rules, starts both listeners and returns; the
// servers run until Close.
func (m *Main) Run(ctx context.Context) error {
	c := &m.Config
	if m.Logger == nil {
		m.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: c.LogLevel}))
	}
	if c.Token == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("token: %w", err)
		}
		c.Token = hex.EncodeToString(b)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if m.CA == nil {
		authority, err := ca.LoadOrCreate(c.DataDir)
		if err != nil {
			return fmt.Errorf("load CA: %w", err)
		}
		m.CA = authority
	}
	var err error
	if m.proxyLn, err = net.Listen("tcp", c.ProxyAddr); err != nil {
		return fmt.Errorf("proxy listener: %w", err)
	}
	if m.uiLn, err = net.Listen("tcp", c.UIAddr); err != nil {
		return fmt.Errorf("dashboard listener: %w", err)
	}
	if c.DebugAddr != "" {
		if m.debugLn, err = listenDebug(c.DebugAddr); err != nil {
			return err
		}
	}
	if err := m.listenModes(); err != nil {
		return err
	}
	if err := m.openHostMap(); err != nil {
		return err
	}
	m.newLauncher()
	if m.Wire != nil {
		if err := m.Wire(m); err != nil {
			return fmt.Errorf("wire: %w", err)
		}
	}
	if m.Rules == nil {
		store, err := rules.Open(filepath.Join(c.DataDir, "rules.json"), m.Logger)
		if err != nil {
			return err
		}
		m.Rules = store.Current
	}
	if m.SelfHandler == nil {
		m.SelfHandler = installPage(m.CA)
	}
	if m.UIHandler == nil {
		m.UIHandler = installPage(m.CA)
	}

	pc := c.Proxy
	pc.CA = m.CA
	pc.Rules = m.Rules
	pc.Recorder = m.Recorder
	pc.Logger = m.Logger
	pc.SelfHandler = m.SelfHandler
	pc.DashboardAddr = m.uiLn.Addr().String()
	pc.HostMap = m.HostMap.Current
	if m.debugLn != nil {
		pc.OwnAddrs = append(pc.OwnAddrs, m.debugLn.Addr().String())
	}
	if m.Proxy, err = proxy.New(pc); err != nil {
		return err
	}
	m.ui = &http.Server{Handler: m.UIHandler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	m.serveModes()

	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		if err := m.Proxy.Serve(m.proxyLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("proxy stopped", "err", err)
		}
	}()
	go func() {
		defer m.wg.Done()
		if err := m.ui.Serve(m.uiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("dashboard stopped", "err", err)
		}
	}()

	if m.debugLn != nil {
		m.debug = debugServer()
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := m.debug.Serve(m.debugLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.Logger.Error("debug listener stopped", "err", err)
			}
		}()
		fmt.Fprintf(m.Stdout, "Loupe profiling: http://%s/debug/pprof/\n", m.debugLn.Addr())
	}

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.bgCancel = cancel
	for _, run := range m.Background {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := run(bg); err != nil && !errors.Is(err, context.Canceled) {
				m.Logger.Error("background service stopped", "err", err)
			}
		}()
	}

	for _, l := range append([]net.Listener{m.proxyLn, m.uiLn}, m.modeListeners()...) {
		if !isLoopback(l.Addr()) {
			m.Logger.Warn("listening on a non-loopback address: anyone who can reach it can use it", "addr", l.Addr().String())
		}
	}
	m.printAddrs(m.Stdout)
	fmt.Fprintf(m.Stdout, "CA certificate:  %s (fingerprint %s)\n", filepath.Join(c.DataDir, "ca.pem"), m.CA.Fingerprint())
	return nil
}

// ConnStats reports the proxy's client connections (the dashboard's state);
// zero until Run has built the proxy.
func (m *Main) ConnStats() connlimit.Stats {
	if m.Proxy == nil {
		return connlimit.Stats{}
	}
	return m.Proxy.ConnStats()
}

// Replay sends a recorded request again through the proxy (the dashboard's
// Replayer). It fails until Run has built the proxy.
func (m *Main) Replay(ctx context.Context, f *flow.Flow, body []byte) (flow.ID, error) {
	if m.Proxy == nil {
		return 0, errors.New("replay: the proxy is not running")
	}
	return m.Proxy.Replay(ctx, f, body)
}

// Compose sends a request written in the dashboard through the proxy (the
// dashboard's Composer). It fails until Run has built the proxy.
func (m *Main) Compose(ctx context.Context, req flow.Request, body []byte, from *flow.Flow, breakpoints bool) (flow.ID, error) {
	if m.Proxy == nil {
		return 0, errors.New("compose: the proxy is not running")
	}
	return m.Proxy.ComposeWith(ctx, req, body, from, proxy.ReplayOptions{Breakpoints: breakpoints})
}

// ProxyAddr is the proxy listener's address, once Run started it.
func (m *Main) ProxyAddr() string { return m.proxyLn.Addr().String() }

// UIAddr is the dashboard listener's address, once Run started it.
func (m *Main) UIAddr() string { return m.uiLn.Addr().String() }

// Close stops both listeners, lets in-flight exchanges finish for the grace
// period and cuts the rest, then runs the Closers.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.Grace)
		defer cancel()
		var errs []error
		if m.Proxy != nil {
			if err := m.Proxy.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		} else {
			if m.proxyLn != nil {
				_ = m.proxyLn.Close()
			}
			m.closeModeListeners()
		}
		if m.ui != nil {
			if err := m.ui.Shutdown(ctx); err != nil {
				_ = m.ui.Close()
			}
		} else if m.uiLn != nil {
			_ = m.uiLn.Close()
		}
		if m.debug != nil {
			_ = m.debug.Close()
		} else if m.debugLn != nil {
			_ = m.debugLn.Close()
		}
		if m.bgCancel != nil {
			m.bgCancel()
		}
		m.wg.Wait()
		for i := len(m.Closers) - 1; i >= 0; i-- {
			if err := m.Closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// installPage is the stand-in for the dashboard's public handler: how to
// use the proxy, and the CA certificate.
func installPage(authority *ca.CA) http.Handler {
	mux := http.NewServeMux()
	pemHandler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="loupe-ca.pem"`)
		_, _ = w.Write(authority.CertPEM())
	}
	mux.HandleFunc("GET /ca.pem", pemHandler)
	mux.HandleFunc("GET /api/ca.pem", pemHandler)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>Loupe</title>
<h1>Loupe</h1>
<p>Set this address as your HTTP and HTTPS proxy, then trust Loupe's certificate
authority to see HTTPS traffic: <a href="/ca.pem">download ca.pem</a>.</p>
<p>SHA-256 fingerprint: <code>%s</code></p>`, html.EscapeString(authority.Fingerprint()))
	})
	return mux
}
