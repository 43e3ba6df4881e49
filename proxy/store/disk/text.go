package disk

import "strings"

// indexable is text as the full-text index takes it: valid UTF-8, each
// invalid byte replaced. A substring of valid UTF-8 in the original is
// still a substring of the result (UTF-8 resynchronises at every character
// boundary), so the index finds everything the exact test accepts.
func indexable(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
