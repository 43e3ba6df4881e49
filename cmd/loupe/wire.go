package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/disk"
	"loupe/rules"
	"loupe/web"
)

// captureDirName is the durable capture's directory inside the data
// directory.
const captureDirName = "capture"

// capture is what the command needs of a capture store: the proxy records
// into it, the dashboard serves it, Close flushes it.
type capture interface {
	flow.Recorder
	web.FlowStore
	Close() error
}

// openCapture opens the capture the flags ask for: the durable capture in
// the data directory, or with -ephemeral the memory store.
func openCapture(m *Main) (capture, error) {
	c := &m.Config
	if c.Ephemeral {
		st, err := store.New(c.Store, m.Logger)
		if err != nil {
			return nil, fmt.Errorf("capture store: %w", err)
		}
		return st, nil
	}
	cfg := c.Capture
	cfg.Dir = filepath.Join(c.DataDir, captureDirName)
	cfg.BodyCap = c.Store.BodyCap
	cfg.Paused = c.Store.Paused
	st, err := disk.Open(cfg, m.Logger)
	if err != nil {
		// One line: what failed and what to do, the capture's own words
		// first, then the flags that choose another one.
		return nil, fmt.Errorf("durable capture: %w (it lives in -data DIR/%s; -ephemeral records in memory only)", err, captureDirName)
	}
	return st, nil
}

// wireDashboard is Main's default Wire: the capture store records what the
// proxy reports, the rules store (rules.json in the data directory) feeds
// the proxy's rule set, and the dashboard serves both.
func wireDashboard(m *Main) error {
	c := &m.Config
	st, err := openCapture(m)
	if err != nil {
		return err
	}
	m.Closers = append(m.Closers, st.Close)

	rs, err := rules.Open(filepath.Join(c.DataDir, "rules.json"), m.Logger)
	if err != nil {
		return err
	}

	wc := web.Config{
		Token:        c.Token,
		ProxyAddr:    m.ProxyAddr(),
		UIAddr:       m.UIAddr(),
		AllowedHosts: c.AllowedHosts,
		Logger:       m.Logger,
		Version:      version,
	}
	if c.DebugAddr != "" {
		// Also on the dashboard, behind its Host and Origin checks and the
		// token (as a Bearer header only).
		wc.Debug = pprofMux()
	}
	srv, err := web.New(wc, web.Deps{Store: st, Rules: rs, Replayer: m, Composer: m, Live: coreLive{m}, CA: m.CA, Conns: m.ConnStats,
		Browsers: m.Browsers, HostMap: m.HostMap})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	srv.SetAddrs(m.ProxyAddr(), m.UIAddr())

	m.Recorder = st
	m.Rules = rs.Current
	m.SelfHandler = srv.PublicHandler()
	m.UIHandler = srv.Handler()
	m.Background = append(m.Background, srv.Run, memoryLimiter(st))
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
