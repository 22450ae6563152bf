#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs `shmipc-bench ARGS --json` and checks that the document has the
documented shape (docs/BENCHMARKS.md, "The JSON document") and that every
system measured something; the sleep path, idle, stream, large-answer and
in-flight parts only when the run included them (config.parts). Exit 1
with the reason otherwise."""
import json
import subprocess
import sys

SYSTEMS = {"shmipc-go", "shmipc-c", "spin", "spin-yield", "futex", "unix", "pipe"}
GUESTS = {"shmipc-go", "shmipc-c"}
PARTS = {"cells", "sleep", "idle", "stream", "answer", "inflight"}


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
    for key in ("rounds", "threads", "inflight", "payloads", "systems", "parts", "pinned",
                "cpu_map"):
        if key not in cfg:
            fail("config without %r" % key)
    if not set(cfg["parts"]) <= PARTS or not cfg["parts"]:
        fail("config parts: %r" % cfg["parts"])
    if not cfg["inflight"] or not all(isinstance(k, int) and k > 0 for k in cfg["inflight"]):
        fail("config inflight: %r" % cfg["inflight"])
    if cfg.get("inflight_wait") not in ("shmipc_slot_wait_any", "shmipc_slot_poll"):
        fail("config inflight_wait: %r" % cfg.get("inflight_wait"))
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
    # Pairs for the largest thread count, or K of the in-flight cells.
    most = max(cfg["threads"] + (cfg["inflight"] if "inflight" in cfg["parts"] else []))
    if len(cmap["pairs"]) != most:
        fail("cpu_map has %d pairs for up to %d threads" % (len(cmap["pairs"]), most))
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
    for key in ("p50_ns", "p99_ns", "p999_ns", "ops_per_sec", "steal_pct",
                "line_rtt_ns_before", "line_rtt_ns_after"):
        if len(r["per_round"].get(key, [])) != cfg["rounds"]:
            fail("%s: per_round %s must have one entry per round" % (name, key))
    for v in r["per_round"]["steal_pct"]:
        # null where /proc/stat could not be read or the round failed; in
        # 10 ms ticks counted per CPU, so a short round may read above 100
        if v is not None and not (isinstance(v, (int, float)) and v >= 0):
            fail("%s: per_round steal_pct %r" % (name, v))
    for key in ("line_rtt_ns_before", "line_rtt_ns_after"):
        for v in r["per_round"][key]:
            # null on one CPU or when the probe could not run
            if v is not None and not (isinstance(v, (int, float)) and v > 0):
                fail("%s: per_round %s %r" % (name, key, v))
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


INFLIGHT_KEYS = ("system", "in_flight", "payload", "wait", "one_thread", "k_threads",
                 "ratio_ops_one_thread_to_k_threads",
                 "ratio_ops_one_thread_to_k_threads_worst", "per_round_ratio_ops")
SIDE_KEYS = ("threads", "rounds_ok", "ops", "ops_per_sec", "call_ns", "cpu_s_per_op",
             "per_round")


def check_inflight(doc):
    """One entry per K of config.inflight and library guest selected, each
    side measured in every round, the ratio the one of the sides."""
    cfg = doc["config"]
    want = {(g, k) for g in GUESTS & set(cfg["systems"]) for k in cfg["inflight"]}
    got = set()
    for e in doc["inflight"]:
        for key in INFLIGHT_KEYS:
            if key not in e:
                fail("inflight entry without %r: %r" % (key, e))
        name = "inflight %s K=%r" % (e["system"], e["in_flight"])
        if e["payload"] != 64 or e["wait"] != cfg["inflight_wait"]:
            fail("%s: payload %r, wait %r" % (name, e["payload"], e["wait"]))
        for side, threads in (("one_thread", 1), ("k_threads", e["in_flight"])):
            s = e[side]
            for key in SIDE_KEYS:
                if key not in s:
                    fail("%s %s without %r" % (name, side, key))
            if s["threads"] != threads:
                fail("%s %s: %r threads, want %d" % (name, side, s["threads"], threads))
            if s["rounds_ok"] != cfg["rounds"] or not (s["ops_per_sec"] or 0) > 0:
                fail("%s %s: %r of %d rounds, ops/s %r" % (
                    name, side, s["rounds_ok"], cfg["rounds"], s["ops_per_sec"]))
            for q in ("mean", "p50", "p99", "p999"):
                if not (s["call_ns"].get(q) or 0) > 0:
                    fail("%s %s: call_ns %s missing" % (name, side, q))
            if not s["call_ns"]["p50"] <= s["call_ns"]["p99"] <= s["call_ns"]["p999"]:
                fail("%s %s: percentiles out of order: %r" % (name, side, s["call_ns"]))
            for key in ("ops_per_sec", "p50_ns", "p99_ns"):
                if len(s["per_round"].get(key, [])) != cfg["rounds"]:
                    fail("%s %s: per_round %s must have one entry per round" % (name, side, key))
        ratios = e["per_round_ratio_ops"]
        if len(ratios) != cfg["rounds"]:
            fail("%s: per_round_ratio_ops must have one entry per round" % name)
        for r, a, b in zip(ratios, e["one_thread"]["per_round"]["ops_per_sec"],
                           e["k_threads"]["per_round"]["ops_per_sec"]):
            if not (r and a and b) or abs(r - a / b) > 1e-4 * r:
                fail("%s: same-round ratio %r of %r / %r" % (name, r, a, b))
        med, worst = e["ratio_ops_one_thread_to_k_threads"], \
            e["ratio_ops_one_thread_to_k_threads_worst"]
        if not (med or 0) > 0 or not (worst or 0) > 0 or worst > med * (1 + 1e-5):
            fail("%s: ratio %r, worst round %r" % (name, med, worst))
        got.add((e["system"], e["in_flight"]))
    if got != want or len(doc["inflight"]) != len(want):
        fail("in-flight cells: %s, expected %s" % (sorted(got), sorted(want)))


def main(argv):
    proc = subprocess.run(argv[1:] + ["--json"], stdout=subprocess.PIPE, timeout=600)
    if proc.returncode != 0:
        fail("shmipc-bench exited %d" % proc.returncode)
    doc = json.loads(proc.stdout)
    for key in ("config", "results", "stream", "idle_cpu_percent", "sleep_path", "load",
                "inflight"):
        if key not in doc:
            fail("missing key %r" % key)
    check_config(doc["config"])
    parts = set(doc["config"]["parts"])
    load = doc["load"]
    if not isinstance(load, dict) or not {"loadavg_1min_start", "loadavg_1min_end",
                                          "other_processes_cpus", "hypervisor_steal_cpus",
                                          "warning"} <= set(load):
        fail("load must have loadavg_1min_start, loadavg_1min_end, "
             "other_processes_cpus, hypervisor_steal_cpus and warning: %r" % load)
    if not isinstance(load["warning"], bool):
        fail("load warning must be a boolean: %r" % load)
    seen = set()
    # Without the cells part every result has null figures.
    for r in doc["results"] if "cells" in parts else []:
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
    if parts & {"stream", "answer"}:
        pipe = doc.get("two_copy_pipe")
        if not isinstance(pipe, dict) or not (pipe.get("bytes_per_sec") or 0) > 0 or \
                not (pipe.get("ratio_to_memcpy") or 0) > 0:
            fail("two_copy_pipe: no bandwidth: %r" % pipe)
    elif doc.get("two_copy_pipe") is not None:
        fail("two_copy_pipe measured without stream or answer: %r" % doc["two_copy_pipe"])
    if "inflight" in parts:
        check_inflight(doc)
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
