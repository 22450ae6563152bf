/* SPDX-License-Identifier: MIT */
/*
 * The two-copy pipe (pipe.h). Why it is here: a large answer or a stream
 * copies every byte twice, the sender into a slot and the receiver out of
 * it, on two CPUs at once. On a machine whose memcpy is bound by one CPU's
 * memory traffic that can approach but not pass the single memcpy, and
 * how close it comes depends on the machine (the slot's lines move from
 * one CPU's cache to the other's). The pipe measures that bound in the
 * same run, so a transfer's ratio to memcpy can be read against it.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* shmipc__copy_streaming() */
#include "pipe.h"

#define PIPE_SPINS 256
#define PIPE_TIMEOUT_NS (10 * BENCH_NS_PER_S)

struct pipe {
  const unsigned char *src;
  unsigned char *ring;
  size_t bytes, chunk;
  uint64_t nslots;
  int producer_cpu;         /* -1: not pinned */
  _Atomic uint64_t filled;  /* chunks the producer has copied in */
  _Atomic uint64_t emptied; /* chunks the consumer has copied out */
  _Atomic int failed;       /* either side gave up */
};

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Wait until *w reaches at least @p want; 0, or -1 after PIPE_TIMEOUT_NS
 * or when the other side has failed. */
static int wait_at_least(struct pipe *pp, _Atomic uint64_t *w, uint64_t want)
{
  int64_t deadline = 0;
  for (unsigned spins = 0;; spins++) {
    /* acquire: pairs with the other side's release store of *w (filled
     * in producer(), emptied in pipe_once()): its copy of that chunk is
     * visible after this */
    if (atomic_load_explicit(w, memory_order_acquire) >= want)
      return 0;
    if (spins < PIPE_SPINS) {
      relax();
      continue;
    }
    if (atomic_load_explicit(&pp->failed, memory_order_relaxed))
      return -1;
    int64_t now = bench_now_ns();
    if (deadline == 0)
      deadline = now + PIPE_TIMEOUT_NS;
    else if (now > deadline) {
      atomic_store(&pp->failed, 1);
      return -1;
    }
    sched_yield();
  }
}

static size_t chunk_len(const struct pipe *pp, uint64_t i)
{
  size_t off = (size_t)i * pp->chunk;
  return pp->bytes - off < pp->chunk ? pp->bytes - off : pp->chunk;
}

static uint64_t chunks(const struct pipe *pp)
{
  return (pp->bytes + pp->chunk - 1) / pp->chunk;
}

static void *producer(void *arg)
{
  struct pipe *pp = arg;
  uint64_t n = chunks(pp);
  if (pp->producer_cpu >= 0 && bench_pin_self(pp->producer_cpu) != 0) {
    atomic_store(&pp->failed, 1);
    return NULL;
  }
  for (uint64_t i = 0; i < n; i++) {
    if (i >= pp->nslots && wait_at_least(pp, &pp->emptied, i - pp->nslots + 1))
      return NULL;
    memcpy(pp->ring + (i % pp->nslots) * pp->chunk, pp->src + i * pp->chunk,
           chunk_len(pp, i));
    /* release: the chunk's bytes before the count; pairs with the
     * consumer's acquire load in wait_at_least() */
    atomic_store_explicit(&pp->filled, i + 1, memory_order_release);
  }
  return NULL;
}

/* One transfer of pp->bytes into @p dst; 0, or -1 with a reason. */
static int pipe_once(struct pipe *pp, unsigned char *dst, char *err,
                     size_t errlen)
{
  pthread_t t;
  uint64_t n = chunks(pp);
  int e, rc = 0;

  atomic_store(&pp->filled, 0);
  atomic_store(&pp->emptied, 0);
  atomic_store(&pp->failed, 0);
  e = pthread_create(&t, NULL, producer, pp);
  if (e != 0) {
    snprintf(err, errlen, "pthread_create: %s", strerror(e));
    return -1;
  }
  for (uint64_t i = 0; i < n; i++) {
    if (wait_at_least(pp, &pp->filled, i + 1) != 0) {
      rc = -1;
      break;
    }
    shmipc__copy_streaming(dst + i * pp->chunk,
                           pp->ring + (i % pp->nslots) * pp->chunk,
                           chunk_len(pp, i));
    /* release: our reads of the slot before the producer may overwrite
     * it; pairs with its acquire load in wait_at_least() (the streaming
     * stores were fenced by shmipc__copy_streaming()) */
    atomic_store_explicit(&pp->emptied, i + 1, memory_order_release);
  }
  if (rc != 0)
    atomic_store(&pp->failed, 1);
  pthread_join(t, NULL);
  if (rc != 0 || atomic_load(&pp->failed) || atomic_load(&pp->filled) != n)
    rc = -1;
  if (rc != 0)
    snprintf(err, errlen,
             "a side of the pipe waited %d s or could not be "
             "pinned",
             (int)(PIPE_TIMEOUT_NS / BENCH_NS_PER_S));
  return rc;
}

int bench_pipe_run(const struct stream_params *p, struct stream_result *out,
                   char *err, size_t errlen)
{
  struct stream_reps reps;
  struct pipe pp = {.bytes = p->bytes,
                    .chunk = p->slot_bytes,
                    .nslots = p->slots,
                    .producer_cpu = -1};
  unsigned char *src, *dst, *copy, *ring;
  struct caller_pin cpin = {.pinned = 0};
  int rc = -1;

  out->bps = out->memcpy_bps = out->ratio = NAN;
  if (p->reps == 0 || p->reps > STREAM_REPS_MAX || p->bytes == 0 ||
      p->slots == 0 || p->slot_bytes == 0) {
    snprintf(err, errlen, "invalid pipe parameters");
    return -1;
  }
  src = malloc(p->bytes);
  dst = malloc(p->bytes);
  copy = malloc(p->bytes);
  ring = aligned_alloc(4096, ((size_t)p->slots * p->slot_bytes + 4095) &
                                 ~(size_t)4095);
  if (src == NULL || dst == NULL || copy == NULL || ring == NULL) {
    snprintf(err, errlen, "cannot allocate 3 x %zu bytes", p->bytes);
    goto out;
  }
  /* Every page touched: the transfers and the memcpy measure copying. */
  memset(src, 1, p->bytes);
  memset(dst, 0, p->bytes);
  memset(copy, 0, p->bytes);
  memset(ring, 0, (size_t)p->slots * p->slot_bytes);
  pp.src = src;
  pp.ring = ring;
  if (caller_pin(&cpin, p->pin, err, errlen) != 0)
    goto out;
  if (p->pin)
    pp.producer_cpu = bench_pin_cpu(p->pin, 0, 1);
  if (pipe_once(&pp, dst, err, errlen) != 0) /* warm-up, not timed */
    goto out;
  for (unsigned k = 0; k < p->reps; k++) {
    stream_reps_memcpy(&reps, k, copy, src, p->bytes);
    int64_t t0 = bench_now_ns();
    if (pipe_once(&pp, dst, err, errlen) != 0)
      goto out;
    stream_reps_took(&reps, k, p->bytes, bench_now_ns() - t0);
    if (copy[(k * 4099u) % p->bytes] != 1 || dst[(k * 4099u) % p->bytes] != 1)
      abort(); /* keeps the copies from being optimised away */
  }
  stream_reps_result(&reps, p->reps, out);
  rc = 0;
out:
  rc = caller_unpin(&cpin, rc, err, errlen);
  free(src);
  free(dst);
  free(copy);
  free(ring);
  return rc;
}
