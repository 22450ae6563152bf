/* SPDX-License-Identifier: MIT */
/*
 * Repair at the end of a guest's epoch (docs/PROTOCOL.md, "Repair"): a
 * third party spoils the control words of idle slots (CLAIMED, an illegal
 * state, PROCESSING, garbage from a writer that then stops) while no guest
 * is attached, or while one is and is then replaced; a fresh guest process
 * (the C or the Go echo guest, given on the command line) attaches, and
 * every host slot must be acquirable at once and answer correct calls,
 * every guest slot must be back to a legal word, and the guest must still
 * run. A guest that ended is replaced; the host process stays.
 *
 * Usage: test-repair GUEST_BINARY
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
#include "layout.h"
#include "proc.h"
#include "raw.h"

#define MS INT64_C(1000000)
#define HOST_SLOTS 4u
#define GUEST_SLOTS 2u
#define CAP 4096u
#define ECHO_GUEST_CALL 202u
#define ECHO_DELAY 201u

static const char *guest_path;

struct sess {
  char name[64];
  shmipc_host *h;
  struct proc g;
  int g_running;
  struct raw r;
};

static int host_answer(void *user, uint32_t type, const void *req,
                       size_t req_len, void *resp, size_t resp_cap,
                       size_t *resp_len, uint32_t *resp_type)
{
  (void)user;
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

static void spawn_guest(struct sess *s)
{
  const char *argv[] = {guest_path,    "-name", s->name,
                        "-timeout-ms", "5000",  NULL};
  int r;

  if (proc_spawn(&s->g, argv, 0) != 0)
    fail_msg("cannot start %s", guest_path);
  s->g_running = 1;
  r = shmipc_host_wait_guest(s->h, 10000 * MS);
  if (r != SHMIPC_OK)
    fail_msg("the guest did not attach within 10 s: %s", shmipc_strerror(r));
}

/* Kill the guest (if it still runs) and reap it. */
static void kill_guest(struct sess *s)
{
  struct proc_status st;

  if (!s->g_running)
    return;
  proc_kill(&s->g);
  if (proc_wait(&s->g, 5000, &st) != 0)
    fail_msg("the killed guest was not reaped within 5 s");
  s->g_running = 0;
}

static void sess_start_liveness(struct sess *s, const char *tag,
                                int64_t liveness_ns)
{
  static int counter;
  shmipc_host_config c;
  int r;

  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "repair-%u-%s-%d", proc_self_id(), tag,
           counter++);
  t_segment_forget(s->name); /* at exit, should a test fail */
  shmipc_host_config_init(&c);
  c.name = s->name;
  c.host_slots = HOST_SLOTS;
  c.guest_slots = GUEST_SLOTS;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  c.liveness_interval_ns = liveness_ns;
  r = shmipc_host_create(&c, &s->h);
  if (r != SHMIPC_OK)
    fail_msg("shmipc_host_create: %s", shmipc_strerror(r));
  r = shmipc_host_listen_start(s->h, host_answer, NULL);
  if (r != SHMIPC_OK)
    fail_msg("shmipc_host_listen_start: %s", shmipc_strerror(r));
  if (raw_open(s->name, &s->r) != 0)
    fail_msg("raw_open(%s) failed", s->name);
}

static void sess_start(struct sess *s, const char *tag)
{
  sess_start_liveness(s, tag, 20 * MS);
}

/* Close the host; a guest still running must end by itself, cleanly. */
static void sess_end(struct sess *s)
{
  struct proc_status st;

  raw_close(&s->r);
  shmipc_host_destroy(s->h);
  if (s->g_running) {
    if (proc_wait(&s->g, 5000, &st) != 0) {
      proc_kill(&s->g);
      (void)proc_wait(&s->g, 5000, &st);
      fail_msg("the guest did not end within 5 s of the host closing");
    }
    if (!st.exited || st.code != 0)
      fail_msg("the guest ended with status %d (killed %d) after the host "
               "closed",
               st.code, st.killed);
  }
}

static uint32_t *ctrl_of(struct sess *s, uint32_t i)
{
  const struct shmipc_wire_header *hd = (const void *)s->r.base;
  struct shmipc_wire_slot *w =
      (void *)(s->r.base + SHMIPC_SLOTS_OFFSET + (size_t)i * hd->slot_stride);

  return &w->ctrl;
}

static uint32_t load(const uint32_t *p)
{
  return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Write @state (and @extra bits) into slot @i's word, keeping its
 * generation, as a peer would; wake who sleeps on it. */
static void spoil(struct sess *s, uint32_t i, uint32_t state_and_bits)
{
  uint32_t *w = ctrl_of(s, i);

  __atomic_store_n(w, (load(w) & ~0xFFu) | state_and_bits, __ATOMIC_SEQ_CST);
  raw_wake(&s->r, w,
           SHMIPC_CTRL_REQUESTER_WAITING | SHMIPC_CTRL_RESPONDER_WAITING);
}

/* Every host slot at once: acquire all of them (each within 2 s), send a
 * distinct request on each, check every echo. */
static void all_host_slots_answer(struct sess *s, const char *when)
{
  shmipc_slot *slot[HOST_SLOTS];
  uint32_t i, j;
  int r;

  for (i = 0; i < HOST_SLOTS; i++) {
    r = shmipc_slot_acquire(s->h, 2000 * MS, &slot[i]);
    if (r != SHMIPC_OK)
      fail_msg("%s: only %u of %u host slots could be acquired (%s)", when, i,
               HOST_SLOTS, shmipc_strerror(r));
    for (j = 0; j < i; j++)
      assert_ptr_not_equal(slot[i], slot[j]);
  }
  for (i = 0; i < HOST_SLOTS; i++) {
    char msg[64];
    int n = snprintf(msg, sizeof msg, "%s: slot %u", when, i);

    memcpy(shmipc_slot_req_buf(slot[i]), msg, (size_t)n);
    r = shmipc_slot_send(slot[i], 150, (size_t)n, 0, 5000 * MS);
    if (r != SHMIPC_OK)
      fail_msg("%s: call on acquired slot %u: %s", when, i, shmipc_strerror(r));
    if (shmipc_slot_resp_type(slot[i]) != 150 ||
        shmipc_slot_resp_size(slot[i]) != (size_t)n ||
        memcmp(shmipc_slot_resp_data(slot[i]), msg, (size_t)n) != 0)
      fail_msg("%s: slot %u answered something else than its echo", when, i);
  }
  for (i = 0; i < HOST_SLOTS; i++)
    shmipc_slot_release(slot[i]);
}

/* Guest calls (type 202 makes the echo guest call us back) work, and no
 * guest slot keeps a word that a peer spoiled. */
static void guest_slots_answer(struct sess *s, const char *when)
{
  uint32_t i;

  for (i = 0; i < 2 * GUEST_SLOTS; i++) {
    char msg[64], resp[64];
    size_t n = (size_t)snprintf(msg, sizeof msg, "%s: guest call %u", when, i),
           got = 0;
    uint32_t t = 0;
    int r = shmipc_host_call(s->h, ECHO_GUEST_CALL, msg, n, resp, sizeof resp,
                             &got, &t, 5000 * MS);

    if (r != SHMIPC_OK)
      fail_msg("%s: guest call %u: %s", when, i, shmipc_strerror(r));
    if (t != ECHO_GUEST_CALL || got != n || memcmp(resp, msg, n) != 0)
      fail_msg("%s: guest call %u answered something else", when, i);
  }
  for (i = HOST_SLOTS; i < HOST_SLOTS + GUEST_SLOTS; i++) {
    uint32_t v = load(ctrl_of(s, i)), st = v & SHMIPC_CTRL_STATE_MASK;

    if (!shmipc__ctrl_legal(v) ||
        (st != SHMIPC_SLOT_FREE && st != SHMIPC_SLOT_RESP_READY))
      fail_msg("%s: guest slot %u still reads %#x", when, i - HOST_SLOTS, v);
  }
}

static void guest_still_runs(struct sess *s, const char *when)
{
  struct proc_status st;

  if (proc_wait(&s->g, 0, &st) == 0) {
    s->g_running = 0;
    fail_msg("%s: the new guest ended (status %d): it gave up the session",
             when, st.code);
  }
}

/* Check what a fresh guest finds after the words were spoiled. */
static void fresh_guest_serves(struct sess *s, const char *when)
{
  spawn_guest(s);
  all_host_slots_answer(s, when);
  guest_slots_answer(s, when);
  /* a second round: the repaired slots stay usable */
  all_host_slots_answer(s, when);
  guest_still_runs(s, when);
}

/* Spoil every host slot in another way, and both guest slots. */
static void spoil_all(struct sess *s)
{
  spoil(s, 0, SHMIPC_SLOT_CLAIMED);
  spoil(s, 1, 7);
  spoil(s, 2, SHMIPC_SLOT_PROCESSING);
  spoil(s, 3, 0xC0u | 5u);
  spoil(s, HOST_SLOTS + 0, SHMIPC_SLOT_CLAIMED);
  spoil(s, HOST_SLOTS + 1, 7);
}

/* A guest killed; the words spoiled while no guest is attached. */
static void spoiled_after_kill(void **state)
{
  struct sess s;

  (void)state;
  sess_start(&s, "kill");
  spawn_guest(&s);
  all_host_slots_answer(&s, "first guest");
  guest_slots_answer(&s, "first guest");
  kill_guest(&s);
  spoil_all(&s);
  fresh_guest_serves(&s, "after kill and spoil");
  sess_end(&s);
}

/* Every host slot set to CLAIMED (the first case), and the host
 * saw the guest gone in between. */
static void all_claimed_after_kill(void **state)
{
  struct sess s;
  uint32_t i;
  int r;

  (void)state;
  sess_start(&s, "claimed");
  spawn_guest(&s);
  all_host_slots_answer(&s, "first guest");
  kill_guest(&s);
  /* the host notices the death (a call ends with PEER_GONE) */
  r = shmipc_host_call(s.h, 150, "x", 1, NULL, 0, NULL, NULL, 2000 * MS);
  assert_int_equal(r, SHMIPC_E_PEER_GONE);
  for (i = 0; i < HOST_SLOTS; i++)
    spoil(&s, i, SHMIPC_SLOT_CLAIMED);
  fresh_guest_serves(&s, "all CLAIMED");
  sess_end(&s);
}

/* A guest that detached cleanly (in this process), a host call made while
 * none is attached, then the words spoiled. */
static void spoiled_after_detach(void **state)
{
  struct sess s;
  shmipc_guest_config c;
  shmipc_guest *g;
  int r;

  (void)state;
  sess_start(&s, "detach");
  shmipc_guest_config_init(&c);
  c.name = s.name;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, host_answer, NULL), SHMIPC_OK);
  all_host_slots_answer(&s, "in-process guest");
  shmipc_guest_detach(g);
  r = shmipc_host_call(s.h, 150, "x", 1, NULL, 0, NULL, NULL, 2000 * MS);
  assert_int_equal(r, SHMIPC_E_PEER_GONE);
  spoil_all(&s);
  fresh_guest_serves(&s, "after detach and spoil");
  sess_end(&s);
}

/* The words spoiled while a guest is attached (an illegal word ends that
 * guest, CLAIMED does not), then a writer scribbles on every host word
 * for a while and stops, and the guest is replaced. */
static void spoiled_while_attached(void **state)
{
  struct sess s;
  uint64_t x = 0x9E3779B97F4A7C15u;
  int64_t end;
  uint32_t i;

  (void)state;
  sess_start(&s, "attached");
  spawn_guest(&s);
  all_host_slots_answer(&s, "first guest");
  spoil(&s, 0, SHMIPC_SLOT_CLAIMED);
  spoil(&s, 1, 7);
  for (end = t_now_ns() + 100 * MS; t_now_ns() < end;) {
    for (i = 0; i < HOST_SLOTS + GUEST_SLOTS; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      __atomic_store_n(ctrl_of(&s, i), (uint32_t)x, __ATOMIC_SEQ_CST);
    }
    t_sleep_ms(1);
  }
  kill_guest(&s);
  fresh_guest_serves(&s, "after a writer stopped");
  sess_end(&s);
}

/* The C guest's own rule, in process (no host call before the check, so
 * the host has not repaired yet): a host slot word that is illegal before
 * the guest ever saw it legal is waited for, not a reason to end; once
 * repaired and seen legal, an illegal value there ends the guest with
 * CORRUPT. */
static void c_guest_waits_for_repair(void **state)
{
  struct sess s;
  shmipc_guest_config c;
  shmipc_guest *g;

  (void)state;
  sess_start(&s, "cwait");
  spoil(&s, 1, 7);
  shmipc_guest_config_init(&c);
  c.name = s.name;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, host_answer, NULL), SHMIPC_OK);
  if (shmipc_guest_wait(g, 100 * MS) != SHMIPC_E_TIMEOUT)
    fail_msg("the guest ended over a word it never saw legal");
  all_host_slots_answer(&s, "in-process guest, slot 1 repaired");
  spoil(&s, 1, 7);
  assert_int_equal(shmipc_guest_wait(g, 3000 * MS), SHMIPC_E_CORRUPT);
  shmipc_guest_detach(g);
  sess_end(&s);
}

struct bg_call {
  shmipc_host *h;
  int rc;
  int64_t took_ns;
  int done; /* atomic */
};

static void *bg_call_main(void *arg)
{
  struct bg_call *b = arg;
  uint8_t req[4] = {0xB8, 0x0B, 0, 0}; /* the handler sleeps 3000 ms */
  char resp[256];
  int64_t t0 = t_now_ns();

  b->rc = shmipc_host_call(b->h, ECHO_DELAY, req, sizeof req, resp, sizeof resp,
                           NULL, NULL, 8000 * MS);
  b->took_ns = t_now_ns() - t0;
  __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* A host thread waits on a request the guest took; the guest is killed and
 * replaced before the host's next liveness check (a long interval). The
 * new guest answers what its predecessor took: the call ends at once
 * (REMOTE, the request may have run), not at its timeout, and its slot is
 * handed out again only after it was released. */
static void replaced_mid_call(void **state)
{
  struct sess s;
  struct bg_call b = {0};
  pthread_t th;
  int64_t end;

  (void)state;
  sess_start_liveness(&s, "midcall", 5000 * MS);
  spawn_guest(&s);
  all_host_slots_answer(&s, "first guest");
  b.h = s.h;
  assert_int_equal(pthread_create(&th, NULL, bg_call_main, &b), 0);
  t_sleep_ms(200); /* the guest is inside the handler */
  kill_guest(&s);
  spawn_guest(&s);
  for (end = t_now_ns() + 7000 * MS;
       !__atomic_load_n(&b.done, __ATOMIC_SEQ_CST) && t_now_ns() < end;)
    t_sleep_ms(1);
  if (!__atomic_load_n(&b.done, __ATOMIC_SEQ_CST))
    fail_msg("the call on the dead guest's slot did not end within 7 s");
  pthread_join(th, NULL);
  print_message(
      "  the call on the dead guest's slot ended with %s after %lld ms\n",
      shmipc_strerror(b.rc), (long long)(b.took_ns / MS));
  if (b.rc != SHMIPC_E_REMOTE && b.rc != SHMIPC_E_PEER_GONE)
    fail_msg("the call on the dead guest's slot ended with %s after %lld ms",
             shmipc_strerror(b.rc), (long long)(b.took_ns / MS));
  all_host_slots_answer(&s, "after the replacement");
  guest_still_runs(&s, "after the replacement");
  sess_end(&s);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(spoiled_after_kill),
      cmocka_unit_test(all_claimed_after_kill),
      cmocka_unit_test(spoiled_after_detach),
      cmocka_unit_test(spoiled_while_attached),
      cmocka_unit_test(replaced_mid_call),
      cmocka_unit_test(c_guest_waits_for_repair),
  };

  if (argc != 2 || !proc_executable(argv[1])) {
    fprintf(stderr, "usage: %s GUEST_BINARY\n", argv[0]);
    return 2;
  }
  guest_path = argv[1];
  return cmocka_run_group_tests_name("repair", tests, NULL, NULL);
}
