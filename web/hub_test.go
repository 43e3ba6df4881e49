package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/rules"
)

// feedMsg is any feed message, decoded loosely.
type feedMsg struct {
	Type   string         `json:"type"`
	Seq    uint64         `json:"seq"`
	Add    []flow.Summary `json:"add"`
	Update []flow.Summary `json:"update"`
	Remove []flow.ID      `json:"remove"`
	Rules  []rules.Rule   `json:"rules"`
	State  *State         `json:"state"`
}

func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/ws" }

// dialWS opens the feed with the token and the given extra headers.
func (e *env) dialWS(t *testing.T, d *websocket.Dialer, hdr ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + testToken}}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			h.Del(hdr[i])
		} else {
			h.Set(hdr[i], hdr[i+1])
		}
	}
	if d == nil {
		d = websocket.DefaultDialer
	}
	c, resp, err := d.Dial(e.wsURL(), h)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func mustDial(t *testing.T, e *env) *websocket.Conn {
	t.Helper()
	c, _, err := e.dialWS(t, nil)
	if err != nil {
		t.Fatalf("dial feed: %v", err)
	}
	return c
}

// waitFor reads messages until one satisfies ok.
func waitFor(t *testing.T, c *websocket.Conn, what string, ok func(feedMsg) bool) feedMsg {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	c.SetReadDeadline(deadline)
	for {
		var m feedMsg
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(m) {
			return m
		}
	}
}

func hasSummary(list []flow.Summary, id flow.ID) (flow.Summary, bool) {
	for _, s := range list {
		if s.ID == id {
			return s, true
		}
	}
	return flow.Summary{}, false
}

func TestFeedMessages(t *testing.T) {
	e := newEnv(t, nil)
	c := mustDial(t, e)

	// On connect: the state and the rules.
	first := waitFor(t, c, "state", func(m feedMsg) bool { return true })
	if first.Type != "state/update" || first.State == nil || first.State.CAFingerprint != "AB:CD:EF" {
		t.Fatalf("first message = %+v", first)
	}
	waitFor(t, c, "rules", func(m feedMsg) bool { return m.Type == "rules/update" })

	snap := decode[FlowPage](t, e.do("GET", "/api/flows", nil), 200)

	// Add: a pending flow arrives in add.
	h := e.store.Begin("127.0.0.1:1", flow.Request{Method: "GET", URL: "https://a.test/slow"}, time.Now())
	id := h.ID()
	m := waitFor(t, c, "add", func(m feedMsg) bool { _, ok := hasSummary(m.Add, id); return ok })
	if m.Type != "flows/batch" || m.Seq <= snap.Seq {
		t.Errorf("add batch = type %s seq %d, snapshot seq %d", m.Type, m.Seq, snap.Seq)
	}
	if s, _ := hasSummary(m.Add, id); s.State != flow.StatePending || s.Host != "a.test" {
		t.Errorf("added summary = %+v", s)
	}
	lastSeq := m.Seq

	// Update: the same flow finishing arrives in update, with a newer seq.
	h.Response(flow.Response{Status: 204})
	h.Finish(time.Now(), nil)
	m = waitFor(t, c, "update", func(m feedMsg) bool { _, ok := hasSummary(m.Update, id); return ok })
	if s, _ := hasSummary(m.Update, id); s.Status != 204 || s.State != flow.StateDone || m.Seq <= lastSeq {
		t.Errorf("updated summary = %+v at seq %d (previous %d)", s, m.Seq, lastSeq)
	}
	lastSeq = m.Seq

	// Remove.
	e.do("DELETE", fmt.Sprintf("/api/flows/%d", id), nil)
	m = waitFor(t, c, "remove", func(m feedMsg) bool { return slices.Contains(m.Remove, id) })
	if m.Seq <= lastSeq {
		t.Errorf("remove seq %d not after %d", m.Seq, lastSeq)
	}
	lastSeq = m.Seq

	// Reset after a clear.
	e.add(flowSpec{url: "https://a.test/1", status: 200})
	e.do("DELETE", "/api/flows", nil)
	m = waitFor(t, c, "reset", func(m feedMsg) bool { return m.Type == "flows/reset" })
	if m.Seq <= lastSeq {
		t.Errorf("reset seq %d not after %d", m.Seq, lastSeq)
	}

	// Rules.
	e.do("POST", "/api/rules", strings.NewReader(`{"id":"r-feed","enabled":true,"match":{},"actions":[{"type":"block"}]}`))
	m = waitFor(t, c, "rules/update", func(m feedMsg) bool { return m.Type == "rules/update" && len(m.Rules) == 1 })
	if m.Rules[0].ID != "r-feed" {
		t.Errorf("rules = %+v", m.Rules)
	}

	// State: pausing is pushed at once.
	e.do("POST", "/api/recording/pause", nil)
	waitFor(t, c, "paused state", func(m feedMsg) bool { return m.Type == "state/update" && m.State.Paused })
}

func TestFeedOneBatchPerFlush(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FlushInterval = 100 * time.Millisecond })
	c := mustDial(t, e)
	waitFor(t, c, "rules", func(m feedMsg) bool { return m.Type == "rules/update" })
	var want []flow.ID
	start := time.Now()
	for i := range 2500 {
		want = append(want, e.add(flowSpec{url: fmt.Sprintf("https://a.test/%d", i), status: 200}))
	}
	elapsed := time.Since(start)
	var got []flow.ID
	var seqs []uint64
	for len(got) < len(want) {
		m := waitFor(t, c, "batches", func(m feedMsg) bool { return m.Type == "flows/batch" })
		seqs = append(seqs, m.Seq)
		for _, s := range m.Add {
			got = append(got, s.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("added %d flows, in order? first %v", len(got), got[:min(5, len(got))])
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Errorf("batch seqs not increasing: %v", seqs)
		}
	}
	// One batch per flush: the flows recorded within `elapsed` came in at
	// most as many batches as the flush ticker can fire in that time, plus
	// the partial windows at both ends and one tick that fell due before
	// the first flow but was taken after it (a busy hub; the ticker keeps
	// one). A slower machine only widens the bound.
	if maxBatches := int(elapsed/(100*time.Millisecond)) + 3; len(seqs) > maxBatches {
		t.Errorf("%d batches for %v of traffic at 100 ms flushes (max %d)", len(seqs), elapsed, maxBatches)
	}
}

func TestFeedAuthAndOrigin(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{"no token", []string{"Authorization", ""}, 401},
		{"wrong token", []string{"Authorization", "Bearer nope"}, 401},
		{"cross-site origin", []string{"Origin", "https://evil.example"}, 403},
		{"same-site other port", []string{"Origin", "http://localhost:1"}, 403},
		{"same origin", []string{"Origin", e.srv.URL}, 101},
		{"no origin (script)", nil, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, resp, err := e.dialWS(t, nil, tt.hdr...)
			if resp == nil {
				t.Fatalf("no handshake answer: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if (tt.want == 101) != (c != nil) {
				t.Errorf("connected = %v, err %v", c != nil, err)
			}
		})
	}
	// The cookie works for the websocket too (browsers can't set headers on it).
	c, resp, err := e.dialWS(t, nil, "Authorization", "", "Cookie", cookieName+"="+testToken, "Origin", e.srv.URL)
	if err != nil || c == nil {
		t.Fatalf("dial with cookie: %v (%v)", err, resp)
	}
}

// TestFeedResync plays the UI's protocol against concurrent traffic: open the
// feed, fetch the snapshot, apply only batches newer than the snapshot's
// seq. When traffic stops, the view must equal the store exactly.
func TestFeedResync(t *testing.T) {
	e := newEnv(t, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // traffic: adds, updates, deletes
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := e.add(flowSpec{url: fmt.Sprintf("https://t.test/%d", i), status: 200})
			if i%5 == 0 && i > 200 {
				e.store.Delete(id - 200)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	time.Sleep(30 * time.Millisecond)

	c := mustDial(t, e)
	snap := decode[FlowPage](t, e.do("GET", fmt.Sprintf("/api/flows?limit=%d", maxLimit), nil), 200)
	view := map[flow.ID]flow.Summary{}
	for _, s := range snap.Flows {
		view[s.ID] = s
	}
	if snap.Total > maxLimit {
		t.Fatalf("test traffic too large: %d", snap.Total)
	}

	msgs := make(chan feedMsg, 1024)
	readErr := make(chan error, 1)
	go func() {
		for {
			var m feedMsg
			if err := c.ReadJSON(&m); err != nil {
				readErr <- err
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	apply := func(m feedMsg) {
		if m.Type != "flows/batch" || m.Seq <= snap.Seq {
			return
		}
		for _, s := range append(m.Add, m.Update...) {
			view[s.ID] = s
		}
		for _, id := range m.Remove {
			delete(view, id)
		}
	}
	traffic := time.After(300 * time.Millisecond)
	stopped := false
	var finalSeq, lastSeen uint64
	for {
		select {
		case <-traffic:
			close(stop)
			wg.Wait()
			stopped = true
			finalSeq = e.store.Seq()
			traffic = nil
			if lastSeen >= finalSeq {
				goto done
			}
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("feed ended: %v", <-readErr)
			}
			apply(m)
			lastSeen = max(lastSeen, m.Seq)
			if stopped && m.Type == "flows/batch" && m.Seq >= finalSeq {
				goto done
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no final batch: final seq %d, snapshot %d, last seen %d, clients %d, dropped %d", finalSeq, snap.Seq, lastSeen, e.s.hub.clientCount.Load(), e.s.hub.dropped.Load())
		}
	}
done:
	c.Close()
	for range msgs { // let the reader end
	}
	want := decode[FlowPage](t, e.do("GET", fmt.Sprintf("/api/flows?limit=%d", maxLimit), nil), 200)
	if len(want.Flows) != len(view) {
		t.Fatalf("view holds %d flows, store %d", len(view), len(want.Flows))
	}
	for _, s := range want.Flows {
		v, ok := view[s.ID]
		if !ok || v.Status != s.Status || v.State != s.State {
			t.Fatalf("flow %d: view %+v, store %+v", s.ID, v, s)
		}
	}
	t.Logf("snapshot seq %d, %d flows at the end, final seq %d", snap.Seq, len(view), finalSeq)
}

// addMany records n finished flows as the proxy would, in bursts of 100
// with a 5 ms pause between them (busy traffic, some 10,000 flows/s, rather
// than one instant), and says how long the recording calls took in all, pauses
// excluded.
func addMany(st *store.Store, n int) time.Duration {
	var busy time.Duration
	for i := 0; i < n; i += 100 {
		start := time.Now()
		for j := i; j < min(i+100, n); j++ {
			addFlow(st, flowSpec{url: fmt.Sprintf("https://load.test/item/%d?page=%d", j, j%7), status: 200,
				ct: "application/json", respBody: `{"ok":true}`})
		}
		busy += time.Since(start)
		time.Sleep(5 * time.Millisecond)
	}
	return busy
}

// smallBuffers shrinks the kernel's socket buffers of accepted connections,
// so that a browser that stops reading shows up in the server's queue
// instead of vanishing into megabytes of socket buffers.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// TestSlowBrowser: a browser that stops reading while 20,000 flows go
// through must not slow the recording side, must not make the server queue
// more than its bound, and must be disconnected; a browser that reads keeps
// up and gets everything.
func TestSlowBrowser(t *testing.T) {
	const (
		flows      = 20_000
		queueMsgs  = 64
		queueBytes = 1 << 20
	)
	tweak := func(c *Config) {
		c.ClientQueue = queueMsgs
		c.ClientQueueBytes = queueBytes
		// Only the queue bound may catch the stalled browser here.
		c.PingInterval = time.Minute
		c.WriteTimeout = time.Minute
	}
	wrap := func(l net.Listener) net.Listener { return smallBuffers{l} }

	// Baseline: the same traffic with a healthy browser reading the feed.
	base := newEnv(t, tweak)
	healthy := mustDial(t, base)
	waitClients(t, base, 1)
	var seen atomic.Int64 // distinct flows added, as the healthy browser saw them
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		ids := map[flow.ID]bool{}
		for {
			var m feedMsg
			if err := healthy.ReadJSON(&m); err != nil {
				return
			}
			for _, s := range m.Add {
				ids[s.ID] = true
			}
			seen.Store(int64(len(ids)))
		}
	}()
	baseline := addMany(base.store, flows)

	// Now with a browser that never reads, on tiny socket buffers.
	e := newEnvListener(t, tweak, wrap)
	d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		return conn, err
	}}
	if _, _, err := e.dialWS(t, d); err != nil {
		t.Fatal(err)
	}
	waitClients(t, e, 1)
	withStalled := addMany(e.store, flows)

	// How much the stalled browser cost the recording side depends on the
	// machine, so it is only reported. That the recording never waited
	// for the browser is shown by what follows: its queue could only run
	// past the bound because flows kept being recorded while its writes
	// were stuck.
	ratio := float64(withStalled) / float64(baseline)
	t.Logf("recording %d flows took %v with a healthy browser, %v with a stalled one (ratio %.2f)", flows, baseline, withStalled, ratio)

	// The stalled browser was dropped for its queue (not a timeout)...
	waitClients(t, e, 0)
	if n := e.s.hub.dropped.Load(); n != 1 {
		t.Errorf("dropped %d clients for falling behind, want 1", n)
	}
	// ...and its queue never exceeded the bound.
	maxBytes, maxMsgs := e.s.hub.maxQueuedBytes.Load(), e.s.hub.maxQueuedMsgs.Load()
	t.Logf("stalled browser's queue peaked at %d messages, %d bytes (bounds %d, %d)", maxMsgs, maxBytes, queueMsgs, queueBytes)
	if maxMsgs > queueMsgs || maxBytes > queueBytes {
		t.Errorf("queue peaked at %d messages / %d bytes, bounds %d / %d", maxMsgs, maxBytes, queueMsgs, queueBytes)
	}

	// The healthy browser kept up: never dropped, and it got every flow.
	deadline := time.Now().Add(20 * time.Second)
	for seen.Load() < flows && time.Now().Before(deadline) && base.s.hub.clientCount.Load() == 1 {
		time.Sleep(10 * time.Millisecond)
	}
	if n := base.s.hub.dropped.Load(); n != 0 {
		t.Errorf("healthy browser dropped %d times", n)
	}
	if n := seen.Load(); n != flows {
		t.Errorf("healthy browser saw %d of %d flows", n, flows)
	}
	healthy.Close()
	<-readerDone
}

func waitClients(t *testing.T, e *env, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.s.hub.clientCount.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("clients = %d, want %d", e.s.hub.clientCount.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFeedPingDeadline(t *testing.T) {
	// A ping interval far above scheduling delays on a busy machine: the
	// test waits for events (the silent browser cut, pings answered), not
	// for time to pass.
	e := newEnv(t, func(c *Config) { c.PingInterval = time.Second })
	// A browser that answers pings (gorilla answers while reading) stays...
	alive := mustDial(t, e)
	var pings atomic.Int32
	alive.SetPingHandler(func(data string) error {
		pings.Add(1)
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	aliveDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				aliveDone <- err
				return
			}
		}
	}()
	// ...one that never reads never answers, and is cut after 2 intervals.
	silent := mustDial(t, e)
	waitClients(t, e, 2)
	waitClients(t, e, 1)
	// The answering browser goes on answering pings past the silent one's
	// deadline, and stays connected.
	after := pings.Load()
	deadline := time.Now().Add(20 * time.Second)
	for pings.Load() < after+3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := pings.Load() - after; got < 3 {
		t.Fatalf("the answering browser got %d pings after the silent one was cut", got)
	}
	if n := e.s.hub.clientCount.Load(); n != 1 {
		t.Errorf("answering browser was cut too (clients %d)", n)
	}
	alive.Close()
	<-aliveDone
	silent.Close()
}

func TestFeedReadLimit(t *testing.T) {
	e := newEnv(t, nil)
	c := mustDial(t, e)
	waitClients(t, e, 1)
	if err := c.WriteMessage(websocket.TextMessage, []byte("small")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := e.s.hub.clientCount.Load(); n != 1 {
		t.Fatalf("a small message cut the browser")
	}
	if err := c.WriteMessage(websocket.TextMessage, make([]byte, maxClientMessage+1)); err != nil {
		t.Fatal(err)
	}
	waitClients(t, e, 0)
}

func TestFeedStateUpdates(t *testing.T) {
	e := newEnv(t, nil) // StateInterval 50 ms
	c := mustDial(t, e)
	first := waitFor(t, c, "state", func(m feedMsg) bool { return m.Type == "state/update" })
	if first.State.Flows != 0 || first.State.Clients != 1 {
		t.Fatalf("first state = %+v", first.State)
	}
	e.add(flowSpec{url: "https://a.test/", status: 200, respBody: "abc"})
	m := waitFor(t, c, "state with the flow", func(m feedMsg) bool { return m.Type == "state/update" && m.State.Flows == 1 })
	if m.State.Stats.Flows != 1 || m.State.Seq == 0 {
		t.Errorf("state = %+v", m.State)
	}
	// Without changes, no state/update follows (only figures that move
	// constantly, which don't count).
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var next feedMsg
	if err := c.ReadJSON(&next); err == nil && next.Type == "state/update" {
		t.Errorf("state/update without a change: %+v", next.State)
	}
}
