#!/usr/bin/env bash
# Load benchmark of the hot path: `updraft serve` (embedded store) answering POST /updates
# for a seeded app, driven by wrk on loopback with a new device id per request, against a
# minimal hyper server returning a fixed JSON body of the same size, in the same run.
#   bench/load.sh [seconds per run (20)] [soak seconds for the memory check (60)]
#   PROFILE=profiling PERF=1 bench/load.sh 20 0   # also: perf profile of updraft serve
# Needs wrk (apt-get install wrk), and perf for PERF=1. Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}"
SOAK="${2:-60}"
CONNS="${CONNS:-32}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/updraft/target}"
command -v wrk >/dev/null || { echo "error: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

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
trap 'kill $SERVE $REF_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do curl -sf -o /dev/null "$REF_URL/" -d '{}' && break; sleep 0.1; done

run() { # name url seconds
  wrk -t1 -c"$CONNS" -d"$3"s --latency -s bench/updates.lua "$2" > "$WORK/$1.wrk"
  local rps p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$1.wrk")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$WORK/$1.wrk")
  echo "$1: $rps req/s, p99 $p99 ${errors:+($errors)}"
  eval "${1}_RPS=$rps"
}
run reference "$REF_URL" "$DURATION"
if [ "${PERF:-0}" = 1 ]; then
  perf record -e cpu-clock -F 999 -p "$SERVE_PID" -o "$WORK/perf.data" -- sleep "$DURATION" 2> /dev/null &
  PERF_PID=$!
fi
run updraft "$URL" "$DURATION"
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
