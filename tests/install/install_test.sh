#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install test: install the build into a temporary DESTDIR, check the
# installed tree, build examples/host_example.c out of tree against it with
# pkg-config only, and (when GUEST is given) run it against that guest with
# the installed library.
#
# usage: install_test.sh MESON BUILD_DIR PREFIX LIBDIR INCLUDEDIR VERSION \
#                        EXAMPLE_C [GUEST]
# env:   CC (default cc), PKG_CONFIG (default pkg-config), SHMIPC_TEST_STRICT
#
# A GUEST that is named but missing skips (77), or fails when the build
# has strict_tests (SHMIPC_TEST_STRICT=1, from Meson's test setup).
set -eu

if [ $# -lt 7 ] || [ $# -gt 8 ]; then
  echo "usage: $0 MESON BUILD_DIR PREFIX LIBDIR INCLUDEDIR VERSION EXAMPLE_C [GUEST]" >&2
  exit 2
fi
meson=$1 build=$2 prefix=$3 libdir=$4 includedir=$5 version=$6 example=$7
guest=${8:-}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Meson gives libdir/includedir relative to the prefix unless set absolute.
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $includedir in /*) ;; *) includedir=$prefix/$includedir ;; esac

if [ -n "$guest" ] && [ ! -x "$guest" ]; then
  if [ "${SHMIPC_TEST_STRICT:-0}" = 1 ]; then
    fail "echo guest $guest is missing (strict_tests: the Go guest must build)"
  fi
  echo "SKIP: echo guest $guest is missing (Go guest not built)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmipc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest

# --- install --------------------------------------------------------
"$meson" install -C "$build" --destdir "$dest" --no-rebuild --quiet \
  >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2
  fail "meson install --destdir failed"
}

inc=$dest$includedir
lib=$dest$libdir
for f in "$inc/shmipc/shmipc.h" "$inc/shmipc/version.h" \
         "$lib/libshmipc.so" "$lib/libshmipc.so.0" \
         "$lib/libshmipc.so.$version" "$lib/pkgconfig/libshmipc.pc"; do
  [ -e "$f" ] || fail "not installed: ${f#"$dest"}"
done
[ -L "$lib/libshmipc.so.0" ] || fail "${libdir}/libshmipc.so.0 is not a symlink"
[ -L "$lib/libshmipc.so" ] || fail "${libdir}/libshmipc.so is not a symlink"
[ "$(readlink "$lib/libshmipc.so.0")" = "libshmipc.so.$version" ] ||
  fail "libshmipc.so.0 -> $(readlink "$lib/libshmipc.so.0"), expected libshmipc.so.$version"

# Only the public headers are installed (no internal ones, no static lib).
headers=$(cd "$inc/shmipc" && ls | tr '\n' ' ')
[ "$headers" = "shmipc.h version.h " ] ||
  fail "unexpected files in ${includedir}/shmipc: $headers"
if ls "$lib" | grep -q 'shmipc_internal'; then
  fail "internal library installed: $(ls "$lib" | grep shmipc_internal)"
fi
grep -q "^#define SHMIPC_VERSION_MAJOR ${version%%.*}\$" "$inc/shmipc/version.h" ||
  fail "installed version.h does not say major version ${version%%.*}"

# --- pkg-config, pointed into the DESTDIR -------------------------------
PKG_CONFIG_PATH=$lib/pkgconfig
PKG_CONFIG_LIBDIR=$lib/pkgconfig
PKG_CONFIG_SYSROOT_DIR=$dest
# Keep -I/-L even when the prefix is a system one (/usr): they get the
# sysroot prepended and must not be filtered out.
PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR \
  PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS

pc_version=$("$PKG_CONFIG" --modversion libshmipc) ||
  fail "pkg-config cannot read the installed libshmipc.pc"
[ "$pc_version" = "$version" ] ||
  fail "libshmipc.pc says version $pc_version, the project is $version"
cflags=$("$PKG_CONFIG" --cflags libshmipc)
libs=$("$PKG_CONFIG" --libs libshmipc)
echo "pkg-config --cflags: $cflags"
echo "pkg-config --libs:   $libs"

# --- out-of-tree build of the example -----------------------------------
# Copied alone into an empty directory: nothing from the source tree is on
# the include path but what pkg-config says.
mkdir "$tmp/src"
cp "$example" "$tmp/src/host_example.c"
# shellcheck disable=SC2086 # CC, cflags and libs are word lists
(cd "$tmp/src" && $CC -std=c11 -Wall -Wextra -Wpedantic -Werror \
  $cflags -o "$tmp/host_example" host_example.c $libs) ||
  fail "host_example.c does not build against the installed library"

LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
if command -v ldd >/dev/null 2>&1; then
  resolved=$(ldd "$tmp/host_example" | sed -n 's/.*libshmipc\.so\.0 => \([^ ]*\).*/\1/p')
  case $resolved in
  "$lib"/*) ;;
  *) fail "host_example loads libshmipc.so.0 from '${resolved:-nowhere}', not from $lib" ;;
  esac
fi

if [ -z "$guest" ]; then
  echo "ok: installed tree and out-of-tree build (no guest run requested)"
  exit 0
fi

# --- run against the guest ------------------------------------------
name=shmipc-install-$$-$(date +%s)
run=""
if command -v timeout >/dev/null 2>&1; then
  run="timeout -k 5 60"
fi
# shellcheck disable=SC2086 # run is a word list
if ! $run "$tmp/host_example" "$name" "$guest"; then
  rm -f "/dev/shm/shmipc-$name" 2>/dev/null || true
  fail "host_example against $guest failed (see above)"
fi
echo "ok: installed tree, out-of-tree build and a run against $(basename "$guest")"
