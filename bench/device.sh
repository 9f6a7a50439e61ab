#!/usr/bin/env bash
# The device SDK (updraft-device) installing bundles of the ~110 MB / ~300-file web build
# (bench/make-webapp.py) from a local `updraft serve` (embedded store), same machine, same
# run, each into a fresh bundles folder unless said:
#  - the zip (an upload with --no-delta): download, SHA-256, unpack to a staging folder;
#    reference: curl + sha256sum + unzip of the same zip;
#  - the manifest of a delta upload, every file new: downloads (Brotli where smaller),
#    decompression, SHA-256 per file;
#  - the next version with 10 files changed, into the folder that holds the previous one:
#    only those files downloaded, the rest copied from the bundle on disk;
#  - the same with the bundles encrypted (AES-128-CBC, the app's public key configured).
# Each SDK figure is one run of examples/desktop.rs (start, check, download, /stats); the
# time, peak RSS and bytes received come from /usr/bin/time and the example's output.
#   bench/device.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/updraft/target}"
cargo build --release --locked -p updraft --bin updraft
cargo build --release --locked -p updraft-device --example desktop
BIN="$CARGO_TARGET_DIR/release/updraft"
SDK="$CARGO_TARGET_DIR/release/examples/desktop"
. scripts/serve-local
serve_local "$BIN" bench
. bench/webapp-project.sh
webapp_project "$BIN" com.bench.device
echo "== build: $(find dist -type f | wc -l) files, $(du -sb dist | cut -f1) bytes"

sdk() { # label folder → "label: secs s, peak RSS MiB, what the example said"
  local label=$1 folder=$2
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$SDK" "$URL" com.bench.device "$folder" > "$WORK/sdk.out" 2> "$WORK/err.log" \
    || { cat "$WORK/sdk.out" "$WORK/err.log" >&2; exit 1; }
  read -r secs kib < "$WORK/time"
  echo "$label: ${secs} s, peak RSS $((kib / 1024)) MiB; $(grep -E 'downloaded|not downloaded|up to date' "$WORK/sdk.out")"
}
change() { # n marker: appends a line to the first n .js files
  find dist -name '*.js' | sort > "$WORK/js"
  head -n "$1" "$WORK/js" | while read -r f; do echo "// $2" >> "$f"; done
}

"$BIN" upload --bundle 1.0.1 --channel production --no-delta --json > "$WORK/up.json"
echo "== zip: $(python3 -c "import json; print(json.load(open('$WORK/up.json'))['size'])") bytes"
url=$(curl -sf "$URL/updates" -H 'content-type: application/json' -d '{"platform":"electron","device_id":"6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f","app_id":"com.bench.device","version_build":"1.0.0","version_name":"builtin","plugin_version":"8.51.23","is_emulator":false,"is_prod":true}' \
  | python3 -c "import json,sys; d=json.load(sys.stdin); print(d.get('url') or sys.exit(f'no update offered: {d}'))")
/usr/bin/time -f "%e %M" -o "$WORK/time" bash -c "curl -sf -o '$WORK/ref.zip' '$url' && sha256sum '$WORK/ref.zip' > /dev/null && unzip -q -o '$WORK/ref.zip' -d '$WORK/ref'"
read -r secs kib < "$WORK/time"
echo "reference, curl + sha256sum + unzip: ${secs} s"
sdk "SDK, the zip" "$WORK/zip"

change 1 v1
"$BIN" upload --bundle 1.0.2 --channel production --json > /dev/null
sdk "SDK, a delta upload's manifest, every file new" "$WORK/delta"
change 10 v2
"$BIN" upload --bundle 1.0.3 --channel production --json > /dev/null
sdk "SDK, the next version (10 files changed), from the folder holding 1.0.2" "$WORK/delta"

"$BIN" key create --json > /dev/null
export UPDRAFT_PUBLIC_KEY="$P/.capgo_key_v2.pub"
change 1 v3
"$BIN" upload --bundle 1.0.4 --channel production --encrypt --no-delta --json > /dev/null
sdk "SDK, the zip, encrypted" "$WORK/enc-zip"
change 1 v4
"$BIN" upload --bundle 1.0.5 --channel production --encrypt --json > /dev/null
sdk "SDK, the manifest, encrypted, every file new" "$WORK/enc-delta"
change 10 v5
"$BIN" upload --bundle 1.0.6 --channel production --encrypt --json > /dev/null
sdk "SDK, the next version encrypted (10 files changed), from the folder holding 1.0.5" "$WORK/enc-delta"
