#!/bin/sh
# Fails when the committed dashboard build (web/dist) is not what the sources
# in ui/ produce: rebuilds into a temporary directory and compares.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
LOUPE_DIST_DIR="$tmp/dist" npx --no-install vite build --config ui/vite.config.ts --logLevel error
if ! diff -r "$tmp/dist" web/dist >"$tmp/diff.txt" 2>&1; then
  echo "web/dist is stale: it differs from a fresh build of ui/." >&2
  head -n 40 "$tmp/diff.txt" | cut -c1-200 >&2
  echo "Run 'npm run build' and commit web/dist." >&2
  exit 1
fi
echo "web/dist is current."
