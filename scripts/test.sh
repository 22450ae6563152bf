#!/bin/sh
# SPDX-License-Identifier: MIT
# All the tests: install what is missing, build, run every default suite
# (unit, interop, abi, docs, go). The slow suites run with
#   meson test -C build --setup all
# The Windows port (cross-built, run under Wine: scripts/windows.sh), the
# sanitizer runs and the fuzz targets come after, on request (WINDOWS=1,
# SANITIZERS=1, FUZZ=1; .ci/run asks for all three). With STRICT_TESTS=1
# (.ci/run) a test that cannot run here fails instead of being skipped
# (scripts/env.sh: the Meson option strict_tests).
set -eu
cd "$(dirname "$0")/.."
# What to install: the default suites' tools, and those of the parts below
# only when they run (.ci/run asks for all of them).
deps=test
[ "${WINDOWS:-0}" != 1 ] || deps="$deps windows"
[ "${SANITIZERS:-0}" != 1 ] || deps="$deps sanitizers"
[ "${FUZZ:-0}" != 1 ] || deps="$deps fuzz"
# shellcheck disable=SC2086 # a word list
./scripts/install-deps.sh $deps
. ./scripts/env.sh
setup_build "$BUILD_DIR"
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 "$@"
if [ "${WINDOWS:-0}" = 1 ]; then
  ./scripts/windows.sh
fi
# The C suites again under ASan+UBSan and TSan, and host and guest under
# valgrind memcheck, with SANITIZERS=1.
if [ "${SANITIZERS:-0}" = 1 ]; then
  ./scripts/sanitizers.sh
fi
# A short run of every fuzz target (scripts/fuzz.sh; longer campaigns are
# run on purpose), with FUZZ=1.
if [ "${FUZZ:-0}" = 1 ]; then
  ./scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
# One plain closing line for the main run (meson's own summary is above).
summarize_tests "$BUILD_DIR/meson-logs/testlog.json" meson
