#!/usr/bin/env bash
# Runs every Loupe test: Go (vet, format, unit and integration tests with the
# race detector), the dashboard's type check and unit tests, the check that the
# committed dashboard build is current, and the browser tests.
# Needs: Go, Node packages installed (`npm ci`), and /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "go test -race"
go test -race -timeout 15m ./...

step "dashboard: type check and unit tests"
npm run --silent typecheck
npm test --silent

step "dashboard: committed build is current"
npm run --silent check-dist

step "dashboard: browser tests"
npm run --silent e2e
