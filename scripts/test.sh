#!/bin/sh
# SPDX-License-Identifier: MIT
# All the tests: install what is missing, build, run every default suite
# (unit, interop, abi, docs, go). The slow suites run with
#   meson test -C build --setup all
# The Windows port (cross-built, run under Wine: scripts/windows.sh) and the
# sanitizer runs come after: always under CI, on request elsewhere
# (WINDOWS=1, SANITIZERS=1).
set -eu
cd "$(dirname "$0")/.."
# What to install: the default suites' tools, and those of the parts below
# only when they run (all of them under CI).
if [ "${CI:-}" = true ]; then
  deps=all
else
  deps=test
  [ "${WINDOWS:-0}" != 1 ] || deps="$deps windows"
  [ "${SANITIZERS:-0}" != 1 ] || deps="$deps sanitizers"
  [ "${FUZZ:-0}" != 1 ] || deps="$deps fuzz"
fi
# shellcheck disable=SC2086 # a word list
./scripts/install-deps.sh $deps
. ./scripts/env.sh
setup_build "$BUILD_DIR"
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 "$@"
if [ "${CI:-}" = true ] || [ "${WINDOWS:-0}" = 1 ]; then
  ./scripts/windows.sh
fi
# The C suites again under ASan+UBSan and TSan, and host and guest under
# valgrind memcheck: always under CI, with SANITIZERS=1 elsewhere.
if [ "${CI:-}" = true ] || [ "${SANITIZERS:-0}" = 1 ]; then
  ./scripts/sanitizers.sh
fi
# A short run of every fuzz target (scripts/fuzz.sh; longer campaigns are
# run on purpose): always under CI, with FUZZ=1 elsewhere.
if [ "${CI:-}" = true ] || [ "${FUZZ:-0}" = 1 ]; then
  ./scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
# One plain closing line for the main run (meson's own summary is above).
summarize_tests "$BUILD_DIR/meson-logs/testlog.json" meson
