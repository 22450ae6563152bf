#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that every program in README.md is code the test suite builds.

Every fenced C, C++ or Go block of README.md must be, byte for byte, a
marked region of one of the example programs (examples/*.c,
examples/*.cpp, go/examples/*/*.go),
which the 'examples' tests compile and run. In those files:

  README:NAME begin  ...  README:NAME end    a region (the marker lines are
                                             comments, left out)
  README:hide begin  ...  README:hide end    left out of every region that
                                             holds them (nesting counts)

Marker lines of other regions inside a region are left out too. The
region's common leading whitespace is removed, then it must equal the
block. Every region must be shown by a block, so neither side can go stale
alone.

Blocks in other languages are commands or build files, not programs
(NOT_PROGRAMS says why each kind is exempt); their repository paths must
exist. A block of any other language fails: give it a region, or a reason
here.

usage: check_readme.py SOURCE_ROOT
"""

import difflib
import glob
import os
import re
import sys

# Fenced blocks that are not programs, by info string, and why.
NOT_PROGRAMS = {
    "sh": "shell commands; the scripts and paths they name must exist",
    "bat": "Windows commands (MSVC build), not run on Linux",
    "cmake": "a consumer project's build file, not a program",
    "meson": "a consumer project's build file, not a program",
    "ini": "a consumer project's .wrap file, not a program (the install suite builds a Meson subproject consumer)",
    "": "a plain listing (the repository layout)",
}
# Languages whose blocks must be regions of the example programs.
PROGRAMS = {"c", "cpp", "go"}

EXAMPLE_GLOBS = ["examples/*.c", "examples/*.cpp", "go/examples/*/*.go"]
# Repository paths named in command blocks: these must exist.
REPO_PATH = re.compile(r"(?<![\w./-])(?:\./)?((?:scripts|examples|tests|cross|docs|go|include|src|bench)/[\w./-]*\w)")

MARK = re.compile(r"README:([a-z0-9-]+) (begin|end)\b")


def fail(errors, msg):
    errors.append(msg)


def readme_blocks(path):
    """Yield (line number, info string, text) of each fenced block."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(```+)\s*([\w+-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(1), m.group(2), i + 1
        j = start
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{i + 1}: unterminated code block")
        yield i + 1, info, "\n".join(lines[start:j]) + "\n"
        i = j + 1


def dedent(lines):
    """Remove the common leading whitespace of the non-blank lines."""
    indents = [re.match(r"[ \t]*", l).group(0) for l in lines if l.strip()]
    common = os.path.commonprefix(indents) if indents else ""
    return [l[len(common):] if l.strip() else "" for l in lines]


def regions(path, errors):
    """Return {name: text} for the regions of one file."""
    lines = open(path, encoding="utf-8").read().split("\n")
    rel = os.path.relpath(path, ROOT)
    found, open_at = {}, {}
    for n, line in enumerate(lines):
        for m in MARK.finditer(line):
            name, what = m.groups()
            if name == "hide":
                continue
            if what == "begin":
                if name in open_at or name in found:
                    fail(errors, f"{rel}:{n + 1}: region {name} opened twice")
                open_at[name] = n
            else:
                if name not in open_at:
                    fail(errors, f"{rel}:{n + 1}: region {name} ends without a begin")
                    continue
                found[name] = (open_at.pop(name), n)
    for name, n in open_at.items():
        fail(errors, f"{rel}:{n + 1}: region {name} has no end")
    out = {}
    for name, (b, e) in found.items():
        kept, depth = [], 0
        for n in range(b + 1, e):
            line = lines[n]
            marks = [m.groups() for m in MARK.finditer(line)]
            if ("hide", "begin") in marks:
                depth += 1
            elif ("hide", "end") in marks:
                depth -= 1
                if depth < 0:
                    fail(errors, f"{rel}:{n + 1}: README:hide end without a begin")
                    depth = 0
            elif marks:
                pass  # another region's marker
            elif depth == 0:
                kept.append(line)
        if depth != 0:
            fail(errors, f"{rel}: region {name}: README:hide begin without an end")
        out[name] = (rel, "\n".join(dedent(kept)) + "\n")
    return out


def main():
    global ROOT
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    ROOT = sys.argv[1]
    errors = []
    regs = {}
    files = sorted(f for g in EXAMPLE_GLOBS for f in glob.glob(os.path.join(ROOT, g)))
    if not files:
        raise SystemExit(f"no example programs under {ROOT}")
    for f in files:
        for name, r in regions(f, errors).items():
            if name in regs:
                fail(errors, f"{r[0]}: region {name} also in {regs[name][0]}")
            regs[name] = r

    used = set()
    readme = os.path.join(ROOT, "README.md")
    nblocks = 0
    for line, info, text in readme_blocks(readme):
        nblocks += 1
        if info in PROGRAMS:
            match = [n for n, (_, t) in regs.items() if t == text]
            if match:
                used.update(match)
                continue
            # Name the nearest region and show how the block differs.
            best = max(regs.items(), default=None,
                       key=lambda kv: difflib.SequenceMatcher(None, kv[1][1], text).ratio())
            msg = f"README.md:{line}: this ```{info} block is no example region"
            if best is not None:
                name, (rel, want) = best
                diff = "".join(difflib.unified_diff(
                    want.splitlines(True), text.splitlines(True),
                    f"{rel} (region {name})", f"README.md:{line}"))
                msg += f"; nearest is {name} in {rel}:\n{diff}"
            fail(errors, msg)
        elif info in NOT_PROGRAMS:
            for p in REPO_PATH.findall(text):
                if not os.path.exists(os.path.join(ROOT, p)):
                    fail(errors, f"README.md:{line}: ```{info} block names {p}, which does not exist")
        else:
            fail(errors, f"README.md:{line}: a ```{info or '(plain)'} block: make it an "
                         "example region, or say in NOT_PROGRAMS why it is exempt")
    for name in sorted(set(regs) - used):
        fail(errors, f"{regs[name][0]}: region {name} is shown by no README block")

    for e in errors:
        print("FAIL:", e, file=sys.stderr)
    if errors:
        return 1
    print(f"ok: {nblocks} README blocks, {len(used)} of them example regions "
          f"of {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
