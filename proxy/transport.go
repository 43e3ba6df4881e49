package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/h1"
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

// newOriginClient sets p.origin, what sends every upstream request: the
// Transport alone with OriginClientStdlib, else the pooled HTTP/1.1 client
// in front of it (see Config.OriginClient).
func (p *Proxy) newOriginClient() error {
	c := &p.cfg
	p.origin = p.tr
	if c.OriginClient == OriginClientStdlib {
		return nil
	}
	cl, err := h1.New(h1.Config{
		Dial:                   p.dial,
		Fallback:               p.tr,
		TLSConfig:              p.tlsClientConfig(),
		TLSHandshakeTimeout:    c.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  c.ResponseHeaderTimeout,
		IdleConnTimeout:        c.IdleConnTimeout,
		MaxIdleConns:           c.MaxIdleConns,
		MaxIdleConnsPerHost:    c.MaxIdleConnsPerHost,
		MaxResponseHeaderBytes: int64(c.MaxHeaderBytes),
	})
	if err != nil {
		return fmt.Errorf("origin client: %w", err)
	}
	p.h1, p.origin = cl, cl
	return nil
}

// dial connects to an origin. A dial made for a flow records the flow's
// DNS and connect times through the net package's trace hooks, so only new
// connections pay for them.
func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if x, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
		ctx = httptrace.WithClientTrace(ctx, x.dialTrace())
	}
	return p.dialOrigin(ctx, network, addr)
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
func (nopHandle) Composed(flow.ID)                 {}
func (nopHandle) Target(string, string)            {}
func (nopHandle) Tunnel(flow.Kind, flow.Tunnel)    {}
func (nopHandle) MappedTo(string)                  {}
func (nopHandle) Relayed(flow.Facet, int)          {}
func (nopHandle) UpstreamNotKept(string)           {}
func (nopHandle) Breakpoint(flow.Breakpoint)       {}
func (nopHandle) Timings(flow.Timings)             {}
func (nopHandle) Finish(time.Time, error)          {}
