#!/usr/bin/env bash
# DatasetGateway: two replicas on one PostgreSQL database (issue 15, items 5
# and 7). Not a test: it reports figures. Everything it starts (two dsg
# replicas, nginx, wrk) and the database it creates are removed on exit.
#
#   bench/replicas.sh                   # full run: 100k users, 10k datasets, 1M grants
#   DURATION=5 REPEAT=1 bench/replicas.sh   # quicker
#
# Steps (each printed as "== ..."):
#  1. a fresh database dsg_bench_<pid> on $PG_BASE, `dsg migrate`, then the
#     scale world loaded by bench/scale.sql with INSERT … SELECT
#     generate_series (timed), plus an admin and a probe user by `dsg seed`;
#  2. replicas A and B (release build, same DATABASE_URL, two free loopback
#     ports), both waited for until /readyz answers 200;
#  3. cold user/cache, both replicas at once: each gets its own half of the
#     users and walks it with bench/once.lua, one token per user, each used
#     once, on a replica started with empty caches; the replicas'
#     cache_token_misses / cache_document_misses counters (/metrics) show how
#     many requests really were misses. Latency percentiles from wrk --latency;
#  4. warm user/cache: a fixed set of $WARM_TOKENS tokens rotated by
#     bench/tokens.lua, in alternating rounds: nginx serving a same-size static
#     JSON file (the yardstick), replica A alone (one wrk -t2 -c32; then, as a
#     control, two wrk -t1 -c16 against A), and both replicas at once
#     (client-side round robin: one wrk -t1 -c16 per replica in parallel,
#     throughputs summed — the same 2 threads and 32 connections in total).
#     Medians of $REPEAT rounds;
#  5. cold user/cache on one replica (A restarted: empty caches) for
#     comparison, then once more on one connection (latency without queueing);
#  6. revoke→401 (replicas restarted with the failed-authentication limit
#     off: the polls are refused on purpose): bench/revoke_latency.py revokes $REVOKES tokens one at a
#     time through A (DELETE /api/v1/tokens/{id}, as a global admin) and polls
#     B with each until B answers 401; p50/p99/max of the delay;
#  7. the same with DSG_REDIS__URL set on both replicas (when Redis answers);
#  8. memory (VmRSS) of each replica idle after start, after an untimed pass
#     that caches its whole half of the users, after the warm runs, and of one
#     replica that has cached every user.
#
# Results: bench/results-replicas.md (and stdout). Needs wrk, nginx (installed
# from Debian's packages when missing), psql/createdb, python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10}       # seconds per wrk run
COLD_DURATION=${COLD_DURATION:-$DURATION}
REPEAT=${REPEAT:-3}            # alternating warm rounds; medians reported
USERS=${USERS:-100000}
DATASETS=${DATASETS:-10000}
PER_USER=${PER_USER:-10}       # grants per user: USERS × PER_USER grants
GROUPS_N=${GROUPS_N:-1000}
REVOKES=${REVOKES:-1000}
WARM_TOKENS=${WARM_TOKENS:-1000}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
RESULTS=${RESULTS:-$ROOT/bench/results-replicas.md}

need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need nginx nginx
for c in psql createdb python3 curl; do command -v "$c" >/dev/null || { echo "needs $c"; exit 1; }; done

if [ -z "${DSG:-}" ]; then
  cargo build --release -q -p dsg
  DSG=$ROOT/target/release/dsg
fi

DB=dsg_bench_$$
SALT=bench$$-$RANDOM
REDIS_PREFIX=bench$$
export DATABASE_URL=$PG_BASE/$DB
WORK=$(mktemp -d)
chmod 755 "$WORK"   # nginx workers must read the static file
declare -A PID=()   # replica name → pid

cleanup() {
  local p
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
  wait 2>/dev/null || true
  psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
  if command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_PREFIX:*" 2>/dev/null \
      | xargs -r redis-cli -u "$REDIS_URL" DEL >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Share of the machine's CPU busy over 3 s: before anything of ours starts it
# measures the other tenants (builds, test suites) that make the figures noisy.
machine_busy() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat); sleep 3
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  python3 -c "a, b = [list(map(int, x.split())) for x in ('$a', '$b')]; d = [y - x for x, y in zip(a, b)]; print(f'{100 * d[0] / (d[0] + d[1]):.0f}%')"
}
BUSY_BEFORE=$(machine_busy)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT_A=$(free_port); PORT_B=$(free_port); NGINX_PORT=$(free_port)
while [ "$PORT_B" = "$PORT_A" ]; do PORT_B=$(free_port); done
while [ "$NGINX_PORT" = "$PORT_A" ] || [ "$NGINX_PORT" = "$PORT_B" ]; do NGINX_PORT=$(free_port); done
declare -A PORT=([A]=$PORT_A [B]=$PORT_B)
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(24))')

# ---------------------------------------------------------------- 1. data
echo "== database $DB: migrate, load $USERS users, $DATASETS datasets, $((USERS * PER_USER)) grants"
createdb -d "$PG_BASE/postgres" "$DB" 2>/dev/null || psql -q "$PG_BASE/postgres" -c "CREATE DATABASE $DB"
"$DSG" migrate > "$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; exit 1; }
T0=$(date +%s.%N)
psql -q -v users="$USERS" -v datasets="$DATASETS" -v per_user="$PER_USER" -v groups="$GROUPS_N" \
  -v extra_tokens=$((2 * REVOKES)) -v salt="$SALT" -f bench/scale.sql "$DATABASE_URL" > "$WORK/load.log"
LOAD_S=$(python3 -c "import time; print(f'{time.time() - $T0:.1f}')")
q() { psql -At "$DATABASE_URL" -c "$1"; }
COUNTS=$(q "SELECT (SELECT count(*) FROM dsg_user) || ' users, ' || (SELECT count(*) FROM dataset) || ' datasets, '
  || (SELECT count(*) FROM dataset_grant) || ' grants, ' || (SELECT count(*) FROM dsg_group) || ' groups, '
  || (SELECT count(*) FROM user_group) || ' memberships, ' || (SELECT count(*) FROM api_key) || ' tokens'")
DB_SIZE=$(q "SELECT pg_size_pretty(pg_database_size(current_database()))")
echo "   loaded in $LOAD_S s: $COUNTS; database $DB_SIZE"

# An admin (revokes through A) and a probe user shaped like the loaded ones
# (10 grants, one group) whose body sizes the nginx file — created by the
# server's own code path, after the bulk load.
python3 - "$WORK/seed.json" "$DATASETS" <<'PY'
import json, sys
datasets = int(sys.argv[2])
json.dump({
    "users": [
        {"key": "admin", "email": "bench-admin@bench.example.org", "admin": True,
         "tokens": [{"key": "t", "expires_in_s": None}]},
        {"key": "probe", "email": "bench-probe@bench.example.org", "name": "probe",
         "tokens": [{"key": "t", "expires_in_s": None}]},
    ],
    "memberships": [{"user": "probe", "group": "lab1"}],
    "grants": [{"user": "probe", "dataset": f"ds{(7 + k * 97) % datasets + 1:05d}",
                "permission": ["view", "edit", "manage", "admin"][k % 4]} for k in range(10)],
}, open(sys.argv[1], "w"))
PY
"$DSG" seed "$WORK/seed.json" > "$WORK/seeded.json"
read -r ADMIN_TOKEN PROBE_TOKEN < <(python3 -c "
import json; s = json.load(open('$WORK/seeded.json'))['users']
print(s['admin']['tokens']['t'], s['probe']['tokens']['t'])")

# Plaintext tokens, recomputed with bench/scale.sql's formula: token n = hex(sha256(salt:n)).
tok() { q "SELECT $3 encode(sha256(convert_to('$SALT:' || n, 'UTF8')), 'hex') FROM generate_series($1, $2) AS n"; }
tok 1 $((USERS / 2)) "" > "$WORK/cold_a.txt"             # users 1 .. U/2: cold on A
tok $((USERS / 2 + 1)) "$USERS" "" > "$WORK/cold_b.txt"  # users U/2+1 .. U: cold on B
cat "$WORK/cold_a.txt" "$WORK/cold_b.txt" > "$WORK/cold_all.txt"
head -n "$WARM_TOKENS" "$WORK/cold_a.txt" > "$WORK/warm.txt"
tok $((USERS + 1)) $((USERS + REVOKES)) "n || ' ' ||" > "$WORK/revoke1.txt"
tok $((USERS + REVOKES + 1)) $((USERS + 2 * REVOKES)) "n || ' ' ||" > "$WORK/revoke2.txt"

# ---------------------------------------------------------------- replicas
start_replica() {   # NAME [env VAR=value ...]
  local name=$1; shift
  env DSG_SERVER__BIND="127.0.0.1:${PORT[$name]}" DSG_SERVER__SECRET_KEY="$SECRET" \
    DSG_DATABASE__DATA_DIR="$WORK/data-$name" "$@" \
    "$DSG" serve > "$WORK/serve-$name.log" 2>&1 &
  PID[$name]=$!
}
wait_ready() {      # NAME...
  local name
  for name in "$@"; do
    for _ in $(seq 1 300); do
      [ "$(curl -s -o "$WORK/readyz-$name.json" -w '%{http_code}' "http://127.0.0.1:${PORT[$name]}/readyz")" = 200 ] && continue 2
      kill -0 "${PID[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    echo "replica $name not ready:"; cat "$WORK/readyz-$name.json" 2>/dev/null; cat "$WORK/serve-$name.log"; exit 1
  done
}
stop_replica() { kill "${PID[$1]}"; wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/${PID[$1]}/status"; }
metric() {          # NAME METRIC → value (sum over label sets)
  curl -s "http://127.0.0.1:${PORT[$1]}/metrics" | awk -v m="$2" '$1 ~ "^dsg_"m"(_total)?$" {s += $2} END {print s + 0}'
}
# How a replica hears of other replicas' changes, from /readyz: SQLite names
# a "mode"; PostgreSQL reports its LISTEN (and Redis) links instead.
feed_mode() {
  curl -s "http://127.0.0.1:${PORT[$1]}/readyz" | python3 -c '
import json, sys
feed = json.load(sys.stdin)["checks"]["cache_feed"]
parts = [feed["mode"]] if "mode" in feed else []
for key, name in (("postgres_listen", "LISTEN"), ("redis_subscription", "Redis")):
    if key in feed:
        parts.append(f"{name} {feed[key]}")
print(", ".join(parts) or "unknown")'
}

# wrk → "req/s p50 p99 non2xx cpu_us_per_request requests reused" ($CPU_PIDS: server processes)
cpu_ticks() { local t=0 p; for p in $CPU_PIDS; do set -- $(cut -d' ' -f14,15 "/proc/$p/stat"); t=$((t + $1 + $2)); done; echo "$t"; }
parse_wrk() {       # FILE CPU_TICKS
  python3 - "$1" "$2" "$(getconf CLK_TCK)" <<'PY'
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
reused = re.search(r"^reused (\d+)", t, re.M)
active = re.search(r"^active_s ([\d.]+)", t, re.M)
n = int(total.group(1)) if total else 0
cpu = ticks / hz * 1e6 / n if n else float("nan")
# once.lua: requests over the time the threads were actually sending.
rate = n / float(active.group(1)) if active and float(active.group(1)) > 0 else float(rps.group(1)) if rps else 0
print(f"{rate:.0f} {lat(50):.3f} {lat(99):.3f} "
      f"{non2xx.group(1) if non2xx else 0} {cpu:.1f} {n} {reused.group(1) if reused else 0}")
PY
}
# run_wrk URL TOKENS SCRIPT THREADS CONNS DURATION OUTFILE (raw wrk output)
run_wrk() {
  TOKENS=$2 THREADS=$4 DURATION=$6 wrk -t"$4" -c"$5" -d"$6s" --latency -s "bench/$3" "$1" > "$7" 2>&1 || true
}
# One wrk per target in parallel; prints one parse_wrk line per target, then
# the CPU of all $CPU_PIDS over the whole run is attributed per request of the sum.
# pair_wrk SCRIPT THREADS CONNS DURATION URL1 TOKENS1 URL2 TOKENS2
pair_wrk() {
  local s=$1 t=$2 c=$3 d=$4 c0 c1
  c0=$(cpu_ticks)
  run_wrk "$5" "$6" "$s" "$t" "$c" "$d" "$WORK/wrk1.txt" &
  local w1=$!
  run_wrk "$7" "$8" "$s" "$t" "$c" "$d" "$WORK/wrk2.txt" &
  local w2=$!
  wait "$w1" "$w2"
  c1=$(cpu_ticks)
  python3 - "$(parse_wrk "$WORK/wrk1.txt" 0)" "$(parse_wrk "$WORK/wrk2.txt" 0)" "$((c1 - c0))" "$(getconf CLK_TCK)" <<'PY'
import sys
a, b = (list(map(float, x.split())) for x in sys.argv[1:3])
ticks, hz = int(sys.argv[3]), int(sys.argv[4])
n = a[5] + b[5]
cpu = ticks / hz * 1e6 / n if n else float("nan")
# summed req/s, p50 A/B, p99 A/B, non-2xx, CPU µs/req over both, requests, reused
print(f"{a[0] + b[0]:.0f} {a[1]:.3f}/{b[1]:.3f} {a[2]:.3f}/{b[2]:.3f} {a[3] + b[3]:.0f} {cpu:.1f} {n:.0f} {a[6] + b[6]:.0f}")
PY
}
one_wrk() {         # SCRIPT THREADS CONNS DURATION URL TOKENS
  local c0 c1
  c0=$(cpu_ticks)
  run_wrk "$5" "$6" "$1" "$2" "$3" "$4" "$WORK/wrk1.txt"
  c1=$(cpu_ticks)
  parse_wrk "$WORK/wrk1.txt" "$((c1 - c0))"
}
URL_A=http://127.0.0.1:$PORT_A
URL_B=http://127.0.0.1:$PORT_B

echo "== replicas A (:$PORT_A) and B (:$PORT_B), waiting for /readyz"
start_replica A; start_replica B
wait_ready A B
sleep 1
RSS_IDLE_A=$(rss_mb A); RSS_IDLE_B=$(rss_mb B)
MODE_B=$(feed_mode B)
echo "   idle RSS: A $RSS_IDLE_A MB, B $RSS_IDLE_B MB; change feed: $MODE_B"

# ---------------------------------------------------------------- 3. cold, two replicas
echo "== cold user/cache, both replicas at once ($((USERS / 2)) distinct users each, each token once)"
CPU_PIDS="${PID[A]} ${PID[B]}"
read -r C2_RPS C2_P50 C2_P99 C2_BAD C2_CPU C2_N C2_REUSED < <(pair_wrk once.lua 1 16 "$COLD_DURATION" "$URL_A" "$WORK/cold_a.txt" "$URL_B" "$WORK/cold_b.txt")
C2_TMISS=$(( $(metric A cache_token_misses) + $(metric B cache_token_misses) ))
C2_DMISS=$(( $(metric A cache_document_misses) + $(metric B cache_document_misses) ))
echo "   $C2_RPS req/s, p50 $C2_P50 ms, p99 $C2_P99 ms; $C2_N requests, $C2_TMISS token misses, $C2_DMISS document misses, $C2_REUSED reused"
# Memory after the load: finish the pass (untimed) so that each replica holds
# all of its half of the users — the requests above are hits now, the rest misses.
echo "== filling both caches: every token of each half once more (untimed), then VmRSS"
# wrk's main thread sleeps its whole -d even when once.lua's threads are done,
# so the budget comes from the cold rate just measured (twice the expected time).
fill_secs() { python3 -c "print(min(600, int(2 * $1 / max(float('$2'), 1.0)) + 10))"; }
pair_wrk once.lua 1 16 "$(fill_secs "$USERS" "$C2_RPS")" "$URL_A" "$WORK/cold_a.txt" "$URL_B" "$WORK/cold_b.txt" > /dev/null
RSS_COLD_A=$(rss_mb A); RSS_COLD_B=$(rss_mb B)
DOCS_A=$(metric A cache_documents); DOCS_B=$(metric B cache_documents)
echo "   RSS A $RSS_COLD_A MB ($DOCS_A documents), B $RSS_COLD_B MB ($DOCS_B documents)"

# The loaded data reads back as the schema intends: user 1's document.
curl -s -H "Authorization: Bearer $(head -1 "$WORK/cold_a.txt")" "$URL_A/api/v1/user/cache" > "$WORK/u1.json"
DOC_CHECK=$(python3 -c "
import json; d = json.load(open('$WORK/u1.json'))
assert d['id'] == 1, d
print(f\"user 1: {len(d['permissions_v2'])} datasets, groups {d.get('groups')}\")")
echo "   $DOC_CHECK"

# ---------------------------------------------------------------- nginx yardstick
curl -s -H "Authorization: Bearer $PROBE_TOKEN" "$URL_A/api/v1/user/cache" > "$WORK/static.json"
BODY_BYTES=$(wc -c < "$WORK/static.json")
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
NGINX_PIDS=$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')

# ---------------------------------------------------------------- 4. warm
echo "== warm user/cache ($WARM_TOKENS tokens): nginx, A alone (one wrk, then two), A+B; $REPEAT alternating rounds"
CPU_PIDS="${PID[A]} ${PID[B]}" pair_wrk tokens.lua 1 16 3 "$URL_A" "$WORK/warm.txt" "$URL_B" "$WORK/warm.txt" > /dev/null  # warm-up
: > "$WORK/ng.txt"; : > "$WORK/w1.txt"; : > "$WORK/w1x2.txt"; : > "$WORK/w2.txt"
for r in $(seq 1 "$REPEAT"); do
  CPU_PIDS=$NGINX_PIDS one_wrk tokens.lua 2 32 "$DURATION" "http://127.0.0.1:$NGINX_PORT" "$WORK/warm.txt" >> "$WORK/ng.txt"
  CPU_PIDS=${PID[A]} one_wrk tokens.lua 2 32 "$DURATION" "$URL_A" "$WORK/warm.txt" >> "$WORK/w1.txt"
  # Control: A alone driven exactly like the pair (two wrk -t1 -c16), to tell client from server effects.
  CPU_PIDS=${PID[A]} pair_wrk tokens.lua 1 16 "$DURATION" "$URL_A" "$WORK/warm.txt" "$URL_A" "$WORK/warm.txt" >> "$WORK/w1x2.txt"
  CPU_PIDS="${PID[A]} ${PID[B]}" pair_wrk tokens.lua 1 16 "$DURATION" "$URL_A" "$WORK/warm.txt" "$URL_B" "$WORK/warm.txt" >> "$WORK/w2.txt"
  echo "   round $r: nginx $(cut -d' ' -f1 < <(tail -1 "$WORK/ng.txt")), A $(cut -d' ' -f1 < <(tail -1 "$WORK/w1.txt")), A with two wrk $(cut -d' ' -f1 < <(tail -1 "$WORK/w1x2.txt")), A+B $(cut -d' ' -f1 < <(tail -1 "$WORK/w2.txt")) req/s"
done
kill "$(cat "$WORK/nginx.pid")"; rm -f "$WORK/nginx.pid"; sleep 0.3
# Median row by req/s (keeps each row's own latencies together).
median_row() { sort -n -k1,1 "$1" | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"; }
read -r NG_RPS NG_P50 NG_P99 NG_BAD NG_CPU _ _ < <(median_row "$WORK/ng.txt")
read -r W1_RPS W1_P50 W1_P99 W1_BAD W1_CPU _ _ < <(median_row "$WORK/w1.txt")
read -r W1X_RPS W1X_P50 W1X_P99 W1X_BAD W1X_CPU _ _ < <(median_row "$WORK/w1x2.txt")
read -r W2_RPS W2_P50 W2_P99 W2_BAD W2_CPU _ _ < <(median_row "$WORK/w2.txt")
RSS_WARM_A=$(rss_mb A); RSS_WARM_B=$(rss_mb B)

# ---------------------------------------------------------------- 5. cold, one replica
echo "== cold user/cache, A alone (restarted: empty caches), $USERS distinct users"
stop_replica A; start_replica A; wait_ready A
CPU_PIDS=${PID[A]}
read -r C1_RPS C1_P50 C1_P99 C1_BAD C1_CPU C1_N C1_REUSED < <(one_wrk once.lua 2 32 "$COLD_DURATION" "$URL_A" "$WORK/cold_all.txt")
C1_TMISS=$(metric A cache_token_misses); C1_DMISS=$(metric A cache_document_misses)
echo "   $C1_RPS req/s, p50 $C1_P50 ms, p99 $C1_P99 ms; $C1_N requests, $C1_TMISS token misses, $C1_DMISS document misses, $C1_REUSED reused"
echo "== filling A's cache with all $USERS users (untimed), then VmRSS"
one_wrk once.lua 2 32 "$(fill_secs "$USERS" "$C1_RPS")" "$URL_A" "$WORK/cold_all.txt" > /dev/null
RSS_ALL_A=$(rss_mb A); DOCS_ALL_A=$(metric A cache_documents)
echo "   RSS A $RSS_ALL_A MB ($DOCS_ALL_A documents)"

echo "== cold user/cache, A alone (restarted), one connection: latency without queueing"
stop_replica A; start_replica A; wait_ready A
CPU_PIDS=${PID[A]}
read -r CU_RPS CU_P50 CU_P99 CU_BAD CU_CPU CU_N CU_REUSED < <(one_wrk once.lua 1 1 5 "$URL_A" "$WORK/cold_all.txt")
echo "   $CU_RPS req/s, p50 $CU_P50 ms, p99 $CU_P99 ms; $CU_N requests"

# ---------------------------------------------------------------- 6. revoke → 401
revoke_run() {      # TOKENS_FILE LABEL
  local inv0 inv1
  inv0=$(metric B cache_invalidations)
  python3 bench/revoke_latency.py "$URL_A" "$URL_B" "$ADMIN_TOKEN" "$1" "$WORK/revoke-$2.raw" > "$WORK/revoke-$2.json"
  inv1=$(metric B cache_invalidations)
  echo "   $2: $(cat "$WORK/revoke-$2.json"); B applied $((inv1 - inv0)) invalidations"
}
# The polls answer 401 on purpose, thousands of times from one address: the
# failed-authentication limit (60 a minute by default) is off for this part.
NO_LIMIT=DSG_RATE_LIMIT__FAILED_AUTH__LIMIT=0
stop_replica A; stop_replica B
start_replica A "$NO_LIMIT"; start_replica B "$NO_LIMIT"
wait_ready A B
sleep 1
echo "== revoke on A → first 401 on B, $REVOKES revocations (PostgreSQL LISTEN/NOTIFY; feed on B: $(feed_mode B))"
revoke_run "$WORK/revoke1.txt" pg

# ---------------------------------------------------------------- 7. with Redis
REDIS_NOTE="not run: Redis at $REDIS_URL did not answer"
if command -v redis-cli >/dev/null && [ "$(redis-cli -u "$REDIS_URL" PING 2>/dev/null)" = PONG ]; then
  echo "== revoke on A → first 401 on B with DSG_REDIS__URL on both replicas (prefix $REDIS_PREFIX)"
  stop_replica A; stop_replica B
  start_replica A "$NO_LIMIT" DSG_REDIS__URL="$REDIS_URL" DSG_REDIS__KEY_PREFIX="$REDIS_PREFIX"
  start_replica B "$NO_LIMIT" DSG_REDIS__URL="$REDIS_URL" DSG_REDIS__KEY_PREFIX="$REDIS_PREFIX"
  wait_ready A B
  sleep 1
  # Whether the replicas use Redis as a doorbell: their pub/sub subscriptions under the prefix.
  SUBS=$(redis-cli -u "$REDIS_URL" PUBSUB CHANNELS "$REDIS_PREFIX*" | xargs)
  NUMPAT=$(redis-cli -u "$REDIS_URL" PUBSUB NUMPAT)
  REDIS_NOTE="replicas started with DSG_REDIS__URL; Redis channels under '$REDIS_PREFIX': ${SUBS:-none} (pattern subscriptions on the server: $NUMPAT)"
  echo "   $REDIS_NOTE"
  revoke_run "$WORK/revoke2.txt" redis
fi

# ---------------------------------------------------------------- report
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
rv() { python3 -c "import json; d = json.load(open('$WORK/revoke-$1.json')); print(d['$2'])" 2>/dev/null || echo "–"; }
BUSY_AFTER=$(machine_busy)
{
  echo "# DatasetGateway: two replicas on PostgreSQL — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Command: \`bash bench/replicas.sh\` (DURATION=$DURATION COLD_DURATION=$COLD_DURATION REPEAT=$REPEAT)."
  echo "Machine: $(nproc) cores, shared; wrk, nginx, PostgreSQL and both replicas on it. Other tenants' load: CPU $BUSY_BEFORE busy"
  echo "before the run and $BUSY_AFTER after it (3 s samples, no load of ours running); load average $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after."
  echo "World: $COUNTS (bench/scale.sql, loaded in $LOAD_S s; database $DB_SIZE), PostgreSQL $(q 'SHOW server_version')."
  echo "Body: $BODY_BYTES bytes. Replicas: release build, default config (database.max_connections 8, cache.poll_interval_ms 500)."
  echo
  echo "## Throughput"
  echo
  echo "Warm rows: medians of $REPEAT alternating rounds over $WARM_TOKENS tokens. \"A+B\" = one wrk -t1 -c16 per replica in"
  echo "parallel (client-side round robin), req/s summed, p50/p99 shown per replica (A/B); the single rows use one wrk -t2 -c32."
  echo "Cold rows: replicas started with empty caches; every request a user and token the replica has not seen (bench/once.lua)."
  echo "Server CPU per request includes the kernel's loopback TCP work."
  echo
  echo "| run | req/s | × nginx | × one replica | p50 ms | p99 ms | non-2xx | server CPU µs/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  echo "| nginx static JSON (2 workers) | $NG_RPS | 1.00 | | $NG_P50 | $NG_P99 | $NG_BAD | $NG_CPU |"
  echo "| dsg warm, one replica | $W1_RPS | $(ratio "$W1_RPS" "$NG_RPS") | 1.00 | $W1_P50 | $W1_P99 | $W1_BAD | $W1_CPU |"
  echo "| dsg warm, one replica, two wrk -t1 -c16 (control) | $W1X_RPS | $(ratio "$W1X_RPS" "$NG_RPS") | $(ratio "$W1X_RPS" "$W1_RPS") | $W1X_P50 | $W1X_P99 | $W1X_BAD | $W1X_CPU |"
  echo "| dsg warm, two replicas (A+B) | $W2_RPS | $(ratio "$W2_RPS" "$NG_RPS") | $(ratio "$W2_RPS" "$W1_RPS") | $W2_P50 | $W2_P99 | $W2_BAD | $W2_CPU |"
  echo "| dsg cold, one replica | $C1_RPS | $(ratio "$C1_RPS" "$NG_RPS") | 1.00 | $C1_P50 | $C1_P99 | $C1_BAD | $C1_CPU |"
  echo "| dsg cold, two replicas (A+B) | $C2_RPS | $(ratio "$C2_RPS" "$NG_RPS") | $(ratio "$C2_RPS" "$C1_RPS") | $C2_P50 | $C2_P99 | $C2_BAD | $C2_CPU |"
  echo "| dsg cold, one replica, one connection (wrk -t1 -c1) | $CU_RPS | | | $CU_P50 | $CU_P99 | $CU_BAD | $CU_CPU |"
  echo
  echo "Cold runs, how cold: one replica $C1_N requests, $C1_TMISS token misses, $C1_DMISS document misses, $C1_REUSED token reuses"
  echo "(in flight when a wrk thread ran out of tokens); two replicas $C2_N requests, $C2_TMISS token misses, $C2_DMISS document misses, $C2_REUSED reuses."
  echo "$DOC_CHECK (read back through the API from the bulk-loaded rows)."
  echo
  echo "## Revoke on A → first 401 on B"
  echo
  echo "$REVOKES revocations each (bench/revoke_latency.py): B holds the token (200), A revokes it (DELETE /api/v1/tokens/{id}),"
  echo "B is polled back to back on a keep-alive connection until it answers 401; delay from the revoke's response to that 401."
  echo
  echo "| replicas share changes through | p50 ms | p99 ms | max ms | mean ms | 401 on first poll | > 10 s | revoke request p50 ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  echo "| PostgreSQL LISTEN/NOTIFY ($MODE_B) | $(rv pg p50_ms) | $(rv pg p99_ms) | $(rv pg max_ms) | $(rv pg mean_ms) | $(rv pg visible_on_first_poll) | $(rv pg failures_over_10s) | $(rv pg revoke_request_p50_ms) |"
  if [ -f "$WORK/revoke-redis.json" ]; then
    echo "| same, DSG_REDIS__URL set on both | $(rv redis p50_ms) | $(rv redis p99_ms) | $(rv redis max_ms) | $(rv redis mean_ms) | $(rv redis visible_on_first_poll) | $(rv redis failures_over_10s) | $(rv redis revoke_request_p50_ms) |"
  fi
  echo
  echo "Redis: $REDIS_NOTE."
  echo
  echo "## Memory (VmRSS)"
  echo
  echo "| replica | idle after start | after the cold load: its half of the users cached | after the warm runs | one replica holding all users |"
  echo "|---|---:|---:|---:|---:|"
  echo "| A | $RSS_IDLE_A MB | $RSS_COLD_A MB ($DOCS_A documents) | $RSS_WARM_A MB | $RSS_ALL_A MB ($DOCS_ALL_A documents) |"
  echo "| B | $RSS_IDLE_B MB | $RSS_COLD_B MB ($DOCS_B documents) | $RSS_WARM_B MB | |"
} | tee "$RESULTS"
