//go:build !linux

package disk

import (
	"errors"
	"os"
)

// openDirect reports that direct I/O is not used here: segments are
// written through the page cache.
func openDirect(string) (*os.File, error) {
	return nil, errors.ErrUnsupported
}
