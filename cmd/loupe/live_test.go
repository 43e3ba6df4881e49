package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The whole wiring of breakpoints: a breakpoint rule added through the API
// holds a request once a dashboard has its feed open; the feed announces
// it, GET /api/held lists it, and POST /api/held/{id}/execute sends the
// edit on. Without a feed open nothing is held.
func TestWiredBreakpoint(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "origin saw "+r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Edited"))
	}))
	defer origin.Close()
	m, _ := start(t)
	defer m.Close()
	c := client(t, m)
	rule := `{"id":"bp","enabled":true,"match":{"path":"/held*"},"actions":[{"type":"breakpoint","phase":"request","timeoutMs":60000,"onTimeout":"continue","hits":0}]}`
	if status, b := api(t, m, "POST", "/api/rules", rule); status != http.StatusCreated {
		t.Fatalf("add rule: %d %s", status, b)
	}
	get := func(path string) <-chan string {
		ch := make(chan string, 1)
		go func() {
			resp, err := c.Get(origin.URL + path)
			if err != nil {
				ch <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			ch <- string(b)
		}()
		return ch
	}
	if got := <-get("/held/nobody"); got != "origin saw GET /held/nobody " {
		t.Fatalf("without a dashboard: %q", got)
	}

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	feed, _, err := d.Dial("ws://"+m.UIAddr()+"/api/ws", http.Header{"Authorization": {"Bearer " + m.Config.Token}})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	// The feed counts once the hub has it: its first message says so.
	_ = feed.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := feed.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	answer := get("/held/one")
	var held []struct {
		ID      int    `json:"id"`
		Phase   string `json:"phase"`
		Request struct {
			URL string `json:"url"`
		} `json:"request"`
	}
	for {
		var msg struct {
			Type string          `json:"type"`
			Held json.RawMessage `json:"held"`
		}
		if err := feed.ReadJSON(&msg); err != nil {
			t.Fatalf("feed: %v", err)
		}
		if msg.Type != "held/update" {
			continue
		}
		if err := json.Unmarshal(msg.Held, &held); err != nil {
			t.Fatal(err)
		}
		if len(held) == 1 {
			break
		}
	}
	if held[0].Phase != "request" || !strings.HasSuffix(held[0].Request.URL, "/held/one") {
		t.Fatalf("held %+v", held)
	}
	if status, b := api(t, m, "GET", "/api/held", ""); status != 200 || !strings.Contains(string(b), `"id":`+strconv.Itoa(held[0].ID)) {
		t.Fatalf("GET /api/held: %d %s", status, b)
	}
	edit := `{"headers":[{"name":"X-Edited","value":"yes"}]}`
	if status, b := api(t, m, "POST", "/api/held/"+strconv.Itoa(held[0].ID)+"/execute", edit); status != http.StatusNoContent {
		t.Fatalf("execute: %d %s", status, b)
	}
	select {
	case got := <-answer:
		if got != "origin saw GET /held/one yes" {
			t.Fatalf("after execute: %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after execute")
	}
	if status, b := api(t, m, "GET", "/api/rules/stats", ""); status != 200 || !strings.Contains(string(b), `"breakpointHits":{"bp":1}`) {
		t.Errorf("stats: %d %s", status, b)
	}
}
