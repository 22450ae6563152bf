/* SPDX-License-Identifier: MIT */
/*
 * Running shmipc-bench's parts (run.h): the interleaved rounds of cells,
 * the sleep path, the idle check and the streams, and the figures a cell
 * is reported with. A system that failed MAX_FAILURES_PER_SYSTEM times is
 * not run again; every failure is an error of the report.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "median.h"
#include "pipe.h"
#include "run.h"

static void add_error(struct report *rp, const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "shmipc-bench: error: %s\n", buf);
  if (rp->nerrors < MAX_ERRORS)
    rp->errors[rp->nerrors++] = strdup(buf);
}

/* Every round of @p c not yet run. */
static int cell_init(struct cell *c, const struct options *o)
{
  for (int x = 0; x < M_COUNT; x++) {
    c->m[x] = malloc(o->rounds * sizeof(double));
    if (!c->m[x])
      return -1;
    for (unsigned round = 0; round < o->rounds; round++)
      c->m[x][round] = NAN;
  }
  return 0;
}

static void cell_free(struct cell *c)
{
  for (int x = 0; x < M_COUNT; x++)
    free(c->m[x]);
}

/* The in-flight cells: one per K and selected library guest. */
static int inflight_init(struct report *rp, const struct options *o)
{
  unsigned guests = selected(o, SYS_SHMIPC_GO) + selected(o, SYS_SHMIPC_C);
  if (!(o->parts & PART_INFLIGHT) || guests == 0)
    return 0;
  rp->inflight = calloc(o->ninflight * guests, sizeof(*rp->inflight));
  if (!rp->inflight)
    return -1;
  for (unsigned ki = 0; ki < o->ninflight; ki++)
    for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
      if (!selected(o, sy))
        continue;
      struct inflight_cell *c = &rp->inflight[rp->ninflight++];
      c->sys = sy;
      c->k = o->inflight[ki];
      c->one =
          (struct cell){.sys = sy, .threads = 1, .payload = INFLIGHT_PAYLOAD};
      c->threads = (struct cell){
          .sys = sy, .threads = c->k, .payload = INFLIGHT_PAYLOAD};
      if (cell_init(&c->one, o) != 0 || cell_init(&c->threads, o) != 0)
        return -1;
    }
  return 0;
}

int report_init(struct report *rp, const struct options *o,
                const struct machine *m)
{
  memset(rp, 0, sizeof(*rp));
  rp->o = o;
  rp->m = m;
  rp->memcpy_bps = NAN;
  rp->pipe.bps = rp->pipe.memcpy_bps = rp->pipe.ratio = NAN;
  rp->ncells = o->nthreads * o->npayloads * o->nsystems;
  rp->cells = calloc(rp->ncells, sizeof(*rp->cells));
  if (!rp->cells)
    return -1;
  for (unsigned ti = 0, k = 0; ti < o->nthreads; ti++)
    for (unsigned pi = 0; pi < o->npayloads; pi++)
      for (unsigned si = 0; si < o->nsystems; si++, k++) {
        struct cell *c = &rp->cells[k];
        c->sys = o->systems[si];
        c->threads = o->threads[ti];
        c->payload = o->payloads[pi];
        if (cell_init(c, o) != 0)
          return -1;
      }
  return inflight_init(rp, o);
}

void report_free(struct report *rp)
{
  for (unsigned k = 0; rp->cells && k < rp->ncells; k++)
    cell_free(&rp->cells[k]);
  free(rp->cells);
  rp->cells = NULL;
  for (unsigned k = 0; rp->inflight && k < rp->ninflight; k++) {
    cell_free(&rp->inflight[k].one);
    cell_free(&rp->inflight[k].threads);
  }
  free(rp->inflight);
  rp->inflight = NULL;
  for (unsigned k = 0; k < rp->nerrors; k++)
    free(rp->errors[k]);
  rp->nerrors = 0;
}

static int run_system(const struct options *o, int sys,
                      const struct bench_params *p, struct bench_result *r)
{
  r->error[0] = '\0';
  hist_reset(r->hist);
  if (sys < BASELINE_COUNT)
    return baseline_run((enum baseline_kind)sys, p, r);
  return shmipc_cell_run(o->echo_path[sys], p, r);
}

/* One round of cell @p c with @p p, named @p what in errors. */
static void run_measured(struct report *rp, struct cell *c, unsigned round,
                         struct bench_result *r, const struct bench_params *p,
                         const char *what)
{
  const struct options *o = rp->o;
  if (rp->system_failures[c->sys] >= MAX_FAILURES_PER_SYSTEM) {
    if (!c->error[0])
      snprintf(c->error, sizeof(c->error),
               "skipped: %s failed %d times already", system_name(c->sys),
               MAX_FAILURES_PER_SYSTEM);
    return;
  }
  double line_before = bench_line_rtt_ns();
  int failed = run_system(o, c->sys, p, r) != 0;
  double line_after = bench_line_rtt_ns();
  if (failed || r->ops == 0 || r->wall_s <= 0) {
    if (!r->error[0])
      snprintf(r->error, sizeof(r->error), "no round trip completed");
    rp->system_failures[c->sys]++;
    add_error(rp, "%s round %u: %s", what, round + 1, r->error);
    if (!c->error[0])
      snprintf(c->error, sizeof(c->error), "round %u: %s", round + 1, r->error);
    return;
  }
  double ops = (double)r->ops;
  c->m[M_OPS_PER_SEC][round] = ops / r->wall_s;
  c->m[M_MEAN][round] = hist_mean(r->hist);
  c->m[M_P50][round] = (double)hist_percentile(r->hist, 50.0);
  c->m[M_P99][round] = (double)hist_percentile(r->hist, 99.0);
  c->m[M_P999][round] = (double)hist_percentile(r->hist, 99.9);
  c->m[M_CPU_HOST][round] = r->cpu_host_s / ops;
  c->m[M_CPU_GUEST][round] = r->cpu_guest_s >= 0 ? r->cpu_guest_s / ops : NAN;
  c->m[M_STEAL_PCT][round] =
      r->steal_s >= 0 && rp->m->nproc > 0
          ? 100.0 * r->steal_s / (r->wall_s * (double)rp->m->nproc)
          : NAN;
  c->m[M_LINE_BEFORE][round] = line_before;
  c->m[M_LINE_AFTER][round] = line_after;
  c->ops += r->ops;
  c->rounds_ok++;
}

static void run_cell(struct report *rp, struct cell *c, unsigned round,
                     struct bench_result *r)
{
  const struct options *o = rp->o;
  char what[96];
  struct bench_params p = {.threads = c->threads,
                           .payload = c->payload,
                           .seconds = o->seconds,
                           .pin = run_pin(o)};
  snprintf(what, sizeof(what), "%s threads=%u payload=%zu", system_name(c->sys),
           c->threads, c->payload);
  run_measured(rp, c, round, r, &p, what);
}

void run_cells(struct report *rp, struct bench_result *r)
{
  const struct options *o = rp->o;
  for (unsigned round = 0; (o->parts & PART_CELLS) && round < o->rounds;
       round++) {
    fprintf(stderr, "shmipc-bench: round %u/%u (%u cells)\n", round + 1,
            o->rounds, rp->ncells);
    for (unsigned ti = 0; ti < o->nthreads; ti++)
      for (unsigned pi = 0; pi < o->npayloads; pi++)
        for (unsigned k = 0; k < o->nsystems; k++) {
          /* Rotate the order so no system always runs first or last. */
          unsigned si = (k + round) % o->nsystems;
          unsigned idx = (ti * o->npayloads + pi) * o->nsystems + si;
          run_cell(rp, &rp->cells[idx], round, r);
        }
  }
}

/* Sleep path: the server side has gone to sleep before every call. Like
 * the cells, in rounds with the systems interleaved (order rotating), so
 * that each ratio to futex compares one moment of the machine. */
static const int sleepers[SLEEPERS] = {SYS_FUTEX, SYS_SHMIPC_GO, SYS_SHMIPC_C};

static struct sleep_result *sleep_result_of(struct report *rp, int sys)
{
  for (unsigned j = 0; j < rp->nsleep; j++)
    if (rp->sleep[j].sys == sys)
      return &rp->sleep[j];
  return NULL;
}

/* One round of the sleep path for system sleepers[@p i]. */
static void run_sleep_round(struct report *rp, unsigned i, unsigned round,
                            struct bench_result *r, double *p50,
                            struct hist *pooled)
{
  struct sleep_result *sr = sleep_result_of(rp, sleepers[i]);
  if (!sr)
    return;
  if (rp->system_failures[sr->sys] >= MAX_FAILURES_PER_SYSTEM) {
    if (round == 0)
      add_error(rp, "sleep path %s: skipped after %d failures",
                system_name(sr->sys), MAX_FAILURES_PER_SYSTEM);
    return;
  }
  /* Every round makes the full number of calls: a guest just started
   * answers its first hundred or so sleeping calls slower. */
  struct bench_params p = {.threads = 1,
                           .payload = SLEEP_PAYLOAD,
                           .max_ops = rp->o->sleep_calls,
                           .interval_ns = SLEEP_INTERVAL_NS,
                           .pin = run_pin(rp->o)};
  sr->ran = 1;
  if (run_system(rp->o, sr->sys, &p, r) == 0 && r->ops > 0) {
    sr->calls += r->ops;
    *p50 = (double)hist_percentile(r->hist, 50.0);
    hist_merge(pooled, r->hist);
  } else {
    add_error(rp, "sleep path %s, round %u: %s", system_name(sr->sys),
              round + 1, r->error[0] ? r->error : "no call completed");
  }
}

int run_sleep_path(struct report *rp, struct bench_result *r)
{
  const struct options *o = rp->o;
  double sleep_p50[SLEEPERS][MAX_ROUNDS];
  struct hist *pooled[SLEEPERS] = {NULL, NULL, NULL};
  int rc = 0;

  for (unsigned i = 0; i < SLEEPERS; i++)
    for (unsigned x = 0; x < o->rounds; x++)
      sleep_p50[i][x] = NAN;
  fprintf(stderr, "shmipc-bench: sleep path\n");
  for (unsigned i = 0; (o->parts & PART_SLEEP) && i < SLEEPERS; i++) {
    if (!selected(o, sleepers[i]))
      continue;
    struct sleep_result *sr = &rp->sleep[rp->nsleep++];
    sr->sys = sleepers[i];
    sr->ratio = NAN;
    pooled[i] = hist_create();
    if (!pooled[i]) {
      rc = -1;
      goto out;
    }
  }
  for (unsigned round = 0; (o->parts & PART_SLEEP) && round < o->rounds;
       round++)
    for (unsigned k = 0; k < SLEEPERS; k++) {
      unsigned i = (k + round) % SLEEPERS;
      run_sleep_round(rp, i, round, r, &sleep_p50[i][round], pooled[i]);
    }
  for (unsigned i = 0; i < SLEEPERS; i++) {
    struct sleep_result *sr = sleep_result_of(rp, sleepers[i]);
    double ratios[MAX_ROUNDS];
    if (!sr)
      continue;
    if (hist_count(pooled[i]) > 0) {
      sr->ok = 1;
      sr->p50 = hist_percentile(pooled[i], 50.0);
      sr->p99 = hist_percentile(pooled[i], 99.0);
    }
    for (unsigned x = 0; x < o->rounds; x++)
      ratios[x] = sleep_p50[i][x] / sleep_p50[0][x]; /* NaN when missing */
    if (selected(o, SYS_FUTEX))
      sr->ratio = bench_median(ratios, o->rounds);
  }
out:
  for (unsigned i = 0; i < SLEEPERS; i++)
    hist_destroy(pooled[i]);
  return rc;
}

/* Idle: a loaded shmipc-go cell, then connected but silent. */
void run_idle(struct report *rp, struct bench_result *r)
{
  const struct options *o = rp->o;
  if (!(o->parts & PART_IDLE) || !selected(o, SYS_SHMIPC_GO))
    return;
  if (rp->system_failures[SYS_SHMIPC_GO] >= MAX_FAILURES_PER_SYSTEM) {
    add_error(rp, "idle shmipc-go: skipped after %d failures",
              MAX_FAILURES_PER_SYSTEM);
    return;
  }
  unsigned tmax = 1;
  for (unsigned i = 0; i < o->nthreads; i++)
    if (o->threads[i] > tmax)
      tmax = o->threads[i];
  struct bench_params p = {.threads = tmax,
                           .payload = o->payloads[0],
                           .seconds = o->seconds,
                           .idle_seconds = IDLE_SECONDS,
                           .pin = run_pin(o)};
  fprintf(stderr, "shmipc-bench: idle (%u threads loaded, then %.0f s idle)\n",
          tmax, IDLE_SECONDS);
  if (run_system(o, SYS_SHMIPC_GO, &p, r) == 0 && r->idle_cpu_host_pct >= 0) {
    rp->idle_ran = 1;
    rp->idle_host = r->idle_cpu_host_pct;
    rp->idle_guest = r->idle_cpu_guest_pct >= 0 ? r->idle_cpu_guest_pct : NAN;
  } else {
    add_error(rp, "idle shmipc-go: %s",
              r->error[0] ? r->error : "idle phase not measured");
  }
}

static double memcpy_bandwidth(size_t bytes, char *err, size_t errlen)
{
  unsigned char *src = malloc(bytes), *dst = malloc(bytes);
  if (!src || !dst) {
    free(src);
    free(dst);
    snprintf(err, errlen, "cannot allocate 2 x %zu bytes", bytes);
    return NAN;
  }
  /* Touch every page first: the copies below measure copying, not faults. */
  memset(src, 0x5a, bytes);
  memset(dst, 0, bytes);
  enum { REPS = 5 };
  double rate[REPS];
  volatile unsigned char sink = 0;
  memcpy(dst, src, bytes);
  for (int i = 0; i < REPS; i++) {
    src[(size_t)i * 4099 % bytes] = (unsigned char)i;
    int64_t t0 = bench_now_ns();
    memcpy(dst, src, bytes);
    int64_t t1 = bench_now_ns();
    sink ^= dst[(size_t)i * 4099 % bytes];
    rate[i] = (double)bytes * (double)BENCH_NS_PER_S / (double)(t1 - t0);
  }
  (void)sink;
  free(src);
  free(dst);
  return bench_median(rate, REPS);
}

/* The two-copy pipe, once per run, on the slots of the large-answer and
 * stream cells (4 of stream_slot_bytes; at the default depth the stream
 * cell has 4). */
static void run_pipe(struct report *rp)
{
  const struct options *o = rp->o;
  char err[256] = "";
  struct stream_params pp = {.bytes = o->stream_bytes,
                             .reps = o->stream_reps,
                             .depth = 4,
                             .slots = 4,
                             .slot_bytes = o->stream_slot_bytes,
                             .pin = run_pin(o)};
  if (rp->pipe_ran)
    return;
  rp->pipe_ran = 1;
  fprintf(stderr, "shmipc-bench: two-copy pipe %zu MiB x %u\n",
          o->stream_bytes / MIB, o->stream_reps);
  if (bench_pipe_run(&pp, &rp->pipe, err, sizeof(err)) != 0)
    add_error(rp, "two-copy pipe: %s", err);
}

void run_streams(struct report *rp)
{
  const struct options *o = rp->o;
  char err[256] = "";
  if (!(o->parts & PART_STREAM))
    return;
  fprintf(stderr, "shmipc-bench: memcpy %zu MiB\n", o->stream_bytes / MIB);
  rp->memcpy_bps = memcpy_bandwidth(o->stream_bytes, err, sizeof(err));
  if (!isfinite(rp->memcpy_bps))
    add_error(rp, "memcpy stream: %s", err);
  run_pipe(rp);
  struct stream_params sp = {.bytes = o->stream_bytes,
                             .reps = o->stream_reps,
                             .depth = o->stream_depth,
                             .slots = o->stream_slots,
                             .slot_bytes = o->stream_slot_bytes,
                             .pin = run_pin(o)};
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!selected(o, sy))
      continue;
    fprintf(stderr, "shmipc-bench: stream %s %zu MiB x %u\n", system_name(sy),
            o->stream_bytes / MIB, o->stream_reps);
    rp->stream_ran[sy] = 1;
    if (shmipc_stream_cell_run(o->echo_path[sy], &sp, &rp->stream[sy], err,
                               sizeof(err)) != 0)
      add_error(rp, "stream %s: %s", system_name(sy), err);
    fprintf(stderr, "shmipc-bench: guest stream %s %zu MiB x %u\n",
            system_name(sy), o->stream_bytes / MIB, o->stream_reps);
    rp->guest_stream_ran[sy] = 1;
    if (shmipc_guest_stream_cell_run(o->echo_path[sy], &sp,
                                     &rp->guest_stream[sy], err,
                                     sizeof(err)) != 0)
      add_error(rp, "guest stream %s: %s", system_name(sy), err);
  }
}

const unsigned answer_sizes_mib[ANSWER_SIZES] = {1, 64, 256};

unsigned answer_sizes(const struct options *o)
{
  return o->quick ? 2 : ANSWER_SIZES;
}

void run_answers(struct report *rp)
{
  const struct options *o = rp->o;
  char err[256] = "";
  if (!(o->parts & PART_ANSWER))
    return;
  run_pipe(rp);
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!selected(o, sy))
      continue;
    rp->large_answer_ran[sy] = 1;
    for (unsigned i = 0; i < answer_sizes(o); i++) {
      /* the stream cell's slots: 4 of 256 KiB (here the response side) */
      struct stream_params ap = {.bytes = (size_t)answer_sizes_mib[i] * MIB,
                                 .reps = o->stream_reps,
                                 .depth = 4,
                                 .slots = 4,
                                 .slot_bytes = o->stream_slot_bytes,
                                 .pin = run_pin(o)};
      fprintf(stderr, "shmipc-bench: large answer %s %u MiB x %u\n",
              system_name(sy), answer_sizes_mib[i], ap.reps);
      if (shmipc_answer_cell_run(o->echo_path[sy], &ap,
                                 &rp->large_answer[sy][i], err,
                                 sizeof(err)) != 0)
        add_error(rp, "large answer %s %u MiB: %s", system_name(sy),
                  answer_sizes_mib[i], err);
    }
  }
}

/* This cell's metric @p k divided by @p ref's in the same round, for every
 * round (NAN where either is missing); returns the number of rounds. */
static unsigned same_round_ratios(const struct cell *c, const struct cell *ref,
                                  unsigned rounds, enum metric k, double *v)
{
  for (unsigned r = 0; r < rounds; r++) {
    double a = c->m[k][r], b = ref ? ref->m[k][r] : NAN;
    v[r] = (isfinite(a) && isfinite(b) && b > 0) ? a / b : NAN;
  }
  return rounds;
}

static double same_round_ratio(const struct cell *c, const struct cell *ref,
                               unsigned rounds, enum metric k)
{
  double v[MAX_ROUNDS];
  return bench_median(v, same_round_ratios(c, ref, rounds, k, v));
}

/* The lowest (@p highest 0) or highest finite value of @p v, or NAN. */
static double extreme(const double *v, unsigned n, int highest)
{
  double x = NAN;
  for (unsigned i = 0; i < n; i++)
    if (isfinite(v[i]) && (!isfinite(x) || (highest ? v[i] > x : v[i] < x)))
      x = v[i];
  return x;
}

static double worst_ratio(const struct cell *c, const struct cell *ref,
                          unsigned rounds, enum metric k, int highest)
{
  double v[MAX_ROUNDS];
  return extreme(v, same_round_ratios(c, ref, rounds, k, v), highest);
}

struct cell *find_cell(const struct report *rp, int sys, unsigned threads,
                       size_t payload)
{
  for (unsigned i = 0; i < rp->ncells; i++) {
    struct cell *c = &rp->cells[i];
    if (c->sys == sys && c->threads == threads && c->payload == payload)
      return c;
  }
  return NULL;
}

int spin_collapsed(const struct report *rp, unsigned threads, size_t payload,
                   char *why, size_t len)
{
  const struct cell *spin = find_cell(rp, SYS_SPIN, threads, payload);
  const struct cell *futex = find_cell(rp, SYS_FUTEX, threads, payload);
  unsigned rounds = rp->o->rounds;
  long cpus = rp->m->nproc;

  if (!spin)
    return 0;
  if (cpus > 0 && 2 * (long)threads > cpus) {
    snprintf(why, len, "threads > CPUs: %u spinning threads on %ld CPUs",
             2 * threads, cpus);
    return 1;
  }
  if (futex) {
    double sp = bench_median(spin->m[M_P50], rounds);
    double fu = bench_median(futex->m[M_P50], rounds);
    if (isfinite(sp) && isfinite(fu) && sp > fu) {
      snprintf(why, len, "p50 slower than futex's: its CPUs were busy");
      return 1;
    }
  }
  return 0;
}

void cell_stats(const struct report *rp, const struct cell *c,
                struct cell_stats *s)
{
  unsigned rounds = rp->o->rounds;
  s->spin_collapsed[0] = '\0';
  int collapsed = spin_collapsed(rp, c->threads, c->payload, s->spin_collapsed,
                                 sizeof(s->spin_collapsed));
  s->ops_per_sec = bench_median(c->m[M_OPS_PER_SEC], rounds);
  s->mean = bench_median(c->m[M_MEAN], rounds);
  s->p50 = bench_median(c->m[M_P50], rounds);
  s->p99 = bench_median(c->m[M_P99], rounds);
  s->p999 = bench_median(c->m[M_P999], rounds);
  /* A ratio to a collapsed baseline says how badly it collapsed, not how
   * close the cell comes to the hardware. */
  s->ratio_spin =
      collapsed
          ? NAN
          : same_round_ratio(c, find_cell(rp, SYS_SPIN, c->threads, c->payload),
                             rounds, M_P50);
  const struct cell *yield =
      find_cell(rp, SYS_SPIN_YIELD, c->threads, c->payload);
  s->ratio_yield = same_round_ratio(c, yield, rounds, M_OPS_PER_SEC);
  s->ratio_yield_worst = worst_ratio(c, yield, rounds, M_OPS_PER_SEC, 0);
  s->p99_yield = same_round_ratio(c, yield, rounds, M_P99);
  s->p99_yield_worst = worst_ratio(c, yield, rounds, M_P99, 1);
  s->p999_yield = same_round_ratio(c, yield, rounds, M_P999);
  s->p999_yield_worst = worst_ratio(c, yield, rounds, M_P999, 1);
  s->p999_worst = extreme(c->m[M_P999], rounds, 1);
  s->cpu_host = bench_median(c->m[M_CPU_HOST], rounds);
  s->cpu_guest = bench_median(c->m[M_CPU_GUEST], rounds);
}

const struct bench_pin *run_pin(const struct options *o)
{
  return o->pin ? &o->pin_map : NULL;
}

/* The in-flight part: for each K, every (guest, side) of that K back to
 * back, the order rotating from round to round as in the cells, so the
 * ratio of the two sides of a guest compares one moment of the machine. */
static void run_inflight_side(struct report *rp, struct inflight_cell *c,
                              int one, unsigned round, struct bench_result *r)
{
  const struct options *o = rp->o;
  char what[96];
  struct bench_params p = {.threads = one ? 1 : c->k,
                           .payload = INFLIGHT_PAYLOAD,
                           .seconds = o->seconds,
                           .pin = run_pin(o),
                           .inflight = one ? c->k : 0,
                           .inflight_poll = one && o->inflight_poll};
  snprintf(what, sizeof(what), "in flight %s K=%u, %s", system_name(c->sys),
           c->k, one ? "one thread" : "K threads");
  run_measured(rp, one ? &c->one : &c->threads, round, r, &p, what);
}

void run_inflight(struct report *rp, struct bench_result *r)
{
  const struct options *o = rp->o;
  if (!rp->ninflight)
    return;
  unsigned guests = rp->ninflight / o->ninflight, sides = 2 * guests;
  for (unsigned round = 0; round < o->rounds; round++) {
    fprintf(stderr, "shmipc-bench: in flight, round %u/%u (%u cells)\n",
            round + 1, o->rounds, 2 * rp->ninflight);
    for (unsigned ki = 0; ki < o->ninflight; ki++)
      for (unsigned j = 0; j < sides; j++) {
        unsigned e = (j + round) % sides;
        run_inflight_side(rp, &rp->inflight[ki * guests + e / 2], e % 2 == 0,
                          round, r);
      }
  }
}

double inflight_round_ratio(const struct inflight_cell *c, unsigned round)
{
  double a = c->one.m[M_OPS_PER_SEC][round];
  double b = c->threads.m[M_OPS_PER_SEC][round];
  return (isfinite(a) && isfinite(b) && b > 0) ? a / b : NAN;
}

static void side_stats(const struct cell *c, unsigned rounds,
                       struct side_stats *s)
{
  s->ops_per_sec = bench_median(c->m[M_OPS_PER_SEC], rounds);
  s->mean = bench_median(c->m[M_MEAN], rounds);
  s->p50 = bench_median(c->m[M_P50], rounds);
  s->p99 = bench_median(c->m[M_P99], rounds);
  s->p999 = bench_median(c->m[M_P999], rounds);
  s->cpu_host = bench_median(c->m[M_CPU_HOST], rounds);
  s->cpu_guest = bench_median(c->m[M_CPU_GUEST], rounds);
}

void inflight_stats(const struct report *rp, const struct inflight_cell *c,
                    struct inflight_stats *s)
{
  unsigned rounds = rp->o->rounds;
  double v[MAX_ROUNDS];
  side_stats(&c->one, rounds, &s->one);
  side_stats(&c->threads, rounds, &s->threads);
  for (unsigned x = 0; x < rounds; x++)
    v[x] = inflight_round_ratio(c, x);
  s->ratio_ops = bench_median(v, rounds);
  s->ratio_ops_worst = extreme(v, rounds, 0);
}

unsigned inflight_max(const struct options *o)
{
  unsigned k = 0;
  for (unsigned i = 0; (o->parts & PART_INFLIGHT) && i < o->ninflight; i++)
    if (o->inflight[i] > k)
      k = o->inflight[i];
  return k;
}
