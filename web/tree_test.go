package web

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// tree asks GET /api/tree with these parameters.
func (e *senv) tree(t *testing.T, params url.Values) FlowTree {
	t.Helper()
	return decode[FlowTree](t, e.do("GET", "/api/tree?"+params.Encode(), nil), http.StatusOK)
}

// Walking the whole structure tree through the router: every node's
// counts add up, and the filter each child carries lists exactly the flows
// it counts, in both stores; odd paths (quotes, spaces, "//", parentheses,
// "|", glob characters) included.
func TestTreeFiltersListWhatTheyCount(t *testing.T) {
	urls := []string{
		"http://api.test/v1/users", "http://api.test/v1/users/1", "http://API.test/v1/Users/2?page=/x/",
		"http://api.test/v1/", "http://api.test/", "https://api.test:8443/v2/items",
		"http://web.test/static/app.js", "http://web.test/a%20b/c", `http://web.test/we"ird\x/y`,
		"http://web.test//double/z", "http://web.test/ spaced/q",
		"http://web.test/wiki/A_(b)", "http://web.test/wiki/A_(b)c", "http://web.test/st*r/1", "http://web.test/st-r/1",
		"http://web.test/q?/x", "http://web.test/a|b",
	}
	for _, b := range sessionBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newSessionEnv(t, b, 0, nil)
			for i, u := range urls {
				e.add(flowSpec{method: []string{"GET", "POST"}[i%2], url: u, status: 200, respBody: "x"})
			}
			e.sync()
			for _, q := range []string{"", "method:GET"} {
				top := e.tree(t, url.Values{"q": {q}})
				if top.Host != nil || !top.Complete {
					t.Fatalf("top %+v", top)
				}
				want := e.list(t, "?q="+url.QueryEscape(q)).Total
				if top.Total != want {
					t.Errorf("q=%q: tree total %d, list total %d", q, top.Total, want)
				}
				nodes := 0
				var walk func(host, prefix string, tr FlowTree)
				walk = func(host, prefix string, tr FlowTree) {
					sum := tr.Self
					if tr.SelfFilter != "" {
						if got := e.list(t, "?q="+url.QueryEscape(q+" "+tr.SelfFilter)).Total; got != tr.Self {
							t.Errorf("%s%s: self %d, list of %q %d", host, prefix, tr.Self, tr.SelfFilter, got)
						}
					}
					for _, ch := range tr.Children {
						nodes++
						sum += ch.Count
						if got := e.list(t, "?q="+url.QueryEscape(q+" "+ch.Filter)).Total; got != ch.Count {
							t.Errorf("%s%s%s: count %d, list of %q %d", host, prefix, ch.Name, ch.Count, ch.Filter, got)
						}
						switch {
						case host == "" && prefix == "":
							walk(ch.Name, "/", e.tree(t, url.Values{"q": {q}, "host": {ch.Name}}))
						case !ch.Leaf:
							walk(host, prefix+ch.Name, e.tree(t, url.Values{"q": {q}, "host": {host}, "prefix": {prefix + ch.Name}}))
						}
					}
					if sum != tr.Total {
						t.Errorf("%s%s: self and children sum to %d, total %d", host, prefix, sum, tr.Total)
					}
				}
				walk("", "", top)
				if nodes < len(urls) {
					t.Errorf("q=%q: walked %d nodes, want at least %d", q, nodes, len(urls))
				}
			}
			// The answer names its node, and the limit sums the rest.
			api := e.tree(t, url.Values{"host": {"API.test"}, "prefix": {"/V1/"}, "limit": {"1"}})
			if api.Host == nil || *api.Host != "api.test" || api.Prefix != "/v1/" || len(api.Children) != 1 ||
				api.Children[0].Name != "users/" || api.More != 1 || api.MoreCount != 1 || api.Self != 1 {
				t.Errorf("limited node: %+v", api)
			}
		})
	}
}

func TestTreeBadRequests(t *testing.T) {
	e := newSessionEnv(t, sessionBackends[0], 0, nil)
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"prefix=/a/", http.StatusBadRequest},
		{"host=a.test&prefix=a/", http.StatusBadRequest},
		{"host=a.test&prefix=/a", http.StatusBadRequest},
		{"limit=0", http.StatusBadRequest},
		{"q=nokey:x", http.StatusBadRequest},
		{"session=999", http.StatusNotFound},
	} {
		t.Run(tt.query, func(t *testing.T) {
			resp := e.do("GET", "/api/tree?"+tt.query, nil)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// The tree and the flow list read q, session and limit alike: the same
// status and message for the same mistake, the first of several named.
func TestTreeAndFlowsRefuseAlike(t *testing.T) {
	e := newSessionEnv(t, sessionBackends[0], 0, nil)
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"limit=0", http.StatusBadRequest},
		{"limit=x", http.StatusBadRequest},
		{"session=x", http.StatusBadRequest},
		{"session=999", http.StatusNotFound},
		{"q=nokey:x", http.StatusBadRequest},
		{"q=nokey:x&session=999&limit=0", http.StatusBadRequest},
		{"session=999&limit=0", http.StatusNotFound},
	} {
		t.Run(tt.query, func(t *testing.T) {
			flows := decode[ErrorBody](t, e.do("GET", "/api/flows?"+tt.query, nil), tt.want)
			tree := decode[ErrorBody](t, e.do("GET", "/api/tree?"+tt.query, nil), tt.want)
			if flows.Error == "" || !reflect.DeepEqual(flows, tree) {
				t.Errorf("flows %+v, tree %+v: want the same error", flows, tree)
			}
		})
	}
}
