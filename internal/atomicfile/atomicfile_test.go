package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name     string
		existing string // "" means no file before the write
		opts     Options
		wantErr  error
		want     string
		wantPerm fs.FileMode
	}{
		{name: "new file", opts: Options{}, want: "new", wantPerm: 0o600},
		{name: "replaces", existing: "old", opts: Options{}, want: "new", wantPerm: 0o600},
		{name: "perm", opts: Options{Perm: 0o644}, want: "new", wantPerm: 0o644},
		{name: "pattern", opts: Options{Pattern: ".x.tmp*"}, want: "new", wantPerm: 0o600},
		{name: "no replace, absent", opts: Options{NoReplace: true}, want: "new", wantPerm: 0o600},
		{name: "no replace, present", existing: "old", opts: Options{NoReplace: true}, wantErr: fs.ErrExist, want: "old", wantPerm: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "f.json")
			if tt.existing != "" {
				if err := os.WriteFile(name, []byte(tt.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(name, []byte("new"), tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Write: err = %v, want %v", err, tt.wantErr)
			}
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("content = %q, want %q", got, tt.want)
			}
			info, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != tt.wantPerm {
				t.Errorf("perm = %v, want %v", info.Mode().Perm(), tt.wantPerm)
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 1 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("directory holds %v, want only f.json (no temporary left)", names)
			}
		})
	}
}

// TestWriteFailsCleanly: a write into a missing directory fails and creates
// nothing (Write never creates directories).
func TestWriteFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "missing", "f.json")
	if err := Write(name, []byte("x"), Options{}); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
	if _, err := os.Stat(filepath.Dir(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Write created the directory (stat err %v)", err)
	}
}

// TestWritePattern: the temporary file is named by the caller's pattern, so
// a caller can recognise the ones a crash leaves behind.
func TestWritePattern(t *testing.T) {
	dir := t.TempDir()
	// A directory named like the target makes the rename fail after the
	// temporary file was created; the error names the temporary file.
	name := filepath.Join(dir, "f.json")
	if err := os.Mkdir(name, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(name, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Write(name, []byte("x"), Options{Pattern: ".f.json.*.mine"})
	if err == nil || !strings.Contains(err.Error(), ".mine") {
		t.Fatalf("Write over a directory: err = %v, want a rename error naming the .mine temporary", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary left behind after a failed rename: %d entries", len(ents))
	}
}
