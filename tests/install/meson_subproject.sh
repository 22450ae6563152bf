#!/bin/sh
# SPDX-License-Identifier: MIT
#
# libshmipc as a Meson subproject: tests/install/meson_consumer with this
# source tree as subprojects/libshmipc (a symlink), configured with
# --force-fallback-for=libshmipc so that an installed libshmipc cannot
# stand in. Checks that the subproject builds the library alone:
#   - cmocka is not looked for (and is hidden from pkg-config), nor Go;
#   - no test, benchmark or Go target exists, and the consumer's
#     `meson test` lists no test;
#   - a second build has nothing to do (no target reruns every time);
# then runs the consumer's host_example against GUEST, when given.
#
# usage: meson_subproject.sh MESON SOURCE_ROOT CONSUMER_DIR EXAMPLE_C [GUEST]
# env:   CC, PKG_CONFIG (default pkg-config)
set -eu

if [ $# -lt 4 ] || [ $# -gt 5 ]; then
  echo "usage: $0 MESON SOURCE_ROOT CONSUMER_DIR EXAMPLE_C [GUEST]" >&2
  exit 2
fi
meson=$1 src=$2 consumer=$3 example=$4 guest=${5:-}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmipc-subproject.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

proj=$tmp/proj
mkdir -p "$proj/subprojects"
cp "$consumer/meson.build" "$proj/"
cp "$example" "$proj/host_example.c"
ln -s "$(cd "$src" && pwd)" "$proj/subprojects/libshmipc"

# pkg-config sees atomic_ops alone: were cmocka (or anything else) asked
# for, it would not be found.
mkdir "$tmp/pc"
ao_pc=$("$PKG_CONFIG" --variable=pcfiledir atomic_ops 2>/dev/null || true)
if [ -n "$ao_pc" ] && [ -f "$ao_pc/atomic_ops.pc" ]; then
  cp "$ao_pc/atomic_ops.pc" "$tmp/pc/"
fi
PKG_CONFIG_LIBDIR=$tmp/pc
export PKG_CONFIG_LIBDIR
unset PKG_CONFIG_PATH 2>/dev/null || true

# Meson's test runner points LD_LIBRARY_PATH at the build tree's library:
# the consumer must find the one it was built against on its own.
unset LD_LIBRARY_PATH 2>/dev/null || true

b=$tmp/build
if ! "$meson" setup "$b" "$proj" --force-fallback-for=libshmipc \
  >"$tmp/setup.log" 2>&1; then
  cat "$tmp/setup.log" >&2
  fail "the consumer does not configure with libshmipc as a subproject"
fi
log=$b/meson-logs/meson-log.txt
grep -q 'Executing subproject libshmipc' "$tmp/setup.log" ||
  { cat "$tmp/setup.log" >&2; fail "libshmipc was not used as a subproject"; }
for word in cmocka 'Program go ' 'Program spin'; do
  if grep -n "$word" "$log" | grep -v '^[0-9]*:Build Options' | grep -q .; then
    grep -n "$word" "$log" >&2
    fail "the subproject looked for '$word' (only the library should be built)"
  fi
done

# The targets: the consumer's and the library's own, nothing else.
targets=$("$meson" introspect --targets "$b" | python3 -c '
import json, sys
print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
echo "targets: $targets"
[ "$targets" = "host_example shmipc shmipc_internal" ] ||
  fail "unexpected targets in the consumer build: $targets"
tests=$("$meson" introspect --tests "$b" | python3 -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin)))')
[ -z "$tests" ] || fail "the consumer's meson test would run: $tests"
benchmarks=$("$meson" introspect --benchmarks "$b" | python3 -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin)))')
[ -z "$benchmarks" ] || fail "the consumer's meson test --benchmark would run: $benchmarks"

if ! "$meson" compile -C "$b" >"$tmp/compile.log" 2>&1; then
  cat "$tmp/compile.log" >&2
  fail "the consumer does not build"
fi
"$meson" compile -C "$b" >"$tmp/compile2.log" 2>&1 ||
  { cat "$tmp/compile2.log" >&2; fail "the second build failed"; }
grep -q 'ninja: no work to do' "$tmp/compile2.log" ||
  { cat "$tmp/compile2.log" >&2; fail "a second build of the consumer did work again"; }
echo "ok: the subproject builds the library alone, and a rebuild has nothing to do"

if [ -z "$guest" ]; then
  exit 0
fi
if [ ! -x "$guest" ]; then
  fail "echo guest $guest is missing"
fi
name=shmipc-subproject-$$-$(date +%s)
run=""
if command -v timeout >/dev/null 2>&1; then
  run="timeout -k 5 60"
fi
# shellcheck disable=SC2086 # run is a word list
if ! $run "$b/host_example" "$name" "$guest"; then
  rm -f "/dev/shm/shmipc-$name" 2>/dev/null || true
  fail "the consumer's host_example against $guest failed (see above)"
fi
echo "ok: the consumer's host_example ran against $(basename "$guest")"
