package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// builtDir holds the binary buildLoupe made; TestMain removes it.
var builtDir string

// buildLoupe compiles this command once per test binary.
var buildLoupe = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "loupe-bin-")
	if err != nil {
		return "", err
	}
	builtDir = dir
	bin := filepath.Join(dir, "loupe")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// removeBuilt removes the binary buildLoupe made, if it made one.
func removeBuilt() {
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
}
