/* SPDX-License-Identifier: MIT */
/*
 * The caller's deadline at the responder and its cancel mark
 * (docs/PROTOCOL.md, "Deadline and cancel"), against a guest in another
 * process (argv[1]: the Go echo guest or the C one, ECHO_GUEST.md types
 * 230-233): the guest's handler sees the deadline of the host's call and
 * none for an infinite one; a call that times out or is aborted while
 * the handler runs is marked cancelled, and the handler sees the mark
 * within a bounded time; the next call on the slot carries no mark; a
 * peer's garbage in the word crashes nobody. The other direction: the
 * host's listener handler sees the deadline of the guest's call (type
 * 202) and the mark of one the guest gave up on (type 234), and refuses
 * pointers that are not its request buffers.
 */
#include <pthread.h>
#include <sched.h>
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
#include "proc.h"

#define MS INT64_C(1000000)
#define CAP 256u
#define T_GUEST_CALL 202u
#define T_DEADLINE 230u
#define T_WAIT_CANCEL 231u
#define T_LAST_CANCEL 232u
#define T_BAD_POINTERS 233u
#define T_CALL_TIMEOUT 234u
/* Calls whose cancel the handler must see, per kind. */
#define ROUNDS 50
/* A clock read, a handler's start and the guest's scheduling: how far a
 * deadline seen may be off the caller's (times the test time scale). */
#define SLACK_NS (20 * MS)

static const char *guest_path;

struct session {
  char name[64];
  shmipc_host *h;
  struct proc guest;
};

/* What the host's listener handler saw of the last guest call. */
static struct {
  pthread_mutex_t mu;
  int r;
  int64_t left;
  int cancelled;
  int bad[3];
  int64_t mark_at; /* a "wait" call: when the handler saw its mark, or 0 */
  int started;     /* a "wait" call reached the handler */
} seen = {.mu = PTHREAD_MUTEX_INITIALIZER};

static shmipc_host *listening;

static int host_handler(void *user, uint32_t type, const void *req,
                        size_t req_len, void *resp, size_t resp_cap,
                        size_t *resp_len, uint32_t *resp_type)
{
  int64_t dl = 0, junk;
  int r;

  (void)user;
  r = shmipc_host_request_deadline(listening, req, &dl);
  pthread_mutex_lock(&seen.mu);
  seen.r = r;
  seen.left = r == 1 ? dl - shmipc_clock_ns() : 0;
  seen.cancelled = shmipc_host_request_cancelled(listening, req);
  seen.bad[0] = shmipc_host_request_deadline(listening, resp, &junk);
  seen.bad[1] = shmipc_host_request_cancelled(listening, &junk);
  seen.bad[2] = shmipc_host_request_deadline(
      listening, (const char *)req + shmipc_host_req_capacity(listening) + 1,
      &junk);
  pthread_mutex_unlock(&seen.mu);
  if (req_len == 4 && memcmp(req, "wait", 4) == 0) {
    /* Until the guest gives up on this call (at most 3 s). */
    int64_t t0 = t_now_ns();

    pthread_mutex_lock(&seen.mu);
    seen.started = 1;
    pthread_mutex_unlock(&seen.mu);

    while (shmipc_host_request_cancelled(listening, req) == 0 &&
           t_now_ns() - t0 < 3000 * MS)
      sched_yield();
    pthread_mutex_lock(&seen.mu);
    seen.mark_at =
        shmipc_host_request_cancelled(listening, req) == 1 ? t_now_ns() : -1;
    pthread_mutex_unlock(&seen.mu);
  }
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

static void start(struct session *s, uint32_t host_slots)
{
  static int n;
  shmipc_host_config c;
  const char *argv[] = {guest_path,    "-name", s->name,
                        "-timeout-ms", "10000", NULL};

  snprintf(s->name, sizeof s->name, "deadline-%u-%d", (unsigned)proc_self_id(),
           n++);
  t_segment_forget(s->name); /* at exit, should a test fail */
  shmipc_host_config_init(&c);
  c.name = s->name;
  c.host_slots = host_slots;
  c.guest_slots = 1;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  assert_int_equal(shmipc_host_create(&c, &s->h), SHMIPC_OK);
  listening = s->h;
  assert_int_equal(shmipc_host_listen_start(s->h, host_handler, NULL),
                   SHMIPC_OK);
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
    (void)proc_wait(&s->guest, 10000, &st);
    fail_msg("guest did not exit within 5 s of the host closing");
  }
}

static void put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
  p[3] = (uint8_t)(v >> 24);
}

static int64_t get64(const uint8_t *p)
{
  uint64_t v = 0;
  int i;

  for (i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return (int64_t)v;
}

/* A call of @type with a 4-byte argument @arg and @timeout_ns; its
 * 32-byte answer in @out. */
static int call4(shmipc_host *h, uint32_t type, uint32_t arg,
                 int64_t timeout_ns, uint8_t out[32])
{
  uint8_t req[4];
  size_t n = 0;
  uint32_t t = 0;
  int r;

  put32(req, arg);
  r = shmipc_host_call(h, type, req, 4, out, 32, &n, &t, timeout_ns);
  if (r == SHMIPC_OK && (n != 32 || t != type))
    fail_msg("type %u: answer of %zu bytes, type %u", type, n, t);
  return r;
}

/* The handler sees the caller's deadline: its time left is the caller's
 * timeout less what passed since the call began (within SLACK_NS), both
 * while the caller spins (a budget not yet fixed: no delay) and after it
 * fixed its deadline (a handler that sleeps first); an infinite call
 * has none; nothing is marked cancelled. */
static void deadline_seen(void **state)
{
  struct session ss;
  uint8_t out[32];
  int64_t slack = SLACK_NS * t_time_scale();
  uint32_t delay;

  (void)state;
  start(&ss, 2);
  for (delay = 0; delay <= 50; delay += 50) {
    int64_t t0 = t_now_ns(), t1, left;

    assert_int_equal(call4(ss.h, T_DEADLINE, delay, 2000 * MS, out), SHMIPC_OK);
    t1 = t_now_ns();
    left = get64(out + 8);
    assert_int_equal(get64(out), 1);
    assert_int_equal(get64(out + 16), 0);
    printf("delay %u ms: deadline seen %.3f ms ahead, call took %.3f ms\n",
           delay, t_ms(left), t_ms(t1 - t0));
    if (left > 2000 * MS - delay * MS + slack ||
        left < 2000 * MS - (t1 - t0) - slack)
      fail_msg("delay %u ms: the handler saw %.3f ms left of a 2000 ms call "
               "that took %.3f ms",
               delay, t_ms(left), t_ms(t1 - t0));
  }
  assert_int_equal(call4(ss.h, T_DEADLINE, 0, SHMIPC_TIMEOUT_INFINITE, out),
                   SHMIPC_OK);
  assert_int_equal(get64(out), 0);
  assert_int_equal(get64(out + 8), 0);
  stop(&ss);
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* How many type-231 calls the guest has ended, and whether the last saw
 * its mark. */
static int64_t last_cancel(shmipc_host *h, int64_t *saw)
{
  uint8_t out[32];

  assert_int_equal(call4(h, T_LAST_CANCEL, 0, 5000 * MS, out), SHMIPC_OK);
  *saw = get64(out + 8);
  return get64(out);
}

/* The host's count of calls taken back before the guest took them. */
static uint64_t host_cancels(shmipc_host *h)
{
  shmipc_stats st = SHMIPC_STATS_INIT;

  assert_int_equal(shmipc_host_stats(h, &st), SHMIPC_OK);
  return st.cancels;
}

struct aborter {
  shmipc_slot *s;
  int64_t after_ns;
  int64_t at;
};

static void *abort_main(void *arg)
{
  struct aborter *a = arg;

  t_sleep_ns(a->after_ns);
  a->at = t_now_ns();
  (void)shmipc_slot_abort(a->s);
  return NULL;
}

/* A caller that gives up while the handler runs marks the call: by its
 * timeout (@abort false) or by shmipc_slot_abort() from another thread.
 * The handler (type 231) loops until it sees the mark; the time from the
 * caller's return until a look on the other slot finds the handler done
 * bounds how late it saw it (median and worst of ROUNDS). */
static void cancel_seen(bool abort)
{
  struct session ss;
  int64_t lat[ROUNDS], done, saw;
  int i, skipped = 0;

  start(&ss, 2);
  done = last_cancel(ss.h, &saw);
  for (i = 0; i < ROUNDS;) {
    int64_t gave_up, t;
    uint8_t out[32];
    int r;
    uint64_t cancels = host_cancels(ss.h);

    if (!abort) {
      r = call4(ss.h, T_WAIT_CANCEL, 3000, 20 * MS, out);
      gave_up = t_now_ns();
      assert_int_equal(r, SHMIPC_E_TIMEOUT);
    } else {
      struct aborter a;
      pthread_t th;
      uint8_t *b;

      assert_int_equal(shmipc_slot_acquire(ss.h, 5000 * MS, &a.s), SHMIPC_OK);
      b = shmipc_slot_req_buf(a.s);
      put32(b, 3000);
      assert_int_equal(shmipc_slot_publish(a.s, T_WAIT_CANCEL, 4, 0),
                       SHMIPC_OK);
      a.after_ns = 20 * MS;
      assert_int_equal(pthread_create(&th, NULL, abort_main, &a), 0);
      r = shmipc_slot_wait(a.s, 10000 * MS);
      gave_up = t_now_ns();
      assert_int_equal(pthread_join(th, NULL), 0);
      assert_int_equal(r, SHMIPC_E_ABORTED);
      shmipc_slot_release(a.s);
    }
    if (host_cancels(ss.h) != cancels) {
      /* Given up before the guest took it (a loaded machine): taken
       * back, so no handler ran; not a round. */
      if (++skipped > ROUNDS)
        fail_msg("%d calls taken back before the guest took them", skipped);
      continue;
    }
    for (t = t_now_ns();; t_sleep_ns(MS / 10)) {
      if (last_cancel(ss.h, &saw) > done)
        break;
      if (t_now_ns() - t > 4000 * MS)
        fail_msg("round %d: the handler did not end within 4 s of its "
                 "caller giving up",
                 i);
    }
    lat[i] = t_now_ns() - gave_up;
    done++;
    if (saw != 1)
      fail_msg("round %d: the handler ended without seeing the cancel mark", i);
    i++;
  }
  qsort(lat, ROUNDS, sizeof lat[0], cmp_i64);
  printf("cancel mark after %s seen by the handler, %d calls (%d more taken "
         "back untaken): median %.1f us, worst %.1f us (upper bounds: a look "
         "on another slot each 100 us)\n",
         abort ? "shmipc_slot_abort()" : "a timeout", ROUNDS, skipped,
         (double)lat[ROUNDS / 2] / 1e3, (double)lat[ROUNDS - 1] / 1e3);
  if (lat[ROUNDS / 2] > 100 * MS * t_time_scale())
    fail_msg("median %.1f ms from giving up to the handler's end",
             t_ms(lat[ROUNDS / 2]));
  stop(&ss);
}

static void cancel_on_timeout(void **state)
{
  (void)state;
  cancel_seen(false);
}

static void cancel_on_abort(void **state)
{
  (void)state;
  cancel_seen(true);
}

/* With one slot, the call after a cancelled one is on the same slot (its
 * claim waits for the late answer): it carries its own deadline and no
 * mark, and the guest says the cancelled call saw its mark. */
static void next_call_unmarked(void **state)
{
  struct session ss;
  uint8_t out[32];
  int64_t saw;
  int i, skipped = 0;

  (void)state;
  start(&ss, 1);
  for (i = 0; i < 5;) {
    uint64_t cancels = host_cancels(ss.h);

    assert_int_equal(call4(ss.h, T_WAIT_CANCEL, 3000, 20 * MS, out),
                     SHMIPC_E_TIMEOUT);
    if (host_cancels(ss.h) != cancels) {
      if (++skipped > 20) /* taken back before the guest took it */
        fail_msg("%d calls taken back before the guest took them", skipped);
      continue;
    }
    assert_int_equal(call4(ss.h, T_DEADLINE, 0, 4000 * MS, out), SHMIPC_OK);
    assert_int_equal(get64(out), 1);
    if (get64(out + 16) != 0)
      fail_msg("round %d: the call after a cancelled one is marked", i);
    (void)last_cancel(ss.h, &saw);
    assert_int_equal(saw, 1);
    i++;
  }
  stop(&ss);
}

/* A requester (here the test, writing the word after its publish) may put
 * anything into the word: the handler reads some value, and the guest
 * answers and goes on serving. */
static void garbage_word(void **state)
{
  static const uint64_t words[] = {
      ~UINT64_C(0),
      UINT64_C(0x8000000000000000),
      UINT64_C(0x4000000000000000),
      UINT64_C(0x3FFFFFFFFFFFFFFF),
      UINT64_C(0x7FFFFFFFFFFFFFFF),
      1,
  };
  struct session ss;
  size_t i;

  (void)state;
  start(&ss, 2);
  for (i = 0; i < sizeof words / sizeof words[0]; i++) {
    shmipc_slot *s;
    uint8_t *b;
    const uint8_t *out;

    assert_int_equal(shmipc_slot_acquire(ss.h, 5000 * MS, &s), SHMIPC_OK);
    b = shmipc_slot_req_buf(s);
    put32(b, 30); /* the handler reads the word 30 ms after it took it */
    assert_int_equal(shmipc_slot_publish(s, T_DEADLINE, 4, 0), SHMIPC_OK);
    /* The slot header's deadline word (docs/PROTOCOL.md, "Slot layout"):
     * 8 bytes before the request buffer, written as a hostile requester
     * would. Polled, not waited for: a wait would write the word as its
     * spin phase ends. */
    __atomic_store_n((uint64_t *)(void *)(b - 8), words[i], __ATOMIC_RELAXED);
    {
      int64_t t0 = t_now_ns();
      int r;

      while ((r = shmipc_slot_poll(s)) == 0 && t_now_ns() - t0 < 5000 * MS)
        t_sleep_ns(MS);
      assert_int_equal(r, 1);
    }
    assert_int_equal(shmipc_slot_resp_size(s), 32);
    out = shmipc_slot_resp_data(s);
    assert_int_equal(get64(out + 16), (words[i] >> 63) != 0);
    if ((words[i] & ~UINT64_C(0x8000000000000000)) != 0)
      assert_int_equal(get64(out), 1);
    shmipc_slot_release(s);
  }
  {
    uint8_t out[32];

    assert_int_equal(call4(ss.h, T_DEADLINE, 0, 2000 * MS, out), SHMIPC_OK);
    assert_int_equal(get64(out), 1);
    assert_int_equal(get64(out + 16), 0);
  }
  stop(&ss);
}

/* Pointers that are not request buffers are refused, in the guest (type
 * 233: NULL, a response buffer, its stack, past the request buffer) and
 * in the host's listener handler; and the host's handler sees the
 * deadline of the guest's call (type 202: 5 s). */
static void bad_pointers_and_guest_call(void **state)
{
  struct session ss;
  uint8_t out[32];
  size_t n = 0;
  uint32_t t = 0;
  int i;

  (void)state;
  start(&ss, 2);
  assert_int_equal(call4(ss.h, T_BAD_POINTERS, 0, 5000 * MS, out), SHMIPC_OK);
  for (i = 0; i < 4; i++)
    if (get64(out + 8 * i) != SHMIPC_E_INVALID)
      fail_msg("guest: foreign pointer %d gave %lld, want INVALID", i,
               (long long)get64(out + 8 * i));
  assert_int_equal(shmipc_host_call(ss.h, T_GUEST_CALL, "ping", 4, out,
                                    sizeof out, &n, &t, 10000 * MS),
                   SHMIPC_OK);
  assert_int_equal(n, 4);
  pthread_mutex_lock(&seen.mu);
  assert_int_equal(seen.r, 1);
  assert_int_equal(seen.cancelled, 0);
  printf("guest call of 5 s: the host's handler saw %.3f ms left\n",
         t_ms(seen.left));
  if (seen.left > 5000 * MS + SLACK_NS ||
      seen.left < 5000 * MS - SLACK_NS * t_time_scale())
    fail_msg("the host's handler saw %.3f ms left of a 5000 ms guest call",
             t_ms(seen.left));
  for (i = 0; i < 3; i++)
    assert_int_equal(seen.bad[i], SHMIPC_E_INVALID);
  pthread_mutex_unlock(&seen.mu);
  /* And with no handle or no output. */
  assert_int_equal(shmipc_host_request_deadline(NULL, out, NULL),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_request_deadline(ss.h, out, NULL),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_request_cancelled(NULL, out), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_guest_request_cancelled(NULL, out), SHMIPC_E_INVALID);
  stop(&ss);
}

/* The guest's call that times out while the host's handler holds it
 * (type 234: a guest call of 20 ms) is marked: the host's handler sees
 * the mark. The time from the guest's deadline (at the earliest, 20 ms
 * after the host asked for the call) to the handler's look that saw the
 * mark bounds how late it was seen (median and worst of ROUNDS). */
static void guest_call_cancel(void **state)
{
  struct session ss;
  int64_t lat[ROUNDS];
  int i, skipped = 0;

  (void)state;
  start(&ss, 1);
  for (i = 0; i < ROUNDS;) {
    uint8_t req[8], out[8];
    size_t n = 0;
    uint32_t t = 0;
    int64_t t0, at;
    int started;

    put32(req, 20);
    memcpy(req + 4, "wait", 4);
    pthread_mutex_lock(&seen.mu);
    seen.mark_at = 0;
    seen.started = 0;
    pthread_mutex_unlock(&seen.mu);
    t0 = t_now_ns();
    assert_int_equal(shmipc_host_call(ss.h, T_CALL_TIMEOUT, req, 8, out,
                                      sizeof out, &n, &t, 10000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, 8);
    assert_int_equal(get64(out), SHMIPC_E_TIMEOUT);
    pthread_mutex_lock(&seen.mu);
    started = seen.started;
    pthread_mutex_unlock(&seen.mu);
    if (!started) {
      /* Given up before the listener took it: taken back, not a round. */
      if (++skipped > ROUNDS)
        fail_msg("%d guest calls taken back before the listener took them",
                 skipped);
      continue;
    }
    for (at = 0;; t_sleep_ns(MS / 10)) {
      pthread_mutex_lock(&seen.mu);
      at = seen.mark_at;
      pthread_mutex_unlock(&seen.mu);
      if (at != 0)
        break;
      if (t_now_ns() - t0 > 5000 * MS)
        fail_msg("round %d: the host's handler did not end within 5 s", i);
    }
    if (at < 0)
      fail_msg("round %d: the host's handler did not see the guest give up", i);
    lat[i++] = at - (t0 + 20 * MS);
  }
  qsort(lat, ROUNDS, sizeof lat[0], cmp_i64);
  printf("cancel mark of a guest call that timed out, seen by the host's "
         "handler, %d calls (%d more taken back untaken): median %.1f us, "
         "worst %.1f us (upper bounds)\n",
         ROUNDS, skipped, (double)lat[ROUNDS / 2] / 1e3,
         (double)lat[ROUNDS - 1] / 1e3);
  if (lat[ROUNDS / 2] > 100 * MS * t_time_scale())
    fail_msg("median %.1f ms from the guest's deadline to the mark seen",
             t_ms(lat[ROUNDS / 2]));
  stop(&ss);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(deadline_seen),
      cmocka_unit_test(cancel_on_timeout),
      cmocka_unit_test(cancel_on_abort),
      cmocka_unit_test(next_call_unmarked),
      cmocka_unit_test(garbage_word),
      cmocka_unit_test(bad_pointers_and_guest_call),
      cmocka_unit_test(guest_call_cancel),
  };
  if (argc != 2) {
    fprintf(stderr, "usage: %s GUEST-BINARY\n", argv[0]);
    return 2;
  }
  guest_path = argv[1];
  setvbuf(stdout, NULL, _IONBF, 0);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
