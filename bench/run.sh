#!/usr/bin/env bash
# DatasetGateway benchmark: wrk against the hot paths, with nginx serving the
# same response bytes as a static file (two workers, access log off) on the
# same machine in the same run as the yardstick. The server runs with its
# default configuration: access log (to a file) and metrics on. Not a test:
# it reports figures.
#
#   bench/run.sh            # full run (10k users, 1k datasets, 100k grants, 100k tokens)
#   DURATION=5 bench/run.sh # shorter runs
#   DSG_BIN=/path/to/dsg bench/run.sh   # an already built binary (no build)
#
# Rows: warm user/cache with one token and with all 100,000 tokens cached;
# cold user/cache (a fresh server, each of the 100,000 tokens used exactly
# once, bench/once.lua); the invalid-token path; warm POST
# /api/dsg/v1/authorize with 10 entries; two server processes on the same
# database and the same two cores (one wrk per process), for the
# one-process-versus-two comparison. Each row: req/s, × nginx, p50/p99 and
# the server's CPU time per request.
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
PORT_B=${PORT_B:-18302}
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

echo "== seeding $USERS users, $DATASETS datasets (one version each), ~$GRANTS grants, $((USERS * PER_USER)) tokens"
python3 bench/gen_fixture.py "$USERS" "$DATASETS" "$GRANTS" "$PER_USER" versions > "$WORK/fixture.json"
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

# start_dsg PORT LOG [env...]: a server with the default configuration.
start_dsg() {
  local port=$1 log=$2
  shift 2
  env DSG_SERVER__BIND=127.0.0.1:$port "$@" "$DSG" serve > "$log" 2>&1 &
  LAST_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$log"; exit 1
}
stop_dsg() { kill "$1"; wait "$1" 2>/dev/null || true; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# wrk → "req/s p50 p99 non2xx cpu_us_per_request" ($CPU_PIDS: server
# processes). With SCRIPT=bench/once.lua the rate is requests / the threads'
# active time (they stop when their tokens run out).
cpu_ticks() { local t=0 p; for p in $CPU_PIDS; do set -- $(cut -d' ' -f14,15 "/proc/$p/stat"); t=$((t + $1 + $2)); done; echo "$t"; }
summarise() {
  python3 - "$1" "$2" "$(getconf CLK_TCK)" "$DURATION" <<'PY'
import re, sys
texts = [open(p).read() for p in sys.argv[1].split(",")]
ticks, hz, dur = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def lat(t, p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", t, re.M)
    if not m: return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
total = rps = non2xx = 0
for t in texts:
    n = int(re.search(r"(\d+) requests in", t).group(1)) if re.search(r"(\d+) requests in", t) else 0
    active = re.search(r"^active_s ([\d.]+)", t, re.M)
    r = re.search(r"Requests/sec:\s+([\d.]+)", t)
    rps += n / float(active.group(1)) if active and float(active.group(1)) > 0 else (float(r.group(1)) if r else 0)
    b = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    non2xx += int(b.group(1)) if b else 0
    total += n
cpu = ticks / hz * 1e6 / total if total else float("nan")
p50 = "/".join(f"{lat(t, 50):.3f}" for t in texts)
p99 = "/".join(f"{lat(t, 99):.3f}" for t in texts)
print(f"{rps:.0f} {p50} {p99} {non2xx} {cpu:.1f}")
PY
}
run_wrk() {
  local url=$1 tokens=$2 script=${SCRIPT:-bench/tokens.lua} c0 c1
  c0=$(cpu_ticks)
  TOKENS=$tokens DURATION=$DURATION THREADS=$THREADS wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$script" "$url" > "$WORK/wrk.txt" 2>&1 || true
  c1=$(cpu_ticks)
  summarise "$WORK/wrk.txt" "$((c1 - c0))"
}
median() { python3 -c "
import statistics
rows = [l.split() for l in open('$1') if l.strip()]
def num(v): return float(v.split('/')[0])
cols = list(zip(*rows))
# the row whose req/s is the median, so its figures belong together
mid = sorted(range(len(rows)), key=lambda i: num(rows[i][0]))[len(rows) // 2]
print(' '.join(rows[mid]))"; }
statuses() {  # status counts of one route from /metrics: "200:n 401:n …"
  curl -s "http://127.0.0.1:$1/metrics" | python3 -c "
import re, sys
route = sys.argv[1]
out = {}
for l in sys.stdin:
    m = re.match(r'dsg_http_requests_total\{(.*)\} (\d+)', l)
    if m and f'route=\"{route}\"' in m.group(1):
        s = re.search(r'status=\"(\d+)\"', m.group(1)).group(1)
        out[s] = out.get(s, 0) + int(m.group(2))
print(' '.join(f'{k}:{v}' for k, v in sorted(out.items())))" "$2"; }

echo "== nginx yardstick (2 workers, access log off, the same response bytes as a static file)"
start_dsg "$PORT" "$WORK/serve.log"
curl -s -H "Authorization: Bearer $(cat "$WORK/one.txt")" "http://127.0.0.1:$PORT/api/v1/user/cache" > "$WORK/static.json"
BODY_BYTES=$(wc -c < "$WORK/static.json")
stop_dsg "$LAST_PID"
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

echo "== alternating nginx, dsg warm (one token) and authorize ×10 (one token), $REPEAT rounds; medians"
start_dsg "$PORT" "$WORK/serve.log"
A=$LAST_PID
CPU_PIDS=$A run_wrk "http://127.0.0.1:$PORT" "$WORK/one.txt" > /dev/null   # warm-up
: > "$WORK/ng.txt"; : > "$WORK/warm.txt"; : > "$WORK/az.txt"
for _ in $(seq 1 "$REPEAT"); do
  CPU_PIDS=$NGINX_PIDS run_wrk "http://127.0.0.1:$NGINX_PORT" "$WORK/one.txt" >> "$WORK/ng.txt"
  CPU_PIDS=$A run_wrk "http://127.0.0.1:$PORT" "$WORK/one.txt" >> "$WORK/warm.txt"
  CPU_PIDS=$A SCRIPT=bench/authorize.lua run_wrk "http://127.0.0.1:$PORT" "$WORK/one.txt" >> "$WORK/az.txt"
done
read -r NG_RPS NG_P50 NG_P99 NG_BAD NG_CPU < <(median "$WORK/ng.txt")
read -r W_RPS W_P50 W_P99 W_BAD W_CPU < <(median "$WORK/warm.txt")
read -r Z_RPS Z_P50 Z_P99 Z_BAD Z_CPU < <(median "$WORK/az.txt")

stop_dsg "$A"

echo "== one process against two on the same database and cores (one wrk -t1 -c$((CONNS / 2)) per port), $REPEAT rounds"
start_dsg "$PORT" "$WORK/serve.log"; A=$LAST_PID
start_dsg "$PORT_B" "$WORK/serve-b.log"; B=$LAST_PID
pair() {  # pair PORT1 PORT2 PIDS: two wrk -t1 in parallel
  local c0 c1
  c0=$(CPU_PIDS=$3 cpu_ticks)
  TOKENS=$WORK/one.txt wrk -t1 -c$((CONNS / 2)) -d"${DURATION}s" --latency -s bench/tokens.lua "http://127.0.0.1:$1" > "$WORK/wrk1.txt" 2>&1 &
  local first=$!
  TOKENS=$WORK/one.txt wrk -t1 -c$((CONNS / 2)) -d"${DURATION}s" --latency -s bench/tokens.lua "http://127.0.0.1:$2" > "$WORK/wrk2.txt" 2>&1 || true
  wait "$first" || true
  c1=$(CPU_PIDS=$3 cpu_ticks)
  summarise "$WORK/wrk1.txt,$WORK/wrk2.txt" "$((c1 - c0))"
}
: > "$WORK/one-proc.txt"; : > "$WORK/two-proc.txt"
for _ in $(seq 1 "$REPEAT"); do
  pair "$PORT" "$PORT" "$A" >> "$WORK/one-proc.txt"
  pair "$PORT" "$PORT_B" "$A $B" >> "$WORK/two-proc.txt"
done
read -r P1_RPS P1_P50 P1_P99 P1_BAD P1_CPU < <(median "$WORK/one-proc.txt")
read -r P2_RPS P2_P50 P2_P99 P2_BAD P2_CPU < <(median "$WORK/two-proc.txt")
stop_dsg "$A"; stop_dsg "$B"

N_TOKENS=$((USERS * PER_USER))
# wrk's main thread sleeps the whole -d even when once.lua's threads stop
# early, so the budget is generous but bounded.
echo "== dsg cold: fresh server, each of the $N_TOKENS tokens used once"
start_dsg "$PORT" "$WORK/serve.log"; A=$LAST_PID
read -r C_RPS C_P50 C_P99 C_BAD C_CPU < <(CPU_PIDS=$A SCRIPT=bench/once.lua DURATION=$((DURATION * 3)) run_wrk "http://127.0.0.1:$PORT" "$WORK/tokens.txt")
C_REUSED=$(awk '/^reused/ {print $2}' "$WORK/wrk.txt")
C_MISSES=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^dsg_cache_token_misses_total/ {print $2}')
echo "== dsg warm over all $N_TOKENS tokens, then RSS"
CPU_PIDS=$A run_wrk "http://127.0.0.1:$PORT" "$WORK/tokens.txt" > /dev/null
read -r T_RPS T_P50 T_P99 T_BAD T_CPU < <(CPU_PIDS=$A run_wrk "http://127.0.0.1:$PORT" "$WORK/tokens.txt")
RSS=$(rss_kb "$A")
# Last: the failed-authentication limit it trips (per client address, in the
# database) would refuse the other rows' uncached tokens for a minute.
echo "== dsg invalid token"
read -r I_RPS I_P50 I_P99 I_BAD I_CPU < <(CPU_PIDS=$A run_wrk "http://127.0.0.1:$PORT" "$WORK/bad.txt")
I_STATUS=$(statuses "$PORT" /api/v1/user/cache)
DROPPED=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^dsg_access_log_dropped_lines_total/ {print $2}')
stop_dsg "$A"
LOG_LINES=$(grep -c 'dsg::access' "$WORK/serve.log" || true)

ratio() { python3 -c "print(f'{float(\"$1\")/float(\"$2\"):.2f}')"; }
{
  echo "# DatasetGateway benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Command: \`bash bench/run.sh\` (DURATION=$DURATION REPEAT=$REPEAT). Machine: $(nproc) cores, shared;"
  echo "wrk -t$THREADS -c$CONNS -d${DURATION}s on the same machine. Body: $BODY_BYTES bytes (nginx serves the same bytes)."
  echo "World: $USERS users, $DATASETS datasets (one version each), $(python3 -c "import json;print(len(json.load(open('$WORK/fixture.json'))['grants']))") grants, $N_TOKENS tokens, SQLite."
  echo "dsg: release build, default configuration (access log to a file, metrics on)."
  echo
  echo "nginx, warm one-token, authorize and process rows: the median round of $REPEAT alternating rounds."
  echo "Server CPU per request includes the kernel's loopback TCP work."
  echo
  echo "| run | req/s | × nginx | p50 ms | p99 ms | non-2xx | server CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| nginx static file (2 workers) | $NG_RPS | 1.00 | $NG_P50 | $NG_P99 | $NG_BAD | $NG_CPU |"
  echo "| dsg user/cache warm, one token | $W_RPS | $(ratio "$W_RPS" "$NG_RPS") | $W_P50 | $W_P99 | $W_BAD | $W_CPU |"
  echo "| dsg user/cache warm, $N_TOKENS tokens | $T_RPS | $(ratio "$T_RPS" "$NG_RPS") | $T_P50 | $T_P99 | $T_BAD | $T_CPU |"
  echo "| dsg user/cache cold, each token's first use | $C_RPS | $(ratio "$C_RPS" "$NG_RPS") | $C_P50 | $C_P99 | $C_BAD | $C_CPU |"
  echo "| dsg user/cache invalid token | $I_RPS | $(ratio "$I_RPS" "$NG_RPS") | $I_P50 | $I_P99 | $I_BAD | $I_CPU |"
  echo "| dsg authorize ×10 warm, one token | $Z_RPS | $(ratio "$Z_RPS" "$NG_RPS") | $Z_P50 | $Z_P99 | $Z_BAD | $Z_CPU |"
  echo "| dsg one process, two wrk -t1 | $P1_RPS | $(ratio "$P1_RPS" "$NG_RPS") | $P1_P50 | $P1_P99 | $P1_BAD | $P1_CPU |"
  echo "| dsg two processes, one wrk -t1 each | $P2_RPS | $(ratio "$P2_RPS" "$NG_RPS") | $P2_P50 | $P2_P99 | $P2_BAD | $P2_CPU |"
  echo
  echo "- cold ÷ warm (one token): $(ratio "$C_RPS" "$W_RPS"); cold run: $C_MISSES token misses, $C_REUSED requests repeating a token (in flight when a wrk thread ran out)."
  echo "- one process ÷ two processes: $(ratio "$P1_RPS" "$P2_RPS")."
  echo "- statuses of user/cache on the last server (from /metrics; the invalid-token run comes last): $I_STATUS (60 failed tokens a minute per client, then 429: the default)."
  echo "- access log: $LOG_LINES lines written, $DROPPED dropped (queue full); RSS after serving all $N_TOKENS tokens: $((RSS / 1024)) MB."
} | tee "$OUT/results.md"
