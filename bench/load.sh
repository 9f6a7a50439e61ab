#!/usr/bin/env bash
# Load benchmark of the hot path: `updraft serve` (embedded store) answering POST /updates
# for a seeded app, driven by wrk on loopback with a new device id per request, against two
# references returning a fixed JSON body of the same size, in the same run: nginx (the target:
# updraft at >= 0.6x of it) and a minimal hyper server (what Rust's HTTP stack alone does).
#   bench/load.sh [seconds per run (20)] [soak seconds for the memory check (60)]
#   PROFILE=profiling PERF=1 bench/load.sh 20 0   # also: perf profile of updraft serve
# Needs wrk and nginx (apt-get install wrk nginx-light), and perf for PERF=1. Loopback only;
# every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}"
SOAK="${2:-60}"
CONNS="${CONNS:-32}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/updraft/target}"
command -v wrk >/dev/null || { echo "error: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$NGINX" ] || { echo "error: nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }

PROFILE="${PROFILE:-release}"
cargo build --profile "$PROFILE" --locked -p updraft --bin updraft --example reference_server
BIN="$CARGO_TARGET_DIR/$PROFILE/updraft"
REF="$CARGO_TARGET_DIR/$PROFILE/examples/reference_server"

. scripts/serve-local
serve_local "$BIN" bench
SERVE_PID=$SERVE
api() { curl -sf -H "Authorization: Bearer $KEY" -H 'content-type: application/json' "$@"; }
api -X POST "$URL/v1/apps" -d '{"app_id":"com.bench.app"}' >/dev/null
head -c 2000000 /dev/urandom > "$WORK/bundle.zip"
SUM=$(sha256sum "$WORK/bundle.zip" | cut -d' ' -f1)
REG=$(api -X POST "$URL/v1/apps/com.bench.app/bundles" -d "{\"version\":\"1.0.1\",\"size\":2000000,\"checksum\":\"$SUM\"}")
PUT_URL=$(printf '%s' "$REG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["upload"]["url"])')
curl -sf -X PUT --data-binary @"$WORK/bundle.zip" "$PUT_URL" >/dev/null
api -X POST "$URL/v1/apps/com.bench.app/bundles/1.0.1/finalize" >/dev/null
api -X POST "$URL/v1/apps/com.bench.app/channels" -d '{"name":"production","public":true,"bundle":"1.0.1"}' >/dev/null
ANSWER=$(curl -sf "$URL/updates" -d '{"platform":"android","device_id":"6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f","app_id":"com.bench.app","version_build":"1.0.0","version_name":"builtin","plugin_version":"8.51.14"}')
SIZE=${#ANSWER}
echo "update answer: $SIZE bytes"

REF_URL="http://127.0.0.1:$(free_port)"
"$REF" "${REF_URL#http://}" "$SIZE" > "$WORK/ref.log" 2>&1 &
REF_PID=$!
# nginx as it is usually run for speed: one worker per core, no access log, keep-alive.
NGINX_PORT=$(free_port)
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
BODY=$(python3 -c "import sys; n=int(sys.argv[1]); print('{\"x\":\"' + 'a' * (n - 8) + '\"}', end='')" "$SIZE")
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type application/json; return 200 '$BODY'; }
  }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2> "$WORK/nginx/start.log" &
NGINX_PID=$!
trap 'kill $SERVE $REF_PID $NGINX_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do curl -sf -o /dev/null "$REF_URL/" -d '{}' && break; sleep 0.1; done
for _ in $(seq 1 50); do curl -sf -o /dev/null "$NGINX_URL/updates" -d '{}' && break; sleep 0.1; done
[ "$(curl -sf "$NGINX_URL/updates" -d '{}' | wc -c)" = "$SIZE" ] || { echo "error: nginx's body is not $SIZE bytes" >&2; exit 1; }

run() { # name url seconds
  wrk -t1 -c"$CONNS" -d"$3"s --latency -s bench/updates.lua "$2" > "$WORK/$1.wrk"
  local rps p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$1.wrk")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$WORK/$1.wrk")
  echo "$1: $rps req/s, p99 $p99 ${errors:+($errors)}"
  eval "${1}_RPS=$rps"
}
run nginx "$NGINX_URL" "$DURATION"
run reference "$REF_URL" "$DURATION"
if [ "${PERF:-0}" = 1 ]; then
  perf record -e cpu-clock -F 999 -p "$SERVE_PID" -o "$WORK/perf.data" -- sleep "$DURATION" 2> /dev/null &
  PERF_PID=$!
fi
run updraft "$URL" "$DURATION"
python3 -c "print('updraft / nginx: %.2fx (target >= 0.6x)' % ($updraft_RPS / $nginx_RPS))"
python3 -c "print('updraft / reference: %.0f %%' % (100 * $updraft_RPS / $reference_RPS))"
if [ "${PERF:-0}" = 1 ]; then
  wait "$PERF_PID" || true
  echo "perf: where updraft serve spends its cycles (self time, by thread and symbol)"
  perf report -i "$WORK/perf.data" --no-children --sort comm,dso --stdio 2> /dev/null | grep -v '^#' | grep -v '^$' | head -12
  for thread in tokio-rt-worker updraft-events; do
    echo "perf: $thread"
    perf report -i "$WORK/perf.data" --no-children --comm "$thread" --sort sym --stdio --percent-limit 0.6 2> /dev/null | grep -v '^#' | grep -v '^$' | head -40
  done
fi
[ "$SOAK" -gt 0 ] || exit 0

echo "soak: ${SOAK}s of checks, RSS of updraft serve every 10 s (KiB):"
wrk -t1 -c"$CONNS" -d"$SOAK"s -s bench/updates.lua "$URL" > "$WORK/soak.wrk" &
WRK=$!
for _ in $(seq 0 10 "$SOAK"); do
  printf '%s ' "$(awk '/VmRSS/ {print $2}' /proc/$SERVE_PID/status)"
  sleep 10
done
wait "$WRK"
echo
awk '/Requests\/sec|requests in|Non-2xx|Socket errors/' "$WORK/soak.wrk"
