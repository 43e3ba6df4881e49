package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func rulesPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "rules.json")
}

func mustOpen(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readRules(t *testing.T, path string) []Rule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := DecodeRules(f)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestOpenMissing(t *testing.T) {
	path := rulesPath(t)
	s := mustOpen(t, path)
	if s.Current() == nil || s.Current().Len() != 0 || len(s.Rules()) != 0 {
		t.Fatalf("missing file: %d rules", s.Current().Len())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the file: %v", err)
	}
}

func TestOpenValid(t *testing.T) {
	path := rulesPath(t)
	if err := os.WriteFile(path, []byte(exampleJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path)
	got := s.Current().Match(req("GET", "https", "api.example.com", "/v1/profile?x=1"))
	if !slices.Equal(ids(got), []string{"mock-profile"}) {
		t.Fatalf("Match after Open = %q", ids(got))
	}
	if b, _ := os.ReadFile(path); string(b) != exampleJSON {
		t.Fatal("Open rewrote a valid file")
	}
}

func TestOpenMalformed(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // fragments of the error
	}{
		{"bad status", `[{"id": "r1", "enabled": true, "actions": [{"type": "block", "status": 700}]}]`,
			[]string{`rule "r1" actions[0].status: must be 100..599`}},
		{"unknown field", `[{"id": "r2", "actions": [{"type": "block", "statsu": 403}]}]`,
			[]string{`rule "r2" actions[0].statsu: unknown field`}},
		{"syntax", "[\n{\"id\": \"r3\"\n]", []string{"invalid JSON at line 3"}},
		{"not an array", `{"id": "r4"}`, []string{"want a JSON array"}},
		{"empty file", ``, []string{"empty document"}},
		{"duplicate ids", `[{"id": "d", "actions": [{"type": "block"}]}, {"id": "d", "actions": [{"type": "block"}]}]`,
			[]string{`rule "d" id: duplicate id`}},
		{"bad regexp and host", `[{"id": "r5", "match": {"host": "a:1", "url": "("}, "actions": [{"type": "block"}]}]`,
			[]string{`rule "r5" match.host: must not include a port`, `rule "r5" match.url: bad regular expression`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := rulesPath(t)
			if err := os.WriteFile(path, []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, nil)
			if err == nil {
				t.Fatalf("Open succeeded with %d rules", s.Current().Len())
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "load rules "+path+": ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, frag := range tt.want {
				if !strings.Contains(msg, frag) {
					t.Errorf("error %q lacks %q", msg, frag)
				}
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("error %v does not wrap a *ValidationError", err)
			}
			b, rerr := os.ReadFile(path)
			if rerr != nil || string(b) != tt.doc {
				t.Fatalf("file changed by Open: %q, %v", b, rerr)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
				t.Errorf("file mode changed to %v", st.Mode().Perm())
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("directory has %d entries, want only rules.json", len(entries))
			}
		})
	}
}

func TestOpenUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be cannot be read.
	path := filepath.Join(dir, "rules.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(dir) = %v, want an error naming the path", err)
	}
}

// TestOpenMissingBodyFile: a body file that disappeared does not stop Loupe;
// it is logged, and the rule stays.
func TestOpenMissingBodyFile(t *testing.T) {
	path := rulesPath(t)
	missing := filepath.Join(t.TempDir(), "gone.json")
	doc := fmt.Sprintf(`[{"id": "f", "enabled": true, "actions": [{"type": "mock", "bodyFile": %q}]}]`, missing)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Current().Len() != 1 {
		t.Fatalf("rules = %d, want 1", s.Current().Len())
	}
	if !strings.Contains(logs.String(), "actions[0].bodyFile") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	// Unrelated changes still work; the untouched rule is not re-checked.
	if err := s.Add(okRule("other")); err != nil {
		t.Fatalf("Add with an unchanged broken rule: %v", err)
	}
	// Changing the broken rule does check its file.
	r := s.Rules()[0]
	r.Name = "renamed"
	err = s.Update("f", r)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Field != "actions[0].bodyFile" {
		t.Fatalf("Update of the broken rule = %v, want a bodyFile problem", err)
	}
}

func TestReplaceInvalidKeepsState(t *testing.T) {
	path := rulesPath(t)
	s := mustOpen(t, path)
	if err := s.Replace([]Rule{okRule("keep")}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	oldSet := s.Current()
	notified := make(chan *Set, 10)
	defer s.Subscribe(func(set *Set) { notified <- set })()

	err = s.Replace([]Rule{okRule("new"), withActions("bad", Action{Type: TypeBlock, Status: 42})})
	var ve *ValidationError
	if !errors.As(err, &ve) || !slices.Equal(fields(ve.Problems), []string{"bad actions[0].status"}) {
		t.Fatalf("Replace(invalid) = %v", err)
	}
	if s.Current() != oldSet {
		t.Fatal("a failed Replace changed the current set")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("a failed Replace changed the file")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("a failed Replace left %d entries in the directory", len(entries))
	}
	select {
	case <-notified:
		t.Fatal("a failed Replace notified subscribers")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestReplaceWriteFailureKeepsState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := mustOpen(t, filepath.Join(dir, "rules.json"))
	// The data directory becomes a regular file: writing must fail.
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Replace([]Rule{okRule("a")})
	if err == nil || !strings.Contains(err.Error(), "save rules") {
		t.Fatalf("Replace into an impossible path = %v", err)
	}
	if s.Current().Len() != 0 {
		t.Fatal("a failed write changed the current set")
	}
}

func TestReplacePersistsAndNotifies(t *testing.T) {
	path := rulesPath(t)
	s := mustOpen(t, path)
	got := make(chan *Set, 10)
	cancel := s.Subscribe(func(set *Set) { got <- set })
	defer cancel()

	rs := []Rule{
		{ID: "a", Enabled: true, Match: Match{Host: "example.com"}, Actions: []Action{{Type: TypeBlock, Reset: true}}},
		{Enabled: false, Actions: []Action{{Type: TypeOverride, Body: str("x"), Headers: map[string]string{"A": "b"}}}},
	}
	if err := s.Replace(rs); err != nil {
		t.Fatal(err)
	}
	if rs[1].ID != "" {
		t.Error("Replace modified its argument")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("rules.json mode = %v, want 0600", st.Mode().Perm())
	}
	onDisk := readRules(t, path)
	if !reflect.DeepEqual(onDisk, s.Rules()) {
		t.Fatalf("file %+v\n!= current %+v", onDisk, s.Rules())
	}
	if onDisk[1].ID == "" || !validID(onDisk[1].ID) {
		t.Errorf("assigned id = %q", onDisk[1].ID)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left: %d entries", len(entries))
	}
	select {
	case set := <-got:
		if set != s.Current() || set.Len() != 2 {
			t.Fatalf("notified with %v, current %v", set, s.Current())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	// A reopened store sees the same rules.
	if again := mustOpen(t, path); !reflect.DeepEqual(again.Rules(), s.Rules()) {
		t.Fatal("reopened store differs")
	}
	// After cancel, no more calls.
	cancel()
	cancel()
	if err := s.Replace(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
		t.Fatal("cancelled subscriber called")
	case <-time.After(50 * time.Millisecond):
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "[]" {
		t.Fatalf("empty list written as %q", b)
	}
}

func TestReplaceThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	if err := os.WriteFile(real, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "rules.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, link)
	if err := s.Replace([]Rule{okRule("a")}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", st.Mode(), err)
	}
	if got := readRules(t, real); len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("target holds %+v", got)
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	s := mustOpen(t, rulesPath(t))
	release := make(chan struct{})
	calls := make(chan int, 100)
	var mu sync.Mutex
	var seen []int
	cancel := s.Subscribe(func(set *Set) {
		<-release
		mu.Lock()
		seen = append(seen, set.Len())
		mu.Unlock()
		calls <- set.Len()
	})
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= 5; i++ {
			rs := make([]Rule, i)
			for j := range rs {
				rs[j] = okRule(fmt.Sprintf("r%d", j))
			}
			if err := s.Replace(rs); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Replace blocked on a slow subscriber")
	}
	close(release)
	// The subscriber ends on the latest set; intermediate ones coalesce.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case n := <-calls:
			if n == 5 {
				mu.Lock()
				defer mu.Unlock()
				if len(seen) > 2 || !slices.IsSorted(seen) {
					t.Errorf("deliveries %v: want at most 2 (one in flight, one coalesced), ascending", seen)
				}
				return
			}
		case <-deadline:
			t.Fatal("subscriber never saw the latest set")
		}
	}
}

func TestAddUpdateDelete(t *testing.T) {
	path := rulesPath(t)
	s := mustOpen(t, path)
	if err := s.Add(okRule("first")); err != nil {
		t.Fatal(err)
	}
	r, err := s.Create(Rule{Enabled: true, Actions: []Action{{Type: TypeDelay, Ms: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == "" || !validID(r.ID) {
		t.Fatalf("Create assigned id %q", r.ID)
	}
	if err := s.Add(Rule{Actions: []Action{{Type: TypeBlock}}}); err != nil {
		t.Fatal(err)
	}
	rs := s.Rules()
	if len(rs) != 3 || rs[0].ID != "first" || rs[1].ID != r.ID || rs[2].ID == "" || rs[2].ID == r.ID {
		t.Fatalf("rules after adds: %+v", rs)
	}
	if err := s.Add(okRule("first")); err == nil {
		t.Fatal("Add with a duplicate id succeeded")
	}

	upd := okRule("")
	upd.Name = "updated"
	if err := s.Update(r.ID, upd); err != nil {
		t.Fatal(err)
	}
	if got := s.Rules()[1]; got.ID != r.ID || got.Name != "updated" {
		t.Fatalf("after Update: %+v", got)
	}
	if err := s.Update(r.ID, okRule("renamed")); err != nil {
		t.Fatal(err)
	}
	if got := s.Rules()[1].ID; got != "renamed" {
		t.Fatalf("rename: id = %q", got)
	}
	if err := s.Update("renamed", okRule("first")); err == nil {
		t.Fatal("rename onto an existing id succeeded")
	}
	if err := s.Update("nope", okRule("nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.Delete("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.Delete("first"); err != nil {
		t.Fatal(err)
	}
	want := s.Rules()
	if len(want) != 2 || want[0].ID != "renamed" {
		t.Fatalf("after Delete: %+v", want)
	}
	if got := readRules(t, path); !reflect.DeepEqual(got, want) {
		t.Fatalf("file %+v\nwant %+v", got, want)
	}
}

func TestStoreConcurrent(t *testing.T) {
	s := mustOpen(t, rulesPath(t))
	var notes sync.WaitGroup
	notes.Add(1)
	var once sync.Once
	defer s.Subscribe(func(*Set) { once.Do(notes.Done) })()

	if err := s.Replace([]Rule{withMatch("m0", Match{}), withMatch("m", Match{Host: "example.com"})}); err != nil {
		t.Fatal(err)
	}
	const writers, changes = 4, 10
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range changes {
				rs := []Rule{okRule(fmt.Sprintf("w%d-%d", w, i)), withMatch("m", Match{Host: "example.com"})}
				if err := s.Replace(rs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				set := s.Current()
				if got := set.Match(req("GET", "http", "example.com", "/")); len(got) != 2 {
					t.Errorf("reader saw %d matches", len(got))
					return
				}
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	notes.Wait()
	// The file holds the final set.
	data, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []Rule
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(onDisk, s.Rules()) {
		t.Fatalf("file %v != current %v", onDisk, s.Rules())
	}
}

// TestOpenRemovesStaleTempFiles leaves in the data directory what a run that
// crashed in the middle of a save leaves (its temporary copy of rules.json)
// among look-alikes: Open removes exactly the stale temporary copies, and
// nothing else.
func TestOpenRemovesStaleTempFiles(t *testing.T) {
	// Each case is a name, what to create under it, and whether Open must
	// remove it.
	type kind int
	const (
		file kind = iota
		dir
		link
		fresh // a file written just now: another run may be saving
	)
	tests := []struct {
		name   string
		kind   kind
		remove bool
	}{
		{".rules.json.123456.tmp", file, true},
		{".rules.json.0.tmp", file, true},
		{".rules.json.4294967295.tmp", file, true},
		{".rules.json.77.tmp", fresh, false},
		{".rules.json.12345678901.tmp", file, false}, // more digits than CreateTemp writes
		{".rules.json.12a4.tmp", file, false},
		{".rules.json..tmp", file, false},
		{".rules.json.123.tmp.bak", file, false},
		{"rules.json.123.tmp", file, false},
		{".rules.json.123", file, false},
		{".other.json.123.tmp", file, false},
		{".rules.json.999.tmp", dir, false},
		{".rules.json.888.tmp", link, false},
		{"notes.txt", file, false},
	}
	for _, symlinked := range []bool{false, true} {
		t.Run(fmt.Sprintf("symlinked=%v", symlinked), func(t *testing.T) {
			d := t.TempDir()
			path := filepath.Join(d, "rules.json")
			target, base := path, "rules.json"
			if symlinked {
				// Saves write beside the link's target, so that is where a
				// crash leaves its temporary file.
				other := t.TempDir()
				target, base = filepath.Join(other, "real.json"), "real.json"
				if err := os.Symlink(target, path); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(target, []byte(exampleJSON), 0o600); err != nil {
				t.Fatal(err)
			}
			tdir := filepath.Dir(target)
			old := time.Now().Add(-time.Hour)
			keepTarget := filepath.Join(t.TempDir(), "kept")
			if err := os.WriteFile(keepTarget, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, tt := range tests {
				name := filepath.Join(tdir, strings.Replace(tt.name, "rules.json", base, 1))
				var err error
				switch tt.kind {
				case file, fresh:
					err = os.WriteFile(name, []byte("[]"), 0o600)
				case dir:
					err = os.Mkdir(name, 0o700)
				case link:
					err = os.Symlink(keepTarget, name)
				}
				if err == nil && tt.kind != fresh && tt.kind != link {
					err = os.Chtimes(name, old, old)
				}
				if err != nil {
					t.Fatal(err)
				}
			}

			s := mustOpen(t, path)
			if s.Current().Len() != 1 {
				t.Errorf("loaded %d rules, want 1", s.Current().Len())
			}
			for _, tt := range tests {
				name := filepath.Join(tdir, strings.Replace(tt.name, "rules.json", base, 1))
				_, err := os.Lstat(name)
				if gone := errors.Is(err, os.ErrNotExist); gone != tt.remove {
					t.Errorf("%s: removed = %v, want %v (%v)", filepath.Base(name), gone, tt.remove, err)
				}
			}
			for _, p := range []string{path, target, keepTarget} {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
			if b, _ := os.ReadFile(target); string(b) != exampleJSON {
				t.Error("Open changed the rules file")
			}
		})
	}
}

// TestTempNamesAreRecognised checks the name the saver's temporary files
// really get against the name Open looks for, so that the two cannot drift.
func TestTempNamesAreRecognised(t *testing.T) {
	d := t.TempDir()
	for range 20 {
		f, err := os.CreateTemp(d, tempPattern("rules.json"))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if name := filepath.Base(f.Name()); !isTempName(name, "rules.json") {
			t.Fatalf("temporary file %q is not recognised as one", name)
		}
	}
}
