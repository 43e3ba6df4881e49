package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/disk"
)

// sessionBackend is a store the session tests run against: both stores must
// answer the dashboard alike.
type sessionBackend struct {
	name string
	open func(t *testing.T, maxFlows int) (FlowStore, flow.Recorder)
	// sync returns once what was recorded is readable.
	sync func(t *testing.T, st FlowStore)
}

var sessionBackends = []sessionBackend{
	{"memory", func(t *testing.T, maxFlows int) (FlowStore, flow.Recorder) {
		st, err := store.New(store.Config{Dir: t.TempDir(), MaxFlows: maxFlows, RAMBudget: 4 << 20, DiskBudget: 4 << 20, SpillThreshold: 64 << 10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, st
	}, func(*testing.T, FlowStore) {}},
	{"durable", func(t *testing.T, maxFlows int) (FlowStore, flow.Recorder) {
		st, err := disk.Open(disk.Config{Dir: t.TempDir(), MaxFlows: maxFlows, MaxBytes: 8 << 20, InlineMax: 1024, BatchDelay: time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, st
	}, func(t *testing.T, st FlowStore) {
		if err := st.(*disk.Store).Flush(); err != nil {
			t.Fatal(err)
		}
	}},
}

// senv is a dashboard over one sessionBackend.
type senv struct {
	*env
	st  FlowStore
	rec flow.Recorder
	b   sessionBackend
}

func newSessionEnv(t *testing.T, b sessionBackend, maxFlows int, tweak func(*Config)) *senv {
	t.Helper()
	st, rec := b.open(t, maxFlows)
	cfg := Config{Token: testToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		FlushInterval: 10 * time.Millisecond, StateInterval: 50 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg, Deps{Store: st, CA: fakeCA{}})
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
	})
	return &senv{env: &env{t: t, srv: srv, s: s}, st: st, rec: rec, b: b}
}

func (e *senv) add(fs flowSpec) flow.ID { return addFlow(e.rec, fs) }
func (e *senv) sync()                   { e.b.sync(e.t.(*testing.T), e.st) }

func (e *senv) list(t *testing.T, query string) FlowPage {
	t.Helper()
	return decode[FlowPage](t, e.do("GET", "/api/flows"+query, nil), http.StatusOK)
}

func (e *senv) sessions(t *testing.T) []store.Session {
	t.Helper()
	return decode[[]store.Session](t, e.do("GET", "/api/sessions", nil), http.StatusOK)
}

func listIDs(l FlowPage) []flow.ID { return ids(l.Flows) }

func TestSessionsAPI(t *testing.T) {
	for _, b := range sessionBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newSessionEnv(t, b, 0, nil)
			ss := e.sessions(t)
			if len(ss) != 1 || !ss[0].Recording {
				t.Fatalf("sessions of a fresh capture: %+v", ss)
			}
			first := ss[0].ID
			var a []flow.ID
			for i := range 3 {
				a = append(a, e.add(flowSpec{url: fmt.Sprint("http://a.test/", i), status: 200, respBody: "x"}))
			}
			e.sync()
			if l := e.list(t, ""); l.Session != first || l.Total != 3 || !slices.Equal(listIDs(l), a) || l.Next != 0 {
				t.Fatalf("default list: %+v", l)
			}

			second := decode[store.Session](t, e.do("POST", "/api/sessions", strings.NewReader(`{"name":"second"}`)), http.StatusCreated)
			if second.Name != "second" || !second.Recording || second.ID == first {
				t.Fatalf("new session %+v", second)
			}
			if l := e.list(t, ""); l.Session != second.ID || l.Total != 0 || len(l.Flows) != 0 {
				t.Errorf("the list follows the new recording session: %+v", l)
			}
			c := e.add(flowSpec{url: "http://c.test/", status: 200})
			e.sync()
			if l := e.list(t, "?session="+strconv.Itoa(int(first))); l.Total != 3 || !slices.Equal(listIDs(l), a) {
				t.Errorf("first session: %+v", l)
			}
			if l := e.list(t, "?session=all"); l.Total != 4 || l.Session != 0 || !slices.Equal(listIDs(l), append(slices.Clone(a), c)) {
				t.Errorf("every session: %+v", l)
			}
			// A HAR export of one session, or (as before sessions) of all.
			for q, want := range map[string]int{"?session=" + strconv.Itoa(int(first)) + "&": 3, "?": 4, "?session=all&": 4} {
				var doc struct {
					Log struct{ Entries []json.RawMessage } `json:"log"`
				}
				if err := json.Unmarshal([]byte(readAll(t, e.do("GET", "/api/flows/export.har"+q+"secrets=1", nil))), &doc); err != nil {
					t.Fatal(err)
				}
				if len(doc.Log.Entries) != want {
					t.Errorf("export.har%s: %d entries, want %d", q, len(doc.Log.Entries), want)
				}
			}
			st := decode[State](t, e.do("GET", "/api/state", nil), http.StatusOK)
			if st.Session == nil || st.Session.ID != second.ID || st.Session.Flows != 1 {
				t.Errorf("state's recording session: %+v", st.Session)
			}
			if e := decode[ErrorBody](t, e.do("POST", "/api/sessions", strings.NewReader(`{"nam":"x"}`)), 400); !strings.Contains(e.Error, "nam") {
				t.Errorf("unknown field: %q", e.Error)
			}

			// Pages by cursor: next until there is none.
			q := "?session=" + strconv.Itoa(int(first)) + "&limit=2"
			p1 := e.list(t, q)
			if !slices.Equal(listIDs(p1), a[1:]) || p1.Next == 0 || p1.Total != 3 {
				t.Fatalf("first page %+v", p1)
			}
			p2 := e.list(t, q+"&cursor="+strconv.FormatUint(uint64(p1.Next), 10))
			if !slices.Equal(listIDs(p2), a[:1]) || p2.Next != 0 {
				t.Errorf("second page %+v", p2)
			}
			if l := e.list(t, "?session=all&limit=2&before="+strconv.Itoa(int(a[2]))); !slices.Equal(listIDs(l), a[:2]) {
				t.Errorf("before still pages: %+v", l)
			}
			for _, bad := range []string{"?cursor=x", "?session=x", "?session=-1"} {
				if resp := e.do("GET", "/api/flows"+bad, nil); resp.StatusCode != 400 {
					t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
				}
			}
			if resp := e.do("GET", "/api/flows?session=999", nil); resp.StatusCode != 404 {
				t.Errorf("unknown session: %d, want 404", resp.StatusCode)
			}

			path := "/api/sessions/" + strconv.Itoa(int(first))
			up := decode[store.Session](t, e.do("PATCH", path, strings.NewReader(`{"name":"renamed","pinned":true}`)), http.StatusOK)
			if up.Name != "renamed" || !up.Pinned || up.Flows != 3 {
				t.Errorf("patched %+v", up)
			}
			for body, want := range map[string]int{`{"name":""}`: 400, `{"color":"red"}`: 400, `[`: 400, `{"pinned":"yes"}`: 400} {
				if resp := e.do("PATCH", path, strings.NewReader(body)); resp.StatusCode != want {
					t.Errorf("PATCH %s: %d, want %d", body, resp.StatusCode, want)
				}
			}
			if resp := e.do("PATCH", "/api/sessions/999", strings.NewReader(`{}`)); resp.StatusCode != 404 {
				t.Errorf("PATCH of an unknown session: %d", resp.StatusCode)
			}
			rec := decode[ErrorBody](t, e.do("DELETE", "/api/sessions/"+strconv.Itoa(int(second.ID)), nil), http.StatusConflict)
			if !strings.Contains(rec.Error, "recording") {
				t.Errorf("deleting the recording session: %q", rec.Error)
			}
			if resp := e.do("DELETE", path, nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE: %d", resp.StatusCode)
			}
			if resp := e.do("GET", "/api/flows/"+strconv.Itoa(int(a[0])), nil); resp.StatusCode != 404 {
				t.Errorf("a flow of a deleted session: %d", resp.StatusCode)
			}
			if resp := e.do("GET", "/api/flows?session="+strconv.Itoa(int(first)), nil); resp.StatusCode != 404 {
				t.Errorf("listing a deleted session: %d", resp.StatusCode)
			}
			if resp := e.do("DELETE", "/api/flows?session="+strconv.Itoa(int(second.ID)), nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("clear one session: %d", resp.StatusCode)
			}
			if ss := e.sessions(t); len(ss) != 1 || ss[0].ID != second.ID || ss[0].Flows != 0 {
				t.Errorf("sessions at the end: %+v", ss)
			}
		})
	}
}

// richFlows records flows that use every part a session file must keep:
// request and response bodies (one gzip-encoded, one over several chunks),
// an overridden response with its upstream body, a WebSocket, a tunnel
// target, rules, an error, a flow still in progress.
func richFlows(rec flow.Recorder) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, `{"compressed":true}`)
	zw.Close()
	addFlow(rec, flowSpec{method: "POST", url: "https://api.test/items?x=1", status: 201, ct: "application/json",
		reqBody: `{"name":"a"}`, respBody: gz.String(), encoding: "gzip", header: flow.Fields{{Name: "Cookie", Value: "secret=1"}}})
	addFlow(rec, flowSpec{url: "http://big.test/blob", status: 200, ct: "application/octet-stream",
		respBody: strings.Repeat("0123456789abcdef", 20_000)})
	addFlow(rec, flowSpec{url: "http://ov.test/", status: 200, ct: "text/plain", respBody: "served", upstream: "original", rules: []string{"r1"}})
	addFlow(rec, flowSpec{url: "http://down.test/", err: fmt.Errorf("dial tcp: connection refused")})

	h := rec.Begin("127.0.0.1:6000", flow.Request{Method: "GET", URL: "https://b.test/ws", Proto: "HTTP/1.1",
		Header: flow.Fields{{Name: "Upgrade", Value: "websocket"}, {Name: "Connection", Value: "Upgrade"}}}, time.Now())
	h.Target("a.test:8443", "sni.test")
	h.Response(flow.Response{Status: 101, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Upgrade", Value: "websocket"}}})
	h.WebSocket(flow.WSMessage{Direction: flow.Send, Time: time.Now(), Opcode: 1, Size: 5, Data: []byte("hello")})
	h.WebSocket(flow.WSMessage{Direction: flow.Receive, Time: time.Now(), Opcode: 2, Size: 3, Data: []byte{0, 1, 2}})
	h.Finish(time.Now(), nil)

	p := rec.Begin("127.0.0.1:6001", flow.Request{Method: "GET", URL: "http://slow.test/", Proto: "HTTP/1.1"}, time.Now())
	p.Body(flow.FacetRequest, []byte("partial"))
}

// comparable is a flow's JSON without what an import changes: its ID and
// session, and the state of a flow that was still in progress.
func comparable(t *testing.T, f flow.Flow) string {
	t.Helper()
	f.ID, f.Session, f.ReplayOf = 0, 0, 0
	if f.State == flow.StatePending {
		f.State, f.Error = flow.StateError, ""
	}
	if f.State == flow.StateError && strings.HasPrefix(f.Error, "interrupted") {
		f.Error = ""
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A session saved as a file and opened again (into either store) holds the
// same flows, byte for byte: heads, bodies of every facet, messages,
// tunnel, rules, errors.
func TestSessionFileRoundTrip(t *testing.T) {
	for _, from := range sessionBackends {
		for _, to := range sessionBackends {
			t.Run(from.name+" to "+to.name, func(t *testing.T) {
				src := newSessionEnv(t, from, 0, nil)
				richFlows(src.rec)
				src.sync()
				sess := src.sessions(t)[0]
				name := "my session"
				src.do("PATCH", fmt.Sprintf("/api/sessions/%d", sess.ID), strings.NewReader(`{"name":"`+name+`"}`))
				resp := src.do("GET", fmt.Sprintf("/api/sessions/%d/export", sess.ID), nil)
				file, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "loupe-my session.loupe") {
					t.Fatalf("export: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
				}

				dst := newSessionEnv(t, to, 0, nil)
				got := decode[store.Session](t, dst.do("POST", "/api/sessions/import", bytes.NewReader(file)), http.StatusCreated)
				if got.Name != name || got.Recording || got.Flows != 6 {
					t.Fatalf("imported session %+v", got)
				}
				orig := src.list(t, "")
				back := dst.list(t, "?session="+strconv.Itoa(int(got.ID)))
				if len(back.Flows) != len(orig.Flows) {
					t.Fatalf("%d flows back, want %d", len(back.Flows), len(orig.Flows))
				}
				for i := range orig.Flows {
					a := decode[flow.Flow](t, src.do("GET", fmt.Sprintf("/api/flows/%d", orig.Flows[i].ID), nil), 200)
					b := decode[flow.Flow](t, dst.do("GET", fmt.Sprintf("/api/flows/%d", back.Flows[i].ID), nil), 200)
					if ca, cb := comparable(t, a), comparable(t, b); ca != cb {
						t.Errorf("flow %d differs after the round trip:\n was %s\n  is %s", i, ca, cb)
					}
					for _, q := range []string{"/request/body?raw=1", "/response/body?raw=1", "/response/body?raw=1&variant=upstream"} {
						ra := src.do("GET", fmt.Sprintf("/api/flows/%d%s", a.ID, q), nil)
						rb := dst.do("GET", fmt.Sprintf("/api/flows/%d%s", b.ID, q), nil)
						ba, bb := readAll(t, ra), readAll(t, rb)
						if ra.StatusCode != rb.StatusCode || ba != bb {
							t.Errorf("flow %d %s: %d %d bytes, was %d %d bytes", i, q, rb.StatusCode, len(bb), ra.StatusCode, len(ba))
						}
					}
				}
				if l := dst.list(t, ""); l.Total != 0 {
					t.Errorf("the import went into the recording session: %+v", l)
				}
			})
		}
	}
}

func harEntries(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://h.test/%d"},`+
			`"response":{"status":200,"content":{"mimeType":"text/plain","text":"entry %d"}}}`, i, i))
	}
	return out
}

func TestImportIntoNewSession(t *testing.T) {
	for _, b := range sessionBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newSessionEnv(t, b, 0, nil)
			doc := `{"log":{"version":"1.2","entries":[` + strings.Join(harEntries(25), ",") + `]}}`
			got := decode[store.Session](t, e.do("POST", "/api/sessions/import?name=file.har", strings.NewReader(doc)), http.StatusCreated)
			if got.Name != "file.har" || got.Recording || got.Flows != 25 {
				t.Fatalf("imported %+v", got)
			}
			l := e.list(t, "?session="+strconv.Itoa(int(got.ID)))
			if l.Total != 25 || !l.Flows[3].Imported || l.Flows[3].Session != got.ID {
				t.Errorf("its flows: %+v", l.Flows[3])
			}
			if body := readAll(t, e.do("GET", fmt.Sprintf("/api/flows/%d/response/body", l.Flows[3].ID), nil)); body != "entry 3" {
				t.Errorf("body %q", body)
			}
			// A bad file keeps nothing, and no session.
			bad := `{"log":{"entries":[` + strings.Join(harEntries(3), ",") + `,{"request":{}}]}}`
			eb := decode[ErrorBody](t, e.do("POST", "/api/sessions/import", strings.NewReader(bad)), 400)
			if !strings.HasPrefix(eb.Error, "import HAR: entry 3:") {
				t.Errorf("error %q", eb.Error)
			}
			if ss := e.sessions(t); len(ss) != 2 {
				t.Errorf("sessions after a bad import: %+v", ss)
			}
			// HAR import into the recording session, as before sessions.
			ans := decode[ImportAnswer](t, e.do("POST", "/api/flows/import", strings.NewReader(doc)), http.StatusCreated)
			if len(ans.IDs) != 25 || len(ans.Flows) != 25 {
				t.Errorf("import answer: %d ids, %d flows", len(ans.IDs), len(ans.Flows))
			}
			if l := e.list(t, ""); l.Total != 25 {
				t.Errorf("recording session after a HAR import: %d flows", l.Total)
			}
		})
	}
}

// rawPost sends a request head announcing length body bytes and only
// prefix of them, then reads the answer: an answer to such a request was
// decided without the rest of the body, which never comes.
func rawPost(t *testing.T, srvURL, path string, length int64, prefix string) (int, string) {
	t.Helper()
	u, _ := url.Parse(srvURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		path, u.Host, testToken, length, prefix)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body is held: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// An import that cannot fit is refused as soon as that is known: by its
// Content-Length before its body is read, by its entry count at the first
// entry too many, never after reading the whole file.
func TestImportRefusedEarly(t *testing.T) {
	for _, b := range sessionBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newSessionEnv(t, b, 10, func(c *Config) { c.MaxImportBytes = 1 << 40 })
			// Over either store's byte bound here.
			status, body := rawPost(t, e.srv.URL, "/api/sessions/import", 1<<30, "")
			if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "more than the capture keeps") {
				t.Errorf("size refusal: %d %s", status, body)
			}
			doc := `{"log":{"entries":[` + strings.Join(harEntries(11), ",") + ","
			status, body = rawPost(t, e.srv.URL, "/api/sessions/import", 1<<20, doc)
			if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "10 flows") {
				t.Errorf("count refusal: %d %s", status, body)
			}
			// Over the dashboard's own bound on imports.
			e2 := newSessionEnv(t, b, 0, func(c *Config) { c.MaxImportBytes = 1000 })
			status, body = rawPost(t, e2.srv.URL, "/api/flows/import", 5000, "")
			if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "limited to") {
				t.Errorf("import bound: %d %s", status, body)
			}
			if ss := e.sessions(t); len(ss) != 1 {
				t.Errorf("sessions after refused imports: %+v", ss)
			}
		})
	}
}

// While an import runs, the state says how far it got.
func TestImportProgressInState(t *testing.T) {
	e := newSessionEnv(t, sessionBackends[0], 0, nil)
	pr, pw := io.Pipe()
	head := `{"log":{"entries":[` + strings.Join(harEntries(5), ",") + ","
	total := len(head) + 1000
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/sessions/import?name=slow.har", pr)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.ContentLength = int64(total)
		resp, err := noRedirect.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	io.WriteString(pw, head)
	var p ImportProgress
	for deadline := time.Now().Add(10 * time.Second); ; {
		st := decode[State](t, e.do("GET", "/api/state", nil), http.StatusOK)
		if len(st.Imports) == 1 && st.Imports[0].Flows >= 4 {
			p = st.Imports[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress in the state: %+v", st.Imports)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.Name != "slow.har" || p.Total != int64(total) || p.Bytes < int64(len(head))/2 || p.Bytes > int64(total) {
		t.Errorf("progress %+v", p)
	}
	rest := `{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://h.test/last"}}]}}`
	io.WriteString(pw, rest+strings.Repeat(" ", total-len(head)-len(rest)))
	pw.Close()
	if code := <-answered; code != http.StatusCreated {
		t.Fatalf("import answered %d", code)
	}
	if st := decode[State](t, e.do("GET", "/api/state", nil), http.StatusOK); len(st.Imports) != 0 {
		t.Errorf("finished import still in the state: %+v", st.Imports)
	}
}

// subscribeSession subscribes to a filter within a session and waits for
// the answer.
func subscribeSession(t *testing.T, c *websocket.Conn, q string, session any) feedMsg {
	t.Helper()
	if err := c.WriteJSON(map[string]any{"type": "subscribe", "q": q, "session": session}); err != nil {
		t.Fatal(err)
	}
	return waitFor(t, c, "subscription answer", func(m feedMsg) bool {
		return m.Type == "subscribed" || m.Type == "subscribe/error"
	})
}

// A browser subscribed to one session gets that session's flows only; one
// that follows the recording session follows a new one; a bad session is
// refused.
func TestFeedOfOneSession(t *testing.T) {
	for _, b := range sessionBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newSessionEnv(t, b, 0, nil)
			first := e.st.RecordingSession()
			c := mustDial(t, e.env)
			if m := subscribeSession(t, c, "", "recording"); m.Type != "subscribed" {
				t.Fatalf("answer %+v", m)
			}
			inFirst := e.add(flowSpec{url: "http://a.test/1", status: 200})
			e.sync()
			waitFor(t, c, "the recording session's flow", func(m feedMsg) bool { _, ok := hasSummary(m.Add, inFirst); return ok })

			second, err := e.st.NewSession("second")
			if err != nil {
				t.Fatal(err)
			}
			inSecond := e.add(flowSpec{url: "http://a.test/2", status: 200})
			e.sync()
			waitFor(t, c, "the new recording session's flow", func(m feedMsg) bool { _, ok := hasSummary(m.Add, inSecond); return ok })

			// Pinned to the first session: new flows of the second are not sent.
			if m := subscribeSession(t, c, "", first); m.Type != "subscribed" {
				t.Fatalf("answer %+v", m)
			}
			other := e.add(flowSpec{url: "http://a.test/3", status: 200})
			e.sync()
			if err := e.st.ClearSession(first); err != nil {
				t.Fatal(err)
			}
			waitFor(t, c, "the first session's flow removed", func(m feedMsg) bool {
				if _, ok := hasSummary(append(m.Add, m.Update...), other); ok {
					t.Errorf("a flow of session %d sent to a browser of session %d", second.ID, first)
				}
				return slices.Contains(m.Remove, inFirst)
			})
			if m := subscribeSession(t, c, "", "yesterday"); m.Type != "subscribe/error" {
				t.Errorf("a bad session: %+v", m)
			}
		})
	}
}
