/* SPDX-License-Identifier: MIT */
/*
 * The client-thread driver: the one measuring loop used for every system,
 * baselines and library alike, so their numbers differ only by the round
 * trip itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WARMUP_OPS 200
#define WARMUP_NS (20 * INT64_C(1000000))
#define TICK_NS (100 * INT64_C(1000000))
/* After an abort, clients whose waits are all bounded end within seconds;
 * if they still have not after this long, the process gives up loudly. */
#define ABORT_GRACE_NS (20 * BENCH_NS_PER_S)

/* Start line: every client finishes its warm-up, then the main thread
 * reads the CPU clock and lets them all go at once. */
struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned arrived;
  int go; /* 0 wait, 1 run, -1 abort */
  atomic_int abort;
};

struct client {
  const struct bench_driver *d;
  struct gate *gate;
  unsigned tid;
  pthread_t thread;
  struct hist *hist;
  unsigned char *out, *in;
  uint64_t ops;
  int64_t t_begin, t_end;
  int failed;
  char err[200];
};

/* The first bytes of each request carry a per-call stamp that the echo
 * must bring back. */
static void stamp(unsigned char *buf, size_t len, uint64_t seq)
{
  memcpy(buf, &seq, len < sizeof(seq) ? len : sizeof(seq));
}

static int stamp_ok(const unsigned char *in, const unsigned char *out,
                    size_t len)
{
  size_t n = len < sizeof(uint64_t) ? len : sizeof(uint64_t);
  return memcmp(in, out, n) == 0 && in[len - 1] == out[len - 1];
}

static int gate_arrive(struct gate *g)
{
  pthread_mutex_lock(&g->mu);
  g->arrived++;
  pthread_cond_broadcast(&g->cv);
  while (g->go == 0)
    pthread_cond_wait(&g->cv, &g->mu);
  int go = g->go;
  pthread_mutex_unlock(&g->mu);
  return go;
}

static int one_op(struct client *c, uint64_t seq)
{
  const struct bench_params *p = c->d->params;
  stamp(c->out, p->payload, seq);
  if (c->d->op(c->d->ctx, c->tid, c->out, c->in, p->payload, c->err,
               sizeof(c->err)) != 0)
    return -1;
  if (!stamp_ok(c->in, c->out, p->payload)) {
    snprintf(c->err, sizeof(c->err), "response does not echo the request");
    return -1;
  }
  return 0;
}

static void *client_main(void *arg)
{
  struct client *c = arg;
  const struct bench_params *p = c->d->params;
  uint64_t seq = (uint64_t)c->tid << 40;
  int cpu = p->pin ? bench_pin_cpu(p->pin, c->tid, 0) : -1;

  if (cpu >= 0 && bench_pin_self(cpu) != 0) {
    snprintf(c->err, sizeof(c->err), "pin to CPU %d: %s", cpu, strerror(errno));
    c->failed = 1;
  }
  int64_t warm_end = bench_now_ns() + WARMUP_NS;
  for (int i = 0; i < WARMUP_OPS && !c->failed; i++) {
    if (atomic_load_explicit(&c->gate->abort, memory_order_relaxed))
      break;
    if (one_op(c, ++seq) != 0) {
      c->failed = 1;
      break;
    }
    if (bench_now_ns() >= warm_end)
      break;
  }
  if (p->interval_ns > 0)
    bench_sleep_ns(p->interval_ns);

  if (gate_arrive(c->gate) < 0 || c->failed)
    return NULL;

  int64_t t0, t1 = bench_now_ns();
  c->t_begin = t1;
  int64_t end = t1 + (int64_t)(p->seconds * (double)BENCH_NS_PER_S);
  for (;;) {
    if (p->max_ops && c->ops >= p->max_ops)
      break;
    if (atomic_load_explicit(&c->gate->abort, memory_order_relaxed))
      break;
    stamp(c->out, p->payload, ++seq);
    t0 = bench_now_ns();
    int rc = c->d->op(c->d->ctx, c->tid, c->out, c->in, p->payload, c->err,
                      sizeof(c->err));
    t1 = bench_now_ns();
    if (rc != 0) {
      c->failed = 1;
      break;
    }
    hist_record(c->hist, (uint64_t)(t1 - t0));
    c->ops++;
    if (!stamp_ok(c->in, c->out, p->payload)) {
      snprintf(c->err, sizeof(c->err), "response does not echo the request");
      c->failed = 1;
      break;
    }
    if (p->interval_ns > 0)
      bench_sleep_ns(p->interval_ns);
    else if (t1 >= end)
      break;
  }
  c->t_end = t1;
  /* A pinned thread that is not on its CPU means the pin did not hold
   * (e.g. a cpuset changed under the run): its figures are not pinned. */
  int on = cpu >= 0 ? sched_getcpu() : -1;
  if (cpu >= 0 && !c->failed && on != cpu) {
    snprintf(c->err, sizeof(c->err), "pinned to CPU %d, found on CPU %d", cpu,
             on);
    c->failed = 1;
  }
  return NULL;
}

static void abs_realtime(struct timespec *ts, int64_t from_now_ns)
{
  clock_gettime(CLOCK_REALTIME, ts);
  int64_t t = (int64_t)ts->tv_sec * BENCH_NS_PER_S + ts->tv_nsec + from_now_ns;
  ts->tv_sec = (time_t)(t / BENCH_NS_PER_S);
  ts->tv_nsec = (long)(t % BENCH_NS_PER_S);
}

/* Run the watchdog; on its verdict abort the run. */
static void tick(const struct bench_driver *d, struct gate *g,
                 struct bench_result *r, int64_t *abort_at)
{
  char err[200] = "";
  if (d->watchdog && d->watchdog(d->ctx, err, sizeof(err)) != 0) {
    if (!atomic_exchange(&g->abort, 1)) {
      *abort_at = bench_now_ns();
      if (!r->error[0])
        snprintf(r->error, sizeof(r->error), "%s", err);
    }
  }
  if (*abort_at && bench_now_ns() - *abort_at > ABORT_GRACE_NS) {
    fprintf(stderr,
            "shmipc-bench: clients did not stop %d s after an abort (%s); "
            "giving up\n",
            (int)(ABORT_GRACE_NS / BENCH_NS_PER_S), r->error);
    _exit(3);
  }
}

int bench_drive(const struct bench_driver *d, struct bench_result *r)
{
  const struct bench_params *p = d->params;
  unsigned n = p->threads;
  struct gate g = {.arrived = 0, .go = 0};
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&g.mu, NULL);
  pthread_cond_init(&g.cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&g.abort, 0);

  r->ops = 0;
  r->wall_s = 0;
  r->cpu_host_s = 0;
  r->steal_s = -1;

  struct client *cl = calloc(n, sizeof(*cl));
  if (!cl) {
    snprintf(r->error, sizeof(r->error), "out of memory");
    return -1;
  }
  unsigned created = 0;
  for (unsigned i = 0; i < n; i++) {
    struct client *c = &cl[i];
    c->d = d;
    c->gate = &g;
    c->tid = i;
    c->hist = hist_create();
    c->out = malloc(p->payload);
    c->in = malloc(p->payload);
    if (!c->hist || !c->out || !c->in) {
      snprintf(r->error, sizeof(r->error), "out of memory");
      break;
    }
    for (size_t k = 0; k < p->payload; k++)
      c->out[k] = (unsigned char)(k * 131u + i);
    memset(c->in, 0, p->payload);
    int e = pthread_create(&c->thread, NULL, client_main, c);
    if (e != 0) {
      snprintf(r->error, sizeof(r->error), "pthread_create: %s", strerror(e));
      break;
    }
    created++;
  }

  int64_t abort_at = 0;
  if (created < n) {
    atomic_store(&g.abort, 1);
    abort_at = bench_now_ns();
  }

  /* Wait for every started client's warm-up. */
  pthread_mutex_lock(&g.mu);
  while (g.arrived < created) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t t = (int64_t)ts.tv_sec * BENCH_NS_PER_S + ts.tv_nsec + TICK_NS;
    ts.tv_sec = (time_t)(t / BENCH_NS_PER_S);
    ts.tv_nsec = (long)(t % BENCH_NS_PER_S);
    if (pthread_cond_timedwait(&g.cv, &g.mu, &ts) == ETIMEDOUT) {
      pthread_mutex_unlock(&g.mu);
      tick(d, &g, r, &abort_at);
      pthread_mutex_lock(&g.mu);
    }
  }
  int aborted = atomic_load(&g.abort);
  int failed_warmup = 0;
  for (unsigned i = 0; i < created; i++)
    failed_warmup |= cl[i].failed;

  int64_t cpu0 = bench_process_cpu_ns();
  double steal0 = bench_steal_s();
  if (!aborted && !failed_warmup && d->on_start)
    d->on_start(d->ctx);
  g.go = (aborted || failed_warmup) ? -1 : 1;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);

  for (unsigned i = 0; i < created; i++) {
    for (;;) {
      struct timespec ts;
      abs_realtime(&ts, TICK_NS);
      int e = pthread_timedjoin_np(cl[i].thread, NULL, &ts);
      if (e == 0)
        break;
      if (e != ETIMEDOUT) {
        fprintf(stderr, "shmipc-bench: pthread_timedjoin_np: %s\n",
                strerror(e));
        _exit(3);
      }
      tick(d, &g, r, &abort_at);
    }
  }
  int64_t cpu1 = bench_process_cpu_ns();
  double steal1 = bench_steal_s();
  if (g.go > 0 && d->on_stop)
    d->on_stop(d->ctx);

  int64_t t_begin = INT64_MAX, t_end = 0;
  for (unsigned i = 0; i < created; i++) {
    struct client *c = &cl[i];
    if (c->failed && !r->error[0])
      snprintf(r->error, sizeof(r->error), "thread %u: %s", i, c->err);
    if (c->ops) {
      if (c->t_begin < t_begin)
        t_begin = c->t_begin;
      if (c->t_end > t_end)
        t_end = c->t_end;
    }
    r->ops += c->ops;
    hist_merge(r->hist, c->hist);
  }
  if (r->ops)
    r->wall_s = (double)(t_end - t_begin) / (double)BENCH_NS_PER_S;
  r->cpu_host_s = (double)(cpu1 - cpu0) / (double)BENCH_NS_PER_S;
  r->steal_s = steal0 >= 0 && steal1 >= steal0 ? steal1 - steal0 : -1;
  if (!r->error[0] && (aborted || g.go < 0))
    snprintf(r->error, sizeof(r->error), "run aborted");

  for (unsigned i = 0; i < n; i++) {
    hist_destroy(cl[i].hist);
    free(cl[i].out);
    free(cl[i].in);
  }
  free(cl);
  pthread_cond_destroy(&g.cv);
  pthread_mutex_destroy(&g.mu);
  return r->error[0] ? -1 : 0;
}
