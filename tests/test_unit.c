/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: configuration and name errors, segment validation, the slot
 * state machine (legal and illegal moves), timeouts, quarantine, and the
 * hostile values a peer can write. Host and guest run in this one process
 * (liveness locks belong to open file descriptions on Linux and to holder
 * threads on Windows, so that works); the cross-process cases live in
 * test_interop.c. The raw segment access is tests/common/raw.h.
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

#include "clock.h"
#include "handlers.h"
#include "internal.h"
#include "raw.h"

#define MS INT64_C(1000000)

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "unit-%u-%d", (unsigned)shmipc__getpid(), n++);
  return buf;
}

static shmipc_host *host_new(const char *name, uint32_t host_slots,
                             uint32_t guest_slots, uint32_t cap)
{
  shmipc_host_config c;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = host_slots;
  c.guest_slots = guest_slots;
  c.req_capacity = cap;
  c.resp_capacity = cap;
  c.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  return h;
}

static shmipc_guest *guest_new(const char *name)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;

  shmipc_guest_config_init(&c);
  c.name = name;
  c.connect_timeout_ns = 1000 * MS;
  c.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_OK);
  return g;
}

static int guest_attach_rc(const char *name, int64_t connect_ns)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;
  int r;

  shmipc_guest_config_init(&c);
  c.name = name;
  c.connect_timeout_ns = connect_ns;
  r = shmipc_guest_attach(&c, &g);
  shmipc_guest_detach(g);
  return r;
}

/* A raw view of a segment, as a hostile peer would have it. */
static struct raw raw_map(const char *name)
{
  struct raw r;

  assert_int_equal(raw_open(name, &r), 0);
  return r;
}

static struct shmipc_wire_header *raw_hdr(struct raw *r)
{
  return (struct shmipc_wire_header *)(void *)r->base;
}

static struct shmipc_wire_slot *raw_slot(struct raw *r, uint32_t i)
{
  struct shmipc_wire_header *h = raw_hdr(r);
  return (struct shmipc_wire_slot *)(void *)(r->base + h->slots_offset +
                                             (size_t)i * h->slot_stride);
}

/* The echo handler of tests/ECHO_GUEST.md, in-process. */
static int echo(void *user, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type)
{
  (void)user;
  if (type == 200)
    return -1;
  if (type == 201 && req_len >= 4) {
    uint32_t ms;
    memcpy(&ms, req, 4);
    t_sleep_ns((int64_t)ms * MS);
  }
  if (type == 203) {
    *resp_len = resp_cap + 1;
    return 0;
  }
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

/* ------------------------------------------------------------------ */

static void strerror_and_version(void **state)
{
  int c;

  (void)state;
  for (c = 0; c >= -19; c--) {
    assert_non_null(shmipc_strerror(c));
    assert_string_not_equal(shmipc_strerror(c), "unknown error");
  }
  assert_string_equal(shmipc_strerror(-20), "unknown error");
  assert_string_equal(shmipc_strerror(1), "unknown error");
  assert_int_equal(shmipc_version(), SHMIPC_VERSION_NUMBER);
  assert_true(SHMIPC_CHECK_VERSION(0, 0, 0));
  assert_false(SHMIPC_CHECK_VERSION(SHMIPC_VERSION_MAJOR + 1, 0, 0));
}

static void name_rules(void **state)
{
  char longest[65], too_long[66];

  (void)state;
  memset(longest, 'a', 64);
  longest[64] = '\0';
  memset(too_long, 'a', 65);
  too_long[65] = '\0';
  assert_true(shmipc__name_valid("a"));
  assert_true(shmipc__name_valid("My_IPC-1.2"));
  assert_true(shmipc__name_valid(longest));
  assert_false(shmipc__name_valid(too_long));
  assert_false(shmipc__name_valid(""));
  assert_false(shmipc__name_valid(NULL));
  assert_false(shmipc__name_valid(".hidden"));
  assert_false(shmipc__name_valid("a/b"));
  assert_false(shmipc__name_valid("../x"));
  assert_false(shmipc__name_valid("sp ace"));
  assert_false(shmipc__name_valid("uml\xc3\xa4ut"));
}

static void config_errors(void **state)
{
  shmipc_host_config c;
  shmipc_host *h = (shmipc_host *)1;

  (void)state;
  assert_int_equal(shmipc_host_create(NULL, &h), SHMIPC_E_INVALID);
  shmipc_host_config_init(&c);
  c.name = tname();
  assert_int_equal(shmipc_host_create(&c, NULL), SHMIPC_E_INVALID);
#define BAD(field, v, want)                                                    \
  do {                                                                         \
    shmipc_host_config_init(&c);                                               \
    c.name = tname();                                                          \
    c.field = v;                                                               \
    assert_int_equal(shmipc_host_create(&c, &h), want);                        \
    assert_null(h);                                                            \
  } while (0)
  BAD(struct_size, 8, SHMIPC_E_INVALID);
  BAD(host_slots, 0, SHMIPC_E_INVALID);
  BAD(host_slots, SHMIPC_MAX_SLOTS + 1, SHMIPC_E_INVALID);
  BAD(guest_slots, SHMIPC_MAX_SLOTS + 1, SHMIPC_E_INVALID);
  BAD(req_capacity, 0, SHMIPC_E_INVALID);
  BAD(resp_capacity, SHMIPC_MAX_CAPACITY + 1, SHMIPC_E_INVALID);
  BAD(mode, 01600, SHMIPC_E_INVALID);
  BAD(mode, 0400, SHMIPC_E_INVALID);
  BAD(default_timeout_ns, -3, SHMIPC_E_INVALID);
  BAD(default_timeout_ns, INT64_MIN, SHMIPC_E_INVALID);
  BAD(liveness_interval_ns, 0, SHMIPC_E_INVALID);
  BAD(flags, 1u << 1, SHMIPC_E_INVALID);
  BAD(global_peer_sid, "BU", SHMIPC_E_INVALID); /* without the flag */
  BAD(name, "", SHMIPC_E_NAME);
  BAD(name, "a/b", SHMIPC_E_NAME);
  BAD(name, NULL, SHMIPC_E_NAME);
#undef BAD
  assert_int_equal(guest_attach_rc("bad/name", 0), SHMIPC_E_NAME);
}

#ifndef _WIN32
/* The global namespace is Windows-only: refused here, and nothing made. */
static void global_is_windows_only(void **state)
{
  const char *name = tname();
  shmipc_host_config c;
  shmipc_guest_config gc;
  shmipc_host *h = NULL, *live;
  shmipc_guest *g = NULL;

  (void)state;
  shmipc_host_config_init(&c);
  c.name = name;
  c.flags = SHMIPC_HOST_F_GLOBAL;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  assert_null(h);
  assert_non_null(strstr(shmipc_last_error(), "Windows-only"));
  assert_int_equal(raw_exists(name), 0);
  c.global_peer_sid = "BU";
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  assert_int_equal(raw_exists(name), 0);

  /* The guest: refused at once, even with a host of that name. */
  live = host_new(name, 1, 0, 64);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.flags = SHMIPC_GUEST_F_GLOBAL;
  gc.connect_timeout_ns = 0;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_E_INVALID);
  assert_null(g);
  assert_non_null(strstr(shmipc_last_error(), "Windows-only"));
  shmipc_host_destroy(live);
}
#endif

static void segment_mode_and_exists(void **state)
{
  const char *name = tname();
  shmipc_host_config c;
  shmipc_host *h, *h2 = NULL;
  struct raw r;

  (void)state;
  h = host_new(name, 1, 0, 64);
  r = raw_map(name);
  assert_int_equal(raw_owner_only(&r), 1);
  raw_close(&r);
  shmipc_host_config_init(&c);
  c.name = name;
  /* the first host lives: refused, not replaced */
  assert_int_equal(shmipc_host_create(&c, &h2), SHMIPC_E_EXISTS);
  assert_null(h2);
  shmipc_host_destroy(h);
  /* a clean destroy removes the segment */
  assert_int_equal(raw_exists("nonexistent-check"), 0);
  assert_int_equal(raw_exists(name), 0);
}

static void stale_segment_replaced(void **state)
{
  const char *name = tname();
  shmipc_host *h;

  (void)state;
  /* a segment nobody holds the host lock on: what a crashed host leaves */
  assert_int_equal(raw_make_stale(name), 0);
  h = host_new(name, 1, 0, 64);
  shmipc_host_destroy(h);
}

/* A segment this guest may not open is ACCESS at once, not a retry until
 * the connect timeout. */
static void attach_forbidden_is_access(void **state)
{
  const char *name = tname();
  int64_t t0;

  (void)state;
  if (raw_forbidden_unsupported() != NULL) {
    printf("attach_forbidden_is_access: not run on this OS: %s\n",
           raw_forbidden_unsupported());
    return;
  }
  assert_int_equal(raw_make_forbidden(name), 0);
  t0 = t_now_ns();
  assert_int_equal(guest_attach_rc(name, 2000 * MS), SHMIPC_E_ACCESS);
  assert_true(t_now_ns() - t0 < 1000 * MS);
  raw_forbidden_drop();
}

static void attach_missing_times_out(void **state)
{
  int64_t t0 = t_now_ns(), dt;

  (void)state;
  assert_int_equal(guest_attach_rc(tname(), 100 * MS), SHMIPC_E_NOT_FOUND);
  dt = t_now_ns() - t0;
  assert_true(dt >= 100 * MS);
  assert_true(dt < 1000 * MS);
  assert_int_equal(guest_attach_rc(tname(), 0), SHMIPC_E_NOT_FOUND);
}

/* Corrupt one header field, check the guest's verdict, restore it. */
static void attach_bad_header(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 2, 1, 128);
  struct raw r = raw_map(name);
  struct shmipc_wire_header *hd = raw_hdr(&r), saved = *hd;

  (void)state;
#define CASE(stmt, want)                                                       \
  do {                                                                         \
    stmt;                                                                      \
    assert_int_equal(guest_attach_rc(name, 50 * MS), want);                    \
    *hd = saved;                                                               \
  } while (0)
  CASE(hd->magic ^= 1, SHMIPC_E_CORRUPT);
  CASE(hd->version = 2, SHMIPC_E_VERSION);
  CASE(hd->version = 0, SHMIPC_E_VERSION);
  CASE(hd->host_state = SHMIPC_HOST_CLOSED, SHMIPC_E_PEER_GONE);
  CASE(hd->host_state = 77, SHMIPC_E_CORRUPT);
  CASE(hd->host_state = SHMIPC_HOST_INIT, SHMIPC_E_TIMEOUT);
  CASE(hd->header_size = 128, SHMIPC_E_CORRUPT);
  CASE(hd->host_slots = 0, SHMIPC_E_CORRUPT);
  CASE(hd->host_slots = 5000, SHMIPC_E_CORRUPT);
  CASE(hd->guest_slots = 0xFFFFFFFFu, SHMIPC_E_CORRUPT);
  CASE(hd->req_capacity = 0xFFFFFFFFu, SHMIPC_E_CORRUPT);
  CASE(hd->resp_capacity = 0, SHMIPC_E_CORRUPT);
  CASE(hd->slot_stride += 64, SHMIPC_E_CORRUPT);
  CASE(hd->segment_size *= 2, SHMIPC_E_CORRUPT);
  CASE(hd->slots_offset = 0, SHMIPC_E_CORRUPT);
  CASE(hd->flags = 1, SHMIPC_E_CORRUPT);
#undef CASE
  /* the file shorter than the geometry says */
  if (raw_resize_unsupported() != NULL) {
    printf("attach_bad_header: short-file case not run on this OS: %s\n",
           raw_resize_unsupported());
  } else {
    assert_int_equal(raw_resize(&r, r.size - 64), 0);
    assert_int_equal(guest_attach_rc(name, 50 * MS), SHMIPC_E_CORRUPT);
    assert_int_equal(raw_resize(&r, r.size), 0);
  }
  /* intact again: attach works */
  assert_int_equal(guest_attach_rc(name, 50 * MS), SHMIPC_OK);
  raw_close(&r);
  shmipc_host_destroy(h);
}

static void second_guest_refused(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  shmipc_guest *g = guest_new(name);

  (void)state;
  assert_int_equal(guest_attach_rc(name, 50 * MS), SHMIPC_E_BUSY);
  shmipc_guest_detach(g);
  /* after a detach the next guest is welcome */
  assert_int_equal(guest_attach_rc(name, 50 * MS), SHMIPC_OK);
  shmipc_host_destroy(h);
}

static void wait_guest_bounded(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  int64_t t0 = t_now_ns(), dt;
  shmipc_guest *g;

  (void)state;
  assert_int_equal(shmipc_host_wait_guest(h, 30 * MS), SHMIPC_E_TIMEOUT);
  dt = t_now_ns() - t0;
  assert_true(dt >= 30 * MS && dt < 1000 * MS);
  assert_int_equal(shmipc_host_wait_guest(h, -7), SHMIPC_E_INVALID);
  g = guest_new(name);
  assert_int_equal(shmipc_host_wait_guest(h, 0), SHMIPC_OK);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

static void echo_calls(void **state)
{
  const char *name = tname();
  enum { CAP = 1000 };
  shmipc_host *h = host_new(name, 2, 0, CAP);
  shmipc_guest *g = guest_new(name);
  uint8_t req[CAP + 1], resp[CAP];
  size_t n;
  uint32_t t;
  int i;

  (void)state;
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_E_STATE);
  srand(7);
  for (i = 0; i < 500; i++) {
    size_t len = (size_t)rand() % (CAP + 1), k;
    uint32_t type = i % 3 == 0 ? 0 : 1000 + (uint32_t)i; /* clear of 200-203 */
    for (k = 0; k < len; k++)
      req[k] = (uint8_t)rand();
    n = 12345;
    assert_int_equal(shmipc_host_call(h, type, req, len, resp, sizeof resp, &n,
                                      &t, 1000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, len);
    assert_int_equal(t, type);
    assert_memory_equal(resp, req, len);
  }
  /* too big, truncated, system errors */
  assert_int_equal(shmipc_host_call(h, 0, req, CAP + 1, resp, sizeof resp, &n,
                                    &t, 1000 * MS),
                   SHMIPC_E_TOO_BIG);
  memset(req, 'x', 100);
  assert_int_equal(
      shmipc_host_call(h, 0, req, 100, resp, 99, &n, &t, 1000 * MS),
      SHMIPC_E_TRUNCATED);
  assert_int_equal(n, 100);
  assert_int_equal(
      shmipc_host_call(h, 200, req, 10, resp, sizeof resp, &n, &t, 1000 * MS),
      SHMIPC_E_REMOTE);
  assert_int_equal(t, SHMIPC_MSG_SYSTEM_ERROR);
  assert_true(n > 0);
  assert_int_equal(
      shmipc_host_call(h, 203, req, 10, resp, sizeof resp, &n, &t, 1000 * MS),
      SHMIPC_E_REMOTE);
  assert_int_equal(
      shmipc_host_call(h, 0, NULL, 0, NULL, 0, NULL, NULL, 1000 * MS),
      SHMIPC_OK);
  assert_int_equal(shmipc_host_call(h, 0, NULL, 5, resp, 1, NULL, NULL, 0),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_call(h, 0, req, 5, resp, 1, NULL, NULL, -3),
                   SHMIPC_E_INVALID);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

/* Every wait goes to sleep (no spinning) and the liveness interval is
 * long: a lost wake-up would stall a call for a whole interval (2 s), and
 * the slowest call shows it. This is the futex path on Linux and the
 * named-event path on Windows. */
static void sleep_path_no_lost_wakeup(void **state)
{
  enum { CALLS = 2000 };
  const char *name = tname();
  shmipc_host_config hc;
  shmipc_guest_config gc;
  shmipc_host *h = NULL;
  shmipc_guest *g = NULL;
  int64_t worst = 0, t0, dt;
  uint8_t req[64], resp[64];
  size_t n;
  uint32_t t;
  int i;

  (void)state;
  shmipc_host_config_init(&hc);
  hc.name = name;
  hc.host_slots = 1;
  hc.req_capacity = hc.resp_capacity = 64;
  hc.spin_budget = 0;
  hc.liveness_interval_ns = 2000 * MS;
  assert_int_equal(shmipc_host_create(&hc, &h), SHMIPC_OK);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.spin_budget = 0;
  gc.liveness_interval_ns = 2000 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  for (i = 0; i < CALLS; i++) {
    req[0] = (uint8_t)i;
    t0 = t_now_ns();
    assert_int_equal(shmipc_host_call(h, 150, req, sizeof req, resp,
                                      sizeof resp, &n, &t, 10000 * MS),
                     SHMIPC_OK);
    dt = t_now_ns() - t0;
    worst = dt > worst ? dt : worst;
    if (dt >= 1000 * MS)
      fail_msg("call %d took %.0f ms: a wake-up was lost", i, (double)dt / 1e6);
    assert_int_equal(resp[0], (uint8_t)i);
  }
  printf("sleep path: %d calls, every wait asleep, slowest %.2f ms\n", CALLS,
         (double)worst / 1e6);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

static void zero_copy_end_aligned(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 256);
  shmipc_guest *g = guest_new(name);
  static const char msg[] = "built back to front";
  shmipc_slot *s;
  uint8_t *buf;

  (void)state;
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_slot_acquire(h, 1000 * MS, &s), SHMIPC_OK);
  assert_int_equal(shmipc_slot_req_capacity(s), 256);
  assert_null(shmipc_slot_resp_data(s));
  buf = shmipc_slot_req_buf(s);
  memcpy(buf + 256 - sizeof msg, msg, sizeof msg);
  assert_int_equal(
      shmipc_slot_send(s, 300, sizeof msg, SHMIPC_F_END_ALIGNED, 1000 * MS),
      SHMIPC_OK);
  assert_int_equal(shmipc_slot_resp_size(s), sizeof msg);
  assert_int_equal(shmipc_slot_resp_type(s), 300);
  assert_memory_equal(shmipc_slot_resp_data(s), msg, sizeof msg);
  /* illegal moves on a slot that already has its answer */
  assert_int_equal(shmipc_slot_publish(s, 0, 1, 0), SHMIPC_E_STATE);
  assert_int_equal(shmipc_slot_wait(s, 0), SHMIPC_E_STATE);
  shmipc_slot_release(s);
  shmipc_slot_release(NULL);

  assert_int_equal(shmipc_slot_acquire(h, 1000 * MS, &s), SHMIPC_OK);
  assert_int_equal(shmipc_slot_wait(s, 0), SHMIPC_E_STATE);
  assert_int_equal(shmipc_slot_publish(s, 0, 1, 0x80), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_publish(s, 0, 257, 0), SHMIPC_E_TOO_BIG);
  assert_int_equal(shmipc_slot_publish(s, 0, 3, 0), SHMIPC_OK);
  assert_int_equal(shmipc_slot_publish(s, 0, 3, 0), SHMIPC_E_STATE);
  assert_int_equal(shmipc_slot_wait(s, 1000 * MS), SHMIPC_OK);
  shmipc_slot_release(s);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

static void nested_acquire(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 2, 0, 64);
  shmipc_slot *a, *b, *c;
  int64_t t0, dt;

  (void)state;
  assert_int_equal(shmipc_slot_acquire(h, 100 * MS, &a), SHMIPC_OK);
  assert_int_equal(shmipc_slot_acquire(h, 100 * MS, &b), SHMIPC_OK);
  assert_ptr_not_equal(a, b);
  assert_int_equal(shmipc_slot_try_acquire(h, &c), SHMIPC_E_BUSY);
  t0 = t_now_ns();
  assert_int_equal(shmipc_slot_acquire(h, 30 * MS, &c), SHMIPC_E_TIMEOUT);
  dt = t_now_ns() - t0;
  assert_true(dt >= 30 * MS && dt < 1000 * MS);
  shmipc_slot_release(a);
  assert_int_equal(shmipc_slot_try_acquire(h, &c), SHMIPC_OK);
  assert_ptr_equal(c, a);
  shmipc_slot_release(b);
  shmipc_slot_release(c);
  shmipc_host_destroy(h);
}

struct releaser {
  shmipc_slot *s;
  int64_t after_ns;
};

static void *release_later(void *arg)
{
  struct releaser *r = arg;

  t_sleep_ns(r->after_ns);
  shmipc_slot_release(r->s);
  return NULL;
}

static void acquire_wakes_on_release(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  struct releaser rel = {NULL, 50 * MS};
  shmipc_slot *s;
  pthread_t th;
  int64_t t0, dt;

  (void)state;
  assert_int_equal(shmipc_slot_acquire(h, 0, &rel.s), SHMIPC_OK);
  assert_int_equal(pthread_create(&th, NULL, release_later, &rel), 0);
  t0 = t_now_ns();
  assert_int_equal(shmipc_slot_acquire(h, 5000 * MS, &s), SHMIPC_OK);
  dt = t_now_ns() - t0;
  assert_true(dt >= 40 * MS && dt < 2000 * MS);
  pthread_join(th, NULL);
  shmipc_slot_release(s);
  shmipc_host_destroy(h);
}

static void call_without_guest_cancels(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  int64_t t0 = t_now_ns(), dt;
  shmipc_slot *s;
  struct raw r;

  (void)state;
  assert_int_equal(
      shmipc_host_call(h, 0, "abc", 3, NULL, 0, NULL, NULL, 30 * MS),
      SHMIPC_E_TIMEOUT);
  dt = t_now_ns() - t0;
  assert_true(dt >= 30 * MS && dt < 1000 * MS);
  /* the request was taken back: the slot is free, not quarantined */
  r = raw_map(name);
  assert_int_equal(raw_slot(&r, 0)->ctrl & SHMIPC_CTRL_STATE_MASK,
                   SHMIPC_SLOT_FREE);
  assert_int_equal(shmipc_slot_try_acquire(h, &s), SHMIPC_OK);
  /* a zero-copy send that times out keeps the slot held: send again */
  assert_int_equal(shmipc_slot_send(s, 0, 1, 0, 10 * MS), SHMIPC_E_TIMEOUT);
  assert_int_equal(raw_slot(&r, 0)->ctrl & SHMIPC_CTRL_STATE_MASK,
                   SHMIPC_SLOT_CLAIMED);
  assert_int_equal(shmipc_slot_send(s, 0, 1, 0, 0), SHMIPC_E_TIMEOUT);
  shmipc_slot_release(s);
  assert_int_equal(raw_slot(&r, 0)->ctrl & SHMIPC_CTRL_STATE_MASK,
                   SHMIPC_SLOT_FREE);
  raw_close(&r);
  shmipc_host_destroy(h);
}

static void late_response_quarantined(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  shmipc_guest *g = guest_new(name);
  uint8_t req[8], resp[64];
  uint32_t ms = 300, t;
  int64_t t0, dt;
  size_t n;
  struct raw r = raw_map(name);
  shmipc_slot *s;
  int i;

  (void)state;
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  memcpy(req, &ms, 4);
  memcpy(req + 4, "OLD!", 4);
  /* The call times out while the guest is inside its handler: it waits for
   * the guest to take the request first, however slow the machine (a call
   * that times out before the take is cancelled instead). */
  assert_int_equal(shmipc_slot_acquire(h, 2000 * MS, &s), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(s), req, sizeof req);
  assert_int_equal(shmipc_slot_publish(s, 201, sizeof req, 0), SHMIPC_OK);
  for (i = 0; (raw_slot(&r, 0)->ctrl & SHMIPC_CTRL_STATE_MASK) !=
              SHMIPC_SLOT_PROCESSING;
       i++) {
    assert_true(i < 2000); /* 2 s for the guest to take the request */
    t_sleep_ms(1);
  }
  assert_int_equal(shmipc_slot_wait(s, 20 * MS), SHMIPC_E_TIMEOUT);
  shmipc_slot_release(s);
  /* the guest owns the slot: quarantined, not cancelled */
  assert_int_equal(raw_slot(&r, 0)->ctrl & SHMIPC_CTRL_STATE_MASK,
                   SHMIPC_SLOT_PROCESSING);
  /* The only slot is quarantined: the next call waits for the late answer,
   * reclaims the slot and gets its own response, never the old one. */
  t0 = t_now_ns();
  assert_int_equal(
      shmipc_host_call(h, 0, "NEW!", 4, resp, sizeof resp, &n, &t, 2000 * MS),
      SHMIPC_OK);
  dt = t_now_ns() - t0;
  assert_int_equal(n, 4);
  assert_memory_equal(resp, "NEW!", 4);
  assert_true(dt >= 50 * MS); /* it really had to wait for the late answer */
  raw_close(&r);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

/* A hostile guest writes the control word or the response header. */
static void corrupt_responses(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  struct raw r = raw_map(name);
  struct shmipc_wire_slot *w = raw_slot(&r, 0);
  shmipc_slot *s;
  uint32_t gen;
  int i;

  (void)state;
  for (i = 0; i < 4; i++) {
    assert_int_equal(shmipc_slot_acquire(h, 100 * MS, &s), SHMIPC_OK);
    assert_int_equal(shmipc_slot_publish(s, 0, 4, 0), SHMIPC_OK);
    gen = w->ctrl & ~0xFFu;
    w->resp_size = 4;
    w->resp_flags = 0;
    w->resp_seq = w->req_seq;
    switch (i) {
    case 0:
      w->resp_size = 65; /* past the capacity */
      break;
    case 1:
      w->resp_flags = 0x40; /* unknown flag */
      break;
    case 2:
      w->resp_seq += 1; /* answer to another call */
      break;
    case 3:
      w->ctrl = gen | 7; /* illegal state */
      break;
    }
    if (i != 3)
      w->ctrl = gen | SHMIPC_SLOT_RESP_READY;
    assert_int_equal(shmipc_slot_wait(s, 100 * MS), SHMIPC_E_CORRUPT);
    assert_null(shmipc_slot_resp_data(s));
    shmipc_slot_release(s);
    w->ctrl = gen; /* back to FREE for the next case */
  }
  /* a response of another generation is not ours */
  assert_int_equal(shmipc_slot_acquire(h, 100 * MS, &s), SHMIPC_OK);
  assert_int_equal(shmipc_slot_publish(s, 0, 4, 0), SHMIPC_OK);
  gen = w->ctrl & ~0xFFu;
  w->resp_seq = w->req_seq;
  w->ctrl = (gen + SHMIPC_CTRL_GEN_ONE) | SHMIPC_SLOT_RESP_READY;
  assert_int_equal(shmipc_slot_wait(s, 100 * MS), SHMIPC_E_CORRUPT);
  shmipc_slot_release(s);
  raw_close(&r);
  shmipc_host_destroy(h);
}

/* A hostile host publishes a request whose size lies. */
static void corrupt_request_answered_with_error(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  shmipc_guest *g = guest_new(name);
  struct raw r = raw_map(name);
  struct shmipc_wire_slot *w = raw_slot(&r, 0);
  int64_t t0;

  (void)state;
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  w->req_size = 0xFFFFFFF0u;
  w->req_flags = SHMIPC_WIRE_END_ALIGNED;
  w->req_seq = 99;
  __atomic_store_n(&w->ctrl, SHMIPC_CTRL_GEN_ONE | SHMIPC_SLOT_REQ_READY,
                   __ATOMIC_SEQ_CST);
  raw_wake(&r, &w->ctrl, SHMIPC_CTRL_RESPONDER_WAITING);
  t0 = t_now_ns();
  while ((__atomic_load_n(&w->ctrl, __ATOMIC_SEQ_CST) &
          SHMIPC_CTRL_STATE_MASK) != SHMIPC_SLOT_RESP_READY) {
    if (t_now_ns() - t0 > 2000 * MS)
      fail_msg("guest did not answer the corrupt request within 2 s");
    t_sleep_ns(MS);
  }
  assert_int_equal(w->resp_type, SHMIPC_MSG_SYSTEM_ERROR);
  assert_int_equal(w->resp_seq, 99);
  assert_true(w->resp_size <= 64);
  /* an illegal control word ends the guest's workers with CORRUPT */
  w->ctrl = 0x5;
  raw_wake(&r, &w->ctrl, SHMIPC_CTRL_RESPONDER_WAITING);
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_E_CORRUPT);
  raw_close(&r);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

static void detached_guest_is_gone(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 0, 64);
  shmipc_guest *g = guest_new(name);
  int64_t t0, dt;

  (void)state;
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(
      shmipc_host_call(h, 0, "x", 1, NULL, 0, NULL, NULL, 1000 * MS),
      SHMIPC_E_TRUNCATED);
  shmipc_guest_detach(g);
  t0 = t_now_ns();
  assert_int_equal(
      shmipc_host_call(h, 0, "x", 1, NULL, 0, NULL, NULL, 5000 * MS),
      SHMIPC_E_PEER_GONE);
  dt = t_now_ns() - t0;
  assert_true(dt < 1000 * MS);
  shmipc_host_destroy(h);
}

static void destroyed_host_is_gone(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 2, 0, 64);
  shmipc_guest *g = guest_new(name);
  int64_t t0, dt;

  (void)state;
  assert_int_equal(shmipc_guest_wait(g, 0), SHMIPC_E_STATE);
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_guest_wait(g, 10 * MS), SHMIPC_E_TIMEOUT);
  t_sleep_ns(20 * MS); /* let the workers fall asleep */
  t0 = t_now_ns();
  shmipc_host_destroy(h);
  /* an orderly close ends the session without an error */
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_OK);
  dt = t_now_ns() - t0;
  assert_true(dt < 1000 * MS);
  shmipc_guest_detach(g);
}

struct gc_thread {
  shmipc_guest *g;
  int rc;
  char resp[64];
  size_t n;
  uint32_t t;
};

static void *guest_call_thread(void *arg)
{
  struct gc_thread *c = arg;

  c->rc = shmipc_guest_call(c->g, SHMIPC_MSG_GUEST_CALL, "ping", 4, c->resp,
                            sizeof c->resp, &c->n, &c->t, 2000 * MS);
  return NULL;
}

static void guest_calls(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 2, 64);
  shmipc_guest *g = guest_new(name);
  struct gc_thread c = {g, 0, {0}, 0, 0};
  char resp[64];
  size_t n;
  uint32_t t;
  int64_t t0, dt;
  pthread_t th;

  (void)state;
  /* no listener: bounded timeout */
  t0 = t_now_ns();
  assert_int_equal(
      shmipc_guest_call(g, 3, "a", 1, resp, sizeof resp, &n, &t, 30 * MS),
      SHMIPC_E_TIMEOUT);
  dt = t_now_ns() - t0;
  assert_true(dt >= 30 * MS && dt < 1000 * MS);
  assert_int_equal(
      shmipc_guest_call(g, 3, resp, 65, NULL, 0, NULL, NULL, 30 * MS),
      SHMIPC_E_TOO_BIG);
  assert_int_equal(shmipc_host_serve(h, t_upper, NULL, 10 * MS),
                   SHMIPC_E_TIMEOUT);

  /* listener thread */
  assert_int_equal(shmipc_host_listen_start(h, t_upper, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_start(h, t_upper, NULL), SHMIPC_E_BUSY);
  assert_int_equal(shmipc_host_serve(h, t_upper, NULL, 0), SHMIPC_E_BUSY);
  assert_int_equal(
      shmipc_guest_call(g, 3, "hello", 5, resp, sizeof resp, &n, &t, 1000 * MS),
      SHMIPC_OK);
  assert_int_equal(n, 5);
  assert_memory_equal(resp, "HELLO", 5);
  assert_int_equal(t, T_UPPER_TYPE);
  assert_int_equal(shmipc_host_listen_stop(h), SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_stop(h), SHMIPC_E_STATE);

  /* the application's own loop */
  assert_int_equal(pthread_create(&th, NULL, guest_call_thread, &c), 0);
  assert_int_equal(shmipc_host_serve(h, t_upper, NULL, 2000 * MS), 1);
  pthread_join(th, NULL);
  assert_int_equal(c.rc, SHMIPC_OK);
  assert_memory_equal(c.resp, "PING", 4);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);

  /* a segment without guest slots */
  name = tname();
  h = host_new(name, 1, 0, 64);
  g = guest_new(name);
  assert_int_equal(shmipc_guest_call(g, 3, "a", 1, NULL, 0, NULL, NULL, 0),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_listen_start(h, t_upper, NULL),
                   SHMIPC_E_INVALID);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(strerror_and_version),
      cmocka_unit_test(name_rules),
      cmocka_unit_test(config_errors),
#ifndef _WIN32
      cmocka_unit_test(global_is_windows_only),
#endif
      cmocka_unit_test(segment_mode_and_exists),
      cmocka_unit_test(stale_segment_replaced),
      cmocka_unit_test(attach_forbidden_is_access),
      cmocka_unit_test(attach_missing_times_out),
      cmocka_unit_test(attach_bad_header),
      cmocka_unit_test(second_guest_refused),
      cmocka_unit_test(wait_guest_bounded),
      cmocka_unit_test(echo_calls),
      cmocka_unit_test(sleep_path_no_lost_wakeup),
      cmocka_unit_test(zero_copy_end_aligned),
      cmocka_unit_test(nested_acquire),
      cmocka_unit_test(acquire_wakes_on_release),
      cmocka_unit_test(call_without_guest_cancels),
      cmocka_unit_test(late_response_quarantined),
      cmocka_unit_test(corrupt_responses),
      cmocka_unit_test(corrupt_request_answered_with_error),
      cmocka_unit_test(detached_guest_is_gone),
      cmocka_unit_test(destroyed_host_is_gone),
      cmocka_unit_test(guest_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
