/* SPDX-License-Identifier: MIT */
/*
 * Large answers in one process (docs/PROTOCOL.md, "Large answers"): a host
 * and a C guest started with shmipc_guest_start_answers(). Every host form
 * (shmipc_host_call(), _call_alloc(), _call_chunks(), the slot API) at the
 * sizes around the slot's capacity, the bytes compared by SHA-256; the
 * bounds of both sides (a caller's buffer, the host's max_answer, the
 * guest's limits, its idle expiry), a caller that stops half way, the
 * timeout of the whole transfer, concurrent transfers, and that every
 * parked answer is released exactly once. Linux: a host process killed
 * with an answer half-read (the guest drops it at once).
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

#include "answer.h"
#include "clock.h"
#include "pattern.h"
#include "proc.h"
#include "sha256.h"

#ifndef _WIN32
#include <unistd.h>
#endif

#define MS INT64_C(1000000)
#define CAP 4096u
#define T_BIG 300u      /* answer u64 len bytes of the pattern of seed len */
#define T_SMALL 301u    /* answer the request, in the response buffer */
#define T_FAILS 302u    /* set an answer, then fail */
#define T_BIG_EA 303u   /* T_BIG with SHMIPC_RESP_END_ALIGNED in the type */
#define T_SMALL_EA 304u /* T_SMALL answered at the end of the buffer */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t released, released_bytes;

static void on_release(void *ctx, const void *data, size_t len)
{
  (void)ctx;
  pthread_mutex_lock(&mu);
  released++;
  released_bytes += len;
  pthread_mutex_unlock(&mu);
  free((void *)data);
}

static uint64_t get64(const unsigned char *p)
{
  uint64_t v = 0;
  int i;

  for (i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static int answer(void *user, uint32_t type, const void *req, size_t req_len,
                  void *resp, size_t resp_cap, size_t *resp_len,
                  uint32_t *resp_type, shmipc_answer *ans)
{
  uint64_t len;
  unsigned char *b;

  (void)user;
  if (type == T_SMALL) {
    if (req_len > resp_cap)
      return -1;
    memcpy(resp, req, req_len);
    *resp_len = req_len;
    return 0;
  }
  if (type == T_SMALL_EA) {
    if (req_len > resp_cap)
      return -1;
    memcpy((unsigned char *)resp + (resp_cap - req_len), req, req_len);
    *resp_len = req_len;
    *resp_type = type | SHMIPC_RESP_END_ALIGNED;
    return 0;
  }
  if (req_len != 8)
    return -1;
  len = get64(req);
  b = malloc(len > 0 ? (size_t)len : 1);
  if (b == NULL)
    return -1;
  pattern_fill(b, (size_t)len, len);
  shmipc_answer_set(ans, b, (size_t)len, on_release, NULL);
  *resp_type = SHMIPC_MSG_APP_START + 9;
  if (type == T_BIG_EA)
    *resp_type |= SHMIPC_RESP_END_ALIGNED;
  return type == T_FAILS ? -1 : 0;
}

struct fixture {
  char name[64];
  shmipc_host *h;
  shmipc_guest *g;
};

static void up(struct fixture *f, uint32_t slots, uint64_t host_max,
               const shmipc_answer_limits *lim)
{
  static int n;
  shmipc_host_config hc;
  shmipc_guest_config gc;

  snprintf(f->name, sizeof f->name, "answer-%u-%d", (unsigned)shmipc__getpid(),
           n++);
  shmipc_host_config_init(&hc);
  hc.name = f->name;
  hc.host_slots = slots;
  hc.req_capacity = CAP;
  hc.resp_capacity = CAP;
  hc.liveness_interval_ns = 20 * MS;
  hc.max_answer = host_max;
  assert_int_equal(shmipc_host_create(&hc, &f->h), SHMIPC_OK);
  shmipc_guest_config_init(&gc);
  gc.name = f->name;
  gc.liveness_interval_ns = 20 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &f->g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start_answers(f->g, answer, NULL, lim),
                   SHMIPC_OK);
  pthread_mutex_lock(&mu);
  released = released_bytes = 0;
  pthread_mutex_unlock(&mu);
}

static void down(struct fixture *f)
{
  shmipc_host_destroy(f->h);
  assert_int_equal(shmipc_guest_wait(f->g, 2000 * MS), SHMIPC_OK);
  shmipc_guest_detach(f->g);
}

static shmipc_answer_stats stats(struct fixture *f)
{
  shmipc_answer_stats st = SHMIPC_ANSWER_STATS_INIT;

  shmipc_guest_answer_stats(f->g, &st);
  return st;
}

/* The guest's table empties once the host's last pull is answered; the
 * last answer may still be on its way out of the worker. */
static void wait_empty(struct fixture *f)
{
  int64_t end = t_now_ns() + 2000 * MS;
  shmipc_answer_stats st;

  while ((st = stats(f)).parked != 0 || st.held != 0) {
    if (t_now_ns() > end)
      fail_msg("guest still holds %llu answers, %llu bytes",
               (unsigned long long)st.parked, (unsigned long long)st.held);
    t_sleep_ms(1);
  }
}

static void digest(const void *p, size_t len, unsigned char out[32])
{
  struct sha256 c;

  sha256_init(&c);
  sha256_update(&c, p, len);
  sha256_final(&c, out);
}

static void expected(uint64_t len, unsigned char out[32])
{
  unsigned char *b = malloc(len > 0 ? (size_t)len : 1);

  assert_non_null(b);
  pattern_fill(b, (size_t)len, len);
  digest(b, (size_t)len, out);
  free(b);
}

static void put64(unsigned char *p, uint64_t v)
{
  int i;

  for (i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

struct chunks {
  struct sha256 c;
  uint64_t next, total, calls, stop_at;
  uint32_t type;
  int64_t sleep_ns;
};

static int on_chunk(void *user, uint32_t type, uint64_t total, uint64_t offset,
                    const void *data, size_t len)
{
  struct chunks *k = user;

  assert_int_equal(offset, k->next); /* in order, contiguous */
  assert_true(len == 0 || data != NULL);
  k->type = type;
  k->total = total;
  k->calls++;
  sha256_update(&k->c, data, len);
  k->next += len;
  if (k->sleep_ns > 0)
    t_sleep_ns(k->sleep_ns);
  return k->stop_at != 0 && k->next >= k->stop_at ? 1 : 0;
}

static void sizes(void **state)
{
  static const uint64_t lens[] = {
      0, 1, CAP - 1, CAP, CAP + 1, 3 * CAP, 5 * CAP + 7, (uint64_t)17 << 20};
  struct fixture f;
  size_t i;

  (void)state;
  up(&f, 4, (uint64_t)1 << 30, NULL);
  for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    unsigned char req[8], want[32], got[32];
    uint64_t len = lens[i];
    void *buf = NULL;
    size_t n = 0;
    uint32_t t = 0;
    struct chunks k;
    unsigned char *mine;
    shmipc_slot *s;

    put64(req, len);
    expected(len, want);
    /* an allocated answer */
    assert_int_equal(
        shmipc_host_call_alloc(f.h, T_BIG, req, 8, &buf, &n, &t, 5000 * MS),
        SHMIPC_OK);
    assert_int_equal(n, len);
    assert_int_equal(t, SHMIPC_MSG_APP_START + 9);
    digest(buf, n, got);
    assert_memory_equal(got, want, 32);
    shmipc_answer_free(buf);
    /* into the caller's buffer, exactly its size */
    mine = malloc(len > 0 ? (size_t)len : 1);
    assert_non_null(mine);
    n = 0;
    assert_int_equal(shmipc_host_call(f.h, T_BIG, req, 8, mine, (size_t)len, &n,
                                      &t, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, len);
    digest(mine, n, got);
    assert_memory_equal(got, want, 32);
    /* one byte short: TRUNCATED, nothing parked afterwards */
    if (len > 0) {
      n = 0;
      assert_int_equal(shmipc_host_call(f.h, T_BIG, req, 8, mine,
                                        (size_t)len - 1, &n, &t, 5000 * MS),
                       SHMIPC_E_TRUNCATED);
      assert_int_equal(n, len);
    }
    free(mine);
    /* chunk by chunk */
    memset(&k, 0, sizeof k);
    sha256_init(&k.c);
    assert_int_equal(
        shmipc_host_call_chunks(f.h, T_BIG, req, 8, on_chunk, &k, 5000 * MS),
        SHMIPC_OK);
    assert_int_equal(k.next, len);
    assert_int_equal(k.total, len);
    assert_true(k.calls >= 1);
    sha256_final(&k.c, got);
    assert_memory_equal(got, want, 32);
    /* the slot API: an announcement above the capacity, else the bytes */
    assert_int_equal(shmipc_slot_acquire(f.h, 1000 * MS, &s), SHMIPC_OK);
    memcpy(shmipc_slot_req_buf(s), req, 8);
    assert_int_equal(shmipc_slot_send(s, T_BIG, 8, 0, 5000 * MS), SHMIPC_OK);
    if (len > CAP) {
      assert_int_equal(shmipc_slot_resp_type(s), SHMIPC_MSG_LARGE_ANSWER);
      assert_int_equal(shmipc_slot_answer_total(s), len);
      assert_int_equal(shmipc_slot_answer_alloc(s, &buf, &n, &t, 5000 * MS),
                       SHMIPC_OK);
      assert_int_equal(n, len);
      digest(buf, n, got);
      assert_memory_equal(got, want, 32);
      shmipc_answer_free(buf);
      assert_null(shmipc_slot_resp_data(s));
      assert_int_equal(shmipc_slot_answer_alloc(s, &buf, &n, &t, 0),
                       SHMIPC_E_STATE);
    } else {
      assert_int_equal(shmipc_slot_resp_type(s), SHMIPC_MSG_APP_START + 9);
      assert_int_equal(shmipc_slot_resp_size(s), len);
      assert_int_equal(shmipc_slot_answer_total(s), 0);
    }
    shmipc_slot_release(s);
    wait_empty(&f);
  }
  /* every parked answer was released once, and the calls go on */
  pthread_mutex_lock(&mu);
  assert_int_equal(released, 5 * (sizeof lens / sizeof lens[0]) - 1);
  pthread_mutex_unlock(&mu);
  assert_int_equal(stats(&f).peak_held, (uint64_t)17 << 20);
  {
    char out[8];
    size_t n = 0;
    assert_int_equal(shmipc_host_call(f.h, T_SMALL, "hello", 5, out, sizeof out,
                                      &n, NULL, 1000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, 5);
  }
  down(&f);
}

/* The host refuses what is above its max_answer (and the guest frees it);
 * the guest refuses what its limits do not allow (REMOTE with the
 * reason). */
static void bounds(void **state)
{
  shmipc_answer_limits lim;
  unsigned char req[8];
  struct fixture f;
  void *buf = (void *)1;
  size_t n = 0;
  uint32_t t = 0;
  shmipc_slot *s[3];
  int i;

  (void)state;
  shmipc_answer_limits_init(&lim);
  lim.max_answer = 100000;
  lim.max_total = 150000;
  lim.max_answers = 2;
  up(&f, 4, 50000, &lim);
  put64(req, 60000);
  assert_int_equal(
      shmipc_host_call_alloc(f.h, T_BIG, req, 8, &buf, &n, &t, 2000 * MS),
      SHMIPC_E_TRUNCATED);
  assert_null(buf);
  assert_int_equal(n, 60000);
  assert_non_null(strstr(shmipc_last_error(), "limit 50000"));
  wait_empty(&f);
  assert_int_equal(stats(&f).dropped, 1);
  /* above the guest's max_answer */
  put64(req, 100001);
  assert_int_equal(
      shmipc_host_call_alloc(f.h, T_BIG, req, 8, &buf, &n, &t, 2000 * MS),
      SHMIPC_E_REMOTE);
  assert_non_null(buf);
  assert_non_null(strstr(buf, "large answer: length 100001, limit 100000"));
  shmipc_answer_free(buf);
  /* answers parked at once, and bytes parked */
  put64(req, 10000);
  for (i = 0; i < 3; i++) {
    assert_int_equal(shmipc_slot_acquire(f.h, 1000 * MS, &s[i]), SHMIPC_OK);
    memcpy(shmipc_slot_req_buf(s[i]), req, 8);
    assert_int_equal(shmipc_slot_send(s[i], T_BIG, 8, 0, 2000 * MS),
                     i < 2 ? SHMIPC_OK : SHMIPC_E_REMOTE);
  }
  assert_int_equal(stats(&f).parked, 2);
  assert_int_equal(stats(&f).held, 20000);
  assert_int_equal(shmipc_slot_answer_drop(s[0], 1000 * MS), SHMIPC_OK);
  assert_int_equal(shmipc_slot_answer_drop(s[0], 1000 * MS), SHMIPC_E_STATE);
  assert_int_equal(stats(&f).parked, 1);
  assert_int_equal(shmipc_slot_answer_drop(s[1], 1000 * MS), SHMIPC_OK);
  assert_int_equal(stats(&f).parked, 0);
  for (i = 0; i < 3; i++)
    shmipc_slot_release(s[i]);
  /* 150000 bytes in all: 100000 parked, 60000 more not */
  assert_int_equal(shmipc_slot_acquire(f.h, 1000 * MS, &s[0]), SHMIPC_OK);
  assert_int_equal(shmipc_slot_acquire(f.h, 1000 * MS, &s[1]), SHMIPC_OK);
  put64(req, 100000);
  memcpy(shmipc_slot_req_buf(s[0]), req, 8);
  assert_int_equal(shmipc_slot_send(s[0], T_BIG, 8, 0, 2000 * MS), SHMIPC_OK);
  put64(req, 60000);
  memcpy(shmipc_slot_req_buf(s[1]), req, 8);
  assert_int_equal(shmipc_slot_send(s[1], T_BIG, 8, 0, 2000 * MS),
                   SHMIPC_E_REMOTE);
  assert_non_null(strstr(shmipc_slot_resp_data(s[1]), "bytes parked"));
  shmipc_slot_release(s[0]);
  shmipc_slot_release(s[1]);
  /* a handler that fails after setting an answer: released, SYSTEM_ERROR */
  put64(req, 10000);
  assert_int_equal(
      shmipc_host_call(f.h, T_FAILS, req, 8, NULL, 0, &n, &t, 1000 * MS),
      SHMIPC_E_REMOTE);
  down(&f);
  /* detach dropped what was parked: every answer released once */
  pthread_mutex_lock(&mu);
  assert_int_equal(released, 8);
  pthread_mutex_unlock(&mu);
}

/* A parked answer nobody pulls is dropped after the idle timeout, by the
 * idle workers; a pull of it then says EXPIRED. */
static void expiry(void **state)
{
  shmipc_answer_limits lim;
  unsigned char req[8];
  struct fixture f;
  shmipc_slot *s;
  void *buf;
  int64_t t0;

  (void)state;
  shmipc_answer_limits_init(&lim);
  lim.idle_timeout_ns = 100 * MS;
  up(&f, 2, (uint64_t)1 << 30, &lim);
  put64(req, 3 * CAP);
  assert_int_equal(shmipc_slot_acquire(f.h, 1000 * MS, &s), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(s), req, 8);
  assert_int_equal(shmipc_slot_send(s, T_BIG, 8, 0, 2000 * MS), SHMIPC_OK);
  assert_int_equal(stats(&f).parked, 1);
  t0 = t_now_ns();
  while (stats(&f).parked != 0) {
    if (t_now_ns() - t0 > 2000 * MS)
      fail_msg("the idle answer was not dropped");
    t_sleep_ms(5);
  }
  printf("# idle answer dropped after %.0f ms (idle timeout 100 ms)\n",
         t_ms(t_now_ns() - t0));
  assert_true(t_now_ns() - t0 >= 90 * MS);
  assert_int_equal(stats(&f).expired, 1);
  assert_int_equal(stats(&f).held, 0);
  assert_int_equal(shmipc_slot_answer_alloc(s, &buf, NULL, NULL, 1000 * MS),
                   SHMIPC_E_REMOTE);
  assert_null(buf);
  assert_non_null(strstr(shmipc_last_error(), "expired"));
  shmipc_slot_release(s);
  down(&f);
}

/* A caller that stops reading half way (REFUSED) and a transfer that
 * outlasts its timeout (TIMEOUT): the guest frees the answer at once
 * (ABORT), not at its idle timeout. */
static void abandon(void **state)
{
  unsigned char req[8];
  struct fixture f;
  struct chunks k;
  int64_t t0;

  (void)state;
  up(&f, 4, (uint64_t)1 << 30, NULL);
  put64(req, (uint64_t)1 << 20);
  memset(&k, 0, sizeof k);
  sha256_init(&k.c);
  k.stop_at = 1 << 19;
  assert_int_equal(
      shmipc_host_call_chunks(f.h, T_BIG, req, 8, on_chunk, &k, 5000 * MS),
      SHMIPC_E_REFUSED);
  assert_true(k.next >= k.stop_at && k.next < (1 << 20));
  wait_empty(&f);
  assert_int_equal(stats(&f).dropped, 1);
  /* 256 chunks at 2 ms each, under a 100 ms timeout */
  memset(&k, 0, sizeof k);
  sha256_init(&k.c);
  k.sleep_ns = 2 * MS;
  t0 = t_now_ns();
  assert_int_equal(
      shmipc_host_call_chunks(f.h, T_BIG, req, 8, on_chunk, &k, 100 * MS),
      SHMIPC_E_TIMEOUT);
  printf("# transfer timeout 100 ms: returned after %.1f ms, %llu bytes in\n",
         t_ms(t_now_ns() - t0), (unsigned long long)k.next);
  /* within a chunk's sleep and the abort of the deadline, not when an
   * answer happens to be late */
  assert_true(t_now_ns() - t0 < 200 * MS);
  wait_empty(&f);
  assert_int_equal(stats(&f).dropped, 2);
  assert_int_equal(stats(&f).expired, 0);
  down(&f);
}

/* Several large answers at once on a few slots. */
struct worker {
  struct fixture *f;
  uint64_t len;
  int r;
  unsigned char got[32];
};

static void *call_thread(void *arg)
{
  struct worker *w = arg;
  unsigned char req[8];
  void *buf = NULL;
  size_t n = 0;
  int i;

  put64(req, w->len);
  for (i = 0; i < 5 && w->r == 0; i++) {
    w->r = shmipc_host_call_alloc(w->f->h, T_BIG, req, 8, &buf, &n, NULL,
                                  10000 * MS);
    if (w->r == 0 && n != w->len)
      w->r = -100;
    if (w->r == 0)
      digest(buf, n, w->got);
    shmipc_answer_free(buf);
  }
  return NULL;
}

static void concurrent(void **state)
{
  struct worker w[6];
  pthread_t t[6];
  struct fixture f;
  int i;

  (void)state;
  up(&f, 3, (uint64_t)1 << 30, NULL);
  for (i = 0; i < 6; i++) {
    w[i].f = &f;
    w[i].len = (uint64_t)(i + 1) * 100000 + (uint64_t)i;
    w[i].r = 0;
    assert_int_equal(pthread_create(&t[i], NULL, call_thread, &w[i]), 0);
  }
  for (i = 0; i < 6; i++) {
    unsigned char want[32];
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].r, 0);
    expected(w[i].len, want);
    assert_memory_equal(w[i].got, want, 32);
  }
  wait_empty(&f);
  down(&f);
}

/* A guest whose first pull of an answer (offset 0) waits until HELD_FOR
 * other pulls were served, at most HOLD_MS: a host that waits for its
 * oldest pull before it sends another can have only its other slots'
 * pulls served meanwhile. */
#define HELD_FOR 16u
#define HOLD_MS 2000
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint32_t others, while_held;
} hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static int held_first(void *user, uint32_t type, const void *req,
                      size_t req_len, void *resp, size_t resp_cap,
                      size_t *resp_len, uint32_t *resp_type)
{
  struct shmipc__pull q;

  if (type == SHMIPC_MSG_ANSWER_PULL && req_len == SHMIPC__PULL_HDR) {
    shmipc__pull_get(&q, req);
    pthread_mutex_lock(&hold.mu);
    if (q.offset == 0 && q.flags == 0) {
      int64_t until = t_now_ms() + HOLD_MS * t_time_scale();
      while (hold.others < HELD_FOR && t_now_ms() < until) {
        pthread_mutex_unlock(&hold.mu);
        t_sleep_ms(1);
        pthread_mutex_lock(&hold.mu);
      }
      hold.while_held = hold.others;
    } else {
      hold.others++;
    }
    pthread_mutex_unlock(&hold.mu);
  }
  return shmipc__answers_handle(user, type, req, req_len, resp, resp_cap,
                                resp_len, resp_type);
}

/* Into a caller's buffer the host takes the pulls as they end, not
 * oldest first: a slow first pull holds up one slot, not the transfer
 * (the others go on being pulled and copied meanwhile). */
static void out_of_order(void **state)
{
  const uint64_t len = 64 * (uint64_t)(CAP - SHMIPC__PULL_RESP) + 7;
  struct shmipc__answers *tbl;
  shmipc_host_config hc;
  shmipc_guest_config gc;
  shmipc_answer_limits lim;
  unsigned char req[8], want[32], got[32], *buf;
  size_t n = 0;
  uint32_t t = 0;
  char name[64];
  shmipc_host *h;
  shmipc_guest *g;

  (void)state;
  snprintf(name, sizeof name, "answer-ooo-%u", (unsigned)shmipc__getpid());
  shmipc_host_config_init(&hc);
  hc.name = name;
  hc.host_slots = 4;
  hc.req_capacity = CAP;
  hc.resp_capacity = CAP;
  hc.liveness_interval_ns = 20 * MS;
  assert_int_equal(shmipc_host_create(&hc, &h), SHMIPC_OK);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.liveness_interval_ns = 20 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  shmipc_answer_limits_init(&lim);
  assert_int_equal(shmipc__answers_create(&lim, answer, NULL, CAP, &tbl),
                   SHMIPC_OK);
  hold.others = hold.while_held = 0; /* before the workers start */
  assert_int_equal(shmipc_guest_start(g, held_first, tbl), SHMIPC_OK);
  buf = malloc((size_t)len);
  assert_non_null(buf);
  put64(req, len);
  assert_int_equal(
      shmipc_host_call(h, T_BIG, req, 8, buf, (size_t)len, &n, &t, 10000 * MS),
      SHMIPC_OK);
  assert_int_equal(n, len);
  assert_int_equal(t, SHMIPC_MSG_APP_START + 9);
  digest(buf, n, got);
  expected(len, want);
  assert_memory_equal(got, want, 32);
  pthread_mutex_lock(&hold.mu);
  if (hold.while_held < HELD_FOR)
    fail_msg("%u pulls served while the first was held (want %u): the host "
             "waited for its oldest pull",
             (unsigned)hold.while_held, HELD_FOR);
  pthread_mutex_unlock(&hold.mu);
  free(buf);
  shmipc_host_destroy(h);
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_OK);
  shmipc_guest_detach(g);
  shmipc__answers_destroy(tbl);
}

/* The host's judgement of announcements and pull answers, at each edge
 * of the tables in docs/PROTOCOL.md. */
static void judge(void **state)
{
  struct shmipc__answer_hdr a = {5, 1000, 130, 0, 0}, out;
  struct shmipc__pull q = {5, 0, 100, 0, 0};
  unsigned char b[32 + 200];
  uint32_t status, st;
  const uint8_t *data;

  (void)state;
  shmipc__answer_hdr_put(b, &a);
  assert_int_equal(shmipc__answer_parse(32, b, &out), SHMIPC_OK);
  assert_int_equal(out.total, 1000);
  assert_int_equal(shmipc__answer_parse(31, b, &out), SHMIPC_E_CORRUPT);
  a.id = 0;
  shmipc__answer_hdr_put(b, &a);
  assert_int_equal(shmipc__answer_parse(32, b, &out), SHMIPC_E_CORRUPT);
  a.id = 5;
  a.app_type = SHMIPC_MSG_ANSWER_PULL;
  shmipc__answer_hdr_put(b, &a);
  assert_int_equal(shmipc__answer_parse(32, b, &out), SHMIPC_E_CORRUPT);
  a.app_type = 130;
  a.flags = 1;
  shmipc__answer_hdr_put(b, &a);
  assert_int_equal(shmipc__answer_parse(32, b, &out), SHMIPC_E_CORRUPT);
  /* the bytes sit at the offsets of tests/layout.golden */
  a.flags = 0;
  shmipc__answer_hdr_put(b, &a);
  assert_int_equal(get64(b), 5);
  assert_int_equal(get64(b + 8), 1000);
  assert_int_equal(b[16], 130);

  shmipc__pull_resp_put(b, 0, SHMIPC__AST_OPEN, 1000);
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 116, b,
                                      &status, &st, &data),
                   SHMIPC_OK);
  assert_ptr_equal(data, b + 16);
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 115, b,
                                      &status, &st, &data),
                   SHMIPC_E_CORRUPT);
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_NORMAL, 116, b,
                                      &status, &st, &data),
                   SHMIPC_E_CORRUPT);
  assert_int_equal(shmipc__pull_judge(&q, 999, SHMIPC_MSG_ANSWER_PULL, 116, b,
                                      &status, &st, &data),
                   SHMIPC_E_CORRUPT);
  q.flags = SHMIPC__PULL_F_RELEASE; /* OPEN is not the answer to RELEASE */
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 116, b,
                                      &status, &st, &data),
                   SHMIPC_E_CORRUPT);
  shmipc__pull_resp_put(b, SHMIPC__PULL_EXPIRED, SHMIPC__AST_NONE, 0);
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 16, b,
                                      &status, &st, &data),
                   SHMIPC_E_REMOTE);
  assert_int_equal(status, SHMIPC__PULL_EXPIRED);
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 17, b,
                                      &status, &st, &data),
                   SHMIPC_E_CORRUPT);
  shmipc__pull_resp_put(b, SHMIPC__PULL_ABORTED, SHMIPC__AST_DROPPED, 1000);
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 16, b,
                                      &status, &st, &data),
                   SHMIPC_E_CORRUPT); /* ABORTED only answers an ABORT */
  q.flags = SHMIPC__PULL_F_ABORT;
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 16, b,
                                      &status, &st, &data),
                   SHMIPC_E_REMOTE);
  shmipc__pull_resp_put(b, 77, SHMIPC__AST_NONE, 0);
  assert_int_equal(shmipc__pull_judge(&q, 1000, SHMIPC_MSG_ANSWER_PULL, 16, b,
                                      &status, &st, &data),
                   SHMIPC_E_CORRUPT);
}

/* A program built before max_answer existed passes the config's older
 * size: accepted, with the default limit. */
/* A large answer handed over with shmipc_answer_set() drops
 * SHMIPC_RESP_END_ALIGNED: one that fits the slot is copied to its start,
 * a larger one is announced and pulled in order. One the handler writes
 * into the slot itself is sent end-aligned. */
static void end_aligned(void **state)
{
  static const uint64_t lens[] = {1, CAP, CAP + 1, 3 * CAP};
  struct fixture f;
  size_t i;

  (void)state;
  up(&f, 2, (uint64_t)1 << 30, NULL);
  for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    unsigned char req[8], want[32], got[32];
    uint64_t len = lens[i];
    unsigned char *mine = malloc((size_t)len);
    size_t n = 0;
    uint32_t t = 0;

    assert_non_null(mine);
    put64(req, len);
    expected(len, want);
    assert_int_equal(shmipc_host_call(f.h, T_BIG_EA, req, 8, mine, (size_t)len,
                                      &n, &t, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, len);
    assert_int_equal(t, SHMIPC_MSG_APP_START + 9);
    digest(mine, n, got);
    assert_memory_equal(got, want, 32);
    free(mine);
  }
  {
    shmipc_slot *s;
    unsigned char *resp;

    assert_int_equal(shmipc_slot_acquire(f.h, 1000 * MS, &s), SHMIPC_OK);
    resp = (unsigned char *)shmipc_slot_req_buf(s) + CAP;
    memcpy(shmipc_slot_req_buf(s), "tail", 4);
    assert_int_equal(shmipc_slot_send(s, T_SMALL_EA, 4, 0, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(shmipc_slot_resp_type(s), T_SMALL_EA);
    assert_ptr_equal(shmipc_slot_resp_data(s), resp + CAP - 4);
    assert_memory_equal(shmipc_slot_resp_data(s), "tail", 4);
    shmipc_slot_release(s);
  }
  wait_empty(&f);
  down(&f);
}

static void old_config(void **state)
{
  shmipc_host_config hc;
  shmipc_host *h = NULL;
  char name[64];

  (void)state;
  snprintf(name, sizeof name, "answer-old-%u", (unsigned)shmipc__getpid());
  shmipc_host_config_init(&hc);
  assert_int_equal(hc.max_answer, (uint64_t)1 << 30);
  hc.name = name;
  hc.max_answer = 0; /* not read: beyond the older size */
  hc.struct_size = offsetof(shmipc_host_config, max_answer);
  assert_int_equal(shmipc_host_create(&hc, &h), SHMIPC_OK);
  shmipc_host_destroy(h);
  hc.struct_size = offsetof(shmipc_host_config, max_answer) - 1;
  assert_int_equal(shmipc_host_create(&hc, &h), SHMIPC_E_INVALID);
}

#ifndef _WIN32
/* The forked host's chunk callback: says it is half way, then hangs. */
static int hang_chunk(void *user, uint32_t type, uint64_t total,
                      uint64_t offset, const void *data, size_t len)
{
  int fd = *(int *)user;

  (void)type, (void)total, (void)offset, (void)data, (void)len;
  if (write(fd, "h", 1) != 1)
    _exit(3);
  for (;;)
    t_sleep_ms(1000);
}

/* A host process killed with an answer half-read: the guest's workers see
 * the host die and drop the parked answer at once (its idle expiry is an
 * hour away), releasing its bytes once. */
static void host_killed(void **state)
{
  shmipc_answer_limits lim;
  shmipc_answer_stats st;
  shmipc_guest_config gc;
  shmipc_guest *g;
  struct proc host;
  struct fixture f;
  int fds[2], r;
  char b;
  int64_t t0;

  (void)state;
  snprintf(f.name, sizeof f.name, "answer-kill-%u", (unsigned)shmipc__getpid());
  t_segment_forget(f.name); /* the host is killed: its name stays */
  assert_int_equal(pipe(fds), 0);
  r = proc_fork(&host);
  assert_true(r >= 0);
  if (r == 0) {
    shmipc_host_config hc;
    shmipc_host *h;
    unsigned char req[8];

    close(fds[0]);
    shmipc_host_config_init(&hc);
    hc.name = f.name;
    hc.host_slots = 4;
    hc.req_capacity = CAP;
    hc.resp_capacity = CAP;
    hc.liveness_interval_ns = 20 * MS;
    if (shmipc_host_create(&hc, &h) != SHMIPC_OK ||
        write(fds[1], "r", 1) != 1 ||
        shmipc_host_wait_guest(h, 10000 * MS) != SHMIPC_OK)
      _exit(3);
    put64(req, (uint64_t)8 << 20);
    (void)shmipc_host_call_chunks(h, T_BIG, req, 8, hang_chunk, &fds[1],
                                  60000 * MS);
    _exit(3);
  }
  close(fds[1]);
  assert_int_equal(read(fds[0], &b, 1), 1);
  shmipc_guest_config_init(&gc);
  gc.name = f.name;
  gc.liveness_interval_ns = 20 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  f.g = g;
  shmipc_answer_limits_init(&lim);
  lim.idle_timeout_ns = 3600000 * MS;
  pthread_mutex_lock(&mu);
  released = released_bytes = 0;
  pthread_mutex_unlock(&mu);
  assert_int_equal(shmipc_guest_start_answers(g, answer, NULL, &lim),
                   SHMIPC_OK);
  /* the host has its first piece and hangs */
  assert_int_equal(read(fds[0], &b, 1), 1);
  close(fds[0]);
  st = stats(&f);
  assert_int_equal(st.parked, 1);
  assert_int_equal(st.held, (uint64_t)8 << 20);
  proc_kill(&host);
  t0 = t_now_ns();
  while ((st = stats(&f)).parked != 0 || st.held != 0) {
    if (t_now_ns() - t0 > 3000 * MS)
      fail_msg("3 s after the host's death the guest still holds %u answers",
               st.parked);
    t_sleep_ms(1);
  }
  printf("# host killed mid-answer: the guest dropped it %.1f ms after the "
         "kill (liveness interval 20 ms)\n",
         t_ms(t_now_ns() - t0));
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.released, 0);
  pthread_mutex_lock(&mu);
  assert_int_equal(released, 1);
  assert_int_equal(released_bytes, (uint64_t)8 << 20);
  pthread_mutex_unlock(&mu);
  shmipc_guest_detach(g);
  proc_reap(&host);
  t_segment_forget(f.name);
}
#endif

int main(void)
{
  const struct CMUnitTest tests[] = {
#ifndef _WIN32
      /* first: it forks, before any other test started a thread */
      cmocka_unit_test(host_killed),
#endif
      cmocka_unit_test(sizes),        cmocka_unit_test(bounds),
      cmocka_unit_test(expiry),       cmocka_unit_test(abandon),
      cmocka_unit_test(concurrent),   cmocka_unit_test(judge),
      cmocka_unit_test(old_config),   cmocka_unit_test(end_aligned),
      cmocka_unit_test(out_of_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
