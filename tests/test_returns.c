/* SPDX-License-Identifier: MIT */
/*
 * The return lists of include/shmipc/shmipc.h, driven: each code a
 * function's documentation lists is produced here by the path the
 * documentation names, where one process can reach it. Not driven here:
 * the operating system's failures (SHMIPC_E_SYSTEM, SHMIPC_E_NOMEM,
 * SHMIPC_E_NOT_FOUND at create), which need fault injection, and the
 * peer's answers and deaths, which test_unit.c and test_liveness.c drive.
 * SHMIPC_E_CLOSED on a host is reachable only while the host is being
 * destroyed; the test raises the handle's closing flag the way
 * shmipc_host_destroy() does, to reach those paths without the race.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

#define MS INT64_C(1000000)

/* Fails with the call's text when @expr does not give @want. */
#define RC(expr, want)                                                         \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != (want))                                                         \
      fail_msg("%s: %s, want %s", #expr, shmipc_strerror(rc_),                 \
               shmipc_strerror(want));                                         \
  } while (0)

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "returns-%u-%d", (unsigned)shmipc__getpid(), n++);
  return buf;
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
  c.req_capacity = 64;
  c.resp_capacity = 64;
  c.liveness_interval_ns = 10 * MS;
  RC(shmipc_host_create(&c, &h), SHMIPC_OK);
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
  RC(shmipc_guest_attach(&c, &g), SHMIPC_OK);
  return g;
}

static int echo(void *user, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type)
{
  (void)user;
  (void)type;
  (void)resp_type;
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  return 0;
}

static int keep_none(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  (void)user;
  (void)id;
  (void)app_type;
  (void)data;
  (void)len;
  return 0;
}

/* Raise or lower the closing flag, as shmipc_host_destroy() raises it
 * (no other thread runs on @h here: a plain store will do). */
static void set_closing(shmipc_host *h, uint32_t v)
{
  shmipc__host_ep(h)->closing = v;
}

/* A NULL handle or required pointer is SHMIPC_E_INVALID everywhere. */
static void null_arguments(void **state)
{
  shmipc_host_config hc;
  shmipc_guest_config gc;
  shmipc_host *h = (shmipc_host *)&hc; /* must be reset to NULL */
  shmipc_guest *g = (shmipc_guest *)&gc;
  shmipc_slot *s = (shmipc_slot *)&hc;
  shmipc_stream_sender *snd = NULL;
  shmipc_reassembler *r = NULL;

  (void)state;
  RC(shmipc_host_create(NULL, &h), SHMIPC_E_INVALID);
  assert_null(h);
  shmipc_host_config_init(&hc);
  hc.name = tname();
  RC(shmipc_host_create(&hc, NULL), SHMIPC_E_INVALID);
  RC(shmipc_host_wait_guest(NULL, 0), SHMIPC_E_INVALID);
  RC(shmipc_host_call(NULL, 0, NULL, 0, NULL, 0, NULL, NULL, 0),
     SHMIPC_E_INVALID);
  RC(shmipc_slot_acquire(NULL, 0, &s), SHMIPC_E_INVALID);
  assert_null(s);
  s = (shmipc_slot *)&hc;
  RC(shmipc_slot_try_acquire(NULL, &s), SHMIPC_E_INVALID);
  assert_null(s);
  RC(shmipc_slot_publish(NULL, 0, 0, 0), SHMIPC_E_INVALID);
  RC(shmipc_slot_wait(NULL, 0), SHMIPC_E_INVALID);
  RC(shmipc_slot_send(NULL, 0, 0, 0, 0), SHMIPC_E_INVALID);
  RC(shmipc_host_listen_start(NULL, echo, NULL), SHMIPC_E_INVALID);
  RC(shmipc_host_listen_stop(NULL), SHMIPC_E_INVALID);
  RC(shmipc_host_serve(NULL, echo, NULL, 0), SHMIPC_E_INVALID);
  RC(shmipc_guest_attach(NULL, &g), SHMIPC_E_INVALID);
  assert_null(g);
  shmipc_guest_config_init(&gc);
  gc.name = hc.name;
  RC(shmipc_guest_attach(&gc, NULL), SHMIPC_E_INVALID);
  gc.flags = 2; /* not a SHMIPC_GUEST_F_* */
  RC(shmipc_guest_attach(&gc, &g), SHMIPC_E_INVALID);
  RC(shmipc_guest_start(NULL, echo, NULL), SHMIPC_E_INVALID);
  RC(shmipc_guest_wait(NULL, 0), SHMIPC_E_INVALID);
  RC(shmipc_guest_call(NULL, 0, NULL, 0, NULL, 0, NULL, NULL, 0),
     SHMIPC_E_INVALID);
  RC(shmipc_stream_sender_create(NULL, NULL, &snd), SHMIPC_E_INVALID);
  assert_null(snd);
  RC(shmipc_stream_send(NULL, 0, NULL, 0, 0, NULL), SHMIPC_E_INVALID);
  RC(shmipc_reassembler_create(NULL, keep_none, NULL, echo, NULL, &r),
     SHMIPC_E_INVALID);
  assert_null(r);
  /* The getters and destroyers that accept NULL. */
  assert_int_equal(shmipc_host_req_capacity(NULL), 0);
  assert_int_equal(shmipc_guest_resp_capacity(NULL), 0);
  assert_null(shmipc_slot_req_buf(NULL));
  assert_null(shmipc_slot_resp_data(NULL));
  shmipc_host_destroy(NULL);
  shmipc_guest_detach(NULL);
  shmipc_guest_stop(NULL);
  shmipc_slot_release(NULL);
  shmipc_stream_sender_destroy(NULL);
  shmipc_reassembler_destroy(NULL);
  shmipc_reassembler_stats(NULL, NULL);
  shmipc_stream_buffer_free(NULL);
}

/* The host's zero-copy and listener functions. */
static void host_codes(void **state)
{
  shmipc_host *h = host_new(tname(), 1, 1);
  shmipc_slot *s, *t;
  uint32_t *ctrl;

  (void)state;
  RC(shmipc_host_wait_guest(h, -5), SHMIPC_E_INVALID);
  RC(shmipc_slot_acquire(h, -5, &s), SHMIPC_E_INVALID);
  RC(shmipc_slot_try_acquire(h, NULL), SHMIPC_E_INVALID);
  RC(shmipc_host_listen_stop(h), SHMIPC_E_STATE);
  RC(shmipc_host_listen_start(h, NULL, NULL), SHMIPC_E_INVALID);
  RC(shmipc_host_serve(h, NULL, NULL, 0), SHMIPC_E_INVALID);
  RC(shmipc_host_serve(h, echo, NULL, 0), SHMIPC_E_TIMEOUT);

  /* One slot: held, the next try finds none. */
  RC(shmipc_slot_try_acquire(h, &s), SHMIPC_OK);
  RC(shmipc_slot_try_acquire(h, &t), SHMIPC_E_BUSY);
  assert_null(t);
  RC(shmipc_slot_acquire(h, 0, &t), SHMIPC_E_TIMEOUT);
  RC(shmipc_slot_wait(s, 0), SHMIPC_E_STATE); /* nothing published */
  RC(shmipc_slot_publish(s, 0, 65, 0), SHMIPC_E_TOO_BIG);
  RC(shmipc_slot_publish(s, 0, 1, 2), SHMIPC_E_INVALID);
  RC(shmipc_slot_publish(s, 0, 1, SHMIPC_F_END_ALIGNED), SHMIPC_OK);
  RC(shmipc_slot_publish(s, 0, 1, 0), SHMIPC_E_STATE); /* already sent */
  RC(shmipc_slot_send(s, 0, 1, 0, 0), SHMIPC_E_STATE);
  RC(shmipc_slot_wait(s, -5), SHMIPC_E_INVALID);
  RC(shmipc_slot_wait(s, 0), SHMIPC_E_TIMEOUT); /* no guest answers */
  shmipc_slot_release(s);

  /* The peer writes a slot we hold: the publish refuses it. */
  RC(shmipc_slot_acquire(h, 100 * MS, &s), SHMIPC_OK);
  ctrl = &shmipc__wslot(&shmipc__host_ep(h)->seg, 0)->ctrl; /* the one slot */
  *ctrl ^= SHMIPC_CTRL_GEN_ONE; /* no guest: nobody else touches it */
  RC(shmipc_slot_publish(s, 0, 1, 0), SHMIPC_E_CORRUPT);
  shmipc_slot_release(s); /* quarantined from now on */

  /* A closing host (shmipc_host_destroy() under way). */
  set_closing(h, 1);
  RC(shmipc_slot_try_acquire(h, &s), SHMIPC_E_CLOSED);
  RC(shmipc_slot_acquire(h, 100 * MS, &s), SHMIPC_E_CLOSED);
  RC(shmipc_host_call(h, 0, "a", 1, NULL, 0, NULL, NULL, 100 * MS),
     SHMIPC_E_CLOSED);
  RC(shmipc_host_wait_guest(h, 100 * MS), SHMIPC_E_CLOSED);
  RC(shmipc_host_serve(h, echo, NULL, 100 * MS), SHMIPC_E_CLOSED);
  set_closing(h, 0);

  /* A host without guest slots has nothing to listen to or serve. */
  shmipc_host_destroy(h);
  h = host_new(tname(), 1, 0);
  RC(shmipc_host_listen_start(h, echo, NULL), SHMIPC_E_INVALID);
  RC(shmipc_host_serve(h, echo, NULL, 0), SHMIPC_E_INVALID);
  shmipc_host_destroy(h);
}

/* The guest's lifecycle: start once, wait, stop, and calls after a stop. */
static void guest_codes(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name, 1, 1);
  shmipc_guest *g = guest_new(name);
  char resp[8];

  (void)state;
  RC(shmipc_guest_wait(g, 0), SHMIPC_E_STATE); /* never started */
  RC(shmipc_guest_start(g, NULL, NULL), SHMIPC_E_INVALID);
  RC(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  RC(shmipc_guest_start(g, echo, NULL), SHMIPC_E_STATE); /* started */
  RC(shmipc_guest_wait(g, -5), SHMIPC_E_INVALID);
  RC(shmipc_guest_wait(g, 0), SHMIPC_E_TIMEOUT); /* workers still run */
  RC(shmipc_guest_call(g, 0, resp, 65, NULL, 0, NULL, NULL, 0),
     SHMIPC_E_TOO_BIG);
  RC(shmipc_guest_call(g, 0, NULL, 1, NULL, 0, NULL, NULL, 0),
     SHMIPC_E_INVALID);
  RC(shmipc_guest_call(g, 0, "a", 1, NULL, 8, NULL, NULL, 0), SHMIPC_E_INVALID);
  RC(shmipc_guest_call(g, 0, "a", 1, resp, sizeof resp, NULL, NULL, -5),
     SHMIPC_E_INVALID);
  shmipc_guest_stop(g);
  RC(shmipc_guest_call(g, 0, "a", 1, resp, sizeof resp, NULL, NULL, 100 * MS),
     SHMIPC_E_CLOSED);
  RC(shmipc_guest_wait(g, 2000 * MS), SHMIPC_OK); /* stopped */
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);

  /* No guest slots: a guest call has nowhere to go. */
  name = tname();
  h = host_new(name, 1, 0);
  g = guest_new(name);
  RC(shmipc_guest_call(g, 0, "a", 1, resp, sizeof resp, NULL, NULL, 0),
     SHMIPC_E_INVALID);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

/* The stream sender's and receiver's argument ranges. */
static void stream_codes(void **state)
{
  shmipc_host *h = host_new(tname(), 1, 0);
  shmipc_stream_config sc;
  shmipc_stream_sender *snd = NULL;
  shmipc_stream_limits lim;
  shmipc_stream_result res;
  shmipc_reassembler *r = NULL;
  char resp[16];
  size_t n = 0;
  uint32_t t = 0;

  (void)state;
  shmipc_stream_config_init(&sc);
  sc.depth = 0;
  RC(shmipc_stream_sender_create(h, &sc, &snd), SHMIPC_E_INVALID);
  sc.depth = 65;
  RC(shmipc_stream_sender_create(h, &sc, &snd), SHMIPC_E_INVALID);
  sc.depth = 64; /* more than the one slot: counts as one */
  sc.chunk_size = 64 - 32 + 1;
  RC(shmipc_stream_sender_create(h, &sc, &snd), SHMIPC_E_INVALID);
  sc.chunk_size = 0;
  RC(shmipc_stream_sender_create(h, &sc, &snd), SHMIPC_OK);
  memset(&res, 0, sizeof res);
  res.struct_size = sizeof res - 1;
  RC(shmipc_stream_send(snd, 0, "a", 1, 0, &res), SHMIPC_E_INVALID);
  RC(shmipc_stream_send(snd, 0, NULL, 1, 0, NULL), SHMIPC_E_INVALID);
  RC(shmipc_stream_send(snd, 0, "a", 1, -5, NULL), SHMIPC_E_INVALID);
  shmipc_stream_sender_destroy(snd);
  snd = NULL;
  RC(shmipc_stream_sender_create(h, NULL, &snd), SHMIPC_OK); /* defaults */
  shmipc_stream_sender_destroy(snd);
  shmipc_host_destroy(h);

  shmipc_stream_limits_init(&lim);
  lim.max_streams = 0;
  RC(shmipc_reassembler_create(&lim, keep_none, NULL, echo, NULL, &r),
     SHMIPC_E_INVALID);
  lim.max_streams = 65537;
  RC(shmipc_reassembler_create(&lim, keep_none, NULL, echo, NULL, &r),
     SHMIPC_E_INVALID);
  shmipc_stream_limits_init(&lim);
  lim.max_parked = 65537;
  RC(shmipc_reassembler_create(&lim, keep_none, NULL, echo, NULL, &r),
     SHMIPC_E_INVALID);
  shmipc_stream_limits_init(&lim);
  lim.reserved0 = 1;
  RC(shmipc_reassembler_create(&lim, keep_none, NULL, echo, NULL, &r),
     SHMIPC_E_INVALID);
  shmipc_stream_limits_init(&lim);
  lim.idle_timeout_ns = 0;
  RC(shmipc_reassembler_create(&lim, keep_none, NULL, echo, NULL, &r),
     SHMIPC_E_INVALID);
  shmipc_stream_limits_init(&lim);
  RC(shmipc_reassembler_create(&lim, NULL, NULL, echo, NULL, &r),
     SHMIPC_E_INVALID);
  RC(shmipc_reassembler_create(&lim, keep_none, NULL, NULL, NULL, &r),
     SHMIPC_E_INVALID);
  RC(shmipc_reassembler_create(&lim, keep_none, NULL, echo, NULL, &r),
     SHMIPC_OK);
  /* No room for a stream answer: non-zero, so the guest answers
   * SYSTEM_ERROR; another type goes to the next handler. */
  assert_int_not_equal(shmipc_reassembler_handle(r, SHMIPC_MSG_STREAM_START, "",
                                                 0, resp, 15, &n, &t),
                       0);
  assert_int_equal(shmipc_reassembler_handle(r, SHMIPC_MSG_APP_START, "ab", 2,
                                             resp, sizeof resp, &n, &t),
                   0);
  assert_int_equal(n, 2);
  shmipc_reassembler_destroy(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(null_arguments),
      cmocka_unit_test(host_codes),
      cmocka_unit_test(guest_codes),
      cmocka_unit_test(stream_codes),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
