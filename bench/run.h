/* SPDX-License-Identifier: MIT */
/*
 * shmipc-bench's own pieces, shared by its files:
 *
 *   main.c          the order of the parts of a run
 *   options.c       the command line (parse_options)
 *   run.c           running the cells, the sleep path, the idle check,
 *                   the streams and the in-flight cells, and the figures
 *                   reported for a cell
 *   machine.c       the facts about the machine printed with the results
 *   report_json.c   the JSON document (--json)
 *   report_table.c  the table
 *
 * The systems themselves are measured by baselines.c and cells_shmipc.c
 * through driver.c (bench.h), and the calls in flight from one thread by
 * cells_inflight.c.
 */
#ifndef SHMIPC_BENCH_RUN_H
#define SHMIPC_BENCH_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "baselines.h"
#include "bench.h"
#include "cells_shmipc.h"

#ifndef SHMIPC_BENCH_GO_ECHO
#define SHMIPC_BENCH_GO_ECHO "shmipc-echo"
#endif
#ifndef SHMIPC_BENCH_C_ECHO
#define SHMIPC_BENCH_C_ECHO "shmipc-echo-c"
#endif

#define MAX_LIST 16
#define MAX_ROUNDS 1000
#define MAX_ERRORS 64
#define MAX_FAILURES_PER_SYSTEM 3
#define SLEEP_INTERVAL_NS INT64_C(1000000)
#define SLEEP_PAYLOAD 64
#define IDLE_SECONDS 2.0
#define MIB (1024u * 1024u)

/* Baselines first, in enum baseline_kind order, then the library. */
enum system {
  SYS_SPIN = BASELINE_SPIN,
  SYS_SPIN_YIELD = BASELINE_SPIN_YIELD,
  SYS_FUTEX = BASELINE_FUTEX,
  SYS_UNIX = BASELINE_UNIX,
  SYS_PIPE = BASELINE_PIPE,
  SYS_SHMIPC_GO = BASELINE_COUNT,
  SYS_SHMIPC_C,
  SYS_COUNT
};

/* The systems measured in the sleep path, in this order. */
#define SLEEPERS 3

const char *system_name(int s);
/* The system named @p name, or -1. */
int system_from_name(const char *name);

/* The parts of a run (--parts); all by default. */
enum {
  PART_CELLS = 1,
  PART_SLEEP = 2,
  PART_IDLE = 4,
  PART_STREAM = 8,
  PART_ANSWER = 16,
  PART_INFLIGHT = 32,
  PART_ALL = 63
};
/* The parts' names (--parts, JSON config.parts), bit i for names[i]. */
#define PART_COUNT 6
extern const char *const part_names[PART_COUNT];

/* The payload of the in-flight cells. */
#define INFLIGHT_PAYLOAD 64

struct options {
  int quick, json;
  unsigned rounds;
  double seconds;
  unsigned threads[MAX_LIST], nthreads;
  unsigned inflight[MAX_LIST], ninflight; /* --inflight: calls in flight */
  int inflight_poll;                      /* --inflight-wait poll */
  size_t payloads[MAX_LIST];
  unsigned npayloads;
  int systems[SYS_COUNT];
  unsigned nsystems;
  const char *echo_arg[SYS_COUNT]; /* as given */
  char echo_path[SYS_COUNT][4096]; /* resolved */
  unsigned sleep_calls;
  size_t stream_bytes;
  unsigned stream_depth, stream_slots, stream_slot_bytes, stream_reps;
  unsigned parts; /* PART_* bits */
  int pin;        /* --pin: every pair on two fixed CPUs (pin_map) */
  struct bench_pin pin_map;
};

/* The pinning of every part's pairs: NULL when not pinned. */
const struct bench_pin *run_pin(const struct options *o);

/*
 * Fill @p o from the command line, defaults included, and resolve the
 * selected echo guests. Returns 0, -1 on a usage error, -2 when an echo
 * guest is missing (the message is printed). --help prints the usage and
 * exits 0.
 */
int parse_options(int argc, char **argv, struct options *o);
/* Whether system @p s was selected. */
int selected(const struct options *o, int s);
/* The function the in-flight thread waits with. */
const char *inflight_wait_name(const struct options *o);

/* Per-round figures of a cell; each is reported as its median over the
 * rounds, like the ratios, so one disturbed round moves nothing. */
enum metric {
  M_OPS_PER_SEC,
  M_MEAN,
  M_P50,
  M_P99,
  M_P999,
  M_CPU_HOST, /* CPU seconds per round trip */
  M_CPU_GUEST,
  M_STEAL_PCT,   /* the hypervisor's steal, percent of the machine's CPU time
                    during the measured phase (bench_steal_s()) */
  M_LINE_BEFORE, /* bench_line_rtt_ns() right before the cell, and */
  M_LINE_AFTER,  /* right after it */
  M_COUNT
};

/* One (system, threads, payload) cell over all rounds. */
struct cell {
  int sys;
  unsigned threads;
  size_t payload;
  uint64_t ops; /* round trips measured, all rounds */
  unsigned rounds_ok;
  double *m[M_COUNT]; /* [metric][round], NAN when the round failed */
  char error[300];
};

/* The in-flight part for one guest and K: one host thread keeping K calls
 * in flight (@p one: threads 1; its per-call times run from the publish
 * to the answer seen) and, in the same rounds, K threads each making
 * blocking calls (@p threads: the blocking cell of K threads, 64 B). */
struct inflight_cell {
  int sys;
  unsigned k;
  struct cell one, threads;
};

struct sleep_result {
  int sys;
  int ran, ok;
  uint64_t calls, p50, p99; /* p50, p99 over all rounds' calls */
  double ratio;             /* median over rounds of p50 / futex p50 */
};

struct machine {
  long nproc, nproc_conf;
  char kernel[160], arch[80], cpu_model[128], clocksource[64];
  char compiler[128], lib_version[96];
  int hypervisor;
  double clock_overhead_ns;
};

/* Gather the machine facts (and time one clock read). */
void gather_machine(struct machine *m);

/* How busy the machine was around the run (machine.c). Every figure is
 * meant for a quiet machine: other processes' threads take the CPUs that
 * spinning waiters need, so a loaded run shows sleeps and preemptions, not
 * the library. */
struct load {
  double
      loadavg_start;  /* 1-minute load average before the run, NAN if unknown */
  double loadavg_end; /* after it (this run's own threads counted) */
  double others_cpus; /* CPUs kept busy by other processes, on average over
                         the run (all busy CPU time minus this process's and
                         its reaped children's), NAN if unknown */
  double steal_cpus;  /* CPUs the hypervisor gave to other guests while
                         this machine had work, on average over the run
                         (bench_steal_s()), NAN if unknown */
  int warn;           /* either of loadavg_start, others_cpus above
                         LOAD_WARN_SHARE of the CPUs */
  double busy_s0, own_s0, steal_s0; /* counters at the start */
  int64_t t0_ns;
};
#define LOAD_WARN_SHARE 0.5

/* Read the counters at the start; warns on stderr at once when the load
 * average is already high. */
void load_start(struct load *l, long nproc);
/* Read them at the end and set the figures and the warning. */
void load_end(struct load *l, long nproc);

/* Everything one run measured, and what went wrong. */
struct report {
  const struct options *o;
  const struct machine *m;
  struct load load;
  struct cell *cells; /* [threads][payloads][systems], in the options' order */
  unsigned ncells;
  struct inflight_cell *inflight; /* [K][guests], in the options' order */
  unsigned ninflight;
  double memcpy_bps;
  struct stream_result stream[SYS_COUNT]; /* shmipc-go and shmipc-c */
  int stream_ran[SYS_COUNT];
  struct stream_result guest_stream[SYS_COUNT]; /* guest to host */
  int guest_stream_ran[SYS_COUNT];
  /* large answers of ANSWER_SIZES_MIB[] MiB (quick: the first two) */
  struct stream_result large_answer[SYS_COUNT][3];
  int large_answer_ran[SYS_COUNT];
  /* the two-copy pipe (pipe.h) at stream_bytes, with stream or answer */
  struct stream_result pipe;
  int pipe_ran;
  int idle_ran;
  double idle_host, idle_guest;
  struct sleep_result sleep[SLEEPERS];
  unsigned nsleep;
  int system_failures[SYS_COUNT];
  char *errors[MAX_ERRORS];
  unsigned nerrors;
};

/* Set up @p rp for @p o and @p m with every cell's rounds not yet run;
 * 0, or -1 when out of memory. report_free() releases it either way. */
int report_init(struct report *rp, const struct options *o,
                const struct machine *m);
void report_free(struct report *rp);

/* The parts of a run, each filling its share of @p rp. @p r is the scratch
 * result every run writes into (its histogram owned by the caller). Each
 * part does nothing when left out of --parts. */
void run_cells(struct report *rp, struct bench_result *r);
/* Returns -1 when out of memory, else 0. */
int run_sleep_path(struct report *rp, struct bench_result *r);
void run_idle(struct report *rp, struct bench_result *r);
void run_streams(struct report *rp);
/* The large-answer cells: 1, 64 and 256 MiB per guest. */
#define ANSWER_SIZES 3
extern const unsigned answer_sizes_mib[ANSWER_SIZES];
unsigned answer_sizes(const struct options *o);
void run_answers(struct report *rp);
/* The in-flight cells: for each K and library guest, one thread with K in
 * flight beside K blocking threads, interleaved in rounds like the cells. */
void run_inflight(struct report *rp, struct bench_result *r);

/* The figures reported for one cell: medians over rounds and same-round
 * ratios (median over rounds; _worst: the worst round's). */
struct cell_stats {
  double ops_per_sec, mean, p50, p99, p999, ratio_spin, ratio_yield;
  double cpu_host, cpu_guest;
  double p999_worst;        /* highest p99.9 of a round, ns */
  double ratio_yield_worst; /* lowest same-round ops / spin-yield ops */
  /* Same-round p99 / spin-yield p99 and p99.9 / spin-yield p99.9; the
   * worst is the highest. */
  double p99_yield, p99_yield_worst, p999_yield, p999_yield_worst;
  /* Why the cell's spin baseline collapsed (its ratio_spin is then NAN), or
   * empty: it needs a CPU for each of its 2 x T spinning threads. */
  char spin_collapsed[96];
};

/* An in-flight cell's figures: medians over rounds of each side's, and
 * the same-round ratio of ops/s (one thread / K threads), the median
 * over rounds and the worst (lowest) round's. */
struct side_stats {
  double ops_per_sec, mean, p50, p99, p999, cpu_host, cpu_guest;
};
struct inflight_stats {
  struct side_stats one, threads;
  double ratio_ops, ratio_ops_worst;
};
void inflight_stats(const struct report *rp, const struct inflight_cell *c,
                    struct inflight_stats *s);
/* Same-round ratio of the ops/s of round @p round (NAN when either side
 * failed). */
double inflight_round_ratio(const struct inflight_cell *c, unsigned round);
/* The largest K of --inflight when the part runs, else 0. */
unsigned inflight_max(const struct options *o);

struct cell *find_cell(const struct report *rp, int sys, unsigned threads,
                       size_t payload);
/* Whether the spin baseline of (@p threads, @p payload) collapsed: more
 * spinning threads (2 per pair) than CPUs, or a median round trip slower
 * than the futex baseline's in the same cell (other processes took its
 * CPUs). Writes the reason into @p why and returns 1, else 0. */
int spin_collapsed(const struct report *rp, unsigned threads, size_t payload,
                   char *why, size_t len);
void cell_stats(const struct report *rp, const struct cell *c,
                struct cell_stats *s);

/* Print @p rp on stdout, as one JSON document or as the table. */
void print_json(const struct report *rp);
void print_table(const struct report *rp);

#endif /* SHMIPC_BENCH_RUN_H */
