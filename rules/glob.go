package rules

import "loupe/internal/glob"

// compileGlob compiles a rule's host or path pattern with Loupe's one glob
// matcher (internal/glob), so that rules, filters and -passthrough agree.
func compileGlob(pattern string, fold bool) (*glob.Glob, error) { return glob.Compile(pattern, fold) }

// globLiteralPrefix is glob.LiteralPrefix.
func globLiteralPrefix(pattern string) string { return glob.LiteralPrefix(pattern) }
