// Package atomicfile replaces a file's content so that a reader, or a crash,
// sees either the old content or the new, never a mix: the data goes to a
// temporary file beside the target, is synced, and is renamed over it, and
// the directory is synced so the rename itself persists.
//
// It must never leave a partial file under the final name, and never create,
// change or remove anything but the target and its own temporary file: it
// does not create directories and does not clean up temporary files left by
// other writers (callers that name their temporaries with Options.Pattern may
// do that themselves). Standard library only.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Options says how Write names and protects the new file. The zero value
// is a private file replaced unconditionally.
type Options struct {
	// Pattern is the os.CreateTemp pattern of the temporary file, created in
	// the target's directory. Empty means "."+base+".*.tmp". Callers that
	// remove stale temporaries pass the pattern they recognise.
	Pattern string
	// Perm is the new file's permission; zero means 0o600.
	Perm fs.FileMode
	// NoReplace makes Write fail with an error wrapping fs.ErrExist when the
	// target exists just before the rename, leaving it as it is. It is a
	// check, not a lock: a file created between the check and the rename is
	// still replaced.
	NoReplace bool
}

// ErrExist is the error Write returns under Options.NoReplace when the
// target already exists; it wraps fs.ErrExist.
var ErrExist = fmt.Errorf("file already exists: %w", fs.ErrExist)

// Write replaces name with data. Its errors carry the file names involved
// (as the os package's do); on error the temporary file is removed and name
// is untouched.
func Write(name string, data []byte, o Options) (err error) {
	dir := filepath.Dir(name)
	pattern := o.Pattern
	if pattern == "" {
		pattern = "." + filepath.Base(name) + ".*.tmp"
	}
	perm := o.Perm
	if perm == 0 {
		perm = 0o600
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if o.NoReplace {
		if _, err := os.Lstat(name); err == nil {
			return ErrExist
		}
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	// Persist the rename itself; not every file system supports this.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
