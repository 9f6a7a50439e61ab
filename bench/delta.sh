#!/usr/bin/env bash
# Delta updates and encryption on the ~110 MB / ~300-file web build (bench/make-webapp.py),
# against a local `updraft serve` (embedded store), same machine, same run:
#  - v1 uploaded with delta; v2 = v1 with 10 files changed: bytes uploaded for v2, and
#    bytes a device on v1 downloads (the changed files), against the full zip;
#  - time and peak RSS of `updraft bundle upload` (delta, --no-delta, --encrypt), and of
#    `capgo bundle zip` / `capgo bundle encrypt` (@capgo/cli, offline) on the same build;
#  - Brotli quality 9 against 11 on the build's compressible files (the `brotli` tool).
#   bench/delta.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/updraft/target}"
cargo build --release --locked -p updraft --bin updraft
BIN="$CARGO_TARGET_DIR/release/updraft"
MODULES="$(scripts/peer-cli)"
. scripts/serve-local
serve_local "$BIN" bench
. bench/webapp-project.sh
webapp_project "$BIN" com.bench.delta
ln -s "$MODULES" "$P/node_modules"
export CAPGO_DISABLE_TELEMETRY=1

timed() { # label command... → "label: secs s, peak RSS MiB"; the command's stdout in $WORK/out.json
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out.json" 2> "$WORK/err.log" || { cat "$WORK/err.log" >&2; exit 1; }
  read -r secs kib < "$WORK/time"
  echo "$label: ${secs} s, peak RSS $((kib / 1024)) MiB"
}
field() { python3 -c "import json,sys; d=json.load(open('$WORK/out.json')); print(eval(sys.argv[1]))" "$1"; }

echo "== build: $(find dist -type f | wc -l) files, $(du -sb dist | cut -f1) bytes"
timed "upload v1 (delta, first version)" "$BIN" upload --bundle 1.0.0 --channel production --json
echo "   zip $(field "d['size']") bytes; files stored $(field "d['delta']['stored_bytes']") bytes, uploaded $(field "d['delta']['uploaded']") files"

# v2: ten files change (the first ten .js files, each one line appended).
find dist -name '*.js' | sort | head -10 | while read -r f; do echo "// v2 $(date +%s%N)" >> "$f"; done
timed "upload v2 (delta, 10 files changed)" "$BIN" upload --bundle 1.0.1 --channel production --json
zip2=$(field "d['size']"); up=$(field "d['delta']['uploaded_bytes']")
echo "   v2: files uploaded $(field "d['delta']['uploaded']") = $up bytes, zip $zip2 bytes (uploaded too, for old plugins)"
echo "   a device on v1 downloads $up bytes (the changed files) instead of the $zip2-byte zip: $(python3 -c "print('%.2f %%' % (100 * $up / $zip2))")"

find dist -name '*.js' | sort | head -1 | while read -r f; do echo "// v3" >> "$f"; done
timed "upload v3 (--no-delta: zip only)" "$BIN" upload --bundle 1.0.2 --no-delta --json
"$BIN" key create --json > /dev/null
find dist -name '*.js' | sort | head -1 | while read -r f; do echo "// v4" >> "$f"; done
timed "upload v4 (--encrypt, delta files encrypted too)" "$BIN" upload --bundle 1.0.3 --encrypt --json

timed "updraft bundle zip" "$BIN" bundle zip --bundle 2.0.0 --name updraft.zip --json
sum=$(field "d['checksum']")
timed "capgo bundle zip" node node_modules/.bin/capgo bundle zip com.bench.delta --bundle 2.0.0 --name capgo --json --no-code-check
timed "capgo bundle encrypt (of updraft.zip)" node node_modules/.bin/capgo bundle encrypt updraft.zip "$sum" --json

echo "== Brotli quality on the build's compressible files (brotli tool)"
find dist -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.json' -o -name '*.svg' \) > "$WORK/text"
orig=$(xargs cat < "$WORK/text" | wc -c)
for q in 5 9 11; do
  start=$(date +%s.%N)
  bytes=$(xargs cat < "$WORK/text" | brotli -c -q "$q" | wc -c)
  end=$(date +%s.%N)
  python3 -c "print('   q$q: %d -> %d bytes (%.1f %%), %.1f s' % ($orig, $bytes, 100*$bytes/$orig, $end-$start))"
done
