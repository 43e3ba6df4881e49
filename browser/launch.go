package browser

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// stopGrace is how long a browser has to exit after it was asked to.
const stopGrace = 5 * time.Second

// Browser is one started browser: its process (and the processes it
// started, in its own process group where the system has them) and its
// temporary profile, removed once it exited.
type Browser struct {
	Found
	// Profile is the temporary profile directory.
	Profile string
	// Note says what did not work as wished (Firefox without certutil).
	Note    string
	Started time.Time

	proc     *os.Process
	done     chan struct{}
	mu       sync.Mutex
	err      error // how it ended, once done
	stopping bool
}

// Start starts f with a fresh profile for o and returns at once; the
// profile is removed when the browser exits. ctx bounds only the start.
func Start(ctx context.Context, f Found, o Options) (*Browser, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.TempDir, "loupe-browser-")
	if err != nil {
		return nil, fmt.Errorf("browser profile: %w", err)
	}
	cmd, note, err := command(f, o, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = orDiscard(o.Stdout), orDiscard(o.Stderr)
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", f.Path, err)
	}
	b := &Browser{Found: f, Profile: dir, Note: note, Started: time.Now(), proc: cmd.Process, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		// Helpers of the browser (a crash reporter) may outlive it and
		// hold the profile: they go with it.
		killGroup(b.proc)
		removeProfile(dir)
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
		close(b.done)
	}()
	return b, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// removeProfile removes a profile, trying again briefly while files are
// still being written into it by exiting processes.
func removeProfile(dir string) {
	for i := 0; i < 10; i++ {
		if err := os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID is the browser's process ID.
func (b *Browser) PID() int { return b.proc.Pid }

// Done is closed once the browser exited and its profile is gone.
func (b *Browser) Done() <-chan struct{} { return b.done }

// Wait waits for the browser to exit and its profile to be removed, and
// returns how it ended (nil: exit status 0, or stopped by Stop).
func (b *Browser) Wait() error {
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopping {
		return nil
	}
	return b.err
}

// Stop asks the browser to exit, kills it after a grace period, and waits
// for its profile to be removed.
func (b *Browser) Stop() {
	b.mu.Lock()
	b.stopping = true
	b.mu.Unlock()
	select {
	case <-b.done:
		return
	default:
	}
	terminate(b.proc)
	select {
	case <-b.done:
	case <-time.After(stopGrace):
		killGroup(b.proc)
		<-b.done
	}
}

// Options configure a launch.
type Options struct {
	// Proxy is Loupe's proxy listener ("127.0.0.1:8080"). Required.
	Proxy string
	// CA is Loupe's root certificate. Required.
	CA *x509.Certificate
	// URL is the first page; "" opens a blank page.
	URL string
	// Args are extra browser arguments, before the URL.
	Args []string
	// Stdout and Stderr receive the browser's output. Nil: discarded.
	Stdout, Stderr io.Writer
	// TempDir is where the temporary profile is made. "": os.TempDir().
	TempDir string
}

// Launcher starts browsers for a running Loupe (the dashboard's "Open a
// browser") and keeps the list. Close stops them all.
type Launcher struct {
	// Options returns the options of the next launch (the proxy's address
	// and the CA are known once Loupe listens).
	Options func() Options
	// Find lists the installed browsers. Nil: the package's Find.
	Find func() []Found

	mu      sync.Mutex
	next    int
	list    map[int]*launched
	closed  bool
	running sync.WaitGroup
}

// maxKept bounds the exited browsers the list remembers.
const maxKept = 20

type launched struct {
	id int
	b  *Browser
}

// Available lists the installed browsers.
func (l *Launcher) Available() []Found {
	if l.Find != nil {
		return l.Find()
	}
	return Find()
}

// Launch starts the browser named name ("" the first found) on url.
func (l *Launcher) Launch(ctx context.Context, name, url string) (Info, error) {
	f, err := Pick(l.Available(), name)
	if err != nil {
		return Info{}, err
	}
	o := l.Options()
	if url != "" {
		o.URL = url
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return Info{}, errors.New("browser: Loupe is shutting down")
	}
	l.running.Add(1)
	l.mu.Unlock()
	b, err := Start(ctx, f, o)
	if err != nil {
		l.running.Done()
		return Info{}, err
	}
	go func() { <-b.Done(); l.running.Done() }()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.list == nil {
		l.list = make(map[int]*launched)
	}
	l.next++
	e := &launched{id: l.next, b: b}
	l.list[e.id] = e
	l.forgetOld()
	return e.info(), nil
}

// forgetOld drops the oldest exited browsers past maxKept. l.mu held.
func (l *Launcher) forgetOld() {
	if len(l.list) <= maxKept {
		return
	}
	var ids []int
	for id, e := range l.list {
		select {
		case <-e.b.Done():
			ids = append(ids, id)
		default:
		}
	}
	sort.Ints(ids)
	for _, id := range ids {
		if len(l.list) <= maxKept {
			return
		}
		delete(l.list, id)
	}
}

func (e *launched) info() Info {
	in := Info{ID: e.id, Name: e.b.Name, Path: e.b.Path, PID: e.b.PID(), Started: e.b.Started, Running: true, Note: e.b.Note}
	select {
	case <-e.b.Done():
		in.Running = false
		in.Exit = "exited"
		e.b.mu.Lock()
		if e.b.stopping {
			in.Exit = "closed from Loupe"
		} else if e.b.err != nil {
			in.Exit = e.b.err.Error()
		}
		e.b.mu.Unlock()
	default:
	}
	return in
}

// List returns the launched browsers, newest first.
func (l *Launcher) List() []Info {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Info, 0, len(l.list))
	for _, e := range l.list {
		out = append(out, e.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out
}

// ErrUnknown is Stop's answer for an ID it never gave.
var ErrUnknown = errors.New("no such browser")

// Stop closes the browser id and waits for its profile to be removed.
func (l *Launcher) Stop(id int) error {
	l.mu.Lock()
	e := l.list[id]
	l.mu.Unlock()
	if e == nil {
		return fmt.Errorf("browser %d: %w", id, ErrUnknown)
	}
	e.b.Stop()
	return nil
}

// Close stops every browser still running and waits until their profiles
// are removed; later launches fail.
func (l *Launcher) Close() error {
	l.mu.Lock()
	l.closed = true
	var all []*Browser
	for _, e := range l.list {
		all = append(all, e.b)
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range all {
		wg.Add(1)
		go func() { defer wg.Done(); b.Stop() }()
	}
	wg.Wait()
	l.running.Wait()
	return nil
}
