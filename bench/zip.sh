#!/usr/bin/env bash
# `updraft bundle zip` against `capgo bundle zip` (@capgo/cli from npm, offline) on the same
# generated ~110 MB web build, same machine, same run: wall time and peak RSS.
#   bench/zip.sh [runs (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/updraft/target}"
CAPGO_DIR="${UPDRAFT_CACHE:-$HOME/.cache/updraft}/capgo"
if [ ! -x "$CAPGO_DIR/node_modules/.bin/capgo" ]; then
  mkdir -p "$CAPGO_DIR"
  (cd "$CAPGO_DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund @capgo/cli @capgo/capacitor-updater >/dev/null)
fi
cargo build --release --locked -p updraft --bin updraft
UPDRAFT="$CARGO_TARGET_DIR/release/updraft"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 bench/make-webapp.py "$WORK/dist"
cat > "$WORK/package.json" <<JSON
{"name":"zip-bench","version":"1.0.0","dependencies":{"@capgo/capacitor-updater":"*"}}
JSON
echo '{"appId":"com.bench.zip","appName":"bench","webDir":"dist"}' > "$WORK/capacitor.config.json"
ln -s "$CAPGO_DIR/node_modules" "$WORK/node_modules"

measure() { # name command...
  local name=$1; shift
  for i in $(seq 1 "$RUNS"); do
    find "$WORK" -name '*.zip' -delete
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out.json" 2> "$WORK/err.log" || { cat "$WORK/err.log" >&2; exit 1; }
    read -r secs kib < "$WORK/time"
    local zip; zip=$(find "$WORK" -name '*.zip' | head -1)
    echo "$name run $i: ${secs}s, peak RSS $((kib / 1024)) MiB, zip ${zip:+$(stat -c %s "$zip") bytes}"
  done
}
cd "$WORK"
measure updraft "$UPDRAFT" bundle zip --path dist --bundle 1.0.0 --name updraft.zip --json
measure capgo node node_modules/.bin/capgo bundle zip com.bench.zip --path dist --bundle 1.0.0 --name capgo --json --no-code-check
