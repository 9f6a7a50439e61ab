#!/usr/bin/env bash
# Upload throughput: `updraft upload` of a large bundle to `updraft serve` (embedded store),
# and to the local S3 server (s3s-fs) through `updraft serve --store aws`, with the peak RSS
# of the CLI (memory must stay bounded whatever the size).
#   bench/upload.sh [MiB (512)]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB="${1:-512}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/updraft/target}"
cargo build --release --locked -p updraft --bin updraft
BIN="$CARGO_TARGET_DIR/release/updraft"
. scripts/serve-local   # for free_port
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/dist"
echo '<html>notifyAppReady</html>' > "$WORK/dist/index.html"
head -c $((MIB * 1024 * 1024)) /dev/urandom > "$WORK/dist/blob.bin"   # incompressible: stored as is

run() { # name extra-serve-args...
  local name=$1; shift
  local port; port=$(free_port)
  UPDRAFT_ADMIN_KEY=upd_bench RUST_LOG=warn "$BIN" serve --listen 127.0.0.1:"$port" --data-dir "$WORK/data-$name" "$@" > "$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ok" >/dev/null && break; sleep 0.1; done
  export UPDRAFT_API_KEY=upd_bench UPDRAFT_API_URL="http://127.0.0.1:$port"
  (cd "$WORK" && "$BIN" app add com.bench.upload --json >/dev/null)
  (cd "$WORK" && /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" upload com.bench.upload --path dist --bundle 1.0.0 --compression 0 --json > "$WORK/$name.json")
  read -r secs kib < "$WORK/time"
  python3 -c "print('$name: %d MiB in %.2f s (zip + hash + PUT + finalize) = %.0f MiB/s, CLI peak RSS %d MiB' % ($MIB, $secs, $MIB / $secs, $kib / 1024))"
}
run embedded
if [ -n "${AWS_ENDPOINT_URL_S3:-}" ]; then
  UPDRAFT_TABLE=bench-upload UPDRAFT_BUCKET=bench-upload run s3 --store aws --create-resources
else
  echo "s3: skipped (source scripts/aws-local first to measure against s3s-fs)"
fi
