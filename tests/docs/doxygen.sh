#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs Doxygen over the public headers with docs/Doxyfile and fails on any
# warning: the header is the manual, so an undocumented symbol or
# parameter, a broken command or a nested group is a test failure.
#
# Usage: doxygen.sh DOXYGEN SOURCE_ROOT BUILD_ROOT OUTPUT_DIR
set -eu
doxygen=$1
SHMIPC_DOXYGEN_SRC=$2
SHMIPC_DOXYGEN_GEN=$3
SHMIPC_DOXYGEN_OUT=$4
export SHMIPC_DOXYGEN_SRC SHMIPC_DOXYGEN_GEN SHMIPC_DOXYGEN_OUT
rm -rf "$SHMIPC_DOXYGEN_OUT"
mkdir -p "$SHMIPC_DOXYGEN_OUT"
log="$SHMIPC_DOXYGEN_OUT/warnings.log"
status=0
"$doxygen" "$SHMIPC_DOXYGEN_SRC/docs/Doxyfile" >"$SHMIPC_DOXYGEN_OUT/doxygen.out" 2>"$log" || status=$?
# FAIL_ON_WARNINGS makes Doxygen exit non-zero; any text on stderr counts
# too, in case a version reports a warning without failing.
if [ "$status" -ne 0 ] || [ -s "$log" ]; then
  echo "doxygen: exit status $status; warnings:" >&2
  cat "$log" >&2
  exit 1
fi
if [ ! -s "$SHMIPC_DOXYGEN_OUT/html/index.html" ]; then
  echo "doxygen wrote no html/index.html" >&2
  exit 1
fi
echo "doxygen: no warnings ($(ls "$SHMIPC_DOXYGEN_OUT/html" | wc -l) html files)"
