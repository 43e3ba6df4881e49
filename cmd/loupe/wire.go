package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"loupe/proxy/store"
	"loupe/rules"
	"loupe/web"
)

// wireDashboard is Main's default Wire: the capture store records what the
// proxy reports, the rules store (rules.json in the data directory) feeds
// the proxy's rule set, and the dashboard serves both.
func wireDashboard(m *Main) error {
	c := &m.Config
	st, err := store.New(c.Store, m.Logger)
	if err != nil {
		return fmt.Errorf("capture store: %w", err)
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
