package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"loupe/rules"
)

// j) requests held at a breakpoint: what one costs while held, and how long
// releasing 32 at once takes until every client has its answer. Scenario j
// is not in the default set; run it with -scenarios j.
func (b *bench) held(ctx context.Context) error {
	n := b.cfg.conns
	if sp, ok := b.launch.(*spawner); ok {
		// Loupe holds 32 exchanges at most by default.
		sp.scenarioArgs = []string{"-max-held", strconv.Itoa(n)}
		defer func() { sp.scenarioArgs = nil }()
	} else {
		b.note("j: an external proxy holds what its -max-held allows")
	}
	bp := rules.Rule{ID: "bench-breakpoint", Name: "bench: hold /small?held=*", Enabled: true,
		Match:   rules.Match{Path: "/small?held=*"},
		Actions: []rules.Action{{Type: rules.TypeBreakpoint, TimeoutMs: rules.MaxBreakpointTimeoutMs}}}
	return b.withProxy(ctx, []rules.Rule{bp}, func(t *target) error {
		// A dashboard must be watching, or nothing is held.
		ws, err := dialFeed(ctx, t, nil)
		if err != nil {
			return err
		}
		defer ws.close()
		base, err := b.baseline(ctx, t)
		if err != nil {
			return err
		}

		// Release time: 32 held, released at once.
		const batch = 32
		took, err := b.holdAndRelease(ctx, t, batch, "r")
		if err != nil {
			return err
		}
		b.add(row{id: "j", name: fmt.Sprintf("%d held exchanges released at once (continue-all): all answered in", batch),
			proxied: fmtDur(took), target: "< 100 ms", status: passIf(took < 100*time.Millisecond),
			note: "from POST /api/held/continue-all to the last client's answer"})

		// Memory: n held.
		var peak procStats
		tookAll, err := b.holdAndReleaseSampling(ctx, t, n, "m", func() {
			if ps, err := t.proc(); err == nil {
				peak = ps
			}
		})
		if err != nil {
			return err
		}
		per := float64(peak.RSS-base.RSS) / float64(n)
		b.add(row{id: "j", name: fmt.Sprintf("%d requests held at a breakpoint: RSS per request", n), proxied: fmtKB(per),
			target: "<= 40 KB (g: in flight)", status: passIf(per <= 40<<10),
			note: fmt.Sprintf("RSS %s -> %s, fds %d -> %d, threads %d -> %d; all %d released in %s",
				fmtMB(base.RSS), fmtMB(peak.RSS), base.FDs, peak.FDs, base.Threads, peak.Threads, n, fmtDur(tookAll))})
		return nil
	})
}

func (b *bench) holdAndRelease(ctx context.Context, t *target, n int, tag string) (time.Duration, error) {
	return b.holdAndReleaseSampling(ctx, t, n, tag, nil)
}

// holdAndReleaseSampling sends n requests on n connections, waits until
// the proxy lists them all as held, calls sample, releases them all and
// returns the time from the release to the last answer.
func (b *bench) holdAndReleaseSampling(ctx context.Context, t *target, n int, tag string, sample func()) (time.Duration, error) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	var last atomic.Int64 // unix ns of the last answer
	for i := range n {
		wg.Go(func() {
			pc, err := dialProxy(ctx, t)
			if err == nil {
				err = pc.get(b.org.plain.url(fmt.Sprintf("/small?held=%s%d", tag, i)), 5*time.Minute)
				pc.c.Close()
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			now := time.Now().UnixNano()
			for {
				old := last.Load()
				if now <= old || last.CompareAndSwap(old, now) {
					break
				}
			}
		})
	}
	defer wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		data, err := t.uiGet("/api/held", 10*time.Second)
		if err != nil {
			return 0, err
		}
		var held []json.RawMessage
		if err := json.Unmarshal(data, &held); err != nil {
			return 0, err
		}
		if len(held) == n {
			break
		}
		if time.Now().After(deadline) || failed.Load() > 0 {
			return 0, fmt.Errorf("%d of %d requests held after a minute (%d failed: %v)", len(held), n, failed.Load(), firstErr.Load())
		}
		ctxSleep(ctx, 50*time.Millisecond)
	}
	if sample != nil {
		ctxSleep(ctx, 500*time.Millisecond)
		sample()
	}
	start := time.Now()
	if err := t.uiPost("/api/held/continue-all"); err != nil {
		return 0, err
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 0, fmt.Errorf("%d of %d held requests failed: %v", failed.Load(), n, firstErr.Load())
	}
	return time.Duration(last.Load() - start.UnixNano()), nil
}

// uiPost sends an empty POST to a dashboard path with the token.
func (t *target) uiPost(path string) error {
	req, err := http.NewRequest(http.MethodPost, "http://"+t.uiAddr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New("POST " + path + ": " + resp.Status)
	}
	return nil
}
