package flow

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Breakpoint records what a breakpoint rule did to a flow: which phases it
// held, how and by whom each was released, or why a matching breakpoint did
// not hold the flow. The messages themselves stay where they always are: the
// request as received in Request (and its body), the request as sent (an
// edit included) in UpstreamRequest, the origin's response in
// UpstreamResponse (its body as the upstream facet when an edit replaced
// it), the response as served in Response. Its TypeScript twin lives in
// ui/src/api/types.ts.
type Breakpoint struct {
	// Rule is the ID of the rule whose breakpoint matched.
	Rule string `json:"rule"`
	// Skipped says why a matching breakpoint did not hold the flow ("no
	// dashboard connected", "breakpoint skipped: 32 exchanges already
	// held"); "" when it held it.
	Skipped string `json:"skipped,omitempty"`
	// Request and Response describe each phase held; nil when that phase
	// was not held.
	Request  *BreakpointStop `json:"request,omitempty"`
	Response *BreakpointStop `json:"response,omitempty"`
}

// BreakpointStop is one phase of a flow held at a breakpoint.
type BreakpointStop struct {
	Held time.Time `json:"held"`
	// Released is when the exchange went on; zero while it is held.
	Released time.Time `json:"released,omitzero"`
	// Action is what was done: ReleaseContinue, ReleaseExecute,
	// ReleaseRespond or ReleaseAbort; "" while held.
	Action string `json:"action,omitempty"`
	// By says who decided: ByDashboard, ByTimeout, ByNoDashboard,
	// ByShutdown, ByKill or ByClientGone.
	By string `json:"by,omitempty"`
	// Status is the status answered by a respond, or by an abort that
	// answered instead of closing; 0 otherwise.
	Status int `json:"status,omitempty"`
	// Changed lists the header names Loupe itself set or removed when it
	// sent an edited message: the framing it recomputed (Content-Length),
	// and a Content-Encoding it dropped because the body could not be
	// encoded that way.
	Changed []string `json:"changed,omitempty"`
	// Streamed is set when the body was longer than the breakpoint body
	// cap (or kept arriving): the part read was shown, and the whole body
	// went through unedited.
	Streamed bool `json:"streamed,omitempty"`
	// Edit is the message as the person edited it (execute, respond), its
	// body cut at EditRecordCap bytes (Truncated is then set): for a
	// request, the one place that keeps the edited body (the request body
	// facet is the client's); nil for the other actions.
	Edit *Message `json:"edit,omitempty"`
}

// EditRecordCap bounds the body of an edit kept in BreakpointStop.Edit.
const EditRecordCap = 64 << 10

// Recorded returns a copy of m to keep in a BreakpointStop: its body cut
// at EditRecordCap.
func (m *Message) Recorded() *Message {
	if m == nil {
		return nil
	}
	c := *m
	c.Headers = append(Fields(nil), m.Headers...)
	for _, b := range []**string{&c.Body, &c.BodyBase64} {
		if *b != nil && len(**b) > EditRecordCap {
			cut := (**b)[:EditRecordCap]
			if b == &c.Body {
				for len(cut) > 0 && !utf8.ValidString(cut) {
					cut = cut[:len(cut)-1] // not in the middle of a character
				}
			} else {
				cut = cut[:len(cut)/4*4]
			}
			*b = &cut
			c.Truncated = true
		}
	}
	return &c
}

// What can be done with a held exchange (BreakpointStop.Action, Release).
const (
	ReleaseContinue = "continue" // go on with the message as it was
	ReleaseExecute  = "execute"  // go on with the edited message
	ReleaseRespond  = "respond"  // request phase: answer without the origin
	ReleaseAbort    = "abort"    // close the client connection, or answer a status
)

// Who released a held exchange (BreakpointStop.By).
const (
	ByDashboard   = "dashboard"    // a person, through the API
	ByTimeout     = "timeout"      // the breakpoint's timeout passed
	ByNoDashboard = "no dashboard" // the last dashboard disconnected
	ByShutdown    = "shutdown"     // Loupe stopped
	ByKill        = "kill"         // the flow was killed from the dashboard
	ByClientGone  = "client gone"  // the client went away while held
)

// State is a word for the flow list: "held" while a phase is held,
// "skipped" when the breakpoint did not hold the flow, else the action of
// the last phase released; "" for a nil Breakpoint.
func (b *Breakpoint) State() string {
	switch {
	case b == nil:
		return ""
	case b.Skipped != "":
		return "skipped"
	}
	last := b.Response
	if last == nil {
		last = b.Request
	}
	if last == nil {
		return ""
	}
	if last.Action == "" {
		return "held"
	}
	return last.Action
}

// Clone returns a deep copy.
func (b *Breakpoint) Clone() *Breakpoint {
	if b == nil {
		return nil
	}
	c := *b
	for _, s := range []**BreakpointStop{&c.Request, &c.Response} {
		if *s != nil {
			cp := **s
			cp.Changed = append([]string(nil), cp.Changed...)
			if cp.Edit != nil {
				e := *cp.Edit
				e.Headers = append(Fields(nil), e.Headers...)
				cp.Edit = &e
			}
			*s = &cp
		}
	}
	return &c
}

// Held is one exchange held at a breakpoint, as GET /api/held and the
// held/update feed message list it. Its TypeScript twin lives in
// ui/src/api/types.ts.
type Held struct {
	// ID is the flow's ID.
	ID ID `json:"id"`
	// Phase is "request" (held before the origin was dialled) or
	// "response" (held before the client got the head).
	Phase string `json:"phase"`
	// Rule is the ID of the breakpoint's rule.
	Rule string `json:"rule"`
	// HeldAt and Deadline are RFC 3339 times with milliseconds, in UTC;
	// RemainingMs is the time left until Deadline when the list was made.
	HeldAt      string `json:"heldAt"`
	Deadline    string `json:"deadline"`
	RemainingMs int64  `json:"remainingMs"`
	// OnTimeout is what happens at the deadline: "continue" or "abort".
	OnTimeout string `json:"onTimeout"`
	// Request is the request: the held message in the request phase, the
	// request as sent in the response phase.
	Request Message `json:"request"`
	// Response is the held response (response phase only).
	Response *Message `json:"response,omitempty"`
}

// MillisUTC formats t as RFC 3339 with milliseconds, in UTC: the form of
// Held's times.
func MillisUTC(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Message is a request or a response as the dashboard shows and edits it:
// the head (method and URL, or status), the headers as a list, and the body
// decoded (its Content-Encoding undone) as text when it is UTF-8, else as
// base64. Its TypeScript twin lives in ui/src/api/types.ts.
//
// As an edit (execute, respond), a field left out stays as it was: an
// empty Method or URL, a zero Status, absent headers (nil; an empty list
// removes them all) and an absent body (both Body and BodyBase64 nil).
type Message struct {
	Method  string `json:"method,omitempty"`
	URL     string `json:"url,omitempty"`
	Status  int    `json:"status,omitempty"`
	Headers Fields `json:"headers"`
	// Body is the decoded body as text; BodyBase64 as base64 when it is
	// not UTF-8. At most one is set.
	Body       *string `json:"body,omitempty"`
	BodyBase64 *string `json:"bodyBase64,omitempty"`
	// Truncated says the body shown is only its start (past the breakpoint
	// body cap, or still arriving): it cannot be edited, and goes through
	// as it is.
	Truncated bool `json:"truncated,omitempty"`
	// BodyOmitted says a listing left the body out to stay small (the
	// held/update feed message): GET /api/held/{id} has it.
	BodyOmitted bool `json:"bodyOmitted,omitempty"`
}

// SetBody sets Body or BodyBase64 from decoded bytes.
func (m *Message) SetBody(b []byte) {
	if utf8.Valid(b) {
		s := string(b)
		m.Body, m.BodyBase64 = &s, nil
		return
	}
	s := base64.StdEncoding.EncodeToString(b)
	m.Body, m.BodyBase64 = nil, &s
}

// Release is a decision about a held exchange.
type Release struct {
	// Action is ReleaseContinue, ReleaseExecute, ReleaseRespond or
	// ReleaseAbort.
	Action string
	// Edit is the edited message (execute, respond).
	Edit *Message
	// Status, for an abort, answers with this status instead of closing
	// the connection; 0 closes it.
	Status int
}

// Errors of the live-exchange operations (hold, release, kill).
var (
	// ErrNotHeld: no exchange with that flow ID is held at a breakpoint.
	ErrNotHeld = errors.New("not held at a breakpoint")
	// ErrNotLive: no exchange with that flow ID is in flight.
	ErrNotLive = errors.New("not in flight")
)

// EditError is an edit that cannot be applied to a held message, naming
// the field at fault ("url", "headers", "body", "status").
type EditError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *EditError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }
