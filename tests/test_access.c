/* SPDX-License-Identifier: MIT */
/*
 * Access control across users (docs/PROTOCOL.md: "Names and files"):
 * guests run as uid 65534 against a 0600 and a 0666 segment, and a root
 * guest meets a segment of uid 65534. Switching users needs root: without
 * it the test cannot run (tests/common/strict.h). Command line and
 * harness: liveness.h.
 */
#define _GNU_SOURCE
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
#include "strict.h"

static bool mentions_access(const char *text)
{
  return strcasestr(text, "access") != NULL ||
         strcasestr(text, "permission denied") != NULL;
}

static void spawn_probe(struct proc *c, const char *name, bool allow,
                        bool serve, bool as_nobody)
{
  const char *argv[8];
  int n = 0;

  argv[n++] = probe_path;
  argv[n++] = "-name";
  argv[n++] = name;
  if (allow)
    argv[n++] = "-allow-other-user";
  if (serve)
    argv[n++] = "-serve";
  argv[n] = NULL;
  spawn(c, as_nobody, argv);
}

/* A guest as another user on a 0600 segment: refused by the permissions,
 * which the allow flag does not bypass. */
static void other_user_default_mode(void **state)
{
  struct proc g, p;
  shmipc_host *h;
  char name[64];

  (void)state;
  new_name(name, sizeof name);
  h = host_new(name, 1, 0600);
  spawn_guest(&g, name, true, 2000);
  expect_exit(&g, "guest as uid 65534", 1, 5000);
  if (!mentions_access(proc_stderr(&g)))
    fail_msg("guest as uid 65534 on a 0600 segment: message does not name "
             "access: %s",
             g.text);
  proc_reap(&g);
  spawn_probe(&p, name, true, false, true);
  expect_exit(&p, "attach_probe -allow-other-user as uid 65534",
              -SHMIPC_E_ACCESS, 5000);
  proc_reap(&p);
  assert_int_equal(shmipc_host_wait_guest(h, 0), SHMIPC_E_TIMEOUT);
  /* the owner can still attach */
  spawn_guest(&g, name, false, 5000);
  wait_guest(h, &g, name);
  echo_calls(h, 10, 9);
  host_free(h);
  expect_exit(&g, "guest", 0, 5000);
  proc_reap(&g);
  assert_no_segments("after the access test");
}

/* A 0666 segment: another user gets past the permissions, but guests refuse
 * a segment they do not own unless SHMIPC_GUEST_F_ALLOW_OTHER_USER. */
static void other_user_open_mode(void **state)
{
  struct proc g, p;
  shmipc_host *h;
  char name[64], line[128];
  struct stat st;

  (void)state;
  new_name(name, sizeof name);
  h = host_new(name, 2, 0666);
  assert_true(seg_exists(name, &st));
  assert_int_equal(st.st_mode & 0777, 0666);
  spawn_guest(&g, name, true, 2000);
  expect_exit(&g, "guest as uid 65534 on a 0666 segment", 1, 5000);
  if (!mentions_access(proc_stderr(&g)))
    fail_msg("guest as uid 65534 on a 0666 segment: message does not name "
             "access: %s",
             g.text);
  proc_reap(&g);

  spawn_probe(&p, name, false, false, true);
  expect_exit(&p, "attach_probe as uid 65534", -SHMIPC_E_ACCESS, 5000);
  assert_true(proc_read_line(&p, line, sizeof line, 100)); /* uid line */
  assert_true(proc_read_line(&p, line, sizeof line, 100));
  if (strncmp(line, "result -6 ", 10) != 0)
    fail_msg("attach_probe printed \"%s\", expected result -6", line);
  proc_reap(&p);
  assert_int_equal(shmipc_host_wait_guest(h, 0), SHMIPC_E_TIMEOUT);

  /* allowed: it attaches and serves */
  spawn_probe(&p, name, true, true, true);
  expect_line(&p, "attach_probe -allow-other-user", "uid 65534 euid 65534",
              5000);
  expect_line(&p, "attach_probe -allow-other-user", "result 0 ", 5000);
  expect_line(&p, "attach_probe -allow-other-user", "ready", 5000);
  wait_guest(h, &p, name);
  echo_calls(h, 20, 10);
  host_free(h);
  expect_exit(&p, "attach_probe -allow-other-user -serve", 0, 5000);
  proc_reap(&p);
  assert_no_segments("after the 0666 test");
}

/* The other way round: a root guest refuses a segment of uid 65534, unless
 * allowed; root then replaces that user's stale segment. */
static void segment_of_other_user(void **state)
{
  struct proc ch, g, p;
  shmipc_host *h;
  char name[64];
  struct stat st;

  (void)state;
  new_name(name, sizeof name);
  spawn_crash_host(&ch, name, "-no-guest", NULL, true);
  expect_line(&ch, "crash_host as uid 65534", "blocking", 5000);
  assert_true(seg_exists(name, &st));
  assert_int_equal(st.st_uid, NOBODY);
  spawn_guest(&g, name, false, 2000);
  expect_exit(&g, "guest (root) on a segment of uid 65534", 1, 5000);
  if (!mentions_access(proc_stderr(&g)))
    fail_msg("root guest on another user's segment: message does not name "
             "access: %s",
             g.text);
  proc_reap(&g);
  spawn_probe(&p, name, false, false, false);
  expect_exit(&p, "attach_probe (root)", -SHMIPC_E_ACCESS, 5000);
  proc_reap(&p);
  spawn_probe(&p, name, true, false, false);
  expect_exit(&p, "attach_probe -allow-other-user (root)", 0, 5000);
  proc_reap(&p);
  proc_kill(&ch);
  assert_true(ended_within(&ch, 2000));
  proc_reap(&ch);
  h = host_new(name, 1, 0600);
  assert_true(seg_exists(name, &st));
  assert_int_equal(st.st_uid, 0);
  host_free(h);
  assert_no_segments("after the other user's segment test");
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(other_user_default_mode, lv_teardown),
      cmocka_unit_test_teardown(other_user_open_mode, lv_teardown),
      cmocka_unit_test_teardown(segment_of_other_user, lv_teardown),
  };
  char title[256];
  int r = lv_init(argc, argv, "access", title, sizeof title);

  if (r != 0)
    return r;
  if (geteuid() != 0)
    return t_cannot_run("the access tests need root to run a guest as uid %d",
                        NOBODY);
  return cmocka_run_group_tests_name(title, tests, NULL, NULL);
}
