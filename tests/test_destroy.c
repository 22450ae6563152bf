/* SPDX-License-Identifier: MIT */
/*
 * Destroy and detach while other threads are inside the handle's blocking
 * functions (include/shmipc/shmipc.h, "Threads"): each case starts one
 * blocking function in a thread, lets it wait, destroys (or detaches, or
 * destroys the stream sender) from the main thread, and checks that the
 * blocked function returns SHMIPC_E_CLOSED within BOUND_MS of the destroy
 * and that nothing touches freed memory (run under ASan and TSan by
 * scripts/sanitizers.sh). Host and guest run in this one process, as in
 * test_unit.c.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "handlers.h"
#include "shmipc/shmipc.h"

/* How long the blocked function waits before the destroy, and how soon
 * after the destroy began it must have returned. */
#define WAIT_MS 200
#define BOUND_MS 1500
/* The slow handler's answer comes this late at the latest. */
#define SLOW_MS 5000

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "destroy-%ld-%d", (long)t_now_ns() % 1000000, n++);
  return buf;
}

/* A handler whose answer waits until the case lets it go (or SLOW_MS). */
static volatile int let_go; /* atomic (__atomic builtins) */

static int slow(void *user, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type)
{
  int64_t end = t_now_ms() + SLOW_MS;

  while (!__atomic_load_n(&let_go, __ATOMIC_ACQUIRE) && t_now_ms() < end)
    t_sleep_ms(1);
  return t_echo(user, type, req, req_len, resp, resp_cap, resp_len, resp_type);
}

static shmipc_host *host_new(const char *name, uint32_t host_slots,
                             uint32_t guest_slots)
{
  shmipc_host_config c;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = host_slots;
  c.guest_slots = guest_slots;
  c.req_capacity = 4096;
  c.resp_capacity = 4096;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  return h;
}

static shmipc_guest *guest_new(const char *name, shmipc_handler_fn fn)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;

  shmipc_guest_config_init(&c);
  c.name = name;
  c.connect_timeout_ns = 1000 * T_MS;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_OK);
  if (fn != NULL)
    assert_int_equal(shmipc_guest_start(g, fn, NULL), SHMIPC_OK);
  return g;
}

/* One blocking function, run in its own thread. */
struct blocked {
  shmipc_host *h;
  shmipc_guest *g;
  shmipc_stream_sender *snd;
  int (*fn)(struct blocked *b);
  int rc;
  int done;       /* atomic: fn returned */
  int64_t end_ns; /* when */
  pthread_t th;
};

static void *blocked_main(void *arg)
{
  struct blocked *b = arg;

  b->rc = b->fn(b);
  b->end_ns = t_now_ns();
  __atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void block(struct blocked *b)
{
  assert_int_equal(pthread_create(&b->th, NULL, blocked_main, b), 0);
  t_sleep_ms(WAIT_MS);
  /* Still waiting: the destroy below is what ends it. */
  assert_int_equal(__atomic_load_n(&b->done, __ATOMIC_ACQUIRE), 0);
}

/* Join the blocked thread: it returned @want within BOUND_MS of @t0. */
static void unblocked(struct blocked *b, int64_t t0, int want)
{
  assert_int_equal(pthread_join(b->th, NULL), 0);
  assert_int_equal(b->rc, want);
  if (b->end_ns - t0 > BOUND_MS * T_MS)
    fail_msg("returned %.1f ms after the destroy began, bound %d ms",
             t_ms(b->end_ns - t0), BOUND_MS);
}

/* Destroy @b's host while @b is blocked; the guest (if any) goes after. */
static void destroy_host_during(struct blocked *b)
{
  int64_t t0;

  block(b);
  t0 = t_now_ns();
  shmipc_host_destroy(b->h);
  unblocked(b, t0, SHMIPC_E_CLOSED);
  __atomic_store_n(&let_go, 1, __ATOMIC_RELEASE);
  shmipc_guest_detach(b->g);
  __atomic_store_n(&let_go, 0, __ATOMIC_RELEASE);
}

static int do_host_call(struct blocked *b)
{
  char resp[64];
  size_t n = 0;

  return shmipc_host_call(b->h, 1, "hi", 2, resp, sizeof resp, &n, NULL,
                          SHMIPC_TIMEOUT_INFINITE);
}

static void host_call_during_destroy(void **state)
{
  const char *name = tname();
  struct blocked b = {0};

  (void)state;
  b.h = host_new(name, 1, 0);
  b.g = guest_new(name, slow);
  b.fn = do_host_call;
  destroy_host_during(&b);
}

static int do_slot_acquire(struct blocked *b)
{
  shmipc_slot *s = NULL;

  return shmipc_slot_acquire(b->h, SHMIPC_TIMEOUT_INFINITE, &s);
}

/* The only host slot is held by the main thread (never used after the
 * destroy); another thread waits for a free one. */
static void slot_acquire_during_destroy(void **state)
{
  const char *name = tname();
  struct blocked b = {0};
  shmipc_slot *held = NULL;

  (void)state;
  b.h = host_new(name, 1, 0);
  assert_int_equal(shmipc_slot_acquire(b.h, 0, &held), SHMIPC_OK);
  b.fn = do_slot_acquire;
  destroy_host_during(&b);
}

static int do_slot_wait(struct blocked *b)
{
  shmipc_slot *s = NULL;
  int r = shmipc_slot_acquire(b->h, SHMIPC_TIMEOUT_INFINITE, &s);

  if (r != SHMIPC_OK)
    return 1000 + r;
  memcpy(shmipc_slot_req_buf(s), "hi", 2);
  r = shmipc_slot_publish(s, 1, 2, 0);
  if (r != SHMIPC_OK)
    return 2000 + r;
  /* The slot is not released after: its handle is gone. */
  return shmipc_slot_wait(s, SHMIPC_TIMEOUT_INFINITE);
}

static void slot_wait_during_destroy(void **state)
{
  const char *name = tname();
  struct blocked b = {0};

  (void)state;
  b.h = host_new(name, 1, 0);
  b.g = guest_new(name, slow);
  b.fn = do_slot_wait;
  destroy_host_during(&b);
}

static int do_slot_send(struct blocked *b)
{
  shmipc_slot *s = NULL;
  int r = shmipc_slot_acquire(b->h, SHMIPC_TIMEOUT_INFINITE, &s);

  if (r != SHMIPC_OK)
    return 1000 + r;
  return shmipc_slot_send(s, 1, 0, 0, SHMIPC_TIMEOUT_INFINITE);
}

static void slot_send_during_destroy(void **state)
{
  const char *name = tname();
  struct blocked b = {0};

  (void)state;
  b.h = host_new(name, 1, 0);
  b.g = guest_new(name, slow);
  b.fn = do_slot_send;
  destroy_host_during(&b);
}

static int do_wait_guest(struct blocked *b)
{
  return shmipc_host_wait_guest(b->h, SHMIPC_TIMEOUT_INFINITE);
}

static void wait_guest_during_destroy(void **state)
{
  struct blocked b = {0};

  (void)state;
  b.h = host_new(tname(), 1, 0);
  b.fn = do_wait_guest;
  destroy_host_during(&b);
}

static int do_serve(struct blocked *b)
{
  return shmipc_host_serve(b->h, t_echo, NULL, SHMIPC_TIMEOUT_INFINITE);
}

static void serve_during_destroy(void **state)
{
  struct blocked b = {0};

  (void)state;
  b.h = host_new(tname(), 1, 1);
  b.fn = do_serve;
  destroy_host_during(&b);
}

static int do_stream_send(struct blocked *b)
{
  static const char data[100] = "stream";

  return shmipc_stream_send(b->snd, 7, data, sizeof data,
                            SHMIPC_TIMEOUT_INFINITE, NULL);
}

/* The guest answers the stream's start only when let go: the send waits
 * there. */
static void stream_send_during_host_destroy(void **state)
{
  const char *name = tname();
  struct blocked b = {0};

  (void)state;
  b.h = host_new(name, 2, 0);
  b.g = guest_new(name, slow);
  assert_int_equal(shmipc_stream_sender_create(b.h, NULL, &b.snd), SHMIPC_OK);
  b.fn = do_stream_send;
  destroy_host_during(&b);
  /* No send runs: the sender does not touch its destroyed host. */
  shmipc_stream_sender_destroy(b.snd);
}

static void stream_send_during_sender_destroy(void **state)
{
  const char *name = tname();
  struct blocked b = {0};
  int64_t t0;

  (void)state;
  b.h = host_new(name, 2, 0);
  b.g = guest_new(name, slow);
  assert_int_equal(shmipc_stream_sender_create(b.h, NULL, &b.snd), SHMIPC_OK);
  b.fn = do_stream_send;
  block(&b);
  t0 = t_now_ns();
  shmipc_stream_sender_destroy(b.snd);
  unblocked(&b, t0, SHMIPC_E_CLOSED);
  __atomic_store_n(&let_go, 1, __ATOMIC_RELEASE);
  shmipc_host_destroy(b.h);
  shmipc_guest_detach(b.g);
  __atomic_store_n(&let_go, 0, __ATOMIC_RELEASE);
}

/* Detach @b's guest while @b is blocked; the host goes after. */
static void detach_during(struct blocked *b)
{
  int64_t t0;

  block(b);
  t0 = t_now_ns();
  shmipc_guest_detach(b->g);
  unblocked(b, t0, SHMIPC_E_CLOSED);
  shmipc_host_destroy(b->h);
}

static int do_guest_call(struct blocked *b)
{
  char resp[64];
  size_t n = 0;

  return shmipc_guest_call(b->g, 1, "hi", 2, resp, sizeof resp, &n, NULL,
                           SHMIPC_TIMEOUT_INFINITE);
}

/* The host never serves: the guest call waits for its answer. */
static void guest_call_during_detach(void **state)
{
  const char *name = tname();
  struct blocked b = {0};

  (void)state;
  b.h = host_new(name, 1, 1);
  b.g = guest_new(name, NULL);
  b.fn = do_guest_call;
  detach_during(&b);
}

static int do_guest_wait(struct blocked *b)
{
  return shmipc_guest_wait(b->g, SHMIPC_TIMEOUT_INFINITE);
}

static void guest_wait_during_detach(void **state)
{
  const char *name = tname();
  struct blocked b = {0};

  (void)state;
  b.h = host_new(name, 2, 0);
  b.g = guest_new(name, t_echo);
  b.fn = do_guest_wait;
  detach_during(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(host_call_during_destroy),
      cmocka_unit_test(slot_acquire_during_destroy),
      cmocka_unit_test(slot_wait_during_destroy),
      cmocka_unit_test(slot_send_during_destroy),
      cmocka_unit_test(wait_guest_during_destroy),
      cmocka_unit_test(serve_during_destroy),
      cmocka_unit_test(stream_send_during_host_destroy),
      cmocka_unit_test(stream_send_during_sender_destroy),
      cmocka_unit_test(guest_call_during_detach),
      cmocka_unit_test(guest_wait_during_detach),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
