#!/bin/sh
# SPDX-License-Identifier: MIT
# The C suites (unit, interop, hostile) under AddressSanitizer +
# UndefinedBehaviorSanitizer (with the C++ API's suite, cpp) and under
# ThreadSanitizer, then valgrind
# memcheck on a host (test-interop, test-unit) and on the C echo guest
# driven by a normal host. Every stage runs; the script exits non-zero if
# any of them found anything (the log says which).
#
#   ./scripts/sanitizers.sh [asan] [tsan] [valgrind]    (default: all three)
#
# Build dirs: build-asan, build-tsan, build-valgrind (CC picks the
# compiler; gcc by default: its sanitizer runtimes come with the gcc
# package; CXX the C++ one). Only the C and C++ code is instrumented; the
# Go echo guest is built as usual and is the peer of the interop and
# hostile suites (and the Go FlatBuffers guest of the cpp suite's).
#
# ThreadSanitizer: the library's shared-memory atomics are libatomic_ops
# calls that compile to __atomic builtins on the supported targets, which
# TSan understands, so the in-process suites need no suppressions. A
# file tests/tsan.supp, if present, is used; every entry there must say
# why it is a false positive. TSan cannot see across processes: plain
# fields written by one process and read by another are checked only by the
# in-process unit suite.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/env.sh

what="${*:-asan tsan valgrind}"
# The interop stream tests send 16 MiB here instead of 256 MiB: the
# instrumented runs are 5-50 times slower, and the size adds no coverage.
SHMIPC_TEST_STREAM_MIB="${SHMIPC_TEST_STREAM_MIB:-16}"
export SHMIPC_TEST_STREAM_MIB
cc="${CC:-gcc}"
jobs=2 # as setup_build compiles
start=$(date +%s)

log() { printf '\n=== sanitizers: %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }

# setup DIR OPTIONS...: a sanitizer build (no benchmark: it measures nothing
# here).
setup() {
  CC="$cc" setup_build "$@" -Dbench=false >/dev/null
}

# The suites to run; abi/install/go have nothing C-instrumented to add.
suites="--suite unit --suite interop --suite hostile"
# ASan+UBSan also run the C++ API's suite: its header's code is compiled
# into the test programs, instrumented there.
asan_suites="$suites --suite cpp"

run_asan() {
  log "ASan+UBSan build"
  setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-sanitize-recover=all -Dcpp_args=-fno-sanitize-recover=all
  log "ASan+UBSan tests"
  # Children (echo guest, shmipc-hostile) inherit these.
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  LSAN_OPTIONS="exitcode=1" \
    meson test -C build-asan $asan_suites --print-errorlogs --num-processes "$jobs"
}

run_tsan() {
  log "TSan build"
  setup build-tsan -Db_sanitize=thread -Db_lundef=false
  topts="halt_on_error=0:exitcode=66:second_deadlock_stack=1"
  if [ -f tests/tsan.supp ]; then
    topts="$topts:suppressions=$(pwd)/tests/tsan.supp"
  fi
  log "TSan tests"
  TSAN_OPTIONS="$topts" \
    meson test -C build-tsan $suites --print-errorlogs --num-processes "$jobs"
}

run_valgrind() {
  if ! command -v valgrind >/dev/null 2>&1; then
    echo "sanitizers: valgrind is not installed (scripts/install-deps.sh)" >&2
    exit 1
  fi
  log "valgrind build"
  setup build-valgrind
  vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1"
  log "valgrind: unit suite (host and guest in one process) and interop (host under valgrind, C and Go guests)"
  # By name: the slow liveness tests add nothing here that ASan missed.
  # Latency bounds of the tests stretch tenfold for a peer under valgrind
  # (tests/README.md, SHMIPC_TEST_TIME_SCALE).
  SHMIPC_TEST_TIME_SCALE=10 meson test -C build-valgrind --wrapper "$vg" --print-errorlogs \
    --num-processes 1 --timeout-multiplier 3 \
    layout unit interop-c-guest interop-go-guest
  log "valgrind: the C echo guest under valgrind, driven by a normal host"
  wrap=$(mktemp -d)
  trap 'rm -rf "$wrap"' EXIT
  # test-interop execs argv[1] as the guest: a wrapper puts valgrind in
  # between. A finding makes the guest exit 1, which fails the host's test.
  cat >"$wrap/shmipc-echo-c" <<EOF
#!/bin/sh
exec $vg "$(pwd)/build-valgrind/tests/shmipc-echo-c" "\$@"
EOF
  chmod +x "$wrap/shmipc-echo-c"
  SHMIPC_TEST_TIME_SCALE=10 build-valgrind/tests/test-interop "$wrap/shmipc-echo-c"
  log "valgrind: the C echo guest under valgrind against the hostile host"
  # The hostile suite checks that a guest that ends does so cleanly; a
  # valgrind report in its stderr counts as a crash there. Part (a) only:
  # in part (b) the guest is a fake (the host side ran under ASan above).
  build-valgrind/tests/hostile/test-hostile-host \
    build-valgrind/tests/hostile/shmipc-hostile "$wrap/shmipc-echo-c"
}

failed=""
for w in $what; do
  case "$w" in
  asan | tsan | valgrind) ;;
  *)
    echo "usage: $0 [asan] [tsan] [valgrind]" >&2
    exit 2
    ;;
  esac
  # Each stage in a subshell with errexit on: its first failing command
  # ends it, and the next stage still runs.
  set +e
  (
    set -e
    "run_$w"
  )
  rc=$?
  set -e
  [ "$rc" = 0 ] || failed="$failed $w"
done
if [ -n "$failed" ]; then
  log "FINDINGS in:$failed (see the output above and build-*/meson-logs/testlog.txt)"
  exit 1
fi
log "all clean"
