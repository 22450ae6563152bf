#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The CMake package as a CMake user meets it: install the build into a
# temporary DESTDIR, move the installed prefix elsewhere (the package finds
# its files from its own place), then configure and build
# tests/install/cmake_consumer with find_package(libshmipc) and
# libshmipc::shmipc, pointed at the moved prefix by CMAKE_PREFIX_PATH only.
# Checks the version rule too: the release's own version is accepted, a
# request for the next series is refused. When GUEST is given, the built
# host_example runs against it.
#
# usage: cmake_consumer.sh CMAKE MESON BUILD_DIR PREFIX LIBDIR VERSION \
#                          CONSUMER_DIR EXAMPLE_C [GUEST]
# env:   CC (default cc), CI; CPP_CONSUMER and CXX: a C++ program including
#        <shmipc/shmipc.hpp>, built with libshmipc::shmipc too and run
#
# CMAKE empty (CMake not found at setup) fails under CI=true and skips
# (77) otherwise.
set -eu

if [ $# -lt 8 ] || [ $# -gt 9 ]; then
  echo "usage: $0 CMAKE MESON BUILD_DIR PREFIX LIBDIR VERSION CONSUMER_DIR EXAMPLE_C [GUEST]" >&2
  exit 2
fi
cmake=$1 meson=$2 build=$3 prefix=$4 libdir=$5 version=$6 consumer=$7
example=$8 guest=${9:-}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

if [ -z "$cmake" ]; then
  if [ "${SHMIPC_TEST_STRICT:-0}" = 1 ]; then
    fail "cmake not found (strict_tests: the CMake consumer must be built)"
  fi
  echo "SKIP: cmake not found (scripts/install-deps.sh test installs it)"
  exit 77
fi
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $libdir/ in
"$prefix"/*) ;;
*) echo "SKIP: libdir $libdir is outside the prefix: the tree cannot move"; exit 77 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmipc-cmake.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$meson" install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet \
  >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2
  fail "meson install --destdir failed"
}
moved=$tmp/moved/elsewhere
mkdir -p "$tmp/moved"
mv "$tmp/dest$prefix" "$moved"
rm -rf "$tmp/dest"
lib=$moved${libdir#"$prefix"}

# Meson's test runner points LD_LIBRARY_PATH at the build tree's library:
# the consumer must find the one it was built against on its own.
unset LD_LIBRARY_PATH 2>/dev/null || true

mkdir "$tmp/src"
cp "$consumer/CMakeLists.txt" "$tmp/src/"
cp "$example" "$tmp/src/host_example.c"
if [ -n "${CPP_CONSUMER:-}" ]; then
  cp "$CPP_CONSUMER" "$tmp/src/cpp_consumer.cpp"
fi

# configure DIR [-DVAR=VALUE...]: a fresh build folder each time.
configure() {
  _dir=$1
  shift
  CC=${CC:-cc} CXX=${CXX:-c++} "$cmake" -S "$tmp/src" -B "$_dir" -G Ninja \
    -DCMAKE_PREFIX_PATH="$moved" -DCMAKE_BUILD_TYPE=Release "$@" \
    >"$_dir.log" 2>&1
}

# A request for the next series (0.Y -> 0.Y+1, X.Y -> X+1.0) is refused.
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
if [ "$major" = 0 ]; then
  next=0.$((minor + 1))
else
  next=$((major + 1)).0
fi
if configure "$tmp/b-next" -DSHMIPC_WANT="$next"; then
  cat "$tmp/b-next.log" >&2
  fail "find_package(libshmipc $next) accepted version $version"
fi
grep -q 'compatible with requested version' "$tmp/b-next.log" ||
  { cat "$tmp/b-next.log" >&2; fail "find_package(libshmipc $next) failed, but not for its version"; }
echo "ok: find_package(libshmipc $next) refuses $version"

if ! configure "$tmp/b" -DSHMIPC_WANT="$major.$minor"; then
  cat "$tmp/b.log" >&2
  fail "find_package(libshmipc $major.$minor) failed against $moved"
fi
grep "libshmipc $version from" "$tmp/b.log" ||
  { cat "$tmp/b.log" >&2; fail "find_package did not report version $version"; }
if ! "$cmake" --build "$tmp/b" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  fail "host_example does not build with libshmipc::shmipc"
fi
echo "ok: built host_example with find_package(libshmipc) from $moved"
if [ -n "${CPP_CONSUMER:-}" ]; then
  LD_LIBRARY_PATH="" "$tmp/b/cpp_consumer" ||
    fail "the CMake-built cpp_consumer (shmipc.hpp) failed"
  echo "ok: built and ran cpp_consumer (shmipc.hpp) with libshmipc::shmipc"
fi

# The executable links the moved library (CMake gives it a RUNPATH to it).
if command -v ldd >/dev/null 2>&1; then
  resolved=$(ldd "$tmp/b/host_example" | sed -n 's/.*libshmipc\.so\.0 => \([^ ]*\).*/\1/p')
  case $resolved in
  "$lib"/*) ;;
  *) fail "host_example loads libshmipc.so.0 from '${resolved:-nowhere}', not from $lib" ;;
  esac
fi

if [ -z "$guest" ]; then
  exit 0
fi
if [ ! -x "$guest" ]; then
  fail "echo guest $guest is missing"
fi
name=shmipc-cmake-$$-$(date +%s)
run=""
if command -v timeout >/dev/null 2>&1; then
  run="timeout -k 5 60"
fi
# shellcheck disable=SC2086 # run is a word list
if ! $run "$tmp/b/host_example" "$name" "$guest"; then
  rm -f "/dev/shm/shmipc-$name" 2>/dev/null || true
  fail "the CMake-built host_example against $guest failed (see above)"
fi
echo "ok: the CMake-built host_example ran against $(basename "$guest")"
