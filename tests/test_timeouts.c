/* SPDX-License-Identifier: MIT */
/*
 * Every blocking function of the API with every class of timeout value
 * (include/shmipc/shmipc.h, "Conventions"): SHMIPC_TIMEOUT_DEFAULT (the
 * handle's configured default, or the built-in default of a config
 * field), SHMIPC_TIMEOUT_INFINITE, 0, a small positive value, huge
 * positive values up to INT64_MAX, and invalid negatives. Each case builds
 * a situation in which the call has to wait (nobody answers, no slot is
 * free, no guest comes) and checks the code and the time the call took.
 * A wait without a limit is ended by an event from another thread (the
 * answer comes, a slot frees, a guest attaches), never by waiting for
 * ever. Host and guest run in this one process, as in test_unit.c.
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
#include "handlers.h"
#include "internal.h"

#define MS INT64_C(1000000)
/* The handles' configured default timeout (SHMIPC_TIMEOUT_DEFAULT). */
#define DEFAULT_NS (60 * MS)
/* The small positive timeout. */
#define SMALL_NS (40 * MS)
/* When the event that ends an unlimited wait happens. */
#define END_AFTER_NS (150 * MS)
/* How much later than its bound a call may return on a loaded machine. */
#define SLACK_NS (700 * MS)
/* What the stream sender adds after a time-out: it tries to abort the
 * stream on the receiver (stream.c, ABORT_TIMEOUT_NS, for the acquire and
 * again for the answer). */
#define ABORT_NS (200 * MS)

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "timeouts-%u-%d", (unsigned)shmipc__getpid(), n++);
  return buf;
}

static int keep_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                       size_t len)
{
  (void)user;
  (void)id;
  (void)app_type;
  (void)data;
  (void)len;
  return 0;
}

/* One case's world. */
struct fx {
  const char *name;
  shmipc_host *h;
  shmipc_guest *g;
  shmipc_slot *s;    /* the slot the call works on */
  shmipc_slot *held; /* a slot held so that none is free */
  shmipc_stream_sender *snd;
  shmipc_reassembler *r;
  uint8_t data[100];
  int ender_rc; /* the ender's own call, where it makes one */
};

static shmipc_host *host_new(const char *name, uint32_t host_slots,
                             uint32_t guest_slots)
{
  shmipc_host_config c;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = host_slots;
  c.guest_slots = guest_slots;
  c.req_capacity = 256;
  c.resp_capacity = 256;
  c.default_timeout_ns = DEFAULT_NS;
  c.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  return h;
}

static void guest_cfg(shmipc_guest_config *c, const char *name)
{
  shmipc_guest_config_init(c);
  c->name = name;
  c->connect_timeout_ns = 1000 * MS;
  c->default_timeout_ns = DEFAULT_NS;
  c->liveness_interval_ns = 10 * MS;
}

static shmipc_guest *guest_new(const char *name)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;

  guest_cfg(&c, name);
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_OK);
  return g;
}

/* ---- the blocking functions: setup, the call, the event that ends it -- */

static void host_and_guest(struct fx *f)
{
  f->h = host_new(f->name, 1, 1);
  f->g = guest_new(f->name);
}

static void with_slot(struct fx *f)
{
  host_and_guest(f);
  assert_int_equal(shmipc_slot_acquire(f->h, 0, &f->s), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(f->s), "x", 1);
}

static void with_published(struct fx *f)
{
  with_slot(f);
  assert_int_equal(shmipc_slot_publish(f->s, 0, 1, 0), SHMIPC_OK);
}

static void with_slot_held(struct fx *f)
{
  host_and_guest(f);
  assert_int_equal(shmipc_slot_acquire(f->h, 0, &f->held), SHMIPC_OK);
}

static void with_workers(struct fx *f)
{
  host_and_guest(f);
  assert_int_equal(shmipc_guest_start(f->g, t_echo, NULL), SHMIPC_OK);
}

static void host_only(struct fx *f) { f->h = host_new(f->name, 1, 1); }

static void nothing(struct fx *f) { (void)f; }

static void with_sender(struct fx *f)
{
  shmipc_stream_limits lim;

  host_and_guest(f);
  shmipc_stream_limits_init(&lim);
  assert_int_equal(
      shmipc_reassembler_create(&lim, keep_stream, NULL, t_echo, NULL, &f->r),
      SHMIPC_OK);
  assert_int_equal(shmipc_stream_sender_create(f->h, NULL, &f->snd), SHMIPC_OK);
}

static int do_wait_guest(struct fx *f, int64_t t)
{
  return shmipc_host_wait_guest(f->h, t);
}

static int do_host_call(struct fx *f, int64_t t)
{
  char resp[8];

  return shmipc_host_call(f->h, 0, "x", 1, resp, sizeof resp, NULL, NULL, t);
}

static int do_acquire(struct fx *f, int64_t t)
{
  return shmipc_slot_acquire(f->h, t, &f->s);
}

static int do_send(struct fx *f, int64_t t)
{
  return shmipc_slot_send(f->s, 0, 1, 0, t);
}

static int do_wait(struct fx *f, int64_t t)
{
  return shmipc_slot_wait(f->s, t);
}

static int do_serve(struct fx *f, int64_t t)
{
  return shmipc_host_serve(f->h, t_echo, NULL, t);
}

static int do_guest_wait(struct fx *f, int64_t t)
{
  return shmipc_guest_wait(f->g, t);
}

static int do_guest_call(struct fx *f, int64_t t)
{
  char resp[8];

  return shmipc_guest_call(f->g, 0, "x", 1, resp, sizeof resp, NULL, NULL, t);
}

static int do_stream(struct fx *f, int64_t t)
{
  return shmipc_stream_send(f->snd, SHMIPC_MSG_APP_START, f->data,
                            sizeof f->data, t, NULL);
}

static int do_attach(struct fx *f, int64_t t)
{
  shmipc_guest_config c;

  guest_cfg(&c, f->name);
  c.connect_timeout_ns = t;
  return shmipc_guest_attach(&c, &f->g);
}

static void end_attach_guest(struct fx *f) { f->g = guest_new(f->name); }

static void end_answer(struct fx *f)
{
  assert_int_equal(shmipc_guest_start(f->g, t_echo, NULL), SHMIPC_OK);
}

static void end_release(struct fx *f)
{
  shmipc_slot_release(f->held);
  f->held = NULL;
}

static void end_guest_call(struct fx *f)
{
  char resp[8];

  f->ender_rc = shmipc_guest_call(f->g, 0, "y", 1, resp, sizeof resp, NULL,
                                  NULL, 10000 * MS);
}

static void end_stop(struct fx *f) { shmipc_guest_stop(f->g); }

static void end_listen(struct fx *f)
{
  assert_int_equal(shmipc_host_listen_start(f->h, t_echo, NULL), SHMIPC_OK);
}

static void end_receive(struct fx *f)
{
  assert_int_equal(shmipc_guest_start(f->g, shmipc_reassembler_handle, f->r),
                   SHMIPC_OK);
}

static void end_create_host(struct fx *f) { f->h = host_new(f->name, 1, 1); }

struct op {
  const char *name;
  void (*setup)(struct fx *);
  int (*call)(struct fx *, int64_t);
  void (*end)(struct fx *); /* on another thread, END_AFTER_NS in */
  int timed_out;            /* the result when the wait runs out */
  int ended;                /* the result once end() happened */
  int64_t extra_ns;         /* what the call adds after a time-out */
  /* SHMIPC_TIMEOUT_DEFAULT times out at DEFAULT_NS; when false (a config
   * field whose built-in default is seconds) the event ends it. */
  bool default_bounded;
};

static const struct op ops[] = {
    {"shmipc_host_wait_guest", host_only, do_wait_guest, end_attach_guest,
     SHMIPC_E_TIMEOUT, SHMIPC_OK, 0, true},
    {"shmipc_host_call", host_and_guest, do_host_call, end_answer,
     SHMIPC_E_TIMEOUT, SHMIPC_OK, 0, true},
    {"shmipc_slot_acquire", with_slot_held, do_acquire, end_release,
     SHMIPC_E_TIMEOUT, SHMIPC_OK, 0, true},
    {"shmipc_slot_send", with_slot, do_send, end_answer, SHMIPC_E_TIMEOUT,
     SHMIPC_OK, 0, true},
    {"shmipc_slot_wait", with_published, do_wait, end_answer, SHMIPC_E_TIMEOUT,
     SHMIPC_OK, 0, true},
    {"shmipc_host_serve", host_and_guest, do_serve, end_guest_call,
     SHMIPC_E_TIMEOUT, 1, 0, true},
    {"shmipc_guest_wait", with_workers, do_guest_wait, end_stop,
     SHMIPC_E_TIMEOUT, SHMIPC_OK, 0, true},
    {"shmipc_guest_call", host_and_guest, do_guest_call, end_listen,
     SHMIPC_E_TIMEOUT, SHMIPC_OK, 0, true},
    {"shmipc_stream_send", with_sender, do_stream, end_receive,
     SHMIPC_E_TIMEOUT, SHMIPC_OK, ABORT_NS, true},
    {"shmipc_guest_attach (connect_timeout_ns)", nothing, do_attach,
     end_create_host, SHMIPC_E_NOT_FOUND, SHMIPC_OK, 0, false},
};

enum kind {
  K_DEFAULT, /* times out at DEFAULT_NS (or as K_ENDED) */
  K_NOW,     /* 0: does not wait */
  K_BOUNDED, /* times out at its value */
  K_ENDED,   /* no limit in practice: ended by the event */
  K_INVALID, /* SHMIPC_E_INVALID at once */
};

static const struct klass {
  const char *name;
  int64_t t;
  enum kind k;
} classes[] = {
    {"DEFAULT", SHMIPC_TIMEOUT_DEFAULT, K_DEFAULT},
    {"INFINITE", SHMIPC_TIMEOUT_INFINITE, K_ENDED},
    {"0", 0, K_NOW},
    {"40 ms", SMALL_NS, K_BOUNDED},
    {"2^62", INT64_C(1) << 62, K_ENDED},
    {"INT64_MAX - 1", INT64_MAX - 1, K_ENDED},
    {"INT64_MAX", INT64_MAX, K_ENDED},
    {"-3", -3, K_INVALID},
    {"INT64_MIN", INT64_MIN, K_INVALID},
};

struct ender {
  const struct op *op;
  struct fx *f;
  int64_t t0; /* the case's start */
  int64_t at; /* when the event came */
};

/* The event comes END_AFTER_NS after the case's start, however late this
 * thread runs (or however early, before pthread_create() returned). */
static void *ender_main(void *arg)
{
  struct ender *e = arg;
  int64_t left = e->t0 + END_AFTER_NS - t_now_ns();

  if (left > 0)
    t_sleep_ns(left);
  e->at = t_now_ns();
  e->op->end(e->f);
  return NULL;
}

static void teardown(struct fx *f)
{
  shmipc_slot_release(f->s);
  shmipc_slot_release(f->held);
  shmipc_stream_sender_destroy(f->snd);
  shmipc_guest_detach(f->g);
  shmipc_reassembler_destroy(f->r);
  shmipc_host_destroy(f->h);
}

/* Cases that went wrong, each reported as it happens. */
static int failures;

static void run_case(const struct op *op, const struct klass *c)
{
  struct fx f;
  struct ender e = {op, &f, 0, 0};
  enum kind k = c->k;
  int64_t t0, t1, dt, lo = 0, hi;
  int want, r;
  pthread_t th;

  memset(&f, 0, sizeof f);
  f.name = tname();
  if (k == K_DEFAULT)
    k = op->default_bounded ? K_BOUNDED : K_ENDED;
  op->setup(&f);
  t0 = e.t0 = t_now_ns();
  if (k == K_ENDED)
    assert_int_equal(pthread_create(&th, NULL, ender_main, &e), 0);
  r = op->call(&f, c->t);
  t1 = t_now_ns();
  dt = t1 - t0;
  if (k == K_ENDED)
    pthread_join(th, NULL);

  switch (k) {
  case K_INVALID:
    want = SHMIPC_E_INVALID;
    hi = SLACK_NS;
    break;
  case K_NOW:
    want = op->timed_out;
    hi = op->extra_ns + SLACK_NS;
    break;
  case K_BOUNDED:
    want = op->timed_out;
    lo = c->k == K_DEFAULT ? DEFAULT_NS : c->t;
    hi = lo + op->extra_ns + SLACK_NS;
    break;
  default:
    want = op->ended;
    lo = END_AFTER_NS;
    hi = END_AFTER_NS + SLACK_NS;
    break;
  }
  printf("%-42s %-14s -> %4d after %7.2f ms\n", op->name, c->name, r,
         (double)dt / 1e6);
  if (r != want) {
    fprintf(stderr, "%s with timeout %s: %d (%s), want %d (%s)\n", op->name,
            c->name, r, shmipc_strerror(r), want, shmipc_strerror(want));
    failures++;
  }
  /* A millisecond below the bound: clocks read at slightly different
   * points than the call's own. */
  if (dt < lo - MS || dt > hi) {
    fprintf(stderr, "%s with timeout %s: took %.2f ms, want %.2f to %.2f ms\n",
            op->name, c->name, (double)dt / 1e6, (double)lo / 1e6,
            (double)hi / 1e6);
    failures++;
  }
  /* An unlimited wait ends by the event, not before it. */
  if (k == K_ENDED && t1 < e.at) {
    fprintf(stderr, "%s with timeout %s: returned %.2f ms before the event\n",
            op->name, c->name, (double)(e.at - t1) / 1e6);
    failures++;
  }
  if (op->end == end_guest_call && k == K_ENDED && f.ender_rc != SHMIPC_OK) {
    fprintf(stderr, "%s with timeout %s: the guest call that ended it: %d\n",
            op->name, c->name, f.ender_rc);
    failures++;
  }
  teardown(&f);
}

static void every_function_every_class(void **state)
{
  size_t i, j;

  (void)state;
  for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
    for (j = 0; j < sizeof classes / sizeof classes[0]; j++)
      run_case(&ops[i], &classes[j]);
  assert_int_equal(failures, 0);
}

/* The config fields: default_timeout_ns of both roles takes the same
 * classes (DEFAULT meaning the built-in default), and what it is set to
 * is what SHMIPC_TIMEOUT_DEFAULT then means. */
static void config_default_timeout(void **state)
{
  static const struct {
    int64_t v;
    int rc;
  } cases[] = {
      {SHMIPC_TIMEOUT_DEFAULT, SHMIPC_OK},
      {SHMIPC_TIMEOUT_INFINITE, SHMIPC_OK},
      {0, SHMIPC_OK},
      {1, SHMIPC_OK},
      {INT64_MAX, SHMIPC_OK},
      {-3, SHMIPC_E_INVALID},
      {INT64_MIN, SHMIPC_E_INVALID},
  };
  shmipc_host_config hc;
  shmipc_guest_config gc;
  shmipc_host *h;
  shmipc_guest *g;
  char resp[8];
  int64_t t0, dt;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *name = tname();

    shmipc_host_config_init(&hc);
    hc.name = name;
    hc.guest_slots = 1;
    hc.default_timeout_ns = cases[i].v;
    h = NULL;
    assert_int_equal(shmipc_host_create(&hc, &h), cases[i].rc);
    if (h == NULL)
      continue;
    guest_cfg(&gc, name);
    gc.default_timeout_ns = cases[i].v;
    g = NULL;
    assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
    if (cases[i].v == 0 || cases[i].v == 1) {
      /* a default that does not wait (nobody answers here) */
      t0 = t_now_ns();
      assert_int_equal(shmipc_host_call(h, 0, "x", 1, resp, sizeof resp, NULL,
                                        NULL, SHMIPC_TIMEOUT_DEFAULT),
                       SHMIPC_E_TIMEOUT);
      assert_int_equal(shmipc_guest_call(g, 0, "x", 1, resp, sizeof resp, NULL,
                                         NULL, SHMIPC_TIMEOUT_DEFAULT),
                       SHMIPC_E_TIMEOUT);
      dt = t_now_ns() - t0;
      assert_true(dt < SLACK_NS);
    }
    shmipc_guest_detach(g);
    shmipc_host_destroy(h);
  }
  /* connect_timeout_ns is in the table above; its invalid values too */
  guest_cfg(&gc, tname());
  gc.connect_timeout_ns = -3;
  g = (shmipc_guest *)&gc;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_E_INVALID);
  assert_null(g);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_function_every_class),
      cmocka_unit_test(config_default_timeout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
