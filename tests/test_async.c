/* SPDX-License-Identifier: MIT */
/*
 * Calls in flight without a blocked thread, and aborts: shmipc_slot_poll(),
 * shmipc_slot_wait_any(), shmipc_slot_abort(), shmipc_host_abort(), against
 * a guest in another process (argv[1]: the Go echo guest or the C one,
 * ECHO_GUEST.md; type 201 answers after a delay, others are echoed) and
 * against no guest at all (a request nobody takes, so that an abort takes
 * it back and the slot is free again at once).
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
#include "proc.h"
#include "strict.h"

#define MS INT64_C(1000000)
#define CAP 256u
#define T_ECHO 150u
#define T_LATE 201u

static const char *guest_path;

struct session {
  char name[64];
  shmipc_host *h;
  struct proc guest;
  bool has_guest;
};

/* A host with @host_slots slots and @liveness_ms; with the guest unless
 * @no_guest. */
static void start(struct session *s, uint32_t host_slots, int liveness_ms,
                  bool no_guest)
{
  static int n;
  shmipc_host_config c;
  const char *argv[] = {guest_path,    "-name", s->name,
                        "-timeout-ms", "10000", NULL};

  snprintf(s->name, sizeof s->name, "async-%u-%d", (unsigned)proc_self_id(),
           n++);
  shmipc_host_config_init(&c);
  c.name = s->name;
  c.host_slots = host_slots;
  c.guest_slots = 1;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  if (liveness_ms > 0)
    c.liveness_interval_ns = liveness_ms * MS;
  assert_int_equal(shmipc_host_create(&c, &s->h), SHMIPC_OK);
  s->has_guest = !no_guest;
  if (no_guest)
    return;
  if (proc_spawn(&s->guest, argv, 0) != 0)
    fail_msg("cannot start guest %s", guest_path);
  if (shmipc_host_wait_guest(s->h, 10000 * MS) != SHMIPC_OK)
    fail_msg("guest %s did not attach within 10 s", guest_path);
}

static void stop(struct session *s)
{
  struct proc_status st;

  shmipc_host_destroy(s->h);
  if (!s->has_guest)
    return;
  if (proc_wait(&s->guest, 5000, &st) != 0) {
    proc_kill(&s->guest);
    (void)proc_wait(&s->guest, 10000, &st);
    fail_msg("guest did not exit within 5 s of the host closing");
  }
}

/* Acquire a slot and publish a late call (answered after @delay_ms) or,
 * with @delay_ms < 0, an echo of @tag. */
static shmipc_slot *publish(shmipc_host *h, int delay_ms, uint32_t tag)
{
  shmipc_slot *s;
  uint8_t *b;

  assert_int_equal(shmipc_slot_acquire(h, 5000 * MS, &s), SHMIPC_OK);
  b = shmipc_slot_req_buf(s);
  if (delay_ms >= 0) {
    uint32_t d = (uint32_t)delay_ms;
    b[0] = (uint8_t)d;
    b[1] = (uint8_t)(d >> 8);
    b[2] = (uint8_t)(d >> 16);
    b[3] = (uint8_t)(d >> 24);
  } else {
    memset(b, 0, 4);
  }
  memcpy(b + 4, &tag, 4);
  assert_int_equal(
      shmipc_slot_publish(s, delay_ms >= 0 ? T_LATE : T_ECHO, 8, 0), SHMIPC_OK);
  return s;
}

/* The tag that answer of @s carries. */
static uint32_t answer_tag(shmipc_slot *s)
{
  uint32_t tag;

  assert_int_equal(shmipc_slot_resp_size(s), 8);
  memcpy(&tag, (const uint8_t *)shmipc_slot_resp_data(s) + 4, 4);
  return tag;
}

/* A poll says "not yet" before the answer and "in" after it, with the
 * answer readable; a second poll says so again. */
static void poll_before_and_after(void **state)
{
  struct session ss;
  shmipc_slot *s;
  int64_t t0 = t_now_ns(), t1;
  int r;

  (void)state;
  start(&ss, 2, 0, false);
  s = publish(ss.h, 200, 7);
  t0 = t_now_ns();
  assert_int_equal(shmipc_slot_poll(s), 0);
  assert_null(shmipc_slot_resp_data(s));
  while ((r = shmipc_slot_poll(s)) == 0) {
    if (t_now_ns() - t0 > 5000 * MS)
      fail_msg("no answer to a 200 ms call within 5 s of polling");
    t_sleep_ms(1);
  }
  t1 = t_now_ns();
  assert_int_equal(r, 1);
  assert_true(t1 - t0 >= 150 * MS); /* not before the guest answered */
  assert_int_equal(answer_tag(s), 7);
  assert_int_equal(shmipc_slot_poll(s), 1);
  shmipc_slot_release(s);
  /* nothing published */
  assert_int_equal(shmipc_slot_acquire(ss.h, 1000 * MS, &s), SHMIPC_OK);
  assert_int_equal(shmipc_slot_poll(s), SHMIPC_E_STATE);
  shmipc_slot_release(s);
  assert_int_equal(shmipc_slot_poll(NULL), SHMIPC_E_INVALID);
  stop(&ss);
}

/* A poll of a call whose guest died ends it PEER_GONE within about a
 * liveness interval. */
static void poll_dead_guest(void **state)
{
  struct session ss;
  struct proc_status st;
  shmipc_slot *s;
  int64_t t0;
  int r;

  (void)state;
  start(&ss, 2, 50, false);
  s = publish(ss.h, 10000, 1);
  t_sleep_ms(20); /* taken by the guest's handler */
  assert_int_equal(shmipc_slot_poll(s), 0);
  proc_kill(&ss.guest);
  (void)proc_wait(&ss.guest, 10000, &st);
  t0 = t_now_ns();
  while ((r = shmipc_slot_poll(s)) == 0) {
    if (t_now_ns() - t0 > 2000 * MS)
      fail_msg("a poll did not see the guest's death within 2 s");
    t_sleep_ms(1);
  }
  assert_int_equal(r, SHMIPC_E_PEER_GONE);
  assert_int_equal(shmipc_slot_poll(s), SHMIPC_E_STATE); /* call is over */
  shmipc_slot_release(s);
  ss.has_guest = false;
  stop(&ss);
}

/* One thread keeps 4 calls in flight: wait_any returns them in the order
 * their answers come, then keeps 4 echoes in flight for 2000 calls, each
 * answer the one of its own request. */
static void wait_any_four_in_flight(void **state)
{
  static const int delays[4] = {400, 100, 250, 20};
  static const size_t order[4] = {3, 1, 2, 0};
  struct session ss;
  shmipc_slot *sl[4];
  uint32_t want[4], next = 100;
  size_t which, i;
  int k, done = 0;
  int64_t t0;

  (void)state;
  start(&ss, 4, 0, false);
  for (i = 0; i < 4; i++)
    sl[i] = publish(ss.h, delays[i], (uint32_t)i);
  /* nothing in yet: a zero timeout looks once, the calls stay published */
  assert_int_equal(shmipc_slot_wait_any(sl, 4, 0, &which), SHMIPC_E_TIMEOUT);
  assert_int_equal(which, 4);
  for (k = 0; k < 4; k++) {
    assert_int_equal(
        shmipc_slot_wait_any(sl, (size_t)(4 - k), 5000 * MS, &which),
        SHMIPC_OK);
    assert_true(which < (size_t)(4 - k));
    assert_int_equal(answer_tag(sl[which]), order[k]);
    shmipc_slot_release(sl[which]);
    sl[which] = sl[3 - k]; /* the set shrinks */
  }
  for (i = 0; i < 4; i++) {
    want[i] = next;
    sl[i] = publish(ss.h, -1, next++);
  }
  t0 = t_now_ns();
  while (done < 2000) {
    assert_int_equal(shmipc_slot_wait_any(sl, 4, 5000 * MS, &which), SHMIPC_OK);
    assert_true(which < 4);
    assert_int_equal(answer_tag(sl[which]), want[which]);
    shmipc_slot_release(sl[which]);
    want[which] = next;
    sl[which] = publish(ss.h, -1, next++);
    done++;
  }
  printf("wait_any: 2000 calls, 4 in flight from one thread: %.0f calls/s\n",
         2000.0 / ((double)(t_now_ns() - t0) / 1e9));
  for (i = 0; i < 4; i++) {
    assert_int_equal(shmipc_slot_wait(sl[i], 5000 * MS), SHMIPC_OK);
    assert_int_equal(answer_tag(sl[i]), want[i]);
    shmipc_slot_release(sl[i]);
  }
  /* arguments */
  assert_int_equal(shmipc_slot_wait_any(sl, 0, 0, &which), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_wait_any(NULL, 1, 0, &which), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_wait_any(sl, 1, 0, NULL), SHMIPC_E_INVALID);
  stop(&ss);
}

/* The waiter of the abort latency test. */
struct waiter {
  shmipc_host *h;
  shmipc_slot *s;
  size_t n; /* 0: shmipc_slot_wait(s); else shmipc_slot_wait_any(set) */
  shmipc_slot *set[4];
  int r;
  size_t which;
  int64_t ended;
};

static void *wait_main(void *arg)
{
  struct waiter *w = arg;

  if (w->n == 0)
    w->r = shmipc_slot_wait(w->s, 10000 * MS);
  else
    w->r = shmipc_slot_wait_any(w->set, w->n, 10000 * MS, &w->which);
  w->ended = t_now_ns();
  return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

#define ABORTS 1000

/* A waiter asleep in the kernel (the liveness interval 5 s, so that only
 * the abort's own wake-up can end its sleep early) is ended by
 * shmipc_slot_abort() from another thread, 1000 times: its request was
 * never taken (no guest), so the abort takes it back and the slot is free
 * again at once. */
static void abort_latency(void **state)
{
  static int64_t lat[ABORTS];
  struct session ss;
  int i;

  (void)state;
  start(&ss, 1, 5000, true);
  for (i = 0; i < ABORTS; i++) {
    struct waiter w = {ss.h, NULL, 0, {NULL}, 0, 0, 0};
    pthread_t t;
    int64_t t0;

    w.s = publish(ss.h, -1, (uint32_t)i);
    assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
    t_sleep_ms(1); /* past the spin phase: asleep */
    t0 = t_now_ns();
    if (i % 2 == 0)
      assert_int_equal(shmipc_slot_abort(w.s), SHMIPC_OK);
    else
      assert_int_equal(shmipc_host_abort(ss.h), SHMIPC_OK);
    pthread_join(t, NULL);
    lat[i] = w.ended - t0;
    assert_int_equal(w.r, SHMIPC_E_ABORTED);
    /* a lost wake-up sleeps for the liveness interval (5 s) */
    if (lat[i] > 500 * MS)
      fail_msg("abort %d took %.1f ms", i, t_ms(lat[i]));
    if (i % 2 != 0) {
      /* the call is over; the abort stays until the reset */
      assert_int_equal(shmipc_slot_wait(w.s, 1000 * MS), SHMIPC_E_STATE);
      assert_int_equal(shmipc_host_abort_reset(ss.h), SHMIPC_OK);
    }
    shmipc_slot_release(w.s);
  }
  qsort(lat, ABORTS, sizeof lat[0], cmp_i64);
  printf("abort of a sleeping shmipc_slot_wait(), %d aborts (slot and "
         "handle alternately): median %.1f us, worst %.1f us\n",
         ABORTS, (double)lat[ABORTS / 2] / 1e3, (double)lat[ABORTS - 1] / 1e3);
  stop(&ss);
}

/* wait_any asleep over 4 slots: a slot's abort ends that slot (its index),
 * the handle's abort ends the wait with every call still in flight; both
 * within a bounded time. */
static void abort_wait_any(void **state)
{
  struct session ss;
  struct waiter w;
  pthread_t t;
  int64_t t0;
  size_t i;

  (void)state;
  start(&ss, 4, 5000, true);
  memset(&w, 0, sizeof w);
  w.h = ss.h;
  w.n = 4;
  for (i = 0; i < 4; i++)
    w.set[i] = publish(ss.h, -1, (uint32_t)i);
  assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
  t_sleep_ms(20);
  t0 = t_now_ns();
  assert_int_equal(shmipc_slot_abort(w.set[2]), SHMIPC_OK);
  pthread_join(t, NULL);
  assert_int_equal(w.r, SHMIPC_E_ABORTED);
  assert_int_equal(w.which, 2);
  assert_true(w.ended - t0 < 500 * MS);
  assert_int_equal(shmipc_slot_poll(w.set[2]), SHMIPC_E_STATE); /* ended */
  shmipc_slot_release(w.set[2]);
  w.set[2] = publish(ss.h, -1, 2);
  assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
  t_sleep_ms(20);
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_abort(ss.h), SHMIPC_OK);
  pthread_join(t, NULL);
  assert_int_equal(w.r, SHMIPC_E_ABORTED);
  assert_int_equal(w.which, 4);
  assert_true(w.ended - t0 < 500 * MS);
  /* still published: a poll ends them now, ABORTED by the handle */
  for (i = 0; i < 4; i++) {
    assert_int_equal(shmipc_slot_poll(w.set[i]), SHMIPC_E_ABORTED);
    shmipc_slot_release(w.set[i]);
  }
  assert_int_equal(shmipc_host_abort_reset(ss.h), SHMIPC_OK);
  stop(&ss);
}

/* An answer that is in before a wait_any looks wins over an abort raised
 * before the wait, the handle's or the slot's, as for shmipc_slot_wait():
 * a wait that needs no wait still succeeds; the handle's abort ends the
 * next wait that would have to wait, every call still in flight. */
static void wait_any_answer_beats_abort(void **state)
{
  struct session ss;
  shmipc_slot *sl[2];
  size_t which;
  int k;

  (void)state;
  start(&ss, 3, 0, false); /* the first round's late call quarantines one */
  for (k = 0; k < 2; k++) {
    sl[0] = publish(ss.h, 2000, 1); /* not answered for 2 s */
    sl[1] = publish(ss.h, -1, 2);
    t_sleep_ms(200); /* the echo's answer is in */
    if (k == 0)
      assert_int_equal(shmipc_host_abort(ss.h), SHMIPC_OK);
    else
      assert_int_equal(shmipc_slot_abort(sl[1]), SHMIPC_OK);
    assert_int_equal(shmipc_slot_wait_any(sl, 2, 5000 * MS, &which), SHMIPC_OK);
    assert_int_equal(which, 1);
    assert_int_equal(answer_tag(sl[1]), 2);
    shmipc_slot_release(sl[1]);
    if (k == 0) {
      assert_int_equal(shmipc_slot_wait_any(sl, 1, 5000 * MS, &which),
                       SHMIPC_E_ABORTED);
      assert_int_equal(which, 1);
      assert_int_equal(shmipc_host_abort_reset(ss.h), SHMIPC_OK);
    }
    assert_int_equal(shmipc_slot_abort(sl[0]), SHMIPC_OK);
    assert_int_equal(shmipc_slot_wait_any(sl, 1, 5000 * MS, &which),
                     SHMIPC_E_ABORTED);
    assert_int_equal(which, 0);
    shmipc_slot_release(sl[0]); /* quarantined until its late answer */
  }
  stop(&ss);
}

struct server {
  shmipc_host *h;
  int r;
  int64_t ended;
};

static void *serve_main(void *arg)
{
  struct server *sv = arg;

  sv->r = shmipc_host_serve(sv->h, t_echo, NULL, 10000 * MS);
  sv->ended = t_now_ns();
  return NULL;
}

static void *wait_guest_main(void *arg)
{
  struct server *sv = arg;

  sv->r = shmipc_host_wait_guest(sv->h, 10000 * MS);
  sv->ended = t_now_ns();
  return NULL;
}

/* The handle's abort ends a shmipc_host_serve() and a
 * shmipc_host_wait_guest() asleep, and the blocking calls that come
 * after it, until its reset. */
static void abort_serve_and_wait_guest(void **state)
{
  void *(*fns[2])(void *) = {serve_main, wait_guest_main};
  struct session ss;
  shmipc_slot *s;
  int i;

  (void)state;
  start(&ss, 1, 5000, true);
  for (i = 0; i < 2; i++) {
    struct server sv = {ss.h, 0, 0};
    pthread_t t;
    int64_t t0;

    assert_int_equal(pthread_create(&t, NULL, fns[i], &sv), 0);
    t_sleep_ms(50);
    t0 = t_now_ns();
    assert_int_equal(shmipc_host_abort(ss.h), SHMIPC_OK);
    pthread_join(t, NULL);
    assert_int_equal(sv.r, SHMIPC_E_ABORTED);
    assert_true(sv.ended - t0 < 500 * MS);
    /* sticky */
    assert_int_equal(shmipc_host_serve(ss.h, t_echo, NULL, 1000 * MS),
                     SHMIPC_E_ABORTED);
    assert_int_equal(shmipc_slot_acquire(ss.h, 1000 * MS, &s),
                     SHMIPC_E_ABORTED);
    assert_int_equal(shmipc_host_abort_reset(ss.h), SHMIPC_OK);
    assert_int_equal(shmipc_host_serve(ss.h, t_echo, NULL, 10 * MS),
                     SHMIPC_E_TIMEOUT);
  }
  assert_int_equal(shmipc_host_abort(NULL), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_abort(NULL), SHMIPC_E_INVALID);
  stop(&ss);
}

struct guest_waiter {
  shmipc_guest *g;
  bool call; /* a guest call, else shmipc_guest_wait() */
  int r;
  int64_t ended;
};

static void *guest_wait_main(void *arg)
{
  struct guest_waiter *w = arg;
  char resp[8];

  if (w->call)
    w->r = shmipc_guest_call(w->g, SHMIPC_MSG_APP_START, "hi", 2, resp,
                             sizeof resp, NULL, NULL, 10000 * MS);
  else
    w->r = shmipc_guest_wait(w->g, 10000 * MS);
  w->ended = t_now_ns();
  return NULL;
}

/* A C guest in this process: shmipc_guest_abort() ends a guest call that
 * nobody serves and a shmipc_guest_wait() for the workers, both asleep,
 * sticky until its reset; the workers go on serving host calls. */
static void guest_abort(void **state)
{
  struct session ss;
  shmipc_guest_config gc;
  shmipc_guest *g;
  char resp[8];
  size_t n = 0;
  int i;

  (void)state;
  start(&ss, 1, 5000, true);
  shmipc_guest_config_init(&gc);
  gc.name = ss.name;
  gc.connect_timeout_ns = 2000 * MS;
  gc.liveness_interval_ns = 5000 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, t_echo, NULL), SHMIPC_OK);
  for (i = 0; i < 2; i++) {
    struct guest_waiter w = {g, i == 0, 0, 0};
    pthread_t t;
    int64_t t0;

    assert_int_equal(pthread_create(&t, NULL, guest_wait_main, &w), 0);
    t_sleep_ms(50);
    t0 = t_now_ns();
    assert_int_equal(shmipc_guest_abort(g), SHMIPC_OK);
    pthread_join(t, NULL);
    assert_int_equal(w.r, SHMIPC_E_ABORTED);
    assert_true(w.ended - t0 < 500 * MS);
    assert_int_equal(shmipc_guest_call(g, SHMIPC_MSG_APP_START, "hi", 2, resp,
                                       sizeof resp, NULL, NULL, 1000 * MS),
                     SHMIPC_E_ABORTED);
    /* the workers still serve */
    assert_int_equal(shmipc_host_call(ss.h, T_ECHO, "abcd", 4, resp,
                                      sizeof resp, &n, NULL, 2000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, 4);
    assert_int_equal(shmipc_guest_abort_reset(g), SHMIPC_OK);
  }
  assert_int_equal(shmipc_guest_abort(NULL), SHMIPC_E_INVALID);
  shmipc_guest_detach(g);
  stop(&ss);
}

/* s and delay are written before go (release) and read after it
 * (acquire); go, quit and acked are atomics. */
struct racer {
  shmipc_slot *s;
  int go; /* round number to abort in */
  int quit;
  int delay; /* spins before the abort */
  int acked; /* the last round aborted */
};

static void *race_main(void *arg)
{
  struct racer *rc = arg;
  int seen = 0;

  while (!__atomic_load_n(&rc->quit, __ATOMIC_ACQUIRE)) {
    int g = __atomic_load_n(&rc->go, __ATOMIC_ACQUIRE), k;
    if (g == seen)
      continue;
    seen = g;
    for (k = 0; k < rc->delay; k++)
      __asm__ __volatile__("" ::: "memory");
    (void)shmipc_slot_abort(rc->s);
    __atomic_store_n(&rc->acked, g, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

/* An abort racing the answer: each call ends OK with its own answer or
 * ABORTED, never anything else, and the slots stay usable (an aborted call
 * whose request the guest had taken is quarantined until its answer). */
static void abort_races_answer(void **state)
{
  struct session ss;
  struct racer rc = {NULL, 0, 0, 0, 0};
  pthread_t t;
  int i, ok = 0, aborted = 0;
  shmipc_slot *a, *b;

  (void)state;
  start(&ss, 2, 0, false);
  assert_int_equal(pthread_create(&t, NULL, race_main, &rc), 0);
  for (i = 1; i <= 2000; i++) {
    shmipc_slot *s = publish(ss.h, -1, (uint32_t)i);
    int r;

    rc.s = s;
    rc.delay = (i * 37) % 4000;
    __atomic_store_n(&rc.go, i, __ATOMIC_SEQ_CST);
    r = shmipc_slot_wait(s, 5000 * MS);
    if (r == SHMIPC_OK) {
      assert_int_equal(answer_tag(s), (uint32_t)i);
      ok++;
    } else {
      assert_int_equal(r, SHMIPC_E_ABORTED);
      aborted++;
    }
    /* the racer is done with this slot before it goes back */
    while (__atomic_load_n(&rc.acked, __ATOMIC_SEQ_CST) != i)
      ;
    shmipc_slot_release(s);
  }
  __atomic_store_n(&rc.quit, 1, __ATOMIC_RELEASE);
  pthread_join(t, NULL);
  printf("abort racing the answer: %d answered, %d aborted\n", ok, aborted);
  assert_true(ok + aborted == 2000);
  /* both slots come back (quarantined ones once their late answer is in) */
  assert_int_equal(shmipc_slot_acquire(ss.h, 2000 * MS, &a), SHMIPC_OK);
  assert_int_equal(shmipc_slot_acquire(ss.h, 2000 * MS, &b), SHMIPC_OK);
  shmipc_slot_release(a);
  shmipc_slot_release(b);
  assert_int_equal(shmipc_host_call(ss.h, T_ECHO, "12345678", 8, NULL, 0, NULL,
                                    NULL, 5000 * MS),
                   SHMIPC_E_TRUNCATED);
  stop(&ss);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(poll_before_and_after),
      cmocka_unit_test(poll_dead_guest),
      cmocka_unit_test(wait_any_four_in_flight),
      cmocka_unit_test(abort_latency),
      cmocka_unit_test(abort_wait_any),
      cmocka_unit_test(wait_any_answer_beats_abort),
      cmocka_unit_test(abort_serve_and_wait_guest),
      cmocka_unit_test(abort_races_answer),
      cmocka_unit_test(guest_abort),
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
