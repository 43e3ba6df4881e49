package har

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"testing"
	"time"

	"loupe/proxy"
	"loupe/proxy/flow"
	"loupe/proxy/proxytest"
	"loupe/rules"
)

// TestExportKeepsRuleDelays captures real exchanges through a proxy whose
// delay rules pause each request before it is sent and before its response
// head is served, exports them, and checks that the HAR entry's time is the
// flow's duration and its timings add up to it: the request-phase pause is
// in blocked, the response-phase pause in wait. The export then survives an
// import round trip byte for byte.
func TestExportKeepsRuleDelays(t *testing.T) {
	const reqDelay, respDelay = 300, 200 // ms
	tests := []struct {
		name    string
		actions []rules.Action
		// The phases that must hold at least the pauses.
		minBlocked, minWait float64
	}{
		{"request phase", []rules.Action{{Type: rules.TypeDelay, Ms: reqDelay}}, reqDelay, 0},
		{"response phase", []rules.Action{{Type: rules.TypeDelay, Ms: respDelay, Phase: rules.PhaseResponse}}, 0, respDelay},
		{"both", []rules.Action{{Type: rules.TypeDelay, Ms: reqDelay}, {Type: rules.TypeDelay, Ms: respDelay, Phase: rules.PhaseResponse}},
			reqDelay, respDelay},
		{"mock after a request delay", []rules.Action{{Type: rules.TypeDelay, Ms: reqDelay},
			{Type: rules.TypeMock, Status: 200, Body: ptr("mocked")}}, -1, reqDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := proxytest.Origin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "origin")
			}))
			set, err := rules.Compile([]rules.Rule{{ID: "slow", Enabled: true, Actions: tt.actions}})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			env := proxytest.Start(t, proxy.Config{Rules: func() *rules.Set { return set }})
			c := env.Client(t)
			resp, err := c.Get(origin.URL + "/slow?x=1")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rec := env.Rec.WaitFinished(t, 1, 10*time.Second)[0]
			if f := rec.Flow; len(f.Rules) != 1 || f.Rules[0] != "slow" {
				t.Fatalf("rules %v: the delay rule did not match", f.Rules)
			}
			f := rec.Flow.Clone()
			if f.ResponseBody.ContentType == "" && f.Response != nil {
				// What the stores record from the served head.
				f.ResponseBody.ContentType = f.Response.Header.Get("Content-Type")
			}
			m := &memStore{}
			m.add(f, rec.Bodies)
			first := exportString(t, m, Options{CreatorVersion: "delay"})
			checkHAR(t, first)

			e := onlyEntry(t, first)
			dur := float64(f.End.Sub(f.Start).Microseconds()) / 1000
			if math.Abs(e.Time-dur) > 0.01 {
				t.Errorf("time %v ms, want the flow's duration %v ms (timings %+v)", e.Time, dur, e.Timings)
			}
			if sum := phaseSum(e.Timings); math.Abs(sum-e.Time) > 0.001 {
				t.Errorf("timings add up to %v, time is %v", sum, e.Time)
			}
			if e.Time < reqDelayOf(tt.actions)+respDelayOf(tt.actions) {
				t.Errorf("time %v ms is shorter than the rule's pauses", e.Time)
			}
			switch {
			case tt.minBlocked < 0 && e.Timings.Blocked != -1:
				t.Errorf("blocked %v, want -1: nothing was sent upstream", e.Timings.Blocked)
			case e.Timings.Blocked < tt.minBlocked:
				t.Errorf("blocked %v ms, want at least the request-phase pause %v", e.Timings.Blocked, tt.minBlocked)
			}
			if e.Timings.Wait < tt.minWait {
				t.Errorf("wait %v ms, want at least %v", e.Timings.Wait, tt.minWait)
			}

			// Import and export again: the same bytes.
			rs, err := Import(bytes.NewReader(first))
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			again := &memStore{}
			again.addRecorded(rs)
			if second := exportString(t, again, Options{CreatorVersion: "delay"}); !bytes.Equal(first, second) {
				t.Errorf("re-export differs:\n%s", firstDiff(second, first))
			}
		})
	}
}

// TestExportFillsOldTimings: a flow captured before the proxy's phases
// covered its whole duration (a request-phase delay was in no phase) is
// exported with the missing time in blocked; an imported flow keeps the
// timings it came with.
func TestExportFillsOldTimings(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	short := flow.Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: 0, Wait: 1400, Receive: 100}
	tests := []struct {
		name        string
		imported    bool
		wantTime    float64
		wantBlocked float64
	}{
		{"captured", false, 2300, 800},
		{"imported", true, 1500, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memStore{}
			m.add(&flow.Flow{Start: start, End: start.Add(2300 * time.Millisecond), State: flow.StateDone, Imported: tt.imported,
				Request:  flow.Request{Method: "GET", URL: "http://a.test/", Proto: "HTTP/1.1"},
				Response: &flow.Response{Status: 204, Proto: "HTTP/1.1"},
				Timings:  short}, nil)
			e := onlyEntry(t, exportString(t, m, Options{}))
			if e.Time != tt.wantTime || e.Timings.Blocked != tt.wantBlocked {
				t.Errorf("time %v blocked %v, want %v %v", e.Time, e.Timings.Blocked, tt.wantTime, tt.wantBlocked)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func reqDelayOf(as []rules.Action) float64 {
	n := 0.0
	for _, a := range as {
		if a.Type == rules.TypeDelay && a.DelayPhase() == rules.PhaseRequest {
			n += float64(a.Ms)
		}
	}
	return n
}

func respDelayOf(as []rules.Action) float64 {
	n := 0.0
	for _, a := range as {
		if a.Type == rules.TypeDelay && a.DelayPhase() == rules.PhaseResponse {
			n += float64(a.Ms)
		}
	}
	return n
}

// onlyEntry reads the one entry of an exported document.
func onlyEntry(t *testing.T, doc []byte) entry {
	t.Helper()
	var d struct {
		Log struct {
			Entries []entry `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if len(d.Log.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(d.Log.Entries))
	}
	return d.Log.Entries[0]
}

// phaseSum adds the phases that happened (ssl is inside connect).
func phaseSum(h timings) float64 {
	sum := 0.0
	for _, v := range []float64{h.Blocked, h.DNS, h.Connect, h.Send, h.Wait, h.Receive} {
		if v > 0 {
			sum += v
		}
	}
	return sum
}
