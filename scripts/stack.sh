#!/usr/bin/env bash
# The local build stack: Docker engine (with its embedded BuildKit), docker-buildx and a Registry v2 on
# 127.0.0.1:5000, plus the test base image localhost:5000/cache/busybox:latest (linux/amd64 and linux/arm64 in one
# index, each also as cache/busybox:linux-<arch>), and QEMU registered for arm64 programs (builds for linux/arm64).
#   scripts/stack.sh up      install what is missing, start what is not running, wait until both answer
#   scripts/stack.sh down    stop what `up` started
#   scripts/stack.sh status  print what runs; exit 1 if something is down
#   scripts/stack.sh token-registry up ADDR REALM CERT   a second registry on ADDR (e.g. 127.0.0.1:5001) whose
#                            pushes and pulls need a token from codehub-build's REALM (http://<server>/registry/token),
#                            signed by the key of CERT (<data>/secrets/registry-token.crt); CODEHUB_REGISTRY_SERVICE
#                            (codehub-build-registry) names the service. The plain registry on 5000 stays open.
#                            With --s3 http://HOST:PORT/BUCKET (after REALM CERT) it stores in that bucket (see registry).
#   scripts/stack.sh token-registry down ADDR [--purge]   (--purge also removes its data)
#   scripts/stack.sh gc [ADDR]   the registry's garbage collector (read-only meanwhile; never --delete-untagged);
#                            prints the disk space before and after (on S3: the bucket's, from its listing) and the
#                            bytes of the blobs it freed. ADDR: a registry this script started (default 5000)
#   scripts/stack.sh registry up ADDR [--read-only | --s3 http://HOST:PORT/BUCKET | --with-base] | registry down ADDR
#                            another plain registry (tests stop it, or start it read-only, without touching 5000);
#                            --with-base: it also gets the base image (both platforms), which builds for arm64 pull
#                            without a token (npm test starts 127.0.0.1:5001 so);
#                            --s3: its storage is that bucket (made if missing; keys CODEHUB_STACK_S3_ACCESS_KEY/SECRET_KEY)
#   scripts/stack.sh s3 up|down|status   an S3 server for the registry's S3 driver on 127.0.0.1:9000
#                            (CODEHUB_STACK_S3_PORT; +1..+3 for its backends): OpenStack Swift with s3api (python3-swift),
#                            access key test:tester, secret testing; data in $CODEHUB_STACK_DIR/s3 (CODEHUB_STACK_S3_DATA)
#   scripts/stack.sh builder up|down|status   a second dockerd as a networked builder: tcp://127.0.0.1:2376
#                            (CODEHUB_STACK_BUILDER_PORT) with TLS client certificates; the client's ca/cert/key.pem
#                            in $CODEHUB_STACK_DIR/builder/client (CODEHUB_BUILDERS=docker+tcp://127.0.0.1:2376?tls=<that dir>)
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
BOOKWORM_DEPS=(containerd runc tini iptables busybox-static ca-certificates openssl curl iproute2)

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

# A process that has exited but not been reaped yet (a zombie) is gone: its parent, often PID 1 when it was
# started with setsid, may take a second or more to reap it, and waiting for that made every stop that long.
running() { kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
pid_alive() { [ -f "$1" ] && running "$(cat "$1")"; }

# Bounded: a dockerd that hangs (stuck stopping) must not hang the script with it.
docker_ok() { timeout 10 env DOCKER_HOST=unix:///var/run/docker.sock docker info >/dev/null 2>&1; }
registry_ok() { answers "$REGISTRY_ADDR"; }

wait_for() { # name, check-function, seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do "$2" && return 0; sleep 0.1; done
  return 1
}

# The pid in a dockerd's pid file, if that process is alive and is that dockerd (its command line names the
# pid file: a pid reused by another process does not count).
daemon_pid() { # pidfile
  local pid; pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && running "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "$pid"
}

# Before a dockerd starts: one still starting, or still stopping (dockerd 26 was seen to hang on, holding its
# pid file, after a panic while stopping with a build running), is waited for, to answer (return 0) or to be
# gone (return 1, its stale pid file removed), never doubled; one that does neither in 60 s is an error.
settle_dockerd() { # name pidfile check log
  local pid i
  if pid=$(daemon_pid "$2"); then
    log "$1 (pid $pid) is running but does not answer: waiting up to 60 s for it to answer or exit"
    for ((i = 0; i < 600; i++)); do
      "$3" && { log "$1 answers"; return 0; }
      running "$pid" || break
      sleep 0.1
    done
    running "$pid" && die "$1 (pid $pid) neither answers nor exits after 60 s; see $4 (kill it, then run $0 again)"
  fi
  [ -e "$2" ] && { log "removing the stale pid file $2"; rm -f "$2"; }
  return 1
}

# After a dockerd was started as PID: waits for it to answer; if it exits or stays silent, the error names its log.
await_dockerd() { # name pid check log what
  local i
  for ((i = 0; i < 600; i++)); do
    "$3" && return 0
    running "$2" || { tail -20 "$4" >&2; die "$1 exited at start (log above: $4)"; }
    sleep 0.1
  done
  tail -20 "$4" >&2
  die "$1 did not answer on $5 within 60 s (log above: $4)"
}

start_dockerd() {
  if docker_ok; then log "dockerd already answers"; return 0; fi
  settle_dockerd dockerd "$STACK_DIR/dockerd.pid" docker_ok "$STACK_DIR/dockerd.log" && return 0
  local dockerd_bin=/usr/sbin/dockerd
  [ -x "$dockerd_bin" ] || dockerd_bin=$(command -v dockerd) || die "dockerd not installed"
  log "starting dockerd (log: $STACK_DIR/dockerd.log)"
  # setsid: the engine must outlive the shell (and the test run) that started it.
  setsid "$dockerd_bin" --host unix:///var/run/docker.sock --pidfile "$STACK_DIR/dockerd.pid" \
    --data-root "${CODEHUB_DOCKER_ROOT:-/var/lib/docker}" >>"$STACK_DIR/dockerd.log" 2>&1 < /dev/null &
  await_dockerd dockerd $! docker_ok "$STACK_DIR/dockerd.log" unix:///var/run/docker.sock
}

# Registries started here are named by address: `registry` for the stack's own ($REGISTRY_ADDR), `registry-PORT`
# otherwise; each has $STACK_DIR/NAME.yml, NAME-data/, NAME.pid and NAME.log.
registry_name() { if [ "$1" = "$REGISTRY_ADDR" ]; then echo registry; else echo "registry-${1##*:}"; fi; }

# The config of a plain registry (deletes on, no auth) on ADDR with its data in NAME-data, or with S3-URL
# (http://HOST:PORT/BUCKET) in that bucket (made if missing; see s3_storage).
write_registry_config() { # name addr [s3-url]
  local storage
  if [ -n "${3:-}" ]; then
    storage=$(s3_storage "$3") || exit 1
  else
    mkdir -p "$STACK_DIR/$1-data"
    storage="  filesystem:
    rootdirectory: $STACK_DIR/$1-data"
  fi
  cat > "$STACK_DIR/$1.yml" <<YML
version: 0.1
log:
  level: warn
storage:
$storage
  delete:
    enabled: true
http:
  addr: $2
YML
}

yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# The registry's storage.s3 for http://HOST:PORT/BUCKET, the bucket made if missing. The keys: CODEHUB_STACK_S3_*.
# redirect.disable: else the registry answers blob GETs with presigned URLs of the S3 server, which every
# client would have to reach itself (distribution #3865). Registry 3.x also wants forcepathstyle: true.
s3_storage() { # url
  [[ "$1" =~ ^(https?://[^/]+)/([a-z0-9][a-z0-9.-]+[a-z0-9])/?$ ]] || die "--s3 wants http://HOST:PORT/BUCKET (a lowercase bucket name), not $1"
  local endpoint=${BASH_REMATCH[1]} bucket=${BASH_REMATCH[2]} out code try
  # 503 is S3's SlowDown (Swift answers it while busy, e.g. right after a burst of writes): wait and ask again.
  for try in 1 2 3 4 5 6; do
    out=$(s3_curl PUT "$endpoint" "/$bucket" -w '\n%{http_code}' 2>&1) || die "the S3 server at $endpoint did not answer (start the local one: $0 s3 up): ${out%$'\n'*}"
    code=${out##*$'\n'}
    [ "$code" = 503 ] || break
    log "the S3 server asks to slow down (503); asking again in $try s"
    sleep "$try"
  done
  [ "$code" = 200 ] || { [ "$code" = 409 ] && [[ "$out" == *BucketAlreadyOwnedByYou* ]]; } || die "creating bucket $bucket at $endpoint failed ($code): ${out%$'\n'*}"
  local secure=false; [[ "$endpoint" == https://* ]] && secure=true
  cat <<YML
  s3:
    accesskey: $(yaml_quote "$S3_ACCESS_KEY")
    secretkey: $(yaml_quote "$S3_SECRET_KEY")
    region: us-east-1
    regionendpoint: $endpoint
    bucket: $bucket
    secure: $secure
    v4auth: true
    rootdirectory: /
  redirect:
    disable: true
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
  local pid=$! i
  echo "$pid" > "$STACK_DIR/$1.pid"
  # Answering is not enough: something else may hold that port and answer while this one fails to bind it.
  for ((i = 0; i < 300; i++)); do
    running "$pid" || { rm -f "$STACK_DIR/$1.pid"; tail -20 "$STACK_DIR/$1.log" >&2; die "$1 exited at start (log above: $STACK_DIR/$1.log)"; }
    ss -Hltnp "sport = :${2##*:}" 2>/dev/null | grep -q "pid=$pid," && answers "$2" && return 0
    sleep 0.1
  done
  tail -20 "$STACK_DIR/$1.log" >&2
  die "$1 did not answer on $2 within 30 s (log above: $STACK_DIR/$1.log)"
}

# The stack's registry uses codehub-build's token auth unless CODEHUB_STACK_REGISTRY_AUTH=none: its realm is the
# server `npm start` runs (CODEHUB_PORT, default 8080), its trust the server's token certificate in the data
# dir (CODEHUB_DATA_DIR, default ./data), made here first if the server has not made it yet.
REGISTRY_AUTH=${CODEHUB_STACK_REGISTRY_AUTH:-token}
TOKEN_SECRETS="${CODEHUB_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data}/secrets"

# The same key pair src/registry/token.ts makes (the server uses whatever pair is there).
ensure_token_cert() {
  [ -f "$TOKEN_SECRETS/registry-token.key" ] && [ -f "$TOKEN_SECRETS/registry-token.crt" ] && return 0
  log "making the registry token signing key in $TOKEN_SECRETS (the server's own, CODEHUB_DATA_DIR/secrets)"
  mkdir -p "$TOKEN_SECRETS" && chmod 700 "$TOKEN_SECRETS"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TOKEN_SECRETS/registry-token.key.tmp" -out "$TOKEN_SECRETS/registry-token.crt.tmp" \
    -days 3650 -subj '/CN=codehub-build registry token issuer' 2>/dev/null || die "openssl could not make the registry token key"
  chmod 600 "$TOKEN_SECRETS/registry-token.key.tmp"
  mv "$TOKEN_SECRETS/registry-token.crt.tmp" "$TOKEN_SECRETS/registry-token.crt"
  mv "$TOKEN_SECRETS/registry-token.key.tmp" "$TOKEN_SECRETS/registry-token.key"
}

start_registry() {
  local want="$STACK_DIR/registry.yml.want"
  case "$REGISTRY_AUTH" in
    token)
      ensure_token_cert
      write_registry_config registry "$REGISTRY_ADDR"
      cat >> "$STACK_DIR/registry.yml" <<YML
auth:
  token:
    realm: http://127.0.0.1:${CODEHUB_PORT:-8080}/registry/token
    service: ${CODEHUB_REGISTRY_SERVICE:-codehub-build-registry}
    issuer: codehub-build
    rootcertbundle: $TOKEN_SECRETS/registry-token.crt
YML
      ;;
    none)
      log "WARNING: the registry on $REGISTRY_ADDR is OPEN (CODEHUB_STACK_REGISTRY_AUTH=none): anyone who reaches it can push over any image"
      write_registry_config registry "$REGISTRY_ADDR" ;;
    *) die "CODEHUB_STACK_REGISTRY_AUTH must be token (the default) or none, not $REGISTRY_AUTH" ;;
  esac
  cp "$STACK_DIR/registry.yml" "$want"
  # A registry already running with this very config stays; one started otherwise (open, or another realm) restarts.
  if registry_ok && [ -f "$STACK_DIR/registry.running.yml" ] && cmp -s "$want" "$STACK_DIR/registry.running.yml"; then
    log "registry already answers on $REGISTRY_ADDR ($REGISTRY_AUTH)"; return 0
  fi
  stop_pid registry "$STACK_DIR/registry.pid" 2>/dev/null
  wait_for "$REGISTRY_ADDR to be free" port_free 10 || die "something else answers on $REGISTRY_ADDR (not a registry this script started: $STACK_DIR/registry.pid); stop it or set CODEHUB_STACK_REGISTRY_ADDR"
  serve_registry registry "$REGISTRY_ADDR" "$STACK_DIR/registry.yml"
  mv "$want" "$STACK_DIR/registry.running.yml"
}
port_free() { ! answers "$REGISTRY_ADDR"; }

# Pushes a system image (cache/…, system/…) into the stack's registry. Past token auth it goes through a
# private open instance on the same storage, on a random loopback port, for the length of the push.
# The base image's two platforms go in as one index under latest (push_base_index).
push_system_image() { # ref... (under $REGISTRY_HOSTPORT)
  local port seed status=0
  if [ "$REGISTRY_AUTH" = none ]; then
    port=${REGISTRY_ADDR##*:}
  else
    for _ in 1 2 3 4 5; do port=$((20000 + RANDOM % 30000)); answers "127.0.0.1:$port" || break; done
    seed="$STACK_DIR/registry-seed.yml"
    sed -e "s|^  addr: .*|  addr: 127.0.0.1:$port|" -e '/^auth:/,$d' "$STACK_DIR/registry.yml" > "$seed"
    serve_registry registry-seed "127.0.0.1:$port" "$seed"
  fi
  local ref path
  for ref in "$@"; do
    if [ "${ref%:*}" = "$BASE_REPO" ]; then continue; fi
    path=${ref#"$REGISTRY_HOSTPORT/"}
    docker tag "$ref" "127.0.0.1:$port/$path"
    docker push -q "127.0.0.1:$port/$path" >/dev/null || status=$?
    docker image rm "127.0.0.1:$port/$path" >/dev/null 2>&1 || true
  done
  case " $* " in *" $BASE_REPO:"*) push_base_index "127.0.0.1:$port" || status=$? ;; esac
  [ "$REGISTRY_AUTH" = none ] || stop_pid registry-seed "$STACK_DIR/registry-seed.pid" 2>/dev/null
  [ "$status" = 0 ] || die "pushing $* into the registry's storage failed (log: $STACK_DIR/registry-seed.log)"
}

# The base image lives in dockerd's store (BuildKit resolves FROM there first, so builds never need a registry
# credential for it) and in the registry (for remote builders, and for builds for arm64: dockerd's overlay2 store
# holds one platform under a name, so BuildKit pulls the other from the registry's index).
BASE_REPO="${BASE_IMAGE%:*}"
make_base_image() {
  base_images_in_dockerd
  if base_index_present "$STACK_DIR/registry-data"; then
    log "base image $BASE_IMAGE present (linux/amd64 and linux/arm64)"
  else
    push_system_image "$BASE_REPO:linux-amd64" "$BASE_REPO:linux-arm64"
  fi
}

base_images_in_dockerd() {
  docker image inspect "$BASE_REPO:linux-amd64" >/dev/null 2>&1 || build_base_image amd64 /bin/busybox
  docker image inspect "$BASE_REPO:linux-arm64" >/dev/null 2>&1 || build_base_image arm64 "$(arm64_busybox)"
  # latest is the amd64 one in dockerd's store (the machine's own platform).
  docker tag "$BASE_REPO:linux-amd64" "$BASE_IMAGE"
}

# Debian's arm64 busybox-static, fetched with a private apt state naming arm64 (the machine's own dpkg gets no
# foreign architecture) and unpacked under the stack dir; prints the binary's path.
arm64_busybox() {
  local dir="$STACK_DIR/busybox-arm64" adir="$STACK_DIR/apt-arm64"
  if [ ! -x "$dir/bin/busybox" ]; then
    mkdir -p "$adir/lists/partial" "$adir/debs"
    chown -R _apt "$adir" 2>/dev/null || true
    echo 'deb [arch=arm64] http://deb.debian.org/debian bookworm main' > "$adir/sources.list"
    local aopts=(-o "Dir::Etc::sourcelist=$adir/sources.list" -o Dir::Etc::sourceparts=/nonexistent
                 -o "Dir::State::Lists=$adir/lists" -o Debug::NoLocking=1 -o Dir::State::status=/dev/null
                 -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
    log "fetching Debian's arm64 busybox-static (the arm64 base image)"
    apt-get "${aopts[@]}" update -qq >/dev/null || die "apt-get update for arm64 failed (is deb.debian.org reachable?)"
    (cd "$adir/debs" && rm -f ./*.deb && apt-get "${aopts[@]}" download busybox-static:arm64 >/dev/null) \
      || die "downloading busybox-static:arm64 failed"
    rm -rf "$dir.tmp" && dpkg-deb -x "$adir"/debs/busybox-static_*_arm64.deb "$dir.tmp" && rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/bin/busybox"
}

build_base_image() { # arch busybox-binary
  local ref="$BASE_REPO:linux-$1"
  log "building base image $ref from Debian's busybox-static ($1)"
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/root"
  cp "$2" "$root/bin/busybox"
  # The applets of the machine's own busybox: the same Debian version, and listing needs no emulator.
  local applet
  for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"
  tar -C "$root" -c . | docker import --platform "linux/$1" -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - "$ref" >/dev/null
  rm -rf "$root"
}

# Whether the registry stored under DATA_ROOT has cache/busybox:latest as the two-platform index (read from its
# files: the stack's registry wants a token, which nobody serves while the server is down).
base_index_present() { # data-root
  local link="$1/docker/registry/v2/repositories/cache/busybox/_manifests/tags/latest/current/link" d
  [ -f "$link" ] || return 1
  d=$(cat "$link"); d=${d#sha256:}
  grep -q 'manifest.list.v2+json' "$1/docker/registry/v2/blobs/sha256/${d:0:2}/$d/data" 2>/dev/null
}

# Pushes the base image's two platforms (their linux-<arch> tags) to an open registry at HOST:PORT and joins them
# under latest as a Docker manifest list, as `docker manifest` would: one PUT naming each manifest's digest and size.
push_base_index() { # host:port
  local h=$1 arch entries=() headers digest size
  for arch in amd64 arm64; do
    docker tag "$BASE_REPO:linux-$arch" "$h/cache/busybox:linux-$arch"
    docker push -q "$h/cache/busybox:linux-$arch" >/dev/null || return 1
    docker image rm "$h/cache/busybox:linux-$arch" >/dev/null 2>&1 || true
    headers=$(curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$h/v2/cache/busybox/manifests/linux-$arch" | tr -d '\r') || return 1
    digest=$(awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }' <<<"$headers")
    size=$(awk -F': ' 'tolower($1) == "content-length" { print $2 }' <<<"$headers")
    [ -n "$digest" ] && [ -n "$size" ] || return 1
    entries+=("{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"$digest\",\"size\":$size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}}")
  done
  local IFS=,
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[%s]}' "${entries[*]}" |
    curl -fsS -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.list.v2+json' --data-binary @- \
      "http://$h/v2/cache/busybox/manifests/latest" >/dev/null
}

# QEMU for arm64 programs (bookworm's qemu-user-static), registered with binfmt_misc's F flag: the kernel opens the
# interpreter at registration, so it runs inside containers and BuildKit's runc too. Idempotent; where binfmt_misc
# cannot be mounted (a container without the privilege) it says so, and only builds for arm64 are affected.
setup_qemu() {
  local missing=() bm=/proc/sys/fs/binfmt_misc p
  for p in qemu-user-static binfmt-support; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_update_once
    log "installing from bookworm: ${missing[*]} (to build for linux/arm64)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ! -e "$bm/register" ] && ! mount -t binfmt_misc binfmt_misc "$bm" 2>/dev/null; then
    log "WARNING: cannot mount binfmt_misc on $bm (no privilege here?): builds for linux/arm64 will fail; on the host: mount -t binfmt_misc binfmt_misc $bm && update-binfmts --enable qemu-aarch64"
    return 0
  fi
  if [ ! -e "$bm/qemu-aarch64" ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || log "WARNING: update-binfmts could not register qemu-aarch64: builds for linux/arm64 will fail"
  elif ! grep -qx enabled "$bm/qemu-aarch64"; then
    echo 1 > "$bm/qemu-aarch64"
  fi
  [ -e "$bm/qemu-aarch64" ] && log "qemu-aarch64 registered ($(sed -n 's/^flags: //p' "$bm/qemu-aarch64"))"
  return 0
}

cmd_up() {
  need_root "$@"
  mkdir -p "$STACK_DIR"
  install_packages
  start_dockerd
  docker buildx version >/dev/null 2>&1 || die "docker buildx is not available (expected /usr/libexec/docker/cli-plugins/docker-buildx)"
  start_registry
  setup_qemu
  make_base_image
  log "up: dockerd ($(docker version -f '{{.Server.Version}}' 2>/dev/null)), registry http://$REGISTRY_ADDR ($REGISTRY_AUTH auth), base $BASE_IMAGE"
}

stop_pid() { # name pidfile
  if pid_alive "$2"; then
    local pid; pid=$(cat "$2")
    log "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do running "$pid" || break; sleep 0.1; done
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

cmd_token_registry() { # up|down ADDR [REALM CERT [--s3 URL]]
  local action=${1:-} addr=${2:-}
  [[ "$addr" =~ ^[0-9.]+:[0-9]+$ ]] || die "usage: $0 token-registry up ADDR REALM CERT [--s3 http://HOST:PORT/BUCKET] | token-registry down ADDR (ADDR like 127.0.0.1:5001)"
  local name; name=$(registry_name "$addr")
  if [ "$action" = down ]; then
    stop_pid "token registry $addr" "$STACK_DIR/$name.pid"
    # --purge: a test's registry leaves no images behind (its data folder and config go too).
    [ "${3:-}" = --purge ] && [ "$name" != registry ] && rm -rf "${STACK_DIR:?}/$name-data" "$STACK_DIR/$name.yml" "$STACK_DIR/$name.log"
    return 0
  fi
  local realm=${3:-} cert=${4:-} s3=
  [ "$action" = up ] && [ -n "$realm" ] && [ -f "$cert" ] || die "usage: $0 token-registry up ADDR REALM CERT [--s3 URL] (CERT must exist: start codehub-build with CODEHUB_REGISTRY_AUTH=token once to make it)"
  case "${5:-}" in
    --s3) s3=${6:-}; [ -n "$s3" ] || die "--s3 wants http://HOST:PORT/BUCKET" ;;
    '') ;;
    *) die "unknown option $5: $0 token-registry up ADDR REALM CERT [--s3 http://HOST:PORT/BUCKET]" ;;
  esac
  command -v docker-registry >/dev/null || die "docker-registry is not installed: run $0 up first"
  write_registry_config "$name" "$addr" "$s3"
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
cmd_registry() { # up|down ADDR [--read-only | --s3 URL]
  local action=${1:-} addr=${2:-} mode=${3:-}
  [[ "$addr" =~ ^[0-9.]+:[0-9]+$ ]] && { [ "$action" = up ] || [ "$action" = down ]; } \
    || die "usage: $0 registry up|down ADDR [--read-only | --s3 http://HOST:PORT/BUCKET | --with-base] (ADDR like 127.0.0.1:5002)"
  [ "$addr" != "$REGISTRY_ADDR" ] || die "$addr is the stack's own registry: use $0 up|down|gc"
  local name; name=$(registry_name "$addr")
  stop_pid "$name" "$STACK_DIR/$name.pid" 2>/dev/null
  [ "$action" = down ] && return 0
  command -v docker-registry >/dev/null || die "docker-registry is not installed: run $0 up first"
  # --s3 (re)writes the config for the bucket; otherwise a config written before (filesystem or S3) stays.
  if [ "$mode" = --s3 ]; then
    [ -n "${4:-}" ] || die "--s3 wants http://HOST:PORT/BUCKET"
    write_registry_config "$name" "$addr" "$4"
  elif [ ! -f "$STACK_DIR/$name.yml" ]; then
    write_registry_config "$name" "$addr"
  fi
  local config="$STACK_DIR/$name.yml"
  case "$mode" in
    --read-only) config=$(read_only_config "$name") ;;
    ''|--s3|--with-base) ;;
    *) die "unknown option $mode: $0 registry up ADDR [--read-only | --s3 http://HOST:PORT/BUCKET | --with-base]" ;;
  esac
  serve_registry "$name" "$addr" "$config"
  # --with-base: the base image too, as on the stack's registry (a build for arm64 pulls it from here, no token).
  if [ "$mode" = --with-base ]; then
    local data; data=$(awk '/rootdirectory:/ { print $2; exit }' "$config")
    if ! base_index_present "$data"; then
      base_images_in_dockerd
      push_base_index "$addr" || die "pushing the base image to $addr failed"
    fi
  fi
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
  local data space=disk; data=$(awk '/rootdirectory:/ { print $2; exit }' "$config")
  if grep -q '^  s3:$' "$config"; then
    # On S3 the same figures come from the bucket's listing (under the registry's rootdirectory): no disk.
    local endpoint bucket prefix
    endpoint=$(config_value regionendpoint "$config"); bucket=$(config_value bucket "$config")
    S3_ACCESS_KEY=$(config_value accesskey "$config"); S3_SECRET_KEY=$(config_value secretkey "$config")
    prefix=${data#/}; prefix=${prefix%/}; [ -z "$prefix" ] || prefix="$prefix/"
    data="$endpoint/$bucket/$prefix"; space=bucket
    objects() { local l; l=$(s3_list "$endpoint" "$bucket" "$prefix") || die "listing bucket $bucket at $endpoint failed"; printf '%s\n' "$l"; }
    disk() { objects | awk '{ n += $1 } END { print n + 0 }'; }
    blob_files() { objects | awk -v p="${prefix}docker/registry/v2/blobs/" 'index($2, p) == 1 && $2 ~ /\/data$/' | LC_ALL=C sort -k2; }
    pushed() { objects | awk -v p="${prefix}docker/registry/v2/repositories/" 'index($2, p) == 1 { found = 1 } END { exit !found }'; }
  else
    # du may meet an upload that finishes while it counts (the server's write probe): it counts on.
    disk() { du -sb "$data" 2>/dev/null | cut -f1 || true; }
    # Freed bytes are the sizes of the blob files gc removed, listed before and after: a disk total would
    # also count whatever a build pushes the moment the registry takes writes again.
    blob_files() { find "$data/docker/registry/v2/blobs" -name data -type f -printf '%s %p\n' 2>/dev/null | LC_ALL=C sort -k2 || true; }
    pushed() { [ -d "$data/docker/registry/v2/repositories" ]; }
  fi
  # The registry's collector fails with "Path not found" on storage nothing was ever pushed to.
  if ! pushed; then echo "registry $addr: nothing pushed yet, nothing to collect"; return 0; fi
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
  echo "registry $addr: ${blobs} blobs deleted; $space $(numfmt --to=iec-i --suffix=B "$before") before, $(numfmt --to=iec-i --suffix=B "$after") after, freed $(numfmt --to=iec-i --suffix=B "$freed") ($freed bytes)"
}

# An S3 server for the registry's S3 driver (production runs MinIO, which no package here provides):
# OpenStack Swift with its s3api middleware, from Debian's python3-swift (STACK.md). One node: account,
# container and object servers and a proxy with s3api and tempauth (access key test:tester, secret testing),
# bound to 127.0.0.1, the proxy on $S3_PORT and the three servers on the next three ports. Config and
# one-replica rings in $STACK_DIR/s3, objects in $S3_DATA (a filesystem with user xattrs).
S3_PORT=${CODEHUB_STACK_S3_PORT:-9000}
S3_DIR="$STACK_DIR/s3"
S3_DATA=${CODEHUB_STACK_S3_DATA:-$S3_DIR/data}
S3_ACCESS_KEY=${CODEHUB_STACK_S3_ACCESS_KEY:-test:tester}
S3_SECRET_KEY=${CODEHUB_STACK_S3_SECRET_KEY:-testing}
SWIFT_PY=/usr/bin/python3 # Debian's: the one python3-swift is installed for (another may come first on PATH)

# An S3 request signed with AWS sigv4 by curl. The access key holds a colon (tempauth's account:user), and
# curl's --user splits at the first one: the credentials go in the URL, where %3A keeps the colon. curl 7.88
# sends no x-amz-content-sha256, which S3 requires: these requests have no body, so it is the empty string's.
s3_curl() { # METHOD ENDPOINT(http://host:port) PATH [curl args...]
  local method=$1 endpoint=$2 path=$3; shift 3
  local key; key=$(printf '%s' "$S3_ACCESS_KEY" | sed 's/%/%25/g; s/:/%3A/g; s/@/%40/g')
  local secret; secret=$(printf '%s' "$S3_SECRET_KEY" | sed 's/%/%25/g; s/:/%3A/g; s/@/%40/g')
  curl -sS --aws-sigv4 "aws:amz:us-east-1:s3" -X "$method" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    "${endpoint/:\/\//://$key:$secret@}$path" "$@"
}

urlencode() { local s=$1 out= c i; for ((i = 0; i < ${#s}; i++)); do c=${s:i:1}; case $c in [A-Za-z0-9._~-]) out+=$c ;; *) printf -v c '%%%02X' "'$c"; out+=$c ;; esac; done; printf '%s' "$out"; }

# "SIZE KEY" of every object in BUCKET under PREFIX, by ListObjectsV2 page by page. curl 7.88 signs the query
# as given: its parameters go sorted and encoded, as sigv4's canonical request has them.
s3_list() { # endpoint bucket prefix
  local token= out q
  while :; do
    q="list-type=2&prefix=$(urlencode "$3")"
    [ -z "$token" ] || q="continuation-token=$(urlencode "$token")&$q"
    out=$(s3_curl GET "$1" "/$2?$q" -f) || return 1
    printf '%s\n' "$out" | sed 's/<Contents>/\n/g' | sed -n 's:.*<Key>\([^<]*\)</Key>.*<Size>\([0-9]*\)</Size>.*:\2 \1:p'
    [[ "$out" == *'<IsTruncated>true</IsTruncated>'* ]] || return 0
    token=$(printf '%s' "$out" | sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p')
    [ -n "$token" ] || return 1
  done
}

# A scalar of the registry config written here (first match; single quotes as yaml_quote writes them).
config_value() { # key file
  awk -v k="$1:" '$1 == k { sub(/^[^:]*: */, ""); print; exit }' "$2" | sed "s/^'\(.*\)'\$/\1/; s/''/'/g"
}

s3_ok() { [ "$(s3_curl GET "http://127.0.0.1:$S3_PORT" / -o /dev/null -w '%{http_code}' 2>/dev/null)" = 200 ]; }

# Writes the Swift config once (and the rings again only if the ports changed).
s3_config() {
  mkdir -p "$S3_DIR" "$S3_DATA/d0"
  # Swift keeps object metadata in user xattrs: say so plainly rather than fail at the first PUT.
  "$SWIFT_PY" -c 'import os, sys; p = os.path.join(sys.argv[1], ".xattr-probe"); open(p, "w").close(); os.setxattr(p, "user.codehub", b"1"); os.remove(p)' "$S3_DATA" 2>/dev/null \
    || die "$S3_DATA is on a filesystem without user extended attributes, which Swift needs: point CODEHUB_STACK_S3_DATA at a folder on ext4, xfs, btrfs or tmpfs (Linux 6.6+), or a loop-mounted ext4 image"
  cat > "$S3_DIR/swift.conf" <<CONF
[swift-hash]
swift_hash_path_prefix = codehub-build
swift_hash_path_suffix = codehub-build
[storage-policy:0]
name = Policy-0
default = yes
CONF
  local i=1 server
  for server in object container account; do
    cat > "$S3_DIR/$server-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $((S3_PORT + i))
workers = 0
devices = $S3_DATA
mount_check = false
swift_dir = $S3_DIR
log_level = WARNING
[pipeline:main]
pipeline = $server-server
[app:$server-server]
use = egg:swift#$server
CONF
    i=$((i + 1))
  done
  cat > "$S3_DIR/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $S3_PORT
workers = 0
swift_dir = $S3_DIR
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
# tempauth needs a cache filter; no memcached runs (each request would log that none answers).
set log_level = CRITICAL
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
  # One-replica rings, one device each, made once (again only if the ports moved).
  [ -f "$S3_DIR/object.ring.gz" ] && [ "$(cat "$S3_DIR/rings.port" 2>/dev/null)" = "$S3_PORT" ] && return 0
  log "making Swift's rings in $S3_DIR"
  "$SWIFT_PY" - "$S3_DIR" "$S3_PORT" <<'PY'
import os, sys
from swift.common.ring import RingBuilder
folder, port = sys.argv[1], int(sys.argv[2])
for i, kind in enumerate(('object', 'container', 'account'), 1):
    b = RingBuilder(6, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port + i, 'device': 'd0', 'weight': 100})
    b.rebalance()
    b.save(os.path.join(folder, kind + '.builder'))
    b.get_ring().save(os.path.join(folder, kind + '.ring.gz'))
PY
  echo "$S3_PORT" > "$S3_DIR/rings.port"
}

cmd_s3() { # up|down|status
  local server
  case "${1:-}" in
    up)
      if s3_ok && pid_alive "$STACK_DIR/s3-proxy.pid"; then log "S3 (Swift) already answers on 127.0.0.1:$S3_PORT"; return 0; fi
      need_root "$@"
      if ! dpkg -s python3-swift >/dev/null 2>&1; then
        apt_update_once
        log "installing python3-swift (the S3 server for the registry's S3 tests)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-swift >/dev/null
      fi
      s3_config
      for server in account container object proxy; do
        pid_alive "$STACK_DIR/s3-$server.pid" && continue
        # set_swift_dir: swift.conf and the rings come from $S3_DIR, not /etc/swift. verbose: its log on stderr.
        setsid "$SWIFT_PY" -c 'import sys
from swift.common.utils import set_swift_dir
set_swift_dir(sys.argv[1])
from swift.common.wsgi import run_wsgi
sys.exit(run_wsgi(sys.argv[2], sys.argv[3], verbose=True))' "$S3_DIR" "$S3_DIR/$server-server.conf" "$server-server" \
          >>"$STACK_DIR/s3-$server.log" 2>&1 < /dev/null &
        echo $! > "$STACK_DIR/s3-$server.pid"
      done
      log "starting Swift's S3 API on 127.0.0.1:$S3_PORT (logs: $STACK_DIR/s3-*.log)"
      wait_for s3 s3_ok 60 || { tail -20 "$STACK_DIR/s3-proxy.log" >&2; die "Swift's S3 API did not answer on 127.0.0.1:$S3_PORT within 60 s (log above: $STACK_DIR/s3-proxy.log; also s3-object.log, s3-container.log, s3-account.log)"; }
      log "up: S3 http://127.0.0.1:$S3_PORT (access key $S3_ACCESS_KEY, region us-east-1; data $S3_DATA)"
      ;;
    down)
      # Each takes ~2 s to stop on SIGTERM: signal all four, then wait for each.
      local pids=()
      for server in proxy object container account; do
        pid_alive "$STACK_DIR/s3-$server.pid" && pids+=("$(cat "$STACK_DIR/s3-$server.pid")")
      done
      if [ ${#pids[@]} -gt 0 ]; then log "stopping S3 (Swift, pids ${pids[*]})"; kill "${pids[@]}" 2>/dev/null || true; fi
      for server in proxy object container account; do stop_pid "s3 $server" "$STACK_DIR/s3-$server.pid" 2>/dev/null; done ;;
    status) if s3_ok; then echo "s3: up (http://127.0.0.1:$S3_PORT)"; else echo "s3: down (http://127.0.0.1:$S3_PORT)"; return 1; fi ;;
    *) die "usage: $0 s3 up|down|status" ;;
  esac
}

# A second dockerd as a networked builder: its embedded BuildKit reached over TCP with TLS client certificates,
# as a builder on another machine is (CODEHUB_BUILDERS=docker+tcp://127.0.0.1:PORT?tls=$STACK_DIR/builder/client).
# Own data-root, exec-root, containerd namespace and bridge, so nothing of the main dockerd is shared.
BUILDER_DIR="$STACK_DIR/builder"
BUILDER_PORT=${CODEHUB_STACK_BUILDER_PORT:-2376}
BUILDER_BRIDGE=${CODEHUB_STACK_BUILDER_BRIDGE:-chb-builder0}
# A private /24 clear of docker0 (172.17.0.0/16) and of this machine's own networks (checked before use).
BUILDER_BRIDGE_ADDR=${CODEHUB_STACK_BUILDER_BRIDGE_ADDR:-10.213.77.1/24}
BUILDER_SOCK="$BUILDER_DIR/docker.sock"
BUILDER_PID="$BUILDER_DIR/dockerd.pid"
BUILDER_LOG="$BUILDER_DIR/dockerd.log"

builder_docker() { DOCKER_HOST="unix://$BUILDER_SOCK" docker "$@"; }
# Bounded: a dockerd that hangs (stopped, or stuck stopping) must not hang the script with it.
builder_sock_ok() { timeout 3 env DOCKER_HOST="unix://$BUILDER_SOCK" docker version >/dev/null 2>&1; }
# The TLS port answers the client certificate, which is what a codehub-build server will use.
builder_tls_ok() {
  curl -fsS -o /dev/null --max-time 2 --cacert "$BUILDER_DIR/client/ca.pem" --cert "$BUILDER_DIR/client/cert.pem" \
    --key "$BUILDER_DIR/client/key.pem" "https://127.0.0.1:$BUILDER_PORT/_ping" 2>/dev/null
}
builder_ok() { builder_tls_ok && builder_sock_ok; }

# A CA, a server certificate for 127.0.0.1/localhost and a client certificate (clientAuth), made once. The
# client's files are laid out as DOCKER_CERT_PATH (and BuildKit's create-certs client folder) expect them.
builder_certs() {
  local tls="$BUILDER_DIR/tls" client="$BUILDER_DIR/client"
  [ -s "$client/key.pem" ] && [ -s "$client/cert.pem" ] && [ -s "$tls/server-key.pem" ] && return 0
  log "making the builder's TLS certificates ($tls, client: $client)"
  mkdir -p "$tls" "$client"; chmod 700 "$tls" "$client"
  (
    umask 077; cd "$tls"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem 2>/dev/null
    openssl req -x509 -new -key ca-key.pem -days 3650 -subj '/CN=codehub-stack builder CA' -out ca.pem \
      -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
    leaf() { # name subject extensions
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1-key.pem" 2>/dev/null
      openssl req -new -key "$1-key.pem" -subj "$2" -out "$1.csr"
      printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n%s\n' "$3" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -CAserial ca.srl -days 3650 \
        -extfile "$1.ext" -out "$1-cert.pem" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    leaf server '/CN=localhost' $'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost'
    leaf client '/CN=codehub-build' 'extendedKeyUsage=clientAuth'
    cp ca.pem "$client/ca.pem"; cp client-cert.pem "$client/cert.pem"; cp client-key.pem "$client/key.pem"
  ) || die "making the builder's certificates with openssl failed"
  chmod 644 "$tls/ca.pem" "$tls/server-cert.pem" "$client/ca.pem" "$client/cert.pem"
  chmod 600 "$tls"/*-key.pem "$client/key.pem"
}

# The builder's bridge with an address of its own (dockerd takes the bridge's address as the gateway).
builder_bridge() {
  if ! ip link show dev "$BUILDER_BRIDGE" >/dev/null 2>&1; then
    local net=${BUILDER_BRIDGE_ADDR%.*}.
    ip -4 -o addr show | grep -qF " inet $net" && die "$BUILDER_BRIDGE_ADDR clashes with an address on this machine ($(ip -4 -o addr show | grep -F " inet $net" | awk '{print $2, $4}')); set CODEHUB_STACK_BUILDER_BRIDGE_ADDR"
    ip link add name "$BUILDER_BRIDGE" type bridge
  fi
  ip -4 -o addr show dev "$BUILDER_BRIDGE" | grep -qF " $BUILDER_BRIDGE_ADDR " || ip addr add "$BUILDER_BRIDGE_ADDR" dev "$BUILDER_BRIDGE"
  ip link set "$BUILDER_BRIDGE" up
}

builder_stop() {
  local pid
  if ! pid=$(daemon_pid "$BUILDER_PID"); then
    log "builder dockerd not running"
    rm -f "$BUILDER_PID"
    return 0
  fi
  log "stopping builder dockerd (pid $pid)"
  kill "$pid" 2>/dev/null || true
  # dockerd gives running containers (a build's RUN) time to stop before it exits.
  for _ in $(seq 1 300); do running "$pid" || break; sleep 0.1; done
  if running "$pid"; then
    log "builder dockerd still running after 30 s: killing it"
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  fi
  rm -f "$BUILDER_PID"
}

builder_start() {
  if builder_ok; then log "builder dockerd already up on tcp://127.0.0.1:$BUILDER_PORT"; return 0; fi
  settle_dockerd "builder dockerd" "$BUILDER_PID" builder_ok "$BUILDER_LOG" && return 0
  local dockerd_bin=/usr/sbin/dockerd
  [ -x "$dockerd_bin" ] || dockerd_bin=$(command -v dockerd) || die "dockerd not installed: run $0 up first"
  builder_certs
  builder_bridge
  mkdir -p "$BUILDER_DIR/root" "$BUILDER_DIR/exec"
  # Its own (empty) config: /etc/docker/daemon.json belongs to the main dockerd.
  [ -f "$BUILDER_DIR/daemon.json" ] || echo '{}' > "$BUILDER_DIR/daemon.json"
  log "starting builder dockerd on tcp://127.0.0.1:$BUILDER_PORT (TLS) and unix://$BUILDER_SOCK (log: $BUILDER_LOG)"
  setsid "$dockerd_bin" --config-file "$BUILDER_DIR/daemon.json" \
    --host "unix://$BUILDER_SOCK" --host "tcp://127.0.0.1:$BUILDER_PORT" \
    --tlsverify --tlscacert "$BUILDER_DIR/tls/ca.pem" --tlscert "$BUILDER_DIR/tls/server-cert.pem" --tlskey "$BUILDER_DIR/tls/server-key.pem" \
    --data-root "$BUILDER_DIR/root" --exec-root "$BUILDER_DIR/exec" --pidfile "$BUILDER_PID" \
    --containerd-namespace codehub-builder --containerd-plugins-namespace codehub-builder-plugins \
    --bridge "$BUILDER_BRIDGE" --iptables=false --ip6tables=false >>"$BUILDER_LOG" 2>&1 < /dev/null &
  await_dockerd "builder dockerd" $! builder_ok "$BUILDER_LOG" "tcp://127.0.0.1:$BUILDER_PORT"
}

# The base image in the builder's own store, where its BuildKit resolves FROM first: builds on it need no
# registry credentials for the base.
builder_base_image() {
  builder_docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  log "loading $BASE_IMAGE into the builder"
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker pull -q "$BASE_IMAGE" >/dev/null \
    || die "$BASE_IMAGE is neither in the main dockerd nor pullable: run $0 up first"
  docker save "$BASE_IMAGE" | builder_docker load -q >/dev/null || die "loading $BASE_IMAGE into the builder failed"
}

cmd_builder() { # up|down|status
  case "${1:-}" in
    up)
      need_root "$@"
      docker_ok || die "the main dockerd is not running: run $0 up first"
      mkdir -p "$BUILDER_DIR"; chmod 700 "$BUILDER_DIR"
      install_packages
      builder_start
      builder_base_image
      log "builder up: dockerd $(builder_docker version -f '{{.Server.Version}}' 2>/dev/null) at tcp://127.0.0.1:$BUILDER_PORT (TLS; client certificates in $BUILDER_DIR/client)" ;;
    down) builder_stop ;;
    status)
      if builder_ok; then echo "builder: up (tcp://127.0.0.1:$BUILDER_PORT, TLS; client certificates in $BUILDER_DIR/client)"
      else echo "builder: down (tcp://127.0.0.1:$BUILDER_PORT)"; return 1; fi ;;
    *) die "usage: $0 builder up|down|status" ;;
  esac
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
  up)
    # One `up` at a time (.ci/run's image build brings the stack up beside npm test's own: two apt-gets would
    # collide on dpkg's lock). flock -o holds the lock itself and closes it for the script, so the daemons `up`
    # starts never inherit it.
    if [ -z "${CODEHUB_STACK_UP_LOCKED:-}" ] && command -v flock >/dev/null; then
      mkdir -p "$STACK_DIR"
      CODEHUB_STACK_UP_LOCKED=1 exec flock -o "$STACK_DIR/up.lock" bash "$0" "$@"
    fi
    cmd_up "$@" ;;
  gc) shift; cmd_gc "$@" ;;
  registry) shift; cmd_registry "$@" ;;
  browser) cmd_browser "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  token-registry) shift; cmd_token_registry "$@" ;;
  builder) shift; cmd_builder "$@" ;;
  s3) shift; cmd_s3 "$@" ;;
  *) echo "usage: $0 up|down|status|gc|registry|token-registry|s3|browser" >&2; exit 2 ;;
esac
