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

// The default wiring: flows through the proxy land in the store and are
// served by the API; a rule added through the API applies to the next
// request, is persisted to rules.json, and is recorded on the flow; the
// capture's session directory is gone after Close.
func TestWiredCaptureRulesAndAPI(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "from origin "+r.URL.Path)
	}))
	defer origin.Close()
	captureDir := t.TempDir()
	m, _ := start(t, "-capture-dir", captureDir)
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
		if list.Total == 1 && list.Flows[0].State == "done" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if list.Total != 1 || list.Flows[0].Overridden != "override" || strings.Join(list.Flows[0].Rules, ",") != "ov" {
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
