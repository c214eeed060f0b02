#!/usr/bin/env bash
# Load test: wrk against gunicorn (2 workers, loopback) on GET /api/recommendations.
# Target (issue 7): >= 300 req/s, p99 < 200 ms, 0 errors. Writes bench/data/load_recommendations.txt.
# Usage: bench/load_recommendations.sh [duration_s] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-30}"; conns="${2:-16}"
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 2; }
tmp="$(mktemp -d)"; trap 'kill $(cat "$tmp/gunicorn.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
export DEBUG=0 SECRET_KEY="bench-only-secret-key-$(date +%s)-0123456789abcdefghijklmnopqrstuvwxyz" \
  ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=0 VAR_DIR="$tmp" PYTHONUNBUFFERED=1
unset REDIS_URL
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py load_catalog >/dev/null
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.venv/bin/gunicorn advisor.wsgi:application --bind "127.0.0.1:$port" --workers 2 --pid "$tmp/gunicorn.pid" \
  --daemon --error-logfile "$tmp/gunicorn.log"
url="http://127.0.0.1:$port/api/recommendations?gpu=RTX+4090&gpu_count=1&ram=64&ctx=16384&kv_type=q8_0&runtime=llama-server&use_case=coding"
for _ in $(seq 50); do curl -sf -o /dev/null "$url" && break; sleep 0.2; done
first_ms=$(curl -s -o /dev/null -w '%{time_total}' "$url")
out="bench/data/load_recommendations.txt"
{
  echo "# bench/load_recommendations.sh $dur $conns   ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo "# machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr); gunicorn 2 workers, loopback"
  echo "# URL: $url"
  echo "# one request before the run took ${first_ms}s (cached afterwards: same spec, same catalog)"
  wrk -t2 -c"$conns" -d"${dur}s" --latency "$url"
} | tee "$out"
rps=$(awk '/Requests\/sec/{print $2}' "$out")
p99=$(awk '$1=="99%"{print $2}' "$out")
errors=$(awk '/Non-2xx|Socket errors/{print}' "$out")
echo "requests/s=$rps p99=$p99 errors=${errors:-none}" | tee -a "$out"
