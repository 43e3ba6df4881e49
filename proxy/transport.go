package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptrace"
	"time"

	"loupe/proxy/flow"
)

// newTransport builds Loupe's own Transport. Unlike goproxy's default it
// ignores HTTP(S)_PROXY (a proxy pointing at itself loops), verifies origin
// certificates unless told otherwise, never adds Accept-Encoding nor
// decompresses (the client's encoding negotiation goes through untouched),
// speaks HTTP/2 to origins that offer it, and bounds every wait.
func (p *Proxy) newTransport() *http.Transport {
	c := &p.cfg
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            p.dial,
		TLSClientConfig:        p.tlsClientConfig(),
		TLSHandshakeTimeout:    c.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  c.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        c.IdleConnTimeout,
		MaxIdleConns:           c.MaxIdleConns,
		MaxIdleConnsPerHost:    c.MaxIdleConnsPerHost,
		MaxResponseHeaderBytes: int64(c.MaxHeaderBytes),
		DisableCompression:     true,
		ForceAttemptHTTP2:      true,
	}
}

// dial connects to an origin. A dial made for a flow records the flow's
// DNS and connect times through the net package's trace hooks, so only new
// connections pay for them.
func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if x, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
		ctx = httptrace.WithClientTrace(ctx, x.dialTrace())
	}
	return p.dialer.DialContext(ctx, network, addr)
}

// nopRecorder records nothing; it stands in when Config.Recorder is nil.
type nopRecorder struct{}

func (nopRecorder) Begin(string, flow.Request, time.Time) flow.Handle { return nopHandle{} }

type nopHandle struct{}

func (nopHandle) ID() flow.ID                      { return 0 }
func (nopHandle) UpstreamRequest(flow.Request)     {}
func (nopHandle) UpstreamResponse(flow.Response)   {}
func (nopHandle) Response(flow.Response)           {}
func (nopHandle) Body(flow.Facet, []byte)          {}
func (nopHandle) BodyEnd(flow.Facet)               {}
func (nopHandle) Trailers(flow.Facet, flow.Fields) {}
func (nopHandle) WebSocket(flow.WSMessage)         {}
func (nopHandle) Rule(string, string)              {}
func (nopHandle) ReplayOf(flow.ID)                 {}
func (nopHandle) Target(string, string)            {}
func (nopHandle) Tunnel(flow.Kind, flow.Tunnel)    {}
func (nopHandle) Relayed(flow.Facet, int)          {}
func (nopHandle) UpstreamNotKept(string)           {}
func (nopHandle) Timings(flow.Timings)             {}
func (nopHandle) Finish(time.Time, error)          {}
