#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job: install what is missing for a build (install-deps.sh
# build: no Wine, MinGW, clang or valgrind), build everything, then run
# the C host against the Go echo guest (and the baselines) in the
# benchmark's quick form, printing the table.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh build
. ./scripts/env.sh
setup_build "$BUILD_DIR"
exec "$BUILD_DIR/bench/shmipc-bench" --quick "$@"
