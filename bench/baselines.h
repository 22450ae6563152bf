/* SPDX-License-Identifier: MIT */
/*
 * Two-process ping-pong baselines for shmipc-bench.
 *
 * Each run forks one child holding T server threads; T client threads in
 * the calling process each talk to their own server (T independent pairs).
 * A round trip sends P bytes and receives the same P bytes back:
 *
 * - spin:       one atomic word per direction in a MAP_SHARED|MAP_ANONYMOUS
 *               region (mapped before fork) plus a P-byte buffer per
 *               direction; waiters spin with the pause instruction.
 * - spin-yield: the same, with sched_yield() every 100 spins.
 * - futex:      the same words, but waiters always sleep in a shared
 *               FUTEX_WAIT and the other side FUTEX_WAKEs every time.
 * - unix:       socketpair(AF_UNIX, SOCK_STREAM), write/read P bytes.
 * - pipe:       two pipes per pair.
 *
 * Copies match the library's zero-copy echo cell: the client memcpy()s the
 * request into shared memory and the response out of it, the server copies
 * request to response in place (the socket and pipe systems copy through
 * the kernel instead).
 *
 * Every wait is bounded: a shared abort flag, a hard deadline and the
 * driver's watchdog (which kills a child that outlives it, so blocking
 * reads see EOF); the child dies with the parent (PR_SET_PDEATHSIG).
 */
#ifndef SHMIPC_BENCH_BASELINES_H
#define SHMIPC_BENCH_BASELINES_H

#include "bench.h"

enum baseline_kind {
  BASELINE_SPIN,
  BASELINE_SPIN_YIELD,
  BASELINE_FUTEX,
  BASELINE_UNIX,
  BASELINE_PIPE,
  BASELINE_COUNT
};

/** Name of @p kind ("spin", "spin-yield", "futex", "unix", "pipe"). */
const char *baseline_name(enum baseline_kind kind);
/** Kind named @p name, or -1. */
int baseline_from_name(const char *name);

/**
 * Run one baseline cell. Must be called while the process has a single
 * thread (it forks). The caller owns @p r->hist (round trips are merged into
 * it). Fills ops, wall_s, cpu_host_s (parent) and cpu_guest_s (child, as
 * reported by the child through the shared page). Returns 0 or -1 with
 * r->error set.
 */
int baseline_run(enum baseline_kind kind, const struct bench_params *p,
                 struct bench_result *r);

#endif /* SHMIPC_BENCH_BASELINES_H */
