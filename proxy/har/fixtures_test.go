package har

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"loupe/proxy/flow"
)

// memStore is a tiny flow store for the tests: flows in order and their wire
// bodies, served the way store.Store.Body serves them.
type memStore struct {
	flows  []*flow.Flow
	bodies map[flow.ID]map[flow.Facet][]byte
}

func (m *memStore) add(f *flow.Flow, bodies map[flow.Facet][]byte) {
	if m.bodies == nil {
		m.bodies = map[flow.ID]map[flow.Facet][]byte{}
	}
	f.ID = flow.ID(len(m.flows) + 1)
	m.flows = append(m.flows, f)
	m.bodies[f.ID] = bodies
}

// addRecorded stores imported flows the way store.Import does.
func (m *memStore) addRecorded(rs []flow.Recorded) {
	for _, r := range rs {
		f := r.Flow.Clone()
		for facet, data := range r.Bodies {
			var b *flow.Body
			switch facet {
			case flow.FacetRequest:
				b = &f.RequestBody
			case flow.FacetResponse:
				b = &f.ResponseBody
			case flow.FacetUpstream:
				if f.UpstreamBody == nil {
					f.UpstreamBody = &flow.Body{}
				}
				b = f.UpstreamBody
			}
			b.Captured = int64(len(data))
			b.Size = max(b.Size, int64(len(data)))
			b.Complete = true
		}
		m.add(f, r.Bodies)
	}
}

func (m *memStore) all(yield func(*flow.Flow) bool) {
	for _, f := range m.flows {
		if !yield(f) {
			return
		}
	}
}

func (m *memStore) body(id flow.ID, facet flow.Facet) (io.ReadCloser, flow.Body, error) {
	f := m.flows[id-1]
	data, ok := m.bodies[id][facet]
	var facts flow.Body
	switch facet {
	case flow.FacetRequest:
		facts = f.RequestBody
	case flow.FacetResponse:
		facts = f.ResponseBody
	case flow.FacetUpstream:
		if f.UpstreamBody == nil {
			return nil, facts, fmt.Errorf("flow %d upstream body: not found", id)
		}
		facts = *f.UpstreamBody
	}
	if !ok && facts.Captured > 0 {
		return nil, facts, fmt.Errorf("flow %d %s body: not found", id, facet)
	}
	return io.NopCloser(bytes.NewReader(data)), facts, nil
}

var base = time.Date(2026, 3, 4, 10, 20, 30, 123_000_000, time.UTC)

func fs(kv ...string) flow.Fields {
	var out flow.Fields
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, flow.Field{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func gz(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

func br(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w := brotli.NewWriterLevel(&b, 5)
	w.Write(p)
	w.Close()
	return b.Bytes()
}

func zst(t testing.TB, p []byte) []byte {
	w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(p, nil)
}

func wireBody(data []byte, enc, ct string) flow.Body {
	return flow.Body{Size: int64(len(data)), Captured: int64(len(data)), Complete: true, Encoding: enc, ContentType: ct}
}

// sampleFlows builds one flow of each kind the export must handle.
func sampleFlows(t testing.TB) *memStore {
	m := &memStore{}
	timing := flow.Timings{Blocked: 0.5, DNS: 1.25, Connect: 10, TLS: 6, Send: 0.125, Wait: 20.5, Receive: 3}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

	// 1. JSON over gzip, with credentials, cookies and a query.
	jsonBody := []byte(`{"user":{"id":42,"name":"Zoë <admin>"},"items":[1,2,3]}`)
	jgz := gz(t, jsonBody)
	m.add(&flow.Flow{Start: base, End: base.Add(35375 * time.Microsecond), State: flow.StateDone,
		Request: flow.Request{Method: "GET", URL: "https://api.example.test/v1/me?token=s3cret&lang=en", Proto: "HTTP/2.0",
			Header: fs("Accept", "application/json", "Authorization", "Bearer abc.def", "Cookie", "sid=xyz; theme=dark", "X-Api-Key", "k-123")},
		Response: &flow.Response{Status: 200, Proto: "HTTP/2.0",
			Header: fs("Content-Encoding", "gzip", "Content-Type", "application/json; charset=utf-8", "Set-Cookie", "sid=new; Path=/; HttpOnly; Secure")},
		ResponseBody: wireBody(jgz, "gzip", "application/json; charset=utf-8"),
		Timings:      timing,
	}, map[flow.Facet][]byte{flow.FacetResponse: jgz})

	// 2. Form POST answered by a redirect.
	form := []byte("user=ann&password=hunter2&remember=on")
	m.add(&flow.Flow{Start: base.Add(time.Second), End: base.Add(time.Second + 5*time.Millisecond), State: flow.StateDone,
		Request: flow.Request{Method: "POST", URL: "http://shop.example.test/login", Proto: "HTTP/1.1",
			Header: fs("Content-Type", "application/x-www-form-urlencoded", "Content-Length", "37")},
		RequestBody: wireBody(form, "", "application/x-www-form-urlencoded"),
		Response: &flow.Response{Status: 302, Proto: "HTTP/1.1",
			Header: fs("Location", "/account", "Content-Length", "0")},
		Timings: flow.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: 0.2, Wait: 4.3, Receive: 0.5},
	}, map[flow.Facet][]byte{flow.FacetRequest: form})

	// 3. Binary upload and a binary answer, inside a tunnel to another
	// address than the URL's (an IP-pinning client), which a host mapping
	// sent elsewhere again.
	upload := []byte{0, 1, 2, 0xfe, 0xff, 'b', 'i', 'n'}
	m.add(&flow.Flow{Start: base.Add(2 * time.Second), State: flow.StateDone,
		Request: flow.Request{Method: "PUT", URL: "https://files.example.test/blob/7", Proto: "HTTP/1.1",
			Header: fs("Content-Type", "application/octet-stream")},
		Tunnel:       &flow.Tunnel{Target: "192.0.2.7:8443", ServerName: "files.internal.test", MappedTo: "127.0.0.1:9443"},
		RequestBody:  wireBody(upload, "", "application/octet-stream"),
		Response:     &flow.Response{Status: 201, Proto: "HTTP/1.1", Header: fs("Content-Type", "image/png")},
		ResponseBody: wireBody(png, "", "image/png"),
		Timings:      flow.NoTimings,
		End:          base.Add(2*time.Second + 12*time.Millisecond),
	}, map[flow.Facet][]byte{flow.FacetRequest: upload, flow.FacetResponse: png})

	// 4. An overridden response: served and upstream bodies differ.
	served := []byte(`{"mock":true}`)
	origin := []byte("<html><body>origin page</body></html>")
	obr := br(t, origin)
	m.add(&flow.Flow{Start: base.Add(3 * time.Second), End: base.Add(3*time.Second + 40*time.Millisecond), State: flow.StateDone,
		Request:          flow.Request{Method: "GET", URL: "https://www.example.test/profile", Proto: "HTTP/1.1", Header: fs("Accept", "*/*")},
		UpstreamRequest:  &flow.Request{Method: "GET", URL: "https://staging.example.test/profile", Proto: "HTTP/1.1", Header: fs("Accept", "*/*", "X-Debug", "1")},
		UpstreamResponse: &flow.Response{Status: 500, Proto: "HTTP/1.1", Header: fs("Content-Encoding", "br", "Content-Type", "text/html")},
		Response:         &flow.Response{Status: 200, Proto: "HTTP/1.1", Header: fs("Content-Type", "application/json")},
		ResponseBody:     wireBody(served, "", "application/json"),
		UpstreamBody:     &flow.Body{Size: int64(len(obr)), Captured: int64(len(obr)), Complete: true, Encoding: "br", ContentType: "text/html"},
		UpstreamNotKept:  "original cut short: past -drain-timeout (30s)",
		Breakpoint: &flow.Breakpoint{Rule: "bp-profile",
			Request: &flow.BreakpointStop{Held: base.Add(3*time.Second + time.Millisecond), Released: base.Add(3*time.Second + 9*time.Millisecond),
				Action: flow.ReleaseExecute, By: flow.ByDashboard, Changed: []string{"Content-Length"},
				Edit: &flow.Message{URL: "https://staging.example.test/profile", Headers: flow.Fields{{Name: "X-Debug", Value: "1"}}}},
			Response: &flow.BreakpointStop{Held: base.Add(3*time.Second + 30*time.Millisecond), Released: base.Add(3*time.Second + 39*time.Millisecond),
				Action: flow.ReleaseContinue, By: flow.ByTimeout, Streamed: true}},
		Rules:      []string{"map-staging", "mock-profile"},
		Overridden: "override",
		Timings:    timing,
	}, map[flow.Facet][]byte{flow.FacetResponse: served, flow.FacetUpstream: obr})

	// 5. A WebSocket with text, binary and close frames.
	m.add(&flow.Flow{Start: base.Add(4 * time.Second), End: base.Add(9 * time.Second), State: flow.StateDone,
		Request: flow.Request{Method: "GET", URL: "wss://ws.example.test/chat", Proto: "HTTP/1.1",
			Header: fs("Connection", "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version", "13", "Upgrade", "websocket")},
		Response: &flow.Response{Status: 101, Proto: "HTTP/1.1",
			Header: fs("Connection", "Upgrade", "Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Upgrade", "websocket")},
		WebSocket: []flow.WSMessage{
			{Direction: flow.Send, Time: base.Add(4100 * time.Millisecond), Opcode: 1, Size: 5, Data: []byte("hello")},
			{Direction: flow.Receive, Time: base.Add(4200 * time.Millisecond), Opcode: 2, Size: 4, Data: []byte{0xde, 0xad, 0xbe, 0xef}},
			{Direction: flow.Receive, Time: base.Add(4300 * time.Millisecond), Opcode: 1, Size: 10, Data: []byte("{\"n\":"), Truncated: true},
			{Direction: flow.Send, Time: base.Add(9 * time.Second), Opcode: 8, Size: 2, Data: []byte{0x03, 0xe8}},
		},
		// The relay is the receive phase: the phases add up to the 5 s.
		Timings: flow.Timings{Blocked: 0.5, DNS: 1.25, Connect: 10, TLS: 6, Send: 0.125, Wait: 20.5, Receive: 4967.625},
	}, nil)

	// 6. A failed exchange: no response at all.
	m.add(&flow.Flow{Start: base.Add(5 * time.Second), End: base.Add(5*time.Second + 3*time.Millisecond), State: flow.StateError,
		Request: flow.Request{Method: "GET", URL: "https://down.example.test/", Proto: "HTTP/1.1", Header: fs("Accept", "*/*")},
		Error:   "dial tcp 127.0.0.1:9: connect: connection refused",
		Timings: flow.Timings{Blocked: -1, DNS: 0.5, Connect: -1, TLS: -1, Send: 0, Wait: 2.5, Receive: 0},
	}, nil)

	// 7. A body cut by the capture cap, and one in Latin-1.
	cut := bytes.Repeat([]byte("0123456789"), 10)
	latin := []byte("caf\xe9 cr\xe8me br\xfbl\xe9e")
	m.add(&flow.Flow{Start: base.Add(6 * time.Second), End: base.Add(6*time.Second + time.Millisecond), State: flow.StateDone,
		Request:      flow.Request{Method: "GET", URL: "http://big.example.test/log.txt", Proto: "HTTP/1.1", Header: fs()},
		Response:     &flow.Response{Status: 200, Proto: "HTTP/1.1", Header: fs("Content-Type", "text/plain")},
		ResponseBody: flow.Body{Size: 5000, Captured: 100, Truncated: true, Complete: true, ContentType: "text/plain"},
		Timings:      timing,
	}, map[flow.Facet][]byte{flow.FacetResponse: cut})
	m.add(&flow.Flow{Start: base.Add(7 * time.Second), End: base.Add(7*time.Second + time.Millisecond), State: flow.StateDone,
		Request:      flow.Request{Method: "GET", URL: "http://old.example.test/menu", Proto: "HTTP/1.0", Header: fs()},
		Response:     &flow.Response{Status: 200, Proto: "HTTP/1.0", Header: fs("Content-Type", "text/html; charset=ISO-8859-1")},
		ResponseBody: wireBody(latin, "", "text/html; charset=ISO-8859-1"),
		Timings:      timing,
	}, map[flow.Facet][]byte{flow.FacetResponse: latin})

	// 8. zstd, and a body whose encoding is corrupt.
	css := []byte("body { color: #333; }\n")
	czst := zst(t, css)
	bad := []byte("\x1f\x8b\x08\x00garbage")
	m.add(&flow.Flow{Start: base.Add(8 * time.Second), End: base.Add(8*time.Second + 2*time.Millisecond), State: flow.StateDone,
		Request:      flow.Request{Method: "GET", URL: "https://cdn.example.test/site.css", Proto: "HTTP/2.0", Header: fs("Accept-Encoding", "zstd")},
		Response:     &flow.Response{Status: 200, Proto: "HTTP/2.0", Header: fs("Content-Encoding", "zstd", "Content-Type", "text/css")},
		ResponseBody: wireBody(czst, "zstd", "text/css"),
		Timings:      timing,
	}, map[flow.Facet][]byte{flow.FacetResponse: czst})
	m.add(&flow.Flow{Start: base.Add(9 * time.Second), End: base.Add(9*time.Second + 2*time.Millisecond), State: flow.StateDone,
		Request:      flow.Request{Method: "GET", URL: "https://broken.example.test/x.js", Proto: "HTTP/1.1", Header: fs()},
		Response:     &flow.Response{Status: 200, Proto: "HTTP/1.1", Header: fs("Content-Encoding", "gzip", "Content-Type", "application/javascript")},
		ResponseBody: wireBody(bad, "gzip", "application/javascript"),
		Timings:      timing,
	}, map[flow.Facet][]byte{flow.FacetResponse: bad})

	// 10. A passthrough tunnel: bytes counted each way, none captured.
	m.add(&flow.Flow{Start: base.Add(11 * time.Second), End: base.Add(14 * time.Second), State: flow.StateDone,
		Kind:         flow.KindTunnel,
		Request:      flow.Request{Method: "CONNECT", URL: "https://bank.example.test:443", Proto: "HTTP/1.1", Header: fs("Host", "bank.example.test:443")},
		Tunnel:       &flow.Tunnel{Mode: flow.TunnelPassthrough},
		Response:     &flow.Response{Status: 200, Proto: "HTTP/1.1"},
		RequestBody:  flow.Body{Size: 1517, Complete: true},
		ResponseBody: flow.Body{Size: 48213, Complete: true},
		Timings:      flow.Timings{Blocked: -1, DNS: -1, Connect: 1.5, TLS: -1, Send: 0, Wait: 0, Receive: 2998.5},
	}, nil)

	// 11. A client that rejected Loupe's certificate.
	m.add(&flow.Flow{Start: base.Add(12 * time.Second), End: base.Add(12*time.Second + 4*time.Millisecond), State: flow.StateError,
		Kind:    flow.KindTLSError,
		Request: flow.Request{Method: "CONNECT", URL: "https://app.example.test:443", Proto: "HTTP/1.1", Header: fs("Host", "app.example.test:443")},
		Tunnel:  &flow.Tunnel{SNI: "app.example.test", Failure: "unknown_ca"},
		Error:   "the client rejected Loupe's certificate: unknown authority (TLS alert unknown_ca) — install Loupe's CA certificate on the client",
		Timings: flow.NoTimings,
	}, nil)

	// 9. Still pending.
	m.add(&flow.Flow{Start: base.Add(10 * time.Second), State: flow.StatePending,
		Request: flow.Request{Method: "GET", URL: "https://slow.example.test/poll", Proto: "HTTP/1.1", Header: fs()},
		Timings: flow.NoTimings,
	}, nil)
	return m
}
