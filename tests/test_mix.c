/* SPDX-License-Identifier: MIT */
/*
 * Everything at once (issue 14's mixed load): eight host threads, each
 * taking turns at small calls, large answers of a few MiB (type 220),
 * host-to-guest streams (the guest's receiver, digest queried with type
 * 204) and guest-to-host streams (type 224, into this host's receiver
 * served by the listener), against the echo guest given as argv[1]
 * (tests/ECHO_GUEST.md). Every transfer is checked by SHA-256 on both
 * ends: a large answer against the pattern it was made of and against the
 * guest's own digest (type 221), a stream against the digest the other
 * end computed. SHMIPC_TEST_STREAM_MIB caps the largest transfer (Wine and
 * the sanitizers use less), default 4 MiB.
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
#include "handlers.h"
#include "pattern.h"
#include "proc.h"
#include "sha256.h"
#include "strict.h"

#define MS INT64_C(1000000)
#define MIB ((uint64_t)1 << 20)
#define CAP 65536u
#define THREADS 8
#define ROUNDS 8
#define T_LARGE 220u
#define T_LARGE_DIGEST 221u
#define T_DIGEST 204u
#define T_GUEST_STREAM 224u
#define TIMEOUT (30000 * MS)

static const char *guest_path;
static shmipc_host *host;

/* The guest streams this host's receiver delivered, by id. */
#define NREC 512
static struct {
  pthread_mutex_t mu;
  uint64_t id[NREC], len[NREC];
  uint32_t app_type[NREC];
  unsigned char sha[NREC][32];
  unsigned n;
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The large answer and its digest query go together: type 221 gives the
 * guest's last answer. */
static pthread_mutex_t large_mu = PTHREAD_MUTEX_INITIALIZER;

struct tally {
  uint64_t small, large, large_bytes, up, up_bytes, down, down_bytes;
  int failures;
};

static void digest(const void *p, size_t len, unsigned char out[32])
{
  struct sha256 c;

  sha256_init(&c);
  sha256_update(&c, p, len);
  sha256_final(&c, out);
}

static int on_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  unsigned k;

  (void)user;
  pthread_mutex_lock(&rec.mu);
  k = rec.n++ % NREC;
  rec.id[k] = id;
  rec.len[k] = len;
  rec.app_type[k] = app_type;
  digest(data, len, rec.sha[k]);
  pthread_mutex_unlock(&rec.mu);
  return 0;
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

static uint64_t rng(uint64_t *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static uint64_t max_len(void)
{
  const char *e = getenv("SHMIPC_TEST_STREAM_MIB");
  long v = e != NULL ? strtol(e, NULL, 10) : 0;

  return (v > 0 && v < 4 ? (uint64_t)v : 4) * MIB;
}

#define FAIL(t, ...)                                                           \
  do {                                                                         \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    (t)->failures++;                                                           \
  } while (0)

static void small_calls(struct tally *t, uint64_t *x)
{
  unsigned char req[CAP], resp[CAP];
  int i;

  for (i = 0; i < 32; i++) {
    size_t len = (size_t)(rng(x) % (CAP + 1)), n = 0, k;
    uint32_t type = 1000 + (uint32_t)(rng(x) % 1000), rt = 0;
    int r;

    for (k = 0; k < len; k++)
      req[k] = (unsigned char)rng(x);
    r = shmipc_host_call(host, type, req, len, resp, sizeof resp, &n, &rt,
                         TIMEOUT);
    if (r != SHMIPC_OK || n != len || rt != type || memcmp(req, resp, len))
      FAIL(t, "small call of %zu bytes: %s", len, shmipc_strerror(r));
    else
      t->small++;
  }
}

static void large_answer(struct tally *t, uint64_t *x, unsigned char *want)
{
  uint64_t len = CAP + 1 + rng(x) % (max_len() - CAP), seed = rng(x);
  unsigned char req[16], got[32], exp[32], gd[40];
  void *buf = NULL;
  size_t n = 0, m = 0;
  uint32_t rt = 0;
  int r, r2;

  put64(req, len);
  put64(req + 8, seed);
  pthread_mutex_lock(&large_mu);
  r = shmipc_host_call_alloc(host, T_LARGE, req, 16, &buf, &n, &rt, TIMEOUT);
  r2 = shmipc_host_call(host, T_LARGE_DIGEST, NULL, 0, gd, sizeof gd, &m, NULL,
                        TIMEOUT);
  pthread_mutex_unlock(&large_mu);
  if (r != SHMIPC_OK || n != len || rt != T_LARGE) {
    FAIL(t, "large answer of %llu bytes: %s", (unsigned long long)len,
         shmipc_strerror(r));
    shmipc_answer_free(buf);
    return;
  }
  digest(buf, n, got);
  shmipc_answer_free(buf);
  pattern_fill(want, (size_t)len, seed);
  digest(want, (size_t)len, exp);
  if (memcmp(got, exp, 32) != 0)
    FAIL(t, "large answer of %llu bytes: not its pattern",
         (unsigned long long)len);
  else if (r2 != SHMIPC_OK || m != 40 || get64(gd) != len ||
           memcmp(gd + 8, got, 32) != 0)
    FAIL(t, "large answer of %llu bytes: the guest's SHA-256 differs (%s)",
         (unsigned long long)len, shmipc_strerror(r2));
  else {
    t->large++;
    t->large_bytes += len;
  }
}

static void stream_down(struct tally *t, uint64_t *x, shmipc_stream_sender *snd,
                        unsigned char *data)
{
  shmipc_stream_result res = {.struct_size = sizeof res};
  uint64_t len = rng(x) % max_len();
  unsigned char q[8], resp[48], sha[32];
  size_t n = 0, k;
  int r;

  for (k = 0; k < len; k++)
    data[k] = (unsigned char)rng(x);
  r = shmipc_stream_send(snd, 300, data, (size_t)len, TIMEOUT, &res);
  if (r != SHMIPC_OK) {
    FAIL(t, "stream of %llu bytes to the guest: %s (%s)",
         (unsigned long long)len, shmipc_strerror(r),
         shmipc_stream_reason_name(res.reason));
    return;
  }
  put64(q, res.stream_id);
  r = shmipc_host_call(host, T_DIGEST, q, 8, resp, sizeof resp, &n, NULL,
                       TIMEOUT);
  digest(data, (size_t)len, sha);
  /* length, app type 300, one delivery, the SHA-256 */
  if (r != SHMIPC_OK || n != 48 || get64(resp) != len ||
      get64(resp + 8) != (300 | (uint64_t)1 << 32) ||
      memcmp(resp + 16, sha, 32) != 0)
    FAIL(t,
         "stream %llu of %llu bytes to the guest: the guest's digest "
         "differs (%s)",
         (unsigned long long)res.stream_id, (unsigned long long)len,
         shmipc_strerror(r));
  else {
    t->down++;
    t->down_bytes += len;
  }
}

static void stream_up(struct tally *t, uint64_t *x, uint32_t app_type)
{
  unsigned char req[32] = {0}, resp[128];
  uint64_t len = rng(x) % max_len(), id;
  size_t n = 0;
  uint32_t rt = 0;
  unsigned k;
  int r, found = 0;

  put64(req, len);
  put64(req + 8, rng(x));
  put32(req + 16, app_type);
  put32(req + 20, 20000);
  r = shmipc_host_call(host, T_GUEST_STREAM, req, sizeof req, resp, sizeof resp,
                       &n, &rt, TIMEOUT);
  if (r != SHMIPC_OK || n != 72 || rt != T_GUEST_STREAM ||
      (int32_t)(uint32_t)get64(resp) != SHMIPC_OK) {
    FAIL(t, "stream of %llu bytes from the guest: %s, send %d",
         (unsigned long long)len, shmipc_strerror(r),
         n == 72 ? (int)(int32_t)(uint32_t)get64(resp) : 0);
    return;
  }
  id = get64(resp + 8);
  pthread_mutex_lock(&rec.mu);
  for (k = 0; k < NREC && k < rec.n; k++)
    if (rec.id[k] == id)
      found = rec.len[k] == len && rec.app_type[k] == app_type &&
                      memcmp(rec.sha[k], resp + 32, 32) == 0
                  ? 1
                  : -1;
  pthread_mutex_unlock(&rec.mu);
  if (found != 1)
    FAIL(t, "stream %llu of %llu bytes from the guest: %s",
         (unsigned long long)id, (unsigned long long)len,
         found == 0 ? "never delivered"
                    : "the host's SHA-256 differs from the guest's");
  else {
    t->up++;
    t->up_bytes += len;
  }
}

static void *worker(void *arg)
{
  struct tally *t = arg;
  uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(uintptr_t)arg | 1;
  unsigned char *buf = malloc((size_t)max_len());
  shmipc_stream_sender *snd = NULL;
  int i;

  if (buf == NULL || shmipc_stream_sender_create(host, NULL, &snd) != 0) {
    FAIL(t, "no buffer or no stream sender");
    free(buf);
    return NULL;
  }
  for (i = 0; i < ROUNDS; i++) {
    /* each thread starts at a different kind, so all four run at once */
    switch ((i + (int)(rng(&x) % 4)) % 4) {
    case 0:
      small_calls(t, &x);
      break;
    case 1:
      large_answer(t, &x, buf);
      break;
    case 2:
      stream_down(t, &x, snd, buf);
      break;
    default:
      stream_up(t, &x, 800 + (uint32_t)i);
      break;
    }
  }
  shmipc_stream_sender_destroy(snd);
  free(buf);
  return NULL;
}

static void eight_threads(void **state)
{
  shmipc_host_config c;
  shmipc_stream_limits lim;
  shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;
  shmipc_reassembler *r;
  struct tally t[THREADS], sum = {0};
  pthread_t th[THREADS];
  struct proc guest;
  struct proc_status ps;
  char name[64];
  const char *argv[] = {guest_path,    "-name", name,
                        "-timeout-ms", "10000", NULL};
  int64_t t0;
  int i;

  (void)state;
  snprintf(name, sizeof name, "mix-%u", (unsigned)proc_self_id());
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 16;
  c.guest_slots = 4;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  shmipc_stream_limits_init(&lim);
  assert_int_equal(shmipc_host_create(&c, &host), SHMIPC_OK);
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, NULL, t_echo, NULL, &r),
      SHMIPC_OK);
  assert_int_equal(shmipc_host_stream_receiver(host, r), SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_start(host, shmipc_reassembler_handle, r),
                   SHMIPC_OK);
  if (proc_spawn(&guest, argv, 0) != 0)
    fail_msg("cannot start guest %s", guest_path);
  if (shmipc_host_wait_guest(host, 10000 * MS) != SHMIPC_OK)
    fail_msg("guest %s did not attach within 10 s", guest_path);
  memset(t, 0, sizeof t);
  t0 = t_now_ns();
  for (i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, worker, &t[i]), 0);
  for (i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    sum.small += t[i].small;
    sum.large += t[i].large;
    sum.large_bytes += t[i].large_bytes;
    sum.down += t[i].down;
    sum.down_bytes += t[i].down_bytes;
    sum.up += t[i].up;
    sum.up_bytes += t[i].up_bytes;
    sum.failures += t[i].failures;
  }
  t0 = t_now_ns() - t0;
  shmipc_reassembler_stats(r, &st);
  printf("# %d threads, %.0f ms: %llu small calls, %llu large answers "
         "(%.1f MiB), %llu streams to the guest (%.1f MiB), %llu from it "
         "(%.1f MiB); %d failures\n",
         THREADS, t_ms(t0), (unsigned long long)sum.small,
         (unsigned long long)sum.large, (double)sum.large_bytes / MIB,
         (unsigned long long)sum.down, (double)sum.down_bytes / MIB,
         (unsigned long long)sum.up, (double)sum.up_bytes / MIB, sum.failures);
  (void)shmipc_host_listen_stop(host);
  shmipc_host_destroy(host);
  shmipc_reassembler_destroy(r);
  if (proc_wait(&guest, 5000, &ps) != 0) {
    proc_kill(&guest);
    fail_msg("guest did not exit within 5 s of the host closing");
  }
  assert_int_equal(sum.failures, 0);
  /* every kind ran, and the receiver was left with nothing */
  assert_true(sum.small > 0 && sum.large > 0 && sum.down > 0 && sum.up > 0);
  assert_int_equal(st.open, 0);
  assert_int_equal(st.held, 0);
  assert_int_equal(st.delivered, sum.up);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(eight_threads),
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
