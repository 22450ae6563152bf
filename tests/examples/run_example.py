#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run an example guest and an example host against each other.

usage: run_example.py [options] -- GUEST... -- HOST...

Every argument {name} of GUEST and HOST becomes a segment name of this run
alone. The guest starts first (the examples retry until the host is
there), then the host; both must end within --timeout seconds (else both
are killed and the run fails), the host with --host-status (default 0) and
the guest with status 0, and the segment must be gone afterwards.

  --host-expect RE    a line of the host's output must match RE (repeatable)
  --guest-expect RE   the same for the guest's output
  --same RE           RE (one group) must match in both outputs, with the
                      same group (a checksum printed by both ends)
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time


def start(cmd, name):
    argv = [a.replace("{name}", name) for a in cmd]
    return argv, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True)


def finish(proc, deadline):
    """Wait for proc until deadline; kill its process group if it overruns."""
    try:
        out, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        return out, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return out, True


def main():
    argv = sys.argv[1:]
    if argv.count("--") != 2:
        raise SystemExit(__doc__)
    i = argv.index("--")
    j = argv.index("--", i + 1)
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--host-status", type=int, default=0)
    p.add_argument("--host-expect", action="append", default=[])
    p.add_argument("--guest-expect", action="append", default=[])
    p.add_argument("--same", action="append", default=[])
    opt = p.parse_args(argv[:i])
    guest_cmd, host_cmd = argv[i + 1:j], argv[j + 1:]
    if not guest_cmd or not host_cmd:
        raise SystemExit(__doc__)

    name = f"example-{os.getpid()}-{int(time.time())}"
    deadline = time.monotonic() + opt.timeout
    guest_argv, guest = start(guest_cmd, name)
    host_argv, host = start(host_cmd, name)
    host_out, host_late = finish(host, deadline)
    guest_out, guest_late = finish(guest, deadline)

    errors = []
    for who, argv_, out, late, proc, want in (
            ("host", host_argv, host_out, host_late, host, opt.host_status),
            ("guest", guest_argv, guest_out, guest_late, guest, 0)):
        print(f"--- {who}: {' '.join(argv_)} (status {proc.returncode})")
        print(out, end="" if out.endswith("\n") or not out else "\n")
        if late:
            errors.append(f"the {who} was still running after {opt.timeout:g} s")
        elif proc.returncode != want:
            errors.append(f"the {who} exited with status {proc.returncode}, not {want}")
    for who, out, res in (("host", host_out, opt.host_expect),
                          ("guest", guest_out, opt.guest_expect)):
        for r in res:
            if not re.search(r, out, re.M):
                errors.append(f"no line of the {who}'s output matches {r!r}")
    for r in opt.same:
        h, g = re.search(r, host_out, re.M), re.search(r, guest_out, re.M)
        if h is None or g is None:
            errors.append(f"{r!r} does not match both outputs")
        elif h.group(1) != g.group(1):
            errors.append(f"{r!r}: the host has {h.group(1)}, the guest {g.group(1)}")
    seg = "/dev/shm/shmipc-" + name
    if os.path.exists(seg):
        os.unlink(seg)
        errors.append(f"{seg} was left behind")

    for e in errors:
        print("FAIL:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
