/* SPDX-License-Identifier: MIT */
/*
 * Hostile guest (suite 'hostile'; harness: session.h): a real C host here,
 * and a fake guest (shmipc-hostile respond MODE, another process) that
 * lies in its responses while host threads make calls. Every call returns
 * OK with exactly the right content, or an error code; never wrong
 * content, never a crash. After the fake has gone and a proper GUEST
 * attaches, the host works again. Knobs: SHMIPC_TEST_HOSTILE_DEBUG=1
 * prints the segment's raw state around the recoveries;
 * SHMIPC_TEST_HOSTILE_ONLY=MODE runs only that fake-guest mode in
 * lying_guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmipc/shmipc.h>

#include "handlers.h"
#include "session.h"

struct caller {
  shmipc_host *h;
  int id;
  struct proc *fake;
  int64_t until_ms;
  int64_t timeout_ns;
  unsigned ok, err[20];
  char what[200];  /* a hard failure */
  char wrong[200]; /* OK with a wrong answer */
};

/* Calls with unique random payloads until the fake guest is gone or the
 * time is up; any OK must carry exactly the echo of its own request. */
static void *caller_main(void *arg)
{
  struct caller *c = arg;
  uint64_t x = 0x5151ull * (uint64_t)(c->id + 3);
  static _Thread_local uint8_t req[CAP], resp[CAP];
  unsigned i = 0;

  while (t_now_ms() < c->until_ms) {
    size_t len = 1 + (size_t)(hostile_rand(&x) % CAP), n = 0, k;
    uint32_t type = 1000 + (uint32_t)(hostile_rand(&x) % 100000), t = 0;
    int r;
    for (k = 0; k < len; k++)
      req[k] = (uint8_t)hostile_rand(&x);
    memcpy(req, &i, sizeof i < len ? sizeof i : len); /* unique per call */
    if (i++ % 2 == 0) {
      r = shmipc_host_call(c->h, type, req, len, resp, sizeof resp, &n, &t,
                           c->timeout_ns);
    } else {
      shmipc_slot *s;
      int end = (i / 2) % 2;
      r = shmipc_slot_acquire(c->h, c->timeout_ns, &s);
      if (r == SHMIPC_OK) {
        uint8_t *buf = shmipc_slot_req_buf(s);
        memcpy(end ? buf + CAP - len : buf, req, len);
        r = shmipc_slot_send(s, type, len, end ? SHMIPC_F_END_ALIGNED : 0,
                             c->timeout_ns);
        if (r == SHMIPC_OK) {
          n = shmipc_slot_resp_size(s);
          t = shmipc_slot_resp_type(s);
          if (n > CAP || shmipc_slot_resp_data(s) == NULL) {
            snprintf(c->what, sizeof c->what, "OK with size %zu / no data", n);
            shmipc_slot_release(s);
            break;
          }
          memcpy(resp, shmipc_slot_resp_data(s), n);
        }
        shmipc_slot_release(s);
      }
    }
    if (r == SHMIPC_OK) {
      if (n != len || t != type || memcmp(req, resp, len) != 0) {
        snprintf(
            c->wrong, sizeof c->wrong,
            "call %u: OK with a WRONG answer (len %zu/%zu, type %u/%u, %s)", i,
            n, len, t, type,
            n == len && memcmp(req, resp, len) == 0 ? "same bytes"
                                                    : "other bytes");
        break;
      }
      c->ok++;
    } else if (r == SHMIPC_E_STATE) {
      /* a call of ours found its slot in another phase: another thread
       * claimed the slot it holds (finding F1); counted, judged later */
      c->err[17]++;
    } else if (!allowed_error(r)) {
      snprintf(c->what, sizeof c->what, "call %u: unexpected %s", i,
               shmipc_strerror(r));
      break;
    } else {
      c->err[-r]++;
      if (r == SHMIPC_E_PEER_GONE)
        break; /* the fake has gone */
    }
  }
  return NULL;
}

/* Run @threads callers against the session's current guest for @ms. The
 * first wrong answer, if any, is copied to @wrong (left to the caller). */
static void run_callers_w(shmipc_host *h, int threads, int ms,
                          int64_t timeout_ns, unsigned *ok, unsigned err[20],
                          const char *what, char *wrong, size_t wrong_len)
{
  struct caller c[4];
  pthread_t th[4];
  int i, k;

  assert_true(threads <= 4);
  *ok = 0;
  memset(err, 0, 20 * sizeof err[0]);
  for (i = 0; i < threads; i++) {
    memset(&c[i], 0, sizeof c[i]);
    c[i].h = h;
    c[i].id = i;
    c[i].until_ms = t_now_ms() + ms;
    c[i].timeout_ns = timeout_ns;
    assert_int_equal(pthread_create(&th[i], NULL, caller_main, &c[i]), 0);
  }
  /* join them all before judging: a failure unwinds this frame */
  for (i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
  wrong[0] = '\0';
  for (i = 0; i < threads; i++) {
    if (c[i].what[0] != '\0')
      fail_msg("%s, thread %d: %s", what, i, c[i].what);
    if (c[i].wrong[0] != '\0' && wrong[0] == '\0')
      snprintf(wrong, wrong_len, "%s, thread %d: %s", what, i, c[i].wrong);
    *ok += c[i].ok;
    for (k = 0; k < 20; k++)
      err[k] += c[i].err[k];
  }
}

/* The same; a wrong answer or a STATE error fails at once. */
static void run_callers(shmipc_host *h, int threads, int ms, int64_t timeout_ns,
                        unsigned *ok, unsigned err[20], const char *what)
{
  char wrong[256];

  run_callers_w(h, threads, ms, timeout_ns, ok, err, what, wrong, sizeof wrong);
  if (wrong[0] != '\0')
    fail_msg("%s", wrong);
  if (err[17] != 0)
    fail_msg("%s: %u calls ended with STATE", what, err[17]);
}

/* With SHMIPC_TEST_HOSTILE_DEBUG set, print the segment's raw state. */
static void debug_info(const char *name, const char *when)
{
  if (getenv("SHMIPC_TEST_HOSTILE_DEBUG") != NULL) {
    struct proc c;
    char out[8192];
    const char *argv[] = {tool_path, name, "info", NULL};
    spawn(&c, argv);
    if (ended_within(&c, 3000)) {
      proc_stdout(&c, out, sizeof out);
      print_message("--- %s:\n%s", when, out);
    }
    proc_reap(&c);
  }
}

/* After a fake guest: a proper guest attaches and the host works again.
 * Returns false, with the reason in @why, if the host does not work. */
static bool proper_guest_recovers(struct sess *s, const char *what, char *why,
                                  size_t why_len)
{
  unsigned ok, err[20];

  debug_info(s->name, "before the proper guest");
  spawn_guest(&s->g, s->name, 5000);
  if (shmipc_host_wait_guest(s->h, 10000 * MS) != SHMIPC_OK)
    fail_msg("%s: the proper guest did not attach", what);
  run_callers(s->h, 2, 250, 2000 * MS, &ok, err, what);
  debug_info(s->name, "after the proper guest's calls");
  if (ended_within(&s->g, 0)) {
    (void)child_verdict(&s->g, what);
    fail_msg("%s: the proper guest ended (status %d) after the fake's garbage",
             what, WEXITSTATUS(s->g.status));
  }
  if (ok == 0 || err[8] + err[9] + err[10] + err[13] != 0) {
    snprintf(why, why_len,
             "%s: after the fake, the host with a proper guest made %u good "
             "calls, %u corrupt, %u timeout, %u peer gone, %u remote",
             what, ok, err[8], err[9], err[10], err[13]);
    return false;
  }
  return true;
}

static void lying_guest(void **state)
{
  static const struct {
    int mode;
    bool some_ok; /* at least one call must succeed */
    bool none_ok; /* no call may succeed */
    int need_err; /* at least one error of this code (0: none needed) */
  } cases[] = {
      {HM_ECHO, true, false, 0},
      {HM_END_ALIGNED, true, false, 0},
      {HM_SIZE_CAP1, false, true, SHMIPC_E_CORRUPT},
      {HM_SIZE_MAX, false, true, SHMIPC_E_CORRUPT},
      {HM_SIZE_HIGH, false, true, SHMIPC_E_CORRUPT},
      {HM_FLAGS, false, true, SHMIPC_E_CORRUPT},
      {HM_SEQ, false, true, SHMIPC_E_CORRUPT},
      {HM_GEN, false, true, SHMIPC_E_CORRUPT},
      {HM_STATE, false, true, SHMIPC_E_CORRUPT},
      {HM_RESERVED, false, true, SHMIPC_E_CORRUPT},
      {HM_REGRESS, false, true, 0},
      {HM_RANDOM, false, true, 0},
      {HM_LATE, false, true, SHMIPC_E_TIMEOUT},
      {HM_SILENT, false, true, SHMIPC_E_TIMEOUT},
      {HM_MIXED, false, false, 0},
  };
  const char *only = getenv("SHMIPC_TEST_HOSTILE_ONLY");
  size_t i;

  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct sess s;
    struct proc fake;
    unsigned ok, err[20];
    char what[64], seed[16], wrong[256], f1[300] = "";
    const char *mode = hostile_mode_name(cases[i].mode);
    /* modes that can write FREE into a slot the host quarantined */
    bool free_lie = cases[i].mode == HM_REGRESS || cases[i].mode == HM_RANDOM ||
                    cases[i].mode == HM_MIXED;
    const char *argv[] = {tool_path, "-for-ms", "350", "-late-ms",
                          "150",     "-seed",   seed,  NULL,
                          "respond", mode,      NULL};

    snprintf(what, sizeof what, "fake guest '%s'", mode);
    if (only != NULL && strcmp(only, mode) != 0)
      continue;
    snprintf(seed, sizeof seed, "%zu", 11 + i);
    host_create(&s, 4, 0);
    argv[7] = s.name;
    spawn(&fake, argv);
    if (shmipc_host_wait_guest(s.h, 5000 * MS) != SHMIPC_OK)
      fail_msg("%s: the fake guest did not attach", what);
    run_callers_w(s.h, 3, 300, 100 * MS, &ok, err, what, wrong, sizeof wrong);
    if (!ended_within(&fake, 5000))
      fail_msg("%s: the fake guest did not stop", what);
    assert_int_equal(child_verdict(&fake, what), EXIT0);
    proc_reap(&fake);
    print_message("  %-24s %4u OK, %4u corrupt, %4u timeout, %3u peer gone, "
                  "%3u remote, %u state\n",
                  what, ok, err[8], err[9], err[10], err[13], err[17]);
    if (wrong[0] != '\0' && !free_lie)
      fail_msg("%s", wrong);
    if (wrong[0] != '\0')
      snprintf(f1, sizeof f1, "(F1 suspected) %s", wrong);
    else if (err[17] != 0)
      snprintf(f1, sizeof f1,
               "%s: %u calls ended with STATE: two threads "
               "held one slot",
               what, err[17]);
    if (f1[0] != '\0' && !free_lie)
      fail_msg("%s", f1);
    if (f1[0] != '\0')
      ok = 0; /* the checks below are about honest slots */
    if (cases[i].some_ok && ok == 0)
      fail_msg("%s: no call succeeded", what);
    if (cases[i].some_ok && err[8] != 0)
      fail_msg("%s: %u calls CORRUPT on correct answers", what, err[8]);
    if (cases[i].none_ok && ok != 0)
      fail_msg("%s: %u calls succeeded on lying answers", what, ok);
    if (cases[i].need_err && err[-cases[i].need_err] == 0)
      fail_msg("%s: no call ended with %s", what,
               shmipc_strerror(cases[i].need_err));
    {
      char why[300];
      bool good = proper_guest_recovers(&s, what, why, sizeof why);
      sess_end(&s, what);
      if (f1[0] != '\0')
        (void)known("F1", "%s", f1);
      if (!good)
        (void)known("F2", "%s", why);
    }
  }
}

/* A fake guest that leaves illegal control words behind and dies (no
 * detach). The host must not crash; a proper guest that attaches next
 * meets the illegal words and, by docs/PROTOCOL.md, ends with CORRUPT (a
 * clean error, checked), or serves if the host has reset them first. */
static void garbage_left_behind(void **state)
{
  struct sess s;
  struct proc fake;
  unsigned ok, err[20], got;
  int64_t end;
  const char *what = "illegal words left by a dead fake guest";
  const char *argv[] = {tool_path,     "-for-ms",    "300",
                        "-leave-mess", "-no-detach", NULL,
                        "respond",     "state",      NULL};

  (void)state;
  host_create(&s, 4, 0);
  argv[5] = s.name;
  spawn(&fake, argv);
  assert_int_equal(shmipc_host_wait_guest(s.h, 5000 * MS), SHMIPC_OK);
  run_callers(s.h, 2, 250, 100 * MS, &ok, err, what);
  assert_true(ended_within(&fake, 5000));
  assert_int_equal(child_verdict(&fake, what), EXIT0);
  proc_reap(&fake);
  assert_int_equal(ok, 0);
  /* The host sees the fake gone before the next guest starts (no guest:
   * the wait times out). Only a look at the guest lock after its lost
   * calls proves the fake out of them; a guest that replaced it before
   * the host ever looked would leave those slots quarantined until the
   * host sees no guest alive (docs/PROTOCOL.md, "Repair"). */
  assert_int_equal(shmipc_host_wait_guest(s.h, 1 * MS), SHMIPC_E_TIMEOUT);
  spawn_guest(&s.g, s.name, 5000);
  /* The guest may attach, meet the garbage and detach before the host
   * looks: then the host never sees it ATTACHED, which is fine. */
  for (end = t_now_ms() + 10000; t_now_ms() < end;) {
    if (shmipc_host_wait_guest(s.h, 50 * MS) == SHMIPC_OK ||
        ended_within(&s.g, 0))
      break;
  }
  run_callers(s.h, 2, 300, 200 * MS, &ok, err, what);
  got = expect(&s, ALIVE | EXITERR, 1000, what);
  print_message("  %s: proper guest %s; host made %u good calls, %u corrupt, "
                "%u timeout, %u peer gone\n",
                what, got == ALIVE ? "serves" : "ended with an error", ok,
                err[8], err[9], err[10]);
  sess_end(&s, what);
}

/* A fake guest writes FREE into a slot whose call the host has given up
 * on (quarantined). The host must never hand that slot to two users at
 * once, nor let one call's response be read as another's. Deterministic,
 * one thread: the fake's moves are made by hand between library calls. */
static void quarantined_slot_not_handed_out_twice(void **state)
{
  struct sess s;
  struct shmipc_wire_slot *w;
  shmipc_slot *a, *b, *c;
  uint64_t x = 1;
  uint32_t v;

  (void)state;
  host_create(&s, 1, 0);
  assert_int_equal(hostile_guest_attach(&s.raw), 0);
  w = hostile_slot(&s.raw, 0);
  /* call A: the fake takes it and never answers; the host gives up */
  assert_int_equal(shmipc_slot_acquire(s.h, 100 * MS, &a), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(a), "AAAA", 4);
  assert_int_equal(shmipc_slot_publish(a, 150, 4, 0), SHMIPC_OK);
  v = hostile_load32(&w->ctrl);
  assert_int_equal(v & 7, SHMIPC_SLOT_REQ_READY);
  assert_int_equal(
      hostile_cas32(&w->ctrl, v, (v & ~7u) | SHMIPC_SLOT_PROCESSING), v);
  assert_int_equal(shmipc_slot_wait(a, 20 * MS), SHMIPC_E_TIMEOUT);
  shmipc_slot_release(a); /* quarantined until the late answer */
  /* the lie: the fake says FREE instead of answering */
  v = hostile_load32(&w->ctrl);
  hostile_store32(&w->ctrl, (v & ~7u) | SHMIPC_SLOT_FREE);
  /* call B on the (only) slot */
  if (shmipc_slot_acquire(s.h, 50 * MS, &b) != SHMIPC_OK) {
    /* refusing the slot is the safe outcome */
    hostile_guest_detach(&s.raw);
    sess_end(&s, "quarantine");
    return;
  }
  memcpy(shmipc_slot_req_buf(b), "BBBB", 4);
  assert_int_equal(shmipc_slot_publish(b, 150, 4, 0), SHMIPC_OK);
  assert_int_equal(hostile_serve_one(&s.raw, 0, HM_ECHO, &x, 100), 0);
  assert_int_equal(shmipc_slot_wait(b, 100 * MS), SHMIPC_OK);
  assert_memory_equal(shmipc_slot_resp_data(b), "BBBB", 4);
  /* B still holds the slot and reads its response. Another acquire must
   * not get the same slot now. */
  if (shmipc_slot_acquire(s.h, 50 * MS, &c) == SHMIPC_OK) {
    char now[8] = "(none)";
    int same = c == b;
    memcpy(shmipc_slot_req_buf(c), "CCCC", 4);
    if (shmipc_slot_publish(c, 150, 4, 0) == SHMIPC_OK &&
        hostile_serve_one(&s.raw, 0, HM_ECHO, &x, 100) == 0)
      (void)shmipc_slot_wait(c, 100 * MS);
    if (shmipc_slot_resp_data(b) != NULL)
      snprintf(now, sizeof now, "%.4s", (const char *)shmipc_slot_resp_data(b));
    if (!same)
      shmipc_slot_release(c);
    shmipc_slot_release(b);
    hostile_guest_detach(&s.raw);
    sess_end(&s, "quarantine");
    (void)known("F1",
                "a slot still held by call B was handed out again (%s "
                "handle); B's response now reads \"%s\" instead of \"BBBB\"",
                same ? "the same" : "another", now);
    return;
  }
  shmipc_slot_release(b);
  hostile_guest_detach(&s.raw);
  sess_end(&s, "quarantine");
}

/* Another epoch in the attach word, with state @st: a peer's write. */
static void attach_lie(struct hostile_seg *raw, uint32_t st)
{
  struct shmipc_wire_header *h = hostile_hdr(raw);
  uint32_t att = hostile_load32(&h->attach);

  hostile_store32(&h->attach, ((att + (1u << SHMIPC_ATTACH_EPOCH_SHIFT)) &
                               SHMIPC_ATTACH_EPOCH_MASK) |
                                  st);
}

/* A live guest took a request and is still inside its handler when a peer
 * lies about it: DETACHED or NONE in the attach word, an illegal word or
 * FREE over the slot with the attach epoch moving. The host's repair (the
 * attach word changed), its claim and its recovery of quarantined slots
 * must not take any of that as the end of the handler: the guest still
 * holds its lock, and a slot handed out now would be written by that
 * handler under the next call (wrong content, as the flood found).
 * Deterministic, one thread. */
static void attach_word_lie_keeps_quarantine(void **state)
{
  static const struct {
    const char *what;
    uint32_t attach; /* the attach word's state the lie writes */
    bool spoil;      /* the slot word's low bits become @low */
    uint32_t low;    /* state and reserved bit 3 */
  } lies[] = {
      {"the attach word read DETACHED", SHMIPC_ATTACH_DETACHED, false, 0},
      {"the attach word read NONE", SHMIPC_ATTACH_NONE, false, 0},
      {"an illegal word over the slot, the attach epoch moving",
       SHMIPC_ATTACH_ATTACHED, true, 0x8u | SHMIPC_SLOT_PROCESSING},
      {"FREE over the slot, the attach epoch moving", SHMIPC_ATTACH_ATTACHED,
       true, SHMIPC_SLOT_FREE},
  };
  const uint32_t waiter_bits =
      SHMIPC_CTRL_REQUESTER_WAITING | SHMIPC_CTRL_RESPONDER_WAITING;
  struct sess s;
  struct shmipc_wire_slot *w;
  shmipc_slot *a, *b;
  uint64_t x = 1;
  uint32_t v, taken, lie;
  size_t k;
  int r;

  (void)state;
  host_create(&s, 1, 0);
  assert_int_equal(hostile_guest_attach(&s.raw), 0);
  w = hostile_slot(&s.raw, 0);
  /* call A: the guest takes it and is still working on it when A gives up */
  assert_int_equal(shmipc_slot_acquire(s.h, 100 * MS, &a), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(a), "AAAA", 4);
  assert_int_equal(shmipc_slot_publish(a, 150, 4, 0), SHMIPC_OK);
  v = hostile_load32(&w->ctrl);
  assert_int_equal(v & 7, SHMIPC_SLOT_REQ_READY);
  taken = (v & ~7u) | SHMIPC_SLOT_PROCESSING;
  assert_int_equal(hostile_cas32(&w->ctrl, v, taken), v);
  assert_int_equal(shmipc_slot_wait(a, 20 * MS), SHMIPC_E_TIMEOUT);
  shmipc_slot_release(a); /* quarantined until the late answer */
  for (k = 0; k < sizeof lies / sizeof lies[0]; k++) {
    v = hostile_load32(&w->ctrl);
    lie = v;
    if (lies[k].spoil) {
      /* the generation and waiter bits kept, the state the lie's */
      lie = (v & ~0xFu) | lies[k].low;
      hostile_store32(&w->ctrl, lie);
    }
    attach_lie(&s.raw, lies[k].attach);
    r = shmipc_slot_acquire(s.h, 30 * MS, &b);
    if (r == SHMIPC_OK) {
      shmipc_slot_release(b);
      fail_msg("%s: the slot a live guest is still answering was handed "
               "out again",
               lies[k].what);
    }
    assert_int_equal(r, SHMIPC_E_TIMEOUT);
    /* untouched by the host (waiter bits aside), and back as the guest
     * took it for the next lie */
    assert_int_equal(hostile_load32(&w->ctrl) & ~waiter_bits,
                     lie & ~waiter_bits);
    hostile_store32(&w->ctrl, taken);
  }
  /* The guest answers A at last: the slot is claimable again, and the
   * next call gets its own answer. */
  attach_lie(&s.raw, SHMIPC_ATTACH_ATTACHED);
  memcpy(hostile_resp_buf(&s.raw, 0), "AAAA", 4);
  w->resp_type = 150;
  w->resp_size = 4;
  w->resp_flags = 0;
  w->resp_seq = w->req_seq;
  v = hostile_load32(&w->ctrl);
  assert_int_equal(
      hostile_cas32(&w->ctrl, v, (v & ~7u) | SHMIPC_SLOT_RESP_READY), v);
  assert_int_equal(shmipc_slot_acquire(s.h, 100 * MS, &b), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(b), "BBBB", 4);
  assert_int_equal(shmipc_slot_publish(b, 150, 4, 0), SHMIPC_OK);
  assert_int_equal(hostile_serve_one(&s.raw, 0, HM_ECHO, &x, 100), 0);
  assert_int_equal(shmipc_slot_wait(b, 100 * MS), SHMIPC_OK);
  assert_int_equal(shmipc_slot_resp_size(b), 4);
  assert_memory_equal(shmipc_slot_resp_data(b), "BBBB", 4);
  shmipc_slot_release(b);
  hostile_guest_detach(&s.raw);
  sess_end(&s, "attach word lie");
}

/* The other side of attach_word_lie_keeps_quarantine: a lost call whose
 * word a peer spoiled comes back once the guest that took it is gone (the
 * host's next look at the guest lock finds none), and the next guest gets
 * the slot. */
static void lost_slot_back_once_guest_gone(void **state)
{
  struct sess s;
  struct shmipc_wire_slot *w;
  shmipc_slot *a, *b;
  uint64_t x = 1;
  uint32_t v;

  (void)state;
  host_create(&s, 1, 0);
  assert_int_equal(hostile_guest_attach(&s.raw), 0);
  w = hostile_slot(&s.raw, 0);
  assert_int_equal(shmipc_slot_acquire(s.h, 100 * MS, &a), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(a), "AAAA", 4);
  assert_int_equal(shmipc_slot_publish(a, 150, 4, 0), SHMIPC_OK);
  v = hostile_load32(&w->ctrl);
  assert_int_equal(
      hostile_cas32(&w->ctrl, v, (v & ~7u) | SHMIPC_SLOT_PROCESSING), v);
  assert_int_equal(shmipc_slot_wait(a, 20 * MS), SHMIPC_E_TIMEOUT);
  shmipc_slot_release(a);
  /* spoiled while the guest lives: quarantined */
  v = hostile_load32(&w->ctrl);
  hostile_store32(&w->ctrl, v | 0x8u);
  assert_int_equal(shmipc_slot_acquire(s.h, 20 * MS, &b), SHMIPC_E_TIMEOUT);
  /* the guest ends without answering; the host's next look sees no guest */
  hostile_guest_detach(&s.raw);
  assert_int_equal(shmipc_slot_acquire(s.h, 100 * MS, &b), SHMIPC_OK);
  shmipc_slot_release(b);
  /* and with a new guest attached since, the slot serves it */
  assert_int_equal(hostile_guest_attach(&s.raw), 0);
  assert_int_equal(shmipc_slot_acquire(s.h, 100 * MS, &b), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(b), "BBBB", 4);
  assert_int_equal(shmipc_slot_publish(b, 150, 4, 0), SHMIPC_OK);
  assert_int_equal(hostile_serve_one(&s.raw, 0, HM_ECHO, &x, 100), 0);
  assert_int_equal(shmipc_slot_wait(b, 100 * MS), SHMIPC_OK);
  assert_memory_equal(shmipc_slot_resp_data(b), "BBBB", 4);
  shmipc_slot_release(b);
  hostile_guest_detach(&s.raw);
  sess_end(&s, "lost slot back");
}

/* A fake guest makes guest calls whose headers lie; the host's listener
 * answers them with SYSTEM_ERROR and keeps serving. */
static void lying_guest_calls(void **state)
{
  static const struct {
    uint32_t size, flags;
  } bad[] = {
      {CAP + 1, 0}, {0xFFFFFFFFu, 0}, {0x80000000u, 0},
      {CAP + 1, 1}, {4, 0x2},         {4, 0x80000000u},
  };
  struct sess s;
  struct shmipc_wire_slot resp;
  size_t i;
  uint64_t seq = 500;
  uint32_t gs0;

  (void)state;
  host_create(&s, 1, 2);
  gs0 = s.hs;
  assert_int_equal(hostile_guest_attach(&s.raw), 0);
  assert_int_equal(shmipc_host_listen_start(s.h, t_upper, NULL), SHMIPC_OK);
  /* garbage on the other guest slot and in the doorbell first */
  hostile_store32(&hostile_slot(&s.raw, gs0 + 1)->ctrl, 0x7u);
  hostile_set_header(&s.raw, "doorbell", 0xFFFFFFFFu);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++, seq++) {
    int r = hostile_request(&s.raw, gs0, 3, bad[i].size, bad[i].flags, seq,
                            "abcd", 4, 3000, &resp);
    if (r != 0)
      fail_msg("guest call size %#x flags %#x: no answer (%d)", bad[i].size,
               bad[i].flags, r);
    if (resp.resp_type != SHMIPC_MSG_SYSTEM_ERROR || resp.resp_seq != seq ||
        resp.resp_size > CAP || resp.resp_flags != 0)
      fail_msg(
          "guest call size %#x flags %#x: answered type %u size %u seq %llu",
          bad[i].size, bad[i].flags, resp.resp_type, resp.resp_size,
          (unsigned long long)resp.resp_seq);
  }
  /* and a good one is served exactly */
  assert_int_equal(
      hostile_request(&s.raw, gs0, 3, 4, 0, seq, "abcd", 4, 3000, &resp), 0);
  assert_int_equal(resp.resp_type, T_UPPER_TYPE);
  assert_int_equal(resp.resp_size, 4);
  assert_memory_equal(hostile_resp_buf(&s.raw, gs0), "ABCD", 4);
  assert_int_equal(shmipc_host_listen_stop(s.h), SHMIPC_OK);
  hostile_guest_detach(&s.raw);
  sess_end(&s, "lying guest calls");
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lying_guest),
      cmocka_unit_test(garbage_left_behind),
      cmocka_unit_test(quarantined_slot_not_handed_out_twice),
      cmocka_unit_test(attach_word_lie_keeps_quarantine),
      cmocka_unit_test(lost_slot_back_once_guest_gone),
      cmocka_unit_test(lying_guest_calls),
  };
  char title[256];
  int r = hostile_init(argc, argv, "hostile guest, then", title, sizeof title);

  if (r != 0)
    return r;
  return cmocka_run_group_tests_name(title, tests, NULL, hostile_cleanup);
}
