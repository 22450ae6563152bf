/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of shmipc-bench: the parameters and result of one cell, the
 * timing helpers and the client-thread driver that baselines.c and
 * cells_shmipc.c both use, so every system is measured by the same loop.
 *
 * Timing choice: clock_gettime(CLOCK_MONOTONIC), one pair per round trip
 * (read just before the request is written, just after the response was
 * read); the histogram update, the payload stamp and its check happen
 * outside the pair. CLOCK_MONOTONIC rather than rdtsc because it needs no
 * calibration, is correct on arm64 and across CPUs, and on Linux it is a
 * vDSO call (no system call) whenever the clocksource is the TSC or
 * kvm-clock. Its cost is measured at start-up (bench_clock_overhead_ns())
 * and reported with the machine facts; each round trip includes about one
 * clock read's worth of it, the same for every system.
 */
#ifndef SHMIPC_BENCH_BENCH_H
#define SHMIPC_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "hist.h"

#define BENCH_NS_PER_S INT64_C(1000000000)
#define BENCH_MAX_CPUS 1024

/**
 * Where the pairs of a pinned run (--pin) run: the CPUs the bench was
 * allowed at start, in order, cpus[0..n-1]. Pair i's client thread runs on
 * cpus[2i mod n] and its server thread on cpus[(2i+1) mod n]; a library
 * guest, whose threads do not belong to pairs, runs every thread on the
 * set of its pairs' server CPUs. With 2 CPUs: every client on cpus[0],
 * every server (the whole guest) on cpus[1].
 */
struct bench_pin {
  unsigned n;
  int cpus[BENCH_MAX_CPUS];
};

/** What to run in one cell. */
struct bench_params {
  unsigned threads;    /**< independent client/server pairs */
  size_t payload;      /**< bytes each way */
  double seconds;      /**< measured duration (interval_ns == 0) */
  uint64_t max_ops;    /**< per thread; 0 = until @p seconds ran out */
  int64_t interval_ns; /**< > 0: sleep this long between calls (sleep path);
                            the run then ends after @p max_ops calls */
  double
      idle_seconds; /**< library cells: idle phase after the load (0: none) */
  const struct bench_pin *pin; /**< NULL: threads go where the kernel puts
                                    them */
  unsigned inflight; /**< library cells: 0 for @p threads threads each making
                          blocking calls; K > 0 for one host thread keeping
                          K calls in flight (cells_inflight.h; @p threads
                          is then 1) */
  int inflight_poll; /**< with @p inflight: shmipc_slot_poll() in a busy
                          loop instead of shmipc_slot_wait_any() */
};

/** What one cell measured. */
struct bench_result {
  struct hist *hist;  /**< round-trip times (owned by the caller) */
  uint64_t ops;       /**< round trips in the measured phase */
  double wall_s;      /**< first thread start to last thread end */
  double cpu_host_s;  /**< CPU of the calling (host/client) process */
  double cpu_guest_s; /**< CPU of the serving process; < 0 if unknown */
  double steal_s;     /**< CPU time the hypervisor gave to other guests
                           meanwhile, all CPUs (bench_steal_s()); < 0 if
                           unknown */
  double
      idle_cpu_host_pct; /**< idle phase, percent of one CPU; < 0 if not run */
  double idle_cpu_guest_pct;
  char error[256]; /**< empty on success */
};

/* ---- time and processes (bench_util.c) ---- */

/** CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t bench_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * BENCH_NS_PER_S + ts.tv_nsec;
}

/** One pause instruction (x86 `pause`, arm64 `yield`). */
static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

/** CPU time of this process (all threads), nanoseconds. */
int64_t bench_process_cpu_ns(void);
/** CPU seconds, summed over the machine's CPUs, that the hypervisor ran
 *  something else while this machine had work to do ("steal" in
 *  /proc/stat) since boot; < 0 if unknown. A round during which it rose
 *  lost CPU time that no process of the machine saw. */
double bench_steal_s(void);
/** The round trip of one cache line between the first two CPUs this
 *  process may run on, in ns: two threads pinned there pass a word back
 *  and forth, and the median of 5 batches' means is returned; NAN with
 *  fewer than two CPUs, or when a thread could not be started or pinned
 *  or a batch did not end within 50 ms. On a virtual machine it tells how
 *  the hypervisor placed the two vCPUs at that moment (on one core's two
 *  hardware threads, on two cores, on two sockets), which sets every
 *  cross-CPU figure of the cells run then. It takes about 1 ms. */
double bench_line_rtt_ns(void);
/** CPU time of process @p pid, nanoseconds: the sum over its live threads
 *  of /proc/<pid>/task/<tid>/schedstat (nanosecond resolution), or, where
 *  that is missing, utime + stime from /proc/<pid>/stat (clock ticks,
 *  usually 10 ms); -1 on failure. */
int64_t bench_pid_cpu_ns(pid_t pid);
/** Mean cost of one bench_now_ns() call, nanoseconds. */
double bench_clock_overhead_ns(void);
/** Sleep @p ns nanoseconds (CLOCK_MONOTONIC, restarts after signals). */
void bench_sleep_ns(int64_t ns);

/** Shared (not PRIVATE) FUTEX_WAIT on @p word while it holds @p val, at
 *  most @p timeout_ns. Returns 0, or -1 with errno (EAGAIN, ETIMEDOUT, EINTR).
 */
int bench_futex_wait(void *word, uint32_t val, int64_t timeout_ns);
/** Shared FUTEX_WAKE of up to @p n waiters on @p word. */
void bench_futex_wake(void *word, int n);

/** In a freshly forked child: die with SIGKILL when the forking thread's
 *  process dies. Returns -1 if the parent is already gone. */
int bench_child_die_with_parent(pid_t parent);

/**
 * Reap child @p pid, waiting at most @p timeout_ns; after that it is sent
 * SIGKILL and reaped. Returns 0 when it exited on its own (its wait status in
 * @p *status), 1 when it had to be killed, -1 on a waitpid error.
 */
int bench_reap_child(pid_t pid, int64_t timeout_ns, int *status);

/** Describe wait status @p status ("exit 3", "signal 9") into @p buf. */
void bench_describe_status(int status, char *buf, size_t len);

/* ---- pinning (--pin; bench_util.c) ---- */

/** Fill @p pin with the CPUs this process may run on. Returns 0, or -1
 *  with errno. */
int bench_pin_init(struct bench_pin *pin);
/** The CPU of pair @p pair's client (@p server 0) or server (1). */
int bench_pin_cpu(const struct bench_pin *pin, unsigned pair, int server);
/** Run the calling thread on @p cpu only. Returns 0, or -1 with errno.
 *  Async-signal-safe (one system call). */
int bench_pin_self(int cpu);
/** Run the calling thread on the server CPUs of pairs 0..@p threads-1
 *  (a forked child before exec: every thread it starts inherits them).
 *  Returns 0, or -1 with errno. Async-signal-safe. */
int bench_pin_self_servers(const struct bench_pin *pin, unsigned threads);
/** Put every thread of process @p pid (/proc/PID/task/TID) on the server
 *  CPUs of pairs 0..@p threads-1, and check that each holds them, until a
 *  pass over the thread list finds no new thread. Returns the number of
 *  threads, or -1 with a reason in @p err. */
int bench_pin_process_servers(pid_t pid, const struct bench_pin *pin,
                              unsigned threads, char *err, size_t errlen);

/* ---- the client-thread driver (driver.c) ---- */

/**
 * One round trip: send @p len bytes from @p out and receive the echoed
 * @p len bytes into @p in. Return 0, or -1 after writing a reason into
 * @p err. Runs on the driver's thread number @p tid with @p ctx.
 */
typedef int (*bench_op_fn)(void *ctx, unsigned tid, const void *out, void *in,
                           size_t len, char *err, size_t errlen);

struct bench_driver {
  const struct bench_params *params;
  bench_op_fn op;
  void *ctx;
  /** Called on the main thread when the measured phase starts (after
   *  every client thread finished its warm-up) and when all clients have
   *  returned. May be NULL. */
  void (*on_start)(void *ctx);
  void (*on_stop)(void *ctx);
  /** Called on the main thread about every 100 ms while clients run; a
   *  non-zero return aborts the run (the callback makes the clients'
   *  waits end, e.g. by killing the peer). May be NULL. */
  int (*watchdog)(void *ctx, char *err, size_t errlen);
};

/**
 * Run @p d->params->threads client threads: each warms up (up to 200 round
 * trips or 20 ms), waits for the others, then runs timed round trips until
 * the duration (or max_ops) is done. Fills ops, wall_s, cpu_host_s and
 * merges every round trip into @p r->hist. Each response is checked against
 * a per-call stamp in its first bytes. Returns 0 or -1 (reason in
 * r->error).
 */
int bench_drive(const struct bench_driver *d, struct bench_result *r);

#endif /* SHMIPC_BENCH_BENCH_H */
