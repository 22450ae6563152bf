#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what building and testing libshmipc needs on Debian/Ubuntu,
# skipping what is already there. Runs apt-get as root (sudo if needed).
set -eu

# Doxygen checks the header manual (tests/docs, warnings fail). The
# MinGW-w64 cross compilers and Wine run the Windows port
# (scripts/windows.sh).
pkgs="meson ninja-build pkg-config gcc g++ libc6-dev libatomic-ops-dev libcmocka-dev python3 binutils spin valgrind clang libclang-rt-dev doxygen gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64"
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
# Go: any toolchain already on the machine will do (go/go.mod states the minimum).
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  missing="$missing golang-go"
fi
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing:$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi
