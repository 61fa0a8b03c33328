#!/bin/sh
# Compiles the native post-receive hook (native/post-receive.c) into dist/native/. It spares every push Node's
# start-up; without a C compiler the server falls back to the Node hook (dist/src/git/hook-main.js).
set -eu
cd "$(dirname "$0")/.."
cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || cc=gcc
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-hook: no C compiler ($cc); pushes will use the slower Node hook. Install one with: apt-get install gcc" >&2
  exit 0
fi
mkdir -p dist/native
"$cc" -O2 -Wall -Wextra -std=c11 -o dist/native/post-receive.tmp native/post-receive.c
mv dist/native/post-receive.tmp dist/native/post-receive
