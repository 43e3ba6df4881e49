package filter

import (
	"os"
	"strings"
	"testing"

	"loupe/proxy/store/query"
)

// The reference under the dashboard's filter bar (ui/src/lib/filter.ts)
// documents every key the language knows, and no other.
func TestDashboardReferenceNamesEveryKey(t *testing.T) {
	src, err := os.ReadFile("../../ui/src/lib/filter.ts")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for _, k := range query.Names() {
		if !strings.Contains(text, `{ key: "`+k+`",`) {
			t.Errorf("ui/src/lib/filter.ts has no reference entry for %s:", k)
		}
	}
	for line := range strings.SplitSeq(text, "\n") {
		_, rest, ok := strings.Cut(line, `{ key: "`)
		if !ok {
			continue
		}
		k, _, _ := strings.Cut(rest, `"`)
		if _, known := query.KeyNamed(k); k != "" && !known {
			t.Errorf("ui/src/lib/filter.ts documents %s:, which the language does not know", k)
		}
	}
}
