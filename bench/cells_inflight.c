/* SPDX-License-Identifier: MIT */
/* One host thread keeping K calls in flight (cells_inflight.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cells_inflight.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* As in driver.c and cells_shmipc.c. */
#define WARMUP_OPS 200
#define WARMUP_NS (20 * INT64_C(1000000))
#define TICK_NS (100 * INT64_C(1000000))
#define ABORT_GRACE_NS (20 * BENCH_NS_PER_S)
#define CALL_TIMEOUT_NS (5 * BENCH_NS_PER_S)
#define POLL_YIELD_EVERY 128
/* An application type: the echo guest returns it unchanged. */
#define REQ_TYPE SHMIPC_MSG_APP_START

struct flight {
  const struct bench_driver *d;
  shmipc_host *h;
  unsigned k;
  size_t len;
  /* Slot i's handle at ring[i] and ring[k + i]: &ring[j] lists the k
   * slots from j on, the set given to one wait. */
  shmipc_slot **ring;
  unsigned next;       /* where the next wait's set starts */
  unsigned char *out;  /* k requests of len bytes: the one on slot i */
  int64_t *t_pub;      /* when slot i's call was published */
  unsigned char *busy; /* slot i holds a call not yet released */
  uint64_t seq;
  struct hist *hist;

  /* The start line, as bench_drive()'s gate for one client. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int arrived;
  int go; /* 0 wait, 1 run, -1 abort */
  atomic_int abort;

  uint64_t ops;
  int64_t t_begin, t_end;
  int failed;
  char err[200];
};

static int failf(struct flight *f, const char *what, int rc)
{
  if (!f->failed)
    snprintf(f->err, sizeof(f->err), "%s: %s", what, shmipc_strerror(rc));
  f->failed = 1;
  return -1;
}

/* Acquire a slot and publish the next call on it as slot number @p i. */
static int launch(struct flight *f, unsigned i)
{
  shmipc_slot *s;
  unsigned char *out = f->out + (size_t)i * f->len;
  int rc = shmipc_slot_acquire(f->h, CALL_TIMEOUT_NS, &s);
  if (rc != 0)
    return failf(f, "shmipc_slot_acquire", rc);
  /* A per-call stamp in the first bytes and the last byte, as the
   * driver's (driver.c); the whole request is checked in the answer. */
  uint64_t seq = ++f->seq;
  memcpy(out, &seq, f->len < sizeof(seq) ? f->len : sizeof(seq));
  out[f->len - 1] = (unsigned char)seq;
  memcpy(shmipc_slot_req_buf(s), out, f->len);
  f->ring[i] = f->ring[f->k + i] = s;
  f->busy[i] = 1;
  f->t_pub[i] = bench_now_ns();
  rc = shmipc_slot_publish(s, REQ_TYPE, f->len, 0);
  if (rc != 0) {
    shmipc_slot_release(s);
    f->busy[i] = 0;
    return failf(f, "shmipc_slot_publish", rc);
  }
  return 0;
}

/* The call on slot @p i ended with @p rc (from the wait @p what) at
 * @p t_seen: check the answer, release the slot. Returns the call's time,
 * or -1. */
static int64_t finish(struct flight *f, unsigned i, int rc, const char *what,
                      int64_t t_seen)
{
  shmipc_slot *s = f->ring[i];
  const unsigned char *out = f->out + (size_t)i * f->len;
  size_t n = rc == 0 ? shmipc_slot_resp_size(s) : 0;
  uint32_t type = rc == 0 ? shmipc_slot_resp_type(s) : 0;
  const void *resp = rc == 0 ? shmipc_slot_resp_data(s) : NULL;
  int ok = rc == 0 && n == f->len && type == REQ_TYPE && resp &&
           memcmp(resp, out, f->len) == 0;
  shmipc_slot_release(s);
  f->busy[i] = 0;
  if (rc != 0)
    return failf(f, what, rc);
  if (!ok) {
    if (!f->failed)
      snprintf(f->err, sizeof(f->err),
               "answer on slot %u: %zu bytes, type %u, %s (sent %zu, type %u)",
               i, n, type, n == f->len ? "other bytes" : "other length", f->len,
               REQ_TYPE);
    f->failed = 1;
    return -1;
  }
  return t_seen - f->t_pub[i];
}

/* The first call of the k to end, by shmipc_slot_poll() in a busy loop
 * over the slots from f->next on: its slot into @p *w (k when none ended
 * within the call timeout) and its result. A yield every POLL_YIELD_EVERY
 * passes, as the spin-yield baseline's: the kernel often queues the guest
 * thread that a publish woke on this thread's CPU, which a loop without
 * one would hold until the scheduler's tick. */
static int poll_any(struct flight *f, size_t *w)
{
  int64_t until = bench_now_ns() + CALL_TIMEOUT_NS;
  for (uint64_t n = 1;; n++) {
    for (unsigned j = 0; j < f->k; j++) {
      int rc = shmipc_slot_poll(f->ring[f->next + j]);
      if (rc != 0) {
        *w = j;
        return rc == 1 ? 0 : rc;
      }
    }
    if (n % POLL_YIELD_EVERY != 0) {
      bench_cpu_relax();
      continue;
    }
    sched_yield();
    if (bench_now_ns() > until) {
      *w = f->k;
      return SHMIPC_E_TIMEOUT;
    }
  }
}

/* Wait for the first call of the k to end and finish it; its slot number
 * into @p *slot, its time into @p *dt. Returns 0 or -1. */
static int next_answer(struct flight *f, unsigned *slot, int64_t *dt)
{
  size_t w = f->k;
  const char *what =
      f->d->params->inflight_poll ? "shmipc_slot_poll" : "shmipc_slot_wait_any";
  int rc =
      f->d->params->inflight_poll
          ? poll_any(f, &w)
          : shmipc_slot_wait_any(&f->ring[f->next], f->k, CALL_TIMEOUT_NS, &w);
  int64_t t = bench_now_ns();
  if (w >= f->k)
    return failf(f, what, rc); /* every call in flight */
  unsigned i = (f->next + (unsigned)w) % f->k;
  *dt = finish(f, i, rc, what, t);
  if (*dt < 0)
    return -1;
  f->next = (i + 1) % f->k;
  *slot = i;
  return 0;
}

/* Wait for every call still in flight (uncounted) and release its slot. */
static int drain(struct flight *f)
{
  int rc = 0;
  for (unsigned i = 0; i < f->k; i++) {
    if (!f->busy[i])
      continue;
    int e = shmipc_slot_wait(f->ring[i], CALL_TIMEOUT_NS);
    if (finish(f, i, e, "shmipc_slot_wait", bench_now_ns()) < 0)
      rc = -1;
  }
  return rc;
}

/* Publish k calls. */
static int launch_all(struct flight *f)
{
  f->next = 0;
  for (unsigned i = 0; i < f->k; i++)
    if (launch(f, i) != 0)
      return -1;
  return 0;
}

static int aborted(struct flight *f)
{
  return atomic_load_explicit(&f->abort, memory_order_relaxed);
}

static int arrive(struct flight *f)
{
  pthread_mutex_lock(&f->mu);
  f->arrived = 1;
  pthread_cond_broadcast(&f->cv);
  while (f->go == 0)
    pthread_cond_wait(&f->cv, &f->mu);
  int go = f->go;
  pthread_mutex_unlock(&f->mu);
  return go;
}

static void *flight_main(void *arg)
{
  struct flight *f = arg;
  const struct bench_params *p = f->d->params;
  int cpu = p->pin ? bench_pin_cpu(p->pin, 0, 0) : -1;
  unsigned i;
  int64_t dt;

  if (cpu >= 0 && bench_pin_self(cpu) != 0) {
    snprintf(f->err, sizeof(f->err), "pin to CPU %d: %s", cpu, strerror(errno));
    f->failed = 1;
  }
  /* Warm-up, then every slot free again: the measured phase starts with
   * k fresh calls, none of which waited through the start line. */
  int64_t warm_end = bench_now_ns() + WARMUP_NS;
  if (!f->failed && launch_all(f) == 0) {
    for (int n = 0; n < WARMUP_OPS && !aborted(f); n++) {
      if (next_answer(f, &i, &dt) != 0 || launch(f, i) != 0)
        break;
      if (bench_now_ns() >= warm_end)
        break;
    }
  }
  /* Always at the start line: the main thread waits there. */
  int drained = drain(f) == 0;
  if (arrive(f) < 0 || !drained || f->failed)
    return NULL;

  int64_t t1 = bench_now_ns();
  int64_t end = t1 + (int64_t)(p->seconds * (double)BENCH_NS_PER_S);
  f->t_begin = t1;
  f->t_end = t1;
  if (launch_all(f) == 0) {
    while (!aborted(f)) {
      if (next_answer(f, &i, &dt) != 0)
        break;
      hist_record(f->hist, (uint64_t)dt);
      f->ops++;
      t1 = bench_now_ns();
      f->t_end = t1;
      if (t1 >= end || (p->max_ops && f->ops >= p->max_ops))
        break;
      if (launch(f, i) != 0)
        break;
    }
  }
  (void)drain(f);
  int on = cpu >= 0 ? sched_getcpu() : -1;
  if (cpu >= 0 && !f->failed && on != cpu) {
    snprintf(f->err, sizeof(f->err), "pinned to CPU %d, found on CPU %d", cpu,
             on);
    f->failed = 1;
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

/* The watchdog; on its verdict, end the thread's waits. */
static void tick(struct flight *f, struct bench_result *r, int64_t *abort_at)
{
  char err[200] = "";
  const struct bench_driver *d = f->d;
  if (d->watchdog && d->watchdog(d->ctx, err, sizeof(err)) != 0 &&
      !atomic_exchange(&f->abort, 1)) {
    *abort_at = bench_now_ns();
    (void)shmipc_host_abort(f->h);
    if (!r->error[0])
      snprintf(r->error, sizeof(r->error), "%s", err);
  }
  if (*abort_at && bench_now_ns() - *abort_at > ABORT_GRACE_NS) {
    fprintf(stderr,
            "shmipc-bench: the in-flight thread did not stop %d s after an "
            "abort (%s); giving up\n",
            (int)(ABORT_GRACE_NS / BENCH_NS_PER_S), r->error);
    _exit(3);
  }
}

int bench_inflight_drive(const struct bench_driver *d, shmipc_host *h,
                         struct bench_result *r)
{
  const struct bench_params *p = d->params;
  struct flight f = {.d = d, .h = h, .k = p->inflight, .len = p->payload};
  pthread_condattr_t ca;
  pthread_t thread;
  int64_t abort_at = 0;

  r->ops = 0;
  r->wall_s = 0;
  r->cpu_host_s = 0;
  r->steal_s = -1;
  if (f.k == 0 || f.len == 0) {
    snprintf(r->error, sizeof(r->error), "invalid in-flight parameters");
    return -1;
  }
  f.ring = calloc(2 * (size_t)f.k, sizeof(*f.ring));
  f.out = calloc(f.k, f.len);
  f.t_pub = calloc(f.k, sizeof(*f.t_pub));
  f.busy = calloc(f.k, 1);
  f.hist = hist_create();
  if (!f.ring || !f.out || !f.t_pub || !f.busy || !f.hist) {
    snprintf(r->error, sizeof(r->error), "out of memory");
    goto out;
  }
  /* The bytes after the stamp: the same pattern as the driver's. */
  for (unsigned i = 0; i < f.k; i++)
    for (size_t b = 0; b < f.len; b++)
      f.out[(size_t)i * f.len + b] = (unsigned char)(b * 131u + i);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&f.mu, NULL);
  pthread_cond_init(&f.cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&f.abort, 0);

  int e = pthread_create(&thread, NULL, flight_main, &f);
  if (e != 0) {
    snprintf(r->error, sizeof(r->error), "pthread_create: %s", strerror(e));
    goto out_sync;
  }
  /* Wait for the warm-up. */
  pthread_mutex_lock(&f.mu);
  while (!f.arrived) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t t = (int64_t)ts.tv_sec * BENCH_NS_PER_S + ts.tv_nsec + TICK_NS;
    ts.tv_sec = (time_t)(t / BENCH_NS_PER_S);
    ts.tv_nsec = (long)(t % BENCH_NS_PER_S);
    if (pthread_cond_timedwait(&f.cv, &f.mu, &ts) == ETIMEDOUT) {
      pthread_mutex_unlock(&f.mu);
      tick(&f, r, &abort_at);
      pthread_mutex_lock(&f.mu);
    }
  }
  int failed_warmup = f.failed || atomic_load(&f.abort);
  int64_t cpu0 = bench_process_cpu_ns();
  double steal0 = bench_steal_s();
  if (!failed_warmup && d->on_start)
    d->on_start(d->ctx);
  f.go = failed_warmup ? -1 : 1;
  pthread_cond_broadcast(&f.cv);
  pthread_mutex_unlock(&f.mu);

  for (;;) {
    struct timespec ts;
    abs_realtime(&ts, TICK_NS);
    e = pthread_timedjoin_np(thread, NULL, &ts);
    if (e == 0)
      break;
    if (e != ETIMEDOUT) {
      fprintf(stderr, "shmipc-bench: pthread_timedjoin_np: %s\n", strerror(e));
      _exit(3);
    }
    tick(&f, r, &abort_at);
  }
  int64_t cpu1 = bench_process_cpu_ns();
  double steal1 = bench_steal_s();
  if (f.go > 0 && d->on_stop)
    d->on_stop(d->ctx);

  if (f.failed && !r->error[0])
    snprintf(r->error, sizeof(r->error), "in-flight thread: %s", f.err);
  r->ops = f.ops;
  if (f.ops)
    r->wall_s = (double)(f.t_end - f.t_begin) / (double)BENCH_NS_PER_S;
  r->cpu_host_s = (double)(cpu1 - cpu0) / (double)BENCH_NS_PER_S;
  r->steal_s = steal0 >= 0 && steal1 >= steal0 ? steal1 - steal0 : -1;
  hist_merge(r->hist, f.hist);
  if (!r->error[0] && (atomic_load(&f.abort) || f.go < 0))
    snprintf(r->error, sizeof(r->error), "run aborted");
out_sync:
  pthread_cond_destroy(&f.cv);
  pthread_mutex_destroy(&f.mu);
out:
  hist_destroy(f.hist);
  free(f.ring);
  free(f.out);
  free(f.t_pub);
  free(f.busy);
  return r->error[0] ? -1 : 0;
}
