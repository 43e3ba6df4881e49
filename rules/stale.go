package rules

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleTempAge is how old a temporary rules file must be before Open removes
// it. A write holds its temporary file only between creating and renaming it
// (milliseconds), so an older one was left by a run that crashed; a younger
// one may belong to another Loupe saving into the same directory right now.
const staleTempAge = time.Minute

// tempPattern is the os.CreateTemp pattern of writeFileAtomic's temporary
// copy of a file named base.
func tempPattern(base string) string { return "." + base + ".*.tmp" }

// removeStaleTemps removes the temporary files that writeFileAtomic leaves
// beside target when a run crashes between creating and renaming one. Only
// regular files named exactly as writeFileAtomic names them are touched
// (".<base>.<digits>.tmp": os.CreateTemp fills the "*" with the decimal
// digits of a 32-bit number), never target itself, links, directories or
// anything else. Failures are logged and otherwise ignored: a leftover file
// is untidy, not harmful.
func removeStaleTemps(target string, now time.Time, log *slog.Logger) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !isTempName(e.Name(), base) {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleTempAge {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if err := os.Remove(name); err != nil {
			log.Warn("remove temporary rules file left by an earlier run", "file", name, "err", err)
			continue
		}
		log.Info("removed temporary rules file left by an earlier run", "file", name)
	}
}

// isTempName reports whether name is one writeFileAtomic may have given a
// temporary copy of base.
func isTempName(name, base string) bool {
	digits, ok := strings.CutPrefix(name, "."+base+".")
	if !ok {
		return false
	}
	digits, ok = strings.CutSuffix(digits, ".tmp")
	if !ok || len(digits) == 0 || len(digits) > 10 {
		return false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
