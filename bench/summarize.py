#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise one or more `shmipc-bench --json` runs as Markdown: the
issue's target ratios (median over the runs given) and the full table of
the last run. Standard library only.

Usage: bench/summarize.py RUN1.json [RUN2.json ...]
"""
import json
import statistics
import sys


def cell(doc, system, threads, payload):
    for r in doc["results"]:
        if (r["system"], r["threads"], r["payload"]) == (system, threads, payload):
            return r
    return None


def sleep(doc, system):
    for s in doc.get("sleep_path", []):
        if s["system"] == system:
            return s["rtt_ns"]
    return None


def sleep_ratio(doc, system):
    """The same-round ratio to futex (median over rounds), if the run has it."""
    for s in doc.get("sleep_path", []):
        if s["system"] == system:
            return s.get("ratio_p50_to_futex")
    return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit="x"):
    return "n/a" if x is None else "%.2f%s" % (x, unit)


def main(paths):
    docs = [json.load(open(p)) for p in paths]
    rows = []

    def ratio(name, target, values, better):
        m = med(values)
        ok = None if m is None else (m <= target if better == "le" else m >= target)
        rows.append((name, ("<= " if better == "le" else ">= ") + "%g" % target,
                     ", ".join(fmt(v) for v in values), fmt(m),
                     "n/a" if ok is None else ("met" if ok else "missed")))

    def p50_ratio(d, system):
        r = cell(d, system, 1, 64)
        return r and r["ratio_p50_to_spin"]

    ratio("1 thread 64 B p50, shmipc-go / spin", 1.5, [p50_ratio(d, "shmipc-go") for d in docs], "le")
    ratio("1 thread 64 B p50, shmipc-c / spin", 1.3, [p50_ratio(d, "shmipc-c") for d in docs], "le")
    for t in (4, 8):
        for sysname in ("shmipc-go", "shmipc-c"):
            vals = []
            for d in docs:
                r = cell(d, sysname, t, 64)
                vals.append(r and r.get("ratio_ops_to_spin_yield"))
            ratio("%d threads 64 B ops/s, %s / spin-yield" % (t, sysname), 0.5, vals, "ge")
    for sysname in ("shmipc-go", "shmipc-c"):
        vals = []
        for d in docs:
            a, u = cell(d, sysname, 1, 64), cell(d, "unix", 1, 64)
            vals.append(a and u and u["rtt_ns"]["p50"] / a["rtt_ns"]["p50"])
        ratio("1 thread p50, unix / %s (how much lower)" % sysname, 50, vals, "ge")
    for sysname in ("shmipc-go", "shmipc-c"):
        vals = []
        for d in docs:
            a, f = sleep(d, sysname), sleep(d, "futex")
            r = sleep_ratio(d, sysname)
            vals.append(r if r is not None else a and f and a["p50"] / f["p50"])
        ratio("sleep path p50, %s / futex" % sysname, 1.2, vals, "le")
    for sysname in ("shmipc-go", "shmipc-c"):
        vals = []
        for d in docs:
            mc = [s for s in d["stream"] if s["system"] == "memcpy"]
            sg = [s for s in d["stream"] if s["system"] == sysname]
            if sg and sg[0].get("ratio_to_memcpy") is not None:
                vals.append(sg[0]["ratio_to_memcpy"])  # paired, same moment
            else:
                vals.append(sg[0]["bytes_per_sec"] / mc[0]["bytes_per_sec"]
                            if mc and sg and sg[0]["bytes_per_sec"] else None)
        ratio("stream 256 MiB, %s / memcpy" % sysname, 0.5, vals, "ge")
    for side in ("host", "guest"):
        vals = [d["idle_cpu_percent"].get(side) if d.get("idle_cpu_percent") else None for d in docs]
        m = med(vals)
        rows.append(("idle CPU %%, %s" % side, "<= 1", ", ".join(fmt(v, "") for v in vals),
                     fmt(m, ""), "n/a" if m is None else ("met" if m <= 1 else "missed")))

    print("| target | goal | runs | median | |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s | %s |" % r)
    d = docs[-1]
    print()
    print("Last run, every cell (median over rounds):")
    print()
    print("| system | T | P | ops/s | mean | p50 | p99 | p99.9 | p50/spin | ops/spin-yield |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in d["results"]:
        q = r["rtt_ns"]
        print("| %s | %d | %d | %.0f | %.0f ns | %.0f ns | %.0f ns | %.0f ns | %s | %s |" % (
            r["system"], r["threads"], r["payload"], r["ops_per_sec"], q["mean"], q["p50"],
            q["p99"], q["p999"], fmt(r.get("ratio_p50_to_spin")),
            fmt(r.get("ratio_ops_to_spin_yield"))))
    print()
    print("Sleep path (one call every 1 ms): " + ", ".join(
        "%s p50 %.1f us / p99 %.1f us" % (s["system"], s["rtt_ns"]["p50"] / 1e3, s["rtt_ns"]["p99"] / 1e3)
        for s in d.get("sleep_path", [])))
    print()
    print("Idle CPU after a loaded cell: host %s %%, guest %s %%." % (
        d["idle_cpu_percent"].get("host"), d["idle_cpu_percent"].get("guest")))
    print()
    print("Streams: " + ", ".join("%s %.2f GB/s" % (s["system"], s["bytes_per_sec"] / 1e9) for s in d["stream"])
          + (" (shmipc streams: %s)" % d["stream_missing"] if d.get("stream_missing") else ""))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
