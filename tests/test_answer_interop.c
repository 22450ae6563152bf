/* SPDX-License-Identifier: MIT */
/*
 * Large answers across processes (docs/PROTOCOL.md, "Large answers"): a C
 * host and the echo guest given as argv[1] (Go or C; tests/ECHO_GUEST.md,
 * types 220-223). Sizes around the slot's capacity up to 256 MiB, the
 * SHA-256 of what the guest made compared with what the host got; a guest
 * killed mid-answer (PEER_GONE, the time it took, the host's memory given
 * back); a transfer's timeout and a caller that stops half way (the guest
 * frees the answer at once); the guest's idle expiry. Prints the host's
 * peak memory (VmHWM).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <shmipc/shmipc.h>

#include "clock.h"
#include "pattern.h"
#include "proc.h"
#include "sha256.h"
#include "strict.h"

#define MS INT64_C(1000000)
#define MIB ((uint64_t)1 << 20)
#define CAP 65536u
#define T_LARGE 220u
#define T_LARGE_DIGEST 221u
#define T_ANSWER_STATS 222u
#define T_LARGE_STATIC 223u

static const char *guest_path;

struct session {
  char name[64];
  shmipc_host *h;
  struct proc guest;
};

static void start(struct session *s, const char *const *extra)
{
  static int n;
  shmipc_host_config c;
  const char *argv[16] = {guest_path, "-name", s->name, "-timeout-ms", "10000"};
  int k = 5;

  snprintf(s->name, sizeof s->name, "answer-io-%u-%d", (unsigned)proc_self_id(),
           n++);
  shmipc_host_config_init(&c);
  c.name = s->name;
  c.host_slots = 4;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  c.liveness_interval_ns = 50 * MS;
  for (; extra != NULL && *extra != NULL && k < 15; extra++)
    argv[k++] = *extra;
  argv[k] = NULL;
  assert_int_equal(shmipc_host_create(&c, &s->h), SHMIPC_OK);
  if (proc_spawn(&s->guest, argv, 0) != 0)
    fail_msg("cannot start guest %s", guest_path);
  if (shmipc_host_wait_guest(s->h, 10000 * MS) != SHMIPC_OK)
    fail_msg("guest %s did not attach within 10 s", guest_path);
}

static void stop(struct session *s)
{
  struct proc_status st;

  shmipc_host_destroy(s->h);
  if (proc_wait(&s->guest, 5000, &st) != 0) {
    proc_kill(&s->guest);
    (void)proc_wait(&s->guest, 5000, &st);
    fail_msg("guest did not exit within 5 s of the host closing");
  }
  assert_true(st.exited);
  assert_int_equal(st.code, 0);
}

static void put64(unsigned char *p, uint64_t v)
{
  int i;

  for (i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
  uint64_t v = 0;
  int i;

  for (i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void digest(const void *p, size_t len, unsigned char out[32])
{
  struct sha256 c;

  sha256_init(&c);
  sha256_update(&c, p, len);
  sha256_final(&c, out);
}

/* A line of /proc/self/status in KiB ("VmHWM", "VmRSS"). */
static long status_kib(const char *key)
{
  char line[256];
  long v = -1;
  FILE *f = fopen("/proc/self/status", "r");

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
      v = strtol(line + strlen(key) + 1, NULL, 10);
  fclose(f);
  return v;
}

struct guest_stats {
  uint64_t parked, held, peak_held, released, dropped, expired;
};

static struct guest_stats gstats(struct session *s)
{
  unsigned char b[48];
  struct guest_stats st;
  size_t n = 0;

  assert_int_equal(shmipc_host_call(s->h, T_ANSWER_STATS, NULL, 0, b, sizeof b,
                                    &n, NULL, 5000 * MS),
                   SHMIPC_OK);
  assert_int_equal(n, 48);
  st.parked = get64(b);
  st.held = get64(b + 8);
  st.peak_held = get64(b + 16);
  st.released = get64(b + 24);
  st.dropped = get64(b + 32);
  st.expired = get64(b + 40);
  return st;
}

/* The guest's table is empty (its last answer may still be on its way
 * out of a worker when the host's call returns). */
static void wait_empty(struct session *s)
{
  int64_t end = t_now_ns() + 3000 * MS;
  struct guest_stats st;

  while ((st = gstats(s)).parked != 0 || st.held != 0) {
    if (t_now_ns() > end)
      fail_msg("guest still holds %llu answers, %llu bytes",
               (unsigned long long)st.parked, (unsigned long long)st.held);
    t_sleep_ms(2);
  }
}

/* The largest answer, in MiB: SHMIPC_TEST_STREAM_MIB as for the interop
 * stream (the sanitizer and Wine runs use less), default 256. */
static uint64_t big_mib(void)
{
  const char *e = getenv("SHMIPC_TEST_STREAM_MIB");
  long v = e != NULL ? strtol(e, NULL, 10) : 0;

  return v > 0 && v <= 1024 ? (uint64_t)v : 256;
}

/* AddressSanitizer keeps freed memory in its quarantine for a while. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_SLACK_KIB (256L * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_SLACK_KIB (256L * 1024)
#endif
#endif
#ifndef ASAN_SLACK_KIB
#define ASAN_SLACK_KIB 0L
#endif

static void sizes_hashed(void **state)
{
  const uint64_t lens[] = {0,       1,        CAP - 1,        CAP,
                           CAP + 1, 17 * MIB, big_mib() * MIB};
  struct session s;
  size_t i;

  (void)state;
  start(&s, NULL);
  for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    unsigned char req[16], want[32], got[32], gd[40];
    uint64_t len = lens[i];
    unsigned char *b;
    void *buf = NULL;
    size_t n = 0;
    uint32_t t = 0;
    long hwm0 = status_kib("VmHWM");
    int64_t t0;

    put64(req, len);
    put64(req + 8, len + 1);
    t0 = t_now_ns();
    assert_int_equal(
        shmipc_host_call_alloc(s.h, T_LARGE, req, 16, &buf, &n, &t, 60000 * MS),
        SHMIPC_OK);
    t0 = t_now_ns() - t0;
    assert_int_equal(n, len);
    assert_int_equal(t, T_LARGE);
    digest(buf, n, got);
    shmipc_answer_free(buf);
    /* the guest's digest of what it answered */
    assert_int_equal(shmipc_host_call(s.h, T_LARGE_DIGEST, NULL, 0, gd,
                                      sizeof gd, &n, NULL, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(get64(gd), len);
    assert_memory_equal(gd + 8, got, 32);
    /* and what it should have been */
    b = malloc(len > 0 ? (size_t)len : 1);
    assert_non_null(b);
    pattern_fill(b, (size_t)len, len + 1);
    digest(b, (size_t)len, want);
    free(b);
    assert_memory_equal(got, want, 32);
    if (len >= 17 * MIB)
      printf("# %llu MiB: call %.1f ms (the guest makes and hashes it "
             "first); host VmHWM %ld -> %ld KiB\n",
             (unsigned long long)(len / MIB), t_ms(t0), hwm0,
             status_kib("VmHWM"));
    wait_empty(&s);
  }
  /* into the caller's buffer, and chunk by chunk, once each */
  {
    unsigned char req[16];
    uint64_t len = 3 * CAP + 11;
    unsigned char *mine = malloc((size_t)len), *want = malloc((size_t)len);
    size_t n = 0;
    assert_non_null(mine);
    assert_non_null(want);
    put64(req, len);
    put64(req + 8, 99);
    assert_int_equal(shmipc_host_call(s.h, T_LARGE, req, 16, mine, (size_t)len,
                                      &n, NULL, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, len);
    pattern_fill(want, (size_t)len, 99);
    assert_memory_equal(mine, want, (size_t)len);
    assert_int_equal(shmipc_host_call(s.h, T_LARGE, req, 16, mine,
                                      (size_t)len - 1, &n, NULL, 5000 * MS),
                     SHMIPC_E_TRUNCATED);
    assert_int_equal(n, len);
    free(mine);
    free(want);
    wait_empty(&s);
  }
  stop(&s);
}

struct slow {
  uint64_t seen, stop_at;
  int64_t sleep_ns;
};

static int slow_chunk(void *user, uint32_t type, uint64_t total,
                      uint64_t offset, const void *data, size_t len)
{
  struct slow *k = user;

  (void)type, (void)total, (void)offset, (void)data;
  k->seen += len;
  if (k->sleep_ns > 0)
    t_sleep_ns(k->sleep_ns);
  return k->stop_at != 0 && k->seen >= k->stop_at;
}

struct kill_at {
  struct proc *victim;
  uint64_t at, seen;
  int64_t killed_ns;
};

static int kill_chunk(void *user, uint32_t type, uint64_t total,
                      uint64_t offset, const void *data, size_t len)
{
  struct kill_at *k = user;

  (void)type, (void)total, (void)offset, (void)data;
  k->seen += len;
  if (k->killed_ns == 0 && k->seen >= k->at) {
    proc_kill(k->victim);
    k->killed_ns = t_now_ns();
  }
  return 0;
}

struct killer {
  struct proc *victim;
  int after_ms;
  int64_t killed_ns;
};

static void *kill_later(void *arg)
{
  struct killer *k = arg;

  t_sleep_ms(k->after_ms);
  proc_kill(k->victim);
  k->killed_ns = t_now_ns();
  return NULL;
}

/* Reaps a killed guest as soon as it is gone, and notes when: the kernel
 * had torn it down then (its files closed, so its liveness lock free). */
struct reaper {
  struct proc *p;
  int stop; /* atomic */
  int64_t ended_ns;
};

static void *reap_soon(void *arg)
{
  struct reaper *r = arg;

  while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST))
    if (proc_wait(r->p, 1, NULL) == 0) {
      r->ended_ns = t_now_ns();
      break;
    }
  return NULL;
}

/* A guest killed mid-answer: PEER_GONE within about a liveness interval
 * of the guest's end, and the host's buffer freed. */
static void guest_killed(void **state)
{
  unsigned char req[8];
  struct session s;
  struct kill_at k = {0};
  struct killer kl = {0};
  struct slow warm = {0, 0, 0};
  struct reaper rp = {0};
  pthread_t th, rth;
  void *buf = (void *)1;
  size_t n = 0;
  long rss0, rss1;
  int64_t gone;
  int r;

  (void)state;
  start(&s, NULL);
  /* the static buffer is made once, before the timed call */
  put64(req, 256 * MIB);
  r = shmipc_host_call_chunks(s.h, T_LARGE_STATIC, req, 8, slow_chunk, &warm,
                              30000 * MS);
  assert_int_equal(r, SHMIPC_OK);
  k.victim = &s.guest;
  k.at = 16 * MIB;
  k.seen = 0;
  rp.p = &s.guest;
  assert_int_equal(pthread_create(&rth, NULL, reap_soon, &rp), 0);
  r = shmipc_host_call_chunks(s.h, T_LARGE_STATIC, req, 8, kill_chunk, &k,
                              30000 * MS);
  gone = t_now_ns();
  pthread_join(rth, NULL);
  assert_int_equal(r, SHMIPC_E_PEER_GONE);
  assert_true(rp.ended_ns != 0);
  printf("# guest killed at %llu MiB of 256: PEER_GONE %.1f ms after the "
         "kill, %.1f ms after its end (liveness interval 50 ms)\n",
         (unsigned long long)(k.at / MIB), t_ms(gone - k.killed_ns),
         t_ms(gone - rp.ended_ns));
  assert_true(gone - rp.ended_ns < 500 * MS);
  shmipc_host_destroy(s.h);
  (void)proc_wait(&s.guest, 5000, NULL);

  /* killed while the host pulls into its own buffer: freed */
  start(&s, NULL);
  assert_int_equal(shmipc_host_call_chunks(s.h, T_LARGE_STATIC, req, 8,
                                           slow_chunk, &warm, 30000 * MS),
                   SHMIPC_OK);
  rss0 = status_kib("VmRSS");
  kl.victim = &s.guest;
  kl.after_ms = 30;
  rp.ended_ns = 0;
  rp.p = &s.guest;
  assert_int_equal(pthread_create(&th, NULL, kill_later, &kl), 0);
  assert_int_equal(pthread_create(&rth, NULL, reap_soon, &rp), 0);
  r = shmipc_host_call_alloc(s.h, T_LARGE_STATIC, req, 8, &buf, &n, NULL,
                             30000 * MS);
  gone = t_now_ns();
  pthread_join(th, NULL);
  __atomic_store_n(&rp.stop, r == SHMIPC_OK, __ATOMIC_SEQ_CST);
  pthread_join(rth, NULL);
  rss1 = status_kib("VmRSS");
  printf("# killed mid-transfer into an allocated answer: %s %.1f ms after "
         "the kill, %.1f ms after its end; host VmRSS %ld -> %ld KiB\n",
         shmipc_strerror(r), t_ms(gone - kl.killed_ns),
         t_ms(gone - rp.ended_ns), rss0, rss1);
  if (r == SHMIPC_OK) {
    /* the whole answer made it before the kill: not what this checks */
    shmipc_answer_free(buf);
    fail_msg("the answer was complete before the guest was killed");
  }
  assert_int_equal(r, SHMIPC_E_PEER_GONE);
  assert_null(buf);
  assert_true(rss1 - rss0 < 32 * 1024 + ASAN_SLACK_KIB);
  shmipc_host_destroy(s.h);
  (void)proc_wait(&s.guest, 5000, NULL);
}

/* The transfer's timeout and a caller that stops half way: the guest
 * frees the answer at once. An answer nobody pulls expires. */
static void abandoned(void **state)
{
  const char *const extra[] = {"-answer-idle-ms", "300", NULL};
  unsigned char req[8];
  struct session s;
  struct slow k = {0, 0, 0};
  struct guest_stats st0, st;
  shmipc_slot *sl;
  void *buf;
  int64_t t0;

  (void)state;
  start(&s, extra);
  put64(req, 64 * MIB);
  st0 = gstats(&s);
  k.stop_at = 32 * MIB;
  assert_int_equal(shmipc_host_call_chunks(s.h, T_LARGE_STATIC, req, 8,
                                           slow_chunk, &k, 30000 * MS),
                   SHMIPC_E_REFUSED);
  assert_true(k.seen >= 32 * MIB && k.seen < 64 * MIB);
  wait_empty(&s);
  st = gstats(&s);
  assert_int_equal(st.dropped, st0.dropped + 1);
  assert_int_equal(st.expired, 0);

  k.seen = 0;
  k.stop_at = 0;
  k.sleep_ns = 1 * MS;
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_call_chunks(s.h, T_LARGE_STATIC, req, 8,
                                           slow_chunk, &k, 100 * MS),
                   SHMIPC_E_TIMEOUT);
  printf("# transfer timeout 100 ms: returned after %.1f ms with %llu KiB "
         "in\n",
         t_ms(t_now_ns() - t0), (unsigned long long)(k.seen >> 10));
  assert_true(t_now_ns() - t0 < 250 * MS);
  wait_empty(&s);
  st = gstats(&s);
  assert_int_equal(st.dropped, st0.dropped + 2);
  assert_int_equal(st.expired, 0);

  /* nobody pulls: dropped after 300 ms, then EXPIRED */
  assert_int_equal(shmipc_slot_acquire(s.h, 1000 * MS, &sl), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(sl), req, 8);
  assert_int_equal(shmipc_slot_send(sl, T_LARGE_STATIC, 8, 0, 5000 * MS),
                   SHMIPC_OK);
  assert_int_equal(shmipc_slot_answer_total(sl), 64 * MIB);
  assert_int_equal(gstats(&s).parked, 1);
  t_sleep_ms(700);
  st = gstats(&s);
  assert_int_equal(st.parked, 0);
  assert_int_equal(st.expired, 1);
  assert_int_equal(shmipc_slot_answer_alloc(sl, &buf, NULL, NULL, 1000 * MS),
                   SHMIPC_E_REMOTE);
  assert_non_null(strstr(shmipc_last_error(), "expired"));
  shmipc_slot_release(sl);
  stop(&s);
}

/* One raw pull (any bytes) on a slot of its own: its answer's status and
 * state, -1 for an answer that is not a pull answer of the protocol. */
static int raw_pull(struct session *s, const unsigned char *req, size_t len,
                    uint32_t *state, uint64_t *total)
{
  shmipc_slot *sl;
  const unsigned char *r;
  uint32_t status;
  size_t n;
  int ok;

  assert_int_equal(shmipc_slot_acquire(s->h, 1000 * MS, &sl), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(sl), req, len);
  assert_int_equal(
      shmipc_slot_send(sl, SHMIPC_MSG_ANSWER_PULL, len, 0, 5000 * MS),
      SHMIPC_OK);
  r = shmipc_slot_resp_data(sl);
  n = shmipc_slot_resp_size(sl);
  ok = shmipc_slot_resp_type(sl) == SHMIPC_MSG_ANSWER_PULL && n >= 16;
  status = ok ? (uint32_t)get64(r) : 0;
  *state = ok ? (uint32_t)(get64(r) >> 32) : 0;
  *total = ok ? get64(r + 8) : 0;
  if (ok && status != 0 && n != 16)
    ok = 0;
  shmipc_slot_release(sl);
  return ok ? (int)status : -1;
}

static void pull_req(unsigned char *b, uint64_t id, uint64_t off, uint32_t len,
                     uint32_t flags)
{
  memset(b, 0, 32);
  put64(b, id);
  put64(b + 8, off);
  put64(b + 16, (uint64_t)flags << 32 | len);
}

/* Park an answer of @len bytes and return its id (the slot API). */
static uint64_t park(struct session *s, uint64_t len)
{
  unsigned char req[8];
  shmipc_slot *sl;
  uint64_t id;

  put64(req, len);
  assert_int_equal(shmipc_slot_acquire(s->h, 1000 * MS, &sl), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(sl), req, 8);
  assert_int_equal(shmipc_slot_send(sl, T_LARGE_STATIC, 8, 0, 5000 * MS),
                   SHMIPC_OK);
  assert_int_equal(shmipc_slot_resp_type(sl), SHMIPC_MSG_LARGE_ANSWER);
  id = get64(shmipc_slot_resp_data(sl));
  shmipc_slot_release(sl);
  return id;
}

/* A host that pulls what it should not, from the guest's side of the
 * tables (docs/PROTOCOL.md, "Guest rules"): each pull gets the answer the
 * table gives, garbage never more than a status, and the guest serves on
 * with nothing left parked. */
static void hostile_pulls(void **state)
{
  unsigned char b[64];
  struct session s;
  uint32_t st;
  uint64_t id, total, x = 99;
  int i;

  (void)state;
  start(&s, NULL);
  pull_req(b, 12345, 0, 10, 0);
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 2); /* UNKNOWN */
  assert_int_equal(st, 0);
  assert_int_equal(raw_pull(&s, b, 31, &st, &total), 1); /* MALFORMED */
  assert_int_equal(raw_pull(&s, b, 33, &st, &total), 1);
  id = park(&s, MIB);
  pull_req(b, id, 0, CAP - 15, 0); /* one byte beyond the slot */
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 3); /* BOUNDS */
  assert_int_equal(st, 3);
  assert_int_equal(total, MIB);
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 2); /* gone */
  id = park(&s, MIB);
  pull_req(b, id, MIB - 9, 10, 0);
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 3);
  id = park(&s, MIB);
  pull_req(b, id, MIB, 0, 0); /* the empty end is inside */
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 0);
  assert_int_equal(st, 1);
  pull_req(b, id, UINT64_MAX, 1, 0);
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 3);
  id = park(&s, MIB);
  pull_req(b, id, 0, 0, 3); /* RELEASE and ABORT */
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 1);
  pull_req(b, id, 5, 5, 2);
  assert_int_equal(raw_pull(&s, b, 32, &st, &total), 5); /* ABORTED */
  assert_int_equal(st, 3);
  /* garbage: any id (mostly small), offset, length, flags, size */
  id = park(&s, MIB);
  for (i = 0; i < 2000; i++) {
    int k, r;
    for (k = 0; k < 64; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      b[k] = (unsigned char)x;
    }
    if (b[40] & 1)
      put64(b, id + (b[41] % 3) - 1);
    r = raw_pull(&s, b, b[42] & 1 ? 32 : b[43] % 64, &st, &total);
    if (r < 0 || r > 5)
      fail_msg("garbage pull %d: an answer outside the protocol (%d)", i, r);
  }
  {
    unsigned char out[8];
    size_t n = 0;
    assert_int_equal(shmipc_host_call(s.h, 130, "still", 5, out, sizeof out, &n,
                                      NULL, 1000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, 5);
  }
  pull_req(b, id, 0, 0, 2);
  (void)raw_pull(&s, b, 32, &st, &total);
  wait_empty(&s);
  stop(&s);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sizes_hashed),
      cmocka_unit_test(guest_killed),
      cmocka_unit_test(abandoned),
      cmocka_unit_test(hostile_pulls),
  };
  if (argc != 2) {
    fprintf(stderr, "usage: %s GUEST-BINARY\n", argv[0]);
    return 2;
  }
  guest_path = argv[1];
  if (!proc_executable(guest_path))
    return t_cannot_run("guest binary %s is missing", guest_path);
  return cmocka_run_group_tests_name(guest_path, tests, NULL, NULL);
}
