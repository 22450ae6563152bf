/* SPDX-License-Identifier: MIT */
/*
 * Two-process ping-pong baselines (see baselines.h).
 *
 * The baselines are not the library: they use C11 <stdatomic.h> directly.
 *
 * Shared-memory protocol (spin, spin-yield, futex), per pair:
 *   client: copy request into req buffer; store-release c2s = seq
 *           (futex: FUTEX_WAKE c2s); wait until load-acquire s2c == seq;
 *           copy response out of resp buffer.
 *   server: wait until load-acquire c2s != last; copy req buffer to resp
 *           buffer; store-release s2c = seq (futex: FUTEX_WAKE s2c).
 * Each store-release publishes the buffer written before it and pairs with
 * the other side's load-acquire of the same word, after which that side
 * reads the buffer. seq runs through 1..2^31-1; c2s = STOP_BIT ends the
 * server.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "baselines.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP_BIT 0x80000000u
#define SEQ_MASK 0x7fffffffu
#define CHECK_EVERY 1024u /* spins between abort/deadline checks */
#define YIELD_EVERY 100u  /* spin-yield: sched_yield() every this many spins */
#define SLICE_NS (100 * INT64_C(1000000)) /* longest single futex sleep */
#define READY_TIMEOUT_NS (5 * BENCH_NS_PER_S)
#define REAP_TIMEOUT_NS (5 * BENCH_NS_PER_S)
#define DEADLINE_GRACE_NS (10 * BENCH_NS_PER_S)

static const char *const names[BASELINE_COUNT] = {
    [BASELINE_SPIN] = "spin",   [BASELINE_SPIN_YIELD] = "spin-yield",
    [BASELINE_FUTEX] = "futex", [BASELINE_UNIX] = "unix",
    [BASELINE_PIPE] = "pipe",
};

const char *baseline_name(enum baseline_kind kind)
{
  return (unsigned)kind < BASELINE_COUNT ? names[kind] : "?";
}

int baseline_from_name(const char *name)
{
  for (int i = 0; i < BASELINE_COUNT; i++)
    if (strcmp(name, names[i]) == 0)
      return i;
  return -1;
}

/* Start of the shared region: written by both processes. */
struct shared_ctl {
  atomic_uint ready;         /* server threads running */
  atomic_uint phase;         /* futex word: 0 setup, 1 measuring, 2 done */
  atomic_uint abort;         /* either side gave up */
  atomic_uint child_err_set; /* child_err is written (first error wins) */
  int64_t deadline_ns;       /* CLOCK_MONOTONIC; no wait lasts past it */
  int64_t child_cpu_ns;      /* written by the child before it exits */
  char child_err[160];
};

/* One pair's words, each on its own cache line: c2s is only written by the
 * client, s2c only by the server. */
struct pair_words {
  _Alignas(64) atomic_uint c2s;
  _Alignas(64) atomic_uint s2c;
};

enum { FD_CLIENT_READ, FD_CLIENT_WRITE, FD_SERVER_READ, FD_SERVER_WRITE };

struct bl {
  enum baseline_kind kind;
  const struct bench_params *p;
  unsigned char *region;
  size_t region_len;
  struct shared_ctl *ctl;
  struct pair_words *words;
  size_t stride; /* bytes per buffer, rounded to 64 */
  size_t bufs_off;
  int (*fds)[4]; /* unix: the client's two entries are one socket */
  uint32_t *seq; /* per client, parent only */
  pid_t child;
  int reaped;
  int child_status;
};

static int is_shm(enum baseline_kind k) { return k <= BASELINE_FUTEX; }

static unsigned char *req_buf(struct bl *b, unsigned i)
{
  return b->region + b->bufs_off + (size_t)i * 2 * b->stride;
}

static unsigned char *resp_buf(struct bl *b, unsigned i)
{
  return req_buf(b, i) + b->stride;
}

static int give_up(struct bl *b)
{
  return atomic_load_explicit(&b->ctl->abort, memory_order_relaxed) ||
         bench_now_ns() > b->ctl->deadline_ns;
}

/* Wait until *w == want (want_eq) or *w != want (!want_eq); the value seen
 * goes to *seen. Returns 0, or -1 on abort/deadline. */
static int wait_word(struct bl *b, atomic_uint *w, uint32_t want, int want_eq,
                     uint32_t *seen)
{
  uint32_t v;
  if (b->kind == BASELINE_FUTEX) {
    for (;;) {
      /* acquire: pairs with the peer's store-release of this word */
      v = atomic_load_explicit(w, memory_order_acquire);
      if ((v == want) == want_eq)
        break;
      /* Always sleep: no spinning at all in this baseline. The kernel
       * re-checks *w == v, so a store between the load and the wait makes
       * it return at once (no lost wake-up). */
      if (bench_futex_wait(w, v, SLICE_NS) != 0 && errno == ETIMEDOUT &&
          give_up(b))
        return -1;
      if (atomic_load_explicit(&b->ctl->abort, memory_order_relaxed))
        return -1;
    }
  } else {
    int yield = b->kind == BASELINE_SPIN_YIELD;
    for (uint32_t n = 1;; n++) {
      v = atomic_load_explicit(w, memory_order_acquire); /* as above */
      if ((v == want) == want_eq)
        break;
      if (yield && n % YIELD_EVERY == 0)
        sched_yield();
      else
        bench_cpu_relax();
      if (n % CHECK_EVERY == 0 && give_up(b))
        return -1;
    }
  }
  *seen = v;
  return 0;
}

/* 1: got len bytes; 0: clean EOF before the first byte; -1: error. */
static int read_full(int fd, void *buf, size_t len)
{
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n > 0)
      got += (size_t)n;
    else if (n == 0)
      return got == 0 ? 0 : -1;
    else if (errno != EINTR)
      return -1;
  }
  return 1;
}

static int write_full(int fd, const void *buf, size_t len)
{
  size_t put = 0;
  while (put < len) {
    ssize_t n = write(fd, (const char *)buf + put, len - put);
    if (n > 0)
      put += (size_t)n;
    else if (n < 0 && errno != EINTR)
      return -1;
  }
  return 0;
}

/* ---- client side (parent) ---- */

static int client_op(void *ctx, unsigned tid, const void *out, void *in,
                     size_t len, char *err, size_t errlen)
{
  struct bl *b = ctx;
  if (is_shm(b->kind)) {
    struct pair_words *pw = &b->words[tid];
    uint32_t seq = b->seq[tid] = (b->seq[tid] & SEQ_MASK) % SEQ_MASK + 1;
    memcpy(req_buf(b, tid), out, len);
    /* release: publishes the request; pairs with the server's acquire */
    atomic_store_explicit(&pw->c2s, seq, memory_order_release);
    if (b->kind == BASELINE_FUTEX)
      bench_futex_wake(&pw->c2s, 1);
    uint32_t seen;
    if (wait_word(b, &pw->s2c, seq, 1, &seen) != 0) {
      snprintf(err, errlen, "no response (aborted or past the deadline)");
      return -1;
    }
    memcpy(in, resp_buf(b, tid), len);
    return 0;
  }
  if (write_full(b->fds[tid][FD_CLIENT_WRITE], out, len) != 0) {
    snprintf(err, errlen, "write: %s", strerror(errno));
    return -1;
  }
  int rc = read_full(b->fds[tid][FD_CLIENT_READ], in, len);
  if (rc != 1) {
    snprintf(err, errlen, "read: %s", rc == 0 ? "EOF" : strerror(errno));
    return -1;
  }
  return 0;
}

static void set_phase(struct bl *b, uint32_t phase)
{
  atomic_store_explicit(&b->ctl->phase, phase, memory_order_release);
  bench_futex_wake(&b->ctl->phase, 1);
}

static void on_start(void *ctx) { set_phase(ctx, 1); }

static void on_stop(void *ctx) { set_phase(ctx, 2); }

static int watchdog(void *ctx, char *err, size_t errlen)
{
  struct bl *b = ctx;
  struct shared_ctl *c = b->ctl;
  if (!b->reaped && waitpid(b->child, &b->child_status, WNOHANG) == b->child) {
    b->reaped = 1;
    char st[64];
    bench_describe_status(b->child_status, st, sizeof(st));
    snprintf(err, errlen, "server process ended early (%s)%s%s", st,
             atomic_load(&c->child_err_set) ? ": " : "",
             atomic_load(&c->child_err_set) ? c->child_err : "");
    atomic_store(&c->abort, 1);
    return 1;
  }
  if (atomic_load(&c->abort)) {
    snprintf(err, errlen, "server failed: %s",
             atomic_load(&c->child_err_set) ? c->child_err : "aborted");
  } else if (bench_now_ns() > c->deadline_ns) {
    snprintf(err, errlen, "run passed its hard deadline");
    atomic_store(&c->abort, 1);
  } else {
    return 0;
  }
  /* Killing the server ends the clients' blocking reads with EOF. */
  if (!b->reaped)
    kill(b->child, SIGKILL);
  return 1;
}

/* ---- server side (child) ---- */

struct server {
  struct bl *b;
  unsigned idx;
};

static void child_fail(struct bl *b, const char *fmt, unsigned idx,
                       const char *what)
{
  if (!atomic_exchange(&b->ctl->child_err_set, 1))
    snprintf(b->ctl->child_err, sizeof(b->ctl->child_err), fmt, idx, what);
  atomic_store(&b->ctl->abort, 1);
}

static void *server_main(void *arg)
{
  struct server *s = arg;
  struct bl *b = s->b;
  unsigned i = s->idx;
  size_t len = b->p->payload;
  if (b->p->pin && bench_pin_self(bench_pin_cpu(b->p->pin, i, 1)) != 0) {
    child_fail(b, "server %u: pin: %s", i, strerror(errno));
    return NULL;
  }
  atomic_fetch_add(&b->ctl->ready, 1);

  if (is_shm(b->kind)) {
    struct pair_words *pw = &b->words[i];
    uint32_t last = 0, v;
    for (;;) {
      if (wait_word(b, &pw->c2s, last, 0, &v) != 0) {
        if (!atomic_load(&b->ctl->abort)) /* else the parent gave up first */
          child_fail(b, "server %u: %s", i, "no request before the deadline");
        return NULL;
      }
      if (v & STOP_BIT)
        return NULL;
      memcpy(resp_buf(b, i), req_buf(b, i), len);
      /* release: publishes the response; pairs with the client's acquire */
      atomic_store_explicit(&pw->s2c, v, memory_order_release);
      if (b->kind == BASELINE_FUTEX)
        bench_futex_wake(&pw->s2c, 1);
      last = v;
    }
  }

  unsigned char *buf = malloc(len);
  if (!buf) {
    child_fail(b, "server %u: %s", i, "out of memory");
    return NULL;
  }
  for (;;) {
    int rc = read_full(b->fds[i][FD_SERVER_READ], buf, len);
    if (rc == 0)
      break; /* the client closed: done */
    if (rc < 0) {
      child_fail(b, "server %u: read: %s", i, strerror(errno));
      break;
    }
    if (write_full(b->fds[i][FD_SERVER_WRITE], buf, len) != 0) {
      child_fail(b, "server %u: write: %s", i, strerror(errno));
      break;
    }
  }
  free(buf);
  return NULL;
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* Close one side's descriptors of every pair (0: client, 2: server). */
static void close_side(struct bl *b, int side)
{
  if (!b->fds)
    return;
  for (unsigned i = 0; i < b->p->threads; i++) {
    int *f = b->fds[i];
    if (f[side] == f[side + 1]) /* unix: one socket for both directions */
      f[side + 1] = -1;
    close_fd(&f[side]);
    close_fd(&f[side + 1]);
  }
}

static void child_main(struct bl *b, pid_t parent)
{
  if (bench_child_die_with_parent(parent) != 0)
    _exit(3);
  close_side(b, FD_CLIENT_READ);
  unsigned n = b->p->threads;
  /* The main thread only waits: it stays on the servers' CPUs, and each
   * server thread moves to its own below. */
  if (b->p->pin && bench_pin_self_servers(b->p->pin, n) != 0) {
    child_fail(b, "server %u: pin: %s", 0, strerror(errno));
    _exit(1);
  }
  pthread_t *th = calloc(n, sizeof(*th));
  struct server *sv = calloc(n, sizeof(*sv));
  if (!th || !sv) {
    child_fail(b, "server %u: %s", 0, "out of memory");
    _exit(1);
  }
  unsigned created = 0;
  for (unsigned i = 0; i < n; i++) {
    sv[i].b = b;
    sv[i].idx = i;
    int e = pthread_create(&th[i], NULL, server_main, &sv[i]);
    if (e != 0) {
      child_fail(b, "server %u: pthread_create: %s", i, strerror(e));
      break;
    }
    created++;
  }

  /* Start the CPU clock when the parent starts measuring. */
  int64_t cpu0 = -1;
  for (;;) {
    uint32_t ph = atomic_load_explicit(&b->ctl->phase, memory_order_acquire);
    if (ph == 1)
      cpu0 = bench_process_cpu_ns();
    if (ph != 0 || give_up(b))
      break;
    bench_futex_wait(&b->ctl->phase, 0, SLICE_NS);
  }
  for (unsigned i = 0; i < created; i++)
    pthread_join(th[i], NULL);
  if (cpu0 >= 0)
    b->ctl->child_cpu_ns = bench_process_cpu_ns() - cpu0;
  _exit(atomic_load(&b->ctl->child_err_set) ? 1 : 0);
}

/* ---- one run ---- */

static int setup_fds(struct bl *b, char *err, size_t errlen)
{
  unsigned n = b->p->threads;
  b->fds = malloc(n * sizeof(*b->fds));
  if (!b->fds) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (unsigned i = 0; i < n; i++)
    for (int k = 0; k < 4; k++)
      b->fds[i][k] = -1;
  for (unsigned i = 0; i < n; i++) {
    int *f = b->fds[i];
    if (b->kind == BASELINE_UNIX) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        return -1;
      }
      f[FD_CLIENT_READ] = f[FD_CLIENT_WRITE] = sv[0];
      f[FD_SERVER_READ] = f[FD_SERVER_WRITE] = sv[1];
    } else {
      int c2s[2], s2c[2];
      if (pipe2(c2s, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe2: %s", strerror(errno));
        return -1;
      }
      if (pipe2(s2c, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe2: %s", strerror(errno));
        close(c2s[0]);
        close(c2s[1]);
        return -1;
      }
      f[FD_CLIENT_WRITE] = c2s[1];
      f[FD_SERVER_READ] = c2s[0];
      f[FD_SERVER_WRITE] = s2c[1];
      f[FD_CLIENT_READ] = s2c[0];
    }
  }
  return 0;
}

static int wait_ready(struct bl *b, char *err, size_t errlen)
{
  int64_t until = bench_now_ns() + READY_TIMEOUT_NS;
  while (atomic_load(&b->ctl->ready) < b->p->threads) {
    if (atomic_load(&b->ctl->abort)) {
      snprintf(err, errlen, "server failed to start: %s",
               atomic_load(&b->ctl->child_err_set) ? b->ctl->child_err : "?");
      return -1;
    }
    if (waitpid(b->child, &b->child_status, WNOHANG) == b->child) {
      char st[64];
      b->reaped = 1;
      bench_describe_status(b->child_status, st, sizeof(st));
      snprintf(err, errlen, "server process ended before it was ready (%s)",
               st);
      return -1;
    }
    if (bench_now_ns() > until) {
      snprintf(err, errlen, "server threads not ready after %d s",
               (int)(READY_TIMEOUT_NS / BENCH_NS_PER_S));
      return -1;
    }
    bench_sleep_ns(200000);
  }
  return 0;
}

int baseline_run(enum baseline_kind kind, const struct bench_params *p,
                 struct bench_result *r)
{
  struct bl b = {.kind = kind, .p = p, .child = -1};
  unsigned n = p->threads;
  int rc = -1;

  r->cpu_guest_s = 0;
  r->idle_cpu_host_pct = r->idle_cpu_guest_pct = -1;
  if ((unsigned)kind >= BASELINE_COUNT || n == 0 || p->payload == 0) {
    snprintf(r->error, sizeof(r->error), "invalid baseline parameters");
    return -1;
  }
  /* A dead server must turn into EPIPE, not kill the bench. */
  signal(SIGPIPE, SIG_IGN);

  b.stride = (p->payload + 63) & ~(size_t)63;
  size_t words_off = (sizeof(struct shared_ctl) + 63) & ~(size_t)63;
  b.bufs_off = words_off + n * sizeof(struct pair_words);
  b.region_len = b.bufs_off + (is_shm(kind) ? (size_t)n * 2 * b.stride : 0);
  /* Mapped before fork(): both processes see the same pages. */
  void *m = mmap(NULL, b.region_len, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    snprintf(r->error, sizeof(r->error), "mmap: %s", strerror(errno));
    return -1;
  }
  b.region = m;
  b.ctl = m;
  b.words = (struct pair_words *)(b.region + words_off);
  atomic_init(&b.ctl->ready, 0);
  atomic_init(&b.ctl->phase, 0);
  atomic_init(&b.ctl->abort, 0);
  atomic_init(&b.ctl->child_err_set, 0);
  for (unsigned i = 0; i < n; i++) {
    atomic_init(&b.words[i].c2s, 0);
    atomic_init(&b.words[i].s2c, 0);
  }
  int64_t expected = (int64_t)(p->seconds * (double)BENCH_NS_PER_S);
  if (p->interval_ns > 0)
    expected = (int64_t)p->max_ops * (p->interval_ns + 10000000);
  b.ctl->deadline_ns =
      bench_now_ns() + READY_TIMEOUT_NS + expected + DEADLINE_GRACE_NS;

  b.seq = calloc(n, sizeof(*b.seq));
  if (!b.seq) {
    snprintf(r->error, sizeof(r->error), "out of memory");
    goto err_unmap;
  }
  if (!is_shm(kind) && setup_fds(&b, r->error, sizeof(r->error)) != 0)
    goto err_fds;

  fflush(NULL); /* no buffered output duplicated into the child */
  pid_t parent = getpid();
  b.child = fork();
  if (b.child < 0) {
    snprintf(r->error, sizeof(r->error), "fork: %s", strerror(errno));
    goto err_fds;
  }
  if (b.child == 0)
    child_main(&b, parent); /* does not return */
  close_side(&b, FD_SERVER_READ);

  if (wait_ready(&b, r->error, sizeof(r->error)) == 0) {
    struct bench_driver d = {.params = p,
                             .op = client_op,
                             .ctx = &b,
                             .on_start = on_start,
                             .on_stop = on_stop,
                             .watchdog = watchdog};
    rc = bench_drive(&d, r);
  } else {
    atomic_store(&b.ctl->abort, 1);
  }

  /* Stop the servers: a STOP word, or EOF on their sockets/pipes. */
  for (unsigned i = 0; i < n; i++) {
    atomic_store_explicit(&b.words[i].c2s, STOP_BIT, memory_order_release);
    bench_futex_wake(&b.words[i].c2s, 1);
  }
  close_side(&b, FD_CLIENT_READ);
  set_phase(&b, 2);

  if (!b.reaped) {
    int k = bench_reap_child(b.child, REAP_TIMEOUT_NS, &b.child_status);
    if (k != 0 && !r->error[0]) {
      snprintf(r->error, sizeof(r->error),
               k > 0 ? "server process did not exit within %d s; killed"
                     : "waitpid failed (%d)",
               k > 0 ? (int)(REAP_TIMEOUT_NS / BENCH_NS_PER_S) : errno);
      rc = -1;
    }
  }
  if (rc == 0 &&
      !(WIFEXITED(b.child_status) && WEXITSTATUS(b.child_status) == 0)) {
    char st[64];
    bench_describe_status(b.child_status, st, sizeof(st));
    snprintf(r->error, sizeof(r->error), "server process: %s%s%s", st,
             atomic_load(&b.ctl->child_err_set) ? ": " : "",
             atomic_load(&b.ctl->child_err_set) ? b.ctl->child_err : "");
    rc = -1;
  }
  r->cpu_guest_s = (double)b.ctl->child_cpu_ns / (double)BENCH_NS_PER_S;

err_fds:
  if (b.fds) {
    close_side(&b, FD_CLIENT_READ);
    close_side(&b, FD_SERVER_READ);
    free(b.fds);
  }
  free(b.seq);
err_unmap:
  munmap(b.region, b.region_len);
  return rc;
}
