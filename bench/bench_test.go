package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"loupe/rules"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRunLoadDirect(t *testing.T) {
	org, err := startOrigins()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(org.close)

	tests := []struct {
		name     string
		origin   *origin
		path     string
		wantSize int64
	}{
		{"plain small", org.plain, "/small", int64(len(smallBody))},
		{"https small", org.tls, "/small", int64(len(smallBody))},
		{"plain 1 MB", org.plain, "/mb", 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := runLoad(context.Background(), loadSpec{
				clients: 4, duration: time.Second, url: fixedURL(tc.origin.url(tc.path)),
				newClient: func() *http.Client { return clientFor(nil, org.certPool, 5*time.Second) },
			})
			if st.Errors != 0 {
				t.Fatalf("%d errors, first: %v", st.Errors, st.FirstErr)
			}
			if st.Requests == 0 || st.RPS() <= 0 {
				t.Fatalf("requests %d, rps %.1f: want some", st.Requests, st.RPS())
			}
			if st.Bytes != st.Requests*tc.wantSize {
				t.Errorf("bytes %d, want %d requests x %d", st.Bytes, st.Requests, tc.wantSize)
			}
			// The load runs for its duration (a lower bound the loop itself
			// imposes); how much longer it took depends on the machine.
			if st.Elapsed < 900*time.Millisecond {
				t.Errorf("elapsed %v, want at least the 1 s duration", st.Elapsed)
			}
			p50, p99, p100 := st.Percentile(50), st.Percentile(99), st.Percentile(100)
			if p50 <= 0 || p50 > p99 || p99 > p100 {
				t.Errorf("percentiles out of order: p50 %v, p99 %v, max %v", p50, p99, p100)
			}
			if int64(len(st.lat)) != min(st.Requests, 4*maxSamples) {
				t.Errorf("%d latency samples for %d requests", len(st.lat), st.Requests)
			}
		})
	}
}

func TestStatsMerge(t *testing.T) {
	a := stats{Requests: 10, Bytes: 100, Elapsed: time.Second, lat: []time.Duration{1, 5}}
	b := stats{Requests: 30, Bytes: 300, Elapsed: time.Second, lat: []time.Duration{2, 9}}
	got := stats{}.merge(a, true).merge(b, false)
	if got.Requests != 40 || got.Bytes != 400 || got.Elapsed != 2*time.Second || got.RPS() != 20 {
		t.Errorf("merged %+v: want 40 requests, 400 bytes, 2 s, 20/s", got)
	}
	if got.Percentile(50) != 2 || got.Percentile(100) != 9 {
		t.Errorf("merged latencies not sorted: %v", got.lat)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

func TestStreamingOriginFirstByte(t *testing.T) {
	org, err := startOrigins()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(org.close)
	c := clientFor(nil, nil, 5*time.Second)
	t.Cleanup(c.CloseIdleConnections)
	first, whole, err := firstByte(context.Background(), c, org.plain.url("/stream?chunks=5"))
	if err != nil {
		t.Fatal(err)
	}
	// 5 chunks, 20 ms apart: the first comes before the whole, which the
	// origin's own four 20 ms pauses hold back.
	if first <= 0 || whole < 70*time.Millisecond || whole <= first {
		t.Errorf("first byte %v, whole %v: want the first byte before the whole, and the whole after the pauses", first, whole)
	}
}

func TestReadProcSelf(t *testing.T) {
	st, err := readProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if st.RSS <= 0 || st.HWM < st.RSS || st.Threads <= 0 || st.FDs <= 0 {
		t.Errorf("implausible figures %+v", st)
	}
}

func TestReportShowsEveryRow(t *testing.T) {
	b := &bench{}
	b.add(ratioRow("a", "rate", 100, 90, 0.85, fmtRate, true, ""))
	b.add(ratioRow("b", "rate", 100, 50, 0.80, fmtRate, true, ""))
	b.add(row{id: "i", name: "feed", status: statusSkip, note: "skipped: no dashboard"})
	for _, md := range []bool{false, true} {
		var out bytes.Buffer
		b.report(&out, md)
		got := out.String()
		for _, want := range []string{"0.90", "PASS", "0.50", "FAIL", "skipped: no dashboard", "1 passed, 1 failed, 1 skipped"} {
			if !strings.Contains(got, want) {
				t.Errorf("markdown=%v: report lacks %q:\n%s", md, want, got)
			}
		}
		if lines := strings.Count(got, "\n"); lines != 5+btoi(md) {
			t.Errorf("markdown=%v: %d lines, want a header, 3 rows and the count:\n%s", md, lines, got)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var errs bytes.Buffer
	cfg, err := parseFlags([]string{"-short"}, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.duration != 2*time.Second || cfg.bigSize != 128<<20 {
		t.Errorf("-short gave duration %v, size %d", cfg.duration, cfg.bigSize)
	}
	for _, bad := range [][]string{{"-scenarios", "az"}, {"-loaded", "maybe"}, {"-duration", "1ms"}, {"extra"}} {
		if _, err := parseFlags(bad, &errs); err == nil {
			t.Errorf("parseFlags(%v): no error", bad)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkNonMatchingRules matches a plain request against the loaded
// mode's 100 rules (none matching): what the rules cost per request there.
func BenchmarkNonMatchingRules(b *testing.B) {
	s, err := rules.Compile(nonMatchingRules(100))
	if err != nil {
		b.Fatal(err)
	}
	r := rules.Request{Method: "GET", Scheme: "http", Host: "127.0.0.1", Path: "/small", URL: "http://127.0.0.1:8000/small"}
	b.ReportAllocs()
	for b.Loop() {
		if len(s.Match(r)) != 0 {
			b.Fatal("matched")
		}
	}
}
