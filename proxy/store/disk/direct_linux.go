package disk

import (
	"os"
	"syscall"
)

// openDirect opens a segment a second time for direct I/O writes.
func openDirect(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
}
