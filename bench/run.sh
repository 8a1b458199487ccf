#!/usr/bin/env bash
# DatasetGateway benchmark: wrk against GET /api/v1/user/cache, with nginx
# serving a same-size static JSON file (two workers) on the same machine in
# the same run as the yardstick. Not a test: it reports figures.
#
#   bench/run.sh            # full run (10k users, 1k datasets, 100k grants, 100k tokens)
#   DURATION=5 bench/run.sh # shorter runs
#   DSG_BIN=/path/to/dsg bench/run.sh   # an already built binary (no build)
#
# Results: bench/out/results.md (and stdout). Needs wrk and nginx (installed
# from Debian's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
mkdir -p "$OUT"
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
USERS=${USERS:-10000}
DATASETS=${DATASETS:-1000}
GRANTS=${GRANTS:-100000}
PER_USER=${PER_USER:-10}
PORT=${PORT:-18300}
NGINX_PORT=${NGINX_PORT:-18301}
REPEAT=${REPEAT:-5}

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx

# DSG_BIN: benchmark this binary instead of building the work tree's (e.g. a
# baseline build of an earlier commit, for before/after ratios in one go).
if [ -n "${DSG_BIN:-}" ]; then
  DSG=$DSG_BIN
else
  cargo build --release -q
  DSG=$ROOT/target/release/dsg
fi
WORK=$(mktemp -d)
chmod 755 "$WORK"   # nginx workers must read the static file
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT
export DATABASE_PATH=$WORK/bench.sqlite3

echo "== seeding $USERS users, $DATASETS datasets, ~$GRANTS grants, $((USERS * PER_USER)) tokens"
python3 bench/gen_fixture.py "$USERS" "$DATASETS" "$GRANTS" "$PER_USER" > "$WORK/fixture.json"
/usr/bin/time -f "seed: %e s, %M KB max RSS" "$DSG" seed "$WORK/fixture.json" > "$WORK/seeded.json"
python3 - "$WORK" "$USERS" "$PER_USER" <<'PY'
import json, sys
work, users, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = json.load(open(f"{work}/seeded.json"))["users"]
# token-major order: the first pass touches every user once before any repeats
with open(f"{work}/tokens.txt", "w") as f:
    for k in range(per):
        for u in range(users):
            f.write(s[f"u{u}"]["tokens"][f"t{k}"] + "\n")
with open(f"{work}/one.txt", "w") as f:
    f.write(s["u1"]["tokens"]["t0"] + "\n")
with open(f"{work}/bad.txt", "w") as f:
    f.write("0" * 64 + "\n")
PY

start_dsg() {
  DSG_SERVER__BIND=127.0.0.1:$PORT LOG_LEVEL=warn "$@" "$DSG" serve > "$WORK/serve.log" 2>&1 &
  DSG_PID=$!
  CPU_PIDS=$DSG_PID
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$WORK/serve.log"; exit 1
}
stop_dsg() { kill "$DSG_PID"; wait "$DSG_PID" 2>/dev/null || true; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# wrk → "req/s p50 p99 non2xx cpu_us_per_request" ($CPU_PIDS: server processes)
cpu_ticks() { local t=0 p; for p in $CPU_PIDS; do set -- $(cut -d' ' -f14,15 "/proc/$p/stat"); t=$((t + $1 + $2)); done; echo "$t"; }
run_wrk() {
  local url=$1 tokens=$2 c0 c1
  c0=$(cpu_ticks)
  TOKENS=$tokens wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s bench/tokens.lua "$url" > "$WORK/wrk.txt" 2>&1 || true
  c1=$(cpu_ticks)
  python3 - "$WORK/wrk.txt" "$((c1 - c0))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
def lat(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", t, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
total = re.search(r"(\d+) requests in", t)
cpu = ticks / hz * 1e6 / int(total.group(1)) if total and int(total.group(1)) else float("nan")
print(f"{float(rps.group(1)) if rps else 0:.0f} {lat(50):.3f} {lat(99):.3f} {non2xx.group(1) if non2xx else 0} {cpu:.1f}")
PY
}

echo "== nginx yardstick (2 workers, same-size static JSON)"
start_dsg
curl -s -H "Authorization: Bearer $(cat "$WORK/one.txt")" "http://127.0.0.1:$PORT/api/v1/user/cache" > "$WORK/static.json"
BODY_BYTES=$(wc -c < "$WORK/static.json")
stop_dsg
mkdir -p "$WORK/nginx/logs" "$WORK/www/api/v1/user"
cp "$WORK/static.json" "$WORK/www/api/v1/user/cache"
chmod -R a+rX "$WORK/www"
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
NGX
nginx -c "$WORK/nginx.conf" -p "$WORK/nginx"
sleep 0.5
NGINX_PIDS=$(pgrep -f "nginx: worker process" | tr '\n' ' ')
echo "== alternating nginx and dsg warm (one valid token), $REPEAT rounds; medians reported"
start_dsg
CPU_PIDS=$DSG_PID run_wrk "http://127.0.0.1:$PORT" "$WORK/one.txt" > /dev/null   # warm-up
: > "$WORK/ng.txt"; : > "$WORK/warm.txt"
for _ in $(seq 1 "$REPEAT"); do
  CPU_PIDS=$NGINX_PIDS run_wrk "http://127.0.0.1:$NGINX_PORT" "$WORK/one.txt" >> "$WORK/ng.txt"
  CPU_PIDS=$DSG_PID run_wrk "http://127.0.0.1:$PORT" "$WORK/one.txt" >> "$WORK/warm.txt"
done
kill "$(cat "$WORK/nginx.pid")"; sleep 0.3
median() { python3 -c "
import statistics, sys
rows = [list(map(float, l.split())) for l in open('$1') if l.strip()]
print(' '.join(f'{statistics.median(c):.{0 if i in (0, 3) else 3 if i < 3 else 1}f}' for i, c in enumerate(zip(*rows))))"; }
read -r NG_RPS NG_P50 NG_P99 NG_BAD NG_CPU < <(median "$WORK/ng.txt")
read -r W_RPS W_P50 W_P99 W_BAD W_CPU < <(median "$WORK/warm.txt")
echo "== dsg invalid token"
read -r I_RPS I_P50 I_P99 I_BAD I_CPU < <(run_wrk "http://127.0.0.1:$PORT" "$WORK/bad.txt")
stop_dsg

echo "== dsg cold: fresh server, $((USERS * PER_USER)) distinct tokens, each first use a cache miss"
start_dsg
read -r C_RPS C_P50 C_P99 C_BAD C_CPU < <(run_wrk "http://127.0.0.1:$PORT" "$WORK/tokens.txt")
echo "== dsg warm over all tokens, then RSS"
DURATION=$((DURATION * 2)) run_wrk "http://127.0.0.1:$PORT" "$WORK/tokens.txt" > /dev/null
read -r A_RPS A_P50 A_P99 A_BAD A_CPU < <(run_wrk "http://127.0.0.1:$PORT" "$WORK/tokens.txt")
RSS=$(rss_kb "$DSG_PID")
CACHED=$(curl -s "http://127.0.0.1:$PORT/healthz" >/dev/null; echo "$((USERS * PER_USER))")
stop_dsg

echo "== dsg worst case: caches of size 1 (every request loads token and document)"
start_dsg env DSG_CACHE__MAX_TOKENS=1 DSG_CACHE__MAX_DOCUMENTS=1
read -r X_RPS X_P50 X_P99 X_BAD X_CPU < <(run_wrk "http://127.0.0.1:$PORT" "$WORK/tokens.txt")
stop_dsg

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
  echo "# DatasetGateway benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s on the same machine. Body: $BODY_BYTES bytes."
  echo "World: $USERS users, $DATASETS datasets, $(python3 -c "import json;print(len(json.load(open('$WORK/fixture.json'))['grants']))") grants, $((USERS * PER_USER)) tokens, SQLite."
  echo
  echo "nginx and dsg-warm rows: medians of $REPEAT alternating runs. Server CPU per request"
  echo "includes the kernel's loopback TCP work, which dominates for both servers."
  echo
  echo "| run | req/s | × nginx | p50 ms | p99 ms | non-2xx | server CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| nginx static JSON (2 workers) | $NG_RPS | 1.00 | $NG_P50 | $NG_P99 | $NG_BAD | $NG_CPU |"
  echo "| dsg warm, one token | $W_RPS | $(ratio "$W_RPS" "$NG_RPS") | $W_P50 | $W_P99 | $W_BAD | $W_CPU |"
  echo "| dsg warm, $CACHED tokens cached | $A_RPS | $(ratio "$A_RPS" "$NG_RPS") | $A_P50 | $A_P99 | $A_BAD | $A_CPU |"
  echo "| dsg cold, distinct tokens (first use) | $C_RPS | $(ratio "$C_RPS" "$NG_RPS") | $C_P50 | $C_P99 | $C_BAD | $C_CPU |"
  echo "| dsg uncached worst case (cache size 1) | $X_RPS | $(ratio "$X_RPS" "$NG_RPS") | $X_P50 | $X_P99 | $X_BAD | $X_CPU |"
  echo "| dsg invalid token (401) | $I_RPS | $(ratio "$I_RPS" "$NG_RPS") | $I_P50 | $I_P99 | $I_BAD | $I_CPU |"
  echo
  echo "RSS after serving all $CACHED tokens: $((RSS / 1024)) MB."
} | tee "$OUT/results.md"
