#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise `shmipc-bench --json` runs (three or more full runs) as
Markdown for docs/BENCHMARKS.md: every target of the tail, sleep-path and
one-thread work checked (PASS or MISS, with each run's figure, the median
and the worst over the runs), the tail table, and the last run's cells
with the worst-round column; then, when the runs have the in-flight part,
one host thread's K calls in flight beside K threads (no target: the
figures for the record). Pinned runs (--pin) and unpinned runs are judged
apart and shown beside each other when both are given. A document older
than a key reads as without that part. Standard library only.

Usage: bench/summarize.py RUN1.json RUN2.json RUN3.json [...]

Exit status: 0 when every target passed in every placement given, 1 when
any missed, 2 on a usage error or a file that is not a bench JSON document.
"""
import json
import os
import statistics
import sys

GUESTS = ("shmipc-go", "shmipc-c")
TAIL_THREADS = (2, 4, 8)
TAIL_PAYLOAD = 64
TAIL_SYSTEMS = ("spin-yield",) + GUESTS
RUNS_WANTED = 3

# The targets: ops/s >= 0.8x spin-yield in every round of every run; p99 <=
# 2x spin-yield's p99 of the same round, p99.9 <= 20 us, the sleep path
# within 1.1x futex, one thread within 1.25x spin, streams >= 0.9x memcpy
# and idle CPU <= 1 %, each the median of the runs.
OPS_WORST_MIN = 0.8
P99_RATIO_MAX = 2.0
P999_MAX_NS = 20000.0
SLEEP_RATIO_MAX = 1.1
ONE_THREAD_RATIO_MAX = 1.25
STREAM_RATIO_MIN = 0.9
IDLE_PCT_MAX = 1.0
# A worst round during which the hypervisor took at least this share of
# the machine's CPU time (per_round steal_pct) says so beside its figure:
# that CPU time was lost to every process of the machine, not to the
# library's policy. The target still counts the round.
STEAL_SHOWN_PCT = 1.0
# Likewise when the line round trips between CPU 0 and 1 measured before
# and after the two cells of that round (per_round line_rtt_ns_before and
# _after) spread by this factor: the hypervisor placed the vCPUs
# differently for the two cells (on this machine one core's two hardware
# threads give about 50 ns, two cores 150-300 ns; the probe alone spreads
# by up to 1.7x).
LINE_SHOWN_SPREAD = 2.0


class BadInput(Exception):
    pass


def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput("%s: %s" % (path, e))
    if not isinstance(doc, dict) or "results" not in doc or "config" not in doc:
        raise BadInput("%s: not a shmipc-bench --json document" % path)
    doc["_path"] = path
    return doc


def pinned(doc):
    return bool(doc["config"].get("pinned", False))


def placement_name(is_pinned):
    return "pinned" if is_pinned else "not pinned"


def cell(doc, system, threads, payload):
    for r in doc["results"]:
        if (r["system"], r["threads"], r["payload"]) == (system, threads, payload):
            return r
    return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def worst_of(xs, higher_is_better):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return min(xs) if higher_is_better else max(xs)


def fmt_ratio(x):
    if x is None:
        return "n/a"
    return "%.2gx" % x if abs(x) < 0.1 else "%.2fx" % x


def fmt_ns(x):
    if x is None:
        return "n/a"
    if x < 1e3:
        return "%.0f ns" % x
    if x < 1e6:
        return "%.3g us" % (x / 1e3)
    return "%.3g ms" % (x / 1e6)


def fmt_pct(x):
    return "n/a" if x is None else "%.2f %%" % x


class Target:
    """One target: a figure per run, judged on every run (rule "every") or
    on the median of the runs (rule "median")."""

    def __init__(self, name, goal, limit, higher_is_better, rule, fmt, figure):
        self.name, self.goal, self.limit = name, goal, limit
        self.higher, self.rule, self.fmt, self.figure = higher_is_better, rule, fmt, figure

    def meets(self, x):
        return x >= self.limit if self.higher else x <= self.limit

    def judge(self, docs):
        """(per-run figures as text, median, worst, PASS/MISS, why)."""
        # each (value, note or None[, info]): a note fails a target on
        # every round; an info is only shown
        runs = [self.figure(d) for d in docs]
        values = [r[0] for r in runs]
        m, w = med(values), worst_of(values, self.higher)
        texts = []
        for r in runs:
            shown = [x for x in r[1:] if x]
            texts.append(self.fmt(r[0]) + (" (%s)" % "; ".join(shown) if shown else ""))
        missing = [i + 1 for i, v in enumerate(values) if v is None]
        notes = [i + 1 for i, r in enumerate(runs) if r[1]]
        if missing:
            return texts, m, w, "MISS", "no figure in run %s" % ", ".join(map(str, missing))
        if self.rule == "every":
            bad = [i + 1 for i, v in enumerate(values) if not self.meets(v)]
            if bad or notes:
                why = []
                if bad:
                    why.append("below in run %s" % ", ".join(map(str, bad)))
                if notes:
                    why.append("rounds failed in run %s" % ", ".join(map(str, notes)))
                return texts, m, w, "MISS", "; ".join(why)
            return texts, m, w, "PASS", ""
        return texts, m, w, ("PASS" if self.meets(m) else "MISS"), ""


def rounds_note(doc, r):
    """A note when some rounds of the cell failed: such a round counts as
    collapsed for a target on every round."""
    want = doc["config"].get("rounds")
    if r is not None and want is not None and r.get("rounds_ok", want) < want:
        return "%d/%d rounds" % (r.get("rounds_ok", 0), want)
    return None


def worst_ops_from_rounds(doc, r):
    """The lowest same-round ops ratio to spin-yield from the per-round
    figures, for documents older than the ratio_ops_to_spin_yield_worst
    key."""
    y = cell(doc, "spin-yield", r["threads"], r["payload"])
    if y is None:
        return None
    a = (r.get("per_round") or {}).get("ops_per_sec") or []
    b = (y.get("per_round") or {}).get("ops_per_sec") or []
    v = [x / z for x, z in zip(a, b) if x is not None and z]
    return min(v) if v else None


def round_value(pr, key, i):
    v = pr.get(key) or []
    return v[i] if i < len(v) else None


def worst_round_info(doc, r):
    """What the machine did in the round of the lowest same-round ops
    ratio to spin-yield, as text, or None: the hypervisor's steal (the
    higher of the two cells') when it took at least STEAL_SHOWN_PCT of the
    machine's CPU time, and the CPU 0-1 line round trips measured before
    and after both cells when the highest is LINE_SHOWN_SPREAD times the
    lowest or more (the hypervisor moved the vCPUs between or during the
    cells). Older documents lack the figures and show nothing."""
    y = cell(doc, "spin-yield", r["threads"], r["payload"])
    if y is None:
        return None
    pr, py = r.get("per_round") or {}, y.get("per_round") or {}
    a, b = pr.get("ops_per_sec") or [], py.get("ops_per_sec") or []
    rounds = [(x / z, i) for i, (x, z) in enumerate(zip(a, b)) if x is not None and z]
    if not rounds:
        return None
    i = min(rounds)[1]
    said = []
    steal = [s for s in (round_value(pr, "steal_pct", i), round_value(py, "steal_pct", i))
             if s is not None]
    if steal and max(steal) >= STEAL_SHOWN_PCT:
        said.append("steal %.1f %%" % max(steal))
    lines = [round_value(q, k, i) for q in (py, pr)
             for k in ("line_rtt_ns_before", "line_rtt_ns_after")]
    if all(v is not None and v > 0 for v in lines) and \
            max(lines) >= LINE_SHOWN_SPREAD * min(lines):
        said.append("CPU 0-1 line round trip before/after: spin-yield %.0f/%.0f ns, "
                    "this cell %.0f/%.0f ns" % tuple(lines))
    return "that round: " + ", ".join(said) if said else None


def ops_worst(doc, r):
    if "ratio_ops_to_spin_yield_worst" not in r:
        return worst_ops_from_rounds(doc, r)
    return r["ratio_ops_to_spin_yield_worst"]


def ops_worst_figure(system, t):
    def f(doc):
        r = cell(doc, system, t, TAIL_PAYLOAD)
        if r is None:
            return None, None
        return ops_worst(doc, r), rounds_note(doc, r), worst_round_info(doc, r)
    return f


def key_figure(system, t, p, key, sub=None):
    def f(doc):
        r = cell(doc, system, t, p)
        if r is None:
            return None, None
        v = (r.get(sub) or {}).get(key) if sub else r.get(key)
        if v is None and key == "ratio_p50_to_spin" and r.get("spin_baseline_collapsed"):
            return None, "spin collapsed"
        return v, None
    return f


def sleep_figure(system):
    def f(doc):
        for s in doc.get("sleep_path") or []:
            if s["system"] == system:
                return s.get("ratio_p50_to_futex"), None
        return None, None
    return f


def stream_figure(system):
    def f(doc):
        for s in doc.get("stream") or []:
            if s["system"] == system:
                return s.get("ratio_to_memcpy"), None
        return None, None
    return f


def idle_figure(side):
    def f(doc):
        idle = doc.get("idle_cpu_percent") or {}
        return idle.get(side), None
    return f


def targets():
    ts = []
    for t in TAIL_THREADS:
        for g in GUESTS:
            ts.append(Target("T=%d %d B ops/s, %s / spin-yield, worst round" % (t, TAIL_PAYLOAD, g),
                             ">= %.1fx every round" % OPS_WORST_MIN, OPS_WORST_MIN, True,
                             "every", fmt_ratio, ops_worst_figure(g, t)))
            ts.append(Target("T=%d %d B p99, %s / spin-yield (same round)" % (t, TAIL_PAYLOAD, g),
                             "<= %gx" % P99_RATIO_MAX, P99_RATIO_MAX, False, "median", fmt_ratio,
                             key_figure(g, t, TAIL_PAYLOAD, "ratio_p99_to_spin_yield")))
            ts.append(Target("T=%d %d B p99.9, %s" % (t, TAIL_PAYLOAD, g),
                             "<= %g us" % (P999_MAX_NS / 1e3), P999_MAX_NS, False, "median", fmt_ns,
                             key_figure(g, t, TAIL_PAYLOAD, "p999", "rtt_ns")))
    for g in GUESTS:
        ts.append(Target("sleep path p50, %s / futex" % g, "<= %gx" % SLEEP_RATIO_MAX,
                         SLEEP_RATIO_MAX, False, "median", fmt_ratio, sleep_figure(g)))
    for g in GUESTS:
        ts.append(Target("T=1 64 B p50, %s / spin" % g, "<= %gx" % ONE_THREAD_RATIO_MAX,
                         ONE_THREAD_RATIO_MAX, False, "median", fmt_ratio,
                         key_figure(g, 1, 64, "ratio_p50_to_spin")))
    for g in GUESTS:
        ts.append(Target("stream, %s / memcpy" % g, ">= %gx" % STREAM_RATIO_MIN, STREAM_RATIO_MIN,
                         True, "median", fmt_ratio, stream_figure(g)))
    for side in ("host", "guest"):
        ts.append(Target("idle CPU, %s process" % side, "<= %g %%" % IDLE_PCT_MAX, IDLE_PCT_MAX,
                         False, "median", fmt_pct, idle_figure(side)))
    return ts


def print_targets(docs, label):
    """The target table of @docs (one placement); returns the misses."""
    print("### Targets, %s (%d run%s)" % (label, len(docs), "" if len(docs) == 1 else "s"))
    print()
    notes = []
    if len(docs) < RUNS_WANTED:
        notes.append("only %d run%s: the targets are judged on %d full runs" % (
            len(docs), "" if len(docs) == 1 else "s", RUNS_WANTED))
    quick = [i + 1 for i, d in enumerate(docs) if d["config"].get("quick")]
    if quick:
        notes.append("run %s: --quick" % ", ".join(map(str, quick)))
    loaded = [i + 1 for i, d in enumerate(docs) if (d.get("load") or {}).get("warning")]
    if loaded:
        notes.append("run %s: the machine was loaded (load.warning)" % ", ".join(map(str, loaded)))
    for n in notes:
        print("Note: %s." % n)
    if notes:
        print()
    runs = " | ".join("run %d" % (i + 1) for i in range(len(docs)))
    print("| target | goal | %s | median | worst | |" % runs)
    print("|---|---|%s---|---|---|" % ("---|" * len(docs)))
    misses = 0
    for t in targets():
        texts, m, w, verdict, why = t.judge(docs)
        misses += verdict != "PASS"
        print("| %s | %s | %s | %s | %s | %s |" % (
            t.name, t.goal, " | ".join(texts), t.fmt(m), t.fmt(w),
            verdict + (" (%s)" % why if why else "")))
    print()
    print("Not in the bench's JSON: zero heap allocations per call on the Go serve "
          "path (`cd go && go test -run XXX -bench . -benchmem`, allocs/op).")
    print()
    return misses


def tail_row(docs, system, t, p):
    """The tail figures of one cell over the runs: medians of the runs'
    medians, and the worst of the runs' worst rounds."""
    pairs = [(d, cell(d, system, t, p)) for d in docs]
    pairs = [(d, r) for d, r in pairs if r is not None]
    if not pairs:
        return None
    rs = [r for _, r in pairs]

    def col(key, sub=None):
        return [((r.get(sub) or {}).get(key) if sub else r.get(key)) for r in rs]
    return [
        fmt_ratio(med(col("ratio_ops_to_spin_yield"))),
        fmt_ratio(worst_of([ops_worst(d, r) for d, r in pairs], True)),
        fmt_ns(med(col("p99", "rtt_ns"))),
        fmt_ratio(med(col("ratio_p99_to_spin_yield"))),
        fmt_ratio(worst_of(col("ratio_p99_to_spin_yield_worst"), False)),
        fmt_ns(med(col("p999", "rtt_ns"))),
        fmt_ns(worst_of(col("p999_worst", "rtt_ns"), False)),
        fmt_ratio(med(col("ratio_p999_to_spin_yield"))),
        fmt_ratio(worst_of(col("ratio_p999_to_spin_yield_worst"), False)),
    ]


def cells_of(docs):
    seen = []
    for d in docs:
        for r in d["results"]:
            k = (r["threads"], r["payload"])
            if k not in seen:
                seen.append(k)
    return sorted(seen)


def print_tail_table(groups):
    both = len(groups) > 1
    print("### Tails")
    print()
    print("Same-round ratios to `spin-yield`: \"median\" is the median over the runs of each "
          "run's median over rounds, \"worst round\" the worst round of all runs (lowest "
          "ops/s ratio, highest tail); p99 and p99.9 in time are medians likewise, \"p99.9 "
          "worst round\" the highest round's.")
    print()
    place = "placement | " if both else ""
    print("| system | T | P | %sops/spin-yield | worst round | p99 | p99/spin-yield | worst round "
          "| p99.9 | p99.9 worst round | p99.9/spin-yield | worst round |" % place)
    print("|---|---:|---:|%s---:|---:|---:|---:|---:|---:|---:|---:|---:|" % ("---|" if both else ""))
    all_docs = [d for _, ds in groups for d in ds]
    for t, p in cells_of(all_docs):
        for system in TAIL_SYSTEMS:
            for label, ds in groups:
                row = tail_row(ds, system, t, p)
                if row is None:
                    continue
                print("| %s | %d | %d | %s%s |" % (system, t, p, (label + " | ") if both else "",
                                                  " | ".join(row)))
    print()


def print_last_run(doc, label):
    print("### Last run, every cell (%s, %s)" % (label, os.path.basename(doc["_path"])))
    print()
    print("Medians over rounds; \"ops/spin-yield worst round\" is the lowest same-round ratio.")
    print()
    print("| system | T | P | ops/s | mean | p50 | p99 | p99.9 | p50/spin | ops/spin-yield "
          "| ops/spin-yield worst round |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in doc["results"]:
        q = r.get("rtt_ns") or {}
        ops = r.get("ops_per_sec")
        print("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["system"], r["threads"], r["payload"], "n/a" if ops is None else "%.0f" % ops,
            fmt_ns(q.get("mean")), fmt_ns(q.get("p50")), fmt_ns(q.get("p99")),
            fmt_ns(q.get("p999")), fmt_ratio(r.get("ratio_p50_to_spin")),
            fmt_ratio(r.get("ratio_ops_to_spin_yield")),
            fmt_ratio(ops_worst(doc, r))))
    print()
    sp = doc.get("sleep_path") or []
    if sp:
        print("Sleep path (one call every 1 ms): " + ", ".join(
            "%s p50 %s / p99 %s" % (s["system"], fmt_ns(s["rtt_ns"].get("p50")),
                                    fmt_ns(s["rtt_ns"].get("p99"))) for s in sp))
        print()
    idle = doc.get("idle_cpu_percent")
    if idle:
        print("Idle CPU after a loaded cell: host %s, guest %s." % (
            fmt_pct(idle.get("host")), fmt_pct(idle.get("guest"))))
        print()
    st = [s for s in doc.get("stream") or [] if s.get("bytes_per_sec")]
    if st:
        print("Streams: " + ", ".join("%s %.2f GB/s" % (s["system"], s["bytes_per_sec"] / 1e9)
                                      for s in st))
        print()
    pipe = doc.get("two_copy_pipe") or {}
    if pipe.get("bytes_per_sec") and pipe.get("ratio_to_memcpy"):
        print("Two-copy pipe (no library; the bound of a stream or large answer): "
              "%.2f GB/s, %.2fx memcpy." % (pipe["bytes_per_sec"] / 1e9, pipe["ratio_to_memcpy"]))
        print()


def inflight_key(e):
    return (e["system"], e["in_flight"], e.get("wait", "shmipc_slot_wait_any"))


def inflight_rows(docs):
    """(system, K, wait) of every in-flight cell of @docs, in order."""
    seen = []
    for d in docs:
        for e in d.get("inflight") or []:
            if inflight_key(e) not in seen:
                seen.append(inflight_key(e))
    return sorted(seen, key=lambda x: (x[1], x[2], x[0]))


def print_inflight(groups):
    """One thread with K calls in flight beside K threads: medians over the
    runs of each run's median over rounds, the worst round of all runs."""
    all_docs = [d for _, ds in groups for d in ds]
    rows = inflight_rows(all_docs)
    if not rows:
        return
    both = len(groups) > 1
    print("### Calls in flight from one thread")
    print()
    print("One host thread keeps K calls of 64 B in flight (`shmipc_slot_wait_any`), beside K "
          "threads each making blocking calls in the same rounds. \"1/K\" is the same-round "
          "ratio of ops/s, one thread / K threads: the median over the runs of each run's "
          "median over rounds, and the worst (lowest) round of all runs; the other figures "
          "are medians over the runs. The one thread's call time runs from its publish to its "
          "answer seen.")
    print()
    place = "placement | " if both else ""
    print("| system | K | %sone thread ops/s | p50 | p99 | K threads ops/s | p50 | p99 | 1/K "
          "| worst round |" % place)
    print("|---|---:|%s---:|---:|---:|---:|---:|---:|---:|---:|" % ("---|" if both else ""))
    for system, k, wait in rows:
        for label, ds in groups:
            es = [e for d in ds for e in d.get("inflight") or []
                  if inflight_key(e) == (system, k, wait)]
            if not es:
                continue

            def side(name, key, sub=None):
                vs = [(e.get(name) or {}).get(key) for e in es]
                if sub:
                    vs = [(v or {}).get(sub) for v in vs]
                return med(vs)
            ops = [side("one_thread", "ops_per_sec"), side("k_threads", "ops_per_sec")]
            print("| %s | %d | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
                system + ("" if wait == "shmipc_slot_wait_any" else " (%s)" % wait), k,
                (label + " | ") if both else "",
                "n/a" if ops[0] is None else "%.0f" % ops[0],
                fmt_ns(side("one_thread", "call_ns", "p50")),
                fmt_ns(side("one_thread", "call_ns", "p99")),
                "n/a" if ops[1] is None else "%.0f" % ops[1],
                fmt_ns(side("k_threads", "call_ns", "p50")),
                fmt_ns(side("k_threads", "call_ns", "p99")),
                fmt_ratio(med([e.get("ratio_ops_one_thread_to_k_threads") for e in es])),
                fmt_ratio(worst_of([e.get("ratio_ops_one_thread_to_k_threads_worst")
                                    for e in es], True))))
    print()


def pin_map_text(doc):
    cmap = doc["config"].get("cpu_map") or {}
    pairs = cmap.get("pairs") or []
    return "CPUs %s; client/server CPU of pair 0..%d: %s" % (
        ",".join(str(c) for c in cmap.get("cpus", [])), len(pairs) - 1,
        " ".join("%d/%d" % (q["client"], q["server"]) for q in pairs))


def main(argv):
    if len(argv) < 1 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    try:
        docs = [load(p) for p in argv]
    except BadInput as e:
        print("summarize: %s" % e, file=sys.stderr)
        return 2
    groups = []
    for is_pinned in (False, True):
        ds = [d for d in docs if pinned(d) == is_pinned]
        if ds:
            groups.append((placement_name(is_pinned), ds))
    print("## shmipc-bench: %s" % ", ".join(
        "%d run%s %s" % (len(ds), "" if len(ds) == 1 else "s", label) for label, ds in groups))
    print()
    for label, ds in groups:
        print("- %s: %s" % (label, ", ".join(d["_path"] for d in ds)))
        if label == "pinned":
            print("  (%s)" % pin_map_text(ds[-1]))
    print()
    misses = 0
    for label, ds in groups:
        misses += print_targets(ds, label)
    print_tail_table(groups)
    for label, ds in groups:
        print_last_run(ds[-1], label)
    print_inflight(groups)
    total = len(targets()) * len(groups)
    print("%d of %d targets passed." % (total - misses, total))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
