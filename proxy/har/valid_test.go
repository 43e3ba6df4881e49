package har

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"
)

// checkHAR checks a document against HAR 1.2's required fields and types
// and the stricter rules Chrome DevTools' importer applies.
func checkHAR(t *testing.T, data []byte) {
	t.Helper()
	for _, p := range validateHAR(data) {
		t.Error(p)
	}
}

func validateHAR(data []byte) []string {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var problems []string
	bad := func(path, format string, args ...any) {
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	}
	obj := func(v any, path string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			bad(path, "want object, got %T", v)
		}
		return m
	}
	str := func(m map[string]any, path, key string) string {
		s, ok := m[key].(string)
		if !ok {
			bad(path+"."+key, "want string, got %T", m[key])
		}
		return s
	}
	num := func(m map[string]any, path, key string) float64 {
		n, ok := m[key].(float64)
		if !ok {
			bad(path+"."+key, "want number, got %T", m[key])
			return math.NaN()
		}
		return n
	}
	arr := func(m map[string]any, path, key string) []any {
		a, ok := m[key].([]any)
		if !ok {
			bad(path+"."+key, "want array, got %T", m[key])
		}
		return a
	}
	optStr := func(m map[string]any, path, key string) {
		if v, ok := m[key]; ok {
			if _, ok := v.(string); !ok {
				bad(path+"."+key, "want string, got %T", v)
			}
		}
	}
	pairs := func(m map[string]any, path, key string) {
		for i, v := range arr(m, path, key) {
			p := obj(v, fmt.Sprintf("%s.%s[%d]", path, key, i))
			if p != nil {
				str(p, fmt.Sprintf("%s.%s[%d]", path, key, i), "name")
				str(p, fmt.Sprintf("%s.%s[%d]", path, key, i), "value")
			}
		}
	}
	root := obj(doc, "")
	if root == nil {
		return problems
	}
	log := obj(root["log"], "log")
	if log == nil {
		return problems
	}
	if v := str(log, "log", "version"); v != "1.2" {
		bad("log.version", "want 1.2, got %q", v)
	}
	if c := obj(log["creator"], "log.creator"); c != nil {
		str(c, "log.creator", "name")
		str(c, "log.creator", "version")
	}
	for i, ev := range arr(log, "log", "entries") {
		p := fmt.Sprintf("log.entries[%d]", i)
		e := obj(ev, p)
		if e == nil {
			continue
		}
		if s := str(e, p, "startedDateTime"); s != "" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				bad(p+".startedDateTime", "not ISO 8601: %q", s)
			}
		}
		total := num(e, p, "time")
		obj(e["cache"], p+".cache")
		if req := obj(e["request"], p+".request"); req != nil {
			rp := p + ".request"
			str(req, rp, "method")
			str(req, rp, "url")
			str(req, rp, "httpVersion")
			pairs(req, rp, "cookies")
			pairs(req, rp, "headers")
			pairs(req, rp, "queryString")
			num(req, rp, "headersSize")
			num(req, rp, "bodySize")
			if pd, ok := req["postData"]; ok {
				pm := obj(pd, rp+".postData")
				if pm != nil {
					str(pm, rp+".postData", "mimeType")
					str(pm, rp+".postData", "text")
					optStr(pm, rp+".postData", "encoding")
					if _, ok := pm["params"]; ok {
						pairs(pm, rp+".postData", "params")
					}
				}
			}
		}
		if resp := obj(e["response"], p+".response"); resp != nil {
			rp := p + ".response"
			num(resp, rp, "status")
			str(resp, rp, "statusText")
			str(resp, rp, "httpVersion")
			pairs(resp, rp, "cookies")
			pairs(resp, rp, "headers")
			str(resp, rp, "redirectURL")
			num(resp, rp, "headersSize")
			num(resp, rp, "bodySize")
			if c := obj(resp["content"], rp+".content"); c != nil {
				num(c, rp+".content", "size")
				str(c, rp+".content", "mimeType")
				optStr(c, rp+".content", "text")
				optStr(c, rp+".content", "encoding")
				if v, ok := c["compression"]; ok {
					if _, ok := v.(float64); !ok {
						bad(rp+".content.compression", "want number, got %T", v)
					}
				}
			}
		}
		if tm := obj(e["timings"], p+".timings"); tm != nil {
			tp := p + ".timings"
			sum := 0.0
			for _, k := range []string{"send", "wait", "receive"} {
				v := num(tm, tp, k)
				if v < 0 {
					bad(tp+"."+k, "negative: %v", v)
				}
				sum += v
			}
			for _, k := range []string{"blocked", "dns", "connect", "ssl"} {
				if _, ok := tm[k]; !ok {
					continue
				}
				v := num(tm, tp, k)
				if v < 0 && v != -1 {
					bad(tp+"."+k, "want -1 or >= 0, got %v", v)
				}
				if v != -1 && k != "ssl" {
					sum += v
				}
			}
			if math.Abs(sum-total) > 1e-6 {
				bad(p+".time", "%v is not the sum of the timings %v", total, sum)
			}
		}
		if ws, ok := e["_webSocketMessages"]; ok {
			msgs, _ := ws.([]any)
			if msgs == nil {
				bad(p+"._webSocketMessages", "want array, got %T", ws)
			}
			for j, mv := range msgs {
				mp := fmt.Sprintf("%s._webSocketMessages[%d]", p, j)
				m := obj(mv, mp)
				if m == nil {
					continue
				}
				if ty := str(m, mp, "type"); ty != "send" && ty != "receive" {
					bad(mp+".type", "want send or receive, got %q", ty)
				}
				num(m, mp, "time")
				num(m, mp, "opcode")
				str(m, mp, "data")
			}
		}
	}
	return problems
}

// TestValidatorCatchesProblems proves the checker can fail.
func TestValidatorCatchesProblems(t *testing.T) {
	tests := map[string]string{
		"null number":           `{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":0,"request":{"method":"GET","url":"http://a/","httpVersion":"","cookies":[],"headers":[],"queryString":[],"headersSize":-1,"bodySize":null},"response":{"status":0,"statusText":"","httpVersion":"","cookies":[],"headers":[],"content":{"size":0,"mimeType":"x"},"redirectURL":"","headersSize":-1,"bodySize":-1},"cache":{},"timings":{"send":0,"wait":0,"receive":0}}]}}`,
		"negative wait":         `{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":-1,"request":{"method":"GET","url":"http://a/","httpVersion":"","cookies":[],"headers":[],"queryString":[],"headersSize":-1,"bodySize":0},"response":{"status":0,"statusText":"","httpVersion":"","cookies":[],"headers":[],"content":{"size":0,"mimeType":"x"},"redirectURL":"","headersSize":-1,"bodySize":-1},"cache":{},"timings":{"send":0,"wait":-1,"receive":0}}]}}`,
		"no cache":              `{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":0,"request":{"method":"GET","url":"http://a/","httpVersion":"","cookies":[],"headers":[],"queryString":[],"headersSize":-1,"bodySize":0},"response":{"status":0,"statusText":"","httpVersion":"","cookies":[],"headers":[],"content":{"size":0,"mimeType":"x"},"redirectURL":null,"headersSize":-1,"bodySize":-1},"timings":{"send":0,"wait":0,"receive":0}}]}}`,
		"postData without text": `{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":0,"request":{"method":"POST","url":"http://a/","httpVersion":"","cookies":[],"headers":[],"queryString":[],"headersSize":-1,"bodySize":0,"postData":{"mimeType":"a/b"}},"response":{"status":0,"statusText":"","httpVersion":"","cookies":[],"headers":[],"content":{"size":0,"mimeType":"x"},"redirectURL":"","headersSize":-1,"bodySize":-1},"cache":{},"timings":{"send":0,"wait":0,"receive":0}}]}}`,
	}
	for name, doc := range tests {
		if len(validateHAR([]byte(doc))) == 0 {
			t.Errorf("%s: validator found nothing", name)
		}
	}
}
