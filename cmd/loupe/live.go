package main

import (
	"errors"

	"loupe/proxy/flow"
	"loupe/web"
)

// coreLive hands the dashboard the proxy core's live exchanges
// (breakpoints and kill), as Main.Replay hands it replay: the core is built
// after the dashboard, so every call finds it through Main. Until Run has
// built it, nothing is held or in flight.
type coreLive struct{ m *Main }

var _ web.Live = coreLive{}

var errNotRunning = errors.New("the proxy is not running")

func (l coreLive) Held() []flow.Held {
	if l.m.Proxy == nil {
		return nil
	}
	return l.m.Proxy.Held()
}

func (l coreLive) Release(id flow.ID, r flow.Release) error {
	if l.m.Proxy == nil {
		return flow.ErrNotHeld
	}
	return l.m.Proxy.Release(id, r)
}

func (l coreLive) ReleaseAll(action string, status int) (int, error) {
	if l.m.Proxy == nil {
		return 0, errNotRunning
	}
	return l.m.Proxy.ReleaseAll(action, status)
}

func (l coreLive) Kill(id flow.ID) error {
	if l.m.Proxy == nil {
		return flow.ErrNotLive
	}
	return l.m.Proxy.Kill(id)
}

func (l coreLive) SetViewers(n int) {
	if l.m.Proxy != nil {
		l.m.Proxy.SetViewers(n)
	}
}

func (l coreLive) WatchHeld(fn func()) (cancel func()) {
	if l.m.Proxy == nil {
		return func() {}
	}
	return l.m.Proxy.WatchHeld(fn)
}

func (l coreLive) BreakpointHits() map[string]int {
	if l.m.Proxy == nil {
		return nil
	}
	return l.m.Proxy.BreakpointHits()
}
