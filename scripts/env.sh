# SPDX-License-Identifier: MIT
# Sourced by the scripts: a Go toolchain in /usr/local/go counts as installed.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
  export PATH
fi
BUILD_DIR="${BUILD_DIR:-build}"

# STRICT_TESTS=1 (set by .ci/run) is the one switch for "a test that
# cannot run here is a failure": setup_build turns it into the Meson option
# strict_tests of every build it configures, and Meson hands that to the
# tests; scripts that find a tool missing ask cannot_run.
if [ "${STRICT_TESTS:-0}" = 1 ]; then
  _strict_opt=-Dstrict_tests=true
else
  _strict_opt=-Dstrict_tests=false
fi

# cannot_run MESSAGE: say why this script cannot run here and exit 77
# (skipped), or 1 under STRICT_TESTS=1.
cannot_run() {
  if [ "${STRICT_TESTS:-0}" = 1 ]; then
    echo "$* (STRICT_TESTS=1: a failure, not a skip)" >&2
    exit 1
  fi
  echo "$*: skipped" >&2
  exit 77
}

# setup_build DIR [MESON OPTIONS...] [-- TARGETS...]
# Configure build directory DIR with the options and strict_tests as
# STRICT_TESTS says (reconfigure it when it exists, so a second run keeps
# its state), then compile TARGETS (default: everything). CC and other
# variables given before the call reach meson.
setup_build() {
  _sb_dir=$1
  shift
  _sb_targets=""
  _sb_left=$#
  _sb_in_targets=0
  # Keep the options in "$@", moving the targets after -- aside.
  while [ "$_sb_left" -gt 0 ]; do
    _sb_arg=$1
    shift
    _sb_left=$((_sb_left - 1))
    if [ "$_sb_in_targets" = 1 ]; then
      _sb_targets="$_sb_targets $_sb_arg"
    elif [ "$_sb_arg" = -- ]; then
      _sb_in_targets=1
    else
      set -- "$@" "$_sb_arg"
    fi
  done
  if [ -f "$_sb_dir/build.ninja" ]; then
    meson setup --reconfigure "$_sb_dir" "$_strict_opt" "$@" >/dev/null
  else
    meson setup "$_sb_dir" "$_strict_opt" "$@"
  fi
  # shellcheck disable=SC2086 # target names have no spaces
  meson compile -C "$_sb_dir" -j 2 $_sb_targets
}

# summarize_tests TESTLOG LABEL [REGEX]
# One plain line for a meson run (its meson-logs/testlog.json): how many
# tests passed, failed and were skipped, naming those that did not pass;
# then each test's output lines that match REGEX (Python syntax), if given.
summarize_tests() {
  python3 - "$@" <<'PY'
import json, re, sys
log, label = sys.argv[1], sys.argv[2]
pick = re.compile(sys.argv[3]) if len(sys.argv) > 3 else None
res = [json.loads(l) for l in open(log) if l.strip()]
passed = [r for r in res if r["result"] in ("OK", "EXPECTEDFAIL")]
skipped = [r for r in res if r["result"] == "SKIP"]
others = [r["name"] + " " + r["result"] for r in res if r not in passed]
print("%s: %d passed, %d failed, %d skipped%s" % (
    label, len(passed), len(res) - len(passed) - len(skipped), len(skipped),
    (": " + ", ".join(others)) if others else ""))
for r in res if pick else []:
    for line in r.get("stdout", "").splitlines():
        line = line.rstrip("\r")
        if pick.search(line):
            print("  %s: %s" % (r["name"], line))
PY
}
