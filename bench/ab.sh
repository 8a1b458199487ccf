#!/usr/bin/env bash
# A/B tuning runs: several server variants and nginx, warm user/cache with one
# token, in alternating rounds on the same small world (2,000 users, 1,000
# datasets, 20,000 grants, SQLite), medians and ratios to nginx printed.
# How the choices in bench/results-hot-path.md were measured.
#
#   bench/ab.sh "name|ENV=1 ENV2=x|/path/to/dsg" "other||/path/to/other-dsg" ...
#   R=7 D=3 bench/ab.sh ...      # rounds, seconds per run
#
# Each variant runs `dsg serve` with the default configuration plus its
# environment (e.g. LD_PRELOAD=… to try an allocator, LOG_LEVEL=warn).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${D:-5}; R=${R:-3}; SCRIPT=${SCRIPT:-bench/tokens.lua}; TOK=${TOK:-one}
W=${AB_WORK:-/tmp/dsg-ab}; mkdir -p $W
SEED_BIN=${SEED_BIN:-$(IFS='|' read -r _ _ b <<< "$1"; echo "$b")}
if [ ! -f $W/seeded.json ]; then
  rm -f $W/db.sqlite3*
  python3 bench/gen_fixture.py 2000 1000 20000 2 versions > $W/fixture.json
  DATABASE_PATH=$W/db.sqlite3 "$SEED_BIN" seed $W/fixture.json > $W/seeded.json
  python3 - <<PY
import json
s = json.load(open("$W/seeded.json"))["users"]
open("$W/one.txt","w").write(s["u1"]["tokens"]["t0"]+"\n")
open("$W/all.txt","w").write("".join(s[f"u{u}"]["tokens"][f"t{k}"]+"\n" for k in range(2) for u in range(2000)))
PY
fi
mkdir -p $W/www/api/v1/user $W/nginx
port=18400; names=(); pids=()
for v in "$@"; do
  IFS='|' read -r name envs bin <<< "$v"
  env DATABASE_PATH=$W/db.sqlite3 DSG_SERVER__BIND=127.0.0.1:$port $envs $bin serve > $W/$name.log 2>&1 &
  pids+=($!); names+=("$name:$port"); port=$((port+1))
done
sleep 1.5
for n in "${names[@]}"; do curl -sf "http://127.0.0.1:${n#*:}/healthz" > /dev/null || { echo "$n down"; cat $W/${n%%:*}.log; }; done
curl -s -H "Authorization: Bearer $(cat $W/one.txt)" "http://127.0.0.1:${names[0]#*:}/api/v1/user/cache" > $W/www/api/v1/user/cache
cat > $W/nginx.conf <<NGX
worker_processes 2; pid $W/nginx.pid; error_log $W/nginx/error.log warn;
events { worker_connections 1024; }
http { access_log off; default_type application/json; keepalive_requests 1000000;
  server { listen 127.0.0.1:18399; root $W/www; } }
NGX
chmod -R a+rX $W; nginx -c $W/nginx.conf -p $W/nginx; sleep 0.3
trap 'kill ${pids[*]} 2>/dev/null; kill $(cat $W/nginx.pid) 2>/dev/null' EXIT
one() { TOKENS=$W/$TOK.txt wrk -t2 -c32 -d${D}s --latency -s $SCRIPT "http://127.0.0.1:$1" 2>&1 | awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$5} END {printf "%d %s %s %s\n", r, p50, p99, bad+0}'; }
for n in "${names[@]}"; do one ${n#*:} > /dev/null; done
for i in $(seq 1 $R); do
  echo "nginx $(one 18399)"
  for n in "${names[@]}"; do echo "${n%%:*} $(one ${n#*:})"; done
done | tee $W/ab.out
python3 - $W/ab.out <<'PY'
import sys, statistics, collections
d = collections.defaultdict(list)
for l in open(sys.argv[1]):
    p = l.split(); d[p[0]].append(int(p[1]))
ng = statistics.median(d["nginx"])
for k, v in d.items():
    m = statistics.median(v); print(f"{k:14s} median {m:8.0f}  x nginx {m/ng:.2f}  runs {v}")
PY
