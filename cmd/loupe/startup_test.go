package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"loupe/proxy/ca"
	"loupe/proxy/flow"
	"loupe/proxy/store/disk"
)

// prepareData makes a data directory with a CA and a durable capture that
// holds a flow with a body (inline) and one with a large body (a segment),
// closed as Loupe leaves it.
func prepareData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := ca.LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	st, err := disk.Open(disk.Config{Dir: filepath.Join(dir, captureDirName)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"small body", strings.Repeat("large body ", 2000)} {
		h := st.Begin("127.0.0.1:1", flow.Request{Method: "GET", URL: "http://a.test/" + string(rune('a'+i)), Proto: "HTTP/1.1"}, time.Now())
		h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1"})
		h.Body(flow.FacetResponse, []byte(body))
		h.BodyEnd(flow.FacetResponse)
		h.Finish(time.Now(), nil)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// captureDigest is every file of a capture directory and its SHA-256
// (the lock file aside: it holds the pid of whoever took it last).
func captureDigest(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out, err := digestCapture(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func digestCapture(dir string) (map[string][32]byte, error) {
	out := map[string][32]byte{}
	root := filepath.Join(dir, captureDirName)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "lock" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	return out, err
}

func sameDigest(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// runMain starts Loupe on dir as main does, and returns Run's error (it is
// closed again either way).
func runMain(t *testing.T, dir string, extra ...string) error {
	t.Helper()
	m := NewMain()
	m.Stdout = io.Discard
	args := append([]string{"-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", dir, "-log-level", "error"}, extra...)
	if err := m.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	_ = m.Close()
	return err
}

// checkRefusal checks that a start-up error is one line that names the
// file and says what to do.
func checkRefusal(t *testing.T, err error, file string, says ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Loupe started")
	}
	msg := err.Error()
	t.Log(msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("the message is more than one line:\n%s", msg)
	}
	for _, want := range append([]string{file, "-ephemeral"}, says...) {
		if !strings.Contains(msg, want) {
			t.Errorf("the message does not say %q:\n%s", want, msg)
		}
	}
}

// Loupe refuses to start on a capture it cannot read, saying which file and
// what to do, and never changes that capture.
func TestStartupRefusesCapture(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir string)
		file  string
		says  []string
	}{
		{"not a database", func(t *testing.T, dir string) {
			b := make([]byte, 8192)
			rand.Read(b)
			if err := os.WriteFile(filepath.Join(dir, captureDirName, "capture.db"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "capture.db", []string{"not a readable Loupe capture", "move it away"}},
		{"damaged database", func(t *testing.T, dir string) {
			path := filepath.Join(dir, captureDirName, "capture.db")
			b, _ := os.ReadFile(path)
			for i := 100; i < len(b); i++ {
				b[i] ^= 0x5a // the header says SQLite; nothing behind it reads
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "capture.db", []string{"not a readable Loupe capture", "move it away"}},
		{"newer version", func(t *testing.T, dir string) {
			path := filepath.Join(dir, captureDirName, "capture.db")
			b, _ := os.ReadFile(path)
			binary.BigEndian.PutUint32(b[60:64], 99) // SQLite's user_version: the schema version
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "capture.db", []string{"written by a newer Loupe", "schema version 99", "open it with a newer Loupe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := prepareData(t)
			tt.spoil(t, dir)
			before := captureDigest(t, dir)
			err := runMain(t, dir)
			checkRefusal(t, err, filepath.Join(dir, captureDirName, tt.file), tt.says...)
			if after := captureDigest(t, dir); !sameDigest(before, after) {
				t.Errorf("the capture changed: %d files before, %d after", len(before), len(after))
			}
		})
	}
}

// A second Loupe on the same data directory is refused; the first goes on
// recording into its capture.
func TestStartupRefusesLockedCapture(t *testing.T) {
	dir := prepareData(t)
	first := NewMain()
	first.Stdout = io.Discard
	if err := first.ParseFlags([]string{"-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", dir, "-log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	if err := first.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close() })
	err := runMain(t, dir)
	checkRefusal(t, err, filepath.Join(dir, captureDirName, "lock"), "in use by another Loupe process", "stop it")
	// The first one still serves its capture, the flows of before included.
	status, b := api(t, first, "GET", "/api/flows?session=all", "")
	if status != 200 || !strings.Contains(string(b), `"total":2`) {
		t.Errorf("the running Loupe's capture: %d %s", status, b)
	}
}

// A data directory Loupe may not write, and a full disk, stop start-up
// with what to do, and leave the capture as it was. Both run in a child
// process: as root, a read-only bind mount and a small tmpfs in a mount
// namespace of its own (gone with it); otherwise, permissions.
func TestStartupUnwritableOrFull(t *testing.T) {
	for _, kind := range []string{"read-only", "disk full"} {
		t.Run(kind, func(t *testing.T) {
			dir := prepareData(t)
			before := captureDigest(t, dir)
			out := startupChild(t, kind, dir)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			var msg string
			for _, l := range lines {
				if m, ok := strings.CutPrefix(l, "ERROR: "); ok {
					msg = m
				}
			}
			if msg == "" {
				t.Fatalf("Loupe started:\n%s", out)
			}
			t.Log(msg)
			want := "Loupe cannot write there"
			if kind == "disk full" {
				want = "free some space"
			}
			for _, w := range []string{want, captureDirName, "-ephemeral"} {
				if !strings.Contains(msg, w) {
					t.Errorf("the message does not say %q: %s", w, msg)
				}
			}
			if strings.Contains(out, "CHANGED") {
				t.Errorf("the capture changed: %s", out)
			}
			if after := captureDigest(t, dir); !sameDigest(before, after) {
				t.Error("the capture on disk changed")
			}
		})
	}
}
