/* SPDX-License-Identifier: MIT */
/*
 * The guest-call listener under concurrent control calls: of several
 * threads that call shmipc_host_listen_start() at once exactly one starts
 * the listener (the others get SHMIPC_E_BUSY), and of several that call
 * shmipc_host_listen_stop() at once exactly one stops it (the others get
 * SHMIPC_E_STATE), as include/shmipc/shmipc.h promises. Host and guest run
 * in this one process, as in test_unit.c.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

#define MS INT64_C(1000000)
#define THREADS 8
#define ROUNDS 100

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "listen-%u-%d", (unsigned)shmipc__getpid(), n++);
  return buf;
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

struct racer {
  shmipc_host *h;
  pthread_barrier_t *go;
  bool stop; /* call listen_stop instead of listen_start */
  int rc;
};

static void *race(void *arg)
{
  struct racer *r = arg;

  pthread_barrier_wait(r->go);
  r->rc = r->stop ? shmipc_host_listen_stop(r->h)
                  : shmipc_host_listen_start(r->h, echo, NULL);
  return NULL;
}

/* Run THREADS racers at once; returns how many got SHMIPC_OK, and fails if
 * any other got something but @loser. */
static int run_race(shmipc_host *h, bool stop, int loser)
{
  pthread_barrier_t go;
  struct racer r[THREADS];
  pthread_t th[THREADS];
  int i, ok = 0;

  assert_int_equal(pthread_barrier_init(&go, NULL, THREADS), 0);
  for (i = 0; i < THREADS; i++) {
    r[i].h = h;
    r[i].go = &go;
    r[i].stop = stop;
    r[i].rc = 1;
    assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    if (r[i].rc == SHMIPC_OK)
      ok++;
    else if (r[i].rc != loser)
      fail_msg("%s racer %d: %s, want OK or %s", stop ? "stop" : "start", i,
               shmipc_strerror(r[i].rc), shmipc_strerror(loser));
  }
  pthread_barrier_destroy(&go);
  return ok;
}

static void concurrent_start_and_stop(void **state)
{
  const char *name = tname();
  shmipc_host_config c;
  shmipc_guest_config gc;
  shmipc_host *h = NULL;
  shmipc_guest *g = NULL;
  char resp[16];
  size_t n;
  int round, ok;

  (void)state;
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 1;
  c.guest_slots = 1;
  c.req_capacity = 64;
  c.resp_capacity = 64;
  c.liveness_interval_ns = 10 * MS;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.connect_timeout_ns = 1000 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);

  for (round = 0; round < ROUNDS; round++) {
    ok = run_race(h, false, SHMIPC_E_BUSY);
    if (ok != 1)
      fail_msg("round %d: %d of %d concurrent listen_start calls started a "
               "listener, want exactly 1",
               round, ok, THREADS);
    /* The one listener serves, and the application's loop is refused. */
    n = 0;
    assert_int_equal(shmipc_guest_call(g, SHMIPC_MSG_APP_START, "hi", 2, resp,
                                       sizeof resp, &n, NULL, 2000 * MS),
                     SHMIPC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(shmipc_host_serve(h, echo, NULL, 0), SHMIPC_E_BUSY);

    ok = run_race(h, true, SHMIPC_E_STATE);
    if (ok != 1)
      fail_msg("round %d: %d of %d concurrent listen_stop calls stopped the "
               "listener, want exactly 1",
               round, ok, THREADS);
    /* Stopped: no listener to stop, and the loop may serve. */
    assert_int_equal(shmipc_host_listen_stop(h), SHMIPC_E_STATE);
    assert_int_equal(shmipc_host_serve(h, echo, NULL, 0), SHMIPC_E_TIMEOUT);
  }
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrent_start_and_stop),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
