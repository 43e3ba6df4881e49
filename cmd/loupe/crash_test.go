//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loupeProcess is the real binary, running.
type loupeProcess struct {
	cmd        *exec.Cmd
	proxy, ui  string
	token      string
	done       chan struct{}
	stderr     bytes.Buffer
	stderrMu   sync.Mutex
	exitCode   int
	killedByUs bool
	waitErr    error
}

// startBinary runs the built binary on dataDir and waits for the
// addresses it prints.
func startBinary(t *testing.T, bin, dataDir string, extra ...string) *loupeProcess {
	t.Helper()
	p := &loupeProcess{token: "crash-test-token", done: make(chan struct{})}
	args := append([]string{"-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", dataDir, "-log-level", "warn"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "LOUPE_TOKEN="+p.token, "GOMEMLIMIT=")
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{mu: &p.stderrMu, w: &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	addrs := make(chan [2]string, 1)
	go func() {
		var proxyAddr, uiAddr string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "Loupe proxy:"); ok {
				proxyAddr = strings.TrimPrefix(strings.TrimSpace(v), "http://")
			}
			if v, ok := strings.CutPrefix(line, "Loupe dashboard:"); ok {
				u, _ := url.Parse(strings.TrimSpace(v))
				uiAddr = u.Host
			}
			if proxyAddr != "" && uiAddr != "" {
				addrs <- [2]string{proxyAddr, uiAddr}
				proxyAddr = ""
			}
		}
	}()
	go func() {
		p.waitErr = p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	select {
	case a := <-addrs:
		p.proxy, p.ui = a[0], a[1]
	case <-p.done:
		t.Fatalf("loupe exited at start (%v): %s", p.waitErr, p.errors())
	case <-time.After(30 * time.Second):
		t.Fatalf("loupe printed no addresses: %s", p.errors())
	}
	return p
}

func (p *loupeProcess) errors() string {
	p.stderrMu.Lock()
	defer p.stderrMu.Unlock()
	return p.stderr.String()
}

// kill ends the process with SIGKILL (if it still runs) and waits for it.
func (p *loupeProcess) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// get calls the dashboard API.
func (p *loupeProcess) get(t *testing.T, path string, into any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.ui+path, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	switch v := into.(type) {
	case *[]byte:
		*v = b
	default:
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
}

// crashBody is the deterministic body of request n: small ones stay in the
// database, large ones go to segment files.
func crashBody(n int) []byte {
	size := 200 + n%7*3000
	if n%10 == 0 {
		size = 100_000 + n
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = byte('a' + (n+i)%26)
	}
	return b
}

type crashSummary struct {
	ID    uint64 `json:"id"`
	URL   string `json:"url"`
	State string `json:"state"`
	Error string `json:"error"`
	Path  string `json:"path"`
}

// allFlows pages through every session's flows by cursor.
func allFlows(t *testing.T, p *loupeProcess) []crashSummary {
	t.Helper()
	var out []crashSummary
	var cursor uint64
	for {
		var page struct {
			Flows []crashSummary `json:"flows"`
			Next  uint64         `json:"next"`
		}
		q := "/api/flows?session=all&limit=1000"
		if cursor != 0 {
			q += "&cursor=" + strconv.FormatUint(cursor, 10)
		}
		p.get(t, q, &page)
		out = append(out, page.Flows...)
		if page.Next == 0 {
			return out
		}
		cursor = page.Next
	}
}

// The real binary is killed with SIGKILL while a client drives traffic
// through it to an origin; restarted on the same data directory, it has
// every flow that finished at least a second before the kill, with its
// bodies; flows that were open are interrupted; new flows get higher IDs.
func TestCrashThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and crashes the real binary")
	}
	bin, err := buildLoupe()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseAll()
	holding := make(chan struct{}, 8)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(r.URL.Path, "/hold/") {
			// Open at the kill: head and a first chunk sent, the rest held.
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "first chunk ")
			w.(http.Flusher).Flush()
			holding <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/item/"))
		if r.Method == "POST" && !bytes.Equal(body, crashBody(n+1)) {
			http.Error(w, "request body changed on the way", 500)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(crashBody(n))
	}))
	defer origin.Close()
	defer releaseAll() // before origin.Close: the held handlers end first

	dataDir := t.TempDir()
	p := startBinary(t, bin, dataDir)
	proxyURL, _ := url.Parse("http://" + p.proxy)
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	// Three flows that stay open.
	for i := range 3 {
		go func() {
			resp, err := client.Get(fmt.Sprintf("%s/hold/%d", origin.URL, i))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for range 3 {
		select {
		case <-holding:
		case <-time.After(20 * time.Second):
			t.Fatal("the held requests did not reach the origin")
		}
	}

	// Load: workers send requests until the kill; each completed request
	// records when its answer was whole.
	type done struct {
		n    int
		post bool
		at   time.Time
	}
	var (
		mu        sync.Mutex
		completed []done
		next      atomic.Int64
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	const maxRequests = 20_000
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				n := int(next.Add(1))
				if n > maxRequests {
					return
				}
				u := fmt.Sprintf("%s/item/%d", origin.URL, n)
				var resp *http.Response
				var err error
				post := n%3 == 0
				if post {
					resp, err = client.Post(u, "text/plain", bytes.NewReader(crashBody(n+1)))
				} else {
					resp, err = client.Get(u)
				}
				if err != nil {
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, crashBody(n)) {
					continue
				}
				mu.Lock()
				completed = append(completed, done{n, post, time.Now()})
				mu.Unlock()
			}
		}()
	}
	// Kill mid-load: once enough requests finished long enough before now
	// (the workers keep going meanwhile).
	count := func(before time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, d := range completed {
			if d.at.Before(before) {
				k++
			}
		}
		return k
	}
	deadline := time.Now().Add(60 * time.Second)
	for count(time.Now().Add(-time.Second)) < 1000 {
		if time.Now().After(deadline) || next.Load() > maxRequests {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	inFlight := next.Load()
	killedAt := time.Now()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	stop.Store(true)
	releaseAll()
	wg.Wait()
	tr.CloseIdleConnections()
	if inFlight > maxRequests {
		t.Fatalf("the load ended before the kill (%d requests)", inFlight)
	}
	var due []done
	mu.Lock()
	for _, d := range completed {
		if d.at.Before(killedAt.Add(-time.Second)) {
			due = append(due, d)
		}
	}
	total := len(completed)
	mu.Unlock()
	if len(due) < 100 {
		t.Fatalf("only %d requests finished a second before the kill", len(due))
	}
	t.Logf("killed after %d requests sent, %d answered, %d of them at least 1 s before the kill", inFlight, total, len(due))

	p2 := startBinary(t, bin, dataDir)
	defer p2.kill()
	flows := allFlows(t, p2)
	byPath := map[string]crashSummary{}
	var maxID uint64
	for _, f := range flows {
		byPath[f.Path] = f
		maxID = max(maxID, f.ID)
		if f.State == "pending" {
			t.Errorf("flow %d still pending after the restart", f.ID)
		}
	}
	missing := 0
	for _, d := range due {
		f, ok := byPath[fmt.Sprintf("/item/%d", d.n)]
		if !ok || f.State != "done" {
			missing++
			if missing <= 5 {
				t.Errorf("request %d (finished %v before the kill): flow %+v, found %v", d.n, killedAt.Sub(d.at), f, ok)
			}
			continue
		}
		// Every tenth body, and every large one, read back whole.
		if d.n%10 == 0 || d.n%7 == 3 {
			var got []byte
			p2.get(t, fmt.Sprintf("/api/flows/%d/response/body?raw=1", f.ID), &got)
			if !bytes.Equal(got, crashBody(d.n)) {
				t.Errorf("request %d: response body %d bytes, want %d", d.n, len(got), len(crashBody(d.n)))
			}
			if d.post {
				p2.get(t, fmt.Sprintf("/api/flows/%d/request/body?raw=1", f.ID), &got)
				if !bytes.Equal(got, crashBody(d.n+1)) {
					t.Errorf("request %d: request body %d bytes, want %d", d.n, len(got), len(crashBody(d.n+1)))
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d flows finished a second before the kill are missing", missing, len(due))
	}
	for i := range 3 {
		f, ok := byPath[fmt.Sprintf("/hold/%d", i)]
		if !ok || f.State != "error" || !strings.HasPrefix(f.Error, "interrupted") {
			t.Errorf("open flow %d after the restart: %+v (found %v)", i, f, ok)
		}
	}

	// A new flow gets an ID above every old one, in a new session.
	tr2 := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: p2.proxy})}
	defer tr2.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr2, Timeout: 20 * time.Second}).Get(origin.URL + "/item/999999")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var page struct {
		Flows []crashSummary `json:"flows"`
	}
	for deadline := time.Now().Add(10 * time.Second); len(page.Flows) == 0; {
		p2.get(t, "/api/flows", &page)
		if time.Now().After(deadline) {
			t.Fatal("the new flow was not recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if page.Flows[0].ID <= maxID {
		t.Errorf("new flow %d, not above the %d of before the crash", page.Flows[0].ID, maxID)
	}
}

// The binary stops at once on a capture it cannot read: exit status 1, one
// line on stderr that names the file; the file is left as it was.
func TestBinaryRefusesCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the real binary")
	}
	bin, err := buildLoupe()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, captureDirName, "capture.db")
	os.MkdirAll(filepath.Dir(db), 0o700)
	junk := bytes.Repeat([]byte("not a capture "), 1000)
	if err := os.WriteFile(db, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d (%v), want 1", code, err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "loupe: ") || !strings.Contains(lines[0], db) {
		t.Errorf("stderr is not one line naming %s:\n%s", db, stderr.String())
	}
	if got, _ := os.ReadFile(db); !bytes.Equal(got, junk) {
		t.Error("the file changed")
	}
}
