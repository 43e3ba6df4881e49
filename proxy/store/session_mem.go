package store

import (
	"fmt"
	"time"

	"loupe/proxy/flow"
)

// memSession is a session of the memory store. Its flows are the entries
// whose flow.Session is its ID; their count is kept in Store.sessFlows.
type memSession struct {
	id      flow.SessionID
	name    string
	created time.Time
	pinned  bool
}

// addSessionLocked adds a session (not recording). name is checked.
func (s *Store) addSessionLocked(name string, now time.Time) *memSession {
	s.lastSession++
	ss := &memSession{id: s.lastSession, name: name, created: now}
	s.sessions = append(s.sessions, ss)
	return ss
}

// startSessionLocked adds a session and makes it the recording one.
func (s *Store) startSessionLocked(name string, now time.Time) *memSession {
	if name == "" {
		name = now.Format(time.DateTime)
	}
	ss := s.addSessionLocked(name, now)
	s.recording = ss.id
	return ss
}

func (s *Store) sessionLocked(id flow.SessionID) *memSession {
	for _, ss := range s.sessions {
		if ss.id == id {
			return ss
		}
	}
	return nil
}

// sessionBytesLocked sums what the flows of every session hold: heads,
// bodies and messages, in RAM and on disk.
func (s *Store) sessionBytesLocked() map[flow.SessionID]int64 {
	out := map[flow.SessionID]int64{}
	for _, e := range s.order[s.head:] {
		if e.isGone() {
			continue
		}
		ram, disk := e.usage()
		out[e.flow.Session] += ram + disk + int64(e.head)
	}
	return out
}

func (s *Store) describeLocked(ss *memSession, bytes int64) Session {
	return Session{ID: ss.id, Name: ss.name, Created: ss.created, Pinned: ss.pinned,
		Recording: ss.id == s.recording, Flows: int64(s.sessFlows[ss.id]), Bytes: bytes}
}

// session describes one session.
func (s *Store) session(id flow.SessionID) (Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.sessionLocked(id)
	if ss == nil {
		return Session{}, fmt.Errorf("session %d: %w", id, ErrNotFound)
	}
	return s.describeLocked(ss, s.sessionBytesLocked()[id]), nil
}

// Sessions lists the sessions, oldest first, with what each holds. It
// walks every flow for the byte totals (the memory store holds few enough).
func (s *Store) Sessions() ([]Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	bytes := s.sessionBytesLocked()
	out := make([]Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, s.describeLocked(ss, bytes[ss.id]))
	}
	return out, nil
}

// RecordingSession is the session Begin records into.
func (s *Store) RecordingSession() flow.SessionID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.recording
}

// NewSession starts a session and makes it the recording one. Flows in
// progress stay in the session they began in.
func (s *Store) NewSession(name string) (Session, error) {
	now := time.Now()
	name, err := SessionName(name, now)
	if err != nil {
		return Session{}, err
	}
	s.mu.Lock()
	ss := s.startSessionLocked(name, now)
	out := s.describeLocked(ss, 0)
	s.mu.Unlock()
	return out, nil
}

// UpdateSession renames or pins a session.
func (s *Store) UpdateSession(id flow.SessionID, p SessionPatch) (Session, error) {
	var name string
	if p.Name != nil {
		n, err := Rename(*p.Name)
		if err != nil {
			return Session{}, err
		}
		name = n
	}
	s.mu.Lock()
	ss := s.sessionLocked(id)
	if ss == nil {
		s.mu.Unlock()
		return Session{}, fmt.Errorf("session %d: %w", id, ErrNotFound)
	}
	if p.Name != nil {
		ss.name = name
	}
	if p.Pinned != nil {
		ss.pinned = *p.Pinned
	}
	s.mu.Unlock()
	return s.session(id)
}

// DeleteSession removes a session and its flows (published as removals,
// not counted as evictions). The recording session cannot be deleted.
func (s *Store) DeleteSession(id flow.SessionID) error {
	return s.removeSession(id, true)
}

// ClearSession removes the flows of one session and keeps the session.
func (s *Store) ClearSession(id flow.SessionID) error {
	return s.removeSession(id, false)
}

func (s *Store) removeSession(id flow.SessionID, andSession bool) error {
	s.mu.Lock()
	ss := s.sessionLocked(id)
	if ss == nil {
		s.mu.Unlock()
		return fmt.Errorf("session %d: %w", id, ErrNotFound)
	}
	if andSession && id == s.recording {
		s.mu.Unlock()
		return fmt.Errorf("delete session %d: %w", id, ErrRecording)
	}
	var victims []*entry
	for _, e := range s.order[s.head:] {
		if !e.isGone() && e.flow.Session == id {
			victims = append(victims, e)
		}
	}
	for _, e := range victims {
		s.unlinkLocked(e)
	}
	s.compactLocked()
	if andSession {
		for i, x := range s.sessions {
			if x == ss {
				s.sessions = append(s.sessions[:i], s.sessions[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	s.drop(victims, false)
	return nil
}
