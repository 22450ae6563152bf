/* SPDX-License-Identifier: MIT */
/*
 * The stats API (include/shmipc/shmipc.h, "Statistics") and the counters
 * behind it (docs/PROTOCOL.md, "Counters"): exact counts of a host and a
 * guest in this process, the struct_size contract, the counters at the
 * offsets the protocol gives, and hostile values, which give wrong
 * figures and nothing else. shmipc-stat's own tests are tests/stat/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "internal.h"
#include "raw.h"

#define MS INT64_C(1000000)
#define CAP 256u

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "stats-%u-%d", (unsigned)shmipc__getpid(), n++);
  return buf;
}

static int echo(void *user, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type)
{
  (void)user;
  if (type == 200 || req_len > resp_cap)
    return -1; /* answered SYSTEM_ERROR */
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

struct pair {
  const char *name;
  shmipc_host *h;
  shmipc_guest *g;
};

static void pair_new(struct pair *p)
{
  shmipc_host_config hc;
  shmipc_guest_config gc;

  p->name = tname();
  shmipc_host_config_init(&hc);
  hc.name = p->name;
  hc.host_slots = 2;
  hc.guest_slots = 1;
  hc.req_capacity = CAP;
  hc.resp_capacity = CAP;
  hc.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_host_create(&hc, &p->h), SHMIPC_OK);
  shmipc_guest_config_init(&gc);
  gc.name = p->name;
  gc.connect_timeout_ns = 1000 * MS;
  gc.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &p->g), SHMIPC_OK);
}

static void pair_free(struct pair *p)
{
  shmipc_guest_detach(p->g);
  shmipc_host_destroy(p->h);
}

static int call(shmipc_host *h, uint32_t type, int64_t timeout)
{
  char req[16] = "0123456789abcde", resp[CAP];
  size_t n;
  uint32_t t;

  return shmipc_host_call(h, type, req, sizeof req, resp, sizeof resp, &n, &t,
                          timeout);
}

/* A cancelled call, ten answered ones and a SYSTEM_ERROR answer, counted
 * exactly on both sides. */
static void exact_counts(void **state)
{
  struct pair p;
  shmipc_stats hs = SHMIPC_STATS_INIT, gs = SHMIPC_STATS_INIT;
  char resp[CAP];
  size_t n;
  uint32_t t;
  int i;

  (void)state;
  pair_new(&p);
  /* No worker serves yet: the call times out in REQ_READY and is taken
   * back (a cancel, not a quarantine). */
  assert_int_equal(call(p.h, 7, 20 * MS), SHMIPC_E_TIMEOUT);
  assert_int_equal(shmipc_guest_start(p.g, echo, NULL), SHMIPC_OK);
  for (i = 0; i < 10; i++)
    assert_int_equal(call(p.h, 7, 1000 * MS), SHMIPC_OK);
  assert_int_equal(call(p.h, 200, 1000 * MS), SHMIPC_E_REMOTE);
  /* A guest call that the host serves from its own loop. */
  assert_int_equal(
      shmipc_guest_call(p.g, 9, "x", 1, resp, sizeof resp, &n, &t, 0),
      SHMIPC_E_TIMEOUT);

  assert_int_equal(shmipc_host_stats(p.h, &hs), SHMIPC_OK);
  assert_int_equal(hs.struct_size, sizeof hs);
  assert_int_equal(hs.calls, 12);
  assert_int_equal(hs.answered, 11);
  assert_int_equal(hs.timeouts, 1);
  assert_int_equal(hs.cancels, 1);
  assert_int_equal(hs.quarantined, 0);
  assert_int_equal(hs.remote, 1);
  assert_int_equal(hs.peer_gone, 0);
  assert_int_equal(hs.corrupt, 0);
  assert_int_equal(hs.served, 0);
  assert_int_equal(hs.attaches, 1);
  assert_int_equal(hs.epoch, 1);
  assert_true(hs.uptime_ns > 0);

  assert_int_equal(shmipc_guest_stats(p.g, &gs), SHMIPC_OK);
  assert_int_equal(gs.served, 11);
  assert_int_equal(gs.served_errors, 1);
  /* The guest call, timed out with nobody serving guest slots. */
  assert_int_equal(gs.calls, 1);
  assert_int_equal(gs.answered, 0);
  assert_int_equal(gs.timeouts, 1);
  assert_int_equal(gs.cancels, 1);
  assert_int_equal(gs.attaches, 1);
  assert_int_equal(gs.epoch, 1);
  assert_true(gs.uptime_ns > 0 && gs.uptime_ns <= hs.uptime_ns + 1000 * MS);
  pair_free(&p);
}

/* struct_size: an older, smaller struct gets the fields it has and
 * nothing beyond; a larger one is filled up to this release's size; one
 * too small for the first two fields, or NULL arguments, are INVALID. */
static void struct_size(void **state)
{
  struct pair p;
  struct {
    shmipc_stats st;
    uint64_t beyond;
  } big;
  shmipc_stats st;

  (void)state;
  pair_new(&p);
  assert_int_equal(shmipc_guest_start(p.g, echo, NULL), SHMIPC_OK);
  assert_int_equal(call(p.h, 7, 1000 * MS), SHMIPC_OK);

  memset(&st, 0xAB, sizeof st);
  st.struct_size = (uint32_t)offsetof(shmipc_stats, answered);
  assert_int_equal(shmipc_host_stats(p.h, &st), SHMIPC_OK);
  assert_int_equal(st.struct_size, offsetof(shmipc_stats, answered));
  assert_int_equal(st.calls, 1);
  assert_int_equal(st.answered, UINT64_C(0xABABABABABABABAB));

  memset(&big, 0xCD, sizeof big);
  big.st.struct_size = (uint32_t)sizeof big;
  assert_int_equal(shmipc_host_stats(p.h, &big.st), SHMIPC_OK);
  assert_int_equal(big.st.struct_size, sizeof(shmipc_stats));
  assert_int_equal(big.st.answered, 1);
  assert_int_equal(big.beyond, UINT64_C(0xCDCDCDCDCDCDCDCD));

  st.struct_size = 4;
  assert_int_equal(shmipc_host_stats(p.h, &st), SHMIPC_E_INVALID);
  assert_non_null(strstr(shmipc_last_error(), "struct_size"));
  assert_int_equal(shmipc_guest_stats(p.g, &st), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_stats(NULL, &st), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_guest_stats(NULL, &st), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_stats(p.h, NULL), SHMIPC_E_INVALID);
  pair_free(&p);
}

/* The counters sit where docs/PROTOCOL.md says: a reader that computes
 * the offsets from the header alone finds the host's calls in the host
 * slots' lines and the guest's answers in their second lines, and the
 * sides' blocks after the slots. */
static void counters_where_the_protocol_says(void **state)
{
  struct pair p;
  struct raw r;
  const struct shmipc_wire_header *h;
  uint64_t off, calls = 0, served = 0;
  uint32_t i;
  int k;

  (void)state;
  pair_new(&p);
  assert_int_equal(shmipc_guest_start(p.g, echo, NULL), SHMIPC_OK);
  for (k = 0; k < 5; k++)
    assert_int_equal(call(p.h, 7, 1000 * MS), SHMIPC_OK);
  assert_int_equal(raw_open(p.name, &r), 0);
  h = (const void *)r.base;
  off = h->slots_offset +
        (uint64_t)(h->host_slots + h->guest_slots) * h->slot_stride;
  off = (off + 127) & ~(uint64_t)127; /* counters_offset: round128 */
  assert_int_equal(h->segment_size,
                   off + 256 +
                       (uint64_t)(h->host_slots + h->guest_slots) * 256);
  for (i = 0; i < h->host_slots; i++) {
    const uint8_t *line = r.base + off + 256 + (uint64_t)i * 256;
    uint64_t v;

    memcpy(&v, line + 0, 8); /* req_calls */
    calls += v;
    memcpy(&v, line + 128, 8); /* resp_served */
    served += v;
  }
  assert_int_equal(calls, 5);
  assert_int_equal(served, 5);
  {
    uint64_t epoch, attaches;

    memcpy(&attaches, r.base + off + 128 + 104, 8); /* guest block */
    memcpy(&epoch, r.base + off + 128 + 112, 8);
    assert_int_equal(attaches, 1);
    assert_int_equal(epoch, 1);
  }
  raw_close(&r);
  pair_free(&p);
}

/* A peer that writes over the host's counters makes its figures wrong and
 * nothing else: no crash, a start time in the future is no uptime, and
 * calls go on. */
static void hostile_counters(void **state)
{
  struct pair p;
  struct raw r;
  const struct shmipc_wire_header *h;
  shmipc_stats st = SHMIPC_STATS_INIT;
  uint64_t off;

  (void)state;
  pair_new(&p);
  assert_int_equal(shmipc_guest_start(p.g, echo, NULL), SHMIPC_OK);
  assert_int_equal(raw_open(p.name, &r), 0);
  h = (const void *)r.base;
  off = h->slots_offset +
        (uint64_t)(h->host_slots + h->guest_slots) * h->slot_stride;
  off = (off + 127) & ~(uint64_t)127; /* counters_offset: round128 */
  memset(r.base + off, 0xFF, (size_t)(h->segment_size - off));
  assert_int_equal(shmipc_host_stats(p.h, &st), SHMIPC_OK);
  assert_int_equal(st.uptime_ns, 0);
  assert_int_equal(st.timeouts, UINT64_MAX);
  assert_int_equal(call(p.h, 7, 1000 * MS), SHMIPC_OK);
  assert_int_equal(shmipc_host_stats(p.h, &st), SHMIPC_OK);
  raw_close(&r);
  pair_free(&p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exact_counts),
      cmocka_unit_test(struct_size),
      cmocka_unit_test(counters_where_the_protocol_says),
      cmocka_unit_test(hostile_counters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
