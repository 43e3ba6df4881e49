package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// apiRoutes lists every route of the real table under /api, with a concrete
// path for its parameters.
func apiRoutes(t *testing.T, s *Server) [][2]string {
	t.Helper()
	var out [][2]string
	err := chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(route, "/api/") {
			return nil
		}
		p := strings.NewReplacer("{id}", "1", "{facet}", "response", "{ruleID}", "r1", "/*", "/x").Replace(route)
		out = append(out, [2]string{method, strings.TrimSuffix(p, "/")})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryAPIRouteWantsTheToken(t *testing.T) {
	e := newEnv(t, nil)
	e.add(flowSpec{url: "https://a.test/", status: 200})
	routes := apiRoutes(t, e.s)
	if len(routes) < 18 {
		t.Fatalf("walked only %d API routes: %v", len(routes), routes)
	}
	public := map[string]bool{"/api/ca.pem": true}
	for _, rt := range routes {
		method, path := rt[0], rt[1]
		if public[path] {
			continue
		}
		t.Run(method+" "+path, func(t *testing.T) {
			for _, auth := range []struct{ name, header, cookie string }{
				{"none", "", ""},
				{"wrong bearer", "Bearer wrong", ""},
				{"prefix of token", "Bearer " + testToken[:10], ""},
				{"basic", "Basic " + testToken, ""},
				{"wrong cookie", "", "nope"},
			} {
				req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader("{}"))
				if auth.header != "" {
					req.Header.Set("Authorization", auth.header)
				}
				if auth.cookie != "" {
					req.AddCookie(&http.Cookie{Name: cookieName, Value: auth.cookie})
				}
				if path == "/api/ws" {
					req.Header.Set("Connection", "Upgrade")
					req.Header.Set("Upgrade", "websocket")
					req.Header.Set("Sec-WebSocket-Version", "13")
					req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
				}
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401 (%s)", auth.name, resp.StatusCode, body)
				}
				if !strings.Contains(body, `"error"`) {
					t.Errorf("%s: body %q is not a JSON error", auth.name, body)
				}
			}
		})
	}
	// The public routes really are public.
	if resp := e.do("GET", "/api/ca.pem", nil, "Authorization", ""); resp.StatusCode != 200 {
		t.Errorf("ca.pem without token = %d", resp.StatusCode)
	}
	// Unknown API paths don't reveal anything without the token either.
	if resp := e.do("GET", "/api/nope", nil, "Authorization", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown API path without token = %d, want 401", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/nope", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown API path with token = %d, want 404", resp.StatusCode)
	}
}

func TestLoginCookie(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.do("GET", "/?token="+testToken, nil, "Authorization", "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login = %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == cookieName {
			c = k
		}
	}
	if c == nil {
		t.Fatal("no cookie set")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Value != testToken {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/", c)
	}
	// The cookie opens the API.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/state", nil)
	req.AddCookie(c)
	r2, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Errorf("API with cookie = %d", r2.StatusCode)
	}
	// A wrong token sets nothing.
	bad := e.do("GET", "/?token=wrong", nil, "Authorization", "")
	if bad.StatusCode != http.StatusUnauthorized || len(bad.Cookies()) != 0 {
		t.Errorf("bad login = %d with %d cookies", bad.StatusCode, len(bad.Cookies()))
	}
}

func TestOriginCheck(t *testing.T) {
	e := newEnv(t, nil)
	id := e.add(flowSpec{url: "https://a.test/", status: 200})
	self := e.srv.URL // http://127.0.0.1:port
	tests := []struct {
		name, method, path string
		hdr                []string
		want               int
	}{
		{"no origin (curl)", "POST", "/api/recording/pause", nil, 200},
		{"same origin", "POST", "/api/recording/pause", []string{"Origin", self}, 200},
		{"cross-site post", "POST", "/api/recording/pause", []string{"Origin", "https://evil.example"}, 403},
		{"cross-site delete", "DELETE", "/api/flows", []string{"Origin", "http://evil.example"}, 403},
		{"other port same host", "POST", "/api/recording/resume", []string{"Origin", "http://127.0.0.1:1"}, 403},
		{"null origin", "PUT", "/api/rules", []string{"Origin", "null"}, 403},
		{"cross-site read", "GET", "/api/flows", []string{"Origin", "https://evil.example"}, 403},
		{"sec-fetch-site cross-site", "POST", "/api/recording/pause", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"sec-fetch-site same-site", "DELETE", "/api/flows/1", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"sec-fetch-site same-origin", "GET", "/api/state", []string{"Sec-Fetch-Site", "same-origin"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.method, tt.path, strings.NewReader("[]"), tt.hdr...)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.want, readAll(t, resp))
			}
		})
	}
	// Nothing cross-site happened.
	if _, ok := e.store.Get(id); !ok {
		t.Error("cross-site request deleted flows")
	}
}

func TestHostCheck(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowedHosts = []string{"loupe.internal"}; c.UIAddr = "127.0.0.1:0" })
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":"):]
	tests := []struct {
		host string
		want int
	}{
		{"127.0.0.1" + port, 200},
		{"localhost" + port, 200},
		{"LOCALHOST" + port, 200},
		{"app.localhost" + port, 200},
		{"[::1]" + port, 200},
		{"loupe.internal" + port, 200},
		{"evil.example" + port, 421},
		{"127.0.0.1.nip.io" + port, 421},
		{"localhost.evil.example" + port, 421},
		{"10.1.2.3" + port, 421}, // not this listener's address
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/state", "/", "/api/ca.pem"} {
			req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
			req.Host = tt.host
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("Host %s GET %s = %d, want %d", tt.host, path, resp.StatusCode, tt.want)
			}
		}
	}
}

func TestHostAllowedWildcardListener(t *testing.T) {
	s := &Server{}
	s.SetAddrs("", "0.0.0.0:8081")
	if !s.hostAllowed("192.168.1.5:8081") {
		t.Error("wildcard listener refused its LAN IP")
	}
	if s.hostAllowed("evil.example:8081") {
		t.Error("wildcard listener accepted a name")
	}
	s.SetAddrs("", "192.168.1.5:8081")
	if !s.hostAllowed("192.168.1.5:8081") || s.hostAllowed("192.168.1.6:8081") {
		t.Error("specific listener IP check wrong")
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/api/state", "/", "/install", "/api/ca.pem", "/api/flows/1"} {
		resp := e.do("GET", p, nil)
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s headers: %v", p, h)
		}
		if strings.HasPrefix(p, "/api/") && p != "/api/ca.pem" && h.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s Cache-Control = %q, want no-store", p, h.Get("Cache-Control"))
		}
	}
}

// TestDebugRoute checks that Config.Debug is served behind every check the
// other dashboard routes have (Host, Origin, security headers), and opens
// only to the token as a Bearer header, never the cookie.
func TestDebugRoute(t *testing.T) {
	debug := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("profile " + r.URL.Path))
	})
	e := newEnv(t, func(c *Config) { c.Debug = debug; c.UIAddr = "127.0.0.1:0" })
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":"):]
	tests := []struct {
		name   string
		host   string
		auth   string
		cookie string
		origin string
		want   int
	}{
		{name: "bearer", auth: "Bearer " + testToken, want: 200},
		{name: "localhost name", host: "localhost" + port, auth: "Bearer " + testToken, want: 200},
		{name: "no token", want: 401},
		{name: "wrong bearer", auth: "Bearer wrong", want: 401},
		{name: "cookie only", cookie: testToken, want: 401},
		{name: "rebound name", host: "evil.example" + port, auth: "Bearer " + testToken, want: 421},
		{name: "rebound name, no token", host: "evil.example" + port, want: 421},
		{name: "cross-site origin", origin: "https://evil.example", auth: "Bearer " + testToken, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.URL+"/debug/pprof/goroutine", nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: cookieName, Value: tt.cookie})
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if served := strings.HasPrefix(body, "profile "); served != (tt.want == 200) {
				t.Errorf("served the debug handler: %v (%q)", served, body)
			}
			if tt.want == 200 && body != "profile /debug/pprof/goroutine" {
				t.Errorf("debug handler saw %q", body)
			}
			h := resp.Header
			if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("security headers missing: %v", h)
			}
			if tt.want != 421 && h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
			}
		})
	}

	// Without Config.Debug nothing is served there.
	plain := newEnv(t, nil)
	if body := readAll(t, plain.do("GET", "/debug/pprof/goroutine", nil)); strings.HasPrefix(body, "profile ") {
		t.Error("debug handler served without Config.Debug")
	}
}
