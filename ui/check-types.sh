#!/bin/sh
# Fails when the committed TypeScript types (ui/src/api/gen) are not what
# the Go types produce: generates them into a temporary directory with
# tygo (a tool dependency in go.mod, fetched by `go tool` on first use) and
# compares. Also refuses a Go type that generation could not map (it would
# come out as "any": map it in tygo.yaml).
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# The same configuration, writing into $tmp/gen instead of ui/src/api/gen.
sed "s#\"\.\./ui/src/api/gen/#\"$tmp/gen/#" tygo.yaml >"$tmp/tygo.yaml"
(cd web && go tool tygo generate --config "$tmp/tygo.yaml")
if ! diff -r "$tmp/gen" ui/src/api/gen >"$tmp/diff.txt" 2>&1; then
  echo "generated TypeScript types are stale: run go generate ./web" >&2
  head -n 40 "$tmp/diff.txt" | cut -c1-200 >&2
  exit 1
fi
if grep -n 'any /\*' ui/src/api/gen/*.ts >"$tmp/any.txt"; then
  echo "generated TypeScript types name a Go type tygo.yaml does not map (it came out as any):" >&2
  cat "$tmp/any.txt" >&2
  exit 1
fi
echo "generated TypeScript types are current."
