#!/usr/bin/env bash
# Garbage collection of the compose deployment's registry (deploy/compose.yaml), in this order:
#   1. codehub-build gc: retention, deleting manifests through the registry API (needs the registry writable);
#   2. the read-only twin (registry-readonly, "maintenance" profile) starts under the same network name, then the
#      read-write registry stops: pulls go on, pushes answer 405 and codehub-build holds builds queued;
#   3. `registry garbage-collect` frees the blobs no manifest references any more. Never --delete-untagged:
#      on 2.8 it deletes manifests that an OCI index still lists (codehub-build removes untagged manifests itself);
#   4. the read-write registry starts again (a fresh process: its in-memory blob cache forgets the deleted
#      blobs) and the twin stops. Step 4 also runs when 2 or 3 fail.
# Usage: deploy/registry-gc.sh [--dry-run]   (COMPOSE overrides the compose command, e.g. to add --env-file)
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
read -r -a compose <<< "${COMPOSE:-docker compose -f $dir/compose.yaml}"
dc() { "${compose[@]}" --profile maintenance "$@"; }
dry=()
[ "${1:-}" = --dry-run ] && dry=(--dry-run)

rc=0
dc exec -T codehub-build dist/src/cli.js gc "${dry[@]}" || rc=$?
# 3: some image repositories were skipped because a build of theirs was running; they go at the next run.
[ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "registry-gc: codehub-build gc failed (exit $rc)" >&2; exit "$rc"; }

restore() {
  dc up -d --wait --no-deps registry
  dc stop registry-readonly >/dev/null
  dc rm -f registry-readonly >/dev/null
  echo "registry-gc: the read-write registry is back"
}
dc up -d --wait --no-deps registry-readonly
trap restore EXIT
dc stop registry
# On storage nothing was pushed to yet the collector fails with "Path not found": nothing to collect then.
status=0
out=$(dc exec -T registry-readonly registry garbage-collect "${dry[@]}" /etc/docker/registry/config-readonly.yml 2>&1) || status=$?
printf '%s\n' "$out"
if [ "$status" != 0 ] && grep -q 'Path not found: .*docker/registry/v2/repositories' <<< "$out"; then
  echo "registry-gc: nothing pushed yet, nothing to collect"
  status=0
fi
[ "$status" = 0 ] || exit "$status"
