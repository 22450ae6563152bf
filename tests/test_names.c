/* SPDX-License-Identifier: MIT */
/*
 * Names and segment files across processes (docs/PROTOCOL.md: "Names and
 * files", "Attach"): a live host's name is taken and one guest at a time
 * attaches; nothing is left in /dev/shm after any way of ending; hosts
 * racing for one name have exactly one winner. Command line and harness:
 * liveness.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "liveness.h"

/* A live host's name is taken; one guest at a time */

static void second_host_and_guest_refused(void **state)
{
  struct proc ch, ch2, g, g2;
  shmipc_guest_config gc;
  shmipc_guest *guest = (shmipc_guest *)1;
  shmipc_host *h = (shmipc_host *)1, *h2;
  char name[64];
  int64_t t0, dt;
  int r;

  (void)state;
  new_name(name, sizeof name);
  spawn_crash_host(&ch, name, "-calls", "10", false);
  expect_line(&ch, "crash_host", "created", 5000);
  spawn_guest(&g, name, false, 10000);
  expect_line(&ch, "crash_host", "calls ok", 10000);
  expect_line(&ch, "crash_host", "blocking", 5000);
  expect_line(&g, "guest", "ready", 5000);

  /* a second host of the same name, here and in another process */
  r = host_try(name, &h);
  if (r != SHMIPC_E_EXISTS)
    fail_msg("second host of a live name: %s, expected EXISTS",
             shmipc_strerror(r));
  assert_null(h);
  spawn_crash_host(&ch2, name, "-no-guest", NULL, false);
  expect_exit(&ch2, "second crash_host", -SHMIPC_E_EXISTS, 5000);
  if (strstr(proc_stderr(&ch2), "exists") == NULL)
    fail_msg("second crash_host's message does not say the segment exists: %s",
             ch2.text);
  proc_reap(&ch2);

  /* a second guest, here and in another process: refused at once */
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.connect_timeout_ns = 2000 * MS;
  t0 = t_now_ns();
  r = shmipc_guest_attach(&gc, &guest);
  dt = t_now_ns() - t0;
  if (r != SHMIPC_E_BUSY)
    fail_msg("second guest attach: %s, expected BUSY", shmipc_strerror(r));
  assert_null(guest);
  assert_true(dt < 1000 * MS);
  t0 = t_now_ns();
  spawn_guest(&g2, name, false, 5000);
  expect_exit(&g2, "second guest", 1, 4000);
  dt = t_now_ns() - t0;
  if (strcasestr(proc_stderr(&g2), "busy") == NULL &&
      strcasestr(g2.text, "another guest") == NULL)
    fail_msg("second guest's message does not say a guest is attached: %s",
             g2.text);
  if (dt >= 3000 * MS)
    fail_msg("second guest took %.0f ms to be refused (it should not wait for "
             "its connect timeout)",
             t_ms(dt));
  proc_reap(&g2);
  /* the first guest and its host are untouched */
  assert_false(ended_within(&g, 0));
  assert_false(ended_within(&ch, 0));
  assert_int_equal(our_segments(NULL, 0), 1);

  proc_kill(&ch);
  assert_true(ended_within(&ch, 2000));
  proc_reap(&ch);
  expect_exit(&g, "guest of the killed host", 0, 2000);
  proc_reap(&g);

  /* The name is free again; two handles in one process conflict too. */
  h = host_new(name, 1, 0600);
  h2 = (shmipc_host *)1;
  r = host_try(name, &h2);
  if (r != SHMIPC_E_EXISTS)
    fail_msg("second host in the same process: %s, expected EXISTS",
             shmipc_strerror(r));
  assert_null(h2);
  host_free(h);
  assert_no_segments("after the replacement host's shutdown");
}

/* ------------------------------------------------------------------ */
/* Nothing left in /dev/shm */

static void no_segment_left(void **state)
{
  struct proc g, ch;
  shmipc_guest_config gc;
  shmipc_guest *guest;
  shmipc_host *h;
  char name[64];
  struct stat st1, st2;
  int r;

  (void)state;
  /* host destroy while the guest process serves; the guest then leaves */
  new_name(name, sizeof name);
  h = host_new(name, 2, 0600);
  spawn_guest(&g, name, false, 10000);
  wait_guest(h, &g, name);
  echo_calls(h, 20, 5);
  host_free(h);
  expect_exit(&g, "guest", 0, 5000);
  proc_reap(&g);
  assert_no_segments("after host destroy + guest exit");

  /* guest detaches first, then the host goes */
  new_name(name, sizeof name);
  h = host_new(name, 1, 0600);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.connect_timeout_ns = 2000 * MS;
  r = shmipc_guest_attach(&gc, &guest);
  if (r != SHMIPC_OK)
    fail_msg("in-process guest attach: %s", shmipc_strerror(r));
  assert_int_equal(shmipc_host_wait_guest(h, 1000 * MS), SHMIPC_OK);
  shmipc_guest_detach(guest);
  assert_int_equal(shmipc_host_wait_guest(h, 0), SHMIPC_E_TIMEOUT);
  host_free(h);
  assert_no_segments("after guest detach + host destroy");

  /* a crash leaves exactly one segment; the next host replaces it and
   * leaves nothing after a clean shutdown */
  new_name(name, sizeof name);
  spawn_crash_host(&ch, name, "-no-guest", NULL, false);
  expect_line(&ch, "crash_host", "blocking", 5000);
  proc_kill(&ch);
  assert_true(ended_within(&ch, 2000));
  proc_reap(&ch);
  assert_int_equal(our_segments(NULL, 0), 1);
  assert_true(seg_exists(name, &st1));
  h = host_new(name, 1, 0600);
  assert_int_equal(our_segments(NULL, 0), 1);
  assert_true(seg_exists(name, &st2));
  assert_true(st1.st_ino != st2.st_ino);
  spawn_guest(&g, name, false, 10000);
  wait_guest(h, &g, name);
  echo_calls(h, 20, 6);
  host_free(h);
  expect_exit(&g, "guest", 0, 5000);
  proc_reap(&g);
  assert_no_segments("after crash + new host + clean shutdown");
}

enum { RACERS = 4 };

/* Leave a dead host's segment behind under @name. */
static void leave_dead_host(const char *name)
{
  struct proc p;
  struct proc_status st;
  int r = proc_fork(&p);

  assert_true(r >= 0);
  if (r == 0) {
    shmipc_host *h;
    _exit(host_try(name, &h) == SHMIPC_OK ? 0 : 1);
  }
  assert_int_equal(proc_wait(&p, 5000, &st), 0);
  assert_true(st.exited && st.code == 0);
  assert_true(seg_exists(name, NULL));
}

/* A racer: waits for the start, creates the host, reports the code on
 * @res and keeps its host until @done closes. */
static _Noreturn void racer_main(const char *name, int go, int done, int res)
{
  shmipc_host *h = NULL;
  char c;
  int r;

  /* all start when the parent closes its end */
  while (read(go, &c, 1) < 0 && errno == EINTR)
    ;
  r = host_try(name, &h);
  if (write(res, &r, sizeof r) != (ssize_t)sizeof r)
    _exit(3);
  /* keep the host alive until every racer has tried */
  while (read(done, &c, 1) < 0 && errno == EINTR)
    ;
  shmipc_host_destroy(h);
  _exit(0);
}

/* RACERS processes create a host of @name at once; their codes in
 * @results. */
static void race(const char *name, int trial, int results[RACERS])
{
  struct proc racer[RACERS];
  int go[2], done[2], res[2], i;

  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  assert_int_equal(pipe2(done, O_CLOEXEC), 0);
  assert_int_equal(pipe2(res, O_CLOEXEC), 0);
  for (i = 0; i < RACERS; i++) {
    int f = proc_fork(&racer[i]);
    assert_true(f >= 0);
    if (f == 0) {
      close(go[1]);
      close(done[1]);
      racer_main(name, go[0], done[0], res[1]);
    }
  }
  close(go[0]);
  close(done[0]);
  close(res[1]);
  close(go[1]); /* start */
  for (i = 0; i < RACERS; i++) {
    struct pollfd p = {res[0], POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0 ||
        read(res[0], &results[i], sizeof results[i]) !=
            (ssize_t)sizeof results[i]) {
      close(done[1]);
      close(res[0]);
      for (i = 0; i < RACERS; i++)
        proc_reap(&racer[i]);
      fail_msg("trial %d: a racing host did not report within 5 s", trial);
    }
  }
  close(done[1]); /* let them go */
  close(res[0]);
  for (i = 0; i < RACERS; i++) {
    if (!ended_within(&racer[i], 5000)) {
      int j;
      for (j = 0; j < RACERS; j++)
        proc_reap(&racer[j]);
      fail_msg("trial %d: a racing host did not exit", trial);
    }
  }
}

/* Hosts racing for one name: exactly one wins, the others see EXISTS
 * (also when the name holds a dead host's segment). */
static void concurrent_create_one_winner(void **state)
{
  enum { TRIALS = 150 };
  int trial, wins_total = 0;

  (void)state;
  for (trial = 0; trial < TRIALS; trial++) {
    int results[RACERS], wins = 0, i;
    char name[64];

    new_name(name, sizeof name);
    if (trial % 2 == 1)
      leave_dead_host(name);
    race(name, trial, results);
    for (i = 0; i < RACERS; i++) {
      if (results[i] == SHMIPC_OK)
        wins++;
      else if (results[i] != SHMIPC_E_EXISTS)
        fail_msg("trial %d: a racing host got %s (expected OK or EXISTS)",
                 trial, shmipc_strerror(results[i]));
    }
    if (wins != 1)
      fail_msg("trial %d%s: %d of %d racing hosts created the segment "
               "(exactly one must)",
               trial, trial % 2 ? " (stale segment present)" : "", wins,
               RACERS);
    wins_total += wins;
    assert_no_segments("after the racing hosts left");
  }
  assert_int_equal(wins_total, TRIALS);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(second_host_and_guest_refused, lv_teardown),
      cmocka_unit_test_teardown(no_segment_left, lv_teardown),
      cmocka_unit_test_teardown(concurrent_create_one_winner, lv_teardown),
  };
  char title[256];
  int r = lv_init(argc, argv, "names", title, sizeof title);

  if (r != 0)
    return r;
  return cmocka_run_group_tests_name(title, tests, NULL, NULL);
}
