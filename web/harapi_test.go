package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"loupe/proxy/flow"
)

// harDoc is the part of a HAR document the tests look at.
type harDoc struct {
	Log struct {
		Entries []struct {
			Request struct {
				URL     string       `json:"url"`
				Headers []flow.Field `json:"headers"`
			} `json:"request"`
			Response struct {
				Status  int `json:"status"`
				Content struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"response"`
		} `json:"entries"`
	} `json:"log"`
}

func TestExportHAR(t *testing.T) {
	e := newEnv(t, nil)
	e.add(flowSpec{url: "https://a.test/ok", status: 200, ct: "application/json", respBody: `{"a":1}`,
		header: flow.Fields{{Name: "Authorization", Value: "Bearer s3cret"}, {Name: "X-Api-Key", Value: "k3y"}}})
	e.add(flowSpec{url: "https://a.test/missing", status: 404, ct: "text/plain", respBody: "nope"})

	tests := []struct {
		name, query   string
		wantURLs      []string
		secretVisible bool
		keyVisible    bool
	}{
		{"all, redacted", "", []string{"https://a.test/ok", "https://a.test/missing"}, false, true},
		{"filtered", "?q=status:4xx", []string{"https://a.test/missing"}, false, false},
		{"body filter", "?q=body:nope", []string{"https://a.test/missing"}, false, false},
		{"with secrets", "?secrets=1", []string{"https://a.test/ok", "https://a.test/missing"}, true, true},
		{"more names redacted", "?redact=x-api-key", []string{"https://a.test/ok", "https://a.test/missing"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do("GET", "/api/flows/export.har"+tt.query, nil)
			body := readAll(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if d := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, "attachment;") || !strings.Contains(d, ".har") {
				t.Errorf("Content-Disposition = %q", d)
			}
			var doc harDoc
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			var urls []string
			for _, en := range doc.Log.Entries {
				urls = append(urls, en.Request.URL)
			}
			if strings.Join(urls, " ") != strings.Join(tt.wantURLs, " ") {
				t.Errorf("entries = %v, want %v", urls, tt.wantURLs)
			}
			if got := strings.Contains(body, "s3cret"); got != tt.secretVisible {
				t.Errorf("Authorization value present = %v, want %v", got, tt.secretVisible)
			}
			if got := strings.Contains(body, "k3y"); got != tt.keyVisible {
				t.Errorf("X-Api-Key value present = %v, want %v", got, tt.keyVisible)
			}
		})
	}
	if resp := e.do("GET", "/api/flows/export.har?q=nokey:x", nil); resp.StatusCode != 400 {
		t.Errorf("bad filter = %d, want 400", resp.StatusCode)
	}
}

func TestImportHAR(t *testing.T) {
	e := newEnv(t, nil)
	e.add(flowSpec{method: "POST", url: "https://a.test/form", status: 201, ct: "application/json", reqBody: "x=1", respBody: `{"id":7}`})
	exported := readAll(t, e.do("GET", "/api/flows/export.har?secrets=1", nil))
	e.do("DELETE", "/api/flows", nil)

	got := decode[ImportAnswer](t, e.do("POST", "/api/flows/import", strings.NewReader(exported)), http.StatusCreated)
	if len(got.IDs) != 1 || len(got.Flows) != 1 {
		t.Fatalf("imported = %+v", got)
	}
	s := got.Flows[0]
	if !s.Imported || s.Status != 201 || s.Method != "POST" || s.URL != "https://a.test/form" {
		t.Errorf("imported summary = %+v", s)
	}
	body := readAll(t, e.do("GET", fmt.Sprintf("/api/flows/%d/response/body", got.IDs[0]), nil))
	if body != `{"id":7}` {
		t.Errorf("imported body = %q", body)
	}

	bad := decode[ErrorBody](t, e.do("POST", "/api/flows/import", strings.NewReader(`{"log":{"entries":[{"request":42}]}}`)), 400)
	// One prefix naming the operation, then what is wrong.
	if want := "import HAR: entry 0: request"; !strings.HasPrefix(bad.Error, want) || strings.Count(bad.Error, "import HAR") != 1 {
		t.Errorf("bad HAR error = %q, want it to start with %q and name the operation once", bad.Error, want)
	}
	if resp := e.do("POST", "/api/flows/import", strings.NewReader("not json")); resp.StatusCode != 400 {
		t.Errorf("garbage = %d, want 400", resp.StatusCode)
	}
	if n := e.store.Stats().Flows; n != 1 {
		t.Errorf("failed imports changed the store: %d flows", n)
	}
}

func TestImportHARTooLarge(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxImportBytes = 1024 })
	big := `{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[],"comment":"` + strings.Repeat("x", 4096) + `"}}`
	if resp := e.do("POST", "/api/flows/import", strings.NewReader(big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized import = %d, want 413", resp.StatusCode)
	}
}
