package filter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"loupe/internal/glob"
	"loupe/proxy/store/query"
)

// Number terms (port:, duration:, size:) take a value, a comparison or an
// inclusive range: 8080, >8000, >=8000, <1024, <=1024, 8000-9000.
//
//	port:      1..65535 (the URL's port, as port:8080 compares it)
//	duration:  a Go duration (1.5s, 200ms, 2m, 500us) or a number of
//	           milliseconds, compared in whole microseconds
//	size:      bytes, or with a unit b, kb, mb, gb (1024-based; 1.5kb)

// numberKind is how a number term reads its values.
type numberKind struct {
	what   string
	lo, hi int64
	parse  func(string) (int64, bool)
	hint   string
}

var numberKinds = map[query.Key]numberKind{
	query.Port: {"port", 1, 65535, func(v string) (int64, bool) {
		n := query.ParsePort(v)
		return int64(n), n != 0
	}, "port: needs a port number 1..65535, a comparison or a range: port:8080, port:>8000, port:8000-9000"},
	query.Duration: {"duration", math.MinInt64, math.MaxInt64, parseMicros,
		"duration: needs a duration, a comparison or a range: duration:>1s, duration:<200ms, duration:100ms-2s"},
	query.Size: {"size", math.MinInt64, math.MaxInt64, parseBytes,
		"size: needs a size, a comparison or a range: size:>10kb, size:<=512, size:1mb-5mb"},
}

// numberRange parses the value of a number term into its range.
func numberRange(k query.Key, v string) (query.Range, error) {
	nk := numberKinds[k]
	bad := errors.New(nk.hint)
	var r query.Range
	op := ""
	for _, o := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(v, o) {
			op, v = o, v[len(o):]
			break
		}
	}
	if op == "" {
		if a, b, ok := strings.Cut(v, "-"); ok && a != "" {
			lo, ok1 := nk.parse(a)
			hi, ok2 := nk.parse(b)
			if !ok1 || !ok2 {
				return r, bad
			}
			if lo > hi {
				return r, fmt.Errorf("%s: the range %s runs backwards", nk.what, v)
			}
			return query.Range{Lo: lo, Hi: hi}, nil
		}
	}
	n, ok := nk.parse(v)
	if !ok {
		return r, bad
	}
	r = query.Range{Lo: nk.lo, Hi: nk.hi}
	switch op {
	case "":
		r = query.Range{Lo: n, Hi: n}
	case ">=":
		r.Lo = n
	case "<=":
		r.Hi = n
	case ">":
		if n == math.MaxInt64 {
			return r, fmt.Errorf("%s: nothing is greater than %s", nk.what, v)
		}
		r.Lo = n + 1
	case "<":
		if n == math.MinInt64 {
			return r, fmt.Errorf("%s: nothing is less than %s", nk.what, v)
		}
		r.Hi = n - 1
	}
	r.Lo, r.Hi = max(r.Lo, nk.lo), min(r.Hi, nk.hi)
	if r.Lo > r.Hi {
		return r, fmt.Errorf("%s: no %s is %s%s", nk.what, nk.what, op, v)
	}
	return r, nil
}

// parseMicros reads a duration (time.ParseDuration, or a bare number of
// milliseconds) in whole microseconds; negative durations are refused.
func parseMicros(v string) (int64, bool) {
	if v == "" || v[0] == '-' || v[0] == '+' {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "eEnN") {
		us := f * 1000
		if us != math.Trunc(us) || us > math.MaxInt64/2 {
			return 0, false
		}
		return int64(us), true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d%time.Microsecond != 0 {
		return 0, false
	}
	return d.Microseconds(), true
}

// byteUnits are the units of size: values, longest first.
var byteUnits = []struct {
	suffix string
	mult   float64
}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}}

// parseBytes reads a size in bytes, with an optional unit.
func parseBytes(v string) (int64, bool) {
	v = strings.ToLower(v)
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	if v == "" || v[0] == '-' || v[0] == '+' || strings.ContainsAny(v, "eEnNxX_") {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false
	}
	n := f * mult
	if n != math.Trunc(n) || n > 1<<62 {
		return 0, false
	}
	return int64(n), true
}

// headerTerm reads the value of a header:, reqheader: or resheader: term:
// a field name, or name=glob for its value.
func headerTerm(t *query.Term, key string) error {
	name, pattern, hasValue := strings.Cut(t.Low, "=")
	if name == "" {
		return fmt.Errorf("%s: needs a field name, e.g. %s:content-type or %s:content-type=*json*", key, key, key)
	}
	t.Name = name
	if hasValue {
		g, err := glob.Compile(pattern, true)
		if err != nil {
			return fmt.Errorf("%s: value glob %w", key, err)
		}
		t.Glob = g
	}
	return nil
}
