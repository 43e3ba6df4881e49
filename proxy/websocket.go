package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy/flow"
	"loupe/proxy/headscan"
)

// wsCloseWait is how long a relay waits, after one side ended, for the other
// side to finish its closing handshake before cutting it.
const wsCloseWait = 5 * time.Second

// wsHandshakeHeaders are managed by the WebSocket libraries on each leg and
// must not be copied from one leg to the other.
var wsHandshakeHeaders = []string{
	"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Extensions", "Sec-Websocket-Accept", "Sec-Websocket-Protocol",
}

// wsScheme is the scheme rules match a WebSocket upgrade against.
func wsScheme(scheme string) string {
	switch scheme {
	case "https", "wss":
		return "wss"
	}
	return "ws"
}

// A WebSocket upgrade (ws, or wss inside a tunnel) goes through the same
// pipeline as every exchange (pipeline.go): its upstream phase is Loupe's
// handshake with the origin (wsRoundTrip), and its serve phase, once the
// origin switched protocols, the handshake with the client and the relay
// of messages, frame-aware in both directions, each one recorded. Close
// frames are forwarded, not answered, so each end sees the other's close
// code; a connection that ends without a close frame ends the other. An
// origin that refuses the upgrade, a rule's answer and a failure are served
// like any response.

// wsRoundTrip is the upstream phase of a WebSocket upgrade: the handshake
// with the origin, on a connection of its own (gorilla/websocket makes one
// for every handshake, so nothing is pooled). It records the origin's
// head; the response is its 101 (x.wsUp then holds the origin's leg), its
// refusal, or the answer to a failure.
func (p *Proxy) wsRoundTrip(x *exchange, out *http.Request) *http.Response {
	target := *out.URL
	target.Scheme = wsScheme(out.URL.Scheme)
	hdr := out.Header
	protos := hdr.Values("Sec-Websocket-Protocol")
	for _, h := range wsHandshakeHeaders {
		hdr.Del(h)
	}
	if len(protos) > 0 {
		hdr["Sec-WebSocket-Protocol"] = protos
	}
	restoreCase(out.Context(), hdr)
	sent := hdr.Clone()
	sent.Set("Connection", "Upgrade")
	sent.Set("Upgrade", "websocket")
	x.h.UpstreamRequest(flow.Request{Method: out.Method, URL: target.String(), Proto: "HTTP/1.1", Header: headFields(sent, hostOf(out))})
	if out.Host != "" {
		hdr.Set("Host", out.Host)
	}

	ctx, cancel := context.WithCancel(out.Context())
	defer cancel()
	if !x.setStop(cancel) {
		return p.failure(x, out, errKilled)
	}
	// The dialer finds the exchange here, for DNS and connect timings; the
	// TLS handshake reports through the trace.
	ctx = context.WithValue(ctx, exchangeKey{}, x)
	if target.Scheme == "wss" {
		ctx = httptrace.WithClientTrace(ctx, x.tlsTrace())
	}
	d := &websocket.Dialer{
		NetDialContext:   p.dial,
		TLSClientConfig:  p.tlsClientConfig(),
		HandshakeTimeout: p.cfg.DialTimeout + p.cfg.TLSHandshakeTimeout,
	}
	// Inside a tunnel the dialer goes to its target, with the client's
	// Host (set above) and TLS name (see target.go).
	dial, name := dialURL(out.Context(), &target, x.remapped)
	x.recordMapping(dial)
	if name != "" {
		d.TLSClientConfig.ServerName = name
	}
	start := time.Now()
	up, resp, err := d.DialContext(ctx, dial.String(), hdr)
	if err != nil {
		if resp != nil && !errors.Is(err, context.Canceled) && resp.StatusCode != http.StatusSwitchingProtocols {
			// The origin refused the upgrade: its answer (gorilla keeps
			// the first KiB of the body) is the response.
			x.responseHeaders(resp, start)
			resp.Request = out
			resp.Header.Del("Content-Length")
			resp.ContentLength = -1
			x.served = &servedBody{x: x, src: resp.Body, record: true, closers: []io.Closer{resp.Body}}
			resp.Body = x.served
			return resp
		}
		return p.failure(x, out, err)
	}
	x.responseHeaders(resp, start)
	x.wsUp = up
	resp.Request = out
	return resp
}

// serveUpgrade is the serve phase of a WebSocket whose origin switched
// protocols: the handshake with the client, then the relay.
func (p *Proxy) serveUpgrade(x *exchange, w http.ResponseWriter, r *http.Request, resp *http.Response) {
	up := x.wsUp
	defer up.Close()
	rh := resp.Header.Clone()
	removeHopHeaders(rh, false)
	for _, h := range wsHandshakeHeaders {
		rh.Del(h)
	}
	u := websocket.Upgrader{
		// The origin sees the client's Origin header and decides; Loupe
		// relays transparently and must not add its own policy.
		CheckOrigin: func(*http.Request) bool { return true },
		Error:       func(http.ResponseWriter, *http.Request, int, error) {},
	}
	if sp := up.Subprotocol(); sp != "" {
		u.Subprotocols = []string{sp}
	}
	cl, err := u.Upgrade(w, r, rh)
	if err != nil {
		x.fail(fmt.Errorf("client WebSocket handshake: %w", err))
		http.Error(w, "Loupe: bad WebSocket handshake", http.StatusBadRequest)
		return
	}
	defer cl.Close()
	// The client connection is hijacked: WebSocket frames from now on.
	headscan.FromContext(r.Context()).Stop()
	served := rh.Clone()
	served.Set("Upgrade", "websocket")
	served.Set("Connection", "Upgrade")
	x.markHead()
	x.h.Response(responseHead(http.StatusSwitchingProtocols, "HTTP/1.1", served))

	if !p.enter() {
		return
	}
	defer p.conns.Done()
	for _, c := range []*websocket.Conn{cl, up} {
		if !p.trackConn(c.NetConn(), true) {
			return
		}
		defer p.trackConn(c.NetConn(), false)
	}
	// A kill closes both legs, which ends the relay.
	if !x.setStop(func() {
		_ = cl.NetConn().Close()
		_ = up.NetConn().Close()
	}) {
		return
	}
	p.relayWebSocket(x, cl, up)
}

// relayWebSocket copies messages both ways until both directions ended.
func (p *Proxy) relayWebSocket(x *exchange, cl, up *websocket.Conn) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		_ = cl.NetConn().Close()
		_ = up.NetConn().Close()
	})
	defer stop()

	ended := make(chan error, 2)
	relay := func(dir flow.Direction, src, dst *websocket.Conn) {
		defer p.survive("websocket relay", func(err error) { ended <- err })
		ended <- p.pump(x, dir, src, dst)
	}
	go relay(flow.Send, cl, up)
	go relay(flow.Receive, up, cl)

	first := <-ended
	var ce *websocket.CloseError
	if !errors.As(first, &ce) || ce.Code == websocket.CloseAbnormalClosure {
		// One side dropped without a close frame: so does the other.
		cancel()
		if !isClosedErr(first) {
			x.fail(fmt.Errorf("websocket: %w", first))
		}
	}
	select {
	case <-ended:
	case <-time.After(wsCloseWait):
		cancel()
		<-ended
	}
}

// pump copies messages from src to dst, recording them as dir. It returns
// the error that ended src: a *websocket.CloseError after a close frame.
func (p *Proxy) pump(x *exchange, dir flow.Direction, src, dst *websocket.Conn) error {
	capN := p.cfg.WSMessageCap
	deadline := func() time.Time { return time.Now().Add(wsCloseWait) }
	record := func(op int, data []byte, size int) {
		keep := data
		if len(keep) > capN {
			keep = keep[:capN]
		}
		x.h.WebSocket(flow.WSMessage{Direction: dir, Time: time.Now(), Opcode: op, Size: size,
			Data: append([]byte(nil), keep...), Truncated: size > len(keep)})
	}
	src.SetPingHandler(func(data string) error {
		record(websocket.PingMessage, []byte(data), len(data))
		return ignoreClosed(dst.WriteControl(websocket.PingMessage, []byte(data), deadline()))
	})
	src.SetPongHandler(func(data string) error {
		record(websocket.PongMessage, []byte(data), len(data))
		return ignoreClosed(dst.WriteControl(websocket.PongMessage, []byte(data), deadline()))
	})
	src.SetCloseHandler(func(code int, text string) error {
		msg := websocket.FormatCloseMessage(code, text)
		record(websocket.CloseMessage, msg, len(msg))
		_ = dst.WriteControl(websocket.CloseMessage, msg, deadline())
		return nil
	})
	buf := make([]byte, 32<<10)
	for {
		op, r, err := src.NextReader()
		if err != nil {
			return err
		}
		w, err := dst.NextWriter(op)
		if err != nil {
			return err
		}
		var kept []byte
		size := 0
		for {
			n, rerr := r.Read(buf)
			if n > 0 {
				if len(kept) < capN {
					kept = append(kept, buf[:min(n, capN-len(kept))]...)
				}
				size += n
				if _, werr := w.Write(buf[:n]); werr != nil {
					return werr
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		// Recorded before the last frame goes out, so that an answer to it
		// is always recorded after it.
		x.h.WebSocket(flow.WSMessage{Direction: dir, Time: time.Now(), Opcode: op, Size: size,
			Data: kept, Truncated: size > len(kept)})
		if err := w.Close(); err != nil {
			return err
		}
	}
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, websocket.ErrCloseSent) || isClosedErr(err) {
		return nil
	}
	return err
}

func isClosedErr(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "use of closed network connection"))
}
