/* SPDX-License-Identifier: MIT */
/* shmipc-bench's table on stdout: round trips, sleep path, idle, streams. */
#include <math.h>
#include <stdio.h>

#include "run.h"

static const char *fmt_time(char *buf, size_t len, double ns)
{
  if (!isfinite(ns))
    snprintf(buf, len, "-");
  else if (ns < 1e3)
    snprintf(buf, len, "%.0f ns", ns);
  else if (ns < 1e6)
    snprintf(buf, len, "%.3g us", ns / 1e3);
  else if (ns < 1e9)
    snprintf(buf, len, "%.3g ms", ns / 1e6);
  else
    snprintf(buf, len, "%.3g s", ns / 1e9);
  return buf;
}

static const char *fmt_rate(char *buf, size_t len, double v)
{
  if (!isfinite(v))
    snprintf(buf, len, "-");
  else if (v >= 1e6)
    snprintf(buf, len, "%.3gM", v / 1e6);
  else if (v >= 1e3)
    snprintf(buf, len, "%.3gk", v / 1e3);
  else
    snprintf(buf, len, "%.3g", v);
  return buf;
}

static const char *fmt_ratio(char *buf, size_t len, double v)
{
  if (!isfinite(v))
    snprintf(buf, len, "-");
  else if (v < 0.1)
    snprintf(buf, len, "%.2gx", v);
  else
    snprintf(buf, len, "%.2fx", v);
  return buf;
}

static void print_load(const struct load *l, long nproc)
{
  printf("load: 1-min average %.2f before, %.2f after (own threads "
         "counted); other processes kept %.2f of %ld CPUs busy during the "
         "run\n",
         l->loadavg_start, l->loadavg_end, l->others_cpus, nproc);
  if (isfinite(l->steal_cpus))
    printf("hypervisor steal: %.3f of %ld CPUs during the run (each cell's "
           "rounds in the JSON, per_round steal_pct)\n",
           l->steal_cpus, nproc);
  if (l->warn)
    printf("WARNING: the machine was loaded (above %.1f x its CPUs): other "
           "processes took CPUs\nfrom the spinning waiters, so figures show "
           "their sleeps and preemptions (small\npayloads may even look "
           "slower than large ones); run again on a quiet machine.\n",
           LOAD_WARN_SHARE);
}

static void print_header(const struct options *o, const struct machine *m)
{
  printf("shmipc-bench%s: %u rounds x %g s per cell, systems interleaved in "
         "each round\n",
         o->quick ? " --quick" : "", o->rounds, o->seconds);
  printf("machine: %ld CPUs, %s, %s%s, %s, clocksource %s, "
         "clock_gettime %.0f ns\n",
         m->nproc, m->arch, m->cpu_model, m->hypervisor ? " (virtualised)" : "",
         m->kernel, m->clocksource, m->clock_overhead_ns);
  printf("libshmipc %s; %s\n", m->lib_version, m->compiler);
  const struct bench_pin *pin = run_pin(o);
  if (!pin) {
    printf("not pinned: the kernel places every thread\n");
    return;
  }
  unsigned tmax = 1;
  for (unsigned i = 0; i < o->nthreads; i++)
    if (o->threads[i] > tmax)
      tmax = o->threads[i];
  if (inflight_max(o) > tmax)
    tmax = inflight_max(o);
  printf("pinned (--pin) on CPUs");
  for (unsigned i = 0; i < pin->n; i++)
    printf("%s%d", i ? "," : " ", pin->cpus[i]);
  printf(": pair i's client on the (2i mod %u)-th, its server on the "
         "(2i+1 mod %u)-th;\nclient/server CPU of each pair:",
         pin->n, pin->n);
  for (unsigned i = 0; i < tmax && i < 16; i++)
    printf(" %d/%d", bench_pin_cpu(pin, i, 0), bench_pin_cpu(pin, i, 1));
  printf("%s; a library guest's threads all on its pairs' server CPUs\n",
         tmax > 16 ? " ..." : "");
  if (inflight_max(o) > 0)
    printf("in flight: the one host thread on pair 0's client CPU, the guest "
           "on the server CPUs\nof pairs 0..K-1\n");
}

static void print_cell(const struct report *rp, const struct cell *c)
{
  char a[32], b[32], c_[32], d[32], e[32], f[32], g[32], h[32], i_[32];
  struct cell_stats s;
  cell_stats(rp, c, &s);
  printf("%-11s %3u %7zu %9s %9s %9s %9s %9s %9s %14s %11s %11s",
         system_name(c->sys), c->threads, c->payload,
         fmt_rate(a, sizeof(a), s.ops_per_sec), fmt_time(b, sizeof(b), s.mean),
         fmt_time(c_, sizeof(c_), s.p50), fmt_time(d, sizeof(d), s.p99),
         fmt_time(e, sizeof(e), s.p999),
         s.spin_collapsed[0] ? "n/a" : fmt_ratio(f, sizeof(f), s.ratio_spin),
         fmt_ratio(g, sizeof(g), s.ratio_yield),
         fmt_time(h, sizeof(h), s.cpu_host * 1e9),
         fmt_time(i_, sizeof(i_), s.cpu_guest * 1e9));
  if (c->sys == SYS_SPIN && s.spin_collapsed[0])
    printf("  COLLAPSED");
  if (c->error[0])
    printf("  FAILED (%u/%u rounds ok)", c->rounds_ok, rp->o->rounds);
  putchar('\n');
}

static void print_cells(const struct report *rp)
{
  const struct options *o = rp->o;
  printf("Round trips: T client threads, P bytes each way. Every figure is "
         "the median over\nrounds of that round's value; ratios are same-round "
         "ratios (p50 / spin p50,\nops/s / spin-yield ops/s). CPU per round "
         "trip.\n\n");
  printf("%-11s %3s %7s %9s %9s %9s %9s %9s %9s %14s %11s %11s\n", "system",
         "T", "P", "ops/s", "mean", "p50", "p99", "p99.9", "p50/spin",
         "ops/spin-yield", "host cpu/op", "guest cpu/op");
  for (unsigned ti = 0; (o->parts & PART_CELLS) && ti < o->nthreads; ti++) {
    for (unsigned pi = 0; pi < o->npayloads; pi++) {
      char why[96];
      for (unsigned si = 0; si < o->nsystems; si++)
        print_cell(
            rp, find_cell(rp, o->systems[si], o->threads[ti], o->payloads[pi]));
      if (spin_collapsed(rp, o->threads[ti], o->payloads[pi], why, sizeof(why)))
        printf("p50/spin n/a: spin baseline collapsed (%s); it measures "
               "the scheduler, not the hardware\n",
               why);
      putchar('\n');
    }
  }
}

static void print_tail(const struct report *rp, const struct cell *c)
{
  char a[32], b[32], c_[32], d[32], e[32], f[32], g[32], h[32], i_[32];
  struct cell_stats s;
  cell_stats(rp, c, &s);
  printf("%-11s %3u %7zu %9s %9s %9s %9s %9s %9s %9s %9s %9s\n",
         system_name(c->sys), c->threads, c->payload,
         fmt_ratio(a, sizeof(a), s.ratio_yield),
         fmt_ratio(b, sizeof(b), s.ratio_yield_worst),
         fmt_time(c_, sizeof(c_), s.p99), fmt_ratio(d, sizeof(d), s.p99_yield),
         fmt_ratio(e, sizeof(e), s.p99_yield_worst),
         fmt_time(f, sizeof(f), s.p999), fmt_time(g, sizeof(g), s.p999_worst),
         fmt_ratio(h, sizeof(h), s.p999_yield),
         fmt_ratio(i_, sizeof(i_), s.p999_yield_worst));
}

/* The tails beside the medians: same-round ratios to spin-yield, the
 * median over rounds and the worst round (lowest ops ratio, highest
 * tail). */
static void print_tails(const struct report *rp)
{
  const struct options *o = rp->o;
  printf("Tails and worst rounds: same-round ratios to spin-yield, median "
         "over rounds\n(\"med\") and the worst round (lowest ops/s ratio, "
         "highest tail ratio); p99 and\np99.9 in time are medians over rounds, "
         "\"p99.9 max\" the highest round's.\n\n");
  printf("%-11s %3s %7s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "", "", "",
         "ops/sy", "ops/sy", "", "p99/sy", "p99/sy", "", "p99.9", "p99.9/sy",
         "p99.9/sy");
  printf("%-11s %3s %7s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "system", "T",
         "P", "med", "worst", "p99", "med", "worst", "p99.9", "max", "med",
         "worst");
  for (unsigned ti = 0; ti < o->nthreads; ti++) {
    for (unsigned pi = 0; pi < o->npayloads; pi++) {
      for (unsigned si = 0; si < o->nsystems; si++)
        print_tail(
            rp, find_cell(rp, o->systems[si], o->threads[ti], o->payloads[pi]));
      putchar('\n');
    }
  }
}

static void print_sleep_path(const struct report *rp)
{
  char a[32], b[32], c[32];
  printf("Sleep path: 1 thread, %d B, one call every %lld ms (the server has "
         "gone to sleep),\nin rounds like the cells; p50/futex is the median "
         "over rounds of the same-round ratio\n",
         SLEEP_PAYLOAD, (long long)(SLEEP_INTERVAL_NS / 1000000));
  printf("%-11s %6s %9s %9s %11s\n", "system", "calls", "p50", "p99",
         "p50/futex");
  for (unsigned i = 0; i < rp->nsleep; i++) {
    const struct sleep_result *sr = &rp->sleep[i];
    printf("%-11s %6llu %9s %9s %11s%s\n", system_name(sr->sys),
           (unsigned long long)sr->calls,
           fmt_time(a, sizeof(a), sr->ok ? (double)sr->p50 : NAN),
           fmt_time(b, sizeof(b), sr->ok ? (double)sr->p99 : NAN),
           fmt_ratio(c, sizeof(c), sr->ratio), sr->ok ? "" : "  FAILED");
  }
  if (!rp->nsleep)
    printf("(no system of futex, shmipc-go, shmipc-c selected)\n");
}

static void print_idle(const struct report *rp)
{
  printf("\nIdle: shmipc-go host and guest connected, no calls, %.0f s right "
         "after a loaded cell\n",
         IDLE_SECONDS);
  if (rp->idle_ran)
    printf("host %.2f %% CPU, guest %.2f %% CPU (guest from "
           "/proc/<pid>/task/*/schedstat)\n",
           rp->idle_host, rp->idle_guest);
  else
    printf("not measured (shmipc-go not selected or its run failed)\n");
}

/* The two-copy pipe's line (pipe.h), under memcpy. */
static void print_pipe(const struct report *rp)
{
  const struct options *o = rp->o;
  if (!rp->pipe_ran)
    return;
  if (isfinite(rp->pipe.bps))
    printf("%-11s %5zu MiB %7.2f GB/s  (%.2fx the memcpy run beside it; no "
           "library: two threads copy\n%33s in and out of 4 x %u KiB, the "
           "bound of any two-copy transfer)\n",
           "pipe", o->stream_bytes / MIB, rp->pipe.bps / 1e9, rp->pipe.ratio,
           "", o->stream_slot_bytes / 1024);
  else
    printf("%-11s %5zu MiB %12s\n", "pipe", o->stream_bytes / MIB, "FAILED");
}

static void print_streams(const struct report *rp)
{
  const struct options *o = rp->o;
  printf("\nStreams\n");
  printf("%-11s %9s %12s\n", "system", "bytes", "bandwidth");
  if (isfinite(rp->memcpy_bps))
    printf("%-11s %5zu MiB %7.2f GB/s\n", "memcpy", o->stream_bytes / MIB,
           rp->memcpy_bps / 1e9);
  else
    printf("%-11s %5zu MiB %12s\n", "memcpy", o->stream_bytes / MIB, "FAILED");
  print_pipe(rp);
  int above = 0;
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!rp->stream_ran[sy])
      continue;
    above |= rp->stream[sy].ratio > 1;
    if (isfinite(rp->stream[sy].bps))
      printf("%-11s %5zu MiB %7.2f GB/s  (%.2fx the memcpy run beside it; "
             "%u in flight, %u KiB slots)\n",
             system_name(sy), o->stream_bytes / MIB, rp->stream[sy].bps / 1e9,
             rp->stream[sy].ratio, o->stream_depth,
             o->stream_slot_bytes / 1024);
    else
      printf("%-11s %5zu MiB %12s\n", system_name(sy), o->stream_bytes / MIB,
             "FAILED");
  }
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!rp->guest_stream_ran[sy])
      continue;
    above |= rp->guest_stream[sy].ratio > 1;
    if (isfinite(rp->guest_stream[sy].bps))
      printf("%-11s %5zu MiB %7.2f GB/s  guest to host (%.2fx the memcpy run "
             "beside it)\n",
             system_name(sy), o->stream_bytes / MIB,
             rp->guest_stream[sy].bps / 1e9, rp->guest_stream[sy].ratio);
    else
      printf("%-11s %5zu MiB %12s  guest to host\n", system_name(sy),
             o->stream_bytes / MIB, "FAILED");
  }
  if (above)
    printf("(>1x: two copies on two CPUs at once, host into cached slots, "
           "guest out with streaming stores that skip reading the "
           "destination; memcpy: one copy, one CPU)\n");
}

static void print_large_answers(const struct report *rp)
{
  printf("\nLarge answers (one call, the answer pulled in chunks of a 4-slot "
         "host's %u KiB responses)\n",
         rp->o->stream_slot_bytes / 1024);
  printf("%-11s %9s %12s\n", "system", "bytes", "bandwidth");
  if (!(rp->o->parts & PART_STREAM))
    print_pipe(rp);
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!rp->large_answer_ran[sy])
      continue;
    for (unsigned i = 0; i < answer_sizes(rp->o); i++) {
      const struct stream_result *a = &rp->large_answer[sy][i];
      if (isfinite(a->bps))
        printf("%-11s %5u MiB %7.2f GB/s  (%.2fx the memcpy run beside "
               "it)\n",
               system_name(sy), answer_sizes_mib[i], a->bps / 1e9, a->ratio);
      else
        printf("%-11s %5u MiB %12s\n", system_name(sy), answer_sizes_mib[i],
               "FAILED");
    }
  }
}

static void print_inflight(const struct report *rp)
{
  char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32], i_[32], j[32],
      k[32];
  printf("\nCalls in flight: one host thread keeps K calls of %d B in flight "
         "(%s),\nbeside K threads each making blocking "
         "calls, in the same rounds. Medians over rounds;\n1/K: the "
         "same-round ratio of ops/s, one thread / K threads (worst: the "
         "lowest round's).\nThe one thread's call time runs from its "
         "publish to its answer seen, the K threads'\nfrom the acquire to "
         "the release, as in the cells.\n\n",
         INFLIGHT_PAYLOAD, inflight_wait_name(rp->o));
  printf("%-11s %3s %9s %9s %9s %9s %9s %9s %9s %7s %7s %11s %11s\n", "", "",
         "1 thread", "", "", "", "K threads", "", "", "", "", "host cpu/op",
         "host cpu/op");
  printf("%-11s %3s %9s %9s %9s %9s %9s %9s %9s %7s %7s %11s %11s\n", "system",
         "K", "ops/s", "p50", "p99", "p99.9", "ops/s", "p50", "p99", "1/K",
         "worst", "1 thread", "K threads");
  for (unsigned x = 0; x < rp->ninflight; x++) {
    const struct inflight_cell *ic = &rp->inflight[x];
    struct inflight_stats s;
    inflight_stats(rp, ic, &s);
    printf("%-11s %3u %9s %9s %9s %9s %9s %9s %9s %7s %7s %11s %11s",
           system_name(ic->sys), ic->k,
           fmt_rate(a, sizeof(a), s.one.ops_per_sec),
           fmt_time(b, sizeof(b), s.one.p50), fmt_time(c, sizeof(c), s.one.p99),
           fmt_time(d, sizeof(d), s.one.p999),
           fmt_rate(e, sizeof(e), s.threads.ops_per_sec),
           fmt_time(f, sizeof(f), s.threads.p50),
           fmt_time(g, sizeof(g), s.threads.p99),
           fmt_ratio(h, sizeof(h), s.ratio_ops),
           fmt_ratio(i_, sizeof(i_), s.ratio_ops_worst),
           fmt_time(j, sizeof(j), s.one.cpu_host * 1e9),
           fmt_time(k, sizeof(k), s.threads.cpu_host * 1e9));
    if (ic->one.error[0] || ic->threads.error[0])
      printf("  FAILED (rounds ok of %u: %u one thread, %u K threads)",
             rp->o->rounds, ic->one.rounds_ok, ic->threads.rounds_ok);
    putchar('\n');
  }
  if (!rp->ninflight)
    printf("(no system of shmipc-go, shmipc-c selected)\n");
}

static void print_errors(const struct report *rp)
{
  if (!rp->nerrors)
    return;
  printf("\nErrors (%u):\n", rp->nerrors);
  for (unsigned k = 0; k < rp->nerrors; k++)
    printf("  %s\n", rp->errors[k]);
}

void print_table(const struct report *rp)
{
  const struct options *o = rp->o;
  print_header(o, rp->m);
  print_load(&rp->load, rp->m->nproc);
  putchar('\n');
  if (o->parts & PART_CELLS) {
    print_cells(rp);
    print_tails(rp);
  }
  if (o->parts & PART_SLEEP)
    print_sleep_path(rp);
  if (o->parts & PART_IDLE)
    print_idle(rp);
  if (o->parts & PART_STREAM)
    print_streams(rp);
  if (o->parts & PART_ANSWER)
    print_large_answers(rp);
  if (o->parts & PART_INFLIGHT)
    print_inflight(rp);
  print_errors(rp);
}
