#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs, on Debian or Ubuntu, what the job at hand needs and is missing
# (apt-get, through sudo when not root). Other systems: README,
# "Prerequisites"; this script then only says what it would install.
#
#   ./scripts/install-deps.sh [--dry-run] [GROUP...]     (default: build)
#
# Groups (each includes the ones before it where it says so):
#   build       configure and build this tree with its default options, as
#               ./scripts/run.sh does: C compiler, Meson, Ninja, pkg-config,
#               libatomic_ops headers, Python 3, cmocka (the default build
#               builds the test programs, among them the C echo guest), and
#               Go when no Go toolchain is found (the Go echo guest)
#   test        build + what ./scripts/test.sh's default suites use: C++
#               (ABI and cpp suites), spin (protocol model), CMake (install
#               suite), Doxygen, flatc and the FlatBuffers headers (the
#               FlatBuffers example, cpp suite)
#   windows     test + the MinGW-w64 cross compilers and Wine
#               (scripts/windows.sh)
#   sanitizers  test + valgrind (scripts/sanitizers.sh; gcc brings ASan
#               and TSan)
#   fuzz        test + clang and its runtimes (scripts/fuzz.sh: libFuzzer)
#   all         every group: what CI (.ci/run) runs
# --dry-run prints the selected packages and the missing ones, and
# installs nothing.
set -eu

dry=0
groups=""
for a in "$@"; do
  case $a in
  --dry-run) dry=1 ;;
  build | test | windows | sanitizers | fuzz | all) groups="$groups $a" ;;
  *)
    echo "usage: $0 [--dry-run] [build|test|windows|sanitizers|fuzz|all]..." >&2
    exit 2
    ;;
  esac
done
[ -n "$groups" ] || groups=" build"

build_pkgs="meson ninja-build pkg-config gcc libc6-dev binutils libatomic-ops-dev python3 libcmocka-dev"
test_pkgs="g++ spin cmake doxygen clang-format flatbuffers-compiler libflatbuffers-dev"
windows_pkgs="gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64"
sanitizers_pkgs="valgrind"
fuzz_pkgs="clang libclang-rt-dev"

want_test=0 want_windows=0 want_sanitizers=0 want_fuzz=0
for g in $groups; do
  case $g in
  test) want_test=1 ;;
  windows) want_test=1 want_windows=1 ;;
  sanitizers) want_test=1 want_sanitizers=1 ;;
  fuzz) want_test=1 want_fuzz=1 ;;
  all) want_test=1 want_windows=1 want_sanitizers=1 want_fuzz=1 ;;
  esac
done
pkgs=$build_pkgs
[ "$want_test" = 0 ] || pkgs="$pkgs $test_pkgs"
[ "$want_windows" = 0 ] || pkgs="$pkgs $windows_pkgs"
[ "$want_sanitizers" = 0 ] || pkgs="$pkgs $sanitizers_pkgs"
[ "$want_fuzz" = 0 ] || pkgs="$pkgs $fuzz_pkgs"
# Go: any toolchain already on the machine will do (go/go.mod states the
# minimum); Debian's golang-go otherwise.
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  pkgs="$pkgs golang-go"
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps:$groups: no dpkg/apt-get here; install the equivalents of" \
    "these Debian packages yourself (README, \"Prerequisites\"):" >&2
  echo "  $pkgs" >&2
  exit 0
fi

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

if [ "$dry" = 1 ]; then
  echo "groups:$groups"
  echo "selected: $pkgs"
  echo "missing:${missing:- none}"
  exit 0
fi
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing ($groups ):$missing"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086 # a word list
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi
