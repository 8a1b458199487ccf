#!/usr/bin/env bash
# Benchmark of POST /api/dsg/v1/authorize (10 entries, neuPrint's shape)
# against GET /api/v1/user/cache in the same run, same server, same tokens,
# default configuration (access log and metrics on). Not a test: it reports
# figures, as ratios of warm user/cache (the machine is shared and noisy).
#
#   bench/authorize.sh                      # 2000 users, 1000 datasets
#   DSG_BIN=/path/to/dsg bench/authorize.sh # an already built binary
#
# Results: bench/out/results-authorize.md (and stdout). Needs wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
mkdir -p "$OUT"
DURATION=${DURATION:-8}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
USERS=${USERS:-2000}
DATASETS=${DATASETS:-1000}
GRANTS=${GRANTS:-20000}
PER_USER=${PER_USER:-2}
PORT=${PORT:-18310}
REPEAT=${REPEAT:-3}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -n "${DSG_BIN:-}" ]; then
  DSG=$DSG_BIN
else
  cargo build --release -q
  DSG=$ROOT/target/release/dsg
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DATABASE_PATH=$WORK/bench.sqlite3

echo "== seeding $USERS users, $DATASETS datasets (each with version v1), ~$GRANTS grants"
python3 bench/gen_fixture.py "$USERS" "$DATASETS" "$GRANTS" "$PER_USER" versions > "$WORK/fixture.json"
"$DSG" seed "$WORK/fixture.json" > "$WORK/seeded.json"
python3 - "$WORK" "$USERS" "$PER_USER" <<'PY'
import json, sys
work, users, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = json.load(open(f"{work}/seeded.json"))["users"]
with open(f"{work}/tokens.txt", "w") as f:
    for k in range(per):
        for u in range(users):
            f.write(s[f"u{u}"]["tokens"][f"t{k}"] + "\n")
with open(f"{work}/one.txt", "w") as f:
    f.write(s["u1"]["tokens"]["t0"] + "\n")
PY

start_dsg() {
  DSG_SERVER__BIND=127.0.0.1:$PORT "$DSG" serve > "$WORK/serve.log" 2>&1 &
  DSG_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$WORK/serve.log"; exit 1
}
stop_dsg() { kill "$DSG_PID"; wait "$DSG_PID" 2>/dev/null || true; }
# wrk → "req/s p50_ms p99_ms non2xx"
run_wrk() {
  local script=$1 tokens=$2
  TOKENS=$tokens wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$script" "http://127.0.0.1:$PORT" > "$WORK/wrk.txt" 2>&1 || true
  python3 - "$WORK/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def lat(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", t, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print(f"{float(rps.group(1)) if rps else 0:.0f} {lat(50):.3f} {lat(99):.3f} {non2xx.group(1) if non2xx else 0}")
PY
}
median() { python3 -c "
import statistics
rows = [list(map(float, l.split())) for l in open('$1') if l.strip()]
print(' '.join(f'{statistics.median(c):.{0 if i in (0, 3) else 3}f}' for i, c in enumerate(zip(*rows))))"; }

echo "== check: one authorize answer"
start_dsg
curl -s -X POST -H "Authorization: Bearer $(cat "$WORK/one.txt")" -H 'Content-Type: application/json' \
  -d '{"service":"neuprint","entries":[{"name":"ds0000","version":"v1"},{"name":"ds0007"}]}' \
  "http://127.0.0.1:$PORT/api/dsg/v1/authorize"; echo
echo "== warm: alternating user/cache and authorize (one token), $REPEAT rounds; medians"
run_wrk bench/tokens.lua "$WORK/one.txt" > /dev/null
run_wrk bench/authorize.lua "$WORK/one.txt" > /dev/null
: > "$WORK/uc.txt"; : > "$WORK/az.txt"
for _ in $(seq 1 "$REPEAT"); do
  run_wrk bench/tokens.lua "$WORK/one.txt" >> "$WORK/uc.txt"
  run_wrk bench/authorize.lua "$WORK/one.txt" >> "$WORK/az.txt"
done
read -r U_RPS U_P50 U_P99 U_BAD < <(median "$WORK/uc.txt")
read -r A_RPS A_P50 A_P99 A_BAD < <(median "$WORK/az.txt")
stop_dsg
echo "== cold: fresh server, $((USERS * PER_USER)) distinct tokens (first use of each a cache miss)"
start_dsg
read -r C_RPS C_P50 C_P99 C_BAD < <(run_wrk bench/authorize.lua "$WORK/tokens.txt")
stop_dsg
start_dsg
read -r CU_RPS CU_P50 CU_P99 CU_BAD < <(run_wrk bench/tokens.lua "$WORK/tokens.txt")
stop_dsg

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
  echo "# /api/dsg/v1/authorize benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s on the same machine; default configuration."
  echo "World: $USERS users, $DATASETS datasets (one version each), $(python3 -c "import json;print(len(json.load(open('$WORK/fixture.json'))['grants']))") grants, SQLite."
  echo "authorize: 10 entries (3 with a version), service neuprint. Warm rows: medians of $REPEAT alternating runs."
  echo
  echo "| run | req/s | × warm user/cache | p50 ms | p99 ms | non-2xx |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| GET user/cache, warm, one token | $U_RPS | 1.00 | $U_P50 | $U_P99 | $U_BAD |"
  echo "| POST authorize ×10, warm, one token | $A_RPS | $(ratio "$A_RPS" "$U_RPS") | $A_P50 | $A_P99 | $A_BAD |"
  echo "| GET user/cache, cold, distinct tokens | $CU_RPS | $(ratio "$CU_RPS" "$U_RPS") | $CU_P50 | $CU_P99 | $CU_BAD |"
  echo "| POST authorize ×10, cold, distinct tokens | $C_RPS | $(ratio "$C_RPS" "$U_RPS") | $C_P50 | $C_P99 | $C_BAD |"
} | tee "$OUT/results-authorize.md"
