package har

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"loupe/proxy/codec"
	"loupe/proxy/flow"
)

// TestRoundTrip: export -> import -> export gives the same document, and the
// imported flows carry the original methods, URLs, statuses, headers, wire
// bodies (byte-identical, binary included) and WebSocket messages.
func TestRoundTrip(t *testing.T) {
	for _, opt := range []Options{{CreatorVersion: "rt"}, {CreatorVersion: "rt", OmitWire: true}} {
		orig := sampleFlows(t)
		first := exportString(t, orig, opt)
		rs, err := Import(bytes.NewReader(first))
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		if len(rs) != len(orig.flows) {
			t.Fatalf("imported %d flows, exported %d", len(rs), len(orig.flows))
		}
		for i, r := range rs {
			o := orig.flows[i]
			f := r.Flow
			if f.Request.Method != o.Request.Method || f.Request.URL != o.Request.URL || !slices.Equal(f.Request.Header, o.Request.Header) {
				t.Errorf("flow %d request = %s %s %v", i, f.Request.Method, f.Request.URL, f.Request.Header)
			}
			if (f.Response == nil) != (o.Response == nil) ||
				(o.Response != nil && (f.Response.Status != o.Response.Status || !slices.Equal(f.Response.Header, o.Response.Header))) {
				t.Errorf("flow %d response = %+v, want %+v", i, f.Response, o.Response)
			}
			if !slices.EqualFunc(f.WebSocket, o.WebSocket, func(a, b flow.WSMessage) bool {
				return a.Direction == b.Direction && a.Opcode == b.Opcode && bytes.Equal(a.Data, b.Data) && a.Time.Equal(b.Time) && a.Size == b.Size && a.Truncated == b.Truncated
			}) {
				t.Errorf("flow %d websocket = %+v, want %+v", i, f.WebSocket, o.WebSocket)
			}
			if (f.UpstreamRequest == nil) != (o.UpstreamRequest == nil) || (f.UpstreamBody == nil) != (o.UpstreamBody == nil) {
				t.Errorf("flow %d upstream heads/body lost", i)
			}
			if (f.Tunnel == nil) != (o.Tunnel == nil) || (o.Tunnel != nil && *f.Tunnel != *o.Tunnel) {
				t.Errorf("flow %d tunnel %+v, want %+v", i, f.Tunnel, o.Tunnel)
			}
			if got, want := mustJSON(t, f.Breakpoint), mustJSON(t, o.Breakpoint); got != want {
				t.Errorf("flow %d breakpoint %s, want %s", i, got, want)
			}
			if f.Kind != o.Kind || f.UpstreamNotKept != o.UpstreamNotKept {
				t.Errorf("flow %d kind %q notKept %q, want %q %q", i, f.Kind, f.UpstreamNotKept, o.Kind, o.UpstreamNotKept)
			}
			if o.Kind != flow.KindHTTP && (f.RequestBody.Size != o.RequestBody.Size || f.ResponseBody.Size != o.ResponseBody.Size || len(r.Bodies) != 0) {
				t.Errorf("flow %d tunnel bytes %d/%d, want %d/%d, and no bodies (%d)", i, f.RequestBody.Size, f.ResponseBody.Size, o.RequestBody.Size, o.ResponseBody.Size, len(r.Bodies))
			}
			if f.State != o.State || f.Error != o.Error || f.Overridden != o.Overridden || !slices.Equal(f.Rules, o.Rules) {
				t.Errorf("flow %d state %s error %q overridden %q rules %v", i, f.State, f.Error, f.Overridden, f.Rules)
			}
			for facet, want := range orig.bodies[o.ID] {
				got := r.Bodies[facet]
				facts := bodyFacts(&f, facet)
				if facts.Encoding != "" || !opt.OmitWire {
					if !bytes.Equal(got, want) {
						t.Errorf("flow %d %s body: %q, want the wire bytes %q", i, facet, got, want)
					}
					continue
				}
				// Without wire copies, encoded bodies come back decoded.
				plain, err := codec.DecodeBytes(want, bodyFacts(o, facet).Encoding, 1<<20)
				if err != nil || !bytes.Equal(got, plain) {
					t.Errorf("flow %d %s body: %q, want decoded %q (%v)", i, facet, got, plain, err)
				}
			}
		}
		m := &memStore{}
		m.addRecorded(rs)
		second := exportString(t, m, opt)
		checkHAR(t, second)
		if !opt.OmitWire && !bytes.Equal(first, second) {
			t.Errorf("second export differs:\n%s", firstDiff(second, first))
		}
		// And once more: a stable fixed point even without wire copies.
		rs2, err := Import(bytes.NewReader(second))
		if err != nil {
			t.Fatal(err)
		}
		m2 := &memStore{}
		m2.addRecorded(rs2)
		if third := exportString(t, m2, opt); !bytes.Equal(second, third) {
			t.Errorf("third export differs:\n%s", firstDiff(third, second))
		}
	}
}

func bodyFacts(f *flow.Flow, facet flow.Facet) flow.Body {
	switch facet {
	case flow.FacetRequest:
		return f.RequestBody
	case flow.FacetUpstream:
		if f.UpstreamBody != nil {
			return *f.UpstreamBody
		}
		return flow.Body{}
	}
	return f.ResponseBody
}

func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "import", "*.har"))
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.har"))
	for _, name := range append(files, golden...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"log":{"entries":[{"startedDateTime":1769936401,"request":{"method":"GET","url":"http://a/"},"timings":{"wait":"3"}}]}}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	// Sizes that are no byte count (refused) next to ones that are.
	for _, size := range []string{"9.2e18", "-2", "1.5", `"7.25"`, "1e300", "-1", "null", "9007199254740991", "9007199254740992"} {
		f.Add([]byte(`{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"POST","url":"http://a/","bodySize":` + size +
			`,"postData":{"text":"q","_truncated":true}},"response":{"status":200,"bodySize":` + size + `,"content":{"size":` + size +
			`}},"_webSocketMessages":[{"type":"receive","data":"x","_truncated":true,"_size":` + size + `}]}]}}`))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Import(bytes.NewReader(data))
		if err != nil {
			if rs != nil {
				t.Fatalf("error %v with %d flows", err, len(rs))
			}
			return
		}
		for i, r := range rs {
			if r.Flow.Request.Method == "" || r.Flow.Request.URL == "" || !r.Flow.Imported {
				t.Fatalf("flow %d accepted without method/URL: %+v", i, r.Flow.Request)
			}
			bodies := []flow.Body{r.Flow.RequestBody, r.Flow.ResponseBody}
			if r.Flow.UpstreamBody != nil {
				bodies = append(bodies, *r.Flow.UpstreamBody)
			}
			for _, b := range bodies {
				if b.Size < b.Captured || b.Captured < 0 || b.Size > maxSize {
					t.Fatalf("flow %d: implausible body size %+v", i, b)
				}
			}
			for _, m := range r.Flow.WebSocket {
				if m.Size < len(m.Data) || m.Size > maxSize {
					t.Fatalf("flow %d: implausible message size %d for %d bytes", i, m.Size, len(m.Data))
				}
			}
		}
		// Whatever imports must export as valid HAR and import again.
		m := &memStore{}
		m.addRecorded(rs)
		var buf bytes.Buffer
		if err := Export(&buf, m.all, m.body, Options{}); err != nil {
			t.Fatalf("export: %v", err)
		}
		if problems := validateHAR(buf.Bytes()); len(problems) > 0 {
			t.Fatalf("re-export invalid: %v", problems)
		}
		again, err := Import(&buf)
		if err != nil {
			t.Fatalf("re-import: %v", err)
		}
		if len(again) != len(rs) {
			t.Fatalf("re-import gave %d flows, want %d", len(again), len(rs))
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
