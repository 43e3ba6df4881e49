package proxy

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// HTTP/2 without TLS ("h2c" with prior knowledge) is what gRPC clients speak
// to plaintext servers: inside a CONNECT tunnel they send the HTTP/2
// connection preface at once instead of an HTTP/1 request. Loupe then serves
// the tunnel as HTTP/2 and speaks HTTP/2 to the origin too, which may know
// no other protocol.

// h2cPreface opens every HTTP/2 connection (RFC 9113, 3.4).
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// priorKnowledge reports whether the tunnel connection c starts with the
// HTTP/2 preface. It reads only while the bytes so far match it, so an
// HTTP/1 request (whose method differs from "PRI" by its second byte at
// the latest) is never waited on; the wait is bounded by timeout.
func priorKnowledge(c net.Conn, timeout time.Duration) bool {
	bc, ok := c.(*bufferedConn)
	if !ok {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	return hasPrefixSoFar(bc.r, h2cPreface)
}

func hasPrefixSoFar(r *bufio.Reader, prefix string) bool {
	for n := 1; n <= len(prefix); n++ {
		got, err := r.Peek(n)
		if err != nil || got[n-1] != prefix[n-1] {
			return false
		}
	}
	return true
}

// h2cProtocols serves or sends HTTP/2 without TLS, and nothing else.
func h2cProtocols() *http.Protocols {
	var ps http.Protocols
	ps.SetUnencryptedHTTP2(true)
	return &ps
}

// newH2CTransport is Loupe's Transport speaking HTTP/2 with prior
// knowledge to plain-HTTP origins.
func (p *Proxy) newH2CTransport() *http.Transport {
	tr := p.newTransport()
	tr.Protocols = h2cProtocols()
	return tr
}

// wantsH2C reports whether an outgoing request goes to its origin as h2c:
// the client sent it over HTTP/2 without TLS, and it goes to a plain-HTTP
// origin.
func wantsH2C(req *http.Request) bool {
	return req.ProtoMajor == 2 && req.TLS == nil && req.URL.Scheme == "http"
}
