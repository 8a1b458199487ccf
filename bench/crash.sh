#!/usr/bin/env bash
# DatasetGateway: the crash test at full speed (issue 16, item 3). Not a
# test of its own: it runs crates/dsg/tests/it/crash.rs — the same load,
# SIGKILL, restart and checks — with the server from a release build and a
# larger load, and reports the rates reached.
#
#   bench/crash.sh                 # 3 runs per backend, kill after 6000 acknowledgements
#   ACKS=3000 RUNS=1 bench/crash.sh
#   BASELINE_BIN=/path/to/older/dsg bench/crash.sh   # alternate with a baseline
#
# The load generator stays in the (debug) test binary: 64 connections; at
# ~0.25 ms of client CPU per request it is not the limit. Each run prints
# one line per backend ("crash [Sqlite]: N mutations acknowledged in T s
# before the kill = R/s …"); the runs fail, as the test does, if any check
# fails. A throwaway PostgreSQL database is created and dropped.
#
# With BASELINE_BIN, every run is made once with that binary (lines marked
# "baseline") and once with this tree's, alternating, so both see the same
# machine load and the ratio between them means something.
#
# Results: bench/results-crash.md (and stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ACKS=${ACKS:-6000}
RUNS=${RUNS:-3}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432}
RESULTS=${RESULTS:-$ROOT/bench/results-crash.md}

echo "== release build of dsg"
cargo build --release --locked -p dsg --bin dsg
echo "== debug build of the test binary"
cargo test --workspace --locked --test it --no-run

DB="dsg_crash_bench_$$"
psql -q "$PG_BASE/postgres" -c "CREATE DATABASE $DB"
LOG=$(mktemp)
cleanup() {
  psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -f "$LOG"
}
trap cleanup EXIT

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
export DSG_TEST_PG_URL="$PG_BASE/$DB"
export DSG_CRASH_ACKS="$ACKS"
BASELINE_BIN=${BASELINE_BIN:-}
run() { # run LABEL BIN
  DSG_TEST_DSG_BIN="$2" cargo test --workspace --locked --test it -- crash:: --nocapture --test-threads 1 >"$LOG" 2>&1 || {
    cat "$LOG"
    echo "run $i ($1) failed" >&2
    exit 1
  }
  grep -o 'crash \[.*' "$LOG" | sed "s/^crash /crash $1 /" | tee -a "$LOG.lines"
}
for i in $(seq 1 "$RUNS"); do
  echo "== run $i of $RUNS"
  if [ -n "$BASELINE_BIN" ]; then run baseline "$BASELINE_BIN"; fi
  run this "$ROOT/target/release/dsg"
done

{
  echo "# Crash test against a release server"
  echo
  echo "\`bench/crash.sh\` (ACKS=$ACKS, RUNS=$RUNS) on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD),"
  echo "$(nproc) cores, $(uname -sr), load average before the runs: $LOAD_BEFORE (other work on the"
  echo "machine competes for the cores). Every run passed every check of the crash test."
  if [ -n "$BASELINE_BIN" ]; then
    echo "Baseline: $BASELINE_BIN ($("$BASELINE_BIN" --version 2>/dev/null || echo unknown version)), alternating with this tree's."
  fi
  echo
  echo '```'
  cat "$LOG.lines"
  echo '```'
} >"$RESULTS"
rm -f "$LOG.lines"
echo "== written $RESULTS"
