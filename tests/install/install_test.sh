#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install test: install the build into a temporary DESTDIR and check the
# installed tree (headers, library and its links, libshmipc.pc, the CMake
# package, the docs). Then move the installed prefix somewhere else, as a
# user who unpacks a tarball or copies an installation does, and check
# that libshmipc.pc still points inside the moved tree (it is relocatable:
# its prefix is ${pcfiledir}-relative). Finally build examples/host_example.c
# out of tree from the moved tree with pkg-config only and, when GUEST is
# given, run it against that guest with the moved library.
#
# With -Dpkgconfig.relocatable=false (RELOCATABLE=false) the .pc holds the
# absolute prefix: the tree is then not moved and pkg-config is pointed
# into the DESTDIR with PKG_CONFIG_SYSROOT_DIR instead.
#
# usage: install_test.sh MESON BUILD_DIR PREFIX LIBDIR INCLUDEDIR DATADIR \
#                        VERSION RELOCATABLE EXAMPLE_C [GUEST]
# env:   CC (default cc), PKG_CONFIG (default pkg-config), SHMIPC_TEST_STRICT,
#        CPP_CONSUMER and CXX (a C++ program including <shmipc/shmipc.hpp>,
#        built with the same pkg-config flags and run)
#
# A GUEST that is named but missing skips (77), or fails when the build
# has strict_tests (SHMIPC_TEST_STRICT=1, from Meson's test setup).
set -eu

if [ $# -lt 9 ] || [ $# -gt 10 ]; then
  echo "usage: $0 MESON BUILD_DIR PREFIX LIBDIR INCLUDEDIR DATADIR VERSION RELOCATABLE EXAMPLE_C [GUEST]" >&2
  exit 2
fi
meson=$1 build=$2 prefix=$3 libdir=$4 includedir=$5 datadir=$6 version=$7
relocatable=$8 example=$9
guest=${10:-}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Meson gives these relative to the prefix unless set absolute.
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $includedir in /*) ;; *) includedir=$prefix/$includedir ;; esac
case $datadir in /*) ;; *) datadir=$prefix/$datadir ;; esac

if [ -n "$guest" ] && [ ! -x "$guest" ]; then
  if [ "${SHMIPC_TEST_STRICT:-0}" = 1 ]; then
    fail "echo guest $guest is missing (strict_tests: the Go guest must build)"
  fi
  echo "SKIP: echo guest $guest is missing (not built)"
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
doc=$dest$datadir/doc/libshmipc
cmakedir=$lib/cmake/libshmipc
for f in "$inc/shmipc/shmipc.h" "$inc/shmipc/shmipc.hpp" "$inc/shmipc/version.h" \
         "$lib/libshmipc.so" "$lib/libshmipc.so.0" \
         "$lib/libshmipc.so.$version" "$lib/pkgconfig/libshmipc.pc" \
         "$cmakedir/libshmipcConfig.cmake" \
         "$cmakedir/libshmipcConfigVersion.cmake" \
         "$doc/README.md" "$doc/CHANGELOG.md" "$doc/PROTOCOL.md" \
         "$doc/MIGRATING.md" \
         "$doc/LICENSE"; do
  [ -e "$f" ] || fail "not installed: ${f#"$dest"}"
done
# shmipc-stat comes with the library, and its manual is its --help.
stat=$dest$prefix/bin/shmipc-stat
[ -x "$stat" ] || fail "not installed: $prefix/bin/shmipc-stat"
"$stat" --help | grep -q '^Usage: shmipc-stat' ||
  fail "the installed shmipc-stat --help does not print its manual"
[ -L "$lib/libshmipc.so.0" ] || fail "${libdir}/libshmipc.so.0 is not a symlink"
[ -L "$lib/libshmipc.so" ] || fail "${libdir}/libshmipc.so is not a symlink"
[ "$(readlink "$lib/libshmipc.so.0")" = "libshmipc.so.$version" ] ||
  fail "libshmipc.so.0 -> $(readlink "$lib/libshmipc.so.0"), expected libshmipc.so.$version"

# Only the public headers are installed (no internal ones, no static lib).
headers=$(cd "$inc/shmipc" && ls | tr '\n' ' ')
[ "$headers" = "shmipc.h shmipc.hpp version.h " ] ||
  fail "unexpected files in ${includedir}/shmipc: $headers"
if ls "$lib" | grep -q 'shmipc_internal'; then
  fail "internal library installed: $(ls "$lib" | grep shmipc_internal)"
fi
grep -q "^#define SHMIPC_VERSION_MAJOR ${version%%.*}\$" "$inc/shmipc/version.h" ||
  fail "installed version.h does not say major version ${version%%.*}"

# The .pc: no package a user would have to install (libatomic_ops is used
# header-only, inside the library); -pthread only for a static link.
pc=$lib/pkgconfig/libshmipc.pc
echo "--- libshmipc.pc"
cat "$pc"
echo "---"
if grep -q '^Requires' "$pc"; then
  fail "libshmipc.pc requires other packages: $(grep '^Requires' "$pc")"
fi
grep -q '^Libs: -L${libdir} -lshmipc$' "$pc" ||
  fail "libshmipc.pc: Libs is not '-L\${libdir} -lshmipc'"
grep -q '^Libs.private: -pthread$' "$pc" ||
  fail "libshmipc.pc: Libs.private is not '-pthread'"

# Keep -I/-L even when the prefix is a system one (/usr): the checks below
# look for them.
PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR 2>/dev/null || true

case $libdir/ in "$prefix"/*) under_prefix=true ;; *) under_prefix=false ;; esac
case $includedir/ in "$prefix"/*) ;; *) under_prefix=false ;; esac
if [ "$relocatable" = true ] && [ "$under_prefix" = true ]; then
  # --- move the installed prefix, use it from there -----------------
  if [ "$prefix" != / ] && grep -v "^#" "$pc" | grep -qF "$prefix"; then
    fail "libshmipc.pc names the install prefix $prefix: it cannot be moved"
  fi
  moved=$tmp/moved/elsewhere
  mkdir -p "$tmp/moved"
  mv "$dest$prefix" "$moved"
  rm -rf "$dest"
  inc=$moved${includedir#"$prefix"}
  lib=$moved${libdir#"$prefix"}
  where=$moved
  PKG_CONFIG_LIBDIR=$lib/pkgconfig
  export PKG_CONFIG_LIBDIR
else
  # --- not relocatable: point pkg-config into the DESTDIR -----------
  where=$dest
  PKG_CONFIG_LIBDIR=$lib/pkgconfig
  PKG_CONFIG_SYSROOT_DIR=$dest
  export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
fi

pc_version=$("$PKG_CONFIG" --modversion libshmipc) ||
  fail "pkg-config cannot read the installed libshmipc.pc"
[ "$pc_version" = "$version" ] ||
  fail "libshmipc.pc says version $pc_version, the project is $version"
cflags=$("$PKG_CONFIG" --cflags libshmipc)
libs=$("$PKG_CONFIG" --libs libshmipc)
echo "pkg-config --cflags: $cflags"
echo "pkg-config --libs:   $libs"

# Every -I and -L must lead into the installed tree (after .. and symlinks
# are resolved), to the folders holding the header and the library.
where_real=$(cd "$where" && pwd -P)
for flag in $cflags $libs; do
  case $flag in
  -I*) d=${flag#-I} want=$inc ;;
  -L*) d=${flag#-L} want=$lib ;;
  *) continue ;;
  esac
  real=$(cd "$d" 2>/dev/null && pwd -P) ||
    fail "pkg-config names $d, which does not exist"
  case $real/ in
  "$where_real"/*) ;;
  *) fail "pkg-config names $d ($real), outside the installed tree $where" ;;
  esac
  [ "$real" = "$(cd "$want" && pwd -P)" ] ||
    fail "pkg-config names $d, expected $want"
done
case " $cflags " in *" -I"*) ;; *) fail "pkg-config --cflags gives no -I" ;; esac
case " $libs " in *" -L"*) ;; *) fail "pkg-config --libs gives no -L" ;; esac

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

# --- the C++ header, with the same flags --------------------------------
if [ -n "${CPP_CONSUMER:-}" ]; then
  [ -n "${CXX:-}" ] || fail "CPP_CONSUMER is set without CXX"
  cp "$CPP_CONSUMER" "$tmp/src/cpp_consumer.cpp"
  # shellcheck disable=SC2086 # CXX, cflags and libs are word lists
  (cd "$tmp/src" && $CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror \
    $cflags -o "$tmp/cpp_consumer" cpp_consumer.cpp $libs) ||
    fail "cpp_consumer.cpp (shmipc.hpp) does not build against the installed library"
  "$tmp/cpp_consumer" || fail "cpp_consumer failed against the installed library"
fi
if command -v ldd >/dev/null 2>&1; then
  resolved=$(ldd "$tmp/host_example" | sed -n 's/.*libshmipc\.so\.0 => \([^ ]*\).*/\1/p')
  case $resolved in
  "$lib"/*) ;;
  *) fail "host_example loads libshmipc.so.0 from '${resolved:-nowhere}', not from $lib" ;;
  esac
fi

if [ -z "$guest" ]; then
  echo "ok: installed tree ($where) and out-of-tree build (no guest run requested)"
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
echo "ok: installed tree ($where), out-of-tree build and a run against $(basename "$guest")"
