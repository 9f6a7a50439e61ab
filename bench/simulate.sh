#!/usr/bin/env bash
# The fleet simulator against `updraft serve` (embedded store), on loopback: a channel on
# 1.0.1 with 1.0.2 rolling out to half the devices (50 kB bundles by default), N devices checking every
# PERIOD, stats and downloads mixed in. Prints the simulator's summary, its CPU time (so
# devices per core), and the server's check throughput under that fleet.
#   bench/simulate.sh [devices (5000)] [seconds (30)] [check period (2s)] [bundle bytes (50000)]
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES="${1:-5000}"
SECONDS_RUN="${2:-30}"
PERIOD="${3:-2s}"
BYTES="${4:-50000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/updraft/target}"
cargo build --release --locked -p updraft --bin updraft
BIN="$CARGO_TARGET_DIR/release/updraft"

. scripts/serve-local
serve_local "$BIN" bench
api() { curl -sf -H "Authorization: Bearer $KEY" -H 'content-type: application/json' "$@"; }
api -X POST "$URL/v1/apps" -d '{"app_id":"com.bench.app"}' >/dev/null
for v in 1.0.1 1.0.2; do
  head -c "$BYTES" /dev/urandom > "$WORK/$v.zip"
  SUM=$(sha256sum "$WORK/$v.zip" | cut -d' ' -f1)
  REG=$(api -X POST "$URL/v1/apps/com.bench.app/bundles" -d "{\"version\":\"$v\",\"size\":$BYTES,\"checksum\":\"$SUM\"}")
  PUT_URL=$(printf '%s' "$REG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["upload"]["url"])')
  curl -sf -X PUT --data-binary @"$WORK/$v.zip" "$PUT_URL" >/dev/null
  api -X POST "$URL/v1/apps/com.bench.app/bundles/$v/finalize" >/dev/null
done
api -X POST "$URL/v1/apps/com.bench.app/channels" -d '{"name":"production","public":true,"bundle":"1.0.1"}' >/dev/null
api -X POST "$URL/v1/apps/com.bench.app/channels/production/rollout" -d '{"bundle":"1.0.2","share":5000}' >/dev/null

SERVE_CPU0=$(awk '{print $14+$15}' /proc/$SERVE/stat)
/usr/bin/time -f '%U %S %e' -o "$WORK/time" "$BIN" simulate --url "$URL" --app com.bench.app \
  --devices "$DEVICES" --duration "${SECONDS_RUN}s" --check-every "$PERIOD" --json > "$WORK/summary.json" 2> "$WORK/progress"
SERVE_CPU1=$(awk '{print $14+$15}' /proc/$SERVE/stat)
python3 - "$WORK/summary.json" "$WORK/time" "$DEVICES" "$SERVE_CPU0" "$SERVE_CPU1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
user, system, wall = map(float, open(sys.argv[2]).read().split())
devices = int(sys.argv[3])
tick = 100.0
serve_cpu = (float(sys.argv[5]) - float(sys.argv[4])) / tick
cores = (user + system) / wall
print(f"devices {devices}, {s['seconds']:.1f} s: checks {s['checks']} ({s['checks']/s['seconds']:.0f}/s), "
      f"downloads {s['downloads']} ({s['bytes']/1e6:.0f} MB), installs {s['installs']}, errors {s['errors']}")
for route, l in s['latency'].items():
    print(f"  {route}: p50 {l['p50_ms']:.2f} ms, p99 {l['p99_ms']:.2f} ms ({l['count']} requests)")
print(f"simulator CPU: {user+system:.1f} s over {wall:.1f} s = {cores:.2f} cores -> {devices/max(cores,1e-9):.0f} devices per core at this rhythm")
print(f"updraft serve CPU: {serve_cpu:.1f} s -> {s['checks']/max(serve_cpu,1e-9):.0f} checks per CPU-second (with stats and downloads)")
PY
