package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"loupe/rules"
)

// bench runs the scenarios of one mode and collects their rows.
type bench struct {
	cfg    config
	org    *origins
	launch launcher
	loaded bool // 100 non-matching rules and a websocket reader
	stderr io.Writer
	rows   []row
	notes  []string // printed once under the table
}

// note records a remark about the whole run, once.
func (b *bench) note(s string) {
	if !slices.Contains(b.notes, s) {
		b.notes = append(b.notes, s)
	}
}

type scenario struct {
	id, name string
	run      func(context.Context) error
}

func (b *bench) runAll(ctx context.Context) {
	all := []scenario{
		{"a", "small GET, plain HTTP, 50 clients", b.smallGET},
		{"b", "1 MB responses, 8 clients", b.megabyte},
		{"c", "small GET, HTTPS via CONNECT + MITM, 50 clients", b.https},
		{"d", "streaming first byte", b.streaming},
		{"e", "one big download", b.bigDownload},
		{"f", "idle keep-alive client connections", b.idleConns},
		{"g", "requests held in flight", b.inFlight},
		{"h", "full-body override of a streaming origin", b.override},
		{"i", "live feed delay on /api/ws", b.liveFeed},
		{"j", "requests held at a breakpoint", b.held},
		{"k", "recording cost of small requests: durable capture against memory store", b.recordSmall},
		{"l", "recording cost of 1 MB responses, peak RSS", b.recordMegabyte},
		{"m", "a million small flows recorded, then a restart", b.million},
	}
	for _, sc := range all {
		if !strings.Contains(b.cfg.scenarios, sc.id) {
			continue
		}
		if b.cfg.reference && !strings.Contains(referenceScenarios, sc.id) {
			continue
		}
		if ctx.Err() != nil {
			b.add(row{id: sc.id, name: sc.name, status: statusSkip, note: "skipped: time bound reached"})
			continue
		}
		fmt.Fprintf(b.stderr, "bench: %s) %s ...\n", sc.id, sc.name)
		if err := sc.run(ctx); err != nil {
			st := statusFail
			if errors.Is(err, errSkip) {
				st = statusSkip
			}
			b.add(row{id: sc.id, name: sc.name, status: st, note: err.Error()})
		}
	}
}

// withProxy starts a proxy for one scenario (with the mode's rules plus
// extra), attaches the mode's websocket reader, runs fn and stops the proxy.
func (b *bench) withProxy(ctx context.Context, extra []rules.Rule, fn func(*target) error) error {
	var rs []rules.Rule
	if b.loaded {
		rs = nonMatchingRules(100)
	}
	rs = append(rs, extra...)
	var rulesJSON []byte
	if len(rs) > 0 {
		var err error
		if rulesJSON, err = json.MarshalIndent(rs, "", "  "); err != nil {
			return err
		}
	}
	t, err := b.launch.start(ctx, rulesJSON)
	if err != nil {
		return err
	}
	defer b.launch.stop(t)
	if t.done != nil {
		defer func() {
			select {
			case <-t.done:
				b.add(row{id: "-", name: "proxy process", status: statusFail, note: "the proxy exited during the scenario: " + t.logTxt.String()})
			default:
			}
		}()
	}
	if err := checkRules(t, len(rs)); errors.Is(err, errSkip) {
		b.note("rules.json was written but not checked: " + strings.TrimPrefix(err.Error(), "skipped: "))
	} else if err != nil {
		return err
	}
	if b.loaded {
		ws, err := dialFeed(ctx, t, nil)
		switch {
		case errors.Is(err, errSkip):
			b.note("loaded mode runs without its websocket reader: " + strings.TrimPrefix(err.Error(), "skipped: "))
		case err != nil:
			return err
		default:
			defer func() {
				if err := ws.close(); err != nil {
					b.add(row{id: "-", name: "loaded mode websocket reader", status: statusFail,
						note: fmt.Sprintf("dropped by the server after %d messages: %v", ws.messages.Load(), err)})
				}
			}()
		}
	}
	return fn(t)
}

// checkRules makes sure the proxy loaded the rules the bench wrote.
func checkRules(t *target, want int) error {
	if want == 0 || t.uiAddr == "" {
		return nil // an external proxy without a dashboard: trust the user
	}
	data, err := t.uiGet("/api/rules", 5*time.Second)
	if err != nil {
		return fmt.Errorf("%w: %v", errSkip, err)
	}
	var got []json.RawMessage
	if err := json.Unmarshal(data, &got); err != nil {
		return fmt.Errorf("GET /api/rules: %w", err)
	}
	if len(got) != want {
		return fmt.Errorf("the proxy holds %d rules, the bench wrote %d", len(got), want)
	}
	return nil
}

// nonMatchingRules are n enabled rules of varied shapes that match none of
// the bench's requests: the cost of rules that must be checked and rejected.
func nonMatchingRules(n int) []rules.Rule {
	rs := make([]rules.Rule, n)
	for i := range rs {
		r := rules.Rule{ID: fmt.Sprintf("bench-nomatch-%03d", i), Name: "bench: matches nothing", Enabled: true,
			Actions: []rules.Action{{Type: rules.TypeSetResponseHeaders, Headers: map[string]string{"X-Bench": strconv.Itoa(i)}}}}
		switch i % 4 {
		case 0:
			r.Match.Host = fmt.Sprintf("api%d.nomatch.example", i)
		case 1:
			r.Match.Host = fmt.Sprintf("*.nomatch%d.example", i)
			r.Match.Path = "/v1/*"
		case 2:
			r.Match.Path = fmt.Sprintf("/nomatch/%d/*", i)
		case 3:
			r.Match.URL = fmt.Sprintf(`^https?://[^/]*nomatch%d\.example/`, i)
		}
		rs[i] = r
	}
	return rs
}

func fixedURL(u string) func(int, int) string { return func(int, int) string { return u } }

// compareLoad runs the same load directly and through the proxy. Runs of
// 4 s or more alternate in two halves (direct, proxied, direct, proxied) so
// that a change in the machine's load mid-run weighs on both sides. before,
// if set, runs ahead of the first proxied half (to start a profile).
func (b *bench) compareLoad(ctx context.Context, t *target, clients int, org *origin, path string, roots func(*target) *x509.CertPool, before func()) (direct, via stats) {
	u := org.url(path)
	measured := func(pid int, d time.Duration, newClient func() *http.Client) stats {
		conns0 := org.accepted.Load()
		self0, ok0 := readSched(os.Getpid())
		proxy0, ok1 := readSched(pid)
		st := runLoad(ctx, loadSpec{clients: clients, duration: d, url: fixedURL(u), newClient: newClient})
		self1, ok2 := readSched(os.Getpid())
		proxy1, ok3 := readSched(pid)
		st.self, st.haveSelf = self1.sub(self0), ok0 && ok2
		st.proxy, st.haveProxy = proxy1.sub(proxy0), pid != 0 && ok1 && ok3
		st.originConns = org.accepted.Load() - conns0
		return st
	}
	rounds := 1
	if b.cfg.duration >= 4*time.Second {
		rounds = 2
	}
	d := b.cfg.duration / time.Duration(rounds)
	for i := range rounds {
		direct = direct.merge(measured(0, d, func() *http.Client { return clientFor(nil, roots(nil), 30*time.Second) }), i == 0)
		if i == 0 && before != nil {
			before()
		}
		via = via.merge(measured(t.pid, d, func() *http.Client { return clientFor(t.proxyURL(), roots(t), 30*time.Second) }), i == 0)
	}
	return direct, via
}

// cpuRow shows how much CPU the bench and the proxy got during a run, and
// how long they waited for one: on a shared machine, the context of a ratio.
func cpuRow(id string, direct, via stats) row {
	show := func(st stats) string {
		var parts []string
		if st.haveSelf {
			parts = append(parts, "bench "+st.self.String())
		}
		if st.haveProxy {
			parts = append(parts, "proxy "+st.proxy.String())
		}
		return strings.Join(parts, "; ")
	}
	r := infoRow(id, "  CPU during the run", show(direct), show(via))
	// More origin connections than clients means the proxy's pool reconnects.
	r.note = fmt.Sprintf("origin connections opened: %d direct, %d proxied", direct.originConns, via.originConns)
	if via.haveProxy && via.Requests > 0 {
		// CPU per request does not depend on how busy the machine is.
		r.note += fmt.Sprintf("; proxy CPU per request %.0f µs", float64(via.proxy.run.Microseconds())/float64(via.Requests))
		if direct.haveSelf && via.haveSelf && direct.Requests > 0 {
			r.note += fmt.Sprintf("; bench (client + origin) %.0f µs direct, %.0f µs proxied",
				float64(direct.self.run.Microseconds())/float64(direct.Requests), float64(via.self.run.Microseconds())/float64(via.Requests))
		}
	}
	return r
}

func noRoots(*target) *x509.CertPool { return nil }

// loadErrors turns failed requests into a note and a failure.
func loadErrors(direct, via stats) (string, bool) {
	switch {
	case direct.Requests == 0:
		return fmt.Sprintf("no direct request succeeded: %v", direct.FirstErr), false
	case via.Requests == 0:
		return fmt.Sprintf("no request through the proxy succeeded: %v", via.FirstErr), false
	case via.Errors > 0 || direct.Errors > 0:
		return fmt.Sprintf("errors: direct %d, proxied %d (first: %v)", direct.Errors, via.Errors, firstNonNil(via.FirstErr, direct.FirstErr)), false
	}
	return "", true
}

func firstNonNil(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// a) small GET, plain HTTP.
func (b *bench) smallGET(ctx context.Context) error {
	return b.withProxy(ctx, nil, func(t *target) error {
		before, finish := b.profileHooks(t, "a")
		direct, via := b.compareLoad(ctx, t, 50, b.org.plain, "/small", noRoots, before)
		note, ok := loadErrors(direct, via)
		note = finish(note)
		b.add(ratioRow("a", "small GET (200 B), plain HTTP, 50 clients: req/s", direct.RPS(), via.RPS(), 0.85, fmtRate, ok, note))
		b.add(infoRow("a", "  latency p50 / p99", fmtP(direct), fmtP(via)))
		b.add(cpuRow("a", direct, via))
		b.add(b.rssRow("a", t))
		return nil
	})
}

// b) 1 MB responses.
func (b *bench) megabyte(ctx context.Context) error {
	return b.withProxy(ctx, nil, func(t *target) error {
		direct, via := b.compareLoad(ctx, t, 8, b.org.plain, "/mb", noRoots, nil)
		note, ok := loadErrors(direct, via)
		b.add(ratioRow("b", "1 MB responses, 8 clients: MB/s", direct.MBps(), via.MBps(), 0.80, fmtMBps, ok, note))
		b.add(infoRow("b", "  req/s", fmtRate(direct.RPS()), fmtRate(via.RPS())))
		b.add(cpuRow("b", direct, via))
		b.add(b.rssRow("b", t))
		return nil
	})
}

// c) small GET over HTTPS through CONNECT and MITM.
func (b *bench) https(ctx context.Context) error {
	return b.withProxy(ctx, nil, func(t *target) error {
		var proxyRoots *x509.CertPool
		if t.caPEM != nil {
			proxyRoots = x509.NewCertPool()
			if !proxyRoots.AppendCertsFromPEM(t.caPEM) {
				return errors.New("the proxy's ca.pem holds no certificate")
			}
		}
		roots := func(t *target) *x509.CertPool {
			if t == nil {
				return b.org.certPool
			}
			return proxyRoots
		}
		before, finish := b.profileHooks(t, "c")
		direct, via := b.compareLoad(ctx, t, 50, b.org.tls, "/small", roots, before)
		note, ok := loadErrors(direct, via)
		note = finish(note)
		b.add(ratioRow("c", "small GET, HTTPS (CONNECT + MITM), 50 clients: req/s", direct.RPS(), via.RPS(), 0.75, fmtRate, ok, note))
		b.add(infoRow("c", "  latency p50 / p99", fmtP(direct), fmtP(via)))
		b.add(cpuRow("c", direct, via))
		b.add(b.rssRow("c", t))
		return nil
	})
}

// d) time to first byte of a chunked stream and of server-sent events.
func (b *bench) streaming(ctx context.Context) error {
	streamURL := b.org.plain.url("/stream?chunks=" + strconv.Itoa(b.cfg.streamChunks))
	sseURL := b.org.plain.url("/sse?events=10")
	measure := func(c *http.Client, u string) (first, whole []time.Duration, err error) {
		defer c.CloseIdleConnections()
		for i := -1; i < b.cfg.streamIters; i++ { // i = -1 warms the connection up
			f, w, err := firstByte(ctx, c, u)
			if err != nil {
				return nil, nil, err
			}
			if i >= 0 {
				first, whole = append(first, f), append(whole, w)
			}
		}
		slices.Sort(first)
		slices.Sort(whole)
		return first, whole, nil
	}
	type result struct{ first, whole []time.Duration }
	var direct [2]result
	for k, u := range []string{streamURL, sseURL} {
		f, w, err := measure(clientFor(nil, nil, 30*time.Second), u)
		if err != nil {
			return fmt.Errorf("direct %s: %w", u, err)
		}
		direct[k] = result{f, w}
	}
	return b.withProxy(ctx, nil, func(t *target) error {
		for k, u := range []string{streamURL, sseURL} {
			name := fmt.Sprintf("chunked stream (100 KB / 20 ms, %d chunks)", b.cfg.streamChunks)
			if k == 1 {
				name = "SSE (10 events / 20 ms)"
			}
			f, w, err := measure(clientFor(t.proxyURL(), nil, 30*time.Second), u)
			if err != nil {
				b.add(row{id: "d", name: name + ": first byte", status: statusFail, note: err.Error()})
				continue
			}
			d50, v50 := percentile(direct[k].first, 50), percentile(f, 50)
			delta := v50 - d50
			b.add(row{id: "d", name: name + ": first byte p50",
				direct: fmtDur(d50), proxied: fmtDur(v50), ratio: fmtDelta(delta), target: "<= +5 ms",
				status: passIf(delta <= 5*time.Millisecond),
				note:   fmt.Sprintf("p99 %s vs %s, %d runs", fmtDur(percentile(direct[k].first, 99)), fmtDur(percentile(f, 99)), len(f))})
			b.add(infoRow("d", "  whole stream p50", fmtDur(percentile(direct[k].whole, 50)), fmtDur(percentile(w, 50))))
		}
		return nil
	})
}

// firstByte returns the time to the first body byte and to the end of the body.
func firstByte(ctx context.Context, c *http.Client, u string) (first, whole time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("status %s", resp.Status)
	}
	buf := make([]byte, 64<<10)
	for first == 0 {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			first = time.Since(t0)
		}
		if err != nil {
			if first == 0 {
				return 0, 0, fmt.Errorf("no body: %w", err)
			}
			break
		}
	}
	if _, err := io.CopyBuffer(io.Discard, resp.Body, buf); err != nil {
		return 0, 0, err
	}
	return first, time.Since(t0), nil
}

// e) one big download: throughput and the proxy's peak memory.
func (b *bench) bigDownload(ctx context.Context) error {
	u := b.org.plain.url("/big?size=" + strconv.FormatInt(b.cfg.bigSize, 10))
	timeout := 5 * time.Minute
	download := func(c *http.Client) (float64, error) {
		defer c.CloseIdleConnections()
		t0 := time.Now()
		n, err := get(ctx, c, u)
		if err != nil {
			return 0, err
		}
		if n != b.cfg.bigSize {
			return 0, fmt.Errorf("got %d bytes, want %d", n, b.cfg.bigSize)
		}
		return float64(n) / 1e6 / time.Since(t0).Seconds(), nil
	}
	direct, err := download(clientFor(nil, nil, timeout))
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	return b.withProxy(ctx, nil, func(t *target) error {
		via, err := download(clientFor(t.proxyURL(), nil, timeout))
		name := fmt.Sprintf("one %d MiB download: MB/s", b.cfg.bigSize>>20)
		if err != nil {
			b.add(row{id: "e", name: name, status: statusFail, note: err.Error()})
			return nil
		}
		b.add(ratioRow("e", name, direct, via, 0.95, fmtMBps, true, ""))
		ps, err := t.proc()
		if err != nil {
			b.add(row{id: "e", name: "  proxy peak RSS (VmHWM)", status: statusSkip, note: "skipped: " + err.Error()})
			return nil
		}
		note := ""
		if !b.launch.fresh() {
			note = "peak over the proxy's whole life, not this scenario alone"
		}
		b.add(row{id: "e", name: "  proxy peak RSS (VmHWM)", proxied: fmtMB(ps.HWM), target: "< 64 MB",
			status: passIf(ps.HWM < 64<<20), note: note})
		return nil
	})
}

// proxyConn is one raw client connection to the proxy, for scenarios that
// hold many of them.
type proxyConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialProxy(ctx context.Context, t *target) (*proxyConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	return &proxyConn{c: c, br: bufio.NewReader(c)}, nil
}

// get sends one absolute-form GET on the connection, keeping it alive, and
// reads the whole answer.
func (p *proxyConn) get(u string, timeout time.Duration) error {
	p.c.SetDeadline(time.Now().Add(timeout))
	defer p.c.SetDeadline(time.Time{})
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if err := req.WriteProxy(p.c); err != nil {
		return err
	}
	resp, err := http.ReadResponse(p.br, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// baseline lets the proxy settle and reads its figures.
func (b *bench) baseline(ctx context.Context, t *target) (procStats, error) {
	if _, err := t.proc(); err != nil {
		return procStats{}, fmt.Errorf("%w: %v", errSkip, err)
	}
	c := clientFor(t.proxyURL(), nil, 10*time.Second)
	for range 3 {
		if _, err := get(ctx, c, b.org.plain.url("/small")); err != nil {
			return procStats{}, fmt.Errorf("warm-up request: %w", err)
		}
	}
	c.CloseIdleConnections()
	ctxSleep(ctx, 500*time.Millisecond)
	return t.proc()
}

// f) idle keep-alive connections held open.
func (b *bench) idleConns(ctx context.Context) error {
	return b.withProxy(ctx, nil, func(t *target) error {
		base, err := b.baseline(ctx, t)
		if err != nil {
			return err
		}
		n := b.cfg.conns
		conns := make([]*proxyConn, n)
		var failed atomic.Int64
		var firstErr atomic.Value
		sem := make(chan struct{}, 50)
		var wg sync.WaitGroup
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				pc, err := dialProxy(ctx, t)
				if err == nil {
					if err = pc.get(b.org.plain.url("/small"), 10*time.Second); err != nil {
						pc.c.Close()
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				conns[i] = pc
			})
		}
		wg.Wait()
		defer func() {
			for _, pc := range conns {
				if pc != nil {
					pc.c.Close()
				}
			}
		}()
		ctxSleep(ctx, time.Second)
		held, err := t.proc()
		if err != nil {
			return err
		}
		ok := int64(n) - failed.Load()
		note := fmt.Sprintf("RSS %s -> %s, fds %d -> %d, threads %d -> %d", fmtMB(base.RSS), fmtMB(held.RSS), base.FDs, held.FDs, base.Threads, held.Threads)
		if failed.Load() > 0 {
			note += fmt.Sprintf("; %d connections failed (%v)", failed.Load(), firstErr.Load())
		}
		if ok == 0 {
			return errors.New(note)
		}
		per := float64(held.RSS-base.RSS) / float64(ok)
		b.add(row{id: "f", name: fmt.Sprintf("%d idle keep-alive client conns: RSS per conn", n), proxied: fmtKB(per),
			target: "<= 25 KB", status: passIf(per <= 25<<10 && failed.Load() == 0), note: note})
		return nil
	})
}

// g) requests held in flight by a slow origin.
func (b *bench) inFlight(ctx context.Context) error {
	return b.withProxy(ctx, nil, func(t *target) error {
		base, err := b.baseline(ctx, t)
		if err != nil {
			return err
		}
		n := b.cfg.conns
		u := b.org.plain.url("/slow?ms=3000")
		var failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				pc, err := dialProxy(ctx, t)
				if err == nil {
					err = pc.get(u, 20*time.Second)
					pc.c.Close()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			})
		}
		allDone := make(chan struct{})
		go func() { wg.Wait(); close(allDone) }()
		// Sample until every answer is back; keep the highest figures.
		var peak procStats
		var maxInflight int64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
	sample:
		for {
			maxInflight = max(maxInflight, b.org.plain.slowInflight.Load())
			if ps, err := t.proc(); err == nil && ps.RSS > peak.RSS {
				peak = ps
			}
			select {
			case <-allDone:
				break sample
			case <-tick.C:
			}
		}
		note := fmt.Sprintf("origin saw %d of %d in flight; RSS %s -> %s, fds %d -> %d, threads %d -> %d",
			maxInflight, n, fmtMB(base.RSS), fmtMB(peak.RSS), base.FDs, peak.FDs, base.Threads, peak.Threads)
		if failed.Load() > 0 {
			note += fmt.Sprintf("; %d requests failed (%v)", failed.Load(), firstErr.Load())
		}
		per := float64(peak.RSS-base.RSS) / float64(n)
		b.add(row{id: "g", name: fmt.Sprintf("%d requests in flight (origin answers after 3 s): RSS per request", n),
			proxied: fmtKB(per), target: "<= 40 KB",
			status: passIf(per <= 40<<10 && failed.Load() == 0 && maxInflight >= int64(n)*9/10), note: note})
		return nil
	})
}

// h) a full-body override rule on a streaming origin (incident 2).
func (b *bench) override(ctx context.Context) error {
	const body = "overridden by loupe-bench\n"
	ovr := b.org.override
	chunks := b.cfg.overrideSecs * 50
	rule := rules.Rule{ID: "bench-override", Name: "bench: override the streaming origin", Enabled: true,
		Match:   rules.Match{Path: "/ovr-stream*"},
		Actions: []rules.Action{{Type: rules.TypeOverride, Status: 200, Body: new(body)}}}
	rule.Match.Host = "127.0.0.1"
	return b.withProxy(ctx, []rules.Rule{rule}, func(t *target) error {
		// Baseline with the origin's idle connections closed, like the end state.
		c := clientFor(t.proxyURL(), nil, 10*time.Second)
		if _, err := get(ctx, c, ovr.url("/small")); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		c.CloseIdleConnections()
		b.org.closeIdle() // earlier scenarios' pooled connections too (an external proxy lives on)
		ctxSleep(ctx, time.Second)
		base, baseErr := t.proc()
		baseG, haveG := t.goroutines()

		u := ovr.url("/ovr-stream?chunks=" + strconv.Itoa(chunks))
		var peakStreams atomic.Int64
		watchDone := make(chan struct{})
		watchEnded := make(chan struct{})
		go func() { // how many origin streams the proxy drains at once
			defer close(watchEnded)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				if n := ovr.streamInflight.Load(); n > peakStreams.Load() {
					peakStreams.Store(n)
				}
				select {
				case <-watchDone:
					return
				case <-tick.C:
				}
			}
		}()
		var lat []time.Duration
		var bad int
		var firstBad string
		for i := 0; i < b.cfg.overrideReqs && ctx.Err() == nil; i++ {
			t0 := time.Now()
			got, err := getBody(ctx, c, u, 1<<20)
			d := time.Since(t0)
			if err != nil || got != body {
				bad++
				if firstBad == "" {
					firstBad = fmt.Sprintf("request %d: err %v, body %.40q", i, err, got)
				}
				continue
			}
			lat = append(lat, d)
		}
		c.CloseIdleConnections()
		slices.Sort(lat)

		// The origin streams for overrideSecs; give the proxy's drain that
		// plus a margin, then count handlers still writing.
		settleBy := time.Now().Add(time.Duration(b.cfg.overrideSecs)*time.Second + 10*time.Second)
		for ovr.streamInflight.Load() > 0 && time.Now().Before(settleBy) && ctx.Err() == nil {
			ctxSleep(ctx, 100*time.Millisecond)
		}
		close(watchDone)
		<-watchEnded
		stuck := ovr.streamInflight.Load()
		active, _ := ovr.connCounts()
		b.org.closeIdle()
		ctxSleep(ctx, time.Second)
		_, idleLeft := ovr.connCounts()
		after, afterErr := t.proc()
		afterG, _ := t.goroutines()

		name := fmt.Sprintf("override, %d requests to a %d s stream: latency p99", b.cfg.overrideReqs, b.cfg.overrideSecs)
		if bad > 0 {
			b.add(row{id: "h", name: name, status: statusFail,
				note: fmt.Sprintf("%d of %d requests not overridden (is the rule applied?): %s", bad, b.cfg.overrideReqs, firstBad)})
		} else {
			p99 := percentile(lat, 99)
			b.add(row{id: "h", name: name, proxied: fmtDur(p99), target: "< 20 ms",
				status: passIf(p99 < 20*time.Millisecond),
				note: fmt.Sprintf("p50 %s, p90 %s; up to %d origin streams (%d KB/s each) still being read by the proxy at once",
					fmtDur(percentile(lat, 50)), fmtDur(percentile(lat, 90)), peakStreams.Load(), 100*50)})
		}
		b.add(row{id: "h", name: "  origin streams still open after the drain window", proxied: fmt.Sprintf("%d (%d active conns)", stuck, active),
			target: "0", status: passIf(stuck == 0 && active == 0), note: fmt.Sprintf("%d idle conns left after the origin closed idle ones", idleLeft)})
		if baseErr != nil || afterErr != nil {
			b.add(row{id: "h", name: "  proxy fds / threads back to baseline", status: statusSkip, note: "skipped: " + firstNonNil(baseErr, afterErr).Error()})
		} else {
			// A few fds may come and go (log files, the pprof endpoint's conn).
			back := after.FDs <= base.FDs+2
			b.add(row{id: "h", name: "  proxy fds, threads: before -> after", proxied: fmt.Sprintf("fds %d -> %d, threads %d -> %d", base.FDs, after.FDs, base.Threads, after.Threads),
				target: "fds back (+2)", status: passIf(back)})
		}
		if haveG {
			b.add(row{id: "h", name: "  proxy goroutines: before -> after", proxied: fmt.Sprintf("%d -> %d", baseG, afterG),
				target: "back (+5)", status: passIf(afterG <= baseG+5)})
		} else {
			b.add(row{id: "h", name: "  proxy goroutines", status: statusSkip, note: "skipped: no /debug/pprof/goroutine on the dashboard (threads and fds shown instead)"})
		}
		return nil
	})
}

// getBody fetches u and returns up to limit bytes of its body.
func getBody(ctx context.Context, c *http.Client, u string, limit int64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return string(data), err
}

// i) delay between a response finishing and its summary on the feed.
func (b *bench) liveFeed(ctx context.Context) error {
	return b.withProxy(ctx, nil, func(t *target) error {
		var mu sync.Mutex
		doneAt := make(map[string]time.Time)
		seenAt := make(map[string]time.Time)
		ws, err := dialFeed(ctx, t, func(s feedSummary, at time.Time) {
			if s.State != "done" || !strings.HasPrefix(s.Path, "/small?r=") {
				return
			}
			key := strings.TrimPrefix(s.Path, "/small?r=")
			mu.Lock()
			if _, ok := seenAt[key]; !ok {
				seenAt[key] = at
			}
			mu.Unlock()
		})
		if err != nil {
			return err
		}
		base := b.org.plain.url("/small?r=")
		via := runLoad(ctx, loadSpec{clients: 50, duration: b.cfg.duration,
			url:       func(w, i int) string { return base + strconv.Itoa(w) + "-" + strconv.Itoa(i) },
			newClient: func() *http.Client { return clientFor(t.proxyURL(), nil, 30*time.Second) },
			done: func(w, i int, at time.Time) {
				mu.Lock()
				doneAt[strconv.Itoa(w)+"-"+strconv.Itoa(i)] = at
				mu.Unlock()
			}})
		ctxSleep(ctx, time.Second) // the last batches
		dropped := ws.close()

		mu.Lock()
		defer mu.Unlock()
		var delays []time.Duration
		for k, d := range doneAt {
			if s, ok := seenAt[k]; ok {
				delays = append(delays, max(0, s.Sub(d)))
			}
		}
		slices.Sort(delays)
		note := fmt.Sprintf("%s req/s while reading the feed; %d of %d responses seen on the feed, %d messages",
			fmtRate(via.RPS()), len(delays), len(doneAt), ws.messages.Load())
		if dropped != nil {
			note += fmt.Sprintf("; the server dropped the client: %v", dropped)
		}
		if len(delays) == 0 {
			b.add(row{id: "i", name: "live feed delay", status: statusFail, note: note})
			return nil
		}
		p99 := percentile(delays, 99)
		b.add(row{id: "i", name: "live feed: response done -> summary on /api/ws, p99", proxied: fmtDur(p99), target: "< 250 ms",
			status: passIf(p99 < 250*time.Millisecond && len(delays) >= len(doneAt)*99/100 && dropped == nil),
			note:   "p50 " + fmtDur(percentile(delays, 50)) + "; " + note})
		return nil
	})
}

// profileHooks gives compareLoad's hook that starts a profile (with -pprof)
// and a function that waits for it and appends where it went to a note.
func (b *bench) profileHooks(t *target, id string) (before func(), finish func(note string) string) {
	if b.cfg.pprofOut == "" {
		return nil, func(note string) string { return note }
	}
	var prof *profiler
	before = func() { prof = b.startProfile(t, id) }
	finish = func(note string) string {
		if prof == nil {
			return note
		}
		return strings.TrimPrefix(note+"; "+prof.finish(), "; ")
	}
	return before, finish
}

// profiler fetches a CPU profile of the proxy from its dashboard.
type profiler struct {
	b    *bench
	file string
	done chan error
}

// startProfile profiles the proxy for the length of a throughput run into
// the -pprof file with the scenario's letter added (loupe.pprof -> loupe.a.pprof).
func (b *bench) startProfile(t *target, id string) *profiler {
	ext := filepath.Ext(b.cfg.pprofOut)
	file := strings.TrimSuffix(b.cfg.pprofOut, ext) + "." + id
	if b.loaded {
		file += ".loaded"
	}
	p := &profiler{b: b, file: file + ext, done: make(chan error, 1)}
	half := b.cfg.duration
	if half >= 4*time.Second {
		half /= 2 // compareLoad's halves
	}
	secs := max(1, int(half.Seconds())-1)
	go func() {
		data, err := t.uiGet(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), time.Duration(secs+30)*time.Second)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(p.file), 0o755)
		}
		if err == nil {
			err = os.WriteFile(p.file, data, 0o644)
		}
		p.done <- err
	}()
	return p
}

// finish waits for the profile and summarises it with go tool pprof.
func (p *profiler) finish() string {
	if err := <-p.done; err != nil {
		return fmt.Sprintf("profile skipped: %v", err)
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=40"}
	if s, ok := p.b.launch.(*spawner); ok {
		args = append(args, s.bin)
	}
	args = append(args, p.file)
	out, err := exec.Command("go", args...).CombinedOutput()
	txt := p.file + ".top.txt"
	if err == nil {
		err = os.WriteFile(txt, out, 0o644)
	}
	if err != nil {
		return fmt.Sprintf("profile in %s (pprof -top failed: %v)", p.file, err)
	}
	return "CPU profile in " + p.file + ", top functions in " + txt
}
