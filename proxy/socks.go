package proxy

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The SOCKS5 listener (RFC 1928, with RFC 1929 user name and password).
//
// A SOCKS5 CONNECT is served exactly as an HTTP CONNECT: the same refusal of
// tunnels to Loupe's own listeners, the same passthrough hosts, and the same
// interception once the tunnel is accepted (intercept: TLS terminated with a
// Loupe certificate, plain HTTP read as is, anything else relayed as a raw
// tunnel flow). Only the handshake and the answers differ. A client that
// sends a host name (socks5h, curl --socks5-hostname) has it resolved by
// Loupe, and the flows show the name; a client that resolved it itself
// sends an address, and the SNI or Host inside still names the site.
//
// BIND and UDP ASSOCIATE are answered "command not supported": a debugging
// proxy has nothing to show for them.

// SOCKS5 protocol values.
const (
	socksVersion      = 5
	socksNoAuth       = 0x00
	socksUserPass     = 0x02
	socksNoAcceptable = 0xff
	socksConnectCmd   = 1
	socksIPv4         = 1
	socksDomain       = 3
	socksIPv6         = 4

	socksSucceeded       = 0
	socksGeneralFailure  = 1
	socksNotAllowed      = 2
	socksNetUnreachable  = 3
	socksHostUnreachable = 4
	socksRefused         = 5
	socksTTLExpired      = 6
	socksCmdUnsupported  = 7
	socksAddrUnsupported = 8
)

// socksReplyText names a SOCKS5 reply code (RFC 1928, 6).
func socksReplyText(code byte) string {
	switch code {
	case socksSucceeded:
		return "succeeded"
	case socksGeneralFailure:
		return "general SOCKS server failure"
	case socksNotAllowed:
		return "connection not allowed by ruleset"
	case socksNetUnreachable:
		return "network unreachable"
	case socksHostUnreachable:
		return "host unreachable"
	case socksRefused:
		return "connection refused"
	case socksTTLExpired:
		return "TTL expired"
	case socksCmdUnsupported:
		return "command not supported"
	case socksAddrUnsupported:
		return "address type not supported"
	}
	return "unknown reply"
}

// socksRefusal answers a connection refused at the connection limit: "no
// acceptable method", which every client reads as a refusal.
var socksRefusal = []byte{socksVersion, socksNoAcceptable}

// ServeSOCKS accepts SOCKS5 clients on l until Shutdown, within the same
// connection limits as every other listener. It returns
// http.ErrServerClosed after Shutdown.
func (p *Proxy) ServeSOCKS(l net.Listener) error {
	return p.serveConns(l, socksRefusal, "socks", p.serveSOCKS)
}

// serveSOCKS serves one SOCKS5 client connection.
func (p *Proxy) serveSOCKS(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(p.cfg.ReadHeaderTimeout))
	br := bufio.NewReader(c)
	target, err := p.socksHandshake(c, br)
	if err != nil {
		p.log.Debug("SOCKS5 client refused", "client", c.RemoteAddr().String(), "err", err)
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	req := &http.Request{
		Method: http.MethodConnect, URL: &url.URL{Host: target}, Host: target,
		Proto: "SOCKS5", Header: http.Header{}, RemoteAddr: c.RemoteAddr().String(),
	}
	var conn net.Conn = c
	if br.Buffered() > 0 {
		// The client's first tunnel bytes came with its request.
		conn = &bufferedConn{Conn: c, r: br}
	}
	p.intercept(req, conn, socksAnswer{})
}

// socksHandshake reads a client's greeting, credentials and request, and
// answers every step; it returns the target ("host:port") of an accepted
// CONNECT. On error the client has had its answer and the caller closes.
func (p *Proxy) socksHandshake(c net.Conn, br *bufio.Reader) (string, error) {
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	switch {
	case head[0] == 4:
		// SOCKS4: "request rejected or failed", in its own reply format.
		_, _ = c.Write([]byte{0, 0x5b, 0, 0, 0, 0, 0, 0})
		return "", errors.New("SOCKS4 is not supported")
	case head[0] != socksVersion && isTokenChar(head[0]):
		msg := "this is Loupe's SOCKS5 listener; send HTTP to Loupe's HTTP proxy listener instead\n"
		_, _ = fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
		return "", errors.New("HTTP on the SOCKS5 listener")
	case head[0] != socksVersion:
		return "", fmt.Errorf("not SOCKS5 (version %d)", head[0])
	}
	methods := make([]byte, head[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return "", fmt.Errorf("greeting: %w", err)
	}
	offered := func(m byte) bool { return strings.IndexByte(string(methods), m) >= 0 }
	var method byte = socksNoAcceptable
	switch {
	case p.cfg.ProxyAuth != "" && offered(socksUserPass):
		method = socksUserPass
	case p.cfg.ProxyAuth != "":
	case offered(socksNoAuth):
		method = socksNoAuth
	case offered(socksUserPass):
		method = socksUserPass // no credentials needed: any will do
	}
	if _, err := c.Write([]byte{socksVersion, method}); err != nil {
		return "", err
	}
	switch method {
	case socksNoAcceptable:
		if p.cfg.ProxyAuth != "" {
			return "", errors.New("the client offered no user name and password authentication (-proxy-auth is set)")
		}
		return "", errors.New("the client offered no usable authentication method")
	case socksUserPass:
		if err := p.socksAuth(c, br); err != nil {
			return "", err
		}
	}

	var req [4]byte
	if _, err := io.ReadFull(br, req[:]); err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	if req[0] != socksVersion {
		return "", fmt.Errorf("request: version %d", req[0])
	}
	var host string
	switch req[3] {
	case socksIPv4, socksIPv6:
		ip := make(net.IP, map[byte]int{socksIPv4: 4, socksIPv6: 16}[req[3]])
		if _, err := io.ReadFull(br, ip); err != nil {
			return "", fmt.Errorf("request: %w", err)
		}
		host = ip.String()
	case socksDomain:
		n, err := br.ReadByte()
		if err != nil {
			return "", fmt.Errorf("request: %w", err)
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(br, name); err != nil {
			return "", fmt.Errorf("request: %w", err)
		}
		host = string(name)
		if host == "" || strings.ContainsAny(host, " /\\@\x00\r\n") {
			socksReply(c, socksHostUnreachable)
			return "", fmt.Errorf("request: bad host name %q", host)
		}
	default:
		socksReply(c, socksAddrUnsupported)
		return "", fmt.Errorf("request: address type %d", req[3])
	}
	var port [2]byte
	if _, err := io.ReadFull(br, port[:]); err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	if req[1] != socksConnectCmd {
		socksReply(c, socksCmdUnsupported)
		return "", fmt.Errorf("command %d (only CONNECT is supported)", req[1])
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(port[0])<<8|int(port[1])))
	if p.isDashboard(target) || p.isSelf(target) {
		socksReply(c, socksNotAllowed)
		return "", fmt.Errorf("tunnel to Loupe itself (%s) refused", target)
	}
	return target, nil
}

// socksAuth reads RFC 1929 credentials and checks them against ProxyAuth
// (any are accepted when it is unset).
func (p *Proxy) socksAuth(c net.Conn, br *bufio.Reader) error {
	ver, err := br.ReadByte()
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if ver != 1 {
		_, _ = c.Write([]byte{1, 1})
		return fmt.Errorf("credentials: version %d", ver)
	}
	field := func() ([]byte, error) {
		n, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return b, err
	}
	user, err := field()
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	pass, err := field()
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	got := append(append(user, ':'), pass...)
	if p.cfg.ProxyAuth != "" && subtle.ConstantTimeCompare(got, []byte(p.cfg.ProxyAuth)) != 1 {
		_, _ = c.Write([]byte{1, 1})
		return errors.New("wrong user name or password")
	}
	_, err = c.Write([]byte{1, 0})
	return err
}

// socksReply writes a reply with an empty bound address (0.0.0.0:0): Loupe
// intercepts the tunnel, so there is no one outgoing address to report.
func socksReply(c net.Conn, code byte) {
	_, _ = c.Write([]byte{socksVersion, code, 0, socksIPv4, 0, 0, 0, 0, 0, 0})
}

// socksAnswer answers a SOCKS5 CONNECT (see tunnelAnswer).
type socksAnswer struct{}

func (socksAnswer) ok(c net.Conn) error {
	_, err := c.Write([]byte{socksVersion, socksSucceeded, 0, socksIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

func (socksAnswer) refuse(c net.Conn, _ int, _ string, err error) {
	socksReply(c, socksCode(err))
}

// socksCode is the SOCKS5 reply for a failed dial.
func socksCode(err error) byte {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, errOwnListener):
		return socksNotAllowed
	case errors.As(err, &dnsErr):
		return socksHostUnreachable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return socksHostUnreachable
	case strings.Contains(err.Error(), "connection refused"):
		return socksRefused
	case strings.Contains(err.Error(), "network is unreachable"):
		return socksNetUnreachable
	case strings.Contains(err.Error(), "no route to host"):
		return socksHostUnreachable
	}
	return socksGeneralFailure
}
