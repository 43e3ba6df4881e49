package disk

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"loupe/proxy/flow"
)

// crashChildEnv, when set to a directory, makes the test binary a child
// that records into a capture there until it is killed (see crashChild).
const crashChildEnv = "LOUPE_DISK_CRASH_CHILD"

// crashFlows is how many flushed flows the parent waits for before the kill.
const crashFlows = 2000

// crashSize is the body size of flow id in the crash test: a mix of inline
// bodies and bodies in segments.
func crashSize(id flow.ID) int { return int(id*7919) % 20_000 }

// crashChild records flows in a loop. After each Flush it prints the IDs
// of the finished flows the flush covered ("flushed N") and of the flows it
// began and never finishes, one per hundred ("pending N"). Between its
// flushes the writer commits batches on its own, so a kill can land at any
// point of a write. It stops by itself after 90 s or 100,000 flows, should
// nobody kill it (bounds for a loaded machine, where 2,000 flows under the
// race detector took more than 20 s), and a watchdog ends it after 110 s in
// any case.
func crashChild() {
	// A watchdog that holds whatever the store does: the child must end even
	// if a Flush never returns and its parent is gone.
	go func() {
		time.Sleep(110 * time.Second)
		os.Exit(4)
	}()
	dir := os.Getenv(crashChildEnv)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Open(Config{Dir: dir, InlineMax: 4096, SegmentSize: 1 << 20}, log)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(90 * time.Second)
	var batch, longs []flow.ID
	for i := 0; i < 100_000 && time.Now().Before(deadline); i++ {
		if i%100 == 0 {
			// A flow that never finishes: it must come back interrupted.
			long := s.Begin("127.0.0.1:1", req(fmt.Sprint("/long/", i)), time.Now())
			long.Body(flow.FacetRequest, []byte("started"))
			longs = append(longs, long.ID())
		}
		h := s.Begin("127.0.0.1:2", req(fmt.Sprint("/crash/", i)), time.Now())
		h.Response(textResp)
		body := pattern(int(h.ID()), crashSize(h.ID()))
		for len(body) > 0 {
			n := min(len(body), 3000)
			h.Body(flow.FacetResponse, body[:n])
			body = body[n:]
		}
		h.BodyEnd(flow.FacetResponse)
		h.Finish(time.Now(), nil)
		batch = append(batch, h.ID())
		if len(batch) == 25 {
			if err := s.Flush(); err != nil {
				fmt.Println("error", err)
				os.Exit(3)
			}
			for _, id := range longs {
				fmt.Fprintf(out, "pending %d\n", id)
			}
			for _, id := range batch {
				fmt.Fprintf(out, "flushed %d\n", id)
			}
			out.Flush()
			batch, longs = batch[:0], longs[:0]
		}
	}
	os.Exit(0)
}

// A process killed (SIGKILL) in the middle of recording leaves a capture
// that opens cleanly, holds every flow it had flushed with its body, and
// shows the flows it had in progress as interrupted.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	// From here, each Fatal kills the child; the goroutine reading its
	// output then ends too.

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var flushed, pending []flow.ID
	hang := time.After(2 * time.Minute) // a hang detector, not a speed requirement
read:
	for len(flushed) < crashFlows {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
			if !ok {
				break read
			}
		case <-hang:
			break read
		}
		kind, num, _ := strings.Cut(line, " ")
		n, err := strconv.ParseUint(num, 10, 64)
		switch {
		case kind == "flushed" && err == nil:
			flushed = append(flushed, flow.ID(n))
		case kind == "pending" && err == nil:
			pending = append(pending, flow.ID(n))
		default:
			t.Fatalf("child: %q", line)
		}
	}
	if len(flushed) < crashFlows || len(pending) == 0 {
		cmd.Process.Kill()
		cmd.Wait() // stderr is complete, and no longer written, once the child is gone
		t.Fatalf("child stopped after %d flushed flows and %d pending: %s", len(flushed), len(pending), stderr.String())
	}
	// The child is still recording (it never waits for the parent): the
	// kill lands in the middle of its load.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()
	for range lines { // the reader ends with the child's stdout
	}

	s := openStore(t, Config{Dir: dir})
	var check string
	if err := s.rdb.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q, %v", check, err)
	}
	for _, id := range flushed {
		f, ok := s.Get(id)
		if !ok {
			t.Fatalf("flushed flow %d missing after the crash", id)
		}
		want := pattern(int(id), crashSize(id))
		if f.State != flow.StateDone || f.ResponseBody.Captured != int64(len(want)) || !f.ResponseBody.Complete {
			t.Fatalf("flow %d after the crash: state %s, body %+v", id, f.State, f.ResponseBody)
		}
		if got := readBody(t, s, id, flow.FacetResponse); !bytes.Equal(got, want) {
			t.Fatalf("flow %d: body of %d bytes differs from the %d recorded", id, len(got), len(want))
		}
	}
	for _, id := range pending {
		f, ok := s.Get(id)
		if !ok || f.State != flow.StateError || f.Error != interruptedError {
			t.Fatalf("flow in progress at the kill: %+v", f)
		}
		if got := readBody(t, s, id, flow.FacetRequest); string(got) != "started" {
			t.Errorf("flow %d in progress: request body %q", id, got)
		}
	}
	var stillPending int
	s.rdb.QueryRow("SELECT count(*) FROM flows WHERE state = 'pending'").Scan(&stillPending)
	if stillPending != 0 {
		t.Errorf("%d flows still pending after reopening", stillPending)
	}
	if c := s.Counters(); c.Interrupted < int64(len(pending)) {
		t.Errorf("interrupted = %d, want at least %d", c.Interrupted, len(pending))
	}
	last := flushed[len(flushed)-1]
	if id := record(s, "/after", nil); id <= last {
		t.Errorf("new flow id %d not above %d", id, last)
	}
	t.Logf("%d flushed flows checked; capture holds %d flows, %d interrupted", len(flushed), s.Counters().Flows, s.Counters().Interrupted)
}
