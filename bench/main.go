// Command bench measures what Loupe costs: it runs the same workloads against
// its own origins directly and then through a proxy, in one invocation, and
// prints each result as a ratio to direct with its target.
//
// By default it builds ./cmd/loupe and starts a fresh Loupe process (temporary
// data directory, -insecure-upstream because the HTTPS origin's certificate
// is self-signed) for each scenario, so peak-memory figures belong to that
// scenario alone. -proxy-addr points it at any other running proxy instead.
// All traffic stays on 127.0.0.1, every scenario is bounded in time, and the
// whole run stops at -timeout.
//
//	go run ./bench -short          # quick check, about a minute
//	go run ./bench                 # full suite
//	go run ./bench -loaded         # with 100 non-matching rules and a live websocket reader
//	go run ./bench -reference      # the floor: httputil.ReverseProxy, no capture
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is the parsed command line.
type config struct {
	short     bool
	duration  time.Duration // throughput scenarios (a, b, c, i)
	timeout   time.Duration // the whole run
	scenarios string        // letters to run
	loaded    string        // "off", "on" or "both"
	pin       bool
	src       string // module root to build ./cmd/loupe from
	loupeBin  string
	loupeArgs []string
	keepLogs  bool

	reference bool   // measure the reference proxy instead of Loupe
	proxyAddr string // an already running proxy: no build, no restarts
	proxyPID  int
	proxyCA   string
	uiAddr    string
	token     string

	pprofOut string
	markdown bool

	// Sizes, derived from short.
	bigSize      int64
	conns        int // f and g
	streamIters  int
	streamChunks int // per stream in d
	overrideReqs int
	overrideSecs int // length of the overridden stream in h
	millionFlows int // flows scenario m records
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.short, "short", false, "quick check: 2 s per throughput run, smaller sizes")
	fs.DurationVar(&c.duration, "duration", 0, "length of each throughput run (default 10s, 2s with -short)")
	fs.DurationVar(&c.timeout, "timeout", 12*time.Minute, "bound on the whole run")
	fs.StringVar(&c.scenarios, "scenarios", "abcdefghi", "scenarios to run, by letter (only when asked: j, requests held at a breakpoint; k and l, the cost of the durable capture; m, a million recorded flows and a restart)")
	fs.IntVar(&c.millionFlows, "flows", 1000000, "how many flows scenario m records")
	fs.StringVar(&c.loaded, "loaded", "off", "100 non-matching rules + a websocket reader during the runs: off, on or both")
	fs.BoolVar(&c.pin, "pin", true, "pin the proxy to CPU 0 and this program to CPU 1 with taskset")
	fs.StringVar(&c.src, "src", "", "module root holding cmd/loupe (default: found from the working directory)")
	fs.StringVar(&c.loupeBin, "loupe-bin", "", "a built loupe binary to use instead of building ./cmd/loupe")
	extra := fs.String("loupe-args", "", "extra flags for the Loupe processes, space-separated (e.g. \"-max-idle-conns-per-host 64\")")
	fs.BoolVar(&c.keepLogs, "keep", false, "keep the temporary directory (proxy logs, data dirs)")
	fs.BoolVar(&c.reference, "reference", false, "measure the reference proxy (httputil.ReverseProxy, no capture, no rules) instead of Loupe: the floor for a proxy on net/http (scenarios "+referenceScenarios+")")
	fs.StringVar(&c.proxyAddr, "proxy-addr", "", "measure this running proxy (host:port) instead of starting Loupe")
	fs.IntVar(&c.proxyPID, "proxy-pid", 0, "with -proxy-addr: its process id, for memory, fd and thread figures")
	fs.StringVar(&c.proxyCA, "proxy-ca", "", "with -proxy-addr: its CA certificate (PEM) for the HTTPS scenario; default: no verification")
	fs.StringVar(&c.uiAddr, "ui-addr", "", "with -proxy-addr: the Loupe dashboard address, for the websocket scenario")
	fs.StringVar(&c.token, "token", "", "with -ui-addr: the dashboard token")
	fs.StringVar(&c.pprofOut, "pprof", "", "CPU-profile the proxy during scenarios a and c into FILE.a / FILE.c (needs /debug/pprof on the dashboard)")
	fs.BoolVar(&c.markdown, "markdown", false, "print the result tables in Markdown")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.loupeArgs = strings.Fields(*extra)
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.reference && (c.proxyAddr != "" || c.loaded != "off") {
		return c, errors.New("-reference measures its own proxy in plain mode: no -proxy-addr, no -loaded")
	}
	switch c.loaded {
	case "off", "on", "both":
	default:
		return c, fmt.Errorf("-loaded %q: want off, on or both", c.loaded)
	}
	for _, r := range c.scenarios {
		if !strings.ContainsRune("abcdefghijklm", r) {
			return c, fmt.Errorf("-scenarios: unknown scenario %q", r)
		}
	}
	if c.duration == 0 {
		c.duration = 10 * time.Second
		if c.short {
			c.duration = 2 * time.Second
		}
	}
	if c.duration < 200*time.Millisecond || c.timeout <= 0 || c.millionFlows < 1 {
		return c, errors.New("-duration must be at least 200ms, -timeout and -flows positive")
	}
	c.bigSize, c.conns, c.streamIters, c.streamChunks, c.overrideReqs, c.overrideSecs = 1<<30, 1000, 10, 50, 200, 2
	if c.short {
		c.bigSize, c.conns, c.streamIters, c.streamChunks, c.overrideReqs, c.overrideSecs = 128<<20, 200, 4, 15, 200, 1
	}
	return c, nil
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == "-serve-reference" {
		// A child process started by -reference (see refSpawner).
		if err := serveReference(args[1]); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		return 0
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := suite(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// suite prepares the proxy binary, pins CPUs, starts the origins and runs
// the selected scenarios once per mode.
func suite(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "loupe-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	if cfg.keepLogs {
		fmt.Fprintln(stderr, "bench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	var launch launcher
	switch {
	case cfg.reference:
		launch = &refSpawner{pin: cfg.pin}
	case cfg.proxyAddr != "":
		launch = &external{cfg: cfg}
	default:
		bin := cfg.loupeBin
		if bin == "" {
			fmt.Fprintln(stderr, "bench: building ./cmd/loupe ...")
			if bin, err = buildLoupe(ctx, cfg.src, tmp); err != nil {
				return err
			}
		}
		args := cfg.loupeArgs
		// The goroutine counts of (h) and -pprof read the dashboard's
		// /debug/pprof, which Loupe serves with -debug-addr.
		if help, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput(); bytes.Contains(help, []byte("-debug-addr")) &&
			!slices.Contains(args, "-debug-addr") {
			args = append(args, "-debug-addr", "127.0.0.1:0")
		}
		launch = &spawner{bin: bin, args: args, tmp: tmp, pin: cfg.pin, stderr: stderr}
	}

	pinNote := pinSelf(cfg.pin)

	org, err := startOrigins()
	if err != nil {
		return err
	}
	defer org.close()

	modes := map[string][]bool{"off": {false}, "on": {true}, "both": {false, true}}[cfg.loaded]
	fmt.Fprintf(stdout, "Loupe benchmark, %s, %s/%s, %d CPUs, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"),
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "proxy: %s\n", launch.describe())
	fmt.Fprintf(stdout, "pinning: %s\n", pinNote)
	fmt.Fprintf(stdout, "machine load before: %s (other processes share these CPUs; compare ratios, not absolutes)\n", loadAvg())
	fmt.Fprintf(stdout, "throughput runs: %s each; 1 GiB scenario size: %d MiB; held connections: %d\n\n",
		cfg.duration, cfg.bigSize>>20, cfg.conns)

	for _, loaded := range modes {
		b := &bench{cfg: cfg, org: org, launch: launch, loaded: loaded, stderr: stderr}
		b.runAll(ctx)
		title := "mode: plain (no rules, no dashboard client)"
		if loaded {
			title = "mode: loaded (100 non-matching rules, a websocket client reading /api/ws during every run)"
		}
		fmt.Fprintln(stdout, title)
		b.report(stdout, cfg.markdown)
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "machine load after: %s\n", loadAvg())
	return ctx.Err()
}
