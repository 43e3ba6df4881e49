package disk

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestRegisterFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("loupe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-keep-flows", "1000", "-keep-bytes", "1GiB", "-keep-age", "48h"}); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxFlows != 1000 || cfg.MaxBytes != 1<<30 || cfg.MaxAge != 48*time.Hour {
		t.Errorf("config %+v", cfg)
	}
	if err := fs.Parse([]string{"-keep-age", "0"}); err != nil || cfg.MaxAge >= 0 {
		t.Errorf("-keep-age 0: %v, MaxAge %v (want no age limit)", err, cfg.MaxAge)
	}
	for _, bad := range [][]string{{"-keep-flows", "0"}, {"-keep-flows", "x"}, {"-keep-bytes", "lots"}, {"-keep-age", "-1h"}, {"-keep-age", "3"}} {
		if err := fs.Parse(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var help strings.Builder
	def := DefaultConfig()
	fs = flag.NewFlagSet("loupe", flag.ContinueOnError)
	def.RegisterFlags(fs)
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, d := range []string{"(default 1000000)", "(default 4GiB)", "(default 720h0m0s)"} {
		if !strings.Contains(help.String(), d) {
			t.Errorf("help lacks %s:\n%s", d, help.String())
		}
	}
}
