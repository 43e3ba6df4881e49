package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkListFlows measures GET /api/flows through the real router over
// 20,000 flows: one page of the newest 1,000, unfiltered and filtered.
func BenchmarkListFlows(b *testing.B) {
	e := newEnv(b, nil)
	for i := range 20_000 {
		addFlow(e.store, flowSpec{url: fmt.Sprintf("https://h%d.example.test/api/v1/items/%d?x=%d", i%50, i, i%7),
			status: 200 + (i%5)*100, ct: "application/json", respBody: fmt.Sprintf(`{"item":%d}`, i)})
	}
	for _, q := range []string{"", "host:*.example.test status:2xx -method:POST", "path:/api/*/items/1* type:json", "body:\"item\\\":1999\""} {
		b.Run(fmt.Sprintf("q=%q", q), func(b *testing.B) {
			u := e.srv.URL + "/api/flows?limit=1000&q=" + url.QueryEscape(q)
			for b.Loop() {
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var l FlowPage
				err = json.NewDecoder(resp.Body).Decode(&l)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("status %d: %v", resp.StatusCode, err)
				}
			}
		})
	}
}
