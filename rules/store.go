package rules

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"loupe/internal/atomicfile"
)

// ErrNotFound is returned (wrapped) by Update and Delete for an unknown rule ID.
var ErrNotFound = errors.New("rule not found")

// Store holds the active rule Set and keeps rules.json in step with it.
//
// Readers call Current, which is a single atomic load: the proxy never waits
// for a writer. Writers (Replace, Add, Create, Update, Delete) are serialised;
// each validates the complete resulting list, writes the file atomically
// (temporary file in the same directory, fsync, rename; mode 0600), and only
// then makes the new Set current and notifies subscribers. A failed change
// leaves both the active rules and the file as they were.
//
// File-system checks (bodyFile and dir must exist) apply to rules that a
// change adds or modifies. A rule loaded from rules.json whose file has gone
// missing is kept, with a warning, instead of stopping Loupe: the file is read
// per request anyway and may come back.
type Store struct {
	path string
	log  *slog.Logger

	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[Set]

	subMu sync.Mutex
	subs  []*subscriber
}

// Open loads the rules at path. A missing file is an empty rule list (the
// file is created by the first change). A malformed or invalid file is an
// error naming the file, the rule and the field, wrapping a *ValidationError;
// Open never writes the file. Once the rules are loaded, Open removes the
// temporary files that a crashed run left beside the file (see
// removeStaleTemps). log may be nil.
func Open(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{path: path, log: log}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s.cur.Store(compileValid(nil))
		removeStaleTemps(s.target(), time.Now(), log)
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load rules %s: %w", path, err)
	}
	rs, err := DecodeRules(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("load rules %s: %w", path, err)
	}
	ps, onFS := validateTagged(rs, func(int) bool { return true })
	fatal := false
	for i := range ps {
		fatal = fatal || !onFS[i]
	}
	if fatal {
		return nil, fmt.Errorf("load rules %s: %w", path, &ValidationError{Problems: ps})
	}
	for _, p := range ps {
		log.Warn("rule refers to a missing file", "file", path, "rule", p.RuleID, "field", p.Field, "problem", p.Message)
	}
	s.cur.Store(compileValid(rs))
	removeStaleTemps(s.target(), time.Now(), log)
	return s, nil
}

// target is the file a change writes: the rules file, or what it links to
// (a rules file kept with one's dotfiles), so that the link stays a link.
func (s *Store) target() string {
	if real, err := filepath.EvalSymlinks(s.path); err == nil {
		return real
	}
	return s.path
}

// Path is the rules file the store writes.
func (s *Store) Path() string { return s.path }

// Current is the active Set; never nil.
func (s *Store) Current() *Set { return s.cur.Load() }

// Rules returns a copy of the active rule list.
func (s *Store) Rules() []Rule { return s.Current().Rules() }

// Replace makes rs the rule list. Rules with an empty ID get a random one.
// An invalid list is refused with a *ValidationError and changes nothing.
func (s *Store) Replace(rs []Rule) error {
	s.mu.Lock()
	next := make([]Rule, len(rs))
	taken := make(map[string]bool, len(rs))
	for i := range rs {
		next[i] = cloneRule(rs[i])
		taken[rs[i].ID] = true
	}
	for i := range next {
		if next[i].ID == "" {
			next[i].ID = newID(taken)
		}
	}
	err := s.commitLocked(next)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.notify()
	return nil
}

// Add appends r to the rule list, giving it a random ID when it has none.
func (s *Store) Add(r Rule) error {
	_, err := s.Create(r)
	return err
}

// Create is Add returning the rule as stored, so that the caller learns the
// assigned ID.
func (s *Store) Create(r Rule) (Rule, error) {
	s.mu.Lock()
	rs := s.Current().Rules()
	r = cloneRule(r)
	if r.ID == "" {
		taken := make(map[string]bool, len(rs))
		for _, old := range rs {
			taken[old.ID] = true
		}
		r.ID = newID(taken)
	}
	err := s.commitLocked(append(rs, r))
	s.mu.Unlock()
	if err != nil {
		return Rule{}, err
	}
	s.notify()
	return cloneRule(r), nil
}

// Update replaces the rule with the given id, keeping its position. An empty
// r.ID keeps id; a different one renames the rule. Unknown id: ErrNotFound.
func (s *Store) Update(id string, r Rule) error {
	s.mu.Lock()
	rs := s.Current().Rules()
	i := indexOf(rs, id)
	if i < 0 {
		s.mu.Unlock()
		return fmt.Errorf("update rule %q: %w", id, ErrNotFound)
	}
	rs[i] = cloneRule(r)
	if rs[i].ID == "" {
		rs[i].ID = id
	}
	err := s.commitLocked(rs)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.notify()
	return nil
}

// Delete removes the rule with the given id. Unknown id: ErrNotFound.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	rs := s.Current().Rules()
	i := indexOf(rs, id)
	if i < 0 {
		s.mu.Unlock()
		return fmt.Errorf("delete rule %q: %w", id, ErrNotFound)
	}
	err := s.commitLocked(append(rs[:i], rs[i+1:]...))
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.notify()
	return nil
}

func indexOf(rs []Rule, id string) int {
	for i := range rs {
		if rs[i].ID == id {
			return i
		}
	}
	return -1
}

// commitLocked validates rs, writes it and makes it current. s.mu is held.
// rs must not be shared with callers.
func (s *Store) commitLocked(rs []Rule) error {
	old := s.Current()
	before := make(map[string]*Rule, len(old.rules))
	for i := range old.rules {
		before[old.rules[i].ID] = &old.rules[i]
	}
	// Look at the file system only for rules this change adds or modifies.
	changed := func(i int) bool {
		prev, ok := before[rs[i].ID]
		return !ok || !reflect.DeepEqual(*prev, rs[i])
	}
	if ps, _ := validateTagged(rs, changed); len(ps) > 0 {
		return &ValidationError{Problems: ps}
	}
	set := compileValid(rs)
	data, err := json.MarshalIndent(set.rules, "", "  ")
	if err != nil {
		return fmt.Errorf("save rules %s: %w", s.path, err)
	}
	if err := writeFileAtomic(s.target(), append(data, '\n')); err != nil {
		return fmt.Errorf("save rules %s: %w", s.path, err)
	}
	s.cur.Store(set)
	return nil
}

// writeFileAtomic replaces name with data so that a reader (or a crash) sees
// either the old or the new content, never a mix. Its temporary file is named
// by tempPattern, which removeStaleTemps recognises.
func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(name, data, atomicfile.Options{Pattern: tempPattern(filepath.Base(name))})
}

// newID returns a random rule ID not in taken.
func newID(taken map[string]bool) string {
	for {
		var b [6]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
		id := "r-" + hex.EncodeToString(b[:])
		if !taken[id] {
			taken[id] = true
			return id
		}
	}
}

// Subscribe calls fn with the new Set after each successful change, until
// cancel is called (cancel is idempotent).
//
// fn runs on a goroutine of its own, never under the store's lock, so a slow
// fn neither delays Replace nor other subscribers. Calls for one subscription
// never overlap, and changes that happen while fn runs are coalesced: fn then
// sees only the latest Set. A fn already running when cancel returns finishes
// its call; no call starts after that.
func (s *Store) Subscribe(fn func(*Set)) (cancel func()) {
	sub := &subscriber{store: s, fn: fn}
	s.subMu.Lock()
	s.subs = append(s.subs, sub)
	s.subMu.Unlock()
	return func() {
		sub.mu.Lock()
		sub.cancelled = true
		sub.mu.Unlock()
		s.subMu.Lock()
		for i, x := range s.subs {
			if x == sub {
				s.subs = append(s.subs[:i], s.subs[i+1:]...)
				break
			}
		}
		s.subMu.Unlock()
	}
}

func (s *Store) notify() {
	s.subMu.Lock()
	subs := append([]*subscriber(nil), s.subs...)
	s.subMu.Unlock()
	for _, sub := range subs {
		sub.signal()
	}
}

// subscriber delivers changes to one fn. A goroutine runs only while there is
// something to deliver, so an idle subscription holds no goroutine.
type subscriber struct {
	store *Store
	fn    func(*Set)

	mu        sync.Mutex
	dirty     bool
	running   bool
	cancelled bool

	last *Set // owned by the running delivery goroutine
}

func (sub *subscriber) signal() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.cancelled {
		return
	}
	sub.dirty = true
	if !sub.running {
		sub.running = true
		go sub.deliver()
	}
}

// deliver calls fn with the current Set until no change is pending.
func (sub *subscriber) deliver() {
	for {
		sub.mu.Lock()
		if !sub.dirty || sub.cancelled {
			sub.running = false
			sub.mu.Unlock()
			return
		}
		sub.dirty = false
		sub.mu.Unlock()
		// Loading the set here, not passing it from the writer, means that
		// racing writers can never leave a subscriber on an older Set.
		set := sub.store.Current()
		if set == sub.last {
			continue
		}
		sub.last = set
		sub.fn(set)
	}
}
