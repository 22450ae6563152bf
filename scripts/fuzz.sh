#!/bin/sh
# SPDX-License-Identifier: MIT
# Fuzz every parser of peer-controlled data for SECONDS each (default 20,
# as CI runs it; a campaign on purpose: ./scripts/fuzz.sh 3600):
#   fuzz-reassembler  the C stream reassembler (libFuzzer, ASan+UBSan)
#   fuzz-answer       the C host's checks of a guest's response header and
#                     the sender's judgement of a stream answer (libFuzzer)
#   fuzz-stat         shmipc-stat's reader of a whole segment (libFuzzer)
#   fuzz-pull         large answers: the C guest's answers to pulls and the
#                     host's judgement of announcements and pull answers
#   FuzzReassembler   the Go stream reassembler (go test -fuzz)
#   FuzzAnswerPull    the Go guest's answers to pulls (go test -fuzz)
# The committed seed corpora (tests/fuzz/corpus/*, go/testdata/fuzz/*) are
# replayed first and never written to: new inputs go to a temporary
# directory. A finding fails the script and is left as crash-* in
# build-fuzz/ (C) or go/testdata/fuzz/ (Go); turn it into a regression test.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/env.sh

secs="${1:-20}"
dir=build-fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"; rm -f /dev/shm/shmipc-fuzz-answer-*' EXIT

# The build's output is shown only when it fails.
if ! CC=clang setup_build "$dir" -Dfuzz=true -Dbench=false \
  -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fno-sanitize-recover=all \
  -- tests/fuzz/fuzz-reassembler tests/fuzz/fuzz-answer tests/fuzz/fuzz-stat \
  tests/fuzz/fuzz-pull >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "=== fuzz: the fuzz build failed" >&2
  exit 1
fi

for t in reassembler answer stat pull; do
  mkdir -p "$work/$t"
  echo "=== fuzz: fuzz-$t for ${secs}s"
  if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 \
    "./tests/fuzz/fuzz-$t" -max_total_time="$secs" -print_final_stats=1 \
    "$work/$t" "../tests/fuzz/corpus/$t") >"$work/$t.log" 2>&1; then
    tail -40 "$work/$t.log"
    echo "fuzz-$t: finding (reproducer in $dir/)"
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$work/$t.log"
done

echo "=== fuzz: Go FuzzReassembler for ${secs}s"
(cd go && CGO_ENABLED=0 \
  go test -run '^$' -fuzz '^FuzzReassembler$' -fuzztime "${secs}s" .)
echo "=== fuzz: Go FuzzAnswerPull for ${secs}s"
(cd go && CGO_ENABLED=0 \
  go test -run '^$' -fuzz '^FuzzAnswerPull$' -fuzztime "${secs}s" .)
echo "=== fuzz: no findings"
