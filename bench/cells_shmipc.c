/* SPDX-License-Identifier: MIT */
/* The library's cells: host in this process, echo guest in another. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cells_shmipc.h"
#include "cells_inflight.h"
#include "median.h"

#include <shmipc/shmipc.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAPACITY (64u * 1024u)
#define CALL_TIMEOUT_NS (5 * BENCH_NS_PER_S)
#define ATTACH_TIMEOUT_NS (5 * BENCH_NS_PER_S)
#define ATTACH_SLICE_NS (100 * INT64_C(1000000))
#define REAP_TIMEOUT_NS (5 * BENCH_NS_PER_S)
#define DEADLINE_GRACE_NS (15 * BENCH_NS_PER_S)
/* An application type: the echo guest returns it unchanged. */
#define REQ_TYPE SHMIPC_MSG_APP_START

/* The segment file of the running cell (docs/PROTOCOL.md: /dev/shm/shmipc-N),
 * removed by the signal handler if the bench is interrupted mid-cell. */
static char segment_path[128];
static volatile sig_atomic_t segment_live;

static void on_fatal_signal(int sig)
{
  if (segment_live)
    unlink(segment_path); /* async-signal-safe */
  signal(sig, SIG_DFL);
  raise(sig);
}

void shmipc_bench_install_cleanup(void)
{
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
    struct sigaction old, sa = {.sa_handler = on_fatal_signal};
    sigemptyset(&sa.sa_mask);
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
      sigaction(sigs[i], &sa, NULL);
  }
}

struct lib {
  shmipc_host *h;
  pid_t guest;
  int reaped;
  int status;
  int64_t guest_cpu0, guest_cpu1;
  int64_t deadline_ns;
  char name[80];
};

static int op(void *ctx, unsigned tid, const void *out, void *in, size_t len,
              char *err, size_t errlen)
{
  struct lib *l = ctx;
  shmipc_slot *s;
  (void)tid;
  int rc = shmipc_slot_acquire(l->h, CALL_TIMEOUT_NS, &s);
  if (rc != 0) {
    snprintf(err, errlen, "shmipc_slot_acquire: %s", shmipc_strerror(rc));
    return -1;
  }
  memcpy(shmipc_slot_req_buf(s), out, len);
  rc = shmipc_slot_send(s, REQ_TYPE, len, 0, CALL_TIMEOUT_NS);
  if (rc != 0) {
    snprintf(err, errlen, "shmipc_slot_send: %s", shmipc_strerror(rc));
    shmipc_slot_release(s);
    return -1;
  }
  size_t n = shmipc_slot_resp_size(s);
  uint32_t type = shmipc_slot_resp_type(s);
  const void *resp = shmipc_slot_resp_data(s);
  if (n != len || type != REQ_TYPE || !resp) {
    snprintf(err, errlen, "response of %zu bytes, type %u (sent %zu, type %u)",
             n, type, len, REQ_TYPE);
    shmipc_slot_release(s);
    return -1;
  }
  memcpy(in, resp, len);
  shmipc_slot_release(s);
  return 0;
}

static void on_start(void *ctx)
{
  struct lib *l = ctx;
  l->guest_cpu0 = bench_pid_cpu_ns(l->guest);
}

static void on_stop(void *ctx)
{
  struct lib *l = ctx;
  l->guest_cpu1 = bench_pid_cpu_ns(l->guest);
}

static int guest_exited(struct lib *l)
{
  if (!l->reaped && waitpid(l->guest, &l->status, WNOHANG) == l->guest)
    l->reaped = 1;
  return l->reaped;
}

static int watchdog(void *ctx, char *err, size_t errlen)
{
  struct lib *l = ctx;
  char st[64];
  if (guest_exited(l)) {
    bench_describe_status(l->status, st, sizeof(st));
    snprintf(err, errlen, "guest exited during the run (%s)", st);
    return 1;
  }
  if (bench_now_ns() > l->deadline_ns) {
    /* The library notices the dead peer and ends the pending calls. */
    kill(l->guest, SIGKILL);
    snprintf(err, errlen, "run passed its hard deadline; guest killed");
    return 1;
  }
  return 0;
}

/* Guest-call handler of the listener that runs in the idle cell. */
static int echo_handler(void *user, uint32_t type, const void *req,
                        size_t req_len, void *resp, size_t resp_cap,
                        size_t *resp_len, uint32_t *resp_type)
{
  (void)user;
  (void)type;
  (void)resp_type;
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  return 0;
}

/* Start the guest; with @p pin (else NULL), on the server CPUs of pairs
 * 0..@p threads-1 from before its first instruction, so every thread it
 * starts inherits them. */
static int spawn_guest(struct lib *l, const char *path,
                       const struct bench_pin *pin, unsigned threads, char *err,
                       size_t errlen)
{
  char msg[512];
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0) {
    snprintf(err, errlen, "open /dev/null: %s", strerror(errno));
    return -1;
  }
  /* Formatted before fork(): the child only makes async-signal-safe calls. */
  int msglen =
      snprintf(msg, sizeof(msg), "shmipc-bench: cannot exec %s\n", path);
  if (msglen < 0 || (size_t)msglen >= sizeof(msg))
    msglen = (int)strlen(msg);
  char *argv[] = {(char *)path, "-name", l->name, NULL};
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    close(devnull);
    return -1;
  }
  if (pid == 0) {
    if (bench_child_die_with_parent(parent) != 0)
      _exit(126);
    if (pin && bench_pin_self_servers(pin, threads) != 0) {
      static const char pin_msg[] = "shmipc-bench: cannot pin the guest\n";
      if (write(STDERR_FILENO, pin_msg, sizeof(pin_msg) - 1) < 0) {
        /* nothing more to do */
      }
      _exit(126);
    }
    /* The guest prints "ready" on stdout, which belongs to the report. */
    if (dup2(devnull, STDOUT_FILENO) < 0)
      _exit(126);
    execv(path, argv);
    if (write(STDERR_FILENO, msg, (size_t)msglen) < 0) {
      /* nothing more to do */
    }
    _exit(127);
  }
  close(devnull);
  l->guest = pid;
  return 0;
}

static int wait_attached(struct lib *l, char *err, size_t errlen)
{
  int64_t until = bench_now_ns() + ATTACH_TIMEOUT_NS;
  for (;;) {
    int rc = shmipc_host_wait_guest(l->h, ATTACH_SLICE_NS);
    if (rc == 0)
      return 0;
    if (rc != SHMIPC_E_TIMEOUT) {
      snprintf(err, errlen, "shmipc_host_wait_guest: %s", shmipc_strerror(rc));
      return -1;
    }
    if (guest_exited(l)) {
      char st[64];
      bench_describe_status(l->status, st, sizeof(st));
      snprintf(err, errlen, "guest exited before attaching (%s)", st);
      return -1;
    }
    if (bench_now_ns() > until) {
      snprintf(err, errlen, "guest did not attach within %d s",
               (int)(ATTACH_TIMEOUT_NS / BENCH_NS_PER_S));
      return -1;
    }
  }
}

/* Inherited from the exec already; this checks that every thread of the
 * guest holds its CPUs (and moves one the guest may have moved itself). */
static int pin_guest(struct lib *l, const struct bench_pin *pin,
                     unsigned threads, char *err, size_t errlen)
{
  int k = bench_pin_process_servers(l->guest, pin, threads, err, errlen);
  if (k == 0)
    snprintf(err, errlen, "pin: the guest has no threads");
  return k > 0 ? 0 : -1;
}

static void measure_idle(struct lib *l, double seconds, struct bench_result *r)
{
  int64_t h0 = bench_process_cpu_ns(), g0 = bench_pid_cpu_ns(l->guest);
  int64_t t0 = bench_now_ns();
  bench_sleep_ns((int64_t)(seconds * (double)BENCH_NS_PER_S));
  int64_t h1 = bench_process_cpu_ns(), g1 = bench_pid_cpu_ns(l->guest);
  double wall = (double)(bench_now_ns() - t0);
  r->idle_cpu_host_pct = 100.0 * (double)(h1 - h0) / wall;
  r->idle_cpu_guest_pct =
      (g0 >= 0 && g1 >= 0) ? 100.0 * (double)(g1 - g0) / wall : -1.0;
}

int shmipc_cell_run(const char *guest_path, const struct bench_params *p,
                    struct bench_result *r)
{
  static unsigned counter;
  struct lib l = {.guest = -1, .guest_cpu0 = -1, .guest_cpu1 = -1};
  int rc = -1, listening = 0;
  /* Host slots, and the pairs whose server CPUs the guest runs on: one
   * per thread, or with calls in flight one per call (the guest then has
   * the CPUs it has in the cell of as many threads). */
  unsigned slots = p->inflight ? p->inflight : p->threads;

  r->cpu_guest_s = -1; /* unknown until both /proc reads worked */
  r->idle_cpu_host_pct = r->idle_cpu_guest_pct = -1;
  if (p->threads == 0 || p->threads > 1024 || p->payload == 0 ||
      p->payload > CAPACITY || p->inflight > 1024 ||
      (p->inflight && (p->threads != 1 || p->idle_seconds > 0))) {
    snprintf(r->error, sizeof(r->error), "invalid cell parameters");
    return -1;
  }
  snprintf(l.name, sizeof(l.name), "bench-%ld-%u", (long)getpid(), counter++);

  shmipc_host_config cfg;
  shmipc_host_config_init(&cfg);
  cfg.name = l.name;
  cfg.host_slots = slots;
  cfg.guest_slots = 1;
  cfg.req_capacity = CAPACITY;
  cfg.resp_capacity = CAPACITY;
  snprintf(segment_path, sizeof(segment_path), "/dev/shm/shmipc-%s", l.name);
  int e = shmipc_host_create(&cfg, &l.h);
  if (e != 0) {
    snprintf(r->error, sizeof(r->error), "shmipc_host_create(%s): %s", l.name,
             shmipc_strerror(e));
    return -1;
  }
  segment_live = 1;
  if (shmipc_host_req_capacity(l.h) < p->payload ||
      shmipc_host_resp_capacity(l.h) < p->payload) {
    snprintf(r->error, sizeof(r->error),
             "slot capacities %zu/%zu below the payload %zu",
             shmipc_host_req_capacity(l.h), shmipc_host_resp_capacity(l.h),
             p->payload);
    goto err_host;
  }
  if (spawn_guest(&l, guest_path, p->pin, slots, r->error, sizeof(r->error)) !=
      0)
    goto err_host;
  if (wait_attached(&l, r->error, sizeof(r->error)) != 0)
    goto err_guest;
  if (p->pin && pin_guest(&l, p->pin, slots, r->error, sizeof(r->error)) != 0)
    goto err_guest;
  if (p->idle_seconds > 0) {
    e = shmipc_host_listen_start(l.h, echo_handler, NULL);
    if (e != 0) {
      snprintf(r->error, sizeof(r->error), "shmipc_host_listen_start: %s",
               shmipc_strerror(e));
      goto err_guest;
    }
    listening = 1;
  }

  int64_t expected = (int64_t)(p->seconds * (double)BENCH_NS_PER_S);
  if (p->interval_ns > 0)
    expected = (int64_t)p->max_ops * (p->interval_ns + 10000000);
  l.deadline_ns = bench_now_ns() + expected + DEADLINE_GRACE_NS;
  struct bench_driver d = {.params = p,
                           .op = op,
                           .ctx = &l,
                           .on_start = on_start,
                           .on_stop = on_stop,
                           .watchdog = watchdog};
  rc = p->inflight ? bench_inflight_drive(&d, l.h, r) : bench_drive(&d, r);
  if (l.guest_cpu0 >= 0 && l.guest_cpu1 >= 0)
    r->cpu_guest_s =
        (double)(l.guest_cpu1 - l.guest_cpu0) / (double)BENCH_NS_PER_S;
  if (rc == 0 && p->idle_seconds > 0)
    measure_idle(&l, p->idle_seconds, r);

err_guest:
  if (listening) {
    e = shmipc_host_listen_stop(l.h);
    if (e != 0 && rc == 0) {
      snprintf(r->error, sizeof(r->error), "shmipc_host_listen_stop: %s",
               shmipc_strerror(e));
      rc = -1;
    }
  }
  /* The guest exits by itself once the host closes the session. */
  shmipc_host_destroy(l.h);
  segment_live = 0;
  l.h = NULL;
  if (!l.reaped) {
    int k = bench_reap_child(l.guest, REAP_TIMEOUT_NS, &l.status);
    if (k != 0) {
      if (rc == 0)
        snprintf(r->error, sizeof(r->error),
                 k > 0 ? "guest did not exit within %d s of host destroy; "
                         "killed"
                       : "waitpid on the guest failed",
                 (int)(REAP_TIMEOUT_NS / BENCH_NS_PER_S));
      rc = -1;
    }
    l.reaped = 1;
  }
  if (rc == 0 && !(WIFEXITED(l.status) && WEXITSTATUS(l.status) == 0)) {
    char st[64];
    bench_describe_status(l.status, st, sizeof(st));
    snprintf(r->error, sizeof(r->error), "guest ended with %s", st);
    rc = -1;
  }
  return rc;

err_host:
  shmipc_host_destroy(l.h);
  segment_live = 0;
  return -1;
}

void shmipc_bench_version(char *buf, size_t len)
{
  uint32_t v = shmipc_version();
  snprintf(buf, len, "runtime %u.%u.%u, headers %d.%d.%d", v >> 16,
           (v >> 8) & 0xffu, v & 0xffu, SHMIPC_VERSION_MAJOR,
           SHMIPC_VERSION_MINOR, SHMIPC_VERSION_PATCH);
}

int caller_pin(struct caller_pin *cp, const struct bench_pin *pin, char *err,
               size_t errlen)
{
  cp->pinned = 0;
  if (pin == NULL)
    return 0;
  if (sched_getaffinity(0, sizeof(cp->cpus), &cp->cpus) != 0 ||
      bench_pin_self(bench_pin_cpu(pin, 0, 0)) != 0) {
    snprintf(err, errlen, "pin: %s", strerror(errno));
    return -1;
  }
  cp->pinned = 1;
  return 0;
}

int caller_unpin(const struct caller_pin *cp, int rc, char *err, size_t errlen)
{
  if (cp->pinned && sched_setaffinity(0, sizeof(cp->cpus), &cp->cpus) != 0 &&
      rc == 0) {
    snprintf(err, errlen, "pin: cannot restore the CPUs: %s", strerror(errno));
    rc = -1;
  }
  return rc;
}

void stream_reps_memcpy(struct stream_reps *r, unsigned k, void *dst,
                        const void *src, size_t bytes)
{
  int64_t m0 = bench_now_ns();
  memcpy(dst, src, bytes);
  r->mrate[k] =
      (double)bytes * (double)BENCH_NS_PER_S / (double)(bench_now_ns() - m0);
}

void stream_reps_took(struct stream_reps *r, unsigned k, size_t bytes,
                      int64_t ns)
{
  r->rate[k] = (double)bytes * (double)BENCH_NS_PER_S / (double)ns;
  r->ratio[k] = r->rate[k] / r->mrate[k];
}

void stream_reps_result(const struct stream_reps *r, unsigned n,
                        struct stream_result *out)
{
  out->bps = bench_median(r->rate, n);
  out->memcpy_bps = bench_median(r->mrate, n);
  out->ratio = bench_median(r->ratio, n);
}

int shmipc_stream_cell_run(const char *guest_path,
                           const struct stream_params *p,
                           struct stream_result *out, char *err, size_t errlen)
{
  static unsigned counter;
  struct lib l = {.guest = -1, .guest_cpu0 = -1, .guest_cpu1 = -1};
  shmipc_stream_sender *snd = NULL;
  shmipc_stream_config scfg;
  shmipc_host_config cfg;
  shmipc_stream_result res = {.struct_size = sizeof res};
  struct stream_reps reps;
  unsigned char *data, *copy;
  struct caller_pin cpin = {.pinned = 0};
  int rc = -1, e;

  out->bps = out->memcpy_bps = out->ratio = NAN;
  if (p->reps == 0 || p->reps > STREAM_REPS_MAX) {
    snprintf(err, errlen, "invalid stream parameters");
    return -1;
  }
  data = malloc(p->bytes);
  copy = malloc(p->bytes);
  if (data == NULL || copy == NULL) {
    snprintf(err, errlen, "cannot allocate 2 x %zu bytes", p->bytes);
    free(data);
    free(copy);
    return -1;
  }
  /* Touch every page: the sends and the paired memcpy measure copying,
   * not this process's page faults. */
  for (size_t i = 0; i < p->bytes; i++)
    data[i] = (unsigned char)(i * 131 + 7);
  memset(copy, 0, p->bytes);
  snprintf(l.name, sizeof(l.name), "bench-s-%ld-%u", (long)getpid(), counter++);
  shmipc_host_config_init(&cfg);
  cfg.name = l.name;
  cfg.host_slots = p->slots;
  cfg.req_capacity = p->slot_bytes;
  cfg.resp_capacity = 4096;
  snprintf(segment_path, sizeof(segment_path), "/dev/shm/shmipc-%s", l.name);
  e = shmipc_host_create(&cfg, &l.h);
  if (e != 0) {
    snprintf(err, errlen, "shmipc_host_create: %s", shmipc_strerror(e));
    free(data);
    return -1;
  }
  segment_live = 1;
  if (spawn_guest(&l, guest_path, p->pin, 1, err, errlen) != 0)
    goto out;
  if (wait_attached(&l, err, errlen) != 0)
    goto out;
  /* The caller is this (main) thread, pair 0's client, until the end; the
   * guest on pair 0's server CPU. */
  if (caller_pin(&cpin, p->pin, err, errlen) != 0 ||
      (p->pin && pin_guest(&l, p->pin, 1, err, errlen) != 0))
    goto out;
  shmipc_stream_config_init(&scfg);
  scfg.depth = p->depth;
  e = shmipc_stream_sender_create(l.h, &scfg, &snd);
  if (e != 0) {
    snprintf(err, errlen, "shmipc_stream_sender_create: %s",
             shmipc_strerror(e));
    goto out;
  }
  for (unsigned k = 0; k < p->reps; k++) {
    /* The baseline right before each stream: the hypervisor's phase
     * changes every few seconds, so only a ratio taken in the same moment
     * means something. */
    stream_reps_memcpy(&reps, k, copy, data, p->bytes);
    int64_t t0 = bench_now_ns();
    e = shmipc_stream_send(snd, STREAM_APP_NO_DIGEST, data, p->bytes,
                           60 * BENCH_NS_PER_S, &res);
    int64_t t1 = bench_now_ns();
    if (e != 0) {
      snprintf(err, errlen, "shmipc_stream_send: %s (reason %s, chunk %llu)",
               shmipc_strerror(e), shmipc_stream_reason_name(res.reason),
               (unsigned long long)res.failed_chunk);
      goto out;
    }
    stream_reps_took(&reps, k, p->bytes, t1 - t0);
    if (copy[(k * 4099u) % p->bytes] != data[(k * 4099u) % p->bytes])
      abort(); /* keeps the memcpy from being optimised away */
  }
  stream_reps_result(&reps, p->reps, out);
  rc = 0;
out:
  rc = caller_unpin(&cpin, rc, err, errlen);
  shmipc_stream_sender_destroy(snd);
  shmipc_host_destroy(l.h);
  segment_live = 0;
  if (l.guest > 0 && !l.reaped) {
    int k = bench_reap_child(l.guest, REAP_TIMEOUT_NS, &l.status);
    if (k != 0 && rc == 0) {
      snprintf(err, errlen, "guest did not exit after the host closed");
      rc = -1;
    }
  }
  free(data);
  free(copy);
  return rc;
}

static int no_digest(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  (void)user, (void)id, (void)app_type, (void)data, (void)len;
  return 0;
}

static int refuse_call(void *user, uint32_t type, const void *req,
                       size_t req_len, void *resp, size_t resp_cap,
                       size_t *resp_len, uint32_t *resp_type)
{
  (void)user, (void)type, (void)req, (void)req_len, (void)resp, (void)resp_cap,
      (void)resp_len, (void)resp_type;
  return -1;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

int shmipc_guest_stream_cell_run(const char *guest_path,
                                 const struct stream_params *p,
                                 struct stream_result *out, char *err,
                                 size_t errlen)
{
  static unsigned counter;
  struct lib l = {.guest = -1, .guest_cpu0 = -1, .guest_cpu1 = -1};
  shmipc_stream_limits lim;
  shmipc_reassembler *r = NULL;
  shmipc_host_config cfg;
  struct stream_reps reps;
  unsigned char *data, *copy, req[32] = {0}, resp[128];
  int rc = -1, e;

  out->bps = out->memcpy_bps = out->ratio = NAN;
  if (p->reps == 0 || p->reps > STREAM_REPS_MAX) {
    snprintf(err, errlen, "invalid stream parameters");
    return -1;
  }
  data = malloc(p->bytes);
  copy = malloc(p->bytes);
  if (data == NULL || copy == NULL) {
    snprintf(err, errlen, "cannot allocate 2 x %zu bytes", p->bytes);
    free(data);
    free(copy);
    return -1;
  }
  for (size_t i = 0; i < p->bytes; i++)
    data[i] = (unsigned char)(i * 131 + 7);
  memset(copy, 0, p->bytes);
  shmipc_stream_limits_init(&lim);
  if (lim.max_stream < p->bytes)
    lim.max_stream = lim.max_total = p->bytes;
  e = shmipc_reassembler_create(&lim, no_digest, NULL, refuse_call, NULL, &r);
  if (e != 0) {
    snprintf(err, errlen, "shmipc_reassembler_create: %s", shmipc_strerror(e));
    free(data);
    free(copy);
    return -1;
  }
  snprintf(l.name, sizeof(l.name), "bench-g-%ld-%u", (long)getpid(), counter++);
  shmipc_host_config_init(&cfg);
  cfg.name = l.name;
  cfg.host_slots = 1;
  cfg.guest_slots = p->slots;
  cfg.req_capacity = p->slot_bytes;
  cfg.resp_capacity = 4096;
  snprintf(segment_path, sizeof(segment_path), "/dev/shm/shmipc-%s", l.name);
  e = shmipc_host_create(&cfg, &l.h);
  if (e != 0) {
    snprintf(err, errlen, "shmipc_host_create: %s", shmipc_strerror(e));
    goto out_free;
  }
  segment_live = 1;
  if ((e = shmipc_host_stream_receiver(l.h, r)) != 0 ||
      (e = shmipc_host_listen_start(l.h, refuse_call, NULL)) != 0) {
    snprintf(err, errlen, "serving guest streams: %s", shmipc_strerror(e));
    goto out;
  }
  if (spawn_guest(&l, guest_path, p->pin, 1, err, errlen) != 0)
    goto out;
  if (wait_attached(&l, err, errlen) != 0)
    goto out;
  put_le(req, p->bytes, 8);
  put_le(req + 16, STREAM_APP_NO_DIGEST, 4);
  put_le(req + 20, 60000, 4);
  put_le(req + 24, p->depth, 4);
  for (unsigned k = 0; k < p->reps; k++) {
    size_t n = 0;
    uint32_t t = 0;
    stream_reps_memcpy(&reps, k, copy, data, p->bytes);
    put_le(req + 8, k, 8);
    e = shmipc_host_call(l.h, GUEST_STREAM_TYPE, req, sizeof req, resp,
                         sizeof resp, &n, &t, 120 * BENCH_NS_PER_S);
    if (e != 0 || n != 72 || (int32_t)get_le(resp, 4) != 0) {
      snprintf(err, errlen, "guest stream: %s",
               e != 0 ? shmipc_strerror(e)
                      : shmipc_strerror((int32_t)get_le(resp, 4)));
      goto out;
    }
    stream_reps_took(&reps, k, p->bytes, (int64_t)get_le(resp + 64, 8));
    if (copy[(k * 4099u) % p->bytes] != data[(k * 4099u) % p->bytes])
      abort(); /* keeps the memcpy from being optimised away */
  }
  stream_reps_result(&reps, p->reps, out);
  rc = 0;
out:
  (void)shmipc_host_listen_stop(l.h);
  shmipc_host_destroy(l.h);
  segment_live = 0;
  if (l.guest > 0 && !l.reaped) {
    int k = bench_reap_child(l.guest, REAP_TIMEOUT_NS, &l.status);
    if (k != 0 && rc == 0) {
      snprintf(err, errlen, "guest did not exit after the host closed");
      rc = -1;
    }
  }
out_free:
  shmipc_reassembler_destroy(r);
  free(data);
  free(copy);
  return rc;
}

int shmipc_answer_cell_run(const char *guest_path,
                           const struct stream_params *p,
                           struct stream_result *out, char *err, size_t errlen)
{
  static unsigned counter;
  struct lib l = {.guest = -1, .guest_cpu0 = -1, .guest_cpu1 = -1};
  shmipc_host_config cfg;
  struct stream_reps reps;
  unsigned char *data, *copy, *ans, req[8];
  struct caller_pin cpin = {.pinned = 0};
  size_t n = 0;
  int rc = -1, e;

  out->bps = out->memcpy_bps = out->ratio = NAN;
  if (p->reps == 0 || p->reps > STREAM_REPS_MAX) {
    snprintf(err, errlen, "invalid large-answer parameters");
    return -1;
  }
  data = malloc(p->bytes);
  copy = malloc(p->bytes);
  ans = malloc(p->bytes);
  if (data == NULL || copy == NULL || ans == NULL) {
    snprintf(err, errlen, "cannot allocate 3 x %zu bytes", p->bytes);
    free(data);
    free(copy);
    free(ans);
    return -1;
  }
  /* Every page touched: the calls and the memcpy measure copying. */
  memset(data, 1, p->bytes);
  memset(copy, 0, p->bytes);
  memset(ans, 0, p->bytes);
  for (int i = 0; i < 8; i++)
    req[i] = (unsigned char)((uint64_t)p->bytes >> (8 * i));
  snprintf(l.name, sizeof(l.name), "bench-a-%ld-%u", (long)getpid(), counter++);
  shmipc_host_config_init(&cfg);
  cfg.name = l.name;
  cfg.host_slots = p->slots;
  cfg.req_capacity = 4096;
  cfg.resp_capacity = p->slot_bytes;
  snprintf(segment_path, sizeof(segment_path), "/dev/shm/shmipc-%s", l.name);
  e = shmipc_host_create(&cfg, &l.h);
  if (e != 0) {
    snprintf(err, errlen, "shmipc_host_create: %s", shmipc_strerror(e));
    free(data);
    free(copy);
    free(ans);
    return -1;
  }
  segment_live = 1;
  if (spawn_guest(&l, guest_path, p->pin, 1, err, errlen) != 0)
    goto out;
  if (wait_attached(&l, err, errlen) != 0)
    goto out;
  /* The caller is this (main) thread, pair 0's client, until the end; the
   * guest on pair 0's server CPU. */
  if (caller_pin(&cpin, p->pin, err, errlen) != 0 ||
      (p->pin && pin_guest(&l, p->pin, 1, err, errlen) != 0))
    goto out;
  /* The guest makes its buffer on the first call: not timed. */
  e = shmipc_host_call(l.h, ANSWER_TYPE_STATIC, req, 8, ans, p->bytes, &n, NULL,
                       60 * BENCH_NS_PER_S);
  for (unsigned k = 0; e == 0 && k < p->reps; k++) {
    /* The baseline right before each call, as in the stream cell. */
    stream_reps_memcpy(&reps, k, copy, data, p->bytes);
    int64_t t0 = bench_now_ns();
    e = shmipc_host_call(l.h, ANSWER_TYPE_STATIC, req, 8, ans, p->bytes, &n,
                         NULL, 60 * BENCH_NS_PER_S);
    int64_t t1 = bench_now_ns();
    stream_reps_took(&reps, k, p->bytes, t1 - t0);
    if (copy[(k * 4099u) % p->bytes] != 1)
      abort(); /* keeps the memcpy from being optimised away */
  }
  if (e != 0 || n != p->bytes) {
    snprintf(err, errlen, "shmipc_host_call: %s (%zu bytes)",
             shmipc_last_error(), n);
    goto out;
  }
  stream_reps_result(&reps, p->reps, out);
  rc = 0;
out:
  rc = caller_unpin(&cpin, rc, err, errlen);
  shmipc_host_destroy(l.h);
  segment_live = 0;
  if (l.guest > 0 && !l.reaped) {
    int k = bench_reap_child(l.guest, REAP_TIMEOUT_NS, &l.status);
    if (k != 0 && rc == 0) {
      snprintf(err, errlen, "guest did not exit after the host closed");
      rc = -1;
    }
  }
  free(data);
  free(copy);
  free(ans);
  return rc;
}
