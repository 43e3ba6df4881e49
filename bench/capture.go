package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The recording-cost scenarios (k, l) run the same load through Loupe with
// the durable capture (the default), with the memory store (-ephemeral) and
// with recording paused, each in a fresh process on an empty capture, and
// compare the proxy CPU each needed per request. Scenario m records a
// million small flows and restarts on them.

// captureMode is one way of running Loupe in those scenarios.
type captureMode struct {
	name string
	id   string // names its profiles (-pprof)
	args []string
}

var (
	modeDurable = captureMode{"durable capture", "durable", nil}
	modeMemory  = captureMode{"memory store (-ephemeral)", "memory", []string{"-ephemeral"}}
	modePaused  = captureMode{"capture paused", "paused", []string{"-capture-paused"}}
)

// recording is what one recorded run measured.
type recording struct {
	load stats
	// cpuLoad is the proxy's CPU during the load; cpuAll adds what it
	// spent after, until it was idle again (the durable capture's writer
	// and text index catching up).
	cpuLoad, cpuAll sched
	settle          time.Duration // from the end of the load to idle
	state           captureState
	peakRSS         int64
	diskBytes       int64 // everything under the capture directory
}

// perRequest is the proxy CPU per request of the whole run, in µs.
func (r recording) perRequest() float64 {
	if r.load.Requests == 0 {
		return 0
	}
	return float64(r.cpuAll.run.Microseconds()) / float64(r.load.Requests)
}

// captureState is the part of GET /api/state the scenarios read.
type captureState struct {
	Flows int `json:"flows"`
	Stats struct {
		Dropped   uint64 `json:"dropped"`
		Truncated uint64 `json:"truncated"`
		// TruncatedBytes are the body bytes counted but not stored.
		TruncatedBytes uint64 `json:"truncatedBytes"`
		Evicted        uint64 `json:"evicted"`
		Skipped        uint64 `json:"skipped"`
	} `json:"stats"`
}

func (t *target) captureState() (captureState, error) {
	var st captureState
	data, err := t.uiGet("/api/state", 10*time.Second)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(data, &st)
}

// captureDir is where the spawned Loupe keeps its durable capture.
func (s *spawner) captureDir() string { return filepath.Join(s.data, "capture") }

// recordRun starts a fresh Loupe in mode on an empty capture, runs spec
// through it, waits until the proxy is idle again and measures.
func (b *bench) recordRun(ctx context.Context, mode captureMode, spec loadSpec, path string) (recording, error) {
	var rec recording
	sp, ok := b.launch.(*spawner)
	if !ok {
		return rec, fmt.Errorf("%w: needs a Loupe the bench starts (not -proxy-addr)", errSkip)
	}
	if err := os.RemoveAll(sp.captureDir()); err != nil {
		return rec, err
	}
	sp.scenarioArgs = mode.args
	defer func() { sp.scenarioArgs = nil }()
	err := b.withProxy(ctx, nil, func(t *target) error {
		spec.newClient = func() *http.Client { return clientFor(t.proxyURL(), nil, 30*time.Second) }
		spec.url = b.org.plain.urls(path)
		cpu0, ok0 := readSched(t.pid)
		var prof *profiler
		if b.cfg.pprofOut != "" && spec.count == nil {
			prof = b.startProfile(t, mode.id)
		}
		rec.load = runLoad(ctx, spec)
		cpu1, ok1 := readSched(t.pid)
		end := time.Now()
		if prof != nil {
			fmt.Fprintln(b.stderr, "bench:", prof.finish())
			prof = b.startProfile(t, mode.id+"-after")
		}
		cpu2, ok2 := waitIdle(ctx, t.pid, cpu1, 10*time.Minute)
		if prof != nil {
			fmt.Fprintln(b.stderr, "bench:", prof.finish())
		}
		if !ok0 || !ok1 || !ok2 {
			return errors.New("could not read the proxy's CPU time from /proc")
		}
		rec.settle = time.Since(end)
		rec.cpuLoad, rec.cpuAll = cpu1.sub(cpu0), cpu2.sub(cpu0)
		var err error
		if rec.state, err = t.captureState(); err != nil {
			return err
		}
		ps, err := t.proc()
		if err != nil {
			return err
		}
		rec.peakRSS = ps.HWM
		rec.diskBytes = dirBytes(sp.captureDir())
		return nil
	})
	if err == nil && rec.load.Requests == 0 {
		err = fmt.Errorf("no request through the proxy succeeded: %v", rec.load.FirstErr)
	}
	return rec, err
}

// waitIdle waits until the process used less than 2% of a CPU over a whole
// second, and returns its CPU time then.
func waitIdle(ctx context.Context, pid int, from sched, limit time.Duration) (sched, bool) {
	deadline := time.Now().Add(limit)
	last := from
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ctxSleep(ctx, time.Second)
		now, ok := readSched(pid)
		if !ok {
			return last, false
		}
		if now.run-last.run < 20*time.Millisecond {
			return now, true
		}
		last = now
	}
	return last, true
}

// dirBytes adds up the sizes of the files below dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// urls gives a load's URL function for path on o, numbered per request so
// that no two recorded URLs are the same.
func (o *origin) urls(path string) func(w, i int) string {
	base := o.url(path)
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return func(w, i int) string { return base + sep + "w=" + strconv.Itoa(w) + "&i=" + strconv.Itoa(i) }
}

// compareModes runs the load once per mode per round (alternating, so that
// a change in the machine's load weighs on all) and returns each mode's
// runs merged.
func (b *bench) compareModes(ctx context.Context, id string, modes []captureMode, rounds int, spec loadSpec, path string) (map[string]recording, error) {
	out := map[string]recording{}
	for round := range rounds {
		for _, m := range modes {
			fmt.Fprintf(b.stderr, "bench: %s) %s, round %d ...\n", id, m.name, round+1)
			rec, err := b.recordRun(ctx, m, spec, path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.name, err)
			}
			if prev, ok := out[m.name]; ok {
				prev.load = prev.load.merge(rec.load, false)
				prev.cpuLoad = prev.cpuLoad.add(rec.cpuLoad)
				prev.cpuAll = prev.cpuAll.add(rec.cpuAll)
				prev.settle = max(prev.settle, rec.settle)
				prev.peakRSS = max(prev.peakRSS, rec.peakRSS)
				prev.state.Flows += rec.state.Flows
				prev.state.Stats.Dropped += rec.state.Stats.Dropped
				prev.state.Stats.Truncated += rec.state.Stats.Truncated
				prev.state.Stats.TruncatedBytes += rec.state.Stats.TruncatedBytes
				rec = prev
			}
			out[m.name] = rec
		}
	}
	return out, nil
}

// costRow compares the CPU per request of two modes: target is the highest
// acceptable ratio of with to base.
func costRow(id, name string, base, with recording, target float64) row {
	b, w := base.perRequest(), with.perRequest()
	r := row{id: id, name: name, direct: fmt.Sprintf("%.0f µs", b), proxied: fmt.Sprintf("%.0f µs", w),
		target: fmt.Sprintf("<= %.2f", target)}
	if b > 0 {
		r.ratio = fmt.Sprintf("%.2f", w/b)
		r.status = passIf(w/b <= target)
	} else {
		r.status = statusFail
	}
	return r
}

// recordedNote says how much of the load a run recorded, and what the
// proxy spent after the load.
func recordedNote(rec recording) string {
	return fmt.Sprintf("%d requests, %d flows kept, %d dropped, %d bodies truncated (%s not stored); %.0f µs per request during the load, idle %.1f s after it; %.1f page faults per request",
		rec.load.Requests, rec.state.Flows, rec.state.Stats.Dropped, rec.state.Stats.Truncated, fmtMB(int64(rec.state.Stats.TruncatedBytes)),
		float64(rec.cpuLoad.run.Microseconds())/float64(max(rec.load.Requests, 1)), rec.settle.Seconds(),
		float64(rec.cpuAll.faults)/float64(max(rec.load.Requests, 1)))
}

// k) proxy CPU per small request: durable capture against memory store.
func (b *bench) recordSmall(ctx context.Context) error {
	spec := loadSpec{clients: 50, duration: b.cfg.duration}
	res, err := b.compareModes(ctx, "k", []captureMode{modeMemory, modeDurable, modePaused}, 2, spec, "/small")
	if err != nil {
		return err
	}
	mem, dur, paused := res[modeMemory.name], res[modeDurable.name], res[modePaused.name]
	r := costRow("k", "small GET, 50 clients: proxy CPU per request, memory store → durable capture", mem, dur, 1.10)
	r.note = "CPU until the proxy is idle again (writer and text index included)"
	b.add(r)
	b.add(row{id: "k", name: "  durable capture", status: statusInfo, note: recordedNote(dur)})
	b.add(row{id: "k", name: "  memory store", status: statusInfo, note: recordedNote(mem)})
	b.add(infoRow("k", "  capture paused: proxy CPU per request", "", fmt.Sprintf("%.0f µs", paused.perRequest())))
	b.add(infoRow("k", "  peak RSS: memory store / durable capture", fmtMB(mem.peakRSS), fmtMB(dur.peakRSS)))
	if dur.state.Stats.Dropped > 0 {
		b.add(row{id: "k", name: "  durable capture dropped flows", status: statusFail,
			note: fmt.Sprintf("%d flows not recorded: the writer could not keep up", dur.state.Stats.Dropped)})
	}
	return nil
}

// l) recording 1 MB responses: proxy CPU against capture paused, and the
// proxy's peak RSS.
func (b *bench) recordMegabyte(ctx context.Context) error {
	spec := loadSpec{clients: 8, duration: b.cfg.duration}
	res, err := b.compareModes(ctx, "l", []captureMode{modePaused, modeMemory, modeDurable}, 2, spec, "/mb")
	if err != nil {
		return err
	}
	mem, dur, paused := res[modeMemory.name], res[modeDurable.name], res[modePaused.name]
	r := costRow("l", "1 MB responses, 8 clients: proxy CPU per response, capture paused → durable capture", paused, dur, 1.52)
	r.note = "recording cost = ratio − 1; CPU until the proxy is idle again"
	b.add(r)
	b.add(costRow("l", "  capture paused → memory store", paused, mem, 1.52))
	b.add(row{id: "l", name: "  durable capture: peak RSS", proxied: fmtMB(dur.peakRSS), target: "< 150 MB",
		status: passIf(dur.peakRSS > 0 && dur.peakRSS < 150<<20), note: recordedNote(dur)})
	b.add(row{id: "l", name: "  memory store: peak RSS", proxied: fmtMB(mem.peakRSS), status: statusInfo, note: recordedNote(mem)})
	b.add(infoRow("l", "  capture paused: peak RSS", "", fmtMB(paused.peakRSS)))
	return nil
}

// m) a million small flows (1 KB bodies) recorded through the proxy, then a
// restart on them.
func (b *bench) million(ctx context.Context) error {
	sp, ok := b.launch.(*spawner)
	if !ok {
		return fmt.Errorf("%w: needs a Loupe the bench starts (not -proxy-addr)", errSkip)
	}
	n := b.cfg.millionFlows
	var sent atomic.Int64
	spec := loadSpec{clients: 16, duration: b.cfg.timeout, count: &sent, limit: int64(n)}
	rec, err := b.recordRun(ctx, modeDurable, spec, "/kb")
	if err != nil {
		return err
	}
	perFlow := float64(rec.diskBytes) / float64(max(rec.state.Flows, 1))
	b.add(row{id: "m", name: fmt.Sprintf("%d small flows (1 KB bodies) through the proxy: peak RSS", n),
		proxied: fmtMB(rec.peakRSS), target: "< 200 MB", status: passIf(rec.peakRSS > 0 && rec.peakRSS < 200<<20),
		note: fmt.Sprintf("%s; %.0f requests/s", recordedNote(rec), rec.load.RPS())})
	kept := rec.state.Flows >= n*99/100
	b.add(row{id: "m", name: "  flows kept / requests", proxied: fmt.Sprintf("%d / %d", rec.state.Flows, rec.load.Requests),
		target: ">= 99%", status: passIf(kept)})
	b.add(infoRow("m", "  capture on disk, per flow", "", fmt.Sprintf("%.0f B (%s in all)", perFlow, fmtMB(rec.diskBytes))))
	b.add(infoRow("m", "  proxy CPU per request (writer and text index included)", "", fmt.Sprintf("%.0f µs", rec.perRequest())))

	// Restart on the same capture: how long until the dashboard answers
	// its first requests (the page, the state, the first page of flows).
	sp.scenarioArgs = nil
	start := time.Now()
	t, err := sp.start(ctx, nil)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	defer sp.stop(t)
	listening := time.Since(start)
	var steps []string
	for _, p := range []string{"/", "/api/state", "/api/flows?limit=500", "/api/sessions"} {
		if err := pollOK(ctx, t, p, 30*time.Second); err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		steps = append(steps, fmt.Sprintf("%s %s", p, fmtDur(time.Since(start))))
	}
	usable := time.Since(start)
	st, _ := t.captureState()
	b.add(row{id: "m", name: fmt.Sprintf("  restart with %d flows: dashboard usable after", st.Flows), proxied: fmtDur(usable),
		target: "< 3 s", status: passIf(usable < 3*time.Second),
		note: fmt.Sprintf("listening after %s; answered: %s", fmtDur(listening), strings.Join(steps, ", "))})
	return nil
}

// pollOK asks the dashboard for path until it answers 200.
func pollOK(ctx context.Context, t *target, path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := t.uiGet(path, limit)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		ctxSleep(ctx, 5*time.Millisecond)
	}
}
