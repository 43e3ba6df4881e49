package har

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"loupe/proxy/flow"
)

func importFile(t *testing.T, name string) []flow.Recorded {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Import(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Import(%s): %v", name, err)
	}
	return rs
}

func TestImportTools(t *testing.T) {
	type check func(t *testing.T, rs []flow.Recorded)
	want := func(n int, checks ...check) check {
		return func(t *testing.T, rs []flow.Recorded) {
			if len(rs) != n {
				t.Fatalf("%d flows, want %d", len(rs), n)
			}
			for _, c := range checks {
				c(t, rs)
			}
		}
	}
	tests := map[string]check{
		"chrome.har": want(3, func(t *testing.T, rs []flow.Recorded) {
			f := rs[0].Flow
			if f.Request.Method != "GET" || f.Request.URL != "https://www.example.test/?q=loupe" || f.Response.Status != 200 {
				t.Errorf("first flow = %s %s %v", f.Request.Method, f.Request.URL, f.Response)
			}
			if got := string(rs[0].Bodies[flow.FacetResponse]); got != "<!doctype html><p>héllo</p>" {
				t.Errorf("body = %q", got)
			}
			if f.ResponseBody.Encoding != "" {
				t.Errorf("decoded body stored with encoding %q", f.ResponseBody.Encoding)
			}
			if !f.Start.Equal(time.Date(2026, 2, 1, 9, 0, 0, 123e6, time.UTC)) || f.End.Sub(f.Start) != 48250*time.Microsecond {
				t.Errorf("start %v duration %v", f.Start, f.End.Sub(f.Start))
			}
			if f.Timings.Wait != 44 || f.Timings.DNS != -1 {
				t.Errorf("timings = %+v", f.Timings)
			}
			ws := rs[1].Flow.WebSocket
			if len(ws) != 2 || ws[0].Direction != flow.Send || string(ws[0].Data) != `{"op":"subscribe"}` ||
				!bytes.Equal(ws[1].Data, []byte{0, 1, 2, 3}) || ws[1].Time.UnixMilli() != 1769936401610 {
				t.Errorf("websocket = %+v", ws)
			}
			failed := rs[2].Flow
			if failed.Response != nil || failed.State != flow.StateError || failed.Error != "net::ERR_CONNECTION_REFUSED" {
				t.Errorf("failed flow = response %v state %s error %q", failed.Response, failed.State, failed.Error)
			}
			if string(rs[2].Bodies[flow.FacetRequest]) != `{"a":[1,2,3]}` {
				t.Errorf("post body = %q", rs[2].Bodies[flow.FacetRequest])
			}
		}),
		"firefox.har": want(2, func(t *testing.T, rs []flow.Recorded) {
			if got := rs[0].Bodies[flow.FacetResponse]; !bytes.Equal(got, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("png = %q", got)
			}
			if !rs[0].Flow.Start.Equal(time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)) {
				t.Errorf("start = %v (zone not applied)", rs[0].Flow.Start)
			}
			if got := string(rs[1].Bodies[flow.FacetRequest]); got != "page=2&q=a+b" {
				t.Errorf("form rebuilt from params = %q", got)
			}
			if b := rs[1].Flow.ResponseBody; !b.Truncated || b.Size != 524408 {
				t.Errorf("body left out by Firefox = %+v, want truncated with its size", b)
			}
		}),
		"charles.har": want(2, func(t *testing.T, rs []flow.Recorded) {
			f := rs[0].Flow
			if f.Request.URL != "http://legacy.example.test:8080/api/items?id=9" || f.Timings.Blocked != -1 || f.Timings.Connect != 12 {
				t.Errorf("flow = %s timings %+v", f.Request.URL, f.Timings)
			}
			// Windows-1252 text is stored UTF-8 (no _charset marker from Charles).
			if got := string(rs[0].Bodies[flow.FacetResponse]); got != "naïve “quotes”" {
				t.Errorf("body = %q", got)
			}
			g := rs[1].Flow
			if g.Response.Status != 204 || g.End.Sub(g.Start) != 0 || g.Timings != flow.NoTimings {
				t.Errorf("second flow = status %d duration %v timings %+v", g.Response.Status, g.End.Sub(g.Start), g.Timings)
			}
		}),
		"mitmproxy.har": want(2, func(t *testing.T, rs []flow.Recorded) {
			if got := rs[0].Bodies[flow.FacetRequest]; !bytes.Equal(got, []byte{0xde, 0xad, 0xbe, 0xef}) {
				t.Errorf("request body (_encoding base64) = %x", got)
			}
			if got := rs[0].Bodies[flow.FacetResponse]; !bytes.Equal(got, []byte{0, 0xff, 0}) {
				t.Errorf("response body = %x", got)
			}
			// Timings in seconds that add up to time in milliseconds.
			if tm := rs[0].Flow.Timings; tm.Wait != 450 || tm.Connect != 10 || tm.Blocked != -1 {
				t.Errorf("timings = %+v", tm)
			}
			ws := rs[1].Flow.WebSocket
			if len(ws) != 2 || string(ws[1].Data) != "pong" || ws[1].Direction != flow.Receive || ws[1].Time.UnixMilli() != 1769947202250 {
				t.Errorf("websocket = %+v", ws)
			}
		}),
		"httptoolkit.har": want(2, func(t *testing.T, rs []flow.Recorded) {
			if got := string(rs[0].Bodies[flow.FacetRequest]); got != `{"query":"{ me { id } }"}` {
				t.Errorf("post = %q", got)
			}
			ws := rs[1].Flow.WebSocket
			// Milliseconds where Chrome writes seconds.
			if len(ws) != 2 || ws[0].Time.UnixMilli() != 1769950802500 || !bytes.Equal(ws[1].Data, []byte{1, 2}) {
				t.Errorf("websocket = %+v", ws)
			}
		}),
	}
	for name, check := range tests {
		t.Run(name, func(t *testing.T) {
			rs := importFile(t, name)
			for _, r := range rs {
				if !r.Flow.Imported || r.Flow.ID != 0 {
					t.Errorf("flow %s: imported %v id %d", r.Flow.Request.URL, r.Flow.Imported, r.Flow.ID)
				}
			}
			check(t, rs)
			// Whatever comes in goes out as valid HAR.
			m := &memStore{}
			m.addRecorded(rs)
			var buf bytes.Buffer
			if err := Export(&buf, m.all, m.body, Options{}); err != nil {
				t.Fatal(err)
			}
			checkHAR(t, buf.Bytes())
		})
	}
}

func TestImportErrors(t *testing.T) {
	entry := func(s string) string {
		return `{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a.test/"}},` + s + `]}}`
	}
	tests := []struct {
		name, doc, want string
	}{
		{"not json", `{"log":`, "invalid JSON"},
		{"no log", `{"entries":[]}`, "log: missing"},
		{"entries not array", `{"log":{"entries":{}}}`, "log.entries"},
		{"no request", entry(`{"startedDateTime":"2026-01-01T00:00:00Z"}`), "entry 1: request: missing"},
		{"no url", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET"}}`), "entry 1: request.url: missing"},
		{"relative url", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"/x"}}`), "entry 1: request.url"},
		{"no method", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"url":"http://a/"}}`), "entry 1: request.method: missing"},
		{"bad time", entry(`{"startedDateTime":"yesterday","request":{"method":"GET","url":"http://a/"}}`), "entry 1: startedDateTime"},
		{"headers object", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/","headers":{"a":"b"}}}`), "entry 1: request.headers"},
		{"status string", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"response":{"status":"OK"}}`), "entry 1: response.status"},
		{"bad base64", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"response":{"status":200,"content":{"text":"!!!","encoding":"base64"}}}`), "entry 1: response.content.text"},
		{"target without port", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"_target":"b.test"}`), "entry 1: _target"},
		{"target port out of range", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"_target":"b.test:70000"}`), "entry 1: _target"},
		{"unknown kind", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"CONNECT","url":"https://a:443"},"_kind":"socks"}`), "entry 1: _kind"},
		{"tunnel SNI with a space", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"CONNECT","url":"https://a:443"},"_kind":"tunnel","_tunnel":{"sni":"a b"}}`), "entry 1: _tunnel.sni"},
		{"mapped address without port", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"_mappedTo":"127.0.0.1"}`), "entry 1: _mappedTo"},
		{"bad server name", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"https://a/"},"_serverName":"a b"}`), "entry 1: _serverName"},
		{"bad ws", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"_webSocketMessages":[{"time":{}}]}`), "entry 1: _webSocketMessages.time"},
		{"huge body size", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"response":{"status":200,"bodySize":9.2e18,"content":{"size":5,"text":"hello","_truncated":true}}}`), "entry 1: response.bodySize: 9.2e+18 is out of range"},
		{"negative body size", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"POST","url":"http://a/","bodySize":-7}}`), "entry 1: request.bodySize: -7 is not a byte count"},
		{"fractional content size", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"response":{"status":200,"content":{"size":"10.5"}}}`), "entry 1: response.content.size: 10.5 is not a byte count"},
		{"huge upstream size", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"_upstream":{"response":{"status":200,"content":{"size":1e300}}}}`), "entry 1: _upstream.response.content.size: 1e+300 is out of range"},
		{"negative ws size", entry(`{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},"_webSocketMessages":[{"type":"send","data":"x","_truncated":true,"_size":-2}]}`), "entry 1: _webSocketMessages[0]._size: -2 is not a byte count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := Import(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatalf("no error; imported %d flows", len(rs))
			}
			if rs != nil {
				t.Errorf("returned %d flows with the error", len(rs))
			}
			// The caller names the operation ("import HAR"); the error
			// starts with what is wrong.
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q does not start with %q", err, tt.want)
			}
		})
	}
}

// TestImportSizes checks the sizes that are plausible byte counts, or HAR's
// ways of saying "unknown", are accepted as such.
func TestImportSizes(t *testing.T) {
	tests := []struct {
		name, size string
		want       int64 // the truncated body's size
	}{
		{"unknown", "-1", 5},
		{"null", "null", 5},
		{"empty string", `""`, 5},
		{"zero", "0", 5},
		{"as a string", `"1234"`, 1234},
		{"exponent", "1.5e3", 1500},
		{"largest", "9007199254740991", 1<<53 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a/"},` +
				`"response":{"status":200,"bodySize":` + tt.size + `,"content":{"size":` + tt.size + `,"text":"hello","_truncated":true}}}]}}`
			rs, err := Import(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if b := rs[0].Flow.ResponseBody; b.Size != tt.want || b.Captured != 5 || !b.Truncated {
				t.Errorf("body = %+v, want size %d, 5 captured, truncated", b, tt.want)
			}
		})
	}
}

func TestImportUTF16(t *testing.T) {
	doc := `{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET","url":"http://a.test/é"}}]}}`
	u16 := []byte{0xff, 0xfe}
	for _, r := range doc {
		u16 = append(u16, byte(r), byte(r>>8))
	}
	rs, err := Import(bytes.NewReader(u16))
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Flow.Request.URL != "http://a.test/é" {
		t.Errorf("url = %q", rs[0].Flow.Request.URL)
	}
}
