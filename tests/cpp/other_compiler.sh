#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds tests/cpp/test_cpp.cpp with a second C++ compiler as C++17 and
# C++20, with and without -fno-exceptions, warnings as errors, and runs
# each build against the library of this build tree.
#
# usage: other_compiler.sh CXX TEST_CPP INCLUDE GEN_INCLUDE LIBSHMIPC OUTDIR [FLAG...]
set -eu
cxx=$1 src=$2 inc=$3 gen=$4 lib=$5 out=$6
shift 6
mkdir -p "$out"
libdir=$(dirname "$lib")
status=0
for std in c++17 c++20; do
  for eh in "" -fno-exceptions; do
    exe=$out/test-cpp-$std${eh:+-noexcept}
    # shellcheck disable=SC2068 # the flags are a word list
    if ! "$cxx" -std=$std $eh -Wall -Wextra -Wpedantic -Werror "$@" \
      -I"$inc" -I"$gen" -o "$exe" "$src" "$lib" -pthread; then
      echo "FAIL: $cxx -std=$std $eh does not build $src" >&2
      status=1
      continue
    fi
    if ! LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$exe"; then
      echo "FAIL: $exe" >&2
      status=1
    fi
  done
done
exit $status
