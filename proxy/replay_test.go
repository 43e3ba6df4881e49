package proxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
)

func TestReplay(t *testing.T) {
	got := make(chan string, 2)
	origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("X-Token") + " " + string(b)
		_, _ = io.WriteString(w, "answer")
	}))
	env := proxytest.Start(t, proxy.Config{})
	req, _ := http.NewRequest("POST", origin.URL+"/submit", strings.NewReader("first"))
	req.Header.Set("X-Token", "t1")
	resp, err := env.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-got
	orig := env.Rec.Last(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := env.Proxy.Replay(ctx, &orig.Flow, []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "POST /submit t1 second" {
		t.Errorf("origin got %q", g)
	}
	fs := env.Rec.WaitFinished(t, 2, 5*time.Second)
	f := fs[1].Flow
	if f.ID != id || f.ReplayOf != orig.Flow.ID || f.Response == nil || f.Response.Status != 200 || string(fs[1].Bodies[flow.FacetResponse]) != "answer" {
		t.Errorf("replayed flow %+v", f)
	}

	ws := orig.Flow
	ws.Request.URL = "ws://example.com/"
	if _, err := env.Proxy.Replay(ctx, &ws, nil); !errors.Is(err, proxy.ErrNotReplayable) {
		t.Errorf("replay of a ws URL: %v", err)
	}
}
