package rules

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadBody(t *testing.T) {
	file := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(file, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		a    Action
		want string
		nil  bool
	}{
		{"inline", Action{Type: TypeOverride, Body: str("hello")}, "hello", false},
		{"inline empty", Action{Type: TypeOverride, Body: str("")}, "", false},
		{"base64", Action{Type: TypeMock, BodyBase64: "AAH/aGk="}, "\x00\x01\xffhi", false},
		{"file", Action{Type: TypeMock, BodyFile: file}, "first", false},
		{"none", Action{Type: TypeOverride, Status: 500}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.a.LoadBody()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || (got == nil) != tt.nil {
				t.Fatalf("LoadBody = %q (nil %v), want %q (nil %v)", got, got == nil, tt.want, tt.nil)
			}
			if tt.a.HasBody() == tt.nil {
				t.Errorf("HasBody = %v", tt.a.HasBody())
			}
		})
	}
}

func TestLoadBodyFileReadPerCall(t *testing.T) {
	file := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(file, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustCompile(t, []Rule{withActions("f", Action{Type: TypeMock, BodyFile: file})})
	a := &s.Match(req("GET", "http", "x", "/"))[0].Actions[0]
	if got, err := a.LoadBody(); err != nil || string(got) != "v1" {
		t.Fatalf("LoadBody = %q, %v", got, err)
	}
	if err := os.WriteFile(file, []byte("v2, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := a.LoadBody(); err != nil || string(got) != "v2, longer" {
		t.Fatalf("LoadBody after edit = %q, %v", got, err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadBody(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadBody after removal = %v, want fs.ErrNotExist", err)
	}
}

func TestMockFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "site")
	mustWrite := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(filepath.Join(dir, "index.html"), "root index")
	mustWrite(filepath.Join(dir, "css", "a.css"), "css")
	mustWrite(filepath.Join(dir, "docs", "index.html"), "docs index")
	mustWrite(filepath.Join(dir, "a b.txt"), "space")
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	mustWrite(filepath.Join(root, "secret.txt"), "secret")
	if err := os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(dir, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "css", "a.css"), filepath.Join(dir, "inside.css")); err != nil {
		t.Fatal(err)
	}

	a := &Action{Type: TypeMock, Dir: dir}
	tests := []struct {
		name      string
		matchPath string
		reqPath   string
		want      string // relative to dir; "" when an error is expected
		err       error
	}{
		{"file under prefix", "/static/*", "/static/css/a.css", "css/a.css", nil},
		{"query ignored", "/static/*", "/static/css/a.css?v=3", "css/a.css", nil},
		{"prefix without slash", "/static*", "/static/css/a.css", "css/a.css", nil},
		{"no match path", "", "/css/a.css", "css/a.css", nil},
		{"escaped name", "/static/*", "/static/a%20b.txt", "a b.txt", nil},
		{"directory index", "/static/*", "/static/docs/", "docs/index.html", nil},
		{"directory index no slash", "/static/*", "/static/docs", "docs/index.html", nil},
		{"root index", "/static/*", "/static/", "index.html", nil},
		{"dot segments inside", "/static/*", "/static/docs/./../css/a.css", "", ErrBadPath},
		{"dotdot", "/static/*", "/static/../secret.txt", "", ErrBadPath},
		{"escaped dotdot", "/static/*", "/static/%2e%2e/secret.txt", "", ErrBadPath},
		{"escaped slash dotdot", "/static/*", "/static/css%2f..%2f..%2fsecret.txt", "", ErrBadPath},
		{"backslash", "/static/*", `/static/..\secret.txt`, "", ErrBadPath},
		{"nul", "/static/*", "/static/a%00.css", "", ErrBadPath},
		{"double slash is not absolute", "/static/*", "/static//css/a.css", "css/a.css", nil},
		{"symlink escape", "/static/*", "/static/escape.txt", "", ErrBadPath},
		{"symlink dir escape", "/static/*", "/static/up/secret.txt", "", ErrBadPath},
		{"symlink inside", "/static/*", "/static/inside.css", "inside.css", nil},
		{"missing", "/static/*", "/static/nope.css", "", fs.ErrNotExist},
		{"dir without index", "/static/*", "/static/empty/", "", fs.ErrNotExist},
		{"outside prefix", "/static/*", "/other/a.css", "", ErrBadPath},
		{"bad escape", "/static/*", "/static/%zz", "", ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := withMatch("m", Match{Path: tt.matchPath})
			got, err := MockFile(&r, a, tt.reqPath)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("MockFile(%q) = %q, %v; want error %v", tt.reqPath, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("MockFile(%q): %v", tt.reqPath, err)
			}
			if want := filepath.Join(dir, filepath.FromSlash(tt.want)); got != want {
				t.Fatalf("MockFile(%q) = %q, want %q", tt.reqPath, got, want)
			}
		})
	}
	if _, err := MockFile(&Rule{}, &Action{Type: TypeMock}, "/x"); err == nil {
		t.Error("MockFile without dir succeeded")
	}
}

func TestMapURL(t *testing.T) {
	tests := []struct {
		matchPath, target, in, want string
	}{
		{"/api/*", "http://127.0.0.1:3000/v2", "https://example.com/api/users?x=1", "http://127.0.0.1:3000/v2/users?x=1"},
		{"/api/*", "http://127.0.0.1:3000/v2/", "https://example.com/api/users", "http://127.0.0.1:3000/v2/users"},
		{"/api*", "http://127.0.0.1:3000/v2", "https://example.com/api/users", "http://127.0.0.1:3000/v2/users"},
		{"/api*", "http://127.0.0.1:3000/v2", "https://example.com/api", "http://127.0.0.1:3000/v2"},
		{"", "http://127.0.0.1:3000/v2", "https://example.com/api/users", "http://127.0.0.1:3000/v2/api/users"},
		{"/api/*", "http://127.0.0.1:3000", "https://example.com/api/users?x=1", "http://127.0.0.1:3000/api/users?x=1"},
		{"/api/*", "http://127.0.0.1:3000/", "https://example.com/api/users", "http://127.0.0.1:3000/api/users"},
		{"/api/*", "ws://127.0.0.1:3000/v2", "wss://example.com/api/a%2Fb", "ws://127.0.0.1:3000/v2/a%2Fb"},
		{"/api/*", "http://[::1]:8080/x", "https://u:p@example.com/api/y", "http://[::1]:8080/x/y"},
	}
	for _, tt := range tests {
		r := withActions("m", Action{Type: TypeMapRemote, URL: tt.target})
		r.Match.Path = tt.matchPath
		if ps := Validate([]Rule{r}); ps != nil {
			t.Fatalf("invalid test rule: %v", ps)
		}
		in, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		before := in.String()
		got, err := MapURL(&r, &r.Actions[0], in)
		if err != nil {
			t.Fatalf("MapURL(%q): %v", tt.in, err)
		}
		if got.String() != tt.want {
			t.Errorf("MapURL(%q, path %q, to %q) = %q, want %q", tt.in, tt.matchPath, tt.target, got, tt.want)
		}
		if in.String() != before {
			t.Errorf("MapURL modified its input: %q", in)
		}
	}
}
