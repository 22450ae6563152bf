#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Model-checks the slot protocol (slot.pml) and the guest-call doorbell
# (doorbell.pml) with spin: exhaustive searches over bounded configurations,
# each of which must end with "errors: 0"; then a set of mutations, each of
# which breaks one rule of docs/PROTOCOL.md and must make spin report the
# violation named in the table (so the checks themselves are known to bite).
#
# Usage: tests/model/run_model.sh
# Environment: SPIN (default spin), CC (default cc), JOBS (parallel pan runs,
# default 2), MEMLIM (MB per pan run, default 900), KEEP=1 keeps the work
# directory (it is kept anyway when a check fails; replay a trail there with
# `spin -t -p -g -l <defines> slot.pml`).
set -eu
set -f  # the table holds regular expressions; never glob

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
SPIN=${SPIN:-spin}
CC=${CC:-cc}
JOBS=${JOBS:-2}
MEMLIM=${MEMLIM:-900}
export SPIN CC MEMLIM

# One check per line: name | model | spin -D flags | cc flags | pan flags |
# expectation: "pass" (errors: 0, search complete), or an extended regular
# expression that pan's report of the first error must match.
checks() {
  cat <<'EOF'
# (The longest run first: xargs starts the runs in this order.)
# Repair (docs/PROTOCOL.md, "Repair"): the responder dies, a peer spoils the
# idle slot (CLAIMED, REQ_READY, PROCESSING, illegal) while no guest is
# attached, a new guest attaches and answers what its predecessor left; the
# host repairs at the epoch change. Every later call is answered, the slot
# is never held twice, the new guest never sees its slot taken. (COLLAPSE:
# about 700 MB each.)
slot-repair          | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=1 -DDEATH -DREPAIR | -O1 -DSAFETY -DCOLLAPSE |  | pass
slot-repair-timeouts | slot.pml     | -DNREQ=1 -DNCALLS=3 -DDEATH -DREPAIR -DTIMEOUTS  | -O1 -DSAFETY -DCOLLAPSE |  | pass
# The same with a peer writing DETACHED into the attach word while the new
# guest lives (-DATTACH_LIE): the host repairs again, judging by the lock.
slot-repair-lie      | slot.pml     | -DNREQ=1 -DNCALLS=2 -DDEATH -DREPAIR -DATTACH_LIE | -O1 -DSAFETY -DCOLLAPSE |  | pass
# Property 4: infinite timeouts, responder may die anywhere: <> all calls end
# (weak fairness: a thread that holds the slot is not starved forever).
slot-death-ltl-2     | slot.pml     | -DNREQ=2 -DNCALLS=1 -DNCALLS1=1 -DDEATH -DLTL_PROGRESS | -O1 -DNFAIR=3 | -a -f | pass
slot-death-ltl       | slot.pml     | -DNREQ=1 -DNCALLS=3 -DDEATH -DLTL_PROGRESS -DGIVE_UP | -O0        | -a    | pass
# No timeouts, responder never dies: two host threads share the slot, two
# calls each. Properties 1 (no lost wake-up, on ctrl and on free_seq), 2 (own
# id), 3 (no deadlock: invalid end states) and the integrity asserts.
slot-safe            | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2           | -O1 -DSAFETY          |       | pass
# The same with slots given up unsent (a deferred claim hands its reuse mark
# back and must wake a thread waiting for a free slot); one call less.
slot-safe-give-up    | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=1 -DGIVE_UP | -O1 -DSAFETY          |       | pass
# Timeouts anywhere (cancel, quarantine, late answer, re-send in the same
# generation) with a responder that may die; and two threads with timeouts.
slot-timeouts-death  | slot.pml     | -DNREQ=1 -DNCALLS=3 -DTIMEOUTS -DDEATH -DGIVE_UP | -O0 -DSAFETY   |       | pass
slot-timeouts-2      | slot.pml     | -DNREQ=2 -DNCALLS=1 -DNCALLS1=1 -DTIMEOUTS -DGIVE_UP | -O0 -DSAFETY |     | pass
# The generation at work: a responder that reads the request before its take
# CAS is still safe when every re-send is a new claim (see mut-no-gen).
gen-stops-stale-take | slot.pml     | -DNREQ=1 -DNCALLS=3 -DTIMEOUTS -DNO_RESEND -DMUT_READ_BEFORE_TAKE | -O0 -DSAFETY | | pass
# Guest calls: no lost call between the guest's ring and the listener's sleep.
doorbell             | doorbell.pml | -DNCALLS=2                                | -O0 -DSAFETY          |       | pass
#
# Mutations: each must be caught.
mut-no-announce      | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2 -DMUT_NO_ANNOUNCE  | -O0 -DSAFETY |  | assertion violated.*_sleep
mut-futex-nocmp      | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2 -DMUT_FUTEX_NOCMP  | -O0 -DSAFETY |  | assertion violated.*_sleep
mut-wake-stale       | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2 -DMUT_WAKE_STALE   | -O0 -DSAFETY |  | assertion violated.*_sleep
mut-notify-early     | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2 -DMUT_NOTIFY_EARLY | -O0 -DSAFETY |  | assertion violated.*fs_sleep
# The deferred claim's publish (RESP_READY -> REQ_READY) by plain store: the
# responder may set SW on a word we hold, and its wake-up is lost.
mut-defer-store      | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2 -DMUT_DEFER_STORE  | -O0 -DSAFETY |  | assertion violated.*rs_sleep
# Not a mutation: claim() as src/slot.c had it from ccf2868 to c31bffe, judging
# the word it read before winning the reuse mark. It can lose the slot for good.
stale-claim          | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2 -DSTALE_CLAIM      | -O0 -DSAFETY |  | assertion violated.*reuse
mut-read-before-take | slot.pml     | -DNREQ=1 -DNCALLS=3 -DTIMEOUTS -DMUT_READ_BEFORE_TAKE | -O0 -DSAFETY | | assertion violated.*resp_id==req_id
mut-no-gen           | slot.pml     | -DNREQ=1 -DNCALLS=3 -DTIMEOUTS -DNO_RESEND -DMUT_READ_BEFORE_TAKE -DMUT_NO_GEN | -O0 -DSAFETY | | assertion violated.*resp_id==req_id
# A slot released after a lost call marked consumed like one released after
# its answer: the next claim does not read the word and defers over the
# PROCESSING the responder still owns; the publish finds it (CORRUPT in C).
mut-consumed-lost    | slot.pml     | -DNREQ=1 -DNCALLS=3 -DTIMEOUTS -DMUT_CONSUMED_LOST | -O0 -DSAFETY |  | assertion violated.*v& ?~\(48\)\)==gen_word
mut-cancel-store     | slot.pml     | -DNREQ=1 -DNCALLS=3 -DTIMEOUTS -DMUT_CANCEL_STORE  | -O0 -DSAFETY |  | assertion violated
mut-no-peer-check    | slot.pml     | -DNREQ=1 -DNCALLS=3 -DDEATH -DLTL_PROGRESS -DMUT_NO_PEER_CHECK | -O0 | -a | acceptance cycle
mut-no-recover       | slot.pml     | -DNREQ=1 -DNCALLS=3 -DDEATH -DLTL_PROGRESS -DMUT_NO_RECOVER    | -O0 | -a | acceptance cycle
# No repair at the epoch change: the spoiled slot is never claimable again.
mut-no-repair        | slot.pml     | -DNREQ=1 -DNCALLS=2 -DDEATH -DREPAIR -DMUT_NO_REPAIR | -O0 -DSAFETY |  | invalid end state|assertion violated
# A repair that frees a PROCESSING while a guest lives (the rule "the
# quarantine's epoch has ended"): the new guest finds its slot taken.
mut-repair-steals    | slot.pml     | -DNREQ=1 -DNCALLS=2 -DDEATH -DREPAIR -DMUT_REPAIR_STEALS | -O0 -DSAFETY |  | assertion violated
# A repair or recovery that believes DETACHED in the attach word while the
# guest still holds its lock: a peer wrote it, the guest was inside a request.
mut-trust-attach     | slot.pml     | -DNREQ=1 -DNCALLS=2 -DDEATH -DREPAIR -DMUT_TRUST_ATTACH | -O0 -DSAFETY |  | assertion violated
mut-dl-keep-mark     | slot.pml     | -DNREQ=1 -DNCALLS=3 -DTIMEOUTS -DMUT_DL_KEEP_MARK  | -O0 -DSAFETY |  | assertion violated.*dl_gave_up==req_id
mut-dl-late          | slot.pml     | -DNREQ=2 -DNCALLS=2 -DNCALLS1=2 -DMUT_DL_LATE      | -O0 -DSAFETY |  | assertion violated.*dlv& ~\(128\)\)==req_id
mut-scan-before-read | doorbell.pml | -DNCALLS=2 -DMUT_SCAN_BEFORE_READ                  | -O0 -DSAFETY |  | assertion violated.*lsleep
mut-no-take-retry    | doorbell.pml | -DNCALLS=2 -DMUT_NO_TAKE_RETRY                     | -O0 -DSAFETY |  | assertion violated.*lsleep
EOF
}

trim() { printf '%s' "$*" | sed 's/^ *//; s/ *$//'; }

# Runs one table line in its own directory; writes a one-line verdict to
# $WORK/<name>.verdict and exits non-zero when the outcome is not the
# expected one.
one() {
  line=$1
  IFS='|' read -r name model sdefs ccf panf expect <<EOF
$line
EOF
  name=$(trim "$name"); model=$(trim "$model"); sdefs=$(trim "$sdefs")
  ccf=$(trim "$ccf"); panf=$(trim "$panf"); expect=$(trim "$expect")
  d=$WORK/$name
  mkdir -p "$d"
  cp "$here/$model" "$d/"
  v=$WORK/$name.verdict
  # shellcheck disable=SC2086 # flag lists are meant to split
  if ! (cd "$d" && $SPIN -a $sdefs "$model" >spin.log 2>&1); then
    { echo "FAIL $name: spin -a $sdefs $model"; sed 's/^/    /' "$d/spin.log"; } >"$v"
    return 1
  fi
  # shellcheck disable=SC2086
  if ! (cd "$d" && $CC $ccf -DMEMLIM="$MEMLIM" -w -o pan pan.c >cc.log 2>&1); then
    { echo "FAIL $name: $CC $ccf pan.c"; sed 's/^/    /' "$d/cc.log"; } >"$v"
    return 1
  fi
  # shellcheck disable=SC2086
  (cd "$d" && ./pan -m100000 $panf >pan.log 2>&1) || true
  log=$d/pan.log
  errs=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$log" | tail -n 1)
  secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$log" | tail -n 1)
  stats="$states states, pan ${secs:-?} s"
  first=$(grep -E '^pan:[0-9]+: ' "$log" | head -n 1 || true)
  if [ "$expect" = pass ]; then
    if [ "$errs" = 0 ] &&
       ! grep -qE 'depth too small|MEMLIM|out of memory|Search not completed' "$log"; then
      echo "ok   $name: errors: 0 ($stats)" >"$v"
      return 0
    fi
    { echo "FAIL $name: expected errors: 0 (spin -a $sdefs $model; pan $panf)"
      sed 's/^/    /' "$log"; echo "    trail and logs kept in $d"; } >"$v"
    return 1
  fi
  if [ -n "$errs" ] && [ "$errs" != 0 ] && printf '%s\n' "$first" | grep -qE "$expect"; then
    echo "ok   $name: caught as required: ${first#pan:1: } ($stats)" >"$v"
    return 0
  fi
  { echo "FAIL $name: the mutation was not caught as /$expect/ (spin -a $sdefs $model; pan $panf)"
    sed 's/^/    /' "$log"; } >"$v"
  return 1
}

if [ "${1:-}" = --one ]; then
  one "$2"
  exit $?
fi

command -v "$SPIN" >/dev/null 2>&1 || { echo "run_model.sh: $SPIN not found" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shmipc-model.XXXXXX")
export WORK
start=$(date +%s)
status=0
checks | grep -vE '^(#|[[:space:]]*$)' | tr '\n' '\0' |
  xargs -0 -P "$JOBS" -n 1 sh "$0" --one || status=1
for name in $(checks | grep -vE '^(#|[[:space:]]*$)' | cut -d'|' -f1); do
  if [ -f "$WORK/$name.verdict" ]; then
    cat "$WORK/$name.verdict"
  else
    echo "FAIL $name: no verdict"; status=1
  fi
done
echo "spin model checks: $(($(date +%s) - start)) s wall, $(checks | grep -cvE '^(#|[[:space:]]*$)') runs"
if [ "$status" = 0 ] && [ "${KEEP:-0}" != 1 ]; then
  rm -rf "$WORK"
else
  echo "work directory kept: $WORK"
fi
exit "$status"
