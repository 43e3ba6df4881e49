package store

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestRegisterFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("loupe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-max-flows", "1000", "-ram-budget", "512MiB", "-disk-budget=-1", "-capture-dir", "/var/tmp/x", "-capture-paused"}); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.MaxFlows, want.RAMBudget, want.DiskBudget, want.Dir, want.Paused = 1000, 512<<20, -1, "/var/tmp/x", true
	if cfg != want {
		t.Errorf("config = %+v, want %+v", cfg, want)
	}
	if err := fs.Parse([]string{"-body-cap", "lots"}); err == nil {
		t.Error("bad size accepted")
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, d := range []string{"(default 32MiB)", "(default 256MiB)", "(default 1MiB)", "(default 2GiB)", "(default 50000)"} {
		if !strings.Contains(help.String(), d) {
			t.Errorf("help lacks %s:\n%s", d, help.String())
		}
	}
}
