package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"syscall"
	"time"

	"loupe/proxy/flow"
)

// CONNECTs recorded as themselves.
//
// Most tunnels need no flow of their own: Loupe decrypts them, and the
// requests inside are the flows. The others used to leave no trace, and
// the most common one is the first thing a newcomer meets: a client that
// does not trust Loupe's CA breaks off the TLS handshake, and the
// dashboard stays empty. So each of these is a flow (flow.Kind):
//
//   - a client TLS handshake that failed (flow.KindTLSError), with the
//     alert the client sent, or how it ended, classified and said in
//     words;
//   - a tunnel relayed blindly (flow.KindTunnel): passthrough hosts, and TLS
//     when Loupe has no CA; its bytes each way are counted as they pass, so
//     an open tunnel's row grows live;
//   - a tunnel whose dial failed, with the cause (and the answer the client
//     got, when it had not been answered yet).
//
// Such a flow's request is the CONNECT (method CONNECT, URL
// https://host:port); its response, when there is one, is the answer Loupe
// gave to the CONNECT.

// beginConnect starts the flow of a CONNECT recorded as itself.
func (p *Proxy) beginConnect(req *http.Request, target string, start time.Time, kind flow.Kind, t flow.Tunnel) flow.Handle {
	head := flow.Request{
		Method: http.MethodConnect,
		URL:    "https://" + target,
		Proto:  req.Proto,
		Header: headFields(req.Header, req.Host),
	}
	h := p.cfg.Recorder.Begin(req.RemoteAddr, head, start)
	h.Tunnel(kind, t)
	return h
}

// connectResponse is the flow head of Loupe's answer to a CONNECT, which
// tunnel writes as HTTP/1.1 (a SOCKS5 client got the equivalent reply).
func connectResponse(status int) flow.Response {
	var h flow.Fields
	if status != http.StatusOK {
		h = flow.Fields{{Name: "Content-Type", Value: "text/plain"}, {Name: "Connection", Value: "close"}}
	}
	return flow.Response{Status: status, Proto: "HTTP/1.1", Header: h}
}

// endBodies marks both byte counts of a CONNECT flow as final.
func endBodies(h flow.Handle) {
	h.BodyEnd(flow.FacetRequest)
	h.BodyEnd(flow.FacetResponse)
}

// relay copies src to dst until src ends or dst fails, counting every
// byte that crossed into facet, then propagates the end: a half-close when
// dst can, else a close.
func (p *Proxy) relay(dst, src net.Conn, h flow.Handle, facet flow.Facet, sn *sniSniffer) {
	defer p.survive("tunnel", func(error) { _ = dst.Close(); _ = src.Close() })
	buf := p.bufs.getSmall()
	defer p.bufs.small.Put(buf)
	for {
		n, err := src.Read(buf[:])
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
			h.Relayed(facet, n)
			if sn != nil {
				sn.saw(buf[:n])
			}
		}
		if err != nil {
			break
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
}

// sniSniffer reads the server name from the TLS ClientHello a tunnel's
// client sends through a tunnel Loupe does not decrypt (passthrough, or no
// CA), when it was not in by the time the tunnel opened: the CONNECT names
// an address, the SNI the site the client wants (many sites share one
// address). It sees the bytes after they were relayed, keeps a copy of at
// most sniffMax of them, and stops at the end of the ClientHello, at the
// first byte that is not one, or at sniffMax: it never delays the relay.
type sniSniffer struct {
	buf   []byte
	done  bool
	found func(name string)
}

// sniffMax bounds the bytes a sniSniffer keeps (a ClientHello with large
// key shares still fits in a few KiB).
const sniffMax = 64 << 10

// saw takes the next bytes the client sent.
func (s *sniSniffer) saw(p []byte) {
	if s.done {
		return
	}
	s.buf = append(s.buf, p[:min(len(p), sniffMax-len(s.buf))]...)
	complete, hello := helloState(s.buf)
	switch {
	case !hello:
		s.done = true
	case complete:
		s.done = true
		if name := sniffSNI(s.buf); name != "" {
			s.found(name)
		}
	case len(s.buf) >= sniffMax:
		s.done = true
	}
	if s.done {
		s.buf = nil
	}
}

// helloState reports whether b starts like a TLS ClientHello (hello: only
// handshake records so far, the first message a client_hello), and whether
// b holds all of that message (complete).
func helloState(b []byte) (complete, hello bool) {
	const clientHello = 1
	var msg []byte // the handshake bytes of the records so far
	for {
		if len(msg) > 0 && msg[0] != clientHello {
			return false, false
		}
		if len(msg) >= 4 && len(msg) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3])) {
			return true, true // what follows the hello is not its business
		}
		if len(b) == 0 {
			return false, true
		}
		if b[0] != tlsRecordHandshake {
			return false, false
		}
		if len(b) < 5 {
			return false, true
		}
		n := int(b[3])<<8 | int(b[4])
		if len(b) < 5+n {
			msg = append(msg, b[5:]...)
			b = nil
			continue
		}
		msg = append(msg, b[5:5+n]...)
		b = b[5+n:]
	}
}

// errSniffed stops the handshake sniffSNI runs once it has the name.
var errSniffed = errors.New("client hello read")

// sniffSNI returns the server name of the TLS ClientHello at the start of
// hello, or "" when hello does not hold a whole one. It only parses (with
// crypto/tls's own parser, through a connection that replays hello and
// discards what is written): nothing reaches the client.
func sniffSNI(hello []byte) string {
	var name string
	c := tls.Server(&replayConn{r: bytes.NewReader(hello)}, &tls.Config{
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			name = chi.ServerName
			return nil, errSniffed
		},
	})
	_ = c.Handshake()
	return name
}

// replayConn reads from r and discards writes: sniffSNI's stand-in for a
// client.
type replayConn struct{ r io.Reader }

func (c *replayConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) Close() error                     { return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// handshakeConn is the client connection under Loupe's TLS server. During
// the handshake it notes whether Loupe wrote anything (its certificate
// flight) and keeps the last bytes the client sent: an OpenSSL client
// (curl) speaking TLS 1.3 sends its alert in plain text after Loupe's
// keys changed, which Go reports as "bad record MAC"; the bytes still say
// which alert it was.
type handshakeConn struct {
	net.Conn
	over  bool // the handshake ended: stop watching
	wrote bool
	tail  [alertRecordLen]byte
	n     int // valid bytes in tail
}

// alertRecordLen is the length of a plain-text TLS alert record: a 5-byte
// record header, then level and description.
const alertRecordLen = 7

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.over && n > 0 {
		if n >= alertRecordLen {
			copy(c.tail[:], p[n-alertRecordLen:n])
			c.n = alertRecordLen
		} else {
			keep := min(c.n, alertRecordLen-n)
			copy(c.tail[:], c.tail[c.n-keep:c.n])
			copy(c.tail[keep:], p[:n])
			c.n = keep + n
		}
	}
	return n, err
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	if !c.over {
		c.wrote = true
	}
	return c.Conn.Write(p)
}

// CloseWrite half-closes the underlying connection, if it can.
func (c *handshakeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// plainAlert returns the alert of a plain-text alert record that ended
// what the client sent, if it did.
func (c *handshakeConn) plainAlert() (uint8, bool) {
	t := c.tail
	if c.n == alertRecordLen && t[0] == 0x15 && t[1] == 0x03 && t[3] == 0 && t[4] == 2 {
		return t[6], true
	}
	return 0, false
}

// alertNames are the TLS alert descriptions by their RFC 8446 names.
var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
	40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
	44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
	47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
	51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security",
	80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
	109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 115: "unknown_psk_identity",
	116: "certificate_required", 120: "no_application_protocol",
}

func alertName(a uint8) string {
	if n, ok := alertNames[a]; ok {
		return n
	}
	return fmt.Sprintf("alert_%d", a)
}

// remoteAlert returns the alert the client sent when err is crypto/tls's
// report of one ("remote error: tls: ..."). crypto/tls keeps the alert in
// an unexported uint8 type, so its value is read through reflection.
func remoteAlert(err error) (uint8, bool) {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "remote error" || oe.Err == nil {
		return 0, false
	}
	v := reflect.ValueOf(oe.Err)
	if v.Kind() != reflect.Uint8 {
		return 0, false
	}
	return uint8(v.Uint()), true
}

// installHint ends every explanation whose likely cause is that the
// client does not trust Loupe's CA.
const installHint = "install Loupe's CA certificate on the client"

// clientTLSFailure classifies a failed TLS handshake between a client and
// Loupe: a short code (flow.Tunnel.Failure) and the cause in words, for a
// person who may be meeting Loupe for the first time.
func (p *Proxy) clientTLSFailure(err error, hc *handshakeConn) (code, msg string) {
	alert, ok := remoteAlert(err)
	if !ok {
		alert, ok = hc.plainAlert()
	}
	if ok {
		code = alertName(alert)
		tag := "TLS alert " + code
		switch code {
		case "unknown_ca":
			return code, fmt.Sprintf("the client rejected Loupe's certificate: unknown authority (%s) — %s", tag, installHint)
		case "bad_certificate", "certificate_unknown", "unsupported_certificate", "access_denied":
			return code, fmt.Sprintf("the client rejected Loupe's certificate (%s): most likely an unknown authority — %s; an app that pins its certificates needs -passthrough for this host", tag, installHint)
		case "certificate_expired":
			return code, fmt.Sprintf("the client rejected Loupe's certificate as expired (%s): check the client's clock", tag)
		case "certificate_revoked":
			return code, fmt.Sprintf("the client rejected Loupe's certificate as revoked (%s)", tag)
		case "handshake_failure":
			return code, fmt.Sprintf("the client broke off the TLS handshake (%s): it shares no cipher suite with Loupe, or it refused Loupe's certificate — if so, %s", tag, installHint)
		case "protocol_version":
			return code, fmt.Sprintf("the client and Loupe share no TLS version (%s)", tag)
		}
		return code, fmt.Sprintf("the client broke off the TLS handshake (%s)", tag)
	}
	var rhe tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &rhe):
		return "not_tls", "the client did not speak TLS inside the tunnel: " + err.Error()
	case p.ctx.Err() != nil:
		return "other", "Loupe shut down during the TLS handshake with the client"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout", fmt.Sprintf("the client did not finish the TLS handshake within %s", p.cfg.TLSHandshakeTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		if hc.wrote {
			return "closed", "the client closed the connection after Loupe sent its certificate, without a TLS alert: it likely does not trust Loupe's CA, or pins its certificates — " +
				installHint + ", or give the host to -passthrough"
		}
		return "closed", "the client closed the connection during the TLS handshake, before Loupe sent its certificate"
	case errors.Is(err, context.Canceled):
		return "other", "the TLS handshake with the client was canceled"
	}
	return "other", "the TLS handshake with the client failed: " + err.Error()
}

// handshakeFailed records a failed client handshake as a flow and logs it:
// without either, a client that does not trust Loupe's CA saw an error
// and the dashboard nothing.
func (p *Proxy) handshakeFailed(req *http.Request, target string, start time.Time, sni string, hc *handshakeConn, err error) {
	code, msg := p.clientTLSFailure(err, hc)
	h := p.beginConnect(req, target, start, flow.KindTLSError, flow.Tunnel{SNI: sni, Failure: code})
	endBodies(h)
	h.Finish(time.Now(), errors.New(msg))
	p.log.Info("client TLS handshake failed", "client", req.RemoteAddr, "target", target, "sni", sni, "failure", code, "cause", msg, "err", err)
}
