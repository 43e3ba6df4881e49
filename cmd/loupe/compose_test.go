package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Edit and send through the wired dashboard and the real proxy: the origin
// sees the edit, and the new flow in the capture is linked to the one it
// was edited from.
func TestWiredCompose(t *testing.T) {
	type seen struct{ method, path, edit, ctype, body string }
	saw := make(chan seen, 4)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		saw <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("X-Edit"), r.Header.Get("Content-Type"), string(b)}
		_, _ = io.WriteString(w, "ok")
	}))
	defer origin.Close()
	m, _ := start(t)
	resp, err := client(t, m).Post(origin.URL+"/orig", "text/plain", strings.NewReader("before"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-saw

	// The original's ID, once the capture has it.
	var orig int
	deadline := time.Now().Add(5 * time.Second)
	for orig == 0 {
		_, b := api(t, m, "GET", "/api/flows", "")
		var list struct {
			Flows []struct {
				ID int `json:"id"`
			} `json:"flows"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Flows) == 1 {
			orig = list.Flows[0].ID
		} else if time.Now().After(deadline) {
			t.Fatalf("the original flow was not recorded: %s", b)
		}
	}

	body := fmt.Sprintf(`{"method": "PUT", "url": %q, "from": %d, "body": "{\"after\":true}",
		"headers": [{"name": "X-Edit", "value": "yes"}, {"name": "Content-Type", "value": "application/json"}, {"name": "Content-Length", "value": "6"}]}`,
		origin.URL+"/edited?a=1", orig)
	status, b := api(t, m, "POST", "/api/compose", body)
	if status != http.StatusCreated {
		t.Fatalf("compose: %d %s", status, b)
	}
	var answer struct {
		ID      int      `json:"id"`
		Dropped []string `json:"dropped"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || answer.ID == 0 || strings.Join(answer.Dropped, ",") != "Content-Length" {
		t.Fatalf("compose answer %s (%v)", b, err)
	}
	select {
	case got := <-saw:
		if want := (seen{"PUT", "/edited?a=1", "yes", "application/json", `{"after":true}`}); got != want {
			t.Errorf("origin saw %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the composed request never reached the origin")
	}

	var fl struct {
		State        string `json:"state"`
		Composed     bool   `json:"composed"`
		ComposedFrom int    `json:"composedFrom"`
		Client       string `json:"client"`
		Response     *struct {
			Status int `json:"status"`
		} `json:"response"`
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, b = api(t, m, "GET", "/api/flows/"+strconv.Itoa(answer.ID), "")
		if err := json.Unmarshal(b, &fl); err != nil {
			t.Fatal(err)
		}
		if fl.State != "pending" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !fl.Composed || fl.ComposedFrom != orig || fl.State != "done" || fl.Response == nil || fl.Response.Status != 200 {
		t.Errorf("composed flow %s", b)
	}

	if status, b := api(t, m, "POST", "/api/compose", `{"url": "ftp://x.test/"}`); status != http.StatusBadRequest || !strings.Contains(string(b), `"field":"url"`) {
		t.Errorf("bad URL: %d %s", status, b)
	}
}
