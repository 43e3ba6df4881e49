package rules

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"loupe/internal/glob"
)

var fuzzRequests = []Request{
	req("GET", "https", "api.example.com", "/v1/profile?id=1"),
	req("post", "http", "LOCALHOST:8080", "/"),
	req("GET", "wss", "[::1]:443", "/socket"),
	{Method: "GET", Scheme: "http", Host: "127.0.0.1", Path: "/", URL: "http://127.0.0.1:20002/", Port: 20002},
	{Method: "GET", Scheme: "https", Host: "127.0.0.1", Path: "/", URL: "https://127.0.0.1:-1/", Port: -1},
	{},
	{Method: "\xff", Scheme: "\x00", Host: "é.example", Path: "/\xff?*", URL: "\xff"},
}

// FuzzCompile: any document either fails to decode or compile with an error,
// or compiles into a Set that matches without panicking.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(exampleJSON))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"a","enabled":true,"match":{"host":"*.x?","path":"/a\\*b*","url":"^https?://"},"actions":[{"type":"block","reset":true}]}]`))
	f.Add([]byte(`[{"id":"a","enabled":true,"match":{"methods":["GET"],"scheme":"ws"},"actions":[{"type":"delay","ms":5,"phase":"response"},{"type":"mapRemote","url":"http://127.0.0.1:1/x"}]}]`))
	f.Add([]byte(`[{"id":"b","actions":[{"type":"mock","status":201,"bodyBase64":"aGk=","headers":{"A":"b"}}]}, {"ID":1}]`))
	f.Add([]byte(`[{"id":"p","enabled":true,"match":{"host":"127.0.0.1","port":20002},"actions":[{"type":"override","body":"x"}]},{"id":"q","enabled":true,"match":{"port":443},"actions":[{"type":"block"}]}]`))
	f.Add([]byte(`[{"id":"p","match":{"port":0}},{"id":"q","match":{"port":65536}},{"id":"r","match":{"port":"80"}},{"id":"s","match":{"port":-1.5}}]`))
	f.Add([]byte(`[{"id":"bp","enabled":true,"match":{"host":"api.example.com"},"actions":[{"type":"breakpoint","phase":"both","timeoutMs":60000,"onTimeout":"continue","hits":0}]}]`))
	f.Add([]byte(`[{"id":"bp","enabled":true,"actions":[{"type":"breakpoint","phase":"response","timeoutMs":1800001,"onTimeout":"abort","hits":-1}]},{"id":"c","actions":[{"type":"breakpoint","hits":"2"}]}]`))
	f.Add([]byte(`[{"id":"w","enabled":true,"actions":[{"type":"replaceBody","phase":"response","find":"(a)(?P<n>b)","replace":"$2${n}$1x","regex":true},{"type":"replaceHeaders","phase":"request","name":"x-\\*?","find":"a"},{"type":"jsonPatch","phase":"request","patch":"{\"a\":[1,{\"b\":null}]}"},{"type":"setQuery","params":{"":"x"}},{"type":"removeQuery","names":[""]},{"type":"setStatus","status":101}]}]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		rs, err := DecodeRules(bytes.NewReader(doc))
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("DecodeRules error %v is not a *ValidationError with problems", err)
			}
			return
		}
		set, err := Compile(rs)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Compile error %v is not a *ValidationError with problems", err)
			}
			_ = err.Error()
			return
		}
		if set.Len() != len(rs) {
			t.Fatalf("set has %d rules, want %d", set.Len(), len(rs))
		}
		for _, r := range fuzzRequests {
			p := set.Plan(r)
			for _, rule := range p.Rules {
				if !rule.Enabled {
					t.Fatalf("disabled rule %q matched", rule.ID)
				}
				for i := range rule.Actions {
					a := &rule.Actions[i]
					if a.Type == TypeMock && a.Dir != "" {
						_, _ = MockFile(rule, a, r.Path)
					}
					switch a.Type {
					case TypeReplaceBody, TypeReplaceHeaders:
						w := set.Rewriter(a)
						if w == nil {
							t.Fatalf("valid %s action does not compile", a.Type)
						}
						_, _ = w.String(r.URL)
						_ = w.MatchesName(r.Host)
					case TypeJSONPatch:
						p, err := a.PatchObject()
						if err != nil {
							t.Fatalf("valid patch: %v", err)
						}
						if _, err := MergePatch([]byte(`{"a":1}`), p); err != nil {
							t.Fatalf("valid patch does not apply: %v", err)
						}
					}
				}
			}
		}
	})
}

// FuzzMatch checks globs against a naive reference and the rest of matching
// for panics.
func FuzzMatch(f *testing.F) {
	f.Add("*.example.com", "/api/*", "api.example.com", "/api/v1?x=1", `^https?://api\.`, 0, 0)
	f.Add("a?c", "*b*", "abc", "/b", `token=`, 80, 0)
	f.Add(`\*`, `/\?*`, "*", "/?x", `(?i)^HTTP`, 20002, 20002)
	f.Add("*a*a*a", "/?*?", "aaaa", "/é", `^(http)://a|b$`, 20002, 20001)
	f.Add("127.0.0.1", "", "127.0.0.1", "/", "", 65536, -1)
	f.Fuzz(func(t *testing.T, hostPat, pathPat, host, reqPath, urlExpr string, rulePort, reqPort int) {
		url := "http://" + host + reqPath
		if re, err := regexp.Compile(urlExpr); err == nil {
			set, err := Compile([]Rule{withMatch("u", Match{URL: urlExpr})})
			if err != nil {
				t.Fatalf("Compile(url %q): %v", urlExpr, err)
			}
			if got, want := len(set.Match(Request{URL: url})) == 1, re.MatchString(url); got != want {
				t.Fatalf("url %q against %q = %v, regexp says %v", url, urlExpr, got, want)
			}
		}
		valid := utf8.ValidString(hostPat) && utf8.ValidString(pathPat) && utf8.ValidString(host) && utf8.ValidString(reqPath)
		for _, p := range []string{hostPat, pathPat} {
			g, err := compileGlob(p, false)
			if err != nil {
				if !strings.HasSuffix(p, `\`) {
					t.Fatalf("compileGlob(%q): %v", p, err)
				}
				continue
			}
			for _, s := range []string{host, reqPath} {
				got := g.Match(s)
				if !valid || len(p)*len(s) > 1<<14 {
					continue // the reference defines valid UTF-8 only, and is slow
				}
				if want := refGlob(p, s); got != want {
					t.Fatalf("glob %q match %q = %v, reference says %v", p, s, got, want)
				}
			}
			_ = globLiteralPrefix(p)
		}
		rule := withMatch("r", Match{Host: hostPat, Path: pathPat, Port: rulePort})
		set, err := Compile([]Rule{rule})
		if err != nil {
			// A port in 1..65535 is never the problem.
			if rulePort >= 0 && rulePort <= MaxPort {
				if _, again := Compile([]Rule{withMatch("r", Match{Host: hostPat, Path: pathPat})}); again == nil {
					t.Fatalf("port %d refused: %v", rulePort, err)
				}
			}
			return
		}
		got := set.Match(Request{Method: "GET", Scheme: "http", Host: host, Path: reqPath, URL: url, Port: reqPort})
		if len(got) > 1 {
			t.Fatalf("one rule matched %d times", len(got))
		}
		plain := valid && !strings.ContainsAny(host, ":[]") && !strings.HasPrefix(hostPat, "[")
		small := len(hostPat)*len(host)+len(pathPat)*len(reqPath) <= 1<<14
		if plain && small {
			effective := reqPort
			if effective == 0 {
				effective = 80 // the request is http
			}
			want := (hostPat == "" || refGlob(glob.Lower(hostPat), glob.Lower(host))) &&
				(pathPat == "" || refGlob(pathPat, reqPath)) &&
				(rulePort == 0 || rulePort == effective)
			if len(got) == 1 != want {
				t.Fatalf("Match(%q, %q) with host %q path %q = %v", host, reqPath, hostPat, pathPat, got)
			}
		}
	})
}

// refGlob is a slow, obviously correct glob matcher: "*" takes whole
// characters, "?" one character, literals compare byte by byte. It defines
// the semantics for valid UTF-8 (invalid input only has to be safe).
func refGlob(pattern, s string) bool {
	type tok struct {
		star, any bool
		r         rune
	}
	var toks []tok
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*':
			toks = append(toks, tok{star: true})
		case '?':
			toks = append(toks, tok{any: true})
		case '\\':
			i++
			toks = append(toks, tok{r: rune(pattern[i])})
		default:
			toks = append(toks, tok{r: rune(pattern[i])})
		}
	}
	// Literal bytes compare as bytes; "?" consumes one rune of s.
	var rec func(ti, si int) bool
	memo := map[[2]int]bool{}
	rec = func(ti, si int) bool {
		key := [2]int{ti, si}
		if v, ok := memo[key]; ok {
			return v
		}
		var res bool
		switch {
		case ti == len(toks):
			res = si == len(s)
		case toks[ti].star:
			res = rec(ti+1, si) || (si < len(s) && rec(ti, si+runeLen(s[si:])))
		case si == len(s):
			res = false
		case toks[ti].any:
			res = rec(ti+1, si+runeLen(s[si:]))
		default:
			res = s[si] == byte(toks[ti].r) && rec(ti+1, si+1)
		}
		memo[key] = res
		return res
	}
	return rec(0, 0)
}

func runeLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}
