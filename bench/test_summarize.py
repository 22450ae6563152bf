#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Unit test of bench/summarize.py on synthetic bench documents: three runs
that meet every target give PASS everywhere (exit 0); one collapsed round
of one cell in one run, or one failed round, gives a MISS for exactly that
target (exit 1), also from a document without the worst-round key; a median that misses gives a MISS; pinned runs are judged
apart and shown beside the unpinned ones; the in-flight cells are shown
(median over runs, worst round) without changing the verdicts, and runs
without them (older documents) read as before. The per-cell keys are computed
from the per-round figures the way shmipc-bench computes them (median over
rounds of the same-round ratio; the worst round).

Usage: test_summarize.py PATH/TO/summarize.py
"""
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROUNDS = 3
SYSTEMS = ("spin", "spin-yield", "futex", "shmipc-go", "shmipc-c")
THREADS = (1, 2, 4, 8)
# Per-round figures of a run that meets every target: ops/s, p50, p99,
# p99.9 (ns) per system.
GOOD = {
    "spin": (4.0e6, 200, 400, 900),
    "spin-yield": (1.0e6, 300, 1000, 5000),
    "futex": (5.0e4, 20000, 60000, 90000),
    "shmipc-go": (0.9e6, 240, 1500, 12000),
    "shmipc-c": (0.95e6, 230, 1400, 11000),
}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def same_round(a, b):
    return [x / y if x is not None and y is not None else None for x, y in zip(a, b)]


def make_cell(system, t, p, rounds):
    """rounds: list of (ops, p50, p99, p999) per round, None for a failed round."""
    def per(k):
        return [r[k] if r else None for r in rounds]
    return {"system": system, "threads": t, "payload": p,
            "rounds_ok": sum(1 for r in rounds if r), "ops": 1000,
            "per_round": {"ops_per_sec": per(0), "p50_ns": per(1), "p99_ns": per(2),
                          "p999_ns": per(3)}}


def finish(doc):
    """Fill every cell's aggregate keys from its per-round figures."""
    for c in doc["results"]:
        pr = c["per_round"]
        c["ops_per_sec"] = med(pr["ops_per_sec"])
        c["rtt_ns"] = {"mean": med(pr["p50_ns"]), "p50": med(pr["p50_ns"]),
                       "p99": med(pr["p99_ns"]), "p999": med(pr["p999_ns"]),
                       "p999_worst": max(x for x in pr["p999_ns"] if x is not None)}
        ref = {r["system"]: r for r in doc["results"]
               if (r["threads"], r["payload"]) == (c["threads"], c["payload"])}
        sy, sp = ref["spin-yield"]["per_round"], ref["spin"]["per_round"]
        c["spin_baseline_collapsed"] = None
        c["ratio_p50_to_spin"] = med(same_round(pr["p50_ns"], sp["p50_ns"]))
        for key, src, worst in (("ratio_ops_to_spin_yield", "ops_per_sec", min),
                                ("ratio_p99_to_spin_yield", "p99_ns", max),
                                ("ratio_p999_to_spin_yield", "p999_ns", max)):
            v = same_round(pr[src], sy[src])
            c[key] = med(v)
            c[key + "_worst"] = worst(x for x in v if x is not None)
    return doc


def make_doc(pinned=False, tweak=None):
    doc = {"config": {"quick": False, "rounds": ROUNDS, "threads": list(THREADS),
                      "payloads": [64], "systems": list(SYSTEMS),
                      "parts": ["cells", "sleep", "idle", "stream"], "pinned": pinned,
                      "cpu_map": ({"cpus": [0, 1], "rule": "test", "pairs": [
                          {"client": 0, "server": 1}] * max(THREADS)} if pinned else None)},
           "load": {"warning": False},
           "results": [],
           "sleep_path": [
               {"system": "futex", "rtt_ns": {"p50": 15000, "p99": 90000}, "ratio_p50_to_futex": 1.0},
               {"system": "shmipc-go", "rtt_ns": {"p50": 15800, "p99": 95000}, "ratio_p50_to_futex": 1.05},
               {"system": "shmipc-c", "rtt_ns": {"p50": 15500, "p99": 91000}, "ratio_p50_to_futex": 1.03}],
           "idle_cpu_percent": {"host": 0.4, "guest": 0.7, "seconds": 2.0},
           "stream": [{"system": "memcpy", "bytes": 1 << 28, "bytes_per_sec": 1.2e10},
                      {"system": "shmipc-go", "bytes": 1 << 28, "bytes_per_sec": 1.1e10,
                       "ratio_to_memcpy": 0.93},
                      {"system": "shmipc-c", "bytes": 1 << 28, "bytes_per_sec": 1.15e10,
                       "ratio_to_memcpy": 0.95}],
           "errors": []}
    for t in THREADS:
        for s in SYSTEMS:
            rounds = [list(GOOD[s]) for _ in range(ROUNDS)]
            if tweak:
                tweak(s, t, rounds)
            doc["results"].append(make_cell(s, t, 64, rounds))
    return finish(doc)


def add_inflight(doc, ratios):
    """In-flight cells for K = 4: one thread at @ratios (one per round) of
    the K threads' 1.0e6 ops/s."""
    for system in ("shmipc-go", "shmipc-c"):
        one = [1.0e6 * x for x in ratios]
        doc.setdefault("inflight", []).append({
            "system": system, "in_flight": 4, "payload": 64, "wait": "shmipc_slot_wait_any",
            "one_thread": {"threads": 1, "ops_per_sec": med(one),
                           "call_ns": {"p50": 1800, "p99": 2500},
                           "per_round": {"ops_per_sec": one}},
            "k_threads": {"threads": 4, "ops_per_sec": 1.0e6,
                          "call_ns": {"p50": 900, "p99": 3000},
                          "per_round": {"ops_per_sec": [1.0e6] * len(ratios)}},
            "ratio_ops_one_thread_to_k_threads": med(ratios),
            "ratio_ops_one_thread_to_k_threads_worst": min(ratios),
            "per_round_ratio_ops": ratios})
    doc["config"]["parts"].append("inflight")
    doc["config"]["inflight"] = [4]
    return doc


def run(summarize, docs):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, d in enumerate(docs):
            paths.append(os.path.join(tmp, "run%d.json" % (i + 1)))
            with open(paths[-1], "w") as f:
                json.dump(d, f)
        p = subprocess.run([sys.executable, summarize] + paths, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    if p.stderr:
        fail("summarize wrote to stderr:\n" + p.stderr)
    return p.returncode, p.stdout


def target_rows(out):
    """{(section, target name): (figures..., verdict)} of the target tables."""
    rows, section = {}, None
    for line in out.splitlines():
        if line.startswith("### Targets, "):
            section = line[len("### Targets, "):].split(" (")[0]
        elif line.startswith("### "):
            section = None
        elif section and line.startswith("| ") and not line.startswith("| target"):
            cols = [c.strip() for c in line.strip("|").split("|")]
            rows[(section, cols[0])] = cols
    return rows


def fail(msg):
    print("test_summarize: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg, out):
    if not cond:
        fail(msg + "\n--- summarize output ---\n" + out)


def misses(rows):
    return sorted(k for k, cols in rows.items() if not cols[-1].startswith("PASS"))


def main(summarize):
    good = [make_doc() for _ in range(3)]

    rc, out = run(summarize, good)
    rows = target_rows(out)
    expect(rc == 0, "three good runs: exit %d, want 0" % rc, out)
    expect(len(rows) == 26, "want 26 targets, got %d" % len(rows), out)
    expect(not misses(rows), "three good runs: MISS for %s" % misses(rows), out)
    expect("26 of 26 targets passed." in out, "no pass count", out)
    expect("| shmipc-c | 2 | 64 | 0.95x | 0.95x |" in out, "tail table row missing", out)

    # One round of one cell collapses in run 2 (0.08x spin-yield), its
    # median still fine: the every-round target misses, and only it.
    def collapse(s, t, rounds):
        if (s, t) == ("shmipc-c", 2):
            rounds[1][0] = 0.08e6
    runs = [good[0], make_doc(tweak=collapse), good[2]]
    rc, out = run(summarize, runs)
    rows = target_rows(out)
    want = [("not pinned", "T=2 64 B ops/s, shmipc-c / spin-yield, worst round")]
    expect(rc == 1, "collapsed round: exit %d, want 1" % rc, out)
    expect(misses(rows) == want, "collapsed round: MISS for %s, want %s" % (misses(rows), want), out)
    cols = rows[want[0]]
    expect(cols[2:5] == ["0.95x", "0.08x", "0.95x"] and cols[6] == "0.08x",
           "collapsed round: figures %s" % cols, out)
    expect("| shmipc-c | 2 | 64 | 0.95x | 0.08x |" in out, "worst round not in the tail table", out)

    # The same collapse in a round that the hypervisor's steal hit: shown
    # beside the figure, and still a miss. Steal in another round, or
    # below the shown share, shows nothing.
    stolen = copy.deepcopy(runs[1])
    for c in stolen["results"]:
        c["per_round"]["steal_pct"] = [0.0] * ROUNDS
        c["per_round"]["line_rtt_ns_before"] = [150.0] * ROUNDS
        c["per_round"]["line_rtt_ns_after"] = [160.0] * ROUNDS
        if (c["system"], c["threads"]) == ("shmipc-c", 2):
            c["per_round"]["steal_pct"][1] = 12.5
        if (c["system"], c["threads"]) == ("spin-yield", 4):
            c["per_round"]["steal_pct"][0] = 0.5
        if (c["system"], c["threads"]) == ("shmipc-go", 8):
            c["per_round"]["steal_pct"][ROUNDS - 1] = 30.0
    rc, out = run(summarize, [good[0], stolen, good[2]])
    rows = target_rows(out)
    expect(rc == 1 and misses(rows) == want,
           "collapse with steal: MISS for %s, want %s" % (misses(rows), want), out)
    expect(rows[want[0]][3] == "0.08x (that round: steal 12.5 %)",
           "collapse with steal: figure %r" % rows[want[0]][3], out)
    # ... and with the vCPUs placed apart for this cell than for
    # spin-yield's (line round trips 110-120 ns, then 600-620 ns).
    for c in stolen["results"]:
        if c["threads"] == 2 and c["system"] in ("spin-yield", "shmipc-c"):
            pr = c["per_round"]
            pr["line_rtt_ns_before"][1], pr["line_rtt_ns_after"][1] = (
                (110.0, 120.0) if c["system"] == "spin-yield" else (600.0, 620.0))
    rc, out = run(summarize, [good[0], stolen, good[2]])
    rows = target_rows(out)
    expect(rc == 1 and misses(rows) == want,
           "collapse with a vCPU move: MISS for %s, want %s" % (misses(rows), want), out)
    expect(rows[want[0]][3] == "0.08x (that round: steal 12.5 %, CPU 0-1 line round trip "
           "before/after: spin-yield 110/120 ns, this cell 600/620 ns)",
           "collapse with a vCPU move: figure %r" % rows[want[0]][3], out)
    expect("steal" not in " ".join(
        " ".join(cols) for k, cols in rows.items() if k != want[0]),
        "steal shown beside a round it did not hit", out)

    # A document from before the worst-round key: the same verdict from its
    # per-round ops/s.
    old = copy.deepcopy(runs[1])
    for c in old["results"]:
        del c["ratio_ops_to_spin_yield_worst"]
    rc, out = run(summarize, [good[0], old, good[2]])
    expect(rc == 1 and misses(target_rows(out)) == want,
           "document without the worst-round key: MISS for %s, want %s" % (
               misses(target_rows(out)), want), out)

    # A failed round (no figure) counts as a collapse.
    failed = copy.deepcopy(good[1])
    for c in failed["results"]:
        if (c["system"], c["threads"]) == ("shmipc-go", 8):
            c["rounds_ok"] = ROUNDS - 1
    rc, out = run(summarize, [good[0], failed, good[2]])
    rows = target_rows(out)
    want = [("not pinned", "T=8 64 B ops/s, shmipc-go / spin-yield, worst round")]
    expect(rc == 1 and misses(rows) == want, "failed round: MISS for %s, want %s" % (misses(rows), want), out)

    # Median rules: p99 at 2.5x spin-yield's in two runs of three misses;
    # in one run of three it passes.
    def slow_tail(s, t, rounds):
        if (s, t) == ("shmipc-go", 4):
            for r in rounds:
                r[2] = 2500
    rc, out = run(summarize, [make_doc(tweak=slow_tail), make_doc(tweak=slow_tail), good[2]])
    want = [("not pinned", "T=4 64 B p99, shmipc-go / spin-yield (same round)")]
    expect(misses(target_rows(out)) == want, "p99 median: MISS for %s" % misses(target_rows(out)), out)
    rc, out = run(summarize, [make_doc(tweak=slow_tail), good[1], good[2]])
    expect(rc == 0, "p99 high in one run of three: exit %d, want 0" % rc, out)

    # Pinned beside unpinned: judged apart, one tail row each.
    pinned = [make_doc(pinned=True, tweak=collapse)] + [make_doc(pinned=True) for _ in range(2)]
    rc, out = run(summarize, good + pinned)
    rows = target_rows(out)
    want = [("pinned", "T=2 64 B ops/s, shmipc-c / spin-yield, worst round")]
    expect(rc == 1 and misses(rows) == want, "pinned: MISS for %s, want %s" % (misses(rows), want), out)
    expect(len(rows) == 52, "pinned and unpinned: %d targets, want 52" % len(rows), out)
    expect("| shmipc-c | 2 | 64 | not pinned | 0.95x | 0.95x |" in out and
           "| shmipc-c | 2 | 64 | pinned | 0.95x | 0.08x |" in out,
           "pinned and unpinned rows not side by side", out)

    # In-flight cells in two runs of three (the first an older document):
    # shown, the median of the runs' medians and the lowest round; the
    # targets untouched.
    expect("### Calls in flight" not in run(summarize, good)[1],
           "an in-flight section without in-flight cells", out)
    runs = [good[0], add_inflight(make_doc(), [1.4, 1.5, 1.6]),
            add_inflight(make_doc(), [1.7, 0.9, 1.8])]
    rc, out = run(summarize, runs)
    expect(rc == 0 and "26 of 26 targets passed." in out,
           "in-flight cells changed the verdicts (exit %d)" % rc, out)
    for system in ("shmipc-go", "shmipc-c"):
        row = "| %s | 4 | 1600000 | 1.8 us | 2.5 us | 1000000 | 900 ns | 3 us | 1.60x | 0.90x |" % system
        expect(row in out, "in-flight row %r missing" % row, out)

    # Not a bench document: exit 2.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write("{}")
    try:
        p = subprocess.run([sys.executable, summarize, f.name], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    finally:
        os.unlink(f.name)
    if p.returncode != 2:
        fail("a document without results: exit %d, want 2" % p.returncode)
    print("test_summarize: ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
