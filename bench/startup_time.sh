#!/usr/bin/env bash
# How long a newcomer waits: `scripts/run` on a fresh clone with empty wheel and pip caches, timed to the
# first HTTP 200 of / and to the probe engine being ready (var/probe-engine.json state "ready").
# Usage: bench/startup_time.sh [OUT]   (default bench/data/startup_time.txt); takes 5-15 minutes on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/bench/data/startup_time.txt}"
WORK="$(mktemp -d)"
PORT="${PORT:-8799}"
git clone -q "$ROOT" "$WORK/clone"
cd "$WORK/clone"
export LLM_FIT_WHEELS="$WORK/wheels" PIP_NO_CACHE_DIR=1 PORT
start=$(date +%s.%N)
setsid scripts/run >"$WORK/run.log" 2>&1 </dev/null &
pid=$!
trap 'kill -TERM -- -"$pid" 2>/dev/null || true; pkill -f "$WORK/clone/" 2>/dev/null || true' EXIT
first="" ready=""
for _ in $(seq 1 1800); do
  now=$(date +%s.%N)
  if [ -z "$first" ] && curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null | grep -q 200; then
    first=$(echo "$now - $start" | bc)
  fi
  if [ -z "$ready" ] && grep -q '"state": "ready"' var/probe-engine.json 2>/dev/null; then
    ready=$(echo "$now - $start" | bc)
  fi
  [ -n "$first" ] && [ -n "$ready" ] && break
  sleep 1
done
{
  echo "command: bench/startup_time.sh (scripts/run on a fresh clone, LLM_FIT_WHEELS and pip caches empty)"
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S') UTC; host: $(uname -m), $(nproc) CPUs; commit $(git rev-parse --short HEAD)"
  echo "first HTTP 200 of /: ${first:-none} s"
  echo "probe engine ready (llama-cpp-python built, worker started): ${ready:-none} s"
} | tee "$OUT"
