/* SPDX-License-Identifier: MIT */
/*
 * Streams from guest to host (docs/PROTOCOL.md, "Streams"): this C host's
 * receiver (shmipc_host_stream_receiver()) against a guest in another
 * process (the Go echo guest or the C one, given as argv[1]), which streams
 * on request (ECHO_GUEST.md, type 224) with its stream sender. The SHA-256
 * of every stream is compared on both ends, and received both by the
 * listener thread and by shmipc_host_serve().
 *
 * With "self" as argv[1] (Linux) this process is the C guest and a forked
 * child the host, which is killed mid-stream. SHMIPC_TEST_STREAM_MIB caps
 * the largest streams (Wine, sanitizers), as in test_interop.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include <cmocka.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "handlers.h"
#include "proc.h"
#include "sha256.h"
#include "strict.h"

#define MS INT64_C(1000000)
#define CAP (64u << 10)
#define CHUNK (CAP - 32u)
#define T_GUEST_STREAM 224u
#define APP_TYPE 777u

static const char *guest_path;

/* What the host's receiver got. */
static struct {
  pthread_mutex_t mu;
  uint64_t id, len, count;
  uint32_t app_type;
  unsigned char sha[32];
} got = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int on_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  struct sha256 c;

  (void)user;
  pthread_mutex_lock(&got.mu);
  got.id = id;
  got.len = len;
  got.app_type = app_type;
  got.count++;
  sha256_init(&c);
  sha256_update(&c, data, len);
  sha256_final(&c, got.sha);
  pthread_mutex_unlock(&got.mu);
  return 0;
}

struct session {
  char name[64];
  shmipc_host *h;
  shmipc_reassembler *r;
  struct proc guest;
  pthread_t server;
  int serving; /* a server thread runs shmipc_host_serve() */
  volatile int stop;
  int serve_pause_ms; /* the server's pause after each serve */
};

static void *server_main(void *arg)
{
  struct session *s = arg;

  while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
    int r = shmipc_host_serve(s->h, t_echo, NULL, 100 * MS);
    if (r < 0 && r != SHMIPC_E_TIMEOUT)
      break;
    if (s->serve_pause_ms > 0)
      t_sleep_ms(s->serve_pause_ms);
  }
  return NULL;
}

/* A host with a receiver of @lim (NULL: defaults), served by the listener
 * (@serve 0) or by a thread looping on shmipc_host_serve(), and the guest
 * attached. */
static void start(struct session *s, int serve, const shmipc_stream_limits *lim)
{
  static int n;
  shmipc_stream_limits def;
  shmipc_host_config c;
  const char *argv[] = {guest_path,    "-name", s->name,
                        "-timeout-ms", "10000", NULL};

  snprintf(s->name, sizeof s->name, "gstream-%u-%d", (unsigned)proc_self_id(),
           n++);
  if (lim == NULL) {
    shmipc_stream_limits_init(&def);
    lim = &def;
  }
  shmipc_host_config_init(&c);
  c.name = s->name;
  c.host_slots = 2;
  c.guest_slots = 4;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  assert_int_equal(shmipc_host_create(&c, &s->h), SHMIPC_OK);
  assert_int_equal(
      shmipc_reassembler_create(lim, on_stream, NULL, t_echo, NULL, &s->r),
      SHMIPC_OK);
  assert_int_equal(shmipc_host_stream_receiver(s->h, s->r), SHMIPC_OK);
  if (serve) {
    assert_int_equal(pthread_create(&s->server, NULL, server_main, s), 0);
    s->serving = 1;
  } else {
    assert_int_equal(shmipc_host_listen_start(s->h, t_echo, NULL), SHMIPC_OK);
  }
  if (proc_spawn(&s->guest, argv, 0) != 0)
    fail_msg("cannot start guest %s", guest_path);
  if (shmipc_host_wait_guest(s->h, 10000 * MS) != SHMIPC_OK)
    fail_msg("guest %s did not attach within 10 s", guest_path);
}

static void stop_serving(struct session *s)
{
  if (s->serving) {
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    pthread_join(s->server, NULL);
    s->serving = 0;
  } else {
    (void)shmipc_host_listen_stop(s->h);
  }
}

static void stop(struct session *s)
{
  struct proc_status st;

  stop_serving(s);
  shmipc_host_destroy(s->h);
  shmipc_reassembler_destroy(s->r);
  if (proc_wait(&s->guest, 5000, &st) != 0) {
    proc_kill(&s->guest);
    fail_msg("guest did not exit within 5 s of the host closing");
  }
}

static void put32(unsigned char *p, uint32_t v)
{
  int i;

  for (i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const unsigned char *p)
{
  uint64_t v = 0;
  int i;

  for (i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* The answer to T_GUEST_STREAM. */
struct outcome {
  int code;
  uint32_t reason;
  uint64_t id, failed_chunk, failed_offset;
  unsigned char sha[32];
  int64_t send_ns;
};

/* Ask the guest to stream @len bytes (seed @seed) within @timeout_ms. */
static void ask(struct session *s, uint64_t len, uint64_t seed,
                uint32_t timeout_ms, struct outcome *o)
{
  unsigned char req[32] = {0}, resp[128];
  size_t n = 0;
  uint32_t t = 0;
  int r;

  put64(req, len);
  put64(req + 8, seed);
  put32(req + 16, APP_TYPE);
  put32(req + 20, timeout_ms);
  r = shmipc_host_call(s->h, T_GUEST_STREAM, req, sizeof req, resp, sizeof resp,
                       &n, &t, (int64_t)(timeout_ms + 60000) * MS);
  if (r != SHMIPC_OK || n != 72 || t != T_GUEST_STREAM)
    fail_msg("guest stream request: %s (%zu bytes, type %u)",
             r != SHMIPC_OK ? shmipc_last_error() : "wrong answer", n, t);
  o->code = (int)(int32_t)(uint32_t)get64(resp);
  o->reason = (uint32_t)(get64(resp) >> 32);
  o->id = get64(resp + 8);
  o->failed_chunk = get64(resp + 16);
  o->failed_offset = get64(resp + 24);
  memcpy(o->sha, resp + 32, 32);
  o->send_ns = (int64_t)get64(resp + 64);
}

/* Stream @len bytes and check that the host got exactly those, once. */
static void stream_and_check(struct session *s, uint64_t len, uint64_t seed)
{
  struct outcome o;
  uint64_t before;

  pthread_mutex_lock(&got.mu);
  before = got.count;
  pthread_mutex_unlock(&got.mu);
  ask(s, len, seed, 120000, &o);
  if (o.code != SHMIPC_OK)
    fail_msg("stream of %llu bytes: %s (reason %s, chunk %llu)",
             (unsigned long long)len, shmipc_strerror(o.code),
             shmipc_stream_reason_name(o.reason),
             (unsigned long long)o.failed_chunk);
  pthread_mutex_lock(&got.mu);
  assert_int_equal(got.count, before + 1);
  assert_int_equal(got.id, o.id);
  assert_int_equal(got.len, len);
  assert_int_equal(got.app_type, APP_TYPE);
  if (memcmp(got.sha, o.sha, 32) != 0)
    fail_msg("stream of %llu bytes: the host's SHA-256 differs from the "
             "guest's",
             (unsigned long long)len);
  pthread_mutex_unlock(&got.mu);
  if (len >= (16u << 20))
    printf("guest stream: %llu MiB in %.0f ms (%.0f MB/s), SHA-256 equal\n",
           (unsigned long long)(len >> 20), t_ms(o.send_ns),
           (double)len / 1e6 / ((double)o.send_ns / 1e9));
}

/* The largest stream, in bytes: @mib MiB, or less under
 * SHMIPC_TEST_STREAM_MIB. */
static uint64_t capped(uint64_t mib)
{
  const char *env = getenv("SHMIPC_TEST_STREAM_MIB");
  uint64_t cap = env != NULL ? strtoull(env, NULL, 10) : 0;

  return (cap > 0 && cap < mib ? cap : mib) << 20;
}

static void sizes(int serve)
{
  const uint64_t lens[] = {
      0, 1, CHUNK - 1, CHUNK, CHUNK + 1, capped(17), capped(256),
  };
  struct session s = {0};
  shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;
  size_t i;

  start(&s, serve, NULL);
  for (i = 0; i < sizeof lens / sizeof lens[0]; i++)
    stream_and_check(&s, lens[i], 1000 + i);
  shmipc_reassembler_stats(s.r, &st);
  assert_int_equal(st.open, 0);
  assert_int_equal(st.held, 0);
  assert_int_equal(st.delivered, sizeof lens / sizeof lens[0]);
  stop(&s);
}

/* Sizes 0, 1, chunk - 1, chunk, chunk + 1, 17 MiB and 256 MiB. */
static void sizes_listener(void **state)
{
  (void)state;
  sizes(0);
}

static void sizes_serve(void **state)
{
  (void)state;
  sizes(1);
}

/* A guest killed mid-stream: the host drops its stream and frees the
 * buffer within a liveness interval or so (time measured). */
static void guest_killed(int serve)
{
  struct session s = {0};
  shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;
  unsigned char req[32] = {0};
  shmipc_slot *slot;
  int64_t deadline, killed, freed;

  start(&s, serve, NULL);
  /* The request from a slot of our own, so that this thread can watch the
   * receiver while the guest streams (the answer never comes). */
  put64(req, capped(256));
  put64(req + 8, 7);
  put32(req + 16, APP_TYPE);
  put32(req + 20, 60000);
  assert_int_equal(shmipc_slot_acquire(s.h, 1000 * MS, &slot), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(slot), req, sizeof req);
  assert_int_equal(shmipc_slot_publish(slot, T_GUEST_STREAM, sizeof req, 0),
                   SHMIPC_OK);
  deadline = t_now_ns() + 30000 * MS;
  do {
    shmipc_reassembler_stats(s.r, &st);
    if (st.open == 1 && st.held > 0)
      break;
    t_sleep_ns(100000);
  } while (t_now_ns() < deadline);
  if (st.open != 1)
    fail_msg("the guest's stream never opened");
  proc_kill(&s.guest);
  killed = t_now_ns();
  (void)proc_wait(&s.guest, 5000, NULL);
  do {
    shmipc_reassembler_stats(s.r, &st);
    if (st.open == 0 && st.held == 0 && st.cached == 0)
      break;
    t_sleep_ns(100000);
  } while (t_now_ns() < killed + 5000 * MS);
  freed = t_now_ns();
  printf("guest killed mid-stream (%s): the host freed %llu MiB %.1f ms after "
         "the kill\n",
         serve ? "serve" : "listener", (unsigned long long)(st.peak_held >> 20),
         t_ms(freed - killed));
  assert_int_equal(st.open, 0);
  assert_int_equal(st.held, 0);
  assert_true(st.delivered == 0);
  /* the default liveness interval is 50 ms; allow a loaded machine */
  assert_true(freed - killed < 1000 * MS * t_time_scale());
  (void)shmipc_slot_wait(slot, 2000 * MS);
  shmipc_slot_release(slot);
  stop_serving(&s);
  shmipc_host_destroy(s.h);
  shmipc_reassembler_destroy(s.r);
}

static void guest_killed_listener(void **state)
{
  (void)state;
  guest_killed(0);
}

static void guest_killed_serve(void **state)
{
  (void)state;
  guest_killed(1);
}

/* One timeout for the whole stream: a host that serves slowly makes the
 * send end with TIMEOUT near its budget, not per chunk; the abort frees
 * the host's buffer. */
static void whole_stream_timeout(void **state)
{
  struct session s = {0};
  shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;
  struct outcome o;
  int64_t deadline;

  (void)state;
  s.serve_pause_ms = 20;
  start(&s, 1, NULL);
  /* 17 MiB is 273 chunks, at most 4 a round of 20 ms: over a second */
  ask(&s, (uint64_t)17 << 20, 3, 300, &o);
  printf("whole-stream timeout 300 ms: the send returned %s after %.0f ms "
         "(at chunk %llu)\n",
         shmipc_strerror(o.code), t_ms(o.send_ns),
         (unsigned long long)o.failed_chunk);
  assert_int_equal(o.code, SHMIPC_E_TIMEOUT);
  assert_true(o.send_ns >= 300 * MS);
  /* the abort may take up to 200 ms more */
  assert_true(o.send_ns < (300 + 200 + 500) * MS * t_time_scale());
  deadline = t_now_ns() + 2000 * MS;
  do {
    shmipc_reassembler_stats(s.r, &st);
    if (st.open == 0 && st.held == 0)
      break;
    t_sleep_ms(5);
  } while (t_now_ns() < deadline);
  assert_int_equal(st.open, 0);
  assert_int_equal(st.held, 0);
  assert_int_equal(st.dropped, 1);
  stop(&s);
}

/* The host's limits hold against the guest: a stream above max_stream is
 * refused at its start, one that does not fit max_total too. */
static void host_limits(void **state)
{
  struct session s = {0};
  shmipc_stream_limits lim;
  struct outcome o;

  (void)state;
  shmipc_stream_limits_init(&lim);
  lim.max_stream = 1u << 20;
  start(&s, 0, &lim);
  ask(&s, (1u << 20) + 1, 5, 10000, &o);
  assert_int_equal(o.code, SHMIPC_E_REFUSED);
  assert_int_equal(o.reason, SHMIPC_STREAM_TOO_BIG);
  assert_true(o.failed_chunk == UINT64_MAX);
  stream_and_check(&s, 1u << 20, 6);
  stop(&s);
}

/* Without a receiver attached the host answers a stream's start as any
 * other guest call: the guest's send reports REMOTE. */
static void no_receiver(void **state)
{
  struct session s = {0};
  struct outcome o;

  (void)state;
  start(&s, 0, NULL);
  assert_int_equal(shmipc_host_listen_stop(s.h), SHMIPC_OK);
  assert_int_equal(shmipc_host_stream_receiver(s.h, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_start(s.h, t_echo, NULL), SHMIPC_OK);
  ask(&s, 100000, 5, 10000, &o);
  assert_int_equal(o.code, SHMIPC_E_REMOTE);
  /* and attaching one while the listener runs is refused */
  assert_int_equal(shmipc_host_stream_receiver(s.h, s.r), SHMIPC_E_BUSY);
  stop(&s);
}

/* ---- "self": this process is the C guest, a forked child the host ---- */
#ifndef _WIN32

static void child_host(const char *name, int ready_fd)
{
  shmipc_stream_limits lim;
  shmipc_reassembler *r;
  shmipc_host_config c;
  shmipc_host *h;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 1;
  c.guest_slots = 4;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  shmipc_stream_limits_init(&lim);
  if (shmipc_host_create(&c, &h) != SHMIPC_OK ||
      shmipc_reassembler_create(&lim, on_stream, NULL, t_echo, NULL, &r) !=
          SHMIPC_OK ||
      shmipc_host_stream_receiver(h, r) != SHMIPC_OK)
    _exit(3);
  if (write(ready_fd, "r", 1) != 1)
    _exit(3);
  /* Slow on purpose: the stream takes seconds, so it is in progress when
   * the test kills us. */
  for (;;) {
    (void)shmipc_host_serve(h, t_echo, NULL, 100 * MS);
    t_sleep_ms(5);
  }
}

struct killer {
  struct proc *victim;
  int after_ms;
  int64_t at;
};

static void *kill_later(void *arg)
{
  struct killer *k = arg;

  t_sleep_ms(k->after_ms);
  k->at = t_now_ns();
  proc_kill(k->victim);
  return NULL;
}

/* A host killed mid-stream: the guest's send returns PEER_GONE within
 * about a liveness interval of the kill (time measured). */
static void host_killed(void **state)
{
  shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;
  shmipc_stream_sender *snd;
  shmipc_guest_config gc;
  struct killer k;
  struct proc host;
  pthread_t th;
  shmipc_guest *g;
  char name[64], b;
  unsigned char *data;
  size_t len = (size_t)64 << 20;
  int fds[2], r;
  int64_t ended;

  (void)state;
  snprintf(name, sizeof name, "gstream-self-%u", (unsigned)proc_self_id());
  t_segment_forget(name); /* the host is killed: its name stays */
  assert_int_equal(pipe(fds), 0);
  r = proc_fork(&host);
  assert_true(r >= 0);
  if (r == 0) {
    close(fds[0]);
    child_host(name, fds[1]);
  }
  close(fds[1]);
  assert_int_equal(read(fds[0], &b, 1), 1);
  close(fds[0]);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_stream_sender_create(g, NULL, &snd), SHMIPC_OK);
  data = calloc(1, len);
  assert_non_null(data);
  k = (struct killer){&host, 300, 0};
  assert_int_equal(pthread_create(&th, NULL, kill_later, &k), 0);
  r = shmipc_stream_send(snd, APP_TYPE, data, len, 60000 * MS, &res);
  ended = t_now_ns();
  pthread_join(th, NULL);
  printf("host killed mid-stream: the guest's send returned %s %.1f ms after "
         "the kill (%llu of %llu chunks accepted)\n",
         shmipc_strerror(r), t_ms(ended - k.at),
         (unsigned long long)res.accepted, (unsigned long long)res.chunks);
  assert_int_equal(r, SHMIPC_E_PEER_GONE);
  assert_true(res.accepted > 0 && res.accepted < res.chunks);
  assert_true(ended - k.at < 1000 * MS * t_time_scale());
  shmipc_stream_sender_destroy(snd);
  shmipc_guest_detach(g);
  proc_reap(&host);
  t_segment_forget(name);
  free(data);
}

/* Detach once the stream is under way: the host accepted DETACH_AFTER
 * chunks (the guest's counter), however slowly the machine runs; the
 * wait is bounded, and a detach that came too early fails the test. */
#define DETACH_AFTER 8
static void *detach_later(void *arg)
{
  shmipc_guest *g = arg;
  shmipc_stats st = SHMIPC_STATS_INIT;
  int64_t end = t_now_ns() + 30000 * MS * t_time_scale();

  while (shmipc_guest_stats(g, &st) == SHMIPC_OK &&
         st.stream_chunks < DETACH_AFTER && t_now_ns() < end)
    t_sleep_ms(1);
  if (st.stream_chunks < DETACH_AFTER)
    fprintf(stderr, "the stream was not under way in 30 s (%llu chunks)\n",
            (unsigned long long)st.stream_chunks);
  shmipc_guest_detach(g);
  return NULL;
}

/* shmipc_guest_detach() while a stream is being sent: the send returns
 * CLOSED and the detach completes. */
static void detach_mid_stream(void **state)
{
  shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;
  shmipc_stream_sender *snd;
  shmipc_guest_config gc;
  struct proc host;
  pthread_t th;
  shmipc_guest *g;
  char name[64], b;
  unsigned char *data;
  size_t len = (size_t)64 << 20;
  int fds[2], r;

  (void)state;
  snprintf(name, sizeof name, "gstream-detach-%u", (unsigned)proc_self_id());
  t_segment_forget(name); /* the host is killed: its name stays */
  assert_int_equal(pipe(fds), 0);
  r = proc_fork(&host);
  assert_true(r >= 0);
  if (r == 0) {
    close(fds[0]);
    child_host(name, fds[1]);
  }
  close(fds[1]);
  assert_int_equal(read(fds[0], &b, 1), 1);
  close(fds[0]);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_stream_sender_create(g, NULL, &snd), SHMIPC_OK);
  data = calloc(1, len);
  assert_non_null(data);
  assert_int_equal(pthread_create(&th, NULL, detach_later, g), 0);
  r = shmipc_stream_send(snd, APP_TYPE, data, len, 60000 * MS, &res);
  pthread_join(th, NULL);
  printf("detach mid-stream: the send returned %s (%s; reason %s, %llu of "
         "%llu chunks accepted)\n",
         shmipc_strerror(r), shmipc_last_error(),
         shmipc_stream_reason_name(res.reason),
         (unsigned long long)res.accepted, (unsigned long long)res.chunks);
  assert_int_equal(r, SHMIPC_E_CLOSED);
  assert_true(res.accepted > 0 && res.accepted < res.chunks);
  shmipc_stream_sender_destroy(snd);
  proc_reap(&host);
  t_segment_forget(name);
  free(data);
}

#endif /* !_WIN32 */

int main(int argc, char **argv)
{
  const struct CMUnitTest with_guest[] = {
      cmocka_unit_test(sizes_listener),
      cmocka_unit_test(sizes_serve),
      cmocka_unit_test(guest_killed_listener),
      cmocka_unit_test(guest_killed_serve),
      cmocka_unit_test(whole_stream_timeout),
      cmocka_unit_test(host_limits),
      cmocka_unit_test(no_receiver),
  };
#ifndef _WIN32
  const struct CMUnitTest self[] = {
      cmocka_unit_test(host_killed),
      cmocka_unit_test(detach_mid_stream),
  };
#endif

  if (argc != 2) {
    fprintf(stderr, "usage: %s GUEST_BINARY|self\n", argv[0]);
    return 2;
  }
#ifndef _WIN32
  if (strcmp(argv[1], "self") == 0)
    return cmocka_run_group_tests(self, NULL, NULL);
#endif
  guest_path = argv[1];
  if (!proc_executable(guest_path))
    return t_cannot_run("guest binary %s not found", guest_path);
  return cmocka_run_group_tests(with_guest, NULL, NULL);
}
