#!/usr/bin/env bash
# Compiles the code-server (VS Code) extension in extensions/vscode and packs it into
# dist/downloads/codehub-build.vsix, which the server serves at GET /downloads/codehub-build.vsix.
# Offline: tsc and vsce come from the root's node_modules (devDependencies), and vsce is told not to ask npm
# for dependencies (the extension has none at run time). Does nothing when the .vsix is newer than every
# source file of the extension.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EXT="$ROOT/extensions/vscode"
OUT="$ROOT/dist/downloads/codehub-build.vsix"
BIN="$ROOT/node_modules/.bin"

log() { printf '[build-extension] %s\n' "$*" >&2; }
die() { printf '[build-extension] error: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN/tsc" ] && [ -x "$BIN/vsce" ] || die "tsc or vsce missing from $BIN: run npm install"

if [ -f "$OUT" ] && [ -z "$(find "$EXT" "$ROOT/src/api" -path "$EXT/out" -prune -o -type f -newer "$OUT" -print -quit)" ] \
  && [ "$OUT" -nt "$BIN/vsce" ]; then
  log "$OUT is up to date"
  exit 0
fi

# tsc checks the types, the API's among them (the extension reads its answers' types from src/api, which lies
# outside its folder, so tsc cannot also emit: it would put src/api beside the extension); esbuild writes the
# JavaScript, one file per module, every type import erased. A fresh out/ so that a source file removed since
# the last build leaves no stale .js in the package.
"$BIN/tsc" -p "$EXT/tsconfig.json"
rm -rf "$EXT/out"
"$BIN/esbuild" "$EXT"/src/*.ts --outdir="$EXT/out" --format=cjs --platform=node --target=node20 --log-level=warning
mkdir -p "$(dirname "$OUT")"
# No repository or license file of its own (the project's license is MIT, in package.json): say so rather
# than let vsce stop and ask.
(cd "$EXT" && "$BIN/vsce" package --no-dependencies --allow-missing-repository --skip-license --out "$OUT.tmp" </dev/null >/dev/null) \
  || die "vsce package failed"
mv "$OUT.tmp" "$OUT"
log "packed $OUT ($(du -k "$OUT" | cut -f1) KiB)"
