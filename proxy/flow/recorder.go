package flow

import "time"

// Recorder receives the phases of every flow from the proxy core. It is the
// only way the core talks to the capture.
//
// Implementations must never block the caller on anything slow (no I/O that
// can stall, no waiting on readers): the proxy calls these methods on its hot
// path. Copying bytes under a short lock is fine; bounding what is kept is the
// recorder's job.
//
// The heads given to Begin, UpstreamRequest, UpstreamResponse and Response
// belong to the recorder from then on: the caller builds a new one for each
// call and never changes it afterwards, so the recorder keeps it without a
// copy.
type Recorder interface {
	// Begin records a new flow whose request head was just received from
	// client and returns the handle through which the rest is reported.
	Begin(client string, req Request, start time.Time) Handle
}

// Handle reports the phases of one flow. Methods may be called from several
// goroutines (the request body and response body are copied concurrently);
// implementations synchronise. Every method is safe to call after Finish
// (it is then ignored).
type Handle interface {
	// ID is the flow's identifier, assigned by Begin.
	ID() ID
	// UpstreamRequest records the head as sent to the origin, after rules.
	UpstreamRequest(req Request)
	// UpstreamResponse records the head as received from the origin.
	UpstreamResponse(resp Response)
	// Response records the head as served to the client.
	Response(resp Response)
	// Body appends bytes that crossed the proxy to one facet. The recorder
	// copies what it keeps (p is reused by the caller) and counts the rest;
	// a BodyLender may instead keep p when p starts a buffer it lent.
	Body(facet Facet, p []byte)
	// BodyEnd marks a facet as read to its end.
	BodyEnd(facet Facet)
	// Trailers records the trailer fields that ended a body, once it was
	// read to its end: the client's request (FacetRequest), the origin's
	// response (FacetUpstream: UpstreamResponse.Trailers, whether or not a
	// rule replaced the served body) or the response as served
	// (FacetResponse). Not called when there were none. The fields belong
	// to the recorder, as heads do.
	Trailers(facet Facet, fields Fields)
	// WebSocket records one message.
	WebSocket(msg WSMessage)
	// Rule records that a rule touched the flow; kind is the response-producing
	// action ("override", "mock", "block") when the rule produced the
	// response, else "".
	Rule(id string, kind string)
	// ReplayOf marks the flow as a replay of an earlier one.
	ReplayOf(id ID)
	// Composed marks the flow as a request written in the dashboard,
	// edited from flow from (0: written from scratch).
	Composed(from ID)
	// Target records where the request goes when its URL does not say it
	// (Flow.Tunnel). Called at most once, before the request goes
	// upstream, and only when target or serverName is set.
	Target(target, serverName string)
	// MappedTo records the address a host mapping sent the request to
	// instead (Tunnel.MappedTo). Called at most once, when the request goes
	// upstream, after Target, and only when a mapping applied.
	MappedTo(addr string)
	// Tunnel marks the flow as a tunnel or a failed client handshake
	// rather than an HTTP exchange (Flow.Kind) and records its details
	// (Flow.Tunnel). Called right after Begin, and again, with the same
	// kind and the whole record, when the proxy learns more while the
	// tunnel is open (the server name a passthrough tunnel's client sent).
	Tunnel(kind Kind, t Tunnel)
	// Relayed counts n bytes that crossed a tunnel without being captured:
	// facet FacetRequest for client to origin, FacetResponse for origin to
	// client. It is called as the bytes pass, so an open tunnel's figures
	// grow live.
	Relayed(facet Facet, n int)
	// UpstreamNotKept records why the origin's body of a replaced response
	// was not kept, or not whole (Flow.UpstreamNotKept). Only the first
	// reason is kept.
	UpstreamNotKept(reason string)
	// Breakpoint records what a breakpoint did to the flow (Flow.Breakpoint),
	// each time it changes (held, released, skipped): the whole record,
	// which belongs to the recorder, as heads do.
	Breakpoint(b Breakpoint)
	// Timings records the phase durations.
	Timings(t Timings)
	// Finish ends the flow at time end: done when err is nil, else error with
	// err's message. Calls after the first are ignored.
	Finish(end time.Time, err error)
}

// BodyLender is a Handle that can keep body bytes without copying them: the
// proxy reads a body into a buffer the handle lends, and a Body call whose
// p starts that buffer may keep a reference to it instead of a copy. For
// large bodies the copy into the capture costs as much CPU as the proxy's
// own work; lending removes it. The memory store does not lend.
//
// A caller lends only where nothing but itself reads into the buffer: once
// it has passed the buffer to Body it never writes to it again, and it
// only reads the bytes it passed until it gives the buffer back.
type BodyLender interface {
	// LendBody returns a buffer of length n for the next read of a body,
	// or nil when the handle has none to lend (the caller uses its own).
	LendBody(n int) []byte
	// ReturnBody gives back a buffer from LendBody, whether or not Body
	// kept part of it.
	ReturnBody(b []byte)
}

// Recorded is a finished flow together with its body bytes (wire form, as
// described by the flow's Body facts), as read back from an export.
type Recorded struct {
	Flow   Flow
	Bodies map[Facet][]byte
}
