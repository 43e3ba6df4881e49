package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// serveWebSocket relays a WebSocket upgrade (ws, or wss inside a tunnel):
// Loupe completes one handshake with the origin and one with the client,
// then copies messages frame-aware in both directions, recording each one.
// Close frames are forwarded, not answered, so each end sees the other's
// close code; a connection that ends without a close frame ends the other.
func (p *Proxy) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	x := p.newExchange(r)
	defer x.done()
	x.h.BodyEnd(flow.FacetRequest)

	wsScheme := map[string]string{"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
	// Request-phase rules apply as to any request: headers, mapRemote,
	// delay, and mock or block answering instead of the origin.
	// Response-phase actions do not apply to a 101.
	out := r.Clone(r.Context())
	if resp := p.applyRequestRules(x, out, wsScheme[r.URL.Scheme]); resp != nil {
		p.serveProduced(x, w, r, resp)
		return
	}
	target := *out.URL
	target.Scheme = wsScheme[out.URL.Scheme]
	if target.Scheme == "" {
		target.Scheme = "ws"
	}
	hdr := out.Header.Clone()
	removeHopHeaders(hdr, true)
	p.via.add(hdr, r)
	for _, h := range wsHandshakeHeaders {
		hdr.Del(h)
	}
	if protos := r.Header.Values("Sec-Websocket-Protocol"); len(protos) > 0 {
		hdr["Sec-WebSocket-Protocol"] = protos
	}
	if out.Host != "" {
		hdr.Set("Host", out.Host)
	}
	sent := out.Header.Clone()
	removeHopHeaders(sent, true)
	p.via.add(sent, r)
	sent.Set("Connection", "Upgrade")
	sent.Set("Upgrade", "websocket")
	x.h.UpstreamRequest(flow.Request{Method: r.Method, URL: target.String(), Proto: "HTTP/1.1", Header: flow.FieldsFromHeader(sent)})

	d := &websocket.Dialer{
		NetDialContext:   p.dialOrigin,
		TLSClientConfig:  p.tlsClientConfig(),
		HandshakeTimeout: p.cfg.DialTimeout + p.cfg.TLSHandshakeTimeout,
	}
	// Inside a tunnel the dialer goes to its target, with the client's
	// Host (set above) and TLS name (see target.go); gorilla/websocket
	// makes a new connection for every handshake, so nothing is pooled.
	dial, name := dialURL(r.Context(), &target, x.remapped)
	if name != "" {
		d.TLSClientConfig.ServerName = name
	}
	up, resp, err := d.DialContext(r.Context(), dial.String(), hdr)
	if err != nil {
		if resp != nil && !errors.Is(err, context.Canceled) && resp.StatusCode != http.StatusSwitchingProtocols {
			// The origin refused the upgrade: relay its answer.
			p.relayRefusal(x, w, resp)
			return
		}
		status, cause := classify(err)
		x.fail(fmt.Errorf("%s: %w", cause, err))
		msg := fmt.Sprintf("Loupe: %s (%s): %v\n", cause, dial.Host, err)
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		x.h.Response(responseHead(status, r.Proto, h))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, msg)
		x.h.Body(flow.FacetResponse, []byte(msg))
		x.h.BodyEnd(flow.FacetResponse)
		return
	}
	defer up.Close()
	x.h.UpstreamResponse(responseHead(resp.StatusCode, resp.Proto, resp.Header))

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
	p.relayWebSocket(x, cl, up)
}

// serveProduced writes a rule's answer (mock, block) to an upgrade request.
func (p *Proxy) serveProduced(x *exchange, w http.ResponseWriter, r *http.Request, resp *http.Response) {
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	if resp.Body == x.served && x.served.abort {
		_, _ = resp.Body.Read(nil) // records the reset and aborts the handler
	}
	x.h.Response(responseHead(resp.StatusCode, r.Proto, h))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// relayRefusal passes an origin's non-101 answer to an upgrade on to the
// client.
func (p *Proxy) relayRefusal(x *exchange, w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	x.h.UpstreamResponse(responseHead(resp.StatusCode, resp.Proto, resp.Header))
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = append([]string(nil), vs...)
	}
	removeHopHeaders(h, false)
	h.Del("Content-Length")
	x.h.Response(responseHead(resp.StatusCode, resp.Proto, h))
	w.WriteHeader(resp.StatusCode)
	rb := &recordedBody{rc: resp.Body, h: x.h, facet: flow.FacetResponse}
	_, _ = io.Copy(w, rb)
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
