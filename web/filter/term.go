package filter

import "strings"

// Term writes one key:value term that Parse reads back with exactly that
// value: quoted (with \" and \\ escaped) when the value is empty, holds
// spaces, quotes, backslashes, parentheses or "|", or starts with "//" (which would
// otherwise read as URL text). The dashboard's structure tree builds its
// filters with it.
func Term(key, value string) string {
	if !needsQuotes(value) {
		return key + ":" + value
	}
	var b strings.Builder
	b.WriteString(key)
	b.WriteString(`:"`)
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	b.WriteByte('"')
	return b.String()
}

func needsQuotes(v string) bool {
	if v == "" || strings.HasPrefix(v, "//") {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; isSpace(c) || c == '"' || c == '\\' || c == '(' || c == ')' || c == '|' {
			return true
		}
	}
	return false
}
