package hostmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"loupe/internal/atomicfile"
)

// Store holds the mappings: the fixed ones given on the command line, then
// the ones kept in a file (hosts.json in the data directory, a JSON array
// of entries) that the dashboard edits. Build it with Open; it is safe for
// concurrent use.
type Store struct {
	path  string
	fixed []Entry

	mu      sync.Mutex // serialises changes and their writes
	entries []Entry
	cur     atomic.Pointer[Map]
}

// Open reads path (a missing file is an empty list) and compiles fixed
// followed by its entries. A malformed or invalid file is an error that
// names it; it is never overwritten then. path "" keeps nothing on disk.
func Open(path string, fixed []Entry) (*Store, error) {
	s := &Store{path: path, fixed: append([]Entry(nil), fixed...)}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("host mappings %s: %w", path, err)
		default:
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s.entries); err != nil {
				return nil, fmt.Errorf("host mappings %s: %w", path, err)
			}
		}
	}
	m, err := Compile(s.fixed, s.entries)
	if err != nil {
		return nil, fmt.Errorf("host mappings %s: %w", path, err)
	}
	s.cur.Store(m)
	return s, nil
}

// Current returns the map in force. It never blocks.
func (s *Store) Current() *Map { return s.cur.Load() }

// Fixed returns the command line's mappings, which the file cannot change.
func (s *Store) Fixed() []Entry { return append([]Entry{}, s.fixed...) }

// Entries returns the editable mappings.
func (s *Store) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry{}, s.entries...)
}

// Replace validates entries, writes them to the file (atomically: a reader
// or a crash sees the old list or the new one) and puts them in force. On
// any error nothing changes.
func (s *Store) Replace(entries []Entry) error {
	entries = append([]Entry{}, entries...)
	// Checked alone first, so that a problem is numbered within this list.
	if _, err := Compile(entries); err != nil {
		return &ValidationError{Err: err}
	}
	m, err := Compile(s.fixed, entries)
	if err != nil {
		return &ValidationError{Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" {
		data, err := json.MarshalIndent(entries, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(s.path, append(data, '\n')); err != nil {
			return fmt.Errorf("save host mappings %s: %w", s.path, err)
		}
	}
	s.entries = entries
	s.cur.Store(m)
	return nil
}

// ValidationError is a list of mappings that cannot be used.
type ValidationError struct{ Err error }

func (e *ValidationError) Error() string { return e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

// writeFileAtomic replaces name with data through a temporary file beside
// it that is renamed over it.
func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(name, data, atomicfile.Options{})
}
