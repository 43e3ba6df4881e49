package flow

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestFieldsFromHeader(t *testing.T) {
	h := http.Header{"X-B": {"2", "1"}, "Content-Type": {"text/plain"}, "X-A": {"a"}}
	got := FieldsFromHeader(h)
	want := Fields{{"Content-Type", "text/plain"}, {"X-A", "a"}, {"X-B", "2"}, {"X-B", "1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FieldsFromHeader = %v, want %v", got, want)
	}
	if back := got.Header(); !reflect.DeepEqual(back, h) {
		t.Errorf("Header() = %v, want %v", back, h)
	}
	if v := got.Get("content-type"); v != "text/plain" {
		t.Errorf("Get is case-sensitive: %q", v)
	}
	if v := got.Get("missing"); v != "" {
		t.Errorf("Get(missing) = %q", v)
	}
}

func TestTimingsTotal(t *testing.T) {
	tests := []struct {
		name string
		t    Timings
		want float64
	}{
		{"reused connection", Timings{Blocked: -1, DNS: -1, Connect: -1, TLS: -1, Send: 1, Wait: 10, Receive: 2}, 13},
		{"new TLS connection: ssl is inside connect", Timings{Blocked: 0, DNS: 2, Connect: 8, TLS: 5, Send: 1, Wait: 10, Receive: 2}, 23},
		{"unknown", NoTimings, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.Total(); got != tt.want {
				t.Errorf("Total = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		f    Flow
		want Summary
	}{
		{
			name: "pending request",
			f: Flow{ID: 7, Start: start, State: StatePending,
				Request: Request{Method: "GET", URL: "https://api.example.com:8443/v1/x?q=1"}},
			want: Summary{ID: 7, Start: start, State: StatePending, Method: "GET",
				URL: "https://api.example.com:8443/v1/x?q=1", Scheme: "https", Host: "api.example.com", Port: "8443",
				Path: "/v1/x?q=1", Duration: -1, Rules: []string{}},
		},
		{
			name: "overridden, finished",
			f: Flow{ID: 8, Start: start, End: start.Add(1500 * time.Microsecond), State: StateDone,
				Request:      Request{Method: "POST", URL: "http://[::1]/"},
				Response:     &Response{Status: 201, Header: Fields{{"Content-Type", "application/json"}}},
				ResponseBody: Body{Size: 42}, Rules: []string{"r1"}, Overridden: "override"},
			want: Summary{ID: 8, Start: start, State: StateDone, Method: "POST", URL: "http://[::1]/", Scheme: "http",
				Host: "::1", Path: "/", Status: 201, ContentType: "application/json", Size: 42, Duration: 1.5,
				Rules: []string{"r1"}, Overridden: "override"},
		},
		{
			name: "websocket",
			f: Flow{ID: 9, Start: start, Request: Request{Method: "GET", URL: "ws://h/chat",
				Header: Fields{{"Upgrade", "WebSocket"}}}, Response: &Response{Status: 101}},
			want: Summary{ID: 9, Start: start, Method: "GET", URL: "ws://h/chat", Scheme: "ws", Host: "h",
				Path: "/chat", Status: 101, Duration: -1, Rules: []string{}, WebSocket: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Summary(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Summary =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// A clone must not share anything a writer mutates in place.
func TestCloneIsolation(t *testing.T) {
	f := &Flow{
		Request:          Request{Header: Fields{{"A", "1"}}},
		UpstreamRequest:  &Request{Header: Fields{{"A", "1"}}},
		UpstreamResponse: &Response{Status: 200, Header: Fields{{"B", "1"}}},
		Response:         &Response{Status: 200, Header: Fields{{"B", "1"}}},
		UpstreamBody:     &Body{Size: 1},
		WebSocket:        []WSMessage{{Size: 1}},
		Rules:            []string{"r"},
	}
	c := f.Clone()
	f.Request.Header[0].Value = "x"
	f.UpstreamRequest.Header[0].Value = "x"
	f.UpstreamResponse.Status = 500
	f.Response.Header[0].Value = "x"
	f.UpstreamBody.Size = 99
	f.WebSocket[0].Size = 99
	f.Rules[0] = "x"
	if c.Request.Header[0].Value != "1" || c.UpstreamRequest.Header[0].Value != "1" ||
		c.UpstreamResponse.Status != 200 || c.Response.Header[0].Value != "1" ||
		c.UpstreamBody.Size != 1 || c.WebSocket[0].Size != 1 || c.Rules[0] != "r" {
		t.Errorf("clone shares state with the original: %+v", c)
	}
}
