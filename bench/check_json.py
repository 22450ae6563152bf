#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs `shmipc-bench ARGS --json` and checks that the document has the
documented shape (docs/BENCHMARKS.md, "The JSON document") and that every
system measured something; the sleep path, idle and stream parts only when
the run included them (config.parts). Exit 1 with the reason otherwise."""
import json
import subprocess
import sys

SYSTEMS = {"shmipc-go", "shmipc-c", "spin", "spin-yield", "futex", "unix", "pipe"}


def fail(msg):
    print("check_json: " + msg, file=sys.stderr)
    sys.exit(1)


# Keys of each result beside the medians (docs/BENCHMARKS.md, "The JSON
# document"): same-round ratios to spin-yield, median over rounds and the
# worst round, and the highest round's p99.9.
TAIL_KEYS = ("ratio_ops_to_spin_yield", "ratio_ops_to_spin_yield_worst",
             "ratio_p99_to_spin_yield", "ratio_p99_to_spin_yield_worst",
             "ratio_p999_to_spin_yield", "ratio_p999_to_spin_yield_worst")


def check_config(cfg):
    for key in ("rounds", "threads", "payloads", "systems", "parts", "pinned", "cpu_map"):
        if key not in cfg:
            fail("config without %r" % key)
    if not set(cfg["parts"]) <= {"cells", "sleep", "idle", "stream"} or not cfg["parts"]:
        fail("config parts: %r" % cfg["parts"])
    if not isinstance(cfg["pinned"], bool):
        fail("config pinned must be a boolean: %r" % cfg["pinned"])
    cmap = cfg["cpu_map"]
    if not cfg["pinned"]:
        if cmap is not None:
            fail("an unpinned run with a cpu_map: %r" % cmap)
        return
    if not isinstance(cmap, dict) or not {"cpus", "rule", "pairs"} <= set(cmap):
        fail("a pinned run needs cpu_map with cpus, rule and pairs: %r" % cmap)
    cpus = cmap["cpus"]
    if not cpus or not all(isinstance(c, int) and c >= 0 for c in cpus):
        fail("cpu_map cpus: %r" % cpus)
    if len(cmap["pairs"]) != max(cfg["threads"]):
        fail("cpu_map has %d pairs for up to %d threads" % (len(cmap["pairs"]), max(cfg["threads"])))
    n = len(cpus)
    for i, pair in enumerate(cmap["pairs"]):
        want = {"client": cpus[2 * i % n], "server": cpus[(2 * i + 1) % n]}
        if pair != want:
            fail("cpu_map pair %d is %r, the rule gives %r" % (i, pair, want))


def check_tails(r, cfg):
    name = "%s T=%d P=%d" % (r["system"], r["threads"], r["payload"])
    for key in TAIL_KEYS:
        if key not in r:
            fail("%s: no %r" % (name, key))
    if "p999_worst" not in r["rtt_ns"]:
        fail("%s: no rtt_ns p999_worst" % name)
    for key in ("p50_ns", "p99_ns", "p999_ns", "ops_per_sec"):
        if len(r["per_round"].get(key, [])) != cfg["rounds"]:
            fail("%s: per_round %s must have one entry per round" % (name, key))
    if "spin-yield" not in cfg["systems"] or r.get("rounds_ok") != cfg["rounds"]:
        return
    for key in TAIL_KEYS:
        if not (r[key] or 0) > 0:
            fail("%s: %s missing (%r)" % (name, key, r[key]))
    # The worst round is no better than the median round.
    if r["ratio_ops_to_spin_yield_worst"] > r["ratio_ops_to_spin_yield"] * (1 + 1e-5):
        fail("%s: worst ops ratio above the median" % name)
    for q in ("p99", "p999"):
        k = "ratio_%s_to_spin_yield" % q
        if r[k + "_worst"] < r[k] * (1 - 1e-5):
            fail("%s: worst %s ratio below the median" % (name, q))
    if r["rtt_ns"]["p999_worst"] < r["rtt_ns"]["p999"]:
        fail("%s: highest round's p99.9 below the median" % name)
    if r["system"] == "spin-yield":
        for key in TAIL_KEYS:
            if abs(r[key] - 1) > 1e-5:
                fail("spin-yield T=%d: %s = %r, not 1" % (r["threads"], key, r[key]))


def main(argv):
    proc = subprocess.run(argv[1:] + ["--json"], stdout=subprocess.PIPE, timeout=600)
    if proc.returncode != 0:
        fail("shmipc-bench exited %d" % proc.returncode)
    doc = json.loads(proc.stdout)
    for key in ("config", "results", "stream", "idle_cpu_percent", "sleep_path", "load"):
        if key not in doc:
            fail("missing key %r" % key)
    check_config(doc["config"])
    parts = set(doc["config"]["parts"])
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
        check_tails(r, doc["config"])
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
    if "cells" in parts and seen != SYSTEMS:
        fail("systems measured: %s, expected %s" % (sorted(seen), sorted(SYSTEMS)))
    if "stream" in parts:
        streams = set()
        for s in doc["stream"]:
            if not {"system", "bytes", "bytes_per_sec"} <= set(s):
                fail("bad stream entry %r" % s)
            if not (s["bytes"] > 0 and (s["bytes_per_sec"] or 0) > 0):
                fail("stream %r: no bandwidth" % s["system"])
            streams.add(s["system"])
        if streams != {"memcpy", "shmipc-go", "shmipc-c"}:
            fail("streams measured: %s" % sorted(streams))
    if "answer" in parts:
        answers = set()
        for a in doc["large_answer"]:
            if not {"system", "bytes", "bytes_per_sec", "ratio_to_memcpy"} <= set(a):
                fail("bad large_answer entry %r" % a)
            if not (a["bytes"] > 0 and (a["bytes_per_sec"] or 0) > 0):
                fail("large_answer %r %r: no bandwidth" % (a["system"], a["bytes"]))
            answers.add(a["system"])
        if answers != {"shmipc-go", "shmipc-c"}:
            fail("large answers measured: %s" % sorted(answers))
    if "idle" in parts:
        idle = doc["idle_cpu_percent"]
        if not isinstance(idle, dict) or not {"host", "guest"} <= set(idle):
            fail("idle_cpu_percent must have host and guest: %r" % idle)
    if "sleep" in parts:
        if not doc["sleep_path"]:
            fail("no sleep path results")
        for s in doc["sleep_path"]:
            if not s["rtt_ns"].get("p50", 0) > 0:
                fail("sleep path %r without p50" % s)
    print("check_json: %d results, systems %s, parts %s, %s" % (
        len(doc["results"]), ", ".join(sorted(seen)), ", ".join(sorted(parts)),
        "pinned" if doc["config"]["pinned"] else "not pinned"))

if __name__ == "__main__":
    main(sys.argv)
