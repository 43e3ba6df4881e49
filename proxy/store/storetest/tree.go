package storetest

import (
	"slices"
	"testing"
	"time"

	"loupe/proxy/flow"
	"loupe/proxy/store"
	"loupe/proxy/store/query"
)

// recordURL records one finished exchange of method and URL with a
// response body.
func recordURL(b store.Backend, method, url, body string) flow.ID {
	h := b.Begin("127.0.0.1:5000", flow.Request{Method: method, URL: url, Proto: "HTTP/1.1"}, t0)
	h.Response(flow.Response{Status: 200, Proto: "HTTP/1.1", Header: flow.Fields{{Name: "Content-Type", Value: "text/plain"}}})
	if body != "" {
		h.Body(flow.FacetResponse, []byte(body))
	}
	h.BodyEnd(flow.FacetResponse)
	h.Finish(t0.Add(time.Millisecond), nil)
	return h.ID()
}

// The structure tree: hosts, then path segments, counted alike by every
// store, case-insensitively as the host: and path: terms compare, with a
// query, a session, and a limit on the children named.
func testTree(t *testing.T, h Harness) {
	b := h.Open(t, 0)
	for _, u := range []struct{ method, url, body string }{
		{"GET", "http://a.test/", ""},
		{"GET", "http://a.test/v1/", ""},
		{"GET", "http://a.test/v1/users", "needle"},
		{"POST", "http://a.test/v1/users/1", ""},
		{"GET", "http://a.test/v1/users/2?x=/y/z", "needle"},
		{"GET", "http://A.TEST:8080/V1/Users/3", ""},
		{"GET", "https://b.test/x/y%20z", ""},
		{"POST", "https://b.test:8443/x", ""},
		{"GET", "https://c.test/é/ü", ""},
	} {
		recordURL(b, u.method, u.url, u.body)
	}
	h.sync(t, b)
	session := b.RecordingSession()
	top := query.TreeNode{}
	post := &query.Query{Terms: []query.Term{{Key: query.Method, Value: "POST", Low: "post", Methods: []string{"POST"}}}}
	needle := &query.Query{Terms: []query.Term{{Key: query.Body, Value: "needle", Low: "needle"}}}
	kids := func(cs ...any) []query.TreeChild {
		var out []query.TreeChild
		for i := 0; i < len(cs); i += 2 {
			out = append(out, query.TreeChild{Name: cs[i].(string), Count: cs[i+1].(int)})
		}
		return out
	}
	tests := []struct {
		name      string
		q         *query.Query
		node      query.TreeNode
		limit     int
		want      []query.TreeChild
		self      int
		total     int
		more      int
		moreCount int
	}{
		{"hosts", nil, top, 0, kids("a.test", 6, "b.test", 2, "c.test", 1), 0, 9, 0, 0},
		{"hosts of the session", query.InSession(nil, session), top, 0, kids("a.test", 6, "b.test", 2, "c.test", 1), 0, 9, 0, 0},
		{"busiest host", nil, top, 1, kids("a.test", 6), 0, 9, 2, 3},
		{"ties by name", nil, top, 2, kids("a.test", 6, "b.test", 2), 0, 9, 1, 1},
		{"host root", nil, query.TreeNode{Host: "a.test", Prefix: "/"}, 0, kids("v1/", 5), 1, 6, 0, 0},
		{"segments", nil, query.TreeNode{Host: "a.test", Prefix: "/v1/"}, 0, kids("users", 1, "users/", 3), 1, 5, 0, 0},
		{"leaves", nil, query.TreeNode{Host: "a.test", Prefix: "/v1/users/"}, 0, kids("1", 1, "2", 1, "3", 1), 0, 3, 0, 0},
		{"limit keeps the prefix's own flows", nil, query.TreeNode{Host: "a.test", Prefix: "/v1/"}, 1, kids("users/", 3), 1, 5, 1, 1},
		{"escaped segment", nil, query.TreeNode{Host: "b.test", Prefix: "/x/"}, 0, kids("y%20z", 1), 0, 1, 0, 0},
		{"non-ASCII segments", nil, query.TreeNode{Host: "c.test", Prefix: "/é/"}, 0, kids("ü", 1), 0, 1, 0, 0},
		{"unknown host", nil, query.TreeNode{Host: "z.test", Prefix: "/"}, 0, nil, 0, 0, 0, 0},
		{"query", post, top, 0, kids("a.test", 1, "b.test", 1), 0, 2, 0, 0},
		{"query below a host", post, query.TreeNode{Host: "a.test", Prefix: "/v1/users/"}, 0, kids("1", 1), 0, 1, 0, 0},
		{"body query", needle, query.TreeNode{Host: "a.test", Prefix: "/v1/"}, 0, kids("users", 1, "users/", 1), 0, 2, 0, 0},
		{"other session", query.InSession(nil, session+1000), top, 0, nil, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := b.Tree(tt.q, tt.node, tt.limit)
			if !slices.Equal(got.Children, tt.want) {
				t.Errorf("children = %v, want %v", got.Children, tt.want)
			}
			if got.Self != tt.self || got.Total != tt.total || got.More != tt.more || got.MoreCount != tt.moreCount {
				t.Errorf("self, total, more, moreCount = %d, %d, %d, %d; want %d, %d, %d, %d",
					got.Self, got.Total, got.More, got.MoreCount, tt.self, tt.total, tt.more, tt.moreCount)
			}
			if !got.Complete {
				t.Errorf("not complete (scanned %d) over a small capture", got.Scanned)
			}
		})
	}

	// A new session's tree holds its own flows only.
	s2, err := b.NewSession("second")
	if err != nil {
		t.Fatal(err)
	}
	recordURL(b, "GET", "http://d.test/only", "")
	h.sync(t, b)
	got := b.Tree(query.InSession(nil, s2.ID), top, 0)
	if want := kids("d.test", 1); !slices.Equal(got.Children, want) || got.Total != 1 {
		t.Errorf("second session: %v (total %d), want %v", got.Children, got.Total, want)
	}
	if got := b.Tree(nil, top, 0); got.Total != 10 {
		t.Errorf("every session: total %d, want 10", got.Total)
	}
}
