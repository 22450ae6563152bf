#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""shmipc-stat against a live host (tests/stat/stat_host.c) and an echo
guest: the listing, the JSON and its counts after scripted traffic, a
call held in the guest's handler shown PROCESSING with a growing age,
--watch, a guest killed and replaced, --clean of a dead host's segment
(and not of a live one), and segments of garbage, which must give an
error and never a crash or a hang.

Usage: test_stat.py SHMIPC_STAT STAT_HOST GUEST_PATH
Segment names are unique to this run and removed at the end; no other
segment is touched (--clean is only ever given a name of ours).
"""
import json
import os
import random
import subprocess
import sys
import time

STAT, HOST, GUEST = sys.argv[1:4]
TAG = "stat-%d" % os.getpid()
SHM = "/dev/shm/shmipc-"
TIMEOUT = 20  # seconds, for every child process

N_ECHO, N_LATE, STREAM_LEN, STREAM_CHUNKS, N_AFTER = 20, 2, 2500, 3, 5
# echo, a handler failure, the late calls, a guest call, a stream's start
# and chunks (stat_host.c, traffic())
CALLS = N_ECHO + 1 + N_LATE + 1 + 1 + STREAM_CHUNKS

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def stat(*args, ok=(0,)):
    p = subprocess.run([STAT] + list(args), capture_output=True, text=True,
                       timeout=TIMEOUT)
    # A negative code is a signal: a crash, whatever the segment held.
    if p.returncode not in ok:
        raise AssertionError("shmipc-stat %s: exit %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, p.stdout,
                                p.stderr))
    return p


def stat_json(*args, ok=(0,)):
    return json.loads(stat("--json", *args, ok=ok).stdout)


def read_line(p, want):
    """The host's next line, which must start with @want."""
    line = p.stdout.readline()
    if not line.startswith(want):
        raise AssertionError("stat-host said %r, want %r; stderr: %s"
                             % (line, want, p.stderr.read() if p.poll()
                                is not None else ""))
    return line[len(want):].strip()


def slot_json(doc, state):
    return [s for s in doc["slots"] if s["state"] == state]


def main():
    name = TAG + "-live"
    host = subprocess.Popen([HOST, name, GUEST], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        run_live(host, name)
    finally:
        if host.poll() is None:
            try:
                host.stdin.write("exit\n")
                host.stdin.flush()
                host.wait(TIMEOUT)
            except Exception:
                host.kill()
                host.wait()
    check(not os.path.exists(SHM + name), "the host's segment is gone after "
          "its destroy")
    run_clean()
    run_garbage()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


def run_live(host, name):
    api = json.loads(read_line(host, "traffic"))
    host_pid = api["pid"]

    # The listing shows our segment, live, with both pids and both alive.
    listing = stat_json()
    check(listing["schema"] == "shmipc-stat/1", "listing schema")
    mine = [s for s in listing["segments"] if s["name"] == name]
    check(len(mine) == 1, "the listing has the segment once")
    if mine:
        seg = mine[0]
        check(seg["state"] == "live", "listing: state live, not %s"
              % seg["state"])
        check(seg["host_pid"] == host_pid and seg["host_alive"] is True,
              "listing: host pid %s alive" % host_pid)
        check(seg["guest_alive"] is True and seg["guest_pid"] not in
              (0, None), "listing: guest alive with its pid")
        check(seg["size"] > 0 and seg["uid"] == os.getuid(),
              "listing: size and owner")
    text = stat().stdout
    check(any(l.split()[:1] == [name] for l in text.splitlines()),
          "the text listing names the segment")

    # The counts of the scripted traffic, from the segment and from the API.
    doc = stat_json(name)
    h, g = doc["counters"]["host"], doc["counters"]["guest"]
    want_host = {"calls": CALLS, "answered": CALLS - N_LATE,
                 "timeouts": N_LATE, "quarantined": N_LATE, "cancels": 0,
                 "late_dropped": N_LATE, "remote": 1, "peer_gone": 0,
                 "corrupt": 0, "served": 1, "served_errors": 0,
                 "stream_chunks": STREAM_CHUNKS, "stream_bytes": STREAM_LEN,
                 "stream_drops": 0, "attaches": 1, "epoch": 1}
    # The guest answered every host request, the late ones too, and made
    # the one guest call.
    want_guest = {"calls": 1, "answered": 1, "timeouts": 0, "served": CALLS,
                  "served_errors": 1, "attaches": 1, "epoch": 1}
    for k, v in want_host.items():
        check(h[k] == v, "host %s: shmipc-stat %s, want %s" % (k, h[k], v))
        check(api[k] == v, "host %s: shmipc_host_stats %s, want %s"
              % (k, api[k], v))
    for k, v in want_guest.items():
        check(g[k] == v, "guest %s: shmipc-stat %s, want %s" % (k, g[k], v))
    geo = doc["geometry"]
    check(geo["host_slots"] == 4 and geo["guest_slots"] == 2
          and geo["req_capacity"] == 4096, "geometry")
    check(len(doc["slots"]) == 6, "every slot listed")
    check(doc["host"]["alive"] is True and doc["guest"]["alive"] is True,
          "both sides alive")
    check(sum(s["calls"] for s in doc["slots"][:4]) == CALLS,
          "the host slots' calls sum to the host's")
    check(doc["rates"]["interval_ns"] is None and
          doc["rates"]["host"]["calls"] > 0, "rates since the session began")

    # A call held in the guest's handler: PROCESSING, with an age that grows.
    host.stdin.write("block 1500\n")
    host.stdin.flush()
    read_line(host, "blocking")
    time.sleep(0.2)
    first = slot_json(stat_json(name), "PROCESSING")
    time.sleep(0.3)
    second = slot_json(stat_json(name), "PROCESSING")
    text = stat(name).stdout
    check(len(first) == 1 and len(second) == 1,
          "one slot PROCESSING while the handler blocks")
    if first and second:
        a, b = first[0]["age_ns"], second[0]["age_ns"]
        check(a is not None and a > 0, "the blocked call has an age (%s)" % a)
        check(a is not None and b is not None and b >= a + 200_000_000,
              "its age grows with time (%s, then %s)" % (a, b))
        check(first[0]["requester_waiting"] is True,
              "the host sleeps on the slot (RW)")
        check(first[0]["req_type"] == 201 and first[0]["req_size"] == 4,
              "the request's type and size")
    check("PROCESSING" in text, "the text shows the slot PROCESSING")
    host.stdin.write("join\n")
    host.stdin.flush()
    check(read_line(host, "joined") == "0", "the held call succeeds")

    # --watch: a document per refresh, rates over the interval.
    p = stat("--json", "--watch", "--count", "2", "--interval-ms", "100",
             name)
    docs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    check(len(docs) == 2, "--watch --count 2 prints two documents")
    if len(docs) == 2:
        check(docs[0]["rates"]["interval_ns"] is None and
              docs[1]["rates"]["interval_ns"] >= 100_000_000,
              "the second refresh's rates are over its interval")

    # A guest killed in the middle of two calls and replaced (stat_host.c,
    # replace_guest()): both end PEER_GONE, quarantined; one slot is
    # recovered before the new guest attaches, the other the new guest
    # answers (SYSTEM_ERROR) and the host drops that late answer. A new
    # epoch; the new guest counts from zero.
    host.stdin.write("replace\n")
    host.stdin.flush()
    api = json.loads(read_line(host, "replaced"))
    doc = stat_json(name)
    h, g = doc["counters"]["host"], doc["counters"]["guest"]
    want_host = {"attaches": 2, "epoch": 2, "peer_gone": 2,
                 "quarantined": N_LATE + 2, "recovered": 1,
                 "late_dropped": N_LATE + 1, "timeouts": N_LATE,
                 "remote": 1, "calls": CALLS + 3 + N_AFTER,
                 "answered": CALLS - N_LATE + 1 + N_AFTER}
    for k, v in want_host.items():
        check(h[k] == v, "after replace, host %s: shmipc-stat %s, want %s"
              % (k, h[k], v))
        check(api[k] == v, "after replace, host %s: shmipc_host_stats %s, "
              "want %s" % (k, api[k], v))
    want_guest = {"epoch": 2, "attaches": 1, "calls": 0,
                  "served": N_AFTER + 1, "served_errors": 1}
    for k, v in want_guest.items():
        check(g[k] == v, "after replace, guest %s: shmipc-stat %s, want %s"
              % (k, g[k], v))
    check(doc["guest"]["epoch"] == 2, "the attach word's epoch is 2")
    check(g["uptime_ns"] < h["uptime_ns"], "the new guest's session is younger")

    # --clean leaves a live host's segment.
    p = stat("--clean", name, ok=(1,))
    check("kept" in p.stdout, "--clean keeps a live host's segment")
    check(os.path.exists(SHM + name), "the live segment is still there")


def run_clean():
    name = TAG + "-dead"
    out = subprocess.run([HOST, "--crash", name], capture_output=True,
                         text=True, timeout=TIMEOUT)
    check(out.returncode == 0 and out.stdout.startswith("created"),
          "a host that dies without destroy")
    check(os.path.exists(SHM + name), "its segment stays")
    seg = [s for s in stat_json()["segments"] if s["name"] == name]
    check(len(seg) == 1 and seg[0]["state"] == "stale" and
          seg[0]["host_alive"] is False, "the listing says stale, host dead")
    p = stat("--clean", name)
    check("removed" in p.stdout, "--clean removes a dead host's segment")
    check(not os.path.exists(SHM + name), "the dead host's segment is gone")
    stat("--clean", name, ok=(1,))  # gone: an error, nothing else


def run_garbage():
    """Segments of garbage: shmipc-stat reports them, never crashes."""
    name = TAG + "-junk"
    path = SHM + name
    rng = random.Random(16)
    src = TAG + "-model"
    out = subprocess.run([HOST, "--crash", src], capture_output=True,
                         text=True, timeout=TIMEOUT)
    check(out.returncode == 0, "a model segment for the garbage")
    with open(SHM + src, "rb") as f:
        model = f.read()
    os.unlink(SHM + src)
    try:
        cases = [b"", b"\0" * 100, os.urandom(4096), model[:300],
                 model[:len(model) // 2], model + b"\0" * 64]
        for _ in range(150):
            b = bytearray(model)
            for _ in range(rng.randint(1, 12)):
                # mostly the header and the slot headers, sometimes anywhere
                at = rng.randrange(512) if rng.random() < 0.7 \
                    else rng.randrange(len(b))
                b[at] = rng.randrange(256)
            cases.append(bytes(b))
        for i, data in enumerate(cases):
            with open(path, "wb") as f:
                f.write(data)
            for args in (["--json", name], [name]):
                p = stat(*args, ok=(0, 1))
                if args[0] == "--json":
                    try:
                        json.loads(p.stdout)
                    except ValueError:
                        check(False, "case %d: the JSON parses" % i)
            if i % 10 == 0:  # the listing reads it too
                json.loads(stat("--json", ok=(0, 1)).stdout)
        # The unmodified copy reads as a segment whose host is dead.
        with open(path, "wb") as f:
            f.write(model)
        doc = stat_json(name)
        check(doc["state"] == "stale" and doc["error"] is None,
              "a copy of a real segment reads as stale")
        with open(path, "wb") as f:
            f.write(os.urandom(4096))
        doc = stat_json(name, ok=(1,))
        check(doc["state"] == "invalid" and doc["error"],
              "garbage is invalid, with a reason")
    finally:
        if os.path.exists(path):
            os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
