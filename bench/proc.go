package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procStats are the figures of the proxy process that /proc gives.
type procStats struct {
	RSS, HWM int64 // bytes: VmRSS (now) and VmHWM (peak)
	Threads  int
	FDs      int
}

// readProc reads /proc/<pid>/status and counts /proc/<pid>/fd.
func readProc(pid int) (procStats, error) {
	var st procStats
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("read proxy status: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			st.RSS = n << 10
		case "VmHWM":
			st.HWM = n << 10
		case "Threads":
			st.Threads = int(n)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return st, fmt.Errorf("read proxy fds: %w", err)
	}
	st.FDs = len(fds)
	return st, nil
}

// sched is the CPU time a process got and the time its threads spent
// runnable but waiting for a CPU (from /proc/<pid>/task/*/schedstat). On a
// shared machine the wait says how much of a result is other people's load.
type sched struct {
	run, wait time.Duration
	faults    int64 // minor page faults of the whole process (first touches of memory)
}

func readSched(pid int) (sched, bool) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return sched{}, false
	}
	var s sched
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(data))
		if len(f) < 2 {
			continue
		}
		run, _ := strconv.ParseInt(f[0], 10, 64)
		wait, _ := strconv.ParseInt(f[1], 10, 64)
		s.run += time.Duration(run)
		s.wait += time.Duration(wait)
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Past the command name in parentheses, minflt is the 8th field.
		if _, rest, ok := strings.Cut(string(data), ") "); ok {
			if f := strings.Fields(rest); len(f) > 7 {
				s.faults, _ = strconv.ParseInt(f[7], 10, 64)
			}
		}
	}
	return s, true
}

func (s sched) add(o sched) sched { return sched{s.run + o.run, s.wait + o.wait, s.faults + o.faults} }

func (s sched) sub(o sched) sched { return sched{s.run - o.run, s.wait - o.wait, s.faults - o.faults} }

func (s sched) String() string {
	return fmt.Sprintf("%.1fs CPU, %.1fs waiting", s.run.Seconds(), s.wait.Seconds())
}

// pinSelf moves this process (load generator and origins) to CPU 1 and says
// what it did; the proxy is started on CPU 0 (see spawner).
func pinSelf(pin bool) string {
	if !pin {
		return "off (-pin=false): proxy, load generator and origins share all CPUs"
	}
	if runtime.NumCPU() < 2 {
		return fmt.Sprintf("off: only %d CPU", runtime.NumCPU())
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return "off: taskset (util-linux) not found; proxy, load generator and origins share all CPUs"
	}
	// -a: every existing thread; threads created later inherit the mask.
	if out, err := exec.Command(ts, "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		return fmt.Sprintf("off: taskset failed (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	runtime.GOMAXPROCS(1)
	return "taskset: proxy on CPU 0, load generator + origins on CPU 1 (GOMAXPROCS=1 each)"
}

// buildLoupe builds ./cmd/loupe from the module root into dir.
func buildLoupe(ctx context.Context, src, dir string) (string, error) {
	if src == "" {
		var err error
		if src, err = moduleRoot(); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, "loupe")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/loupe")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build ./cmd/loupe in %s: %w\n%s(use -loupe-bin or -proxy-addr to measure another proxy)", src, err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cmd", "loupe")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no module with cmd/loupe above the working directory: use -src")
		}
		dir = parent
	}
}

// target is a proxy under test.
type target struct {
	addr   string // proxy listener host:port
	uiAddr string // dashboard, "" if unknown
	token  string
	caPEM  []byte // the CA clients trust for MITM; nil = skip verification
	pid    int    // 0 = unknown: no /proc figures
	data   string // data directory, "" if unknown

	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	logTxt *bytes.Buffer
}

// proxyURL is what clients put in their Proxy setting.
func (t *target) proxyURL() *url.URL { return &url.URL{Scheme: "http", Host: t.addr} }

func (t *target) proc() (procStats, error) {
	if t.pid == 0 {
		return procStats{}, errNoPID
	}
	return readProc(t.pid)
}

var errNoPID = fmt.Errorf("proxy pid unknown (give -proxy-pid)")

// goroutines asks the dashboard's pprof endpoint, if there is one.
func (t *target) goroutines() (int, bool) {
	if t.uiAddr == "" {
		return 0, false
	}
	body, err := t.uiGet("/debug/pprof/goroutine?debug=1", 5*time.Second)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(body), "\n")
	var n int
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		return 0, false
	}
	return n, true
}

// uiGet fetches a dashboard path with the token.
func (t *target) uiGet(path string, timeout time.Duration) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+t.uiAddr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// uiPut sends a JSON body to a dashboard path with the token.
func (t *target) uiPut(path string, body []byte) error {
	req, err := http.NewRequest(http.MethodPut, "http://"+t.uiAddr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// launcher gives a proxy for one scenario.
type launcher interface {
	// start gives a proxy with rules.json set to rulesJSON (nil: no file).
	start(ctx context.Context, rulesJSON []byte) (*target, error)
	stop(t *target)
	describe() string
	// fresh reports whether each start is a new process (peak RSS per scenario).
	fresh() bool
}

// spawner starts a new Loupe process per scenario.
type spawner struct {
	bin  string
	args []string // extra flags
	// scenarioArgs are extra flags of the scenario running now.
	scenarioArgs []string
	tmp          string
	pin          bool
	stderr       io.Writer
	n            int
	data         string // shared across starts, so the CA is made once
}

func (s *spawner) describe() string {
	extra := ""
	if len(s.args) > 0 {
		extra = " " + strings.Join(s.args, " ")
	}
	return "Loupe (" + s.bin + extra + "), a fresh process per scenario, temp -data dir, LOUPE_TOKEN set, -insecure-upstream (the HTTPS origin's certificate is self-signed)"
}

func (s *spawner) fresh() bool { return true }

func (s *spawner) start(ctx context.Context, rulesJSON []byte) (*target, error) {
	s.n++
	if s.data == "" {
		s.data = filepath.Join(s.tmp, "data")
		if err := os.MkdirAll(s.data, 0o700); err != nil {
			return nil, err
		}
	}
	rulesPath := filepath.Join(s.data, "rules.json")
	os.Remove(rulesPath)
	if rulesJSON != nil {
		if err := os.WriteFile(rulesPath, rulesJSON, 0o600); err != nil {
			return nil, fmt.Errorf("write rules: %w", err)
		}
	}
	pAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	uAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	t := &target{addr: pAddr, uiAddr: uAddr, token: hex.EncodeToString(tok), data: s.data, done: make(chan struct{}), logTxt: &bytes.Buffer{}}

	args := append([]string{s.bin, "-proxy", pAddr, "-ui", uAddr, "-data", s.data, "-insecure-upstream"}, s.args...)
	args = append(args, s.scenarioArgs...)
	if err := t.launch(args, []string{"LOUPE_TOKEN=" + t.token, "LOUPE_DATA=" + s.data}, s.pin); err != nil {
		return nil, fmt.Errorf("start loupe: %w", err)
	}

	if err := waitListening(ctx, t, 20*time.Second); err != nil {
		s.stop(t)
		return nil, fmt.Errorf("loupe did not start: %w\n%s", err, t.logTxt.String())
	}
	ca, err := os.ReadFile(filepath.Join(s.data, "ca.pem"))
	if err != nil {
		s.stop(t)
		return nil, fmt.Errorf("read loupe's CA: %w", err)
	}
	t.caPEM = ca
	return t, nil
}

func (s *spawner) stop(t *target) { t.terminate() }

// launch starts the proxy process args (with env added to the bench's
// environment) for t, on CPU 0 when pin is set and taskset is there; its
// output goes to t.logTxt and t.done closes when it exits. Not
// CommandContext: terminate stops it with SIGTERM, then waits.
func (t *target) launch(args, env []string, pin bool) error {
	if ts, err := exec.LookPath("taskset"); err == nil && pin && runtime.NumCPU() >= 2 {
		args = append([]string{ts, "-c", "0"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = &limitedWriter{buf: t.logTxt, max: 64 << 10}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	t.cmd, t.pid = cmd, cmd.Process.Pid
	go func() { cmd.Wait(); close(t.done) }()
	return nil
}

// terminate stops a proxy process the bench started: SIGTERM, then SIGKILL
// after 10 s.
func (t *target) terminate() {
	if t == nil || t.cmd == nil {
		return
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
		t.cmd.Process.Kill()
		<-t.done
	}
}

// external is a proxy someone else runs. Rules go through its dashboard
// (PUT /api/rules), and its own rules are put back afterwards.
type external struct {
	cfg   config
	t     *target
	saved []byte // the rules to restore, nil if untouched
}

func (e *external) describe() string {
	d := "external proxy at " + e.cfg.proxyAddr
	if e.cfg.proxyPID == 0 {
		d += " (no -proxy-pid: no memory/fd figures)"
	}
	if e.cfg.proxyCA == "" {
		d += " (no -proxy-ca: HTTPS through it is not verified)"
	}
	return d
}

func (e *external) fresh() bool { return false }

func (e *external) start(ctx context.Context, rulesJSON []byte) (*target, error) {
	if e.t == nil {
		t := &target{addr: e.cfg.proxyAddr, uiAddr: e.cfg.uiAddr, token: e.cfg.token, pid: e.cfg.proxyPID}
		if e.cfg.proxyCA != "" {
			ca, err := os.ReadFile(e.cfg.proxyCA)
			if err != nil {
				return nil, fmt.Errorf("read -proxy-ca: %w", err)
			}
			t.caPEM = ca
		}
		if err := waitListening(ctx, t, 5*time.Second); err != nil {
			return nil, fmt.Errorf("proxy %s: %w", t.addr, err)
		}
		e.t = t
	}
	if rulesJSON != nil {
		if e.t.uiAddr == "" {
			return nil, fmt.Errorf("%w: rules need the dashboard of the external proxy (-ui-addr, -token)", errSkip)
		}
		saved, err := e.t.uiGet("/api/rules", 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errSkip, err)
		}
		if err := e.t.uiPut("/api/rules", rulesJSON); err != nil {
			return nil, fmt.Errorf("%w: PUT /api/rules: %v", errSkip, err)
		}
		e.saved = saved
	}
	return e.t, nil
}

func (e *external) stop(t *target) {
	if e.saved != nil {
		if err := t.uiPut("/api/rules", e.saved); err != nil {
			fmt.Fprintf(os.Stderr, "bench: could not restore the proxy's rules: %v\n", err)
		}
		e.saved = nil
	}
}

// waitListening polls until the proxy accepts connections.
func waitListening(ctx context.Context, t *target, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", t.addr, time.Second)
		if err == nil {
			c.Close()
			if t.uiAddr == "" || t.cmd == nil {
				return nil
			}
			if c, err := net.DialTimeout("tcp", t.uiAddr, time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		if t.done != nil {
			select {
			case <-t.done:
				return fmt.Errorf("process exited")
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %s", t.addr, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// limitedWriter keeps the first max bytes of a process's output.
type limitedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
