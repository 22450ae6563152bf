#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs `shmipc-bench ARGS --json` and checks that the document has the
documented shape (docs/BENCHMARKS.md) and that every system measured
something. Exit 1 with the reason otherwise."""
import json
import subprocess
import sys

SYSTEMS = {"shmipc-go", "shmipc-c", "spin", "spin-yield", "futex", "unix", "pipe"}


def fail(msg):
    print("check_json: " + msg, file=sys.stderr)
    sys.exit(1)


def main(argv):
    proc = subprocess.run(argv[1:] + ["--json"], stdout=subprocess.PIPE, timeout=600)
    if proc.returncode != 0:
        fail("shmipc-bench exited %d" % proc.returncode)
    doc = json.loads(proc.stdout)
    for key in ("results", "stream", "large_answer", "idle_cpu_percent", "sleep_path", "load"):
        if key not in doc:
            fail("missing key %r" % key)
    load = doc["load"]
    if not isinstance(load, dict) or not {"loadavg_1min_start", "loadavg_1min_end",
                                          "other_processes_cpus", "warning"} <= set(load):
        fail("load must have loadavg_1min_start, loadavg_1min_end, "
             "other_processes_cpus and warning: %r" % load)
    if not isinstance(load["warning"], bool):
        fail("load warning must be a boolean: %r" % load)
    seen = set()
    for r in doc["results"]:
        for key in ("system", "threads", "payload", "ops_per_sec", "rtt_ns", "ratio_p50_to_spin",
                    "spin_baseline_collapsed"):
            if key not in r:
                fail("result without %r: %r" % (key, r))
        if r["system"] not in SYSTEMS:
            fail("unknown system %r" % r["system"])
        for p in ("mean", "p50", "p99", "p999"):
            if not r["rtt_ns"].get(p, 0) > 0:
                fail("%s T=%d P=%d: rtt %s missing" % (r["system"], r["threads"], r["payload"], p))
        if not r["ops_per_sec"] > 0:
            fail("%s: no round trips" % r["system"])
        collapsed = r["spin_baseline_collapsed"]
        if collapsed is not None:
            # No ratio against a collapsed baseline, and a reason for it.
            if not (isinstance(collapsed, str) and collapsed):
                fail("%s T=%d: spin_baseline_collapsed must be null or a reason" %
                     (r["system"], r["threads"]))
            if r["ratio_p50_to_spin"] is not None:
                fail("%s T=%d: a ratio to a collapsed spin baseline" % (r["system"], r["threads"]))
        elif r["system"] != "spin" and not (r["ratio_p50_to_spin"] or 0) > 0:
            fail("%s: no ratio to spin" % r["system"])
        seen.add(r["system"])
    if seen != SYSTEMS:
        fail("systems measured: %s, expected %s" % (sorted(seen), sorted(SYSTEMS)))
    streams = set()
    for s in doc["stream"]:
        if not {"system", "bytes", "bytes_per_sec"} <= set(s):
            fail("bad stream entry %r" % s)
        if not (s["bytes"] > 0 and (s["bytes_per_sec"] or 0) > 0):
            fail("stream %r: no bandwidth" % s["system"])
        streams.add(s["system"])
    if streams != {"memcpy", "shmipc-go", "shmipc-c"}:
        fail("streams measured: %s" % sorted(streams))
    answers = set()
    for a in doc["large_answer"]:
        if not {"system", "bytes", "bytes_per_sec", "ratio_to_memcpy"} <= set(a):
            fail("bad large_answer entry %r" % a)
        if not (a["bytes"] > 0 and (a["bytes_per_sec"] or 0) > 0):
            fail("large_answer %r %r: no bandwidth" % (a["system"], a["bytes"]))
        answers.add(a["system"])
    if answers != {"shmipc-go", "shmipc-c"}:
        fail("large answers measured: %s" % sorted(answers))
    idle = doc["idle_cpu_percent"]
    if not isinstance(idle, dict) or not {"host", "guest"} <= set(idle):
        fail("idle_cpu_percent must have host and guest: %r" % idle)
    for s in doc["sleep_path"]:
        if not s["rtt_ns"].get("p50", 0) > 0:
            fail("sleep path %r without p50" % s)
    print("check_json: %d results, systems %s" % (len(doc["results"]), ", ".join(sorted(seen))))


if __name__ == "__main__":
    main(sys.argv)
