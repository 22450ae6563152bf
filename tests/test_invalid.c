/* SPDX-License-Identifier: MIT */
/*
 * Invalid calls leave no trace. Every public function checks all its
 * arguments before it changes any state, shared or private: a call that
 * returns SHMIPC_E_INVALID (or SHMIPC_E_TOO_BIG, SHMIPC_E_STATE) has
 * published nothing (the control words and request headers of every slot
 * read as before, no handler ran), holds no slot (all are acquirable
 * afterwards) and moved no counter (doorbell, attach word, stream
 * identifiers, receiver counters). Host and guest run in this one
 * process, as in test_unit.c.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "internal.h"

#define MS INT64_C(1000000)
#define HOST_SLOTS 2u
#define GUEST_SLOTS 2u
#define CAP 64u
#define WAIT_BITS                                                              \
  (SHMIPC_CTRL_REQUESTER_WAITING | SHMIPC_CTRL_RESPONDER_WAITING)
/* A shared word as the peer published it. */
#define ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "invalid-%u-%d", (unsigned)shmipc__getpid(), n++);
  return buf;
}

/* Handler calls, per side. */
static uint32_t guest_served, host_served;

static int echo(void *user, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type)
{
  uint32_t *count = user;

  __atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

static int no_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  (void)user;
  (void)id;
  (void)app_type;
  (void)data;
  (void)len;
  return 0;
}

struct world {
  const char *name;
  shmipc_host *h;
  shmipc_guest *g;
  shmipc_reassembler *r;
  struct shmipc__seg *seg;
};

/* A host, and with @guest a guest whose workers answer through a stream
 * receiver (other messages: echo). */
static struct world world_new(bool guest)
{
  shmipc_host_config hc;
  shmipc_guest_config gc;
  shmipc_stream_limits lim;
  struct world w;

  memset(&w, 0, sizeof w);
  w.name = tname();
  shmipc_host_config_init(&hc);
  hc.name = w.name;
  hc.host_slots = HOST_SLOTS;
  hc.guest_slots = GUEST_SLOTS;
  hc.req_capacity = CAP;
  hc.resp_capacity = CAP;
  hc.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_host_create(&hc, &w.h), SHMIPC_OK);
  w.seg = &shmipc__host_ep(w.h)->seg;
  if (!guest)
    return w;
  shmipc_guest_config_init(&gc);
  gc.name = w.name;
  gc.connect_timeout_ns = 1000 * MS;
  gc.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &w.g), SHMIPC_OK);
  shmipc_stream_limits_init(&lim);
  assert_int_equal(shmipc_reassembler_create(&lim, no_stream, NULL, echo,
                                             &guest_served, &w.r),
                   SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(w.g, shmipc_reassembler_handle, w.r),
                   SHMIPC_OK);
  return w;
}

static void world_end(struct world *w)
{
  shmipc_guest_detach(w->g);
  shmipc_reassembler_destroy(w->r);
  shmipc_host_destroy(w->h);
}

/* What an invalid call must not change. Waiter bits are left out: idle
 * workers set and clear them on their own. */
struct trace {
  uint32_t ctrl[HOST_SLOTS + GUEST_SLOTS];
  uint64_t req_seq[HOST_SLOTS + GUEST_SLOTS];
  uint32_t req_size[HOST_SLOTS + GUEST_SLOTS];
  uint32_t attach, guest_pid, doorbell;
  uint32_t guest_served, host_served;
  uint64_t delivered, dropped, open;
};

static void snap(const struct world *w, struct trace *t)
{
  struct shmipc_wire_header *hd = shmipc__hdr(w->seg);
  uint32_t i;

  memset(t, 0, sizeof *t);
  for (i = 0; i < HOST_SLOTS + GUEST_SLOTS; i++) {
    struct shmipc_wire_slot *s = shmipc__wslot(w->seg, i);
    t->ctrl[i] = ACQ(&s->ctrl) & ~WAIT_BITS;
    t->req_seq[i] = s->req_seq;
    t->req_size[i] = s->req_size;
  }
  t->attach = ACQ(&hd->attach) & ~SHMIPC_ATTACH_HOST_WAITING;
  t->guest_pid = hd->guest_pid;
  t->doorbell = ACQ(&hd->doorbell) & SHMIPC_DOORBELL_COUNTER_MASK;
  t->guest_served = ACQ(&guest_served);
  t->host_served = ACQ(&host_served);
  if (w->r != NULL) {
    shmipc_stream_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    shmipc_reassembler_stats(w->r, &st);
    t->delivered = st.delivered;
    t->dropped = st.dropped;
    t->open = st.open;
  }
}

/* Nothing moved since @before (after a pause in which a request that was
 * published by mistake would have been answered). */
static void no_trace(const struct world *w, const struct trace *before,
                     const char *what)
{
  struct trace now;
  uint32_t i;

  t_sleep_ns(20 * MS);
  snap(w, &now);
  for (i = 0; i < HOST_SLOTS + GUEST_SLOTS; i++)
    if (now.ctrl[i] != before->ctrl[i] ||
        now.req_seq[i] != before->req_seq[i] ||
        now.req_size[i] != before->req_size[i])
      fail_msg("%s: slot %u moved: ctrl %#x -> %#x, req_seq %llu -> %llu", what,
               i, before->ctrl[i], now.ctrl[i],
               (unsigned long long)before->req_seq[i],
               (unsigned long long)now.req_seq[i]);
  if (memcmp(&now, before, sizeof now) != 0)
    fail_msg("%s: a counter moved (attach %#x -> %#x, doorbell %u -> %u, "
             "guest handler %u -> %u, host handler %u -> %u, delivered "
             "%llu -> %llu)",
             what, before->attach, now.attach, before->doorbell, now.doorbell,
             before->guest_served, now.guest_served, before->host_served,
             now.host_served, (unsigned long long)before->delivered,
             (unsigned long long)now.delivered);
}

/* Every host slot can be acquired, and answers. */
static void all_acquirable(struct world *w)
{
  shmipc_slot *s[HOST_SLOTS], *more;
  uint32_t i;

  for (i = 0; i < HOST_SLOTS; i++)
    assert_int_equal(shmipc_slot_try_acquire(w->h, &s[i]), SHMIPC_OK);
  assert_int_equal(shmipc_slot_try_acquire(w->h, &more), SHMIPC_E_BUSY);
  for (i = 0; i < HOST_SLOTS; i++)
    shmipc_slot_release(s[i]);
}

static const int64_t bad_timeouts[] = {-3, -100, INT64_MIN};

static void slot_send_publishes_nothing(void **state)
{
  struct world w = world_new(true);
  struct trace t;
  shmipc_slot *s;
  size_t i;

  (void)state;
  assert_int_equal(shmipc_slot_acquire(w.h, 1000 * MS, &s), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(s), "abc", 3);
  snap(&w, &t);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++) {
    assert_int_equal(shmipc_slot_send(s, 0, 3, 0, bad_timeouts[i]),
                     SHMIPC_E_INVALID);
    no_trace(&w, &t, "shmipc_slot_send, bad timeout");
  }
  assert_int_equal(shmipc_slot_send(s, 0, 3, 0x80, 1000 * MS),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_send(s, 0, CAP + 1, 0, 1000 * MS),
                   SHMIPC_E_TOO_BIG);
  assert_int_equal(shmipc_slot_send(NULL, 0, 3, 0, 1000 * MS),
                   SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_slot_send, bad flags or size");
  /* the slot is still ours, as it was: a valid send works */
  assert_int_equal(shmipc_slot_send(s, 0, 3, 0, 1000 * MS), SHMIPC_OK);
  assert_int_equal(shmipc_slot_resp_size(s), 3);
  assert_memory_equal(shmipc_slot_resp_data(s), "abc", 3);
  shmipc_slot_release(s);
  all_acquirable(&w);
  world_end(&w);
}

static void slot_publish_publishes_nothing(void **state)
{
  struct world w = world_new(true);
  struct trace t;
  shmipc_slot *s;

  (void)state;
  assert_int_equal(shmipc_slot_acquire(w.h, 1000 * MS, &s), SHMIPC_OK);
  snap(&w, &t);
  assert_int_equal(shmipc_slot_publish(s, 0, 1, 0x2), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_publish(s, 0, CAP + 1, 0), SHMIPC_E_TOO_BIG);
  assert_int_equal(shmipc_slot_publish(NULL, 0, 1, 0), SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_slot_publish");
  shmipc_slot_release(s);
  all_acquirable(&w);
  world_end(&w);
}

/* A wait given a bad timeout neither cancels nor abandons the call: the
 * next wait gets the answer. A wait on a slot with nothing published is
 * STATE and publishes nothing. */
static void slot_wait_changes_nothing(void **state)
{
  struct world w = world_new(true);
  struct trace t;
  shmipc_slot *s;
  size_t i;

  (void)state;
  assert_int_equal(shmipc_slot_acquire(w.h, 1000 * MS, &s), SHMIPC_OK);
  snap(&w, &t);
  assert_int_equal(shmipc_slot_wait(s, 1000 * MS), SHMIPC_E_STATE);
  assert_int_equal(shmipc_slot_wait(s, -3), SHMIPC_E_STATE);
  assert_int_equal(shmipc_slot_wait(NULL, 1000 * MS), SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_slot_wait before a publish");
  memcpy(shmipc_slot_req_buf(s), "xy", 2);
  assert_int_equal(shmipc_slot_publish(s, 0, 2, 0), SHMIPC_OK);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++)
    assert_int_equal(shmipc_slot_wait(s, bad_timeouts[i]), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_wait(s, 1000 * MS), SHMIPC_OK);
  assert_memory_equal(shmipc_slot_resp_data(s), "xy", 2);
  shmipc_slot_release(s);
  all_acquirable(&w);
  world_end(&w);
}

static void acquire_holds_nothing(void **state)
{
  struct world w = world_new(true);
  struct trace t;
  shmipc_slot *s = (shmipc_slot *)&w;
  size_t i;

  (void)state;
  snap(&w, &t);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++) {
    assert_int_equal(shmipc_slot_acquire(w.h, bad_timeouts[i], &s),
                     SHMIPC_E_INVALID);
    assert_null(s);
  }
  assert_int_equal(shmipc_slot_acquire(w.h, 1000 * MS, NULL), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_acquire(NULL, 1000 * MS, &s), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_try_acquire(w.h, NULL), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_slot_try_acquire(NULL, &s), SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_slot_acquire");
  all_acquirable(&w);
  world_end(&w);
}

static void host_call_sends_nothing(void **state)
{
  struct world w = world_new(true);
  char big[CAP + 1] = {0}, resp[CAP];
  struct trace t;
  size_t i;

  (void)state;
  snap(&w, &t);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++)
    assert_int_equal(shmipc_host_call(w.h, 0, "a", 1, resp, sizeof resp, NULL,
                                      NULL, bad_timeouts[i]),
                     SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_call(w.h, 0, NULL, 1, resp, sizeof resp, NULL,
                                    NULL, 1000 * MS),
                   SHMIPC_E_INVALID);
  assert_int_equal(
      shmipc_host_call(w.h, 0, "a", 1, NULL, 4, NULL, NULL, 1000 * MS),
      SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_call(w.h, 0, big, sizeof big, resp, sizeof resp,
                                    NULL, NULL, 1000 * MS),
                   SHMIPC_E_TOO_BIG);
  assert_int_equal(shmipc_host_call(NULL, 0, "a", 1, resp, sizeof resp, NULL,
                                    NULL, 1000 * MS),
                   SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_host_call");
  all_acquirable(&w);
  world_end(&w);
}

static void guest_call_sends_nothing(void **state)
{
  struct world w = world_new(true);
  char big[CAP + 1] = {0}, resp[CAP];
  struct trace t;
  size_t i;

  (void)state;
  assert_int_equal(shmipc_host_listen_start(w.h, echo, &host_served),
                   SHMIPC_OK);
  snap(&w, &t);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++)
    assert_int_equal(shmipc_guest_call(w.g, 0, "a", 1, resp, sizeof resp, NULL,
                                       NULL, bad_timeouts[i]),
                     SHMIPC_E_INVALID);
  assert_int_equal(shmipc_guest_call(w.g, 0, NULL, 1, resp, sizeof resp, NULL,
                                     NULL, 1000 * MS),
                   SHMIPC_E_INVALID);
  assert_int_equal(
      shmipc_guest_call(w.g, 0, "a", 1, NULL, 4, NULL, NULL, 1000 * MS),
      SHMIPC_E_INVALID);
  assert_int_equal(shmipc_guest_call(w.g, 0, big, sizeof big, resp, sizeof resp,
                                     NULL, NULL, 1000 * MS),
                   SHMIPC_E_TOO_BIG);
  assert_int_equal(shmipc_guest_call(NULL, 0, "a", 1, resp, sizeof resp, NULL,
                                     NULL, 1000 * MS),
                   SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_guest_call");
  /* every guest slot is still free: as many calls at once as slots work */
  for (i = 0; i < GUEST_SLOTS; i++)
    assert_int_equal(shmipc__ctrl_state(t.ctrl[HOST_SLOTS + i]),
                     SHMIPC_SLOT_FREE);
  assert_int_equal(shmipc_guest_call(w.g, 0, "a", 1, resp, sizeof resp, NULL,
                                     NULL, 1000 * MS),
                   SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_stop(w.h), SHMIPC_OK);
  world_end(&w);
}

struct pending {
  shmipc_guest *g;
  int rc;
};

static void *pending_call(void *arg)
{
  struct pending *p = arg;
  char resp[CAP];

  p->rc = shmipc_guest_call(p->g, 0, "q", 1, resp, sizeof resp, NULL, NULL,
                            5000 * MS);
  return NULL;
}

/* An invalid serve takes no pending guest call; a valid one then does. */
static void host_serve_takes_nothing(void **state)
{
  struct world w = world_new(true);
  struct pending p = {w.g, 1};
  struct trace t;
  pthread_t th;
  int64_t t0;
  size_t i;

  (void)state;
  assert_int_equal(pthread_create(&th, NULL, pending_call, &p), 0);
  t0 = t_now_ns();
  while (shmipc__ctrl_state(ACQ(&shmipc__wslot(w.seg, HOST_SLOTS)->ctrl)) !=
             SHMIPC_SLOT_REQ_READY &&
         shmipc__ctrl_state(ACQ(&shmipc__wslot(w.seg, HOST_SLOTS + 1)->ctrl)) !=
             SHMIPC_SLOT_REQ_READY) {
    if (t_now_ns() - t0 > 2000 * MS)
      fail_msg("waited 2 s for the guest call to be published");
    t_sleep_ns(MS);
  }
  snap(&w, &t);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++)
    assert_int_equal(
        shmipc_host_serve(w.h, echo, &host_served, bad_timeouts[i]),
        SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_serve(w.h, NULL, NULL, 1000 * MS),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_serve(NULL, echo, NULL, 1000 * MS),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_listen_start(w.h, NULL, NULL), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_host_listen_start(NULL, echo, NULL),
                   SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_host_serve, shmipc_host_listen_start");
  /* no listener was left running: serving in our own loop is not BUSY */
  assert_int_equal(shmipc_host_serve(w.h, echo, &host_served, 1000 * MS), 1);
  pthread_join(th, NULL);
  assert_int_equal(p.rc, SHMIPC_OK);
  world_end(&w);
}

static void stream_send_sends_nothing(void **state)
{
  struct world w = world_new(true);
  shmipc_stream_sender *snd;
  shmipc_stream_config cfg;
  shmipc_stream_result res, small;
  char data[200] = {0};
  struct trace t;
  size_t i;

  (void)state;
  assert_int_equal(shmipc_stream_sender_create(w.h, NULL, &snd), SHMIPC_OK);
  memset(&res, 0, sizeof res);
  res.struct_size = sizeof res;
  small = res;
  small.struct_size = 8;
  snap(&w, &t);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++)
    assert_int_equal(shmipc_stream_send(snd, SHMIPC_MSG_APP_START, data,
                                        sizeof data, bad_timeouts[i], &res),
                     SHMIPC_E_INVALID);
  assert_int_equal(
      shmipc_stream_send(snd, SHMIPC_MSG_APP_START, NULL, 1, 1000 * MS, &res),
      SHMIPC_E_INVALID);
  assert_int_equal(shmipc_stream_send(snd, SHMIPC_MSG_APP_START, data,
                                      sizeof data, 1000 * MS, &small),
                   SHMIPC_E_INVALID);
  assert_int_equal(shmipc_stream_send(NULL, SHMIPC_MSG_APP_START, data,
                                      sizeof data, 1000 * MS, &res),
                   SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_stream_send");
  /* no stream identifier was used up: the first stream is stream 1 */
  assert_int_equal(shmipc_stream_send(snd, SHMIPC_MSG_APP_START, data,
                                      sizeof data, 1000 * MS, &res),
                   SHMIPC_OK);
  assert_int_equal(res.stream_id, 1);
  shmipc_stream_sender_destroy(snd);
  /* a sender's bad config: no sender */
  shmipc_stream_config_init(&cfg);
  cfg.depth = 0;
  snd = (shmipc_stream_sender *)&w;
  assert_int_equal(shmipc_stream_sender_create(w.h, &cfg, &snd),
                   SHMIPC_E_INVALID);
  assert_null(snd);
  all_acquirable(&w);
  world_end(&w);
}

/* wait_guest and guest_wait with bad timeouts: nothing announced, the
 * workers still run. guest_start without a handler starts nothing. */
static void waits_change_nothing(void **state)
{
  struct world w = world_new(true);
  shmipc_guest_config gc;
  shmipc_guest *g2;
  struct trace t;
  size_t i;

  (void)state;
  snap(&w, &t);
  for (i = 0; i < sizeof bad_timeouts / sizeof bad_timeouts[0]; i++) {
    assert_int_equal(shmipc_host_wait_guest(w.h, bad_timeouts[i]),
                     SHMIPC_E_INVALID);
    assert_int_equal(shmipc_guest_wait(w.g, bad_timeouts[i]), SHMIPC_E_INVALID);
  }
  no_trace(&w, &t, "shmipc_host_wait_guest, shmipc_guest_wait");
  assert_int_equal(shmipc_guest_wait(w.g, 0), SHMIPC_E_TIMEOUT);
  assert_int_equal(shmipc_guest_start(w.g, NULL, NULL), SHMIPC_E_INVALID);
  world_end(&w);

  /* a guest that was never started stays so after an invalid start */
  w = world_new(false);
  shmipc_guest_config_init(&gc);
  gc.name = w.name;
  assert_int_equal(shmipc_guest_attach(&gc, &g2), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g2, NULL, NULL), SHMIPC_E_INVALID);
  assert_int_equal(shmipc_guest_wait(g2, 0), SHMIPC_E_STATE);
  assert_int_equal(shmipc_guest_start(g2, echo, &guest_served), SHMIPC_OK);
  shmipc_guest_detach(g2);
  world_end(&w);
}

/* An attach with a bad config touches no segment: the host sees no
 * guest, the attach word and guest_pid are as they were. A host_create
 * with a bad config leaves no segment. */
static void bad_config_touches_nothing(void **state)
{
  struct world w = world_new(false);
  shmipc_guest_config gc;
  shmipc_host_config hc;
  shmipc_guest *g = NULL;
  shmipc_host *h = NULL;
  struct trace t;
  int k;

  (void)state;
  snap(&w, &t);
  for (k = 0; k < 6; k++) {
    shmipc_guest_config_init(&gc);
    gc.name = w.name;
    switch (k) {
    case 0:
      gc.struct_size = 4;
      break;
    case 1:
      gc.connect_timeout_ns = -3;
      break;
    case 2:
      gc.default_timeout_ns = INT64_MIN;
      break;
    case 3:
      gc.liveness_interval_ns = 0;
      break;
    case 4:
      gc.flags = 0x100;
      break;
    default:
      gc.name = "bad/name";
      break;
    }
    g = (shmipc_guest *)&gc;
    assert_int_not_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
    assert_null(g);
  }
  assert_int_equal(shmipc_guest_attach(&gc, NULL), SHMIPC_E_INVALID);
  no_trace(&w, &t, "shmipc_guest_attach");
  assert_int_equal(shmipc_host_wait_guest(w.h, 0), SHMIPC_E_TIMEOUT);
  world_end(&w);

  shmipc_host_config_init(&hc);
  hc.name = tname();
  hc.default_timeout_ns = -3;
  assert_int_equal(shmipc_host_create(&hc, &h), SHMIPC_E_INVALID);
  assert_null(h);
  shmipc_guest_config_init(&gc);
  gc.name = hc.name;
  gc.connect_timeout_ns = 0;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_E_NOT_FOUND); /* none */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(slot_send_publishes_nothing),
      cmocka_unit_test(slot_publish_publishes_nothing),
      cmocka_unit_test(slot_wait_changes_nothing),
      cmocka_unit_test(acquire_holds_nothing),
      cmocka_unit_test(host_call_sends_nothing),
      cmocka_unit_test(guest_call_sends_nothing),
      cmocka_unit_test(host_serve_takes_nothing),
      cmocka_unit_test(stream_send_sends_nothing),
      cmocka_unit_test(waits_change_nothing),
      cmocka_unit_test(bad_config_touches_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
