package proxy

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// Listeners that are not served by one http.Server (SOCKS5, reverse) run
// serveConns: the same connection limits as the proxy listener, their
// address among Loupe's own (refused as a destination like the proxy's), one
// goroutine per connection that Shutdown waits for, and the listener closed
// by Shutdown.

// serveConns accepts on l until Shutdown and runs handle for each admitted
// connection in a goroutine of its own; refused connections get refusal.
// handle closes the connection when it is done with it (a hijacked one,
// such as a WebSocket's, lives on after handle returns). what names the
// listener in logs.
func (p *Proxy) serveConns(l net.Listener, refusal []byte, what string, handle func(net.Conn)) error {
	ll := p.limit.ListenerRefusing(l, refusal)
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return http.ErrServerClosed
	}
	if p.lns == nil {
		p.lns = make(map[net.Listener]struct{})
	}
	p.lns[l] = struct{}{}
	// Never a destination (guard.go); not "the proxy itself" either, whose
	// address serves the install page.
	p.lnAddrs = append(p.lnAddrs, l.Addr().String())
	p.mu.Unlock()
	var backoff time.Duration
	for {
		c, err := ll.Accept()
		if err != nil {
			if p.isClosing() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("accept failed; retrying", "listener", what, "err", err, "in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !p.enter() {
			_ = c.Close()
			return http.ErrServerClosed
		}
		if !p.trackConn(c, true) {
			p.conns.Done()
			_ = c.Close()
			return http.ErrServerClosed
		}
		go func() {
			defer p.conns.Done()
			defer p.trackConn(c, false)
			defer p.survive(what, func(error) { _ = c.Close() })
			handle(c)
		}()
	}
}

func (p *Proxy) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// closeListeners closes the listeners serveConns runs, so that no new
// connection comes in once Shutdown began.
func (p *Proxy) closeListeners() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.lns {
		_ = l.Close()
	}
}
