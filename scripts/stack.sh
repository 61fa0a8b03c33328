#!/usr/bin/env bash
# The local build stack: Docker engine (with its embedded BuildKit), docker-buildx and a Registry v2 on
# 127.0.0.1:5000, plus the test base image localhost:5000/cache/busybox:latest.
#   scripts/stack.sh up      install what is missing, start what is not running, wait until both answer
#   scripts/stack.sh down    stop what `up` started
#   scripts/stack.sh status  print what runs; exit 1 if something is down
#   scripts/stack.sh token-registry up ADDR REALM CERT   a second registry on ADDR (e.g. 127.0.0.1:5001) whose
#                            pushes and pulls need a token from codehub-build's REALM (http://<server>/registry/token),
#                            signed by the key of CERT (<data>/secrets/registry-token.crt); CODEHUB_REGISTRY_SERVICE
#                            (codehub-build-registry) names the service. The plain registry on 5000 stays open.
#   scripts/stack.sh token-registry down ADDR
#   scripts/stack.sh gc [ADDR]   the registry's garbage collector (read-only meanwhile; never --delete-untagged);
#                            prints the disk space before and after. ADDR: a registry this script started (default 5000)
#   scripts/stack.sh registry up ADDR [--read-only] | registry down ADDR
#                            another plain registry (tests stop it, or start it read-only, without touching 5000)
#   scripts/stack.sh browser  install Debian's Chromium (/usr/bin/chromium) for the browser tests (test/browser)
# Idempotent: every step checks before it acts. Logs and pid files live in $CODEHUB_STACK_DIR.
set -euo pipefail

STACK_DIR=${CODEHUB_STACK_DIR:-/var/lib/codehub-stack}
REGISTRY_ADDR=${CODEHUB_STACK_REGISTRY_ADDR:-127.0.0.1:5000}
REGISTRY_HOSTPORT="localhost:${REGISTRY_ADDR##*:}"
BASE_IMAGE="$REGISTRY_HOSTPORT/cache/busybox:latest"
# Debian 12 has no docker-buildx; Debian 13's engine, client, buildx and registry install on bookworm
# once bookworm's own containerd/runc/tini/iptables are present (STACK.md). runc and libc6 never from trixie.
# docker-compose and kubernetes-client (kubectl) render deploy/ in the tests; kubectl only where none is installed.
TRIXIE_DEBS=(docker.io docker-cli docker-buildx docker-registry docker-compose)
# openssl makes the registry token signing key (CODEHUB_REGISTRY_AUTH=token); curl checks what runs.
BOOKWORM_DEPS=(containerd runc tini iptables busybox-static ca-certificates openssl curl)

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "installing and starting dockerd needs root; run as root (sudo $0 $*)"; }

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
}

install_packages() {
  local missing=()
  for p in "${BOOKWORM_DEPS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    log "installing from bookworm: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  missing=()
  for p in "${TRIXIE_DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
  [ ${#missing[@]} -eq 0 ] && return 0
  # A private apt state naming trixie, so the machine's own sources stay as they are.
  local adir="$STACK_DIR/apt-trixie"
  mkdir -p "$adir/lists/partial" "$adir/debs"
  # apt downloads as the _apt user where it can; without this it warns and falls back to root.
  chown -R _apt "$adir" 2>/dev/null || true
  echo 'deb http://deb.debian.org/debian trixie main' > "$adir/sources.list"
  local aopts=(-o "Dir::Etc::sourcelist=$adir/sources.list" -o Dir::Etc::sourceparts=/nonexistent
               -o "Dir::State::Lists=$adir/lists" -o Debug::NoLocking=1)
  log "fetching from trixie: ${missing[*]}"
  apt-get "${aopts[@]}" update -qq >/dev/null
  (cd "$adir/debs" && rm -f ./*.deb && apt-get "${aopts[@]}" download "${missing[@]}" >/dev/null)
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$adir"/debs/*.deb >/dev/null \
    || die "installing ${missing[*]} from trixie .debs failed; see apt output above"
  # The Debian package may try to start dockerd through systemd/sysvinit; we manage it ourselves.
  return 0
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

docker_ok() { DOCKER_HOST=unix:///var/run/docker.sock docker info >/dev/null 2>&1; }
registry_ok() { curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }

wait_for() { # name, check-function, seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do "$2" && return 0; sleep 0.1; done
  return 1
}

start_dockerd() {
  if docker_ok; then log "dockerd already answers"; return 0; fi
  local dockerd_bin=/usr/sbin/dockerd
  [ -x "$dockerd_bin" ] || dockerd_bin=$(command -v dockerd) || die "dockerd not installed"
  log "starting dockerd (log: $STACK_DIR/dockerd.log)"
  # setsid: the engine must outlive the shell (and the test run) that started it.
  setsid "$dockerd_bin" --host unix:///var/run/docker.sock --pidfile "$STACK_DIR/dockerd.pid" \
    --data-root "${CODEHUB_DOCKER_ROOT:-/var/lib/docker}" >>"$STACK_DIR/dockerd.log" 2>&1 < /dev/null &
  wait_for dockerd docker_ok 60 || { tail -20 "$STACK_DIR/dockerd.log" >&2; die "dockerd did not answer within 60 s (log above)"; }
}

# Registries started here are named by address: `registry` for the stack's own ($REGISTRY_ADDR), `registry-PORT`
# otherwise; each has $STACK_DIR/NAME.yml, NAME-data/, NAME.pid and NAME.log.
registry_name() { if [ "$1" = "$REGISTRY_ADDR" ]; then echo registry; else echo "registry-${1##*:}"; fi; }

# The config of a plain registry (deletes on, no auth) on ADDR with its data in NAME-data.
write_registry_config() { # name addr
  mkdir -p "$STACK_DIR/$1-data"
  cat > "$STACK_DIR/$1.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STACK_DIR/$1-data
  delete:
    enabled: true
http:
  addr: $2
YML
}

# The same config in maintenance mode: reads answer, writes get 405, so the garbage collector can run.
read_only_config() { # name -> prints the path of NAME-readonly.yml
  awk '{ print } /^storage:$/ { print "  maintenance:"; print "    readonly:"; print "      enabled: true" }' "$STACK_DIR/$1.yml" > "$STACK_DIR/$1-readonly.yml"
  echo "$STACK_DIR/$1-readonly.yml"
}

answers() { curl -sS -o /dev/null -w '%{http_code}' "http://$1/v2/" 2>/dev/null | grep -Eq '^(200|401)$'; }

# Starts docker-registry with CONFIG as NAME on ADDR and waits until /v2/ answers (200, or 401 with token auth).
serve_registry() { # name addr config
  log "starting $1 on $2 (config $3; log: $STACK_DIR/$1.log)"
  # AWS_CA_BUNDLE makes the registry's S3 driver panic at start (STACK.md); it is not needed here.
  env -u AWS_CA_BUNDLE setsid docker-registry serve "$3" >>"$STACK_DIR/$1.log" 2>&1 < /dev/null &
  echo $! > "$STACK_DIR/$1.pid"
  local i
  for ((i = 0; i < 300; i++)); do answers "$2" && return 0; sleep 0.1; done
  tail -20 "$STACK_DIR/$1.log" >&2
  die "$1 did not answer on $2 within 30 s (log above)"
}

start_registry() {
  if registry_ok; then log "registry already answers on $REGISTRY_ADDR"; return 0; fi
  write_registry_config registry "$REGISTRY_ADDR"
  serve_registry registry "$REGISTRY_ADDR" "$STACK_DIR/registry.yml"
}

make_base_image() {
  if curl -fsS -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$REGISTRY_ADDR/v2/cache/busybox/manifests/latest" 2>/dev/null; then
    log "base image $BASE_IMAGE present"; return 0
  fi
  log "building base image $BASE_IMAGE from Debian's busybox-static"
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
  docker push -q "$BASE_IMAGE" >/dev/null
}

cmd_up() {
  need_root "$@"
  mkdir -p "$STACK_DIR"
  install_packages
  start_dockerd
  docker buildx version >/dev/null 2>&1 || die "docker buildx is not available (expected /usr/libexec/docker/cli-plugins/docker-buildx)"
  start_registry
  make_base_image
  log "up: dockerd ($(docker version -f '{{.Server.Version}}' 2>/dev/null)), registry http://$REGISTRY_ADDR, base $BASE_IMAGE"
}

stop_pid() { # name pidfile
  if pid_alive "$2"; then
    local pid; pid=$(cat "$2")
    log "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  else
    log "$1 not running (no live pid in $2)"
  fi
  rm -f "$2"
}

cmd_down() {
  stop_pid registry "$STACK_DIR/registry.pid"
  stop_pid dockerd "$STACK_DIR/dockerd.pid"
}

cmd_status() {
  local rc=0
  if docker_ok; then echo "dockerd: up"; else echo "dockerd: down"; rc=1; fi
  if registry_ok; then echo "registry: up ($REGISTRY_ADDR)"; else echo "registry: down ($REGISTRY_ADDR)"; rc=1; fi
  return $rc
}

cmd_token_registry() { # up|down ADDR [REALM CERT]
  local action=${1:-} addr=${2:-}
  [[ "$addr" =~ ^[0-9.]+:[0-9]+$ ]] || die "usage: $0 token-registry up ADDR REALM CERT | token-registry down ADDR (ADDR like 127.0.0.1:5001)"
  local name; name=$(registry_name "$addr")
  if [ "$action" = down ]; then stop_pid "token registry $addr" "$STACK_DIR/$name.pid"; return 0; fi
  local realm=${3:-} cert=${4:-}
  [ "$action" = up ] && [ -n "$realm" ] && [ -f "$cert" ] || die "usage: $0 token-registry up ADDR REALM CERT (CERT must exist: start codehub-build with CODEHUB_REGISTRY_AUTH=token once to make it)"
  command -v docker-registry >/dev/null || die "docker-registry is not installed: run $0 up first"
  write_registry_config "$name" "$addr"
  cat >> "$STACK_DIR/$name.yml" <<YML
auth:
  token:
    realm: $realm
    service: ${CODEHUB_REGISTRY_SERVICE:-codehub-build-registry}
    issuer: codehub-build
    rootcertbundle: $cert
YML
  stop_pid "token registry $addr" "$STACK_DIR/$name.pid" 2>/dev/null
  serve_registry "$name" "$addr" "$STACK_DIR/$name.yml"
}

# Another plain registry, for tests that stop it or make it read-only without touching the stack's own.
cmd_registry() { # up|down ADDR [--read-only]
  local action=${1:-} addr=${2:-} mode=${3:-}
  [[ "$addr" =~ ^[0-9.]+:[0-9]+$ ]] && { [ "$action" = up ] || [ "$action" = down ]; } \
    || die "usage: $0 registry up|down ADDR [--read-only] (ADDR like 127.0.0.1:5002)"
  [ "$addr" != "$REGISTRY_ADDR" ] || die "$addr is the stack's own registry: use $0 up|down|gc"
  local name; name=$(registry_name "$addr")
  stop_pid "$name" "$STACK_DIR/$name.pid" 2>/dev/null
  [ "$action" = down ] && return 0
  command -v docker-registry >/dev/null || die "docker-registry is not installed: run $0 up first"
  [ -f "$STACK_DIR/$name.yml" ] || write_registry_config "$name" "$addr"
  local config="$STACK_DIR/$name.yml"
  case "$mode" in
    --read-only) config=$(read_only_config "$name") ;;
    '') ;;
    *) die "unknown option $mode: $0 registry up ADDR [--read-only]" ;;
  esac
  serve_registry "$name" "$addr" "$config"
}

# Frees the blobs no manifest needs any more: the registry goes read-only (reads still answer, pushes wait),
# its own garbage collector runs, and it comes back. Never --delete-untagged: on 2.8 that deletes manifests
# an OCI index still lists (distribution #3178, #4461); codehub-build's gc deletes untagged manifests itself.
cmd_gc() { # [ADDR]
  local addr=${1:-$REGISTRY_ADDR}
  [[ "$addr" =~ ^[0-9.]+:[0-9]+$ ]] || die "usage: $0 gc [ADDR] (ADDR like 127.0.0.1:5000, a registry this script started)"
  local name; name=$(registry_name "$addr")
  local config="$STACK_DIR/$name.yml"
  [ -f "$config" ] || die "no registry was started on $addr by this script ($config is missing): start it with $0 up"
  pid_alive "$STACK_DIR/$name.pid" || die "the registry on $addr is not running: start it with $0 up (gc needs it to answer reads meanwhile)"
  local data; data=$(awk '/rootdirectory:/ { print $2; exit }' "$config")
  # du may meet an upload that finishes while it counts (the server's write probe): it counts on.
  disk() { du -sb "$data" 2>/dev/null | cut -f1 || true; }
  # Freed bytes are the sizes of the blob files gc removed, listed before and after: a disk total would
  # also count whatever a build pushes the moment the registry takes writes again.
  blob_files() { find "$data/docker/registry/v2/blobs" -name data -type f -printf '%s %p\n' 2>/dev/null | LC_ALL=C sort -k2 || true; }
  local before after listed
  before=$(disk)
  listed=$(blob_files)
  log "garbage collection of $addr (data $data): read-only while it runs; builds wait queued"
  stop_pid "$name" "$STACK_DIR/$name.pid"
  serve_registry "$name" "$addr" "$(read_only_config "$name")"
  local status=0
  env -u AWS_CA_BUNDLE docker-registry garbage-collect "$config" > "$STACK_DIR/$name-gc.log" 2>&1 || status=$?
  stop_pid "$name" "$STACK_DIR/$name.pid"
  serve_registry "$name" "$addr" "$config"
  [ "$status" = 0 ] || { tail -20 "$STACK_DIR/$name-gc.log" >&2; die "garbage-collect failed (exit $status; log above, $STACK_DIR/$name-gc.log); the registry is back in normal mode"; }
  after=$(disk)
  local blobs; blobs=$(grep -c 'blob eligible for deletion' "$STACK_DIR/$name-gc.log" || true)
  local freed; freed=$(LC_ALL=C join -1 2 -2 2 -v 1 <(echo "$listed") <(blob_files) | awk '{ n += $2 } END { print n + 0 }')
  echo "registry $addr: ${blobs} blobs deleted; disk $(numfmt --to=iec-i --suffix=B "$before") before, $(numfmt --to=iec-i --suffix=B "$after") after, freed $(numfmt --to=iec-i --suffix=B "$freed") ($freed bytes)"
}

# The browser tests drive Debian's Chromium through playwright-core; no browser is downloaded at test time.
cmd_browser() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  need_root "$@"
  apt_update_once
  log "installing chromium (for the browser tests)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  [ -x /usr/bin/chromium ] || die "chromium did not install; the browser tests need /usr/bin/chromium (apt-get install chromium)"
}

case "${1:-}" in
  up) cmd_up "$@" ;;
  gc) shift; cmd_gc "$@" ;;
  registry) shift; cmd_registry "$@" ;;
  browser) cmd_browser "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  token-registry) shift; cmd_token_registry "$@" ;;
  *) echo "usage: $0 up|down|status|gc|registry|token-registry|browser" >&2; exit 2 ;;
esac
