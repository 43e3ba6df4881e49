package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// api calls the dashboard API of m with its token.
func api(t *testing.T, m *Main, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+m.UIAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.Config.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// The default wiring, with the durable capture and with -ephemeral: flows
// through the proxy land in the store and are served by the API; a rule
// added through the API applies to the next request, is persisted to
// rules.json, and is recorded on the flow. The durable capture is in the
// data directory; -ephemeral's session directory is gone after Close.
func TestWiredCaptureRulesAndAPI(t *testing.T) {
	for _, ephemeral := range []bool{false, true} {
		t.Run(map[bool]string{false: "durable", true: "ephemeral"}[ephemeral], func(t *testing.T) {
			testWiredCapture(t, ephemeral)
		})
	}
}

func testWiredCapture(t *testing.T, ephemeral bool) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "from origin "+r.URL.Path)
	}))
	defer origin.Close()
	captureDir := t.TempDir()
	args := []string{"-capture-dir", captureDir}
	if ephemeral {
		args = append(args, "-ephemeral")
	}
	m, _ := start(t, args...)
	c := client(t, m)
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(origin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	if got := get("/ov"); got != "from origin /ov" {
		t.Fatalf("before the rule: %q", got)
	}
	rule := `{"id":"ov","enabled":true,"match":{"path":"/ov*"},"actions":[{"type":"override","body":"from rule"}]}`
	if status, b := api(t, m, "POST", "/api/rules", rule); status != http.StatusCreated {
		t.Fatalf("add rule: %d %s", status, b)
	}
	if got := get("/ov"); got != "from rule" {
		t.Fatalf("after the rule: %q", got)
	}
	saved, err := os.ReadFile(filepath.Join(m.Config.DataDir, "rules.json"))
	if err != nil || !bytes.Contains(saved, []byte(`"from rule"`)) {
		t.Fatalf("rules.json not persisted: %v %s", err, saved)
	}

	// The recorder runs behind the response; give it a moment to finish.
	var list struct {
		Total int `json:"total"`
		Flows []struct {
			ID         int      `json:"id"`
			Rules      []string `json:"rules"`
			Overridden string   `json:"overridden"`
			State      string   `json:"state"`
		} `json:"flows"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, b := api(t, m, "GET", "/api/flows?q=rule:ov", "")
		if status != http.StatusOK {
			t.Fatalf("list flows: %d %s", status, b)
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		if list.Total == 1 && len(list.Flows) == 1 && list.Flows[0].State == "done" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if list.Total != 1 || len(list.Flows) != 1 || list.Flows[0].Overridden != "override" || strings.Join(list.Flows[0].Rules, ",") != "ov" {
		t.Fatalf("flows touched by the rule: %+v", list)
	}
	id := list.Flows[0].ID
	if status, b := api(t, m, "GET", "/api/flows/"+strconv.Itoa(id)+"/response/body?variant=upstream", ""); status != 200 || string(b) != "from origin /ov" {
		t.Errorf("upstream body: %d %q", status, b)
	}
	if status, b := api(t, m, "GET", "/api/flows/"+strconv.Itoa(id)+"/response/body", ""); status != 200 || string(b) != "from rule" {
		t.Errorf("served body: %d %q", status, b)
	}
	if status, b := api(t, m, "GET", "/api/flows?q=-rule:", ""); status != 200 || !bytes.Contains(b, []byte(`"total":1`)) {
		t.Errorf("flows untouched by rules: %d %s", status, b)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(captureDir, "loupe-capture-*"))
	if len(left) != 0 {
		t.Errorf("capture directories left after Close: %v", left)
	}
	_, err = os.Stat(filepath.Join(m.Config.DataDir, captureDirName, "capture.db"))
	if ephemeral != os.IsNotExist(err) {
		t.Errorf("durable capture file with ephemeral %v: %v", ephemeral, err)
	}
}

func TestCaptureFlags(t *testing.T) {
	t.Setenv("LOUPE_DATA", "/tmp/loupe-data")
	m := NewMain()
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if c := m.Config; c.Ephemeral || c.Capture.MaxFlows != 1_000_000 || c.Capture.MaxBytes != 4<<30 || c.Capture.MaxAge != 30*24*time.Hour {
		t.Errorf("defaults: ephemeral %v, capture %+v", c.Ephemeral, c.Capture)
	}
	m = NewMain()
	if err := m.ParseFlags([]string{"-ephemeral", "-keep-flows", "5", "-keep-bytes", "1MiB", "-keep-age", "0", "-body-cap", "1KiB"}); err != nil {
		t.Fatal(err)
	}
	if c := m.Config; !c.Ephemeral || c.Capture.MaxFlows != 5 || c.Capture.MaxBytes != 1<<20 || c.Capture.MaxAge >= 0 || c.Store.BodyCap != 1024 {
		t.Errorf("flags: ephemeral %v, capture %+v, body cap %d", c.Ephemeral, c.Capture, c.Store.BodyCap)
	}
	for _, bad := range [][]string{{"-keep-flows", "0"}, {"-keep-bytes", "-5"}, {"-keep-age", "soon"}} {
		m = NewMain()
		m.Stdout = io.Discard
		if err := m.ParseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The durable capture takes -body-cap and -capture-paused too.
func TestDurableCaptureSharedFlags(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("b", 100))
	}))
	defer origin.Close()
	m, _ := start(t, "-body-cap", "10", "-capture-paused")
	c := client(t, m)
	get := func() {
		resp, err := c.Get(origin.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	if status, b := api(t, m, "GET", "/api/state", ""); status != 200 || !strings.Contains(string(b), `"paused":true`) || !strings.Contains(string(b), `"skipped":1`) {
		t.Fatalf("paused at start: %d %s", status, b)
	}
	api(t, m, "POST", "/api/recording/resume", "")
	get()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, b := api(t, m, "GET", "/api/flows", "")
		var l struct {
			Flows []struct {
				ID    int    `json:"id"`
				State string `json:"state"`
			} `json:"flows"`
		}
		json.Unmarshal(b, &l)
		if len(l.Flows) == 1 && l.Flows[0].State == "done" {
			_, f := api(t, m, "GET", "/api/flows/"+strconv.Itoa(l.Flows[0].ID), "")
			if !strings.Contains(string(f), `"responseBody":{"size":100,"captured":10,"truncated":true`) {
				t.Errorf("body cap not applied: %s", f)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow not recorded: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A malformed rules.json stops start-up with a message naming the file, the
// rule and the field, and the file is left as it was.
func TestMalformedRulesStopStartup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.json")
	bad := []byte(`[{"id":"r1","enabled":true,"actions":[{"type":"block","status":999}]}]`)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	m := NewMain()
	m.Stdout = io.Discard
	if err := m.ParseFlags([]string{"-proxy", "127.0.0.1:0", "-ui", "127.0.0.1:0", "-data", dir, "-capture-dir", t.TempDir(), "-log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	_ = m.Close()
	if err == nil {
		t.Fatal("Run accepted a malformed rules.json")
	}
	for _, want := range []string{path, `"r1"`, "actions[0].status"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, bad) {
		t.Errorf("rules.json changed: %s", got)
	}
}
