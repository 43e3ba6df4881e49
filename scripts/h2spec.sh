#!/usr/bin/env bash
# HTTP/2 conformance of Loupe's MITM server, measured with h2spec.
#
# h2spec (github.com/summerwind/h2spec) has no proxy support, so it talks TLS
# and HTTP/2 to a shim (scripts/h2conform shim) that opens a CONNECT tunnel
# through Loupe for each connection, to a Go HTTP/2 origin (scripts/h2conform
# origin). What h2spec tests is then Loupe's intercepted HTTP/2: the server
# inside the tunnel. As a baseline it runs h2spec once directly against the
# origin (Go's own HTTP/2 server).
#
#   scripts/h2spec.sh              # both runs, then the two summaries
#   H2SPEC_ARGS="http2/6.5" scripts/h2spec.sh   # only some sections
#
# Everything listens on 127.0.0.1 (free ports chosen by the kernel). h2spec is
# installed with `go install` from the Go module proxy into a cache directory
# (H2SPEC_CACHE, default ~/.cache/loupe-h2spec); it is never added to go.mod.
# Loupe verifies the origin's self-signed certificate through SSL_CERT_FILE
# (no -insecure-upstream). Loupe and the helpers are built into a temporary
# directory and run as binaries (not `go run`, whose child would outlive its
# PID); every process started here is stopped by its PID on exit. Full h2spec
# outputs are kept in H2SPEC_OUT (default: a new temporary directory, printed).
set -euo pipefail

cd "$(dirname "$0")/.."
H2SPEC_VERSION=${H2SPEC_VERSION:-v2.2.1+incompatible} # newest tag the module proxy lists
H2SPEC_CACHE=${H2SPEC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loupe-h2spec}
H2SPEC_ARGS=${H2SPEC_ARGS:-}
H2SPEC_TIMEOUT=${H2SPEC_TIMEOUT:-2}

tmp=$(mktemp -d)
out=${H2SPEC_OUT:-$tmp/out}
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -z "${H2SPEC_OUT:-}" ]; then
    # Keep the outputs only when asked to.
    rm -rf "$tmp"
  else
    rm -rf "$tmp"/{bin,data}
  fi
}
trap cleanup EXIT INT TERM

# h2spec, once per version.
h2spec="$H2SPEC_CACHE/$H2SPEC_VERSION/h2spec"
if [ ! -x "$h2spec" ]; then
  echo "installing h2spec $H2SPEC_VERSION into $H2SPEC_CACHE/$H2SPEC_VERSION" >&2
  mkdir -p "$H2SPEC_CACHE/$H2SPEC_VERSION"
  (cd "$tmp" && GOFLAGS= GOBIN="$H2SPEC_CACHE/$H2SPEC_VERSION" \
    go install "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_VERSION")
fi

mkdir -p "$tmp/bin" "$tmp/data"
go build -o "$tmp/bin/loupe" ./cmd/loupe
go build -o "$tmp/bin/h2conform" ./scripts/h2conform

# wait_for FILE PREFIX: the address printed after PREFIX on a line of FILE.
wait_for() {
  local i
  for i in $(seq 1 200); do
    if line=$(grep -m1 "^$2" "$1" 2>/dev/null); then
      echo "${line##* }" | sed 's|^http://||'
      return 0
    fi
    sleep 0.05
  done
  echo "no '$2' line in $1:" >&2
  cat "$1" >&2
  return 1
}

"$tmp/bin/h2conform" origin -cert "$tmp/origin.pem" >"$tmp/origin.log" 2>&1 &
pids+=($!)
origin=$(wait_for "$tmp/origin.log" "origin ")

SSL_CERT_FILE="$tmp/origin.pem" LOUPE_TOKEN=h2spec "$tmp/bin/loupe" \
  -proxy 127.0.0.1:0 -ui 127.0.0.1:0 -data "$tmp/data" -log-level warn >"$tmp/loupe.log" 2>&1 &
pids+=($!)
proxy=$(wait_for "$tmp/loupe.log" "Loupe proxy:")
ui=$(wait_for "$tmp/loupe.log" "Loupe dashboard:" | sed 's|/.*||')

"$tmp/bin/h2conform" shim -proxy "$proxy" -target "$origin" >"$tmp/shim.log" 2>&1 &
pids+=($!)
shim=$(wait_for "$tmp/shim.log" "shim ")

echo "origin $origin, Loupe $proxy, shim $shim; h2spec $H2SPEC_VERSION; outputs in $out" >&2

# run NAME PORT: h2spec against 127.0.0.1:PORT; the full output goes to
# $out/NAME.txt, and h2spec's failure list and totals are printed.
run() {
  local name=$1 port=${2##*:}
  # h2spec exits non-zero when a case fails: that is a result, not an error.
  # shellcheck disable=SC2086
  "$h2spec" $H2SPEC_ARGS -t -k -h 127.0.0.1 -p "$port" -o "$H2SPEC_TIMEOUT" \
    -j "$out/$name.xml" >"$out/$name.txt" 2>&1 || true
  echo
  echo "== $name (127.0.0.1:$port) =="
  sed -n '/^Failures:/,$p' "$out/$name.txt" | sed 's/\x1b\[[0-9;]*m//g'
  if ! grep -q 'tests,' "$out/$name.txt"; then
    tail -n 20 "$out/$name.txt"
  fi
}

run go-origin "$origin"
run loupe-mitm "$shim"

# What Loupe recorded: every request h2spec got an answer to went through
# the MITM server to the origin; none may have come back (a loop).
count() {
  curl -sS -H "Authorization: Bearer h2spec" "http://$ui/api/flows?limit=1&q=$1" |
    sed -n 's/.*"total":\([0-9]*\).*/\1/p'
}
echo
# (Many cases close the connection before the answer: those flows end with
# "client went away", in a number that varies from run to run.)
echo "Loupe recorded $(count '') flows, $(count 'error:loop') of them request loops"
if [ "$(count 'error:loop')" != 0 ]; then
  exit 1
fi
