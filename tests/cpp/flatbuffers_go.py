#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run the go command on the FlatBuffers example's guest module with the
code flatc generates from the schema, without writing into the source tree.

flatc --go writes the schema's package into GEN_DIR; an overlay file
(go help build, -overlay) then places each generated file where the
module expects it (MODULE_DIR/quote/...), and the go command runs in
MODULE_DIR with that overlay.

usage: flatbuffers_go.py FLATC GO SCHEMA MODULE_DIR GEN_DIR -- GOARGS...

The first of GOARGS is the go subcommand (build, vet, test); -overlay is
put right after it.
"""

import json
import os
import subprocess
import sys


def main():
    argv = sys.argv[1:]
    if len(argv) < 7 or argv[5] != "--":
        raise SystemExit(__doc__)
    flatc, go, schema, module, gen = argv[:5]
    goargs = argv[6:]
    os.makedirs(gen, exist_ok=True)
    out = os.path.join(gen, "go")
    r = subprocess.run([flatc, "--go", "-o", out, schema])
    if r.returncode != 0:
        raise SystemExit(f"flatc --go {schema} failed (status {r.returncode})")
    replace = {}
    for base, _, files in os.walk(out):
        for f in files:
            src = os.path.join(base, f)
            rel = os.path.relpath(src, out)
            replace[os.path.join(os.path.abspath(module), rel)] = os.path.abspath(src)
    if not replace:
        raise SystemExit(f"flatc --go wrote nothing for {schema}")
    overlay = os.path.join(gen, "overlay.json")
    with open(overlay, "w", encoding="utf-8") as fh:
        json.dump({"Replace": replace}, fh, indent=1)
    env = dict(os.environ, CGO_ENABLED=os.environ.get("CGO_ENABLED", "0"))
    cmd = [go, "-C", module, goargs[0], "-overlay=" + overlay] + goargs[1:]
    return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
