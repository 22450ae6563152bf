#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build a Go command and write a Ninja depfile naming what it was built from.

usage: go_build.py GO MODULE_DIR PACKAGE OUTPUT DEPFILE

Runs `GO -C MODULE_DIR build -trimpath -o OUTPUT PACKAGE` (GOOS, GOARCH and
CGO_ENABLED come from the environment), then lists, with `go list -deps`,
every non-standard package the command is built from: its directory (whose
time changes when a file is added or removed), its Go, assembly and
embedded files, the files its build constraints leave out (a changed
constraint can bring one in), and the module's go.mod and go.sum. Ninja
then reruns the build only when one of them, or the go binary, changes,
instead of on every build.
"""
import os
import shutil
import subprocess
import sys

LIST_FMT = (
    '{{if not .Standard}}{{.Dir}}\n'
    '{{range .GoFiles}}{{$.Dir}}/{{.}}\n{{end}}'
    '{{range .SFiles}}{{$.Dir}}/{{.}}\n{{end}}'
    '{{range .EmbedFiles}}{{$.Dir}}/{{.}}\n{{end}}'
    '{{range .IgnoredGoFiles}}{{$.Dir}}/{{.}}\n{{end}}'
    '{{range .IgnoredOtherFiles}}{{$.Dir}}/{{.}}\n{{end}}'
    '{{end}}')


def escape(path):
    """A path as a Ninja depfile (Makefile syntax) spells it."""
    return path.replace('\\', '/').replace(' ', '\\ ').replace('#', '\\#') \
        .replace('$', '$$')


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__.split('\n\n')[1] + '\n')
        return 2
    go, moddir, pkg, output, depfile = argv[1:]
    go = shutil.which(go) or go
    build = [go, '-C', moddir, 'build', '-trimpath', '-o',
             os.path.abspath(output), pkg]
    if subprocess.call(build) != 0:
        return 1
    listed = subprocess.run([go, '-C', moddir, 'list', '-deps', '-f',
                             LIST_FMT, pkg],
                            stdout=subprocess.PIPE, check=True,
                            universal_newlines=True).stdout
    deps = {os.path.realpath(go)}
    deps.update(line for line in listed.splitlines() if line)
    for name in ('go.mod', 'go.sum'):
        path = os.path.join(os.path.abspath(moddir), name)
        if os.path.exists(path):
            deps.add(path)
    with open(depfile, 'w', encoding='utf-8') as f:
        # The target as Ninja names it (the path it was given).
        f.write(escape(output) + ':')
        for dep in sorted(deps):
            f.write(' \\\n  ' + escape(dep))
        f.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
