/* SPDX-License-Identifier: MIT */
/*
 * Deployment (docs/DEPLOYING.md), against each echo guest given on the
 * command line:
 *
 * - a guest in another PID namespace and another mount namespace, whose
 *   /dev/shm is a bind mount of ours reached through another path (a
 *   container given the host's /dev/shm): calls work, and its SIGKILL is
 *   PEER_GONE for the host within a bound;
 * - a host in another PID namespace: its SIGKILL ends the guest;
 * - a segment's name removed under a live session (systemd-logind's
 *   RemoveIPC): host and guest go on; a new guest finds nothing; a new
 *   host of the name creates its own segment, which the first host's
 *   destroy leaves alone.
 *
 * PIDs in the header are diagnostics only: across PID namespaces they are
 * meaningless, and liveness never reads them. Namespaces need root (or
 * CAP_SYS_ADMIN): 77 otherwise, a failure under CI=true.
 *
 * usage: test-deploy GUEST...
 *        test-deploy --ns PROGRAM ARG...   (internal: run PROGRAM as PID 1
 *                                           of new PID and mount
 *                                           namespaces, /dev/shm bound
 *                                           again)
 *        test-deploy --ns-host NAME         (internal: a host of NAME in
 *                                           new PID namespaces)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <shmipc/shmipc.h>

#include "clock.h"
#include "proc.h"
#include "strict.h"

#define MS T_MS
#define MAX_GUESTS 4
#define LIVENESS_MS 50
#define T_DELAY 201

static const char *guests[MAX_GUESTS];
static char self_path[4096];

static const char *base(const char *p)
{
  const char *s = strrchr(p, '/');
  return s != NULL ? s + 1 : p;
}

static void seg_name(char *buf, size_t len, const char *what)
{
  snprintf(buf, len, "deploy-%s-%ld", what, (long)getpid());
}

static shmipc_host *named_host(const char *name)
{
  shmipc_host_config cfg;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&cfg);
  cfg.name = name;
  cfg.liveness_interval_ns = LIVENESS_MS * MS;
  if (shmipc_host_create(&cfg, &h) != SHMIPC_OK)
    fail_msg("create %s: %s", name, shmipc_last_error());
  return h;
}

static void echo_ok(shmipc_host *h)
{
  char resp[16];
  size_t n = 0;
  uint32_t t = 0;

  if (shmipc_host_call(h, 130, "ping", 4, resp, sizeof resp, &n, &t,
                       5000 * MS) != SHMIPC_OK)
    fail_msg("call: %s", shmipc_last_error());
  assert_int_equal(n, 4);
  assert_memory_equal(resp, "ping", 4);
}

static bool file_exists(const char *name)
{
  char p[128];
  struct stat st;

  snprintf(p, sizeof p, "/dev/shm/shmipc-%s", name);
  return stat(p, &st) == 0;
}

/* --ns: in new PID and mount namespaces, PROGRAM as their PID 1, with
 * /dev/shm a tmpfs of its own over which ours is bound again through a
 * directory elsewhere. This process waits for it and exits as it did;
 * the child dies with it. */
static int ns_exec(char **argv)
{
  char dir[] = "/tmp/shmipc-deploy-XXXXXX";
  int st;
  pid_t pid;

  if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) {
    perror("unshare");
    return 111;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mkdtemp(dir) == NULL ||
      mount("/dev/shm", dir, NULL, MS_BIND, NULL) != 0 ||
      mount("shmipc-deploy", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
            "size=1m") != 0 ||
      mount(dir, "/dev/shm", NULL, MS_BIND, NULL) != 0 ||
      umount2(dir, MNT_DETACH) != 0 || rmdir(dir) != 0) {
    perror("mounts");
    return 111;
  }
  pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getpid() != 1)
      _exit(112);
    execv(argv[0], argv);
    _exit(113);
  }
  if (pid < 0)
    return 111;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return 111;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* --ns-host NAME: a host of NAME as PID 1 of a new PID namespace; prints
 * "ready" once a guest attached, then serves until killed (60 s). */
static int ns_host(const char *name)
{
  shmipc_host_config cfg;
  shmipc_host *h = NULL;
  pid_t pid;
  int st;

  if (unshare(CLONE_NEWPID) != 0) {
    perror("unshare");
    return 111;
  }
  pid = fork();
  if (pid > 0) {
    while (waitpid(pid, &st, 0) < 0)
      if (errno != EINTR)
        return 111;
    return 0;
  }
  if (pid < 0)
    return 111;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  shmipc_host_config_init(&cfg);
  cfg.name = name;
  if (getpid() != 1 || shmipc_host_create(&cfg, &h) != SHMIPC_OK ||
      shmipc_host_wait_guest(h, 10000 * MS) != SHMIPC_OK) {
    fprintf(stderr, "ns host: pid %ld: %s\n", (long)getpid(),
            shmipc_last_error());
    _exit(1);
  }
  printf("ready\n");
  fflush(stdout);
  t_sleep_ms(60000);
  _exit(1);
}

static void guest_in_namespaces(void **state)
{
  const char *guest = *state;
  char name[64];
  const char *argv[] = {self_path, "--ns", guest, "-name", name, NULL};
  uint32_t delay_ms = 10000;
  struct proc_status st;
  shmipc_slot *s = NULL;
  shmipc_host *h;
  struct proc p;
  int64_t t0, took;

  seg_name(name, sizeof name, "ns-guest");
  h = named_host(name);
  memset(&p, 0, sizeof p);
  assert_int_equal(proc_spawn(&p, argv, PROC_CAPTURE), 0);
  if (shmipc_host_wait_guest(h, 10000 * MS) != SHMIPC_OK)
    fail_msg("no guest from the namespaces: %s / %s", shmipc_last_error(),
             proc_stderr(&p));
  echo_ok(h);
  /* The guest sits on a call; then the whole namespace dies. */
  assert_int_equal(shmipc_slot_acquire(h, 1000 * MS, &s), SHMIPC_OK);
  memcpy(shmipc_slot_req_buf(s), &delay_ms, 4);
  assert_int_equal(shmipc_slot_publish(s, T_DELAY, 4, 0), SHMIPC_OK);
  t_sleep_ms(20);
  t0 = t_now_ns();
  proc_kill(&p);
  assert_int_equal(shmipc_slot_wait(s, 10000 * MS), SHMIPC_E_PEER_GONE);
  took = t_now_ns() - t0;
  shmipc_slot_release(s);
  print_message("%s in other namespaces: PEER_GONE %.1f ms after its "
                "SIGKILL\n",
                base(guest), t_ms(took));
  if (took > (int64_t)(4 * LIVENESS_MS + 500) * t_time_scale() * MS)
    fail_msg("PEER_GONE took %.1f ms", t_ms(took));
  assert_int_equal(proc_wait(&p, 5000, &st), 0);
  proc_reap(&p);
  shmipc_host_destroy(h);
  assert_false(file_exists(name));
}

static void host_in_pid_namespace(void **state)
{
  const char *guest = *state;
  char name[64], line[64];
  const char *hargv[] = {self_path, "--ns-host", name, NULL};
  const char *gargv[] = {guest, "-name", name, NULL};
  struct proc_status st;
  struct proc hp, gp;
  int64_t t0, took;

  seg_name(name, sizeof name, "ns-host");
  memset(&hp, 0, sizeof hp);
  memset(&gp, 0, sizeof gp);
  assert_int_equal(proc_spawn(&hp, hargv, PROC_CAPTURE), 0);
  assert_int_equal(proc_spawn(&gp, gargv, PROC_CAPTURE), 0);
  if (!proc_read_line(&hp, line, sizeof line, 15000) ||
      strcmp(line, "ready") != 0)
    fail_msg("host in a PID namespace: %s / %s", line, proc_stderr(&hp));
  t0 = t_now_ns();
  proc_kill(&hp); /* its namespace's PID 1 follows (PR_SET_PDEATHSIG) */
  if (proc_wait(&gp, 5000 * t_time_scale(), &st) != 0)
    fail_msg("the guest still runs 5 s after its host's death");
  took = t_now_ns() - t0;
  print_message("%s: guest ended %.1f ms after its host (other PID "
                "namespace) was killed\n",
                base(guest), t_ms(took));
  /* an echo guest exits 0 when its host dies */
  if (!st.exited || st.code != 0)
    fail_msg("guest ended with %s %d: %s", st.exited ? "code" : "signal",
             st.code, proc_stderr(&gp));
  if (took > (int64_t)(4 * LIVENESS_MS + 500) * t_time_scale() * MS)
    fail_msg("the guest took %.1f ms", t_ms(took));
  proc_reap(&gp);
  proc_reap(&hp);
  /* the dead host's file stays until the next host of the name */
  shmipc_host_destroy(named_host(name));
  assert_false(file_exists(name));
}

/* RemoveIPC at logout, or an rm: the name goes, the session does not. */
static void name_removed_under_session(void **state)
{
  const char *guest = *state;
  char name[64], path[128];
  const char *gargv[] = {guest, "-name", name, "-timeout-ms", "300", NULL};
  struct proc_status st;
  shmipc_host *a, *b;
  struct proc g1, g2, g3;

  seg_name(name, sizeof name, "removed");
  snprintf(path, sizeof path, "/dev/shm/shmipc-%s", name);
  a = named_host(name);
  memset(&g1, 0, sizeof g1);
  assert_int_equal(proc_spawn(&g1, gargv, PROC_CAPTURE), 0);
  assert_int_equal(shmipc_host_wait_guest(a, 10000 * MS), SHMIPC_OK);
  assert_int_equal(unlink(path), 0);
  echo_ok(a); /* the mapping and the locks stay */
  /* a new guest finds no segment of the name */
  memset(&g2, 0, sizeof g2);
  assert_int_equal(proc_spawn(&g2, gargv, PROC_CAPTURE), 0);
  assert_int_equal(proc_wait(&g2, 10000, &st), 0);
  assert_true(st.exited && st.code == 1);
  if (strstr(proc_stderr(&g2), "no segment") == NULL &&
      strstr(proc_stderr(&g2), "no such segment") == NULL)
    fail_msg("second guest said: %s", proc_stderr(&g2));
  proc_reap(&g2);
  /* a second host takes the free name: a segment of its own */
  b = named_host(name);
  echo_ok(a);
  /* the first host's close ends its guest and leaves b's file alone */
  shmipc_host_destroy(a);
  assert_int_equal(proc_wait(&g1, 5000, &st), 0);
  assert_true(st.exited && st.code == 0);
  proc_reap(&g1);
  if (!file_exists(name))
    fail_msg("destroying the first host removed the second host's %s", path);
  memset(&g3, 0, sizeof g3);
  assert_int_equal(proc_spawn(&g3, gargv, PROC_CAPTURE), 0);
  assert_int_equal(shmipc_host_wait_guest(b, 10000 * MS), SHMIPC_OK);
  echo_ok(b);
  shmipc_host_destroy(b);
  assert_int_equal(proc_wait(&g3, 5000, &st), 0);
  proc_reap(&g3);
  assert_false(file_exists(name));
}

static int teardown(void **state)
{
  (void)state;
  proc_reap_all();
  return 0;
}

int main(int argc, char **argv)
{
  struct CMUnitTest tests[3 * MAX_GUESTS];
  static char titles[3 * MAX_GUESTS][128];
  static const struct {
    const char *name;
    void (*fn)(void **);
  } per_guest[] = {{"guest_in_namespaces", guest_in_namespaces},
                   {"host_in_pid_namespace", host_in_pid_namespace},
                   {"name_removed_under_session", name_removed_under_session}};
  size_t n = 0, i;
  char why[256];
  int k;

  /* After unshare(CLONE_NEWPID) this process can fork no more once the
   * namespace's PID 1 has ended, so it ends with _exit(): an exit()
   * handler that forks (LeakSanitizer's) would fail. */
  if (argc >= 3 && strcmp(argv[1], "--ns") == 0) {
    k = ns_exec(argv + 2);
    fflush(NULL);
    _exit(k);
  }
  if (argc == 3 && strcmp(argv[1], "--ns-host") == 0) {
    k = ns_host(argv[2]);
    fflush(NULL);
    _exit(k);
  }
  if (argc < 2 || argc > 1 + MAX_GUESTS) {
    fprintf(stderr, "usage: %s GUEST...\n", argv[0]);
    return 2;
  }
  if (proc_self_path(self_path, sizeof self_path) != 0)
    return t_cannot_run("cannot find this program's own path");
  /* Can this process make namespaces at all? Ask a child. */
  {
    struct proc p;
    struct proc_status st;
    const char *probe[] = {self_path, "--ns", "/bin/true", NULL};
    memset(&p, 0, sizeof p);
    if (proc_spawn(&p, probe, 0) != 0 || proc_wait(&p, 10000, &st) != 0 ||
        !st.exited || st.code != 0) {
      proc_reap(&p);
      return t_cannot_run("PID and mount namespaces need root "
                          "(unshare(2), mount(2))");
    }
    proc_reap(&p);
  }
  for (k = 1; k < argc; k++) {
    if (!proc_executable(argv[k])) {
      snprintf(why, sizeof why, "guest binary %s not found", argv[k]);
      return t_cannot_run("%s", why);
    }
    guests[k - 1] = argv[k];
    for (i = 0; i < sizeof per_guest / sizeof per_guest[0]; i++) {
      snprintf(titles[n], sizeof titles[0], "%s %s", per_guest[i].name,
               base(argv[k]));
      tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
          per_guest[i].fn, NULL, teardown, (void *)guests[k - 1]);
      tests[n].name = titles[n];
      n++;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  return _cmocka_run_group_tests("deploy", tests, n, NULL, NULL);
}
