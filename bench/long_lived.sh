#!/usr/bin/env bash
# Benchmark of the stable long-lived token as neuPrintExplorer uses it (one
# GET /api/v1/long_lived_token per page load, answered by re-deriving the
# token and comparing it with the stored hash) against GET /api/v1/user/cache
# in the same run, same server, same token, default configuration (access
# log and metrics on). Reports ratios; not a test.
#
#   bench/long_lived.sh                      # builds the release binary
#   DSG_BIN=/path/to/dsg bench/long_lived.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-8}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18320}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -n "${DSG_BIN:-}" ]; then DSG=$DSG_BIN; else cargo build --release -q; DSG=$ROOT/target/release/dsg; fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DATABASE_PATH=$WORK/bench.sqlite3 DSG_DATABASE__DATA_DIR=$WORK
TOKEN=$(echo '{"users": [{"key": "u", "email": "u@example.org", "tokens": [{"key": "t"}]}]}' \
  | "$DSG" seed - 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["users"]["u"]["tokens"]["t"])')
DSG_PORT=$PORT "$DSG" serve >"$WORK/server.log" 2>&1 &
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/long_lived_token" >/dev/null
run() {
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$1" \
    | awk '/Requests\/sec/ {print $2}'
}
run /api/v1/user/cache >/dev/null # warm-up
CACHE=$(run /api/v1/user/cache)
LLT=$(run /api/v1/long_lived_token)
CACHE2=$(run /api/v1/user/cache)
python3 - "$CACHE" "$LLT" "$CACHE2" <<'PY'
import sys
c1, llt, c2 = map(float, sys.argv[1:])
base = (c1 + c2) / 2
print(f"| GET | req/s | × user/cache |\n|---|---|---|")
print(f"| /api/v1/user/cache (before, after) | {c1:,.0f} / {c2:,.0f} | 1.00 |")
print(f"| /api/v1/long_lived_token (warm: re-derive, compare) | {llt:,.0f} | {llt/base:.2f} |")
PY
