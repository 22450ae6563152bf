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
./scripts/install-deps.sh
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
