package har

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite the golden HAR files in testdata")

func exportString(t *testing.T, m *memStore, opt Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Export(&buf, m.all, m.body, opt); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

func TestExportGolden(t *testing.T) {
	tests := []struct {
		file string
		opt  Options
	}{
		{"export.har", Options{CreatorVersion: "test"}},
		{"export-redacted.har", Options{CreatorVersion: "test", Redact: true, RedactNames: []string{"X-Api-Key", "token", "password"}}},
		{"export-nowire.har", Options{CreatorVersion: "test", OmitWire: true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := exportString(t, sampleFlows(t), tt.opt)
			checkHAR(t, got)
			checkWSTimes(t, got)
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("export differs from %s (go test -update rewrites it):\n%s", path, firstDiff(got, want))
			}
		})
	}
}

func firstDiff(got, want []byte) string {
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return "line " + itoa(i+1) + ":\n got: " + g + "\nwant: " + w
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestRedaction(t *testing.T) {
	out := string(exportString(t, sampleFlows(t), Options{Redact: true, RedactNames: []string{"x-api-key", "TOKEN", "password"}}))
	for _, secret := range []string{"abc.def", "xyz", "k-123", "s3cret", "hunter2", `"new"`, "sid=new"} {
		if strings.Contains(out, secret) {
			t.Errorf("redacted export still contains %q", secret)
		}
	}
	for _, kept := range []string{`"name":"Authorization","value":""`, `"name":"Cookie","value":""`, `"name":"sid","value":""`,
		`token=&lang=en`, `"name":"password","value":""`, `"name":"lang","value":"en"`, `"name":"X-Api-Key","value":""`} {
		if !strings.Contains(out, kept) {
			t.Errorf("redacted export lacks %s", kept)
		}
	}
	plain := string(exportString(t, sampleFlows(t), Options{}))
	if !strings.Contains(plain, "Bearer abc.def") {
		t.Error("export without Redact lost the Authorization value")
	}
}

func TestExportEmptyAndNil(t *testing.T) {
	var buf bytes.Buffer
	if err := Export(&buf, nil, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	checkHAR(t, buf.Bytes())
	buf.Reset()
	// Without a BodyFunc, entries still validate and say why bodies are missing.
	if err := Export(&buf, sampleFlows(t).all, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	checkHAR(t, buf.Bytes())
	if !strings.Contains(buf.String(), "body not exported") {
		t.Error("missing body not explained")
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, os.ErrClosed
	}
	return len(p), nil
}

func TestExportWriteError(t *testing.T) {
	if err := Export(&failWriter{n: 10}, sampleFlows(t).all, nil, Options{}); err == nil {
		t.Fatal("write error not reported")
	}
}

// checkWSTimes checks Chrome's shape: message times in epoch seconds.
func checkWSTimes(t *testing.T, data []byte) {
	t.Helper()
	var doc struct {
		Log struct {
			Entries []struct {
				Messages []struct {
					Time float64 `json:"time"`
				} `json:"_webSocketMessages"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range doc.Log.Entries {
		for _, m := range e.Messages {
			n++
			if m.Time < 1e9 || m.Time > 1e10 {
				t.Errorf("websocket message time %v is not epoch seconds", m.Time)
			}
		}
	}
	if n == 0 {
		t.Error("no websocket messages exported")
	}
}
