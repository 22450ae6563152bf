/* SPDX-License-Identifier: MIT */
/*
 * Hostile host (suite 'hostile'; harness: session.h): this process is the
 * host (the C library) with GUEST in another process, and it corrupts the
 * live segment in each way a peer can, and sends streams that break the
 * stream rules. The guest must either keep serving or end with a clear
 * error (exit status, message on stderr), never with a signal, a
 * sanitizer report or a Go panic.
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

/* An illegal control word on a host slot ends the guest with an error. */
static void ctrl_illegal_ends_guest(void **state)
{
  static const uint32_t bad[] = {
      5, 6, 7, 0x08, 0x40, 0x80, 0x08 | SHMIPC_SLOT_REQ_READY};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[64];
    snprintf(what, sizeof what, "ctrl %#x", bad[i]);
    sess_start(&s, 2, 0);
    assert_int_equal(ping(&s, 2000 * MS), SHMIPC_OK);
    t_sleep_ms(20); /* let the workers go to sleep on their words */
    assert_int_equal(
        hostile_set_slot(&s.raw, 0, "ctrl", (ctrl_of(&s, 0) & ~0xFFu) | bad[i]),
        0);
    (void)expect(&s, EXITERR, 3000, what);
    sess_end(&s, what);
  }
}

struct bg_call {
  shmipc_host *h;
  uint32_t type;
  char req[64];
  size_t len;
  int64_t timeout_ns;
  int rc;
  char resp[CAP];
  size_t n;
  uint32_t t;
};

static void *bg_call_main(void *arg)
{
  struct bg_call *b = arg;

  b->rc = shmipc_host_call(b->h, b->type, b->req, b->len, b->resp,
                           sizeof b->resp, &b->n, &b->t, b->timeout_ns);
  return NULL;
}

/* The host rewrites a slot the guest holds (PROCESSING) while the handler
 * runs: the guest's publish must fail cleanly. */
static void ctrl_changed_while_guest_processes(void **state)
{
  int variant;

  (void)state;
  for (variant = 0; variant < 3; variant++) {
    struct sess s;
    struct bg_call b;
    pthread_t th;
    uint32_t i, v = 0, slot = UINT32_MAX;
    int64_t end;
    uint32_t delay = 400;
    char what[64];

    snprintf(what, sizeof what, "processing slot rewritten (%d)", variant);
    sess_start(&s, 2, 0);
    memset(&b, 0, sizeof b);
    b.h = s.h;
    b.type = 201; /* the handler sleeps */
    memcpy(b.req, &delay, 4);
    memcpy(b.req + 4, "late", 4);
    b.len = 8;
    b.timeout_ns = 5000 * MS;
    assert_int_equal(pthread_create(&th, NULL, bg_call_main, &b), 0);
    for (end = t_now_ms() + 2000; slot == UINT32_MAX && t_now_ms() < end;) {
      for (i = 0; i < 2; i++) {
        v = ctrl_of(&s, i);
        if ((v & 7) == SHMIPC_SLOT_PROCESSING) {
          slot = i;
          break;
        }
      }
      t_sleep_ms(1);
    }
    assert_true(slot != UINT32_MAX);
    switch (variant) {
    case 0: /* another generation */
      hostile_store32(&hostile_slot(&s.raw, slot)->ctrl,
                      v ^ SHMIPC_CTRL_GEN_ONE);
      break;
    case 1: /* back to FREE */
      hostile_store32(&hostile_slot(&s.raw, slot)->ctrl,
                      (v & ~7u) | SHMIPC_SLOT_FREE);
      break;
    default: /* a fake RESP_READY: the host must not take it as the answer */
      hostile_store32(&hostile_slot(&s.raw, slot)->ctrl,
                      (v & ~7u) | SHMIPC_SLOT_RESP_READY);
      hostile_wake(&hostile_slot(&s.raw, slot)->ctrl);
      break;
    }
    pthread_join(th, NULL);
    if (b.rc == SHMIPC_OK)
      fail_msg("%s: the host accepted a response the guest never published",
               what);
    if (b.rc != SHMIPC_E_CORRUPT && b.rc != SHMIPC_E_PEER_GONE)
      fail_msg("%s: host call ended with %s", what, shmipc_strerror(b.rc));
    (void)expect(&s, EXITERR, 3000, what);
    sess_end(&s, what);
  }
}

/* Requests whose header lies are answered with SYSTEM_ERROR; the guest
 * keeps serving. */
static void bad_requests_answered_with_error(void **state)
{
  static const struct {
    uint32_t size, flags;
  } bad[] = {
      {CAP + 1, 0},
      {0xFFFFFFFFu, 0},
      {0x80000000u, 0},
      {CAP + 1, SHMIPC_WIRE_END_ALIGNED},
      {0xFFFFFFFFu, SHMIPC_WIRE_END_ALIGNED},
      {4, 0x2},
      {4, 0x80000000u},
      {4, 0xFFFFFFFFu},
  };
  struct sess s;
  struct shmipc_wire_slot resp;
  uint8_t payload[CAP];
  size_t i;
  uint64_t seq = 1000;

  (void)state;
  sess_start(&s, 2, 0);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++, seq++) {
    int r = hostile_request(&s.raw, 0, 150, bad[i].size, bad[i].flags, seq,
                            "abcd", 4, 3000, &resp);
    if (r != 0)
      fail_msg("request size %#x flags %#x: no answer (%d)", bad[i].size,
               bad[i].flags, r);
    if (resp.resp_type != SHMIPC_MSG_SYSTEM_ERROR || resp.resp_seq != seq ||
        resp.resp_size > CAP || resp.resp_size == 0 || resp.resp_flags != 0)
      fail_msg("request size %#x flags %#x: answered type %u size %u flags %#x "
               "seq %llu (want SYSTEM_ERROR, seq %llu)",
               bad[i].size, bad[i].flags, resp.resp_type, resp.resp_size,
               resp.resp_flags, (unsigned long long)resp.resp_seq,
               (unsigned long long)seq);
  }
  /* legal edge cases are served exactly: a full end-aligned request, an
   * empty one */
  for (i = 0; i < CAP; i++)
    payload[i] = (uint8_t)(i * 7 + 1);
  {
    uint8_t *req = hostile_req_buf(&s.raw, 1);
    assert_non_null(req);
    assert_int_equal(hostile_request(&s.raw, 1, 160, CAP,
                                     SHMIPC_WIRE_END_ALIGNED, seq, payload, CAP,
                                     3000, &resp),
                     0);
    assert_int_equal(resp.resp_type, 160);
    assert_int_equal(resp.resp_size, CAP);
    assert_int_equal(resp.resp_seq, seq);
    assert_memory_equal(hostile_resp_buf(&s.raw, 1) +
                            ((resp.resp_flags & 1) ? CAP - resp.resp_size : 0),
                        payload, CAP);
    seq++;
    assert_int_equal(
        hostile_request(&s.raw, 1, 161, 0, 0, seq, NULL, 0, 3000, &resp), 0);
    assert_int_equal(resp.resp_type, 161);
    assert_int_equal(resp.resp_size, 0);
  }
  (void)expect(&s, ALIVE, 50, "bad requests");
  sess_end(&s, "bad requests");
}

/* The guest calls the host (type 202 makes the echo guest do it); the
 * host answers with lying framing. The guest's call fails, it answers the
 * host's call with SYSTEM_ERROR, and it keeps serving. */
static void lying_answers_to_guest_calls(void **state)
{
  static const int modes[] = {HM_SIZE_CAP1, HM_SIZE_MAX, HM_SIZE_HIGH,
                              HM_FLAGS,     HM_SEQ,      HM_GEN,
                              HM_STATE,     HM_RESERVED, HM_RANDOM};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    struct sess s;
    struct bg_call b;
    pthread_t th;
    uint64_t x = 0x1234 + i;
    char what[64];

    snprintf(what, sizeof what, "guest call answered '%s'",
             hostile_mode_name(modes[i]));
    sess_start(&s, 2, 1);
    memset(&b, 0, sizeof b);
    b.h = s.h;
    b.type = 202;
    b.len = (size_t)snprintf(b.req, sizeof b.req, "hello %zu", i);
    b.timeout_ns = 10000 * MS;
    assert_int_equal(pthread_create(&th, NULL, bg_call_main, &b), 0);
    if (hostile_serve_one(&s.raw, 2, modes[i], &x, 5000) != 0)
      fail_msg("%s: the guest made no guest call", what);
    pthread_join(th, NULL);
    if (b.rc != SHMIPC_E_REMOTE || b.n == 0)
      fail_msg("%s: host call got %s (len %zu), want the guest's SYSTEM_ERROR",
               what, shmipc_strerror(b.rc), b.n);
    (void)expect(&s, ALIVE, 50, what);
    sess_end(&s, what);
  }
}

/* Header fields change after the guest attached: the running guest keeps
 * its validated copy and serves on; a new guest is refused. */
static void header_garbage_after_attach(void **state)
{
  static const struct {
    const char *field;
    uint64_t value;
    int want; /* in-process attach result */
  } bad[] = {
      {"magic", 0x315F4350494D4854ull, SHMIPC_E_CORRUPT},
      {"magic", 0, SHMIPC_E_CORRUPT},
      {"version", 2, SHMIPC_E_VERSION},
      {"version", 0xFFFFFFFFu, SHMIPC_E_VERSION},
      {"header_size", 255, SHMIPC_E_CORRUPT},
      {"host_slots", 0, SHMIPC_E_CORRUPT},
      {"host_slots", 1025, SHMIPC_E_CORRUPT},
      {"host_slots", 3, SHMIPC_E_CORRUPT},
      {"guest_slots", 1025, SHMIPC_E_CORRUPT},
      {"guest_slots", 7, SHMIPC_E_CORRUPT},
      {"req_capacity", 0, SHMIPC_E_CORRUPT},
      {"req_capacity", (1u << 30) + 1, SHMIPC_E_CORRUPT},
      {"req_capacity", 2 * CAP, SHMIPC_E_CORRUPT},
      {"resp_capacity", 0xFFFFFFFFu, SHMIPC_E_CORRUPT},
      {"resp_capacity", CAP + 1, SHMIPC_E_CORRUPT},
      {"slot_header_size", 128, SHMIPC_E_CORRUPT},
      {"slot_stride", 0, SHMIPC_E_CORRUPT},
      {"slot_stride", 64 + CAP + CAP + 64, SHMIPC_E_CORRUPT},
      {"slots_offset", 512, SHMIPC_E_CORRUPT},
      {"flags", 1, SHMIPC_E_CORRUPT},
      {"segment_size", 0, SHMIPC_E_CORRUPT},
      {"segment_size", ~(uint64_t)0, SHMIPC_E_CORRUPT},
  };
  struct shmipc_wire_header saved;
  struct sess s;
  size_t i;

  (void)state;
  sess_start(&s, 2, 0);
  memcpy(&saved, hostile_hdr(&s.raw), 64); /* line 0 */
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[96];
    int r;
    snprintf(what, sizeof what, "header %s = %#llx", bad[i].field,
             (unsigned long long)bad[i].value);
    assert_int_equal(hostile_set_header(&s.raw, bad[i].field, bad[i].value), 0);
    r = attach_rc(s.name, 300);
    if (r != bad[i].want)
      fail_msg("%s: a new in-process guest got %s, want %s", what,
               shmipc_strerror(r), shmipc_strerror(bad[i].want));
    new_guest_refused(s.name, what);
    if (expect(&s, ALIVE, 20, what) != ALIVE)
      fail_msg("%s: the running guest stopped", what);
    memcpy(hostile_hdr(&s.raw), &saved, 64);
  }
  /* restored: a second guest is refused only because one is attached */
  assert_int_equal(attach_rc(s.name, 300), SHMIPC_E_BUSY);
  sess_end(&s, "header garbage");
}

/* host_state garbage: the guest must end (the host is no longer READY);
 * a changed session nonce means a replaced host. */
static void host_state_and_nonce_garbage(void **state)
{
  static const struct {
    const char *field;
    uint64_t value;
    unsigned allowed;
  } bad[] = {
      {"host_state", SHMIPC_HOST_INIT, EXIT0 | EXITERR},
      {"host_state", SHMIPC_HOST_CLOSED, EXIT0},
      {"host_state", 7, EXIT0 | EXITERR},
      {"host_state", 0xFFFFFFFFu, EXIT0 | EXITERR},
      /* docs/PROTOCOL.md: the nonce tells a guest that its host has been
       * replaced; the Go guest ends, the C guest does not look at it (see
       * the report); either is not a crash. */
      {"session_nonce", 0x1234, ALIVE | EXIT0 | EXITERR},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[96];
    unsigned got;
    snprintf(what, sizeof what, "header %s = %#llx", bad[i].field,
             (unsigned long long)bad[i].value);
    sess_start(&s, 2, 0);
    assert_int_equal(ping(&s, 2000 * MS), SHMIPC_OK);
    assert_int_equal(hostile_set_header(&s.raw, bad[i].field, bad[i].value), 0);
    /* wake the workers so that they look at the header now */
    hostile_wake(&hostile_slot(&s.raw, 0)->ctrl);
    hostile_wake(&hostile_slot(&s.raw, 1)->ctrl);
    got = expect(&s, bad[i].allowed, 3000, what);
    print_message("  %s: guest %s\n", what,
                  got == ALIVE   ? "keeps serving"
                  : got == EXIT0 ? "exit 0"
                                 : "exit != 0");
    if (got == ALIVE)
      hostile_set_header(&s.raw, "host_state", SHMIPC_HOST_READY);
    sess_end(&s, what);
  }
}

/* Garbage in the attach word. */
static void attach_word_garbage(void **state)
{
  static const uint32_t bad[] = {0x7F000001u, 0xFFFFFFFFu, 0x05u, 0x80000003u};
  size_t i;

  (void)state;
  /* (1) while the guest serves: the guest does not read it until it
   * detaches; the host must not crash either way */
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[64];
    snprintf(what, sizeof what, "attach %#x while serving", bad[i]);
    sess_start(&s, 2, 0);
    assert_int_equal(hostile_set_header(&s.raw, "attach", bad[i]), 0);
    (void)expect(&s, ALIVE | EXIT0 | EXITERR, 50, what);
    sess_end(&s, what);
  }
  /* (2) before a guest attaches: it must refuse with an error */
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct sess s;
    char what[64];
    int r;
    if (bad[i] == 0x80000003u)
      continue; /* state 3 with HOST_WAITING: state > DETACHED like 0x05 */
    snprintf(what, sizeof what, "attach %#x before attach", bad[i]);
    host_create(&s, 2, 0);
    assert_int_equal(hostile_set_header(&s.raw, "attach", bad[i]), 0);
    r = attach_rc(s.name, 300);
    if (r != SHMIPC_E_CORRUPT)
      fail_msg("%s: in-process attach got %s", what, shmipc_strerror(r));
    new_guest_refused(s.name, what);
    sess_end(&s, what);
  }
}

/* Garbage in the doorbell: guest calls still get through. A plain store
 * into the doorbell can rewind its counter to the value the listener last
 * saw (and clear LISTENER_WAITING), so the guest's next ring looks like no
 * change: finding F3 unless the listener rescans on its own. */
static void doorbell_garbage(void **state)
{
  static const uint32_t bad[] = {0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu, 0, 5};
  struct sess s;
  size_t i;
  int k;
  char lost[160] = "";

  (void)state;
  sess_start(&s, 2, 1);
  assert_int_equal(shmipc_host_listen_start(s.h, t_upper, NULL), SHMIPC_OK);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    for (k = 0; k < 4; k++) {
      char resp[CAP];
      size_t n = 0;
      uint32_t t;
      int r;
      assert_int_equal(hostile_set_header(&s.raw, "doorbell", bad[i]), 0);
      r = shmipc_host_call(s.h, 202, "bell", 4, resp, sizeof resp, &n, &t,
                           8000 * MS);
      if (r == SHMIPC_OK && n == 4 && memcmp(resp, "BELL", 4) == 0)
        continue;
      if (r == SHMIPC_E_REMOTE && n >= 9 &&
          memmem(resp, n, "time", 4) != NULL) {
        /* the guest's own guest call timed out: its ring was lost */
        snprintf(lost, sizeof lost,
                 "doorbell %#x (try %d): the listener "
                 "missed the guest's ring; the guest call timed out",
                 bad[i], k);
        goto out;
      }
      fail_msg("doorbell %#x: guest call through the host got %s", bad[i],
               shmipc_strerror(r));
    }
  }
out:
  (void)expect(&s, ALIVE, 20, "doorbell garbage");
  assert_int_equal(shmipc_host_listen_stop(s.h), SHMIPC_OK);
  sess_end(&s, "doorbell garbage");
  if (lost[0] != '\0')
    (void)known("F3", "%s", lost);
}

/* Random bytes over a whole slot header (control word included). */
static void random_slot_headers(void **state)
{
  uint64_t seed;

  (void)state;
  for (seed = 1; seed <= 9; seed++) {
    struct sess s;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull;
    char what[64];
    snprintf(what, sizeof what, "random slot header, seed %llu",
             (unsigned long long)seed);
    sess_start(&s, 2, 1);
    t_sleep_ms(10);
    assert_int_equal(hostile_random_slot(&s.raw, (uint32_t)(seed % 3), &x), 0);
    (void)expect(&s, ALIVE | EXITERR, 300, what);
    sess_end(&s, what);
  }
}

/* Calls from several threads while another process floods slot headers,
 * the attach word and the doorbell with random garbage. */
struct flood_worker {
  shmipc_host *h;
  int id;
  int64_t until_ms;
  unsigned ok, err[20];
  char what[160];
  char wrong[160];
  unsigned slow_every; /* every Nth call a 1 ms handler (0: none) */
};

static void *flood_worker_main(void *arg)
{
  struct flood_worker *w = arg;
  uint64_t x = 0xABCDEFull + (uint64_t)w->id;
  uint8_t req[CAP], resp[CAP];
  unsigned i = 0;

  while (t_now_ms() < w->until_ms) {
    size_t len = (size_t)(hostile_rand(&x) % (CAP + 1)), n = 0, k;
    uint32_t type = 1000 + (uint32_t)(hostile_rand(&x) % 1000), t = 0;
    int r;
    for (k = 0; k < len; k++)
      req[k] = (uint8_t)hostile_rand(&x);
    if (w->slow_every != 0 && i % w->slow_every == 0 && len >= 4) {
      /* the echo guest's late response: sleep req[0..3] (LE) ms, then echo */
      type = 201;
      memcpy(req, "\1\0\0\0", 4);
    }
    if (i++ % 2 == 0) {
      r = shmipc_host_call(w->h, type, req, len, resp, sizeof resp, &n, &t,
                           200 * MS);
    } else {
      shmipc_slot *s;
      r = shmipc_slot_acquire(w->h, 200 * MS, &s);
      if (r == SHMIPC_OK) {
        uint8_t *buf = shmipc_slot_req_buf(s);
        int end = (i / 2) % 2;
        memcpy(end ? buf + CAP - len : buf, req, len);
        r = shmipc_slot_send(s, type, len, end ? SHMIPC_F_END_ALIGNED : 0,
                             200 * MS);
        if (r == SHMIPC_OK) {
          n = shmipc_slot_resp_size(s);
          t = shmipc_slot_resp_type(s);
          memcpy(resp, shmipc_slot_resp_data(s), n <= CAP ? n : CAP);
        }
        shmipc_slot_release(s);
      }
    }
    if (r == SHMIPC_OK) {
      if (n != len || t != type || memcmp(req, resp, len) != 0) {
        if (w->wrong[0] == '\0')
          snprintf(w->wrong, sizeof w->wrong,
                   "call %u: OK with a WRONG answer: len %zu/%zu type %u/%u", i,
                   n, len, t, type);
      } else {
        w->ok++;
      }
    } else if (r == SHMIPC_E_STATE) {
      w->err[17]++; /* two threads held one slot: finding F1 */
    } else if (!allowed_error(r)) {
      if (w->what[0] == '\0')
        snprintf(w->what, sizeof w->what, "call %u: unexpected %s", i,
                 shmipc_strerror(r));
    } else {
      w->err[-r < 20 ? -r : 0]++;
      if (r == SHMIPC_E_PEER_GONE)
        t_sleep_ms(5);
    }
  }
  return NULL;
}

/* A positive integer from the environment (a test knob), else @def. */
static long env_long(const char *name, long def, long max)
{
  const char *e = getenv(name);
  char *end;
  long v;

  if (e == NULL || *e == '\0')
    return def;
  v = strtol(e, &end, 10);
  return *end == '\0' && v > 0 && v <= max ? v : def;
}

/* SHMIPC_TEST_FLOOD_MS, SHMIPC_TEST_FLOOD_THREADS and SHMIPC_TEST_FLOOD_SEED
 * make the flood longer, busier or different, and SHMIPC_TEST_FLOOD_SLOW=N
 * makes every Nth call one whose handler sleeps 1 ms (the echo guests'
 * type 201), so that the guest is often inside a handler when a word is
 * spoiled: to hunt a rare failure. */
static void flood_while_calling(void **state)
{
  enum { MAX_THREADS = 16 };
  struct sess s;
  struct proc fl;
  struct flood_worker w[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  int i, threads = (int)env_long("SHMIPC_TEST_FLOOD_THREADS", 2, MAX_THREADS);
  long ms = env_long("SHMIPC_TEST_FLOOD_MS", 400, 600000);
  unsigned slow = (unsigned)env_long("SHMIPC_TEST_FLOOD_SLOW", 0, 1000000);
  char f1[256] = "", ms_s[24], seed_s[24];

  (void)state;
  snprintf(ms_s, sizeof ms_s, "%ld", ms);
  snprintf(seed_s, sizeof seed_s, "%ld",
           env_long("SHMIPC_TEST_FLOOD_SEED", 77, 1L << 30));
  sess_start(&s, 3, 1);
  assert_int_equal(shmipc_host_listen_start(s.h, t_upper, NULL), SHMIPC_OK);
  {
    const char *argv[] = {tool_path, "-for-ms", ms_s,  "-seed", seed_s,
                          s.name,    "flood",   "all", NULL};
    spawn(&fl, argv);
  }
  for (i = 0; i < threads; i++) {
    w[i] = (struct flood_worker){s.h, i,   t_now_ms() + ms + 200, 0, {0}, "",
                                 "",  slow};
    assert_int_equal(pthread_create(&th[i], NULL, flood_worker_main, &w[i]), 0);
  }
  for (i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
  for (i = 0; i < threads; i++) {
    if (w[i].what[0] != '\0')
      fail_msg("flood, thread %d: %s", i, w[i].what);
    if (w[i].wrong[0] != '\0' && f1[0] == '\0')
      snprintf(f1, sizeof f1, "(F1 suspected) flood, thread %d: %s", i,
               w[i].wrong);
    if (w[i].err[17] != 0 && f1[0] == '\0')
      snprintf(f1, sizeof f1,
               "flood, thread %d: %u calls ended with STATE: "
               "two threads held one slot",
               i, w[i].err[17]);
    print_message("  flood thread %d: %u OK, %u corrupt, %u timeout, %u peer "
                  "gone, %u remote, %u state\n",
                  i, w[i].ok, w[i].err[8], w[i].err[9], w[i].err[10],
                  w[i].err[13], w[i].err[17]);
  }
  assert_true(ended_within(&fl, 3000));
  assert_int_equal(child_verdict(&fl, "flood tool"), EXIT0);
  proc_reap(&fl);
  (void)expect(&s, ALIVE | EXITERR | EXIT0, 100, "flood");
  assert_int_equal(shmipc_host_listen_stop(s.h), SHMIPC_OK);
  sess_end(&s, "flood");
  if (f1[0] != '\0')
    (void)known("F1", "%s", f1);
}

/* A truncated segment is tested at attach time only: truncating under a
 * live mapping makes every peer's access past the new end SIGBUS, which no
 * library can prevent for a mapping it already holds. So: truncate (with
 * the tool), then a NEW guest attaches and must get SHMIPC_E_CORRUPT (or,
 * below the header size, time out waiting for the host to size it), never
 * crash. */
static void truncated_segment_at_attach(void **state)
{
  struct sess s;
  uint8_t saved[SHMIPC_HEADER_SIZE];
  uint64_t seg;
  uint32_t stride;
  size_t i;
  char path[128];

  (void)state;
  host_create(&s, 2, 1);
  seg = hostile_hdr(&s.raw)->segment_size;
  stride = hostile_hdr(&s.raw)->slot_stride;
  memcpy(saved, s.raw.r.base, sizeof saved);
  snprintf(path, sizeof path, "/dev/shm/shmipc-%s", s.name);
  {
    const uint64_t sizes[] = {0,       100,          255,       256,
                              seg - 1, seg - stride, seg + 4096};
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      char what[64], arg[32];
      struct proc t;
      int r, fd;
      const char *argv[] = {tool_path, s.name, "truncate", arg, NULL};
      snprintf(arg, sizeof arg, "%llu", (unsigned long long)sizes[i]);
      snprintf(what, sizeof what, "segment truncated to %llu of %llu",
               (unsigned long long)sizes[i], (unsigned long long)seg);
      spawn(&t, argv);
      assert_true(ended_within(&t, 3000));
      assert_int_equal(child_verdict(&t, "truncate"), EXIT0);
      proc_reap(&t);
      r = attach_rc(s.name, 300);
      if (r !=
          (sizes[i] < SHMIPC_HEADER_SIZE ? SHMIPC_E_TIMEOUT : SHMIPC_E_CORRUPT))
        fail_msg("%s: in-process attach got %s", what, shmipc_strerror(r));
      new_guest_refused(s.name, what);
      /* back to the real size and header, so that the host's own mapping
       * is whole again */
      fd = open(path, O_RDWR | O_CLOEXEC);
      assert_true(fd >= 0);
      assert_int_equal(ftruncate(fd, (off_t)seg), 0);
      assert_int_equal(pwrite(fd, saved, sizeof saved, 0),
                       (ssize_t)sizeof saved);
      close(fd);
    }
  }
  /* the restored segment works */
  spawn_guest(&s.g, s.name, 5000);
  assert_int_equal(shmipc_host_wait_guest(s.h, 10000 * MS), SHMIPC_OK);
  assert_int_equal(ping(&s, 2000 * MS), SHMIPC_OK);
  sess_end(&s, "truncate");
}

/* ---- A hostile stream sender (docs/PROTOCOL.md, "Streams") ----------
 * Raw stream messages written straight into host slots: lies about
 * offsets, totals, ids and sizes, overlapping rewrites, floods of starts.
 * The guest's receiver must stay inside its limits (its own counters,
 * queried with type 205, and its peak) and may only ever deliver bytes
 * that a well-formed sender would have sent (digests, type 204). */

#define S_MAX_STREAM 4096u
#define S_MAX_TOTAL 8192u
#define S_MAX_STREAMS 3u

static void put_le(uint8_t *p, uint64_t v, int n)
{
  int i;

  for (i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
  uint64_t v = 0;
  int i;

  for (i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* One raw stream message on host slot 0; returns the answer's status and
 * state (status -1: no legal answer). */
static void raw_stream(struct sess *s, uint32_t type, uint64_t id,
                       uint64_t total, uint64_t offset, uint32_t app,
                       uint32_t flags, const uint8_t *data, size_t len,
                       uint32_t req_size, int *status, int *state)
{
  static uint64_t seq = 1000;
  uint8_t msg[CAP];
  struct shmipc_wire_slot resp;
  const uint8_t *rb;
  int r;

  put_le(msg, id, 8);
  put_le(msg + 8, total, 8);
  put_le(msg + 16, offset, 8);
  put_le(msg + 24, app, 4);
  put_le(msg + 28, flags, 4);
  if (len > CAP - 32)
    len = CAP - 32;
  if (len > 0)
    memcpy(msg + 32, data, len);
  r = hostile_request(&s->raw, 0, type,
                      req_size ? req_size : 32 + (uint32_t)len, 0, ++seq, msg,
                      32 + len, 3000, &resp);
  *status = *state = -1;
  if (r != 0)
    fail_msg("stream message (type %u id %llu): no answer (%d)", type,
             (unsigned long long)id, r);
  rb = hostile_resp_buf(&s->raw, 0);
  if (resp.resp_type == SHMIPC_MSG_SYSTEM_ERROR)
    return; /* a request the guest library refused before the receiver */
  if (resp.resp_type != type || resp.resp_size != 16 || rb == NULL)
    fail_msg("stream message: answer type %u size %u", resp.resp_type,
             resp.resp_size);
  *status = (int)get_le(rb, 4);
  *state = (int)get_le(rb + 4, 4);
}

/* A query to the echo guest, sent raw on slot 0 like the stream messages
 * (the library host would leave its slot for its own reuse). */
static const uint8_t *raw_query(struct sess *s, uint32_t type, uint64_t arg,
                                uint32_t want_size)
{
  static uint64_t seq = 1u << 30;
  struct shmipc_wire_slot resp;
  uint8_t req[8];

  put_le(req, arg, 8);
  if (hostile_request(&s->raw, 0, type, 8, 0, ++seq, req, 8, 3000, &resp) != 0)
    fail_msg("query %u: no answer", type);
  if (resp.resp_type != type || resp.resp_size != want_size)
    fail_msg("query %u: answer type %u size %u", type, resp.resp_type,
             resp.resp_size);
  return hostile_resp_buf(&s->raw, 0);
}

static void receiver_stats(struct sess *s, uint64_t v[5])
{
  const uint8_t *resp = raw_query(s, 205, 0, 40);
  int i;

  for (i = 0; i < 5; i++)
    v[i] = get_le(resp + 8 * i, 8);
  if (v[2] > S_MAX_TOTAL || v[1] > S_MAX_TOTAL || v[0] > S_MAX_STREAMS)
    fail_msg("receiver past its bounds: open %llu reserved %llu peak %llu",
             (unsigned long long)v[0], (unsigned long long)v[1],
             (unsigned long long)v[2]);
}

/* Deliveries of @id (type 204): count, and the digest in @sha. */
static uint32_t delivered(struct sess *s, uint64_t id, uint8_t sha[32])
{
  const uint8_t *resp = raw_query(s, 204, id, 48);

  memcpy(sha, resp + 16, 32);
  return (uint32_t)get_le(resp + 12, 4);
}

static void pattern(uint8_t *p, size_t len, uint64_t off, uint64_t id)
{
  size_t i;

  for (i = 0; i < len; i++)
    p[i] = (uint8_t)((off + i) * 131 + id * 17 + 7);
}

static void hostile_stream_sender(void **state)
{
  char mt[24], mts[24], ms[24];
  const char *argv[] = {guest_path, NULL,
                        NULL,       "-timeout-ms",
                        "10000",    "-stream-max-stream",
                        ms,         "-stream-max-total",
                        mt,         "-stream-max-streams",
                        mts,        "-stream-max-parked",
                        "2",        "-stream-idle-ms",
                        "300",      NULL};
  struct sess s;
  uint8_t data[CAP], want[32], got[32], all[2 * 200];
  uint64_t x = 0x5EED5EED, v[5], tot[7] = {0};
  int st, sa, i;
  uint64_t id;

  (void)state;
  snprintf(ms, sizeof ms, "%u", S_MAX_STREAM);
  snprintf(mt, sizeof mt, "%u", S_MAX_TOTAL);
  snprintf(mts, sizeof mts, "%u", S_MAX_STREAMS);
  host_create(&s, 2, 0);
  argv[1] = "-name";
  argv[2] = s.name;
  spawn(&s.g, argv);
  assert_int_equal(shmipc_host_wait_guest(s.h, 10000 * MS), SHMIPC_OK);

  /* 1. Overlap: a second copy of bytes already taken must not replace
   * them; the stream is dropped and never delivered. */
  pattern(all, sizeof all, 0, 7);
  raw_stream(&s, 4, 7, 400, 0, 300, 0, NULL, 0, 0, &st, &sa);
  assert_true(st == 0 && sa == 1);
  raw_stream(&s, 5, 7, 400, 0, 300, 0, all, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 1);
  memset(data, 0xAA, sizeof data);
  raw_stream(&s, 5, 7, 400, 100, 300, 0, data, 200, 0, &st, &sa);
  assert_true(st == SHMIPC_STREAM_OVERLAP && sa == 3);
  raw_stream(&s, 5, 7, 400, 200, 300, 0, all + 200, 200, 0, &st, &sa);
  assert_true(st == SHMIPC_STREAM_UNKNOWN && sa == 0);
  assert_int_equal(delivered(&s, 7, got), 0);

  /* 2. The same stream, well formed but out of order, is delivered once
   * with exactly its bytes; a rewrite after completion changes nothing. */
  raw_stream(&s, 4, 8, 400, 0, 300, 0, NULL, 0, 0, &st, &sa);
  pattern(all, sizeof all, 0, 8);
  raw_stream(&s, 5, 8, 400, 200, 300, 0, all + 200, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 1);
  raw_stream(&s, 5, 8, 400, 0, 300, 0, all, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 2);
  raw_stream(&s, 5, 8, 400, 0, 300, 0, data, 200, 0, &st, &sa);
  assert_true(st == SHMIPC_STREAM_UNKNOWN);
  /* The reference: stream 8's bytes sent again as stream 9, in order; the
   * guest's digest of it is what stream 8's must equal. */
  raw_stream(&s, 4, 9, 400, 0, 300, 0, NULL, 0, 0, &st, &sa);
  raw_stream(&s, 5, 9, 400, 0, 300, 0, all, 200, 0, &st, &sa);
  raw_stream(&s, 5, 9, 400, 200, 300, 0, all + 200, 200, 0, &st, &sa);
  assert_true(st == 0 && sa == 2);
  assert_int_equal(delivered(&s, 8, got), 1);
  assert_int_equal(delivered(&s, 9, want), 1);
  assert_memory_equal(got, want, 32);

  /* 3. A flood of lies: random starts, chunks, totals, offsets, flags,
   * request sizes. The bounds hold throughout. */
  for (i = 0; i < 3000; i++) {
    uint64_t r = hostile_rand(&x), total, off;
    uint32_t type = (r & 3) == 0 ? 4 : 5, req_size = 0, flags = 0, app = 300;
    size_t len = (size_t)(hostile_rand(&x) % (CAP - 31));
    bool honest = (r >> 4) % 10 < 7;

    id = 1 + (r >> 8) % 6;
    switch ((r >> 12) % 5) {
    case 0:
      total = hostile_rand(&x);
      break; /* anything */
    case 1:
      total = S_MAX_STREAM;
      break;
    default:
      total = (r >> 16) % 3000;
      break;
    }
    off = (r >> 32) % 5 == 0 ? hostile_rand(&x) : (r >> 40) % 3000;
    if (type == 4 && honest) {
      len = 0;
      off = 0;
    } else if (type == 5 && honest && tot[id] > 0) {
      total = tot[id];
      off = (r >> 40) % tot[id];
      if (len == 0)
        len = 1;
    }
    if ((r >> 28) % 50 == 0)
      req_size = (uint32_t)hostile_rand(&x); /* past the capacity */
    if ((r >> 34) % 40 == 0)
      flags = (uint32_t)(r >> 50) & 3;
    if ((r >> 36) % 30 == 0)
      app = 301;
    hostile_random_bytes(data, len, &x);
    raw_stream(&s, type, id, total, off, app, flags, data, len, req_size, &st,
               &sa);
    if (st > (int)SHMIPC_STREAM_REFUSED || sa > 3)
      fail_msg("message %d: illegal answer %d/%d", i, st, sa);
    if (type == 4 && st == 0 && sa == 1)
      tot[id] = total;
    if (i % 250 == 0)
      receiver_stats(&s, v);
  }
  receiver_stats(&s, v);
  /* idle streams are swept by the next stream message after 300 ms */
  t_sleep_ms(400);
  raw_stream(&s, 5, 99, 1, 0, 300, 0, data, 1, 0, &st, &sa);
  assert_int_equal(st, SHMIPC_STREAM_UNKNOWN);
  receiver_stats(&s, v);
  assert_int_equal(v[0], 0);
  assert_int_equal(v[1], 0);
  printf(
      "hostile streams: peak %llu of %u bytes, %llu delivered, %llu dropped\n",
      (unsigned long long)v[2], S_MAX_TOTAL, (unsigned long long)v[3],
      (unsigned long long)v[4]);
  /* and the guest still serves */
  assert_int_equal(ping(&s, 1000 * MS), SHMIPC_OK);
  sess_end(&s, "hostile stream sender");
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ctrl_illegal_ends_guest),
      cmocka_unit_test(ctrl_changed_while_guest_processes),
      cmocka_unit_test(bad_requests_answered_with_error),
      cmocka_unit_test(lying_answers_to_guest_calls),
      cmocka_unit_test(header_garbage_after_attach),
      cmocka_unit_test(host_state_and_nonce_garbage),
      cmocka_unit_test(attach_word_garbage),
      cmocka_unit_test(doorbell_garbage),
      cmocka_unit_test(random_slot_headers),
      cmocka_unit_test(flood_while_calling),
      cmocka_unit_test(truncated_segment_at_attach),
      cmocka_unit_test(hostile_stream_sender),
  };
  char title[256];
  int r = hostile_init(argc, argv, "hostile host vs", title, sizeof title);

  if (r != 0)
    return r;
  return cmocka_run_group_tests_name(title, tests, NULL, hostile_cleanup);
}
