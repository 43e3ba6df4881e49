package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/disk"
)

// backend is a flow store under test with a way to wait for its writes.
type backend interface {
	FlowStore
	flow.Recorder
	Close() error
}

// flusher is the durable capture's Flush: reads see what was recorded.
type flusher interface{ Flush() error }

// backends builds each store the dashboard runs on.
var backends = []struct {
	name string
	open func(t *testing.T) backend
}{
	{"memory", func(t *testing.T) backend {
		st, err := store.New(store.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
	{"disk", func(t *testing.T) backend {
		st, err := disk.Open(disk.Config{Dir: t.TempDir(), ScanLimit: 40, BatchDelay: 5 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
}

// qenv is a dashboard over one backend, with the live feed running.
type qenv struct {
	t   *testing.T
	st  backend
	srv *httptest.Server
	s   *Server
}

func newQueryEnv(t *testing.T, st backend, tweak func(*Config)) *qenv {
	t.Helper()
	cfg := Config{Token: testToken, Logger: slog.New(slog.DiscardHandler), FlushInterval: 10 * time.Millisecond,
		StateInterval: 20 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg, Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
		st.Close()
	})
	return &qenv{t: t, st: st, srv: srv, s: s}
}

func (e *qenv) flush() {
	if f, ok := e.st.(flusher); ok {
		if err := f.Flush(); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *qenv) list(q string, extra string) FlowPage {
	e.t.Helper()
	e.flush()
	ee := &env{t: e.t, srv: e.srv}
	return decode[FlowPage](e.t, ee.do("GET", "/api/flows?q="+url.QueryEscape(q)+extra, nil), 200)
}

func idsOf(fs []flow.Summary) []flow.ID {
	out := make([]flow.ID, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

// TestListFlowsBothStores runs filters, cursor paging, the bounded scan's
// answer, the HAR export and the rule counts through the real router over
// both stores.
func TestListFlowsBothStores(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newQueryEnv(t, b.open(t), nil)
			var want5xx []flow.ID
			for i := range 60 {
				host := []string{"api.example.com", "www.example.org", "cdn.example.com"}[i%3]
				status := []int{200, 503, 404, 500}[i%4]
				body := "plain"
				if i%5 == 0 {
					body = "has a needle inside"
				}
				id := addFlow(e.st, flowSpec{url: fmt.Sprintf("https://%s/p/%d", host, i), status: status, ct: "text/plain",
					respBody: body, rules: []string{"r" + fmt.Sprint(i%2)}})
				if status >= 500 && strings.HasSuffix(host, ".example.com") {
					want5xx = append(want5xx, id)
				}
			}
			got := e.list("status:5xx host:*.example.com", "")
			if !slices.Equal(idsOf(got.Flows), want5xx) || got.Total != len(want5xx) || !got.Complete {
				t.Errorf("filtered list: %v total %d complete %v, want %v", idsOf(got.Flows), got.Total, got.Complete, want5xx)
			}
			// Cursor paging: pages of 4, newest first, next until the end.
			var paged []flow.ID
			for cursor := ""; ; {
				p := e.list("status:5xx host:*.example.com", "&limit=4"+cursor)
				if p.Total != len(want5xx) {
					t.Errorf("page total %d, want %d", p.Total, len(want5xx))
				}
				paged = append(idsOf(p.Flows), paged...)
				if p.Next == 0 {
					break
				}
				cursor = fmt.Sprintf("&cursor=%d", p.Next)
			}
			if !slices.Equal(paged, want5xx) {
				t.Errorf("paged %v, want %v", paged, want5xx)
			}
			// A body search.
			body := e.list("body:needle", "")
			if len(body.Flows) != 12 {
				t.Errorf("body:needle found %d flows, want 12", len(body.Flows))
			}
			// The HAR export streams the same selection.
			ee := &env{t: t, srv: e.srv}
			har := readAll(t, ee.do("GET", "/api/flows/export.har?q="+url.QueryEscape("status:5xx host:*.example.com"), nil))
			var doc struct {
				Log struct{ Entries []json.RawMessage } `json:"log"`
			}
			if err := json.Unmarshal([]byte(har), &doc); err != nil || len(doc.Log.Entries) != len(want5xx) {
				t.Errorf("export: %d entries (%v), want %d", len(doc.Log.Entries), err, len(want5xx))
			}
			stats := decode[RuleStats](t, ee.do("GET", "/api/rules/stats", nil), 200)
			if stats.Counts["r0"] != 30 || stats.Counts["r1"] != 30 {
				t.Errorf("rule counts %v", stats.Counts)
			}
		})
	}
}

// TestListBoundedScanAnswer: the durable capture's bounded scan says how
// far it got (complete false, scanned), and next goes on with the scan.
func TestListBoundedScanAnswer(t *testing.T) {
	e := newQueryEnv(t, backends[1].open(t), nil) // ScanLimit 40
	for i := range 100 {
		addFlow(e.st, flowSpec{url: fmt.Sprintf("http://x.test/%d", i), status: 200, respBody: fmt.Sprintf("b%d", i%2)})
	}
	got := e.list("body:b1", "&limit=5")
	if got.Complete || got.Scanned != 40 || got.Total != 20 || len(got.Flows) != 5 || got.Next == 0 {
		t.Errorf("bounded answer: complete %v scanned %d total %d flows %d next %d", got.Complete, got.Scanned, got.Total,
			len(got.Flows), got.Next)
	}
	ee := &env{t: t, srv: e.srv}
	raw := readAll(t, ee.do("GET", "/api/flows?q=body:b1&limit=1", nil))
	for _, field := range []string{`"complete":false`, `"scanned":40`, `"next":`} {
		if !strings.Contains(raw, field) {
			t.Errorf("answer %s lacks %s", raw, field)
		}
	}
}

// subscribe sends a subscription and waits for its answer.
func subscribe(t *testing.T, c *websocket.Conn, q string) feedMsg {
	t.Helper()
	if err := c.WriteJSON(map[string]string{"type": "subscribe", "q": q}); err != nil {
		t.Fatal(err)
	}
	return waitFor(t, c, "subscription answer", func(m feedMsg) bool {
		return m.Type == "subscribed" || m.Type == "subscribe/error"
	})
}

func (e *qenv) dial(t *testing.T) *websocket.Conn {
	ee := &env{t: t, srv: e.srv}
	return mustDial(t, ee)
}

// TestFeedSubscription: a filtered browser gets adds for new and updated
// flows that match, removals for flows that stop matching or are removed,
// nothing else; body filters are decided through the store; a bad filter
// is refused naming its term; rule counts are pushed.
func TestFeedSubscription(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newQueryEnv(t, b.open(t), nil)
			c := e.dial(t)
			if m := subscribe(t, c, "status:5xx host:*.example.com"); m.Type != "subscribed" {
				t.Fatalf("answer %+v", m)
			}
			miss := addFlow(e.st, flowSpec{url: "https://a.example.com/ok", status: 200})
			hit := addFlow(e.st, flowSpec{url: "https://a.example.com/fail", status: 503})
			other := addFlow(e.st, flowSpec{url: "https://a.example.org/fail", status: 503})
			e.flush()
			seen := map[flow.ID]bool{}
			waitFor(t, c, "the matching flow", func(m feedMsg) bool {
				for _, s := range append(m.Add, m.Update...) {
					seen[s.ID] = true
				}
				return seen[hit]
			})
			if seen[miss] || seen[other] {
				t.Errorf("non-matching flows sent as rows: %v", seen)
			}

			// A flow that matches while pending and stops matching.
			if m := subscribe(t, c, "-status:200"); m.Type != "subscribed" {
				t.Fatalf("answer %+v", m)
			}
			h := e.st.Begin("c", flow.Request{Method: "GET", URL: "http://p.test/"}, time.Now())
			e.flush()
			waitFor(t, c, "pending flow", func(m feedMsg) bool { _, ok := hasSummary(m.Add, h.ID()); return ok })
			h.Response(flow.Response{Status: 200})
			h.Finish(time.Now(), nil)
			e.flush()
			waitFor(t, c, "its removal", func(m feedMsg) bool { return slices.Contains(m.Remove, h.ID()) })

			// A deleted flow is removed.
			e.st.Delete(hit)
			waitFor(t, c, "deleted flow", func(m feedMsg) bool { return slices.Contains(m.Remove, hit) })

			// A body filter goes through the store.
			if m := subscribe(t, c, "body:needle"); m.Type != "subscribed" {
				t.Fatalf("answer %+v", m)
			}
			hay := addFlow(e.st, flowSpec{url: "http://b.test/1", status: 200, respBody: "only hay"})
			needle := addFlow(e.st, flowSpec{url: "http://b.test/2", status: 200, respBody: "a needle"})
			e.flush()
			waitFor(t, c, "body match", func(m feedMsg) bool {
				if _, ok := hasSummary(m.Add, hay); ok {
					t.Errorf("flow without the needle sent")
				}
				_, ok := hasSummary(m.Add, needle)
				return ok
			})

			// A bad filter names its term; the old one stays.
			var bad struct {
				Type, Term, Error string
			}
			c.WriteJSON(map[string]string{"type": "subscribe", "q": "status:5xx nope:1"})
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for bad.Type != "subscribe/error" {
				if err := c.ReadJSON(&bad); err != nil {
					t.Fatal(err)
				}
			}
			if bad.Term != "nope:1" {
				t.Errorf("bad filter answer %+v", bad)
			}

			// Rule counts arrive without asking.
			addFlow(e.st, flowSpec{url: "http://r.test/", status: 200, rules: []string{"pushed"}})
			e.flush()
			var rs struct {
				Type   string
				Counts map[string]int
			}
			for rs.Type != "rules/stats" || rs.Counts["pushed"] != 1 {
				if err := c.ReadJSON(&rs); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestSlowFilteredBrowser: a subscribed browser that stops reading is
// dropped like any other, and the feed goes on.
func TestSlowFilteredBrowser(t *testing.T) {
	st := backends[0].open(t)
	e := newQueryEnv(t, st, func(c *Config) {
		c.ClientQueue = 16
		c.ClientQueueBytes = 64 << 10
		c.PingInterval = time.Minute
		c.WriteTimeout = time.Minute
	})
	d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		return conn, err
	}}
	ee := &env{t: t, srv: e.srv}
	c, _, err := ee.dialWS(t, d)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteJSON(map[string]string{"type": "subscribe", "q": "-status:999"})
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; e.s.hub.dropped.Load() == 0; i++ {
		if time.Now().After(deadline) || i > 200_000 {
			t.Fatalf("a stalled filtered browser was never dropped (%d flows)", i)
		}
		addFlow(st, flowSpec{url: fmt.Sprintf("http://s.test/%d", i), status: 200})
	}
	_ = io.Discard
}
