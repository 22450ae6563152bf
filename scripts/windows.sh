#!/bin/sh
# SPDX-License-Identifier: MIT
# The Windows port, checked on Linux: cross-build the library (shmipc.dll),
# the C test suites and the C echo guest with MinGW-w64, the Go guest for
# GOOS=windows (go vet, go test -c, the echo guest .exe), then run under
# Wine, headless, in a private prefix that is removed at the end:
#   - the ABI suite (header as C and C++, the DLL's export table),
#   - the C unit, layout and stream suites, the stream conformance vectors,
#   - the interop suite: the C host .exe against the C echo guest .exe and
#     against the Go echo guest .exe (calls with content checks, guest
#     calls, streams of 4 MiB with SHA-256 compared, a killed guest
#     detected as PEER_GONE and replaced, a killed host detected by its
#     guest, the one-thread 64 B round trip), and 10 s of the stress run
#     per guest (8 threads of calls, guest calls and streams while the
#     guest is killed and restarted at random; large answers and streams
#     from the guest beside them), streams from each guest to the host
#     (4 MiB, SHA-256 compared; a guest killed mid-stream, the
#     whole-stream timeout), large answers from each guest (sizes around
#     the slot, 17 MiB, and the 256 MiB case capped at 4 MiB; SHA-256 on
#     both ends, a guest killed mid-answer, a caller that abandons one half
#     read, the transfer's timeout, hostile pulls), and eight host threads
#     mixing small calls, large answers and streams both ways at once,
#   - the large-answer and guest-stream suites again at full size: 17 and
#     256 MiB from each guest, both ways of serving a guest stream, with
#     SHA-256 on both ends,
#   - the Go guest's portable tests and its Windows Connect tests,
#   - the benchmark's quick run (its Windows edition: spin baseline, C and
#     Go guests, one thread, 64 B, and the idle check).
# A missing tool makes the script say what is missing and exit 77
# (skipped), or fail under STRICT_TESTS=1 (scripts/env.sh: cannot_run).
#
#   ./scripts/windows.sh          (BUILD_WIN_DIR, default build-win)
set -eu
cd "$(dirname "$0")/.."
. ./scripts/env.sh
start=$(date +%s)
log() { printf '\n=== windows: %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }

missing=""
for t in x86_64-w64-mingw32-gcc x86_64-w64-mingw32-g++ x86_64-w64-mingw32-objdump wine wineboot wineserver go meson ninja; do
  command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
  cannot_run "windows: missing tools:$missing (scripts/install-deps.sh installs them)"
fi

dir="${BUILD_WIN_DIR:-build-win}"
# libatomic_ops is header-only here and its headers are target-neutral;
# the cross build gets a folder holding just them (not all of
# /usr/include, whose glibc headers must not shadow MinGW's).
ao_h=$(echo '#include <atomic_ops.h>' | cc -E -M - 2>/dev/null |
  tr ' \\' '\n\n' | grep '/atomic_ops\.h$' | head -n 1 || true)
if [ -z "$ao_h" ]; then
  echo "windows: atomic_ops.h not found (libatomic-ops-dev)" >&2
  exit 1
fi
mkdir -p "$dir/ao-include"
ln -sfn "$ao_h" "$dir/ao-include/atomic_ops.h"
ln -sfn "$(dirname "$ao_h")/atomic_ops" "$dir/ao-include/atomic_ops"

log "cross build (MinGW-w64)"
opts="--cross-file cross/mingw-w64-x86_64.ini -Dgo=enabled -Dbench=true -Datomic_ops_include=$(pwd)/$dir/ao-include"
# shellcheck disable=SC2086 # the options are words without spaces
setup_build "$dir" $opts >/dev/null

log "Go guest for windows/amd64: go vet, go test -c"
(
  cd go
  GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go vet ./...
  GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -c -o "../$dir/shmipc-go-test.exe" .
)

log "Wine prefix"
WINEPREFIX=$(mktemp -d "${TMPDIR:-/tmp}/shmipc-wine.XXXXXX")
export WINEPREFIX
# Headless: no display, no Mono or Gecko installer, no debug chatter.
export WINEDEBUG=-all WINEARCH=win64 WINEDLLOVERRIDES="mscoree=;mshtml="
unset DISPLAY WAYLAND_DISPLAY
cleanup() {
  # wineserver lingers for a few seconds after the last program: stop it
  # so that CI does not wait for it, then drop the prefix.
  wineserver -k >/dev/null 2>&1 || true
  wineserver -w >/dev/null 2>&1 || true
  rm -rf "$WINEPREFIX"
}
trap cleanup EXIT
# One wineserver for the whole run, kept up until cleanup. Left to itself
# it exits a few seconds after its last client, and a test starting just
# then fails at once with "wine client error:0: recvmsg: Connection reset
# by peer" (seen once, in abi-c).
wineserver -p
wineboot -i >/dev/null 2>&1
sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -e "$sys32/bcryptprimitives.dll" ]; then
  echo "this Wine has no bcryptprimitives.dll (Go 1.22+ needs ProcessPrng): using the stand-in from tests/wine"
  cp "$dir/tests/bcryptprimitives.dll" "$sys32/"
fi

log "under Wine: ABI, unit and interop suites"
rc=0
# Streams of a few MiB (content-checked by SHA-256) rather than 256 MiB.
SHMIPC_TEST_STREAM_MIB=4 meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 1 \
  --suite abi --suite unit --suite interop || rc=1

log "under Wine: 256 MiB large answers and guest streams, both guests"
# The run above caps every transfer at 4 MiB to keep the suites short; the
# large answers and guest streams run once more at their full sizes (up to
# 256 MiB, SHA-256 on both ends), in a log of their own.
meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 1 \
  --logbase wine-full-size answer-interop-c-guest answer-interop-go-guest \
  guest-stream-c-guest guest-stream-go-guest || rc=1

log "under Wine: the Go guest's portable tests"
(cd go && wine "../$dir/shmipc-go-test.exe" -test.count=1 -test.v) >"$dir/go-test.log" 2>&1 || rc=1
grep -E '^(--- |PASS|FAIL|ok)' "$dir/go-test.log" || true
gopass=$(grep -c '^--- PASS' "$dir/go-test.log" || true)
gofail=$(grep -c '^--- FAIL' "$dir/go-test.log" || true)

log "under Wine: shmipc-bench --quick"
# The benchmark links shmipc.dll from the build tree (meson test finds it
# by itself).
WINEPATH="Z:$(pwd)/$dir/src" wine "$dir/bench/shmipc-bench.exe" --quick \
  >"$dir/bench-quick.txt" 2>"$dir/bench-quick.err" || {
  rc=1
  echo "shmipc-bench failed:" >&2
  cat "$dir/bench-quick.err" >&2
}

log "summary"
summarize_tests "$dir/meson-logs/testlog.json" "under Wine: meson tests" \
  '^(round trip|killed guest|killed host|new host|stream:|stress:|  ok |  large answers|  guest streams|sleep path|guest killed mid-stream|whole-stream timeout|# [0-9]+ MiB: call|# guest killed at|# killed mid-transfer|# transfer timeout|# [0-9]+ threads)|not run on this OS'
summarize_tests "$dir/meson-logs/wine-full-size.json" \
  "under Wine: large answers and guest streams at full size" \
  '^(# [0-9]+ MiB: call|guest stream: [0-9]+ MiB)'
echo "under Wine: Go guest portable tests: $gopass passed, $gofail failed"
echo "under Wine: shmipc-bench --quick (Wine is not a performance reference):"
tr -d '\r' <"$dir/bench-quick.txt" | grep -v '^ready$' | sed 's/^/  /'
echo 'not run under Wine, and why: README.md, "Windows" ("Not run under Wine, and why")'
log "done (rc $rc)"
exit "$rc"
