/* SPDX-License-Identifier: MIT */
/*
 * shmipc-bench: libshmipc against the baselines it must be judged by.
 *
 * Every round runs, for each (threads, payload) pair, every selected system
 * back to back (the order rotates from round to round), so the ratio of a
 * library cell to the `spin` cell of the same round compares two runs made
 * in the same phase of a noisy (virtualised) machine. Ratios are reported
 * as the median over rounds of those same-round ratios, and every other
 * figure of a cell as the median over rounds of its per-round value (not a
 * histogram merged over rounds, which would weight the fast, undisturbed
 * rounds by their larger number of round trips). Beside the medians, the
 * worst round: the lowest ops/s ratio to spin-yield and the highest p99 and
 * p99.9 ratios to spin-yield's, so one collapsed round shows. With --pin
 * every client/server pair runs on two fixed CPUs (bench.h, bench_pin).
 *
 * Output: a table on stdout, or with --json one JSON document and nothing
 * else on stdout. Progress and errors go to stderr. Exit status: 0 when
 * everything ran, 1 when any measurement failed, 2 on a usage error or a
 * missing echo guest binary.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>

#include "run.h"

static int out_of_memory(void)
{
  fprintf(stderr, "shmipc-bench: out of memory\n");
  return 1;
}

int main(int argc, char **argv)
{
  struct options o;
  if (parse_options(argc, argv, &o) != 0)
    return 2;

  shmipc_bench_install_cleanup();
  struct machine m;
  gather_machine(&m);
  int64_t t_start = bench_now_ns();

  struct report rp;
  struct bench_result r = {.hist = hist_create()};
  if (report_init(&rp, &o, &m) != 0 || !r.hist)
    return out_of_memory();
  load_start(&rp.load, m.nproc);
  run_cells(&rp, &r);
  if (run_sleep_path(&rp, &r) != 0)
    return out_of_memory();
  run_idle(&rp, &r);
  run_streams(&rp);
  run_answers(&rp);
  run_inflight(&rp, &r);
  load_end(&rp.load, m.nproc);
  fprintf(stderr, "shmipc-bench: done in %.1f s\n",
          (double)(bench_now_ns() - t_start) / (double)BENCH_NS_PER_S);

  if (o.json)
    print_json(&rp);
  else
    print_table(&rp);
  fflush(stdout);

  int failed = rp.nerrors > 0;
  report_free(&rp);
  hist_destroy(r.hist);
  return failed ? 1 : 0;
}
