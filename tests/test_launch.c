/* SPDX-License-Identifier: MIT */
/*
 * The launcher (include/shmipc/shmipc.h, "Launching a guest";
 * docs/PROTOCOL.md, "Launched guests"), against each echo guest given on
 * the command line: a host over an anonymous segment starts the guest,
 * which attaches to the inherited, sealed memfd. Calls, guest calls and a
 * stream work; nothing of it is in /dev/shm; the seals hold against a
 * truncation; the child holds no descriptor of the host's but its own;
 * it dies when the host process is SIGKILLed (median and worst of 20
 * rounds); its death ends a call with PEER_GONE and gives the host the
 * signal, and the host launches it again; an exit status is reported;
 * a guest started without a segment says so.
 *
 * usage: test-launch GUEST...             (the echo guests)
 *        test-launch --host PROGRAM ARG   (internal: a launching host
 *                                          that prints its child's pid
 *                                          and waits to be killed)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <shmipc/shmipc.h>

#include "clock.h"
#include "proc.h"
#include "strict.h"

#define MS T_MS
#define MAX_GUESTS 4
#define ROUNDS 20
/* Liveness interval of the hosts here. */
#define LIVENESS_MS 50
/* Echo guest request types (tests/ECHO_GUEST.md). */
#define T_DELAY 201
#define T_GUEST_CALL 202
#define T_STREAM_DIGEST 204

static const char *guests[MAX_GUESTS];
static char self_path[4096];

static int sys_pidfd_open(pid_t pid)
{
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

static const char *base(const char *p)
{
  const char *s = strrchr(p, '/');
  return s != NULL ? s + 1 : p;
}

static shmipc_host *anon_host(uint32_t guest_slots)
{
  shmipc_host_config cfg;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&cfg);
  cfg.name = "launch-test";
  cfg.guest_slots = guest_slots;
  cfg.liveness_interval_ns = LIVENESS_MS * MS;
  if (shmipc_host_create_anonymous(&cfg, &h) != SHMIPC_OK)
    fail_msg("shmipc_host_create_anonymous: %s", shmipc_last_error());
  return h;
}

static shmipc_child *launch(shmipc_host *h, const char *guest)
{
  const char *argv[] = {guest, "-inherited", NULL};
  shmipc_launch_config lc;
  shmipc_child *c = NULL;

  shmipc_launch_config_init(&lc);
  lc.path = guest;
  lc.argv = argv;
  if (shmipc_host_launch(h, &lc, &c) != SHMIPC_OK)
    fail_msg("launching %s: %s", guest, shmipc_last_error());
  if (shmipc_host_wait_guest(h, 10000 * MS) != SHMIPC_OK)
    fail_msg("%s did not attach in 10 s: %s", guest, shmipc_last_error());
  return c;
}

static void echo_ok(shmipc_host *h, const char *what)
{
  char resp[64];
  size_t n = 0;
  uint32_t t = 0;
  int r;

  r = shmipc_host_call(h, 130, what, strlen(what), resp, sizeof resp, &n, &t,
                       5000 * MS);
  if (r != SHMIPC_OK)
    fail_msg("echo call: %s", shmipc_last_error());
  assert_int_equal(t, 130);
  assert_int_equal(n, strlen(what));
  assert_memory_equal(resp, what, n);
}

/* The host's answer to the guest calls that T_GUEST_CALL makes. */
static int upper(void *user, uint32_t type, const void *req, size_t req_len,
                 void *resp, size_t resp_cap, size_t *resp_len,
                 uint32_t *resp_type)
{
  size_t i;

  (void)user;
  (void)type;
  if (req_len > resp_cap)
    return -1;
  for (i = 0; i < req_len; i++) {
    char ch = ((const char *)req)[i];
    ((char *)resp)[i] = ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
  }
  *resp_len = req_len;
  *resp_type = SHMIPC_MSG_NORMAL;
  return 0;
}

static void exit_is(shmipc_child *c, uint32_t sig, int64_t code,
                    int64_t within_ms)
{
  shmipc_child_exit ex = {sizeof ex, 99, 99};
  int r = shmipc_child_wait(c, within_ms * MS, &ex);

  if (r != SHMIPC_OK)
    fail_msg("child %lld: %s", (long long)shmipc_child_pid(c),
             shmipc_last_error());
  if (ex.signal != sig || (sig == 0 && ex.code != code))
    fail_msg("child ended with signal %u code %lld, want signal %u code %lld",
             ex.signal, (long long)ex.code, sig, (long long)code);
}

/* /proc/PID/fd/N's target. */
static void fd_target(pid_t pid, const char *fd, char *buf, size_t len)
{
  char p[320];
  ssize_t n;

  snprintf(p, sizeof p, "/proc/%ld/fd/%.255s", (long)pid, fd);
  n = readlink(p, buf, len - 1);
  buf[n > 0 ? n : 0] = '\0';
}

/* The child's segment: a memfd, in no directory of /dev/shm, sealed so
 * that nobody can shrink or grow it. */
static void segment_checks(pid_t pid)
{
  char p[64], target[256];
  struct stat seg, st;
  struct dirent *e;
  DIR *d;
  int fd, seals;

  fd_target(pid, "3", target, sizeof target);
  if (strncmp(target, "/memfd:shmipc-launch-test", 25) != 0)
    fail_msg("child's descriptor 3 is %s, not the segment's memfd", target);
  snprintf(p, sizeof p, "/proc/%ld/fd/3", (long)pid);
  fd = open(p, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    fail_msg("open %s: %s", p, strerror(errno));
  assert_int_equal(fstat(fd, &seg), 0);
  assert_int_equal(seg.st_mode & 0777, 0600);
  seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) !=
                       (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
    fail_msg("segment seals %#x", seals);
  /* Anyone holding the descriptor, the guest included, fails to resize. */
  errno = 0;
  assert_int_not_equal(ftruncate(fd, seg.st_size / 2), 0);
  assert_int_equal(errno, EPERM);
  assert_int_not_equal(ftruncate(fd, seg.st_size * 2), 0);
  assert_int_equal(errno, EPERM);
  assert_int_not_equal(fcntl(fd, F_ADD_SEALS, 0), 0); /* F_SEAL_SEAL */
  close(fd);
  d = opendir("/dev/shm");
  assert_non_null(d);
  while ((e = readdir(d)) != NULL) {
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == seg.st_dev && st.st_ino == seg.st_ino)
      fail_msg("the segment is /dev/shm/%s", e->d_name);
  }
  closedir(d);
}

/* Another user cannot reach the segment: it has no name, and the
 * child's /proc/PID/fd/3 is closed to processes that may not ptrace it.
 * (A process of the same user that may ptrace the child can open it
 * there, as it could read the child's memory.) Needs root to run a
 * process as another user. */
static void other_user_cannot_open(pid_t pid)
{
  char cmd[96];
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  struct proc_status st;
  struct proc p;

  if (geteuid() != 0) {
    print_message("not root: the other user's open is not tried\n");
    return;
  }
  snprintf(cmd, sizeof cmd, "exec 5<>/proc/%ld/fd/3", (long)pid);
  memset(&p, 0, sizeof p);
  assert_int_equal(proc_spawn(&p, argv, PROC_AS_NOBODY | PROC_CAPTURE), 0);
  assert_int_equal(proc_wait(&p, 10000, &st), 0);
  if (st.exited && st.code == 0)
    fail_msg("uid %d opened the segment through /proc/%ld/fd/3", PROC_NOBODY,
             (long)pid);
  proc_reap(&p);
}

/* The child's descriptors: none is one the host had open (@probe_pipe,
 * @probe_file: inheritable on purpose), and for a C guest, which opens
 * nothing itself, exactly 0, 1, 2 and 3. */
static void fd_checks(pid_t pid, const char *guest, const char *probe_pipe,
                      const char *probe_file)
{
  char p[64], target[256], list[2048] = "";
  struct dirent *e;
  int n = 0, c_guest = strstr(base(guest), "-c") != NULL;
  DIR *d;

  snprintf(p, sizeof p, "/proc/%ld/fd", (long)pid);
  d = opendir(p);
  assert_non_null(d);
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    fd_target(pid, e->d_name, target, sizeof target);
    if (strlen(list) < sizeof list - 400)
      snprintf(list + strlen(list), sizeof list - strlen(list), " %.64s=%.255s",
               e->d_name, target);
    if (strcmp(target, probe_pipe) == 0 || strcmp(target, probe_file) == 0)
      fail_msg("the child inherited the host's %s:%s", target, list);
    n++;
  }
  closedir(d);
  if (c_guest && n != 4)
    fail_msg("the C guest has %d descriptors, want 0-3:%s", n, list);
  print_message("child descriptors:%s\n", list);
}

static void launch_calls(void **state)
{
  const char *guest = *state;
  char probe_pipe[64], probe_file[256], resp[64], num[16];
  shmipc_stream_sender *snd = NULL;
  shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;
  shmipc_host *h = anon_host(2);
  shmipc_child *c;
  uint8_t *data;
  size_t i, n = 0;
  uint32_t t = 0;
  int pfd[2], ffd;

  /* Inheritable descriptors of the host that the child must not get. */
  assert_int_equal(pipe(pfd), 0);
  ffd = open("/proc/self/exe", O_RDONLY);
  assert_true(ffd >= 0);
  snprintf(num, sizeof num, "%d", pfd[0]);
  fd_target(getpid(), num, probe_pipe, sizeof probe_pipe);
  snprintf(num, sizeof num, "%d", ffd);
  fd_target(getpid(), num, probe_file, sizeof probe_file);

  assert_int_equal(shmipc_host_listen_start(h, upper, NULL), SHMIPC_OK);
  c = launch(h, guest);
  assert_true(shmipc_child_pid(c) > 0);
  assert_true(shmipc_child_handle(c) >= 0);
  echo_ok(h, "over the inherited segment");
  /* a guest call back to the host */
  assert_int_equal(shmipc_host_call(h, T_GUEST_CALL, "hello", 5, resp,
                                    sizeof resp, &n, &t, 5000 * MS),
                   SHMIPC_OK);
  assert_int_equal(n, 5);
  assert_memory_equal(resp, "HELLO", 5);
  /* a stream of 1 MiB */
  data = malloc(1 << 20);
  assert_non_null(data);
  for (i = 0; i < 1u << 20; i++)
    data[i] = (uint8_t)(i * 7);
  assert_int_equal(shmipc_stream_sender_create(h, NULL, &snd), SHMIPC_OK);
  if (shmipc_stream_send(snd, 140, data, 1 << 20, 10000 * MS, &res) !=
      SHMIPC_OK)
    fail_msg("stream: %s", shmipc_last_error());
  shmipc_stream_sender_destroy(snd);
  free(data);

  segment_checks((pid_t)shmipc_child_pid(c));
  other_user_cannot_open((pid_t)shmipc_child_pid(c));
  fd_checks((pid_t)shmipc_child_pid(c), guest, probe_pipe, probe_file);
  echo_ok(h, "still answering");
  close(pfd[0]);
  close(pfd[1]);
  close(ffd);

  /* The host's orderly close ends the guest, which exits 0. */
  shmipc_host_destroy(h);
  exit_is(c, 0, 0, 5000);
  shmipc_child_destroy(c);
}

static void killed_child_restart(void **state)
{
  const char *guest = *state;
  uint32_t delay_ms = 10000;
  shmipc_host *h = anon_host(0);
  shmipc_slot *s = NULL;
  shmipc_child *c;
  int64_t t0, took;
  int round;

  for (round = 0; round < 3; round++) {
    c = launch(h, guest);
    echo_ok(h, "before the kill");
    /* A call the guest sits on, then the guest's death. */
    assert_int_equal(shmipc_slot_acquire(h, 1000 * MS, &s), SHMIPC_OK);
    memcpy(shmipc_slot_req_buf(s), &delay_ms, 4);
    assert_int_equal(shmipc_slot_publish(s, T_DELAY, 4, 0), SHMIPC_OK);
    t_sleep_ms(20);
    t0 = t_now_ns();
    assert_int_equal(shmipc_child_kill(c), SHMIPC_OK);
    assert_int_equal(shmipc_slot_wait(s, 10000 * MS), SHMIPC_E_PEER_GONE);
    took = t_now_ns() - t0;
    shmipc_slot_release(s);
    print_message("round %d: PEER_GONE %.1f ms after the kill\n", round,
                  t_ms(took));
    if (took > (int64_t)(4 * LIVENESS_MS + 500) * t_time_scale() * MS)
      fail_msg("PEER_GONE took %.1f ms, liveness interval %d ms", t_ms(took),
               LIVENESS_MS);
    exit_is(c, SIGKILL, 0, 5000);
    /* the same answer again, without waiting */
    exit_is(c, SIGKILL, 0, 0);
    shmipc_child_destroy(c);
  }
  /* and a fourth that ends with the host */
  c = launch(h, guest);
  echo_ok(h, "after three restarts");
  {
    /* A later child that ends at once (it would get BUSY at an attach) is
     * not taken for the live guest's end. */
    static const char *const quick[] = {"/bin/sh", "-c", "exit 0", NULL};
    shmipc_launch_config lc;
    shmipc_child *q = NULL;

    shmipc_launch_config_init(&lc);
    lc.path = quick[0];
    lc.argv = quick;
    assert_int_equal(shmipc_host_launch(h, &lc, &q), SHMIPC_OK);
    exit_is(q, 0, 0, 5000);
    shmipc_child_destroy(q);
    if (shmipc_host_wait_guest(h, 1000 * MS) != SHMIPC_OK)
      fail_msg("wait_guest with a live guest and an ended later child: %s",
               shmipc_last_error());
    echo_ok(h, "beside an ended later child");
  }
  shmipc_host_destroy(h);
  exit_is(c, 0, 0, 5000);
  shmipc_child_destroy(c);
}

/* Run @argv under the launcher of a fresh host; return the child. */
static shmipc_child *launch_argv(shmipc_host *h, const char *const *argv,
                                 const char *const *envp, const char *cwd,
                                 int want)
{
  shmipc_launch_config lc;
  shmipc_child *c = (shmipc_child *)&lc;
  int r;

  shmipc_launch_config_init(&lc);
  lc.path = argv[0];
  lc.argv = argv;
  lc.envp = envp;
  lc.cwd = cwd;
  r = shmipc_host_launch(h, &lc, &c);
  if (r != want)
    fail_msg("launching %s: %d (%s), want %d", argv[0], r, shmipc_last_error(),
             want);
  if (r != SHMIPC_OK)
    assert_null(c);
  return c;
}

static void exit_status_and_errors(void **state)
{
  static const char *const exit7[] = {"/bin/sh", "-c", "exit 7", NULL};
  static const char *const env_check[] = {
      "/bin/sh", "-c",
      "test \"$SHMIPC_FD\" = 3 && test \"$KEEP\" = yes && test \"$(pwd)\" = "
      "/tmp && exec 3<&- && exit 0; exit 9",
      NULL};
  static const char *const envp[] = {"KEEP=yes", "SHMIPC_FD=99", "PATH=/bin",
                                     NULL};
  static const char *const nothing[] = {"/nonexistent/guest", NULL};
  static const char *const self_kill[] = {"/bin/sh", "-c", "kill -TERM $$",
                                          NULL};
  shmipc_host_config cfg;
  shmipc_host *h = anon_host(0), *named = NULL;
  shmipc_child *c;
  char name[64];

  (void)state;
  c = launch_argv(h, exit7, NULL, NULL, SHMIPC_OK);
  exit_is(c, 0, 7, 5000);
  shmipc_child_destroy(c);
  c = launch_argv(h, self_kill, NULL, NULL, SHMIPC_OK);
  exit_is(c, SIGTERM, 0, 5000);
  shmipc_child_destroy(c);
  /* the environment given, SHMIPC_FD replaced, the directory */
  c = launch_argv(h, env_check, envp, "/tmp", SHMIPC_OK);
  exit_is(c, 0, 0, 5000);
  shmipc_child_destroy(c);

  launch_argv(h, nothing, NULL, NULL, SHMIPC_E_NOT_FOUND);
  assert_non_null(strstr(shmipc_last_error(), "/nonexistent/guest"));
  launch_argv(h, exit7, NULL, "/nonexistent-dir", SHMIPC_E_NOT_FOUND);
  assert_non_null(strstr(shmipc_last_error(), "/nonexistent-dir"));

  /* a timeout while it runs, then the kill */
  {
    static const char *const sleeper[] = {"/bin/sleep", "30", NULL};
    int64_t t0;
    c = launch_argv(h, sleeper, NULL, NULL, SHMIPC_OK);
    t0 = t_now_ns();
    assert_int_equal(shmipc_child_wait(c, 100 * MS, NULL), SHMIPC_E_TIMEOUT);
    assert_true(t_now_ns() - t0 >= 100 * MS);
    assert_int_equal(shmipc_child_wait(c, 0, NULL), SHMIPC_E_TIMEOUT);
    shmipc_child_destroy(c); /* kills and reaps it */
  }

  /* a named host has nothing to hand down */
  shmipc_host_config_init(&cfg);
  snprintf(name, sizeof name, "launch-named-%ld", (long)getpid());
  cfg.name = name;
  assert_int_equal(shmipc_host_create(&cfg, &named), SHMIPC_OK);
  launch_argv(named, exit7, NULL, NULL, SHMIPC_E_STATE);
  shmipc_host_destroy(named);
  shmipc_host_destroy(h);
}

/* shmipc_host_wait_guest() on an anonymous host ends with PEER_GONE within
 * a few liveness intervals once the guest it launched last has ended (no
 * other process can reach the segment), not at its timeout; a child that
 * still runs is waited for. */
static void wait_guest_child_ended(void **state)
{
  static const char *const exit3[] = {"/bin/sh", "-c", "exit 3", NULL};
  static const char *const sleeper[] = {"/bin/sleep", "30", NULL};
  const int64_t bound = (int64_t)(4 * LIVENESS_MS + 500) * t_time_scale() * MS;
  shmipc_host *h = anon_host(0);
  shmipc_child *c;
  char pid[32];
  int64_t t0, took;

  (void)state;
  /* Before any launch: a plain timeout. */
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_wait_guest(h, 100 * MS), SHMIPC_E_TIMEOUT);
  assert_true(t_now_ns() - t0 >= 100 * MS);

  /* A guest that exits without attaching. */
  c = launch_argv(h, exit3, NULL, NULL, SHMIPC_OK);
  snprintf(pid, sizeof pid, "pid %lld", (long long)shmipc_child_pid(c));
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_wait_guest(h, 10000 * MS), SHMIPC_E_PEER_GONE);
  took = t_now_ns() - t0;
  print_message("wait_guest: PEER_GONE %.1f ms after the launch of a guest "
                "that exits at once: %s\n",
                t_ms(took), shmipc_last_error());
  if (took > bound)
    fail_msg("PEER_GONE took %.1f ms, liveness interval %d ms", t_ms(took),
             LIVENESS_MS);
  assert_non_null(strstr(shmipc_last_error(), pid));
  exit_is(c, 0, 3, 5000);
  shmipc_child_destroy(c);
  /* Reaped and freed, it is still the last one launched. */
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_wait_guest(h, 10000 * MS), SHMIPC_E_PEER_GONE);
  assert_true(t_now_ns() - t0 <= bound);

  /* A child that runs: the wait goes to its timeout; its kill ends the
   * next one. */
  c = launch_argv(h, sleeper, NULL, NULL, SHMIPC_OK);
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_wait_guest(h, 300 * MS), SHMIPC_E_TIMEOUT);
  assert_true(t_now_ns() - t0 >= 300 * MS);
  assert_non_null(strstr(shmipc_last_error(), "no guest attached in time"));
  assert_int_equal(shmipc_child_kill(c), SHMIPC_OK);
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_wait_guest(h, 10000 * MS), SHMIPC_E_PEER_GONE);
  took = t_now_ns() - t0;
  print_message("wait_guest: PEER_GONE %.1f ms after the kill of a child "
                "that never attached\n",
                t_ms(took));
  if (took > bound)
    fail_msg("PEER_GONE took %.1f ms after the kill", t_ms(took));
  exit_is(c, SIGKILL, 0, 5000);
  shmipc_child_destroy(c);
  shmipc_host_destroy(h);
}

/* A guest started by anything but a launching host gets a clear error:
 * the C API, and each echo guest run by hand. */
static void not_launched(void **state)
{
  const char *guest = *state;
  const char *argv[] = {guest, "-inherited", NULL};
  struct proc_status st;
  shmipc_guest_config gc;
  shmipc_guest *g = (shmipc_guest *)&gc;
  struct proc p;
  char num[16];
  int mfd;

  unsetenv(SHMIPC_ENV_FD);
  shmipc_guest_config_init(&gc);
  gc.flags = SHMIPC_GUEST_F_INHERITED;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_E_NOT_FOUND);
  assert_null(g);
  assert_non_null(strstr(shmipc_last_error(), "SHMIPC_FD is not set"));
  gc.name = "x";
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_E_INVALID);

  memset(&p, 0, sizeof p);
  assert_int_equal(proc_spawn(&p, argv, PROC_CAPTURE), 0);
  assert_int_equal(proc_wait(&p, 10000, &st), 0);
  assert_true(st.exited && st.code == 1);
  if (strstr(proc_stderr(&p), "SHMIPC_FD is not set") == NULL)
    fail_msg("%s said: %s", guest, proc_stderr(&p));
  proc_reap(&p);

  /* a descriptor that is no memfd, and a memfd without the seals */
  setenv(SHMIPC_ENV_FD, "0", 1);
  memset(&p, 0, sizeof p);
  assert_int_equal(proc_spawn(&p, argv, PROC_CAPTURE), 0);
  assert_int_equal(proc_wait(&p, 10000, &st), 0);
  assert_true(st.exited && st.code == 1);
  if (strstr(proc_stderr(&p), "is not a memfd") == NULL)
    fail_msg("%s said: %s", guest, proc_stderr(&p));
  proc_reap(&p);
  mfd = memfd_create("unsealed", MFD_ALLOW_SEALING); /* inherited */
  assert_true(mfd >= 0);
  assert_int_equal(ftruncate(mfd, 1 << 20), 0);
  snprintf(num, sizeof num, "%d", mfd);
  setenv(SHMIPC_ENV_FD, num, 1);
  memset(&p, 0, sizeof p);
  assert_int_equal(proc_spawn(&p, argv, PROC_CAPTURE), 0);
  assert_int_equal(proc_wait(&p, 10000, &st), 0);
  assert_true(st.exited && st.code == 1);
  if (strstr(proc_stderr(&p), "lack") == NULL)
    fail_msg("%s said: %s", guest, proc_stderr(&p));
  proc_reap(&p);
  close(mfd);
  unsetenv(SHMIPC_ENV_FD);
}

/* The kernel's tmpfs under a memfd has no size of its own: a segment
 * larger than the memory there is fails at create, at once. */
static void anonymous_too_big(void **state)
{
  shmipc_host_config cfg;
  shmipc_host *h = (shmipc_host *)&cfg;
  int64_t t0;

  (void)state;
  shmipc_host_config_init(&cfg);
  cfg.host_slots = 1024;
  cfg.req_capacity = 1u << 30; /* 1 TiB */
  cfg.resp_capacity = 64;
  t0 = t_now_ns();
  assert_int_equal(shmipc_host_create_anonymous(&cfg, &h), SHMIPC_E_NOMEM);
  assert_null(h);
  assert_true(t_now_ns() - t0 < 2000 * MS * t_time_scale());
  if (strstr(shmipc_last_error(), "exceeds") == NULL)
    fail_msg("text: %s", shmipc_last_error());
  print_message("%s\n", shmipc_last_error());
}

/* This process's memory cgroup directory (v1 or v2), or "" when none is
 * writable. */
static void own_memory_cgroup(char *dir, size_t len)
{
  char line[256];
  FILE *f = fopen("/proc/self/cgroup", "r");

  dir[0] = '\0';
  while (f != NULL && fgets(line, sizeof line, f) != NULL) {
    char *nl = strchr(line, '\n');
    if (nl != NULL)
      *nl = '\0';
    if (strstr(line, ":memory:") != NULL)
      snprintf(dir, len, "/sys/fs/cgroup/memory%s",
               strstr(line, ":memory:") + 8);
    else if (strncmp(line, "0::", 3) == 0 && dir[0] == '\0' &&
             access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
      snprintf(dir, len, "/sys/fs/cgroup%s", line + 3);
  }
  if (f != NULL)
    fclose(f);
  if (dir[0] != '\0' && access(dir, W_OK) != 0)
    dir[0] = '\0';
}

static int write_file(const char *dir, const char *file, const char *v)
{
  char p[700];
  int fd, ok;

  snprintf(p, sizeof p, "%s/%s", dir, file);
  fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ok = write(fd, v, strlen(v)) == (ssize_t)strlen(v);
  close(fd);
  return ok ? 0 : -1;
}

/* A launcher's memfd under a 64 MiB memory cgroup: 128 MiB fails at
 * create with NOMEM, 16 MiB works (in a child moved into the cgroup). */
static void anonymous_in_memory_cgroup(void **state)
{
  char own[512], dir[600];
  struct proc_status st;
  struct proc p;
  int v2, r;

  (void)state;
  own_memory_cgroup(own, sizeof own);
  if (own[0] == '\0') {
    if (t_strict())
      fail_msg("no writable memory cgroup to test the memfd's limit in");
    print_message("no writable memory cgroup: not tried\n");
    return;
  }
  v2 = strncmp(own, "/sys/fs/cgroup/memory", 21) != 0;
  snprintf(dir, sizeof dir, "%s/shmipc-launch-%ld", own, (long)getpid());
  if (mkdir(dir, 0755) != 0)
    fail_msg("mkdir %s: %s", dir, strerror(errno));
  if (write_file(dir, v2 ? "memory.max" : "memory.limit_in_bytes",
                 "67108864") != 0) {
    rmdir(dir);
    fail_msg("setting the limit of %s: %s", dir, strerror(errno));
  }
  memset(&p, 0, sizeof p);
  r = proc_fork(&p);
  if (r == 0) {
    shmipc_host_config cfg;
    shmipc_host *h = NULL;
    if (write_file(dir, "cgroup.procs", "0") != 0)
      _exit(10);
    shmipc_host_config_init(&cfg);
    cfg.host_slots = 1;
    cfg.req_capacity = 64u << 20;
    cfg.resp_capacity = 64u << 20;
    if (shmipc_host_create_anonymous(&cfg, &h) != SHMIPC_E_NOMEM) {
      fprintf(stderr, "128 MiB in 64 MiB: %s\n", shmipc_last_error());
      _exit(11);
    }
    fprintf(stderr, "%s\n", shmipc_last_error());
    cfg.req_capacity = 8u << 20;
    cfg.resp_capacity = 8u << 20;
    if (shmipc_host_create_anonymous(&cfg, &h) != SHMIPC_OK) {
      fprintf(stderr, "16 MiB in 64 MiB: %s\n", shmipc_last_error());
      _exit(12);
    }
    shmipc_host_destroy(h);
    _exit(0);
  }
  assert_int_equal(r, 1);
  r = proc_wait(&p, 30000, &st);
  proc_reap(&p);
  rmdir(dir);
  assert_int_equal(r, 0);
  if (!st.exited || st.code != 0)
    fail_msg("the child in the 64 MiB cgroup ended with %s %d",
             st.exited ? "code" : "signal", st.code);
}

static int cmp64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The host process SIGKILLed: its launched child is gone within a bound.
 * A guest would also see the host's liveness lock go and end by itself
 * (within about a liveness interval); a program that is no guest at all
 * (sleep) shows that the kernel kills the child (PR_SET_PDEATHSIG). */
static void host_killed_run(const char *guest, const char *how)
{
  const char *argv[] = {self_path, "--host", guest, how, NULL};
  int64_t took[ROUNDS], t0, bound = 1000 * MS * t_time_scale();
  struct pollfd pf;
  struct proc p;
  char line[64];
  int round, pidfd, r;
  long child;

  for (round = 0; round < ROUNDS; round++) {
    memset(&p, 0, sizeof p);
    assert_int_equal(proc_spawn(&p, argv, PROC_CAPTURE), 0);
    /* The guest shares the host's stdout: skip its "ready". Wait longer
     * than the host's own bounded waits (exec 10 s, attach 10 s), so that
     * a host that fails says why. */
    child = 0;
    line[0] = '\0';
    t0 = t_now_ns();
    while (child == 0 &&
           proc_read_line(&p, line, sizeof line, 25000 * t_time_scale()))
      if (sscanf(line, "child %ld", &child) != 1)
        child = 0;
    if (child == 0)
      fail_msg("round %d: no child pid from the launching host after %.0f ms "
               "(last line \"%s\", stderr \"%s\")",
               round, t_ms(t_now_ns() - t0), line, proc_stderr(&p));
    pidfd = sys_pidfd_open((pid_t)child);
    if (pidfd < 0)
      fail_msg("pidfd_open(%ld): %s", child, strerror(errno));
    t0 = t_now_ns();
    proc_kill(&p);
    pf.fd = pidfd;
    pf.events = POLLIN;
    pf.revents = 0;
    do
      r = poll(&pf, 1, (int)(bound / MS));
    while (r < 0 && errno == EINTR);
    took[round] = t_now_ns() - t0;
    close(pidfd);
    proc_reap(&p);
    /* the orphan is ours to reap (PR_SET_CHILD_SUBREAPER) */
    (void)waitpid((pid_t)child, NULL, 0);
    if (r != 1)
      fail_msg("round %d: child %ld still runs %.0f ms after the host's "
               "SIGKILL",
               round, child, t_ms(took[round]));
  }
  qsort(took, ROUNDS, sizeof took[0], cmp64);
  print_message("%s: child gone after the host's SIGKILL: median %.3f ms, "
                "worst %.3f ms of %d\n",
                base(guest), t_ms(took[ROUNDS / 2]), t_ms(took[ROUNDS - 1]),
                ROUNDS);
}

static void host_killed(void **state) { host_killed_run(*state, "guest"); }

static void host_killed_not_guest(void **state)
{
  (void)state;
  host_killed_run("/bin/sleep", "60");
}

/* --host PROGRAM ARG: launch PROGRAM ARG ("guest": an echo guest, with
 * -inherited), print its pid, wait to be killed (60 s). */
static int launching_host(const char *guest, const char *arg)
{
  shmipc_host_config cfg;
  shmipc_launch_config lc;
  const char *argv[] = {guest, strcmp(arg, "guest") == 0 ? "-inherited" : arg,
                        NULL};
  bool is_guest = strcmp(arg, "guest") == 0;
  shmipc_host *h = NULL;
  shmipc_child *c = NULL;

  shmipc_host_config_init(&cfg);
  if (shmipc_host_create_anonymous(&cfg, &h) != SHMIPC_OK)
    goto fail;
  shmipc_launch_config_init(&lc);
  lc.path = guest;
  lc.argv = argv;
  if (shmipc_host_launch(h, &lc, &c) != SHMIPC_OK ||
      (is_guest && shmipc_host_wait_guest(h, 10000 * MS) != SHMIPC_OK))
    goto fail;
  printf("child %lld\n", (long long)shmipc_child_pid(c));
  fflush(stdout);
  t_sleep_ms(60000);
  return 1;
fail:
  fprintf(stderr, "launching host: %s\n", shmipc_last_error());
  return 1;
}

static int teardown(void **state)
{
  (void)state;
  proc_reap_all();
  unsetenv(SHMIPC_ENV_FD);
  return 0;
}

int main(int argc, char **argv)
{
  struct CMUnitTest tests[5 + 4 * MAX_GUESTS];
  static char titles[4 * MAX_GUESTS][128];
  static const struct {
    const char *name;
    void (*fn)(void **);
  } per_guest[] = {{"launch_calls", launch_calls},
                   {"killed_child_restart", killed_child_restart},
                   {"not_launched", not_launched},
                   {"host_killed", host_killed}};
  size_t n = 0, i;
  char why[256];
  int k;

  if (argc == 4 && strcmp(argv[1], "--host") == 0)
    return launching_host(argv[2], argv[3]);
  if (argc < 2 || argc > 1 + MAX_GUESTS) {
    fprintf(stderr, "usage: %s GUEST...\n", argv[0]);
    return 2;
  }
  if (proc_self_path(self_path, sizeof self_path) != 0)
    return t_cannot_run("cannot find this program's own path");
  tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(
      exit_status_and_errors, teardown);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(
      host_killed_not_guest, teardown);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(
      wait_guest_child_ended, teardown);
  tests[n++] =
      (struct CMUnitTest)cmocka_unit_test_teardown(anonymous_too_big, teardown);
  tests[n++] = (struct CMUnitTest)cmocka_unit_test_teardown(
      anonymous_in_memory_cgroup, teardown);
  for (k = 1; k < argc; k++) {
    if (!proc_executable(argv[k])) {
      snprintf(why, sizeof why, "guest binary %s not found", argv[k]);
      return t_cannot_run("%s", why);
    }
    guests[k - 1] = argv[k];
    for (i = 0; i < sizeof per_guest / sizeof per_guest[0]; i++) {
      char *t = titles[n - 5];
      snprintf(t, sizeof titles[0], "%s %s", per_guest[i].name, base(argv[k]));
      tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
          per_guest[i].fn, NULL, teardown, (void *)guests[k - 1]);
      tests[n++].name = t;
    }
  }
  /* Orphaned children of the killed hosts come to us, to be reaped. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  return _cmocka_run_group_tests("launch", tests, n, NULL, NULL);
}
