//go:build !(linux || openbsd)

package disk

import "os"

// pwritev writes bufs back to back at off, one WriteAt each, where no
// vectored write is at hand.
func pwritev(f *os.File, bufs [][]byte, off int64) error {
	for _, b := range bufs {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}
