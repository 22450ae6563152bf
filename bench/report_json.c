/* SPDX-License-Identifier: MIT */
/*
 * shmipc-bench --json: one JSON document on stdout, in the shape
 * docs/BENCHMARKS.md documents and check_json.py checks.
 */
#include <math.h>
#include <stdio.h>

#include "run.h"

static void json_str(const char *s)
{
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

static void json_num(double v, const char *fmt)
{
  if (isfinite(v))
    printf(fmt, v);
  else
    fputs("null", stdout);
}

static void print_machine(const struct machine *m)
{
  printf("{\"nproc\": %ld, \"nproc_configured\": %ld, \"kernel\": ", m->nproc,
         m->nproc_conf);
  json_str(m->kernel);
  printf(", \"arch\": ");
  json_str(m->arch);
  printf(", \"cpu_model\": ");
  json_str(m->cpu_model);
  printf(", \"hypervisor\": %s, \"clocksource\": ",
         m->hypervisor ? "true" : "false");
  json_str(m->clocksource);
  printf(", \"clock_overhead_ns\": %.1f, \"compiler\": ", m->clock_overhead_ns);
  json_str(m->compiler);
  printf(", \"libshmipc\": ");
  json_str(m->lib_version);
  printf("}");
}

/* Where a pinned run put the pairs (struct bench_pin): the CPUs, then for
 * each pair of the largest thread count (or K of --inflight) its client's
 * and server's CPU; a cell of T threads uses the first T pairs, and a
 * library guest the servers' CPUs of those; the in-flight thread runs on
 * pair 0's client CPU, its guest on the server CPUs of the first K. */
static void print_cpu_map(const struct options *o)
{
  const struct bench_pin *pin = run_pin(o);
  unsigned tmax = 1;
  if (!pin) {
    printf("null");
    return;
  }
  for (unsigned i = 0; i < o->nthreads; i++)
    if (o->threads[i] > tmax)
      tmax = o->threads[i];
  if (inflight_max(o) > tmax)
    tmax = inflight_max(o);
  printf("{\"cpus\": [");
  for (unsigned i = 0; i < pin->n; i++)
    printf("%s%d", i ? ", " : "", pin->cpus[i]);
  printf("], \"rule\": \"pair i: client on cpus[2i mod n], server on "
         "cpus[(2i+1) mod n]; a library guest's threads on its pairs' server "
         "CPUs\", \"pairs\": [");
  for (unsigned i = 0; i < tmax; i++)
    printf("%s{\"client\": %d, \"server\": %d}", i ? ", " : "",
           bench_pin_cpu(pin, i, 0), bench_pin_cpu(pin, i, 1));
  printf("]}");
}

static void print_config(const struct options *o)
{
  printf("{\"quick\": %s, \"rounds\": %u, "
         "\"seconds_per_cell\": %g, \"timer\": \"clock_gettime(CLOCK_MONOTONIC)"
         " pair per round trip\", \"aggregation\": \"median over rounds\", "
         "\"threads\": [",
         o->quick ? "true" : "false", o->rounds, o->seconds);
  for (unsigned i = 0; i < o->nthreads; i++)
    printf("%s%u", i ? ", " : "", o->threads[i]);
  printf("], \"inflight\": [");
  for (unsigned i = 0; i < o->ninflight; i++)
    printf("%s%u", i ? ", " : "", o->inflight[i]);
  printf("], \"inflight_wait\": \"%s\", \"payloads\": [",
         inflight_wait_name(o));
  for (unsigned i = 0; i < o->npayloads; i++)
    printf("%s%zu", i ? ", " : "", o->payloads[i]);
  printf("], \"systems\": [");
  for (unsigned i = 0; i < o->nsystems; i++) {
    printf("%s", i ? ", " : "");
    json_str(system_name(o->systems[i]));
  }
  printf("], \"parts\": [");
  for (unsigned i = 0, k = 0; i < PART_COUNT; i++)
    if (o->parts & (1u << i))
      printf("%s\"%s\"", k++ ? ", " : "", part_names[i]);
  printf("], \"pinned\": %s, \"cpu_map\": ", o->pin ? "true" : "false");
  print_cpu_map(o);
  printf("}");
}

/* [v0, v1, ...]: metric @p k of every round of @p c. */
static void print_per_round(const struct cell *c, enum metric k,
                            unsigned rounds, const char *fmt)
{
  printf("[");
  for (unsigned r = 0; r < rounds; r++) {
    printf("%s", r ? ", " : "");
    json_num(c->m[k][r], fmt);
  }
  printf("]");
}

static void print_result(const struct report *rp, const struct cell *c)
{
  struct cell_stats s;
  cell_stats(rp, c, &s);
  printf("{\"system\": ");
  json_str(system_name(c->sys));
  printf(", \"threads\": %u, \"payload\": %zu, \"rounds_ok\": %u, "
         "\"ops\": %llu, \"ops_per_sec\": ",
         c->threads, c->payload, c->rounds_ok, (unsigned long long)c->ops);
  json_num(s.ops_per_sec, "%.1f");
  printf(", \"rtt_ns\": {\"mean\": ");
  json_num(s.mean, "%.1f");
  printf(", \"p50\": ");
  json_num(s.p50, "%.0f");
  printf(", \"p99\": ");
  json_num(s.p99, "%.0f");
  printf(", \"p999\": ");
  json_num(s.p999, "%.0f");
  printf(", \"p999_worst\": ");
  json_num(s.p999_worst, "%.0f");
  printf("}, \"ratio_p50_to_spin\": ");
  json_num(s.ratio_spin, "%.6g");
  printf(", \"spin_baseline_collapsed\": ");
  if (s.spin_collapsed[0])
    json_str(s.spin_collapsed);
  else
    fputs("null", stdout);
  printf(", \"ratio_ops_to_spin_yield\": ");
  json_num(s.ratio_yield, "%.6g");
  printf(", \"ratio_ops_to_spin_yield_worst\": ");
  json_num(s.ratio_yield_worst, "%.6g");
  printf(", \"ratio_p99_to_spin_yield\": ");
  json_num(s.p99_yield, "%.6g");
  printf(", \"ratio_p99_to_spin_yield_worst\": ");
  json_num(s.p99_yield_worst, "%.6g");
  printf(", \"ratio_p999_to_spin_yield\": ");
  json_num(s.p999_yield, "%.6g");
  printf(", \"ratio_p999_to_spin_yield_worst\": ");
  json_num(s.p999_yield_worst, "%.6g");
  printf(", \"cpu_s_per_op\": {\"host\": ");
  json_num(s.cpu_host, "%.4e");
  printf(", \"guest\": ");
  json_num(s.cpu_guest, "%.4e");
  printf("}, \"per_round\": {\"p50_ns\": ");
  print_per_round(c, M_P50, rp->o->rounds, "%.0f");
  printf(", \"p99_ns\": ");
  print_per_round(c, M_P99, rp->o->rounds, "%.0f");
  printf(", \"p999_ns\": ");
  print_per_round(c, M_P999, rp->o->rounds, "%.0f");
  printf(", \"ops_per_sec\": ");
  print_per_round(c, M_OPS_PER_SEC, rp->o->rounds, "%.1f");
  printf(", \"steal_pct\": ");
  print_per_round(c, M_STEAL_PCT, rp->o->rounds, "%.2f");
  printf(", \"line_rtt_ns_before\": ");
  print_per_round(c, M_LINE_BEFORE, rp->o->rounds, "%.0f");
  printf(", \"line_rtt_ns_after\": ");
  print_per_round(c, M_LINE_AFTER, rp->o->rounds, "%.0f");
  printf("}");
  if (c->error[0]) {
    printf(", \"error\": ");
    json_str(c->error);
  }
  printf("}");
}

static void print_streams(const struct report *rp,
                          const struct stream_result *res, const int *ran)
{
  const struct options *o = rp->o;
  printf("[{\"system\": \"memcpy\", \"bytes\": %zu, \"bytes_per_sec\": ",
         o->stream_bytes);
  json_num(rp->memcpy_bps, "%.0f");
  printf("}");
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!ran[sy])
      continue;
    printf(", {\"system\": \"%s\", \"bytes\": %zu, \"bytes_per_sec\": ",
           system_name(sy), o->stream_bytes);
    json_num(res[sy].bps, "%.0f");
    printf(", \"paired_memcpy_bytes_per_sec\": ");
    json_num(res[sy].memcpy_bps, "%.0f");
    printf(", \"ratio_to_memcpy\": ");
    json_num(res[sy].ratio, "%.3f");
    printf(", \"depth\": %u, \"slot_bytes\": %u}", o->stream_depth,
           o->stream_slot_bytes);
  }
  printf("]");
}

/* Shaped like "stream": one entry per guest and size. */
static void print_large_answers(const struct report *rp)
{
  const struct options *o = rp->o;
  const char *sep = "";
  printf("[");
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!rp->large_answer_ran[sy])
      continue;
    for (unsigned i = 0; i < answer_sizes(o); i++) {
      const struct stream_result *a = &rp->large_answer[sy][i];
      printf("%s{\"system\": \"%s\", \"bytes\": %zu, \"bytes_per_sec\": ", sep,
             system_name(sy), (size_t)answer_sizes_mib[i] * MIB);
      json_num(a->bps, "%.0f");
      printf(", \"paired_memcpy_bytes_per_sec\": ");
      json_num(a->memcpy_bps, "%.0f");
      printf(", \"ratio_to_memcpy\": ");
      json_num(a->ratio, "%.3f");
      printf(", \"depth\": 4, \"slot_bytes\": %u}", o->stream_slot_bytes);
      sep = ", ";
    }
  }
  printf("]");
}

/* The two-copy pipe (pipe.h): null when neither stream nor answer ran. */
static void print_pipe(const struct report *rp)
{
  const struct options *o = rp->o;
  if (!rp->pipe_ran) {
    printf("null");
    return;
  }
  printf("{\"bytes\": %zu, \"bytes_per_sec\": ", o->stream_bytes);
  json_num(rp->pipe.bps, "%.0f");
  printf(", \"paired_memcpy_bytes_per_sec\": ");
  json_num(rp->pipe.memcpy_bps, "%.0f");
  printf(", \"ratio_to_memcpy\": ");
  json_num(rp->pipe.ratio, "%.3f");
  printf(", \"slots\": 4, \"slot_bytes\": %u}", o->stream_slot_bytes);
}

/* One side of an in-flight cell: its figures as medians over rounds and
 * its per-round ops/s, p50 and p99. */
static void print_inflight_side(const struct report *rp, const struct cell *c,
                                const struct side_stats *s)
{
  unsigned rounds = rp->o->rounds;
  printf("{\"threads\": %u, \"rounds_ok\": %u, \"ops\": %llu, "
         "\"ops_per_sec\": ",
         c->threads, c->rounds_ok, (unsigned long long)c->ops);
  json_num(s->ops_per_sec, "%.1f");
  printf(", \"call_ns\": {\"mean\": ");
  json_num(s->mean, "%.1f");
  printf(", \"p50\": ");
  json_num(s->p50, "%.0f");
  printf(", \"p99\": ");
  json_num(s->p99, "%.0f");
  printf(", \"p999\": ");
  json_num(s->p999, "%.0f");
  printf("}, \"cpu_s_per_op\": {\"host\": ");
  json_num(s->cpu_host, "%.4e");
  printf(", \"guest\": ");
  json_num(s->cpu_guest, "%.4e");
  printf("}, \"per_round\": {\"ops_per_sec\": ");
  print_per_round(c, M_OPS_PER_SEC, rounds, "%.1f");
  printf(", \"p50_ns\": ");
  print_per_round(c, M_P50, rounds, "%.0f");
  printf(", \"p99_ns\": ");
  print_per_round(c, M_P99, rounds, "%.0f");
  printf("}");
  if (c->error[0]) {
    printf(", \"error\": ");
    json_str(c->error);
  }
  printf("}");
}

static void print_inflight(const struct report *rp,
                           const struct inflight_cell *c)
{
  struct inflight_stats s;
  inflight_stats(rp, c, &s);
  printf("{\"system\": ");
  json_str(system_name(c->sys));
  printf(", \"in_flight\": %u, \"payload\": %d, \"wait\": \"%s\", "
         "\"one_thread\": ",
         c->k, INFLIGHT_PAYLOAD, inflight_wait_name(rp->o));
  print_inflight_side(rp, &c->one, &s.one);
  printf(", \"k_threads\": ");
  print_inflight_side(rp, &c->threads, &s.threads);
  printf(", \"ratio_ops_one_thread_to_k_threads\": ");
  json_num(s.ratio_ops, "%.6g");
  printf(", \"ratio_ops_one_thread_to_k_threads_worst\": ");
  json_num(s.ratio_ops_worst, "%.6g");
  printf(", \"per_round_ratio_ops\": [");
  for (unsigned r = 0; r < rp->o->rounds; r++) {
    printf("%s", r ? ", " : "");
    json_num(inflight_round_ratio(c, r), "%.6g");
  }
  printf("]}");
}

static void print_load(const struct load *l)
{
  printf("{\"loadavg_1min_start\": ");
  json_num(l->loadavg_start, "%.2f");
  printf(", \"loadavg_1min_end\": ");
  json_num(l->loadavg_end, "%.2f");
  printf(", \"other_processes_cpus\": ");
  json_num(l->others_cpus, "%.2f");
  printf(", \"hypervisor_steal_cpus\": ");
  json_num(l->steal_cpus, "%.3f");
  printf(", \"warning\": %s}", l->warn ? "true" : "false");
}

static void print_idle(const struct report *rp)
{
  if (!rp->idle_ran) {
    printf("null");
    return;
  }
  printf("{\"host\": ");
  json_num(rp->idle_host, "%.3f");
  printf(", \"guest\": ");
  json_num(rp->idle_guest, "%.3f");
  printf(", \"seconds\": %.1f}", IDLE_SECONDS);
}

static void print_sleep_result(const struct sleep_result *sr)
{
  printf("{\"system\": ");
  json_str(system_name(sr->sys));
  printf(", \"calls\": %llu, \"interval_ns\": %lld, \"rtt_ns\": {\"p50\": ",
         (unsigned long long)sr->calls, (long long)SLEEP_INTERVAL_NS);
  json_num(sr->ok ? (double)sr->p50 : NAN, "%.0f");
  printf(", \"p99\": ");
  json_num(sr->ok ? (double)sr->p99 : NAN, "%.0f");
  printf("}, \"ratio_p50_to_futex\": ");
  json_num(sr->ratio, "%.3f");
  printf("}");
}

void print_json(const struct report *rp)
{
  printf("{\n  \"machine\": ");
  print_machine(rp->m);
  printf(",\n  \"config\": ");
  print_config(rp->o);
  printf(",\n  \"load\": ");
  print_load(&rp->load);
  printf(",\n  \"results\": [");
  for (unsigned i = 0; i < rp->ncells; i++) {
    printf("%s\n    ", i ? "," : "");
    print_result(rp, &rp->cells[i]);
  }
  printf("\n  ],\n  \"stream\": ");
  print_streams(rp, rp->stream, rp->stream_ran);
  printf(",\n  \"guest_stream\": ");
  print_streams(rp, rp->guest_stream, rp->guest_stream_ran);
  printf(",\n  \"large_answer\": ");
  print_large_answers(rp);
  printf(",\n  \"two_copy_pipe\": ");
  print_pipe(rp);
  printf(",\n  \"inflight\": [");
  for (unsigned i = 0; i < rp->ninflight; i++) {
    printf("%s\n    ", i ? "," : "");
    print_inflight(rp, &rp->inflight[i]);
  }
  printf("%s]", rp->ninflight ? "\n  " : "");
  printf(",\n  \"idle_cpu_percent\": ");
  print_idle(rp);
  printf(",\n  \"sleep_path\": [");
  for (unsigned i = 0; i < rp->nsleep; i++) {
    printf("%s\n    ", i ? "," : "");
    print_sleep_result(&rp->sleep[i]);
  }
  printf("\n  ],\n  \"errors\": [");
  for (unsigned i = 0; i < rp->nerrors; i++) {
    printf("%s\n    ", i ? "," : "");
    json_str(rp->errors[i]);
  }
  printf("%s]\n}\n", rp->nerrors ? "\n  " : "");
}
