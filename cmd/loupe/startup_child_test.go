package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The child process of TestStartupUnwritableOrFull: the environment says
// which case and which prepared data directory.
const (
	childEnv    = "LOUPE_TEST_STARTUP_CHILD"
	childDirEnv = "LOUPE_TEST_STARTUP_DIR"
)

// startupChild runs the test binary as a child that starts Loupe on dir
// made read-only or full, and returns what it printed. As root the child
// gets a mount namespace of its own, so its mounts go with it.
func startupChild(t *testing.T, kind, dir string) string {
	t.Helper()
	root := os.Geteuid() == 0
	if kind == "disk full" && !root {
		t.Skip("a full disk is a small tmpfs, which needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+kind, childDirEnv+"="+dir)
	if root {
		cmd.SysProcAttr = childNamespace()
	}
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !root {
		// Permissions back, for the test's clean-up.
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o700)
			}
			return nil
		})
	}
	return string(out)
}

// startupChildMain makes the prepared data directory read-only or full,
// starts Loupe on it, and prints "ERROR: <message>" (or "STARTED") and
// whether the capture's files changed.
func startupChildMain(kind, dir string) int {
	root := os.Geteuid() == 0
	data := dir
	switch {
	case kind == "read-only" && root:
		if err := readOnlyMount(dir); err != nil {
			fmt.Println("SETUP:", err)
			return 2
		}
	case kind == "read-only":
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o500)
			}
			return nil
		})
	case kind == "disk full":
		full, done, err := fullCopy(dir)
		if err != nil {
			fmt.Println("SETUP:", err)
			return 2
		}
		defer done()
		data = full
	}
	before, err := digestCapture(data)
	if err != nil {
		fmt.Println("SETUP:", err)
		return 2
	}
	m := NewMain()
	m.Stdout = io.Discard
	if err := m.ParseFlags([]string{"-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", data, "-log-level", "error"}); err != nil {
		fmt.Println("SETUP:", err)
		return 2
	}
	runErr := m.Run(context.Background())
	m.Close()
	after, err := digestCapture(data)
	switch {
	case err != nil:
		fmt.Println("CHANGED: cannot read it back:", err)
	case !sameDigest(before, after):
		var diff []string
		for k, v := range after {
			if w, ok := before[k]; !ok {
				fi, _ := os.Stat(filepath.Join(data, captureDirName, k))
				diff = append(diff, fmt.Sprintf("+%s (%d bytes)", k, fi.Size()))
			} else if w != v {
				diff = append(diff, "~"+k)
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				diff = append(diff, "-"+k)
			}
		}
		fmt.Println("CHANGED:", diff)
	default:
		fmt.Println("SAME")
	}
	if runErr != nil {
		fmt.Println("ERROR:", runErr)
		return 1
	}
	fmt.Println("STARTED")
	return 0
}

// fullCopy copies the data directory into a small tmpfs and fills what is
// left of it, so that the capture is there, whole, on a full disk.
func fullCopy(dir string) (string, func(), error) {
	mnt, err := os.MkdirTemp("", "loupe-full-")
	if err != nil {
		return "", nil, err
	}
	if err := mountTmpfs(mnt, "size=2m"); err != nil {
		os.Remove(mnt)
		return "", nil, fmt.Errorf("mount tmpfs: %w", err)
	}
	done := func() {
		unmount(mnt)
		os.Remove(mnt)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		to := filepath.Join(mnt, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		done()
		return "", nil, err
	}
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		done()
		return "", nil, err
	}
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				f.Close()
				done()
				return "", nil, err
			}
			break
		}
	}
	f.Close()
	return mnt, done, nil
}
