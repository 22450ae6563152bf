#!/bin/sh
# SPDX-License-Identifier: MIT
# All the tests: install what is missing, build, run every default suite
# (unit, interop, abi, go). The slow suites run with
#   meson test -C build --setup all
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
. ./scripts/env.sh
setup_build
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 "$@"
