package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"loupe/proxy/flow"
)

// Session is one named part of a capture, as Charles users know them: the
// flows recorded between two "new session" points, or one imported file.
// The newest recorded session is the one recording; the others are kept
// until deleted (or, unless pinned, until retention evicts their flows).
// Its TypeScript twin lives in ui/src/api/types.ts.
type Session struct {
	ID      flow.SessionID `json:"id"`
	Name    string         `json:"name"`
	Created time.Time      `json:"created"`
	// Pinned sessions are never evicted by the durable capture's
	// retention. The memory store keeps the mark but its bounds win: RAM
	// is what it promises to stay within.
	Pinned bool `json:"pinned"`
	// Recording marks the session new flows go to; exactly one is.
	Recording bool `json:"recording"`
	// Flows and Bytes are what the session holds now (Bytes as the store
	// counts them: heads, bodies and WebSocket messages).
	Flows int64 `json:"flows"`
	Bytes int64 `json:"bytes"`
}

// SessionPatch changes a session; a nil field is left as it is.
type SessionPatch struct {
	Name   *string `json:"name,omitempty"`
	Pinned *bool   `json:"pinned,omitempty"`
}

// Errors of the session operations, besides ErrNotFound.
var (
	// ErrRecording refuses to delete the session that is recording: start
	// a new session first (or clear its flows).
	ErrRecording = errors.New("the session is recording")
	// ErrImportTooLarge refuses an import that cannot fit in the capture's
	// bounds (flows or bytes); nothing of it is kept.
	ErrImportTooLarge = errors.New("more than the capture keeps")
	// ErrBadSessionName refuses a name that is empty (where one is
	// required), too long or not text.
	ErrBadSessionName = errors.New("bad session name")
)

// MaxSessionName is the longest session name, in bytes.
const MaxSessionName = 200

// SessionName checks and tidies a session name: spaces trimmed, UTF-8, at
// most MaxSessionName bytes, no control characters. An empty name becomes
// the time now (as a session started without a name is called).
func SessionName(name string, now time.Time) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return now.Format(time.DateTime), nil
	}
	if len(name) > MaxSessionName {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadSessionName, MaxSessionName)
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%w: not plain text", ErrBadSessionName)
	}
	return name, nil
}

// Rename checks and tidies a session's new name as SessionName does, but an
// empty name is refused: a rename must say what to.
func Rename(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("%w: empty", ErrBadSessionName)
	}
	return SessionName(name, time.Time{})
}

// ImportTarget says where imported flows go and how they are read.
type ImportTarget struct {
	// Session is an existing session the flows join once the import is
	// committed; 0 makes a new session, named Name.
	Session flow.SessionID
	// Name names the new session ("" : the time now).
	Name string
	// Verbatim keeps every flow as given (a Loupe session file): its
	// state, its Imported mark, its bodies' completeness, replays pointing
	// at flows of the same file. Otherwise (a HAR file) flows are marked
	// imported and a flow without a final state counts as done. Either
	// way a flow gets a new ID.
	Verbatim bool
	// Size is the import's size in bytes when it is known beforehand (a
	// request's Content-Length): an import larger than the capture's byte
	// bound is refused before anything is read. 0: unknown.
	Size int64
}

// Importer adds flows to a capture as they are read, one at a time, so that
// an import never holds the whole file: nothing of it is visible until
// Commit, and Abort (or a failed Add or Commit) leaves the capture as it
// was. An import that grows past the capture's bounds fails at once with
// ErrImportTooLarge. An Importer is used by one goroutine.
type Importer interface {
	// Add stores one flow (a copy: r may be reused afterwards). After an
	// error the import is over: call Abort.
	Add(r *flow.Recorded) error
	// Flows is how many flows were added so far.
	Flows() int
	// Commit makes the flows visible in the target session and returns it
	// with their IDs, in the order they were added.
	Commit() (Session, []flow.ID, error)
	// Abort drops what was added. It is safe after Commit (then it does
	// nothing) and more than once.
	Abort()
}

// interruptedImport is the error of a flow that was still in progress in
// the file it was imported from.
const interruptedImport = "interrupted: the flow was still in progress when it was exported"

// VerbatimState is the state and error an imported flow keeps: as given,
// except that a flow still in progress in the file can never finish, so it
// becomes an interrupted error.
func VerbatimState(f *flow.Flow) {
	if f.State == "" || f.State == flow.StatePending {
		f.State = flow.StateError
		if f.Error == "" {
			f.Error = interruptedImport
		}
	}
}

// IDMap maps the IDs flows had in an imported file to the IDs the store gave
// them, so that a replay imported with its original can point at it. Files
// list flows in ascending ID order (as exports write them): a lookup is a
// binary search, and a file out of order simply maps nothing more.
type IDMap struct {
	old, new []flow.ID
	sorted   bool
}

// Add records that old became new.
func (m *IDMap) Add(old, new flow.ID) {
	if len(m.old) == 0 {
		m.sorted = true
	}
	if n := len(m.old); n > 0 && old <= m.old[n-1] {
		m.sorted = false
	}
	m.old = append(m.old, old)
	m.new = append(m.new, new)
}

// Lookup returns the new ID of old, or 0.
func (m *IDMap) Lookup(old flow.ID) flow.ID {
	if !m.sorted || old == 0 {
		return 0
	}
	if i, ok := slices.BinarySearch(m.old, old); ok {
		return m.new[i]
	}
	return 0
}
