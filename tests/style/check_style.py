#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The tree obeys its own layout rules.

- C and C++ sources (src/, include/, tests/, bench/, examples/) are what
  clang-format gives with the committed .clang-format;
- Go sources are what gofmt gives;
- every text file follows .editorconfig's whitespace rules: a final
  newline, no trailing whitespace (Markdown excepted), no tab indentation
  in C, C++, Meson, Python and shell files.

usage: check_style.py SOURCE_ROOT CLANG_FORMAT GOFMT
"""

import os
import subprocess
import sys

C_DIRS = ["src", "include", "tests", "bench", "examples"]
C_EXT = (".c", ".h", ".cpp", ".hpp")
NO_TABS = (".c", ".h", ".cpp", ".hpp", ".py", ".sh", ".build", ".txt")
SKIP_DIRS = {".git", "build", "build-win", "corpus", "testdata"}
TEXT_EXT = C_EXT + (".go", ".py", ".sh", ".build", ".md", ".pml", ".in",
                    ".txt", ".golden", ".cmake")


def walk(root, dirs):
    for d in dirs:
        for base, subdirs, files in os.walk(os.path.join(root, d)):
            subdirs[:] = [s for s in subdirs
                          if s not in SKIP_DIRS and not s.startswith("build")]
            for f in sorted(files):
                yield os.path.join(base, f)


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    root, clang_format, gofmt = sys.argv[1:]
    bad = []

    c_files = [p for p in walk(root, C_DIRS) if p.endswith(C_EXT)]
    for p in c_files:
        out = subprocess.run([clang_format, "--style=file", p],
                             capture_output=True, text=True, cwd=root)
        if out.returncode != 0:
            bad.append("%s: clang-format failed: %s" % (p, out.stderr.strip()))
        elif out.stdout != open(p, encoding="utf-8").read():
            bad.append("%s: not as clang-format lays it out "
                       "(clang-format -i %s)" % (os.path.relpath(p, root),
                                                 os.path.relpath(p, root)))

    out = subprocess.run([gofmt, "-l", "."], capture_output=True, text=True,
                         cwd=os.path.join(root, "go"))
    if out.returncode != 0:
        bad.append("gofmt failed: " + out.stderr.strip())
    for f in out.stdout.split():
        bad.append("go/%s: not as gofmt lays it out (gofmt -w go/%s)" % (f, f))

    texts = [p for p in walk(root, ["."])
             if p.endswith(TEXT_EXT) or os.path.basename(p) in
             ("meson.build", "meson_options.txt", "run")]
    for p in texts:
        rel = os.path.relpath(p, root)
        data = open(p, "rb").read()
        if not data:
            continue
        if not data.endswith(b"\n"):
            bad.append("%s: no final newline" % rel)
        for n, line in enumerate(data.split(b"\n"), 1):
            if not p.endswith(".md") and line.rstrip(b" \t\r") != line:
                bad.append("%s:%d: trailing whitespace" % (rel, n))
            if p.endswith(NO_TABS) and line.startswith(b"\t"):
                bad.append("%s:%d: tab indentation" % (rel, n))

    for b in bad:
        print("FAIL:", b, file=sys.stderr)
    if bad:
        return 1
    print("ok: %d C/C++ files as clang-format lays them out, go/ as gofmt, "
          "%d text files by .editorconfig" % (len(c_files), len(texts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
