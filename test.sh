#!/usr/bin/env bash
# Runs every Loupe test: Go (vet, format, unit and integration tests with the
# race detector), the check that the TypeScript types generated from the Go
# types are current, the dashboard's type check and unit tests, the check that
# the committed dashboard build is current, and the browser tests.
# Needs Go and Node; installs what else is missing first: the Node packages
# (`npm ci`) and, as root on Debian, the chromium package for browser tests.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing Debian's chromium for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the browser tests need Chromium: install Debian's chromium package (or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "go test -race"
go test -race -timeout 15m ./...

step "dashboard: generated TypeScript types are current"
sh ui/check-types.sh

step "dashboard: type check and unit tests"
npm run --silent typecheck
npm test --silent

step "dashboard: committed build is current"
npm run --silent check-dist

step "dashboard: browser tests"
npm run --silent e2e
