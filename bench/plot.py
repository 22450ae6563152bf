#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Latency-distribution plot from `shmipc-bench --json` output, as SVG.

Usage: bench/plot.py RESULTS.json OUT.svg [--payload 64]

One panel per thread count; for each system a marker at p50, p99 and
p99.9 (log scale), joined by a line, so the shape of each distribution's
tail is visible next to the baselines measured in the same run. Standard
library only.
"""
import json
import math
import sys

COLORS = {
    "spin": "#555555", "spin-yield": "#999999", "futex": "#8c564b",
    "unix": "#9467bd", "pipe": "#e377c2", "shmipc-c": "#1f77b4",
    "shmipc-go": "#d62728",
}
ORDER = ["spin", "spin-yield", "shmipc-c", "shmipc-go", "futex", "unix", "pipe"]
PCTS = [("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")]


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    payload = 64
    if "--payload" in argv:
        payload = int(argv[argv.index("--payload") + 1])
    with open(argv[1]) as f:
        doc = json.load(f)
    rows = [r for r in doc["results"] if r["payload"] == payload and r.get("rtt_ns")]
    threads = sorted({r["threads"] for r in rows})
    if not rows:
        sys.exit("no results for payload %d" % payload)
    vals = [r["rtt_ns"][k] for r in rows for k, _ in PCTS if r["rtt_ns"].get(k)]
    lo = 10 ** math.floor(math.log10(max(1, min(vals))))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    pw, ph, ml, mt, mb = 300, 320, 70, 40, 70
    width = ml + len(threads) * (pw + 20) + 150
    height = mt + ph + mb
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">shmipc-bench round-trip latency, '
           '%d B each way (log scale)</text>' % (ml, payload)]

    def y(v):
        return mt + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    for ti, t in enumerate(threads):
        x0 = ml + ti * (pw + 20)
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>' % (x0, mt, pw, ph))
        out.append('<text x="%d" y="%d" text-anchor="middle">%d thread%s</text>' % (
            x0 + pw / 2, mt + ph + 40, t, "" if t == 1 else "s"))
        e = lo
        while e <= hi:
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (x0, x0 + pw, y(e), y(e)))
            if ti == 0:
                label = "%g ns" % e if e < 1000 else ("%g us" % (e / 1000) if e < 1e6 else "%g ms" % (e / 1e6))
                out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (x0 - 5, y(e) + 4, label))
            e *= 10
        for pi, (_, name) in enumerate(PCTS):
            px = x0 + 40 + pi * (pw - 80) / (len(PCTS) - 1)
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (px, mt + ph + 18, name))
        for r in sorted((r for r in rows if r["threads"] == t),
                        key=lambda r: ORDER.index(r["system"]) if r["system"] in ORDER else 99):
            c = COLORS.get(r["system"], "#000")
            pts = []
            for pi, (k, _) in enumerate(PCTS):
                v = r["rtt_ns"].get(k)
                if v:
                    pts.append((x0 + 40 + pi * (pw - 80) / (len(PCTS) - 1), y(v)))
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                c, " ".join("%.1f,%.1f" % p for p in pts)))
            for px, py in pts:
                out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (px, py, c))
    lx = ml + len(threads) * (pw + 20) + 10
    for i, s in enumerate(x for x in ORDER if any(r["system"] == x for r in rows)):
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (lx, mt + i * 20, COLORS[s]))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 18, mt + i * 20 + 11, s))
    m = doc.get("machine", {})
    out.append('<text x="%d" y="%d" fill="#666">%s</text>' % (
        ml, height - 10, " ".join(str(m.get(k, "")) for k in ("nproc", "cpu_model", "kernel") if m.get(k))))
    out.append("</svg>")
    with open(argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
