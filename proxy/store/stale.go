package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// sessionPrefix names session directories; ownerFile inside one holds the
// owning process ID, so that a later run can tell a crashed session (whose
// directory Close never removed) from a live one.
const (
	sessionPrefix = "loupe-capture-"
	ownerFile     = "owner"
)

// markOwner records this process as the owner of a session directory.
func markOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// removeStale removes the session directories in parent whose owner process
// is gone (left by a run that crashed), and returns how many it removed.
// Directories it cannot judge are left alone.
func removeStale(parent, self string) int {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), sessionPrefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if dir == self {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if os.RemoveAll(dir) == nil {
			n++
		}
	}
	return n
}

// alive reports whether a process exists (signal 0 probes without sending).
// Where that cannot be asked, every process counts as alive.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	if err == nil {
		return true
	}
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}
