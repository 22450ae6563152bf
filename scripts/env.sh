# SPDX-License-Identifier: MIT
# Sourced by the scripts: a Go toolchain in /usr/local/go counts as installed.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
  export PATH
fi
BUILD_DIR="${BUILD_DIR:-build}"

# setup_build DIR [MESON OPTIONS...] [-- TARGETS...]
# Configure build directory DIR with the options (reconfigure it when it
# exists, so a second run keeps its state), then compile TARGETS (default:
# everything). CC and other variables given before the call reach meson.
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
    meson setup --reconfigure "$_sb_dir" "$@" >/dev/null
  else
    meson setup "$_sb_dir" "$@"
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
