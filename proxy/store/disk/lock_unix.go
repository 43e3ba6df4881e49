//go:build unix

package disk

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockDir takes an exclusive, non-blocking lock on dir's lock file, so that
// two processes never write one capture (SQLite would serialise their
// writes, but the segment files and IDs assume one writer). The lock goes
// with the process, crash included.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("capture lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("capture lock %s: %w (pid %s): stop it or choose another capture directory",
				path, ErrLocked, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("capture lock %s: %w", path, err)
	}
	// The pid is for the error message above only; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
