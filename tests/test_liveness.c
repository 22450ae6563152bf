/* SPDX-License-Identifier: MIT */
/*
 * Liveness, crash recovery and access control across processes
 * (docs/PROTOCOL.md: "Liveness locks", "Attach", "Timeouts and quarantine",
 * "Names and files").
 *
 *   test-liveness GUEST CRASH_HOST PROBE [liveness|access]
 *
 * GUEST is an echo guest (tests/ECHO_GUEST.md: the C one or the Go one),
 * CRASH_HOST is tests/crash_host.c, PROBE is tests/attach_probe.c. The
 * "liveness" group (the default) kills guests and hosts with SIGKILL and
 * checks recovery; the "access" group runs guests as another user (uid
 * 65534) and needs root: without it, or with a binary missing, the test
 * cannot run (tests/common/strict.h: a skip, or a failure under
 * strict_tests).
 *
 * Every wait is bounded and says what it waited for; every child process
 * is killed and reaped on every path (the teardown kills what a failed
 * test left), and also dies with this process (PR_SET_PDEATHSIG). Segment
 * names are unique: liveness-PID-N.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmipc/shmipc.h>

#include "strict.h"

#define MS INT64_C(1000000)
#define CAP 4096u
#define NOBODY 65534
/* The guests' and the hosts' default liveness interval is 50 ms: a peer's
 * death must be noticed well within this. */
#define DETECT_BOUND_MS 200
/* However loaded the machine, never more than this. */
#define HARD_BOUND_MS 2000

static const char *guest_path, *crash_host_path, *probe_path;
static const char *guest_label; /* basename of guest_path, for messages */
static int name_counter;

/* ------------------------------------------------------------------ */
/* Time, names, segment files */

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double ms_of(int64_t ns)
{
  return (double)ns / 1e6;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static void new_name(char *buf, size_t len)
{
  snprintf(buf, len, "liveness-%d-%d", (int)getpid(), name_counter++);
}

static void seg_file(const char *name, char *buf, size_t len)
{
  snprintf(buf, len, "/dev/shm/shmipc-%s", name);
}

/* 1 if the segment file of @name exists (its stat in @st if not NULL). */
static int seg_exists(const char *name, struct stat *st)
{
  char path[128];
  struct stat tmp;

  seg_file(name, path, sizeof path);
  return stat(path, st != NULL ? st : &tmp) == 0;
}

/* Segment files of this test process in /dev/shm (names liveness-PID-*). */
static int our_segments(char *list, size_t len)
{
  char prefix[64];
  DIR *d = opendir("/dev/shm");
  struct dirent *e;
  int n = 0;

  if (list != NULL && len > 0)
    list[0] = '\0';
  if (d == NULL)
    return 0;
  snprintf(prefix, sizeof prefix, "shmipc-liveness-%d-", (int)getpid());
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
      continue;
    n++;
    if (list != NULL && strlen(list) + strlen(e->d_name) + 2 < len) {
      strcat(list, " ");
      strcat(list, e->d_name);
    }
  }
  closedir(d);
  return n;
}

static void assert_no_segments(const char *when)
{
  char list[512];
  int n = our_segments(list, sizeof list);

  if (n != 0)
    fail_msg("%d segment file(s) left in /dev/shm %s:%s", n, when, list);
}

/* ------------------------------------------------------------------ */
/* Child processes */

#define MAX_KIDS 64
static pid_t kids[MAX_KIDS];

static void kid_add(pid_t pid)
{
  int i;

  for (i = 0; i < MAX_KIDS; i++)
    if (kids[i] == 0) {
      kids[i] = pid;
      return;
    }
}

static void kid_del(pid_t pid)
{
  int i;

  for (i = 0; i < MAX_KIDS; i++)
    if (kids[i] == pid)
      kids[i] = 0;
}

struct child {
  pid_t pid;
  int out; /* read end of its stdout */
  int err; /* read end of its stderr */
  char errtext[2048];
};

static void child_write(const char *s)
{
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

/* Start argv[0] with stdout and stderr on pipes, optionally as uid/gid
 * 65534 with no supplementary groups. Only async-signal-safe calls between
 * fork and exec: the caller may have threads. */
static void spawn(struct child *c, bool as_nobody, char *const argv[])
{
  pid_t parent = getpid();
  int out[2], err[2];

  memset(c, 0, sizeof *c);
  assert_int_equal(pipe2(out, O_CLOEXEC), 0);
  assert_int_equal(pipe2(err, O_CLOEXEC), 0);
  c->pid = fork();
  assert_true(c->pid >= 0);
  if (c->pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (as_nobody) {
      gid_t gid = NOBODY;
      if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
          setresuid(NOBODY, NOBODY, NOBODY) != 0) {
        child_write("spawn: cannot switch to uid 65534\n");
        _exit(126);
      }
    }
    /* After the uid change, which clears it. The check closes the race
     * with a parent that died before the prctl. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(125);
    execv(argv[0], argv);
    child_write("spawn: exec failed: ");
    child_write(argv[0]);
    child_write("\n");
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  c->out = out[0];
  c->err = err[0];
  kid_add(c->pid);
}

/* Read what the child wrote on stderr until EOF or @ms (for messages). */
static const char *child_stderr(struct child *c, int ms)
{
  size_t n = strlen(c->errtext);
  int64_t deadline = now_ns() + ms * MS;

  while (c->err >= 0 && n + 1 < sizeof c->errtext) {
    struct pollfd p = {c->err, POLLIN, 0};
    int64_t left = (deadline - now_ns()) / MS;
    ssize_t k;

    if (left < 0 || poll(&p, 1, (int)left) <= 0)
      break;
    k = read(c->err, c->errtext + n, sizeof c->errtext - 1 - n);
    if (k <= 0)
      break;
    n += (size_t)k;
    c->errtext[n] = '\0';
  }
  return c->errtext;
}

/* Read one line of the child's stdout within @ms; false on timeout/EOF. */
static bool read_line(struct child *c, char *buf, size_t len, int ms)
{
  int64_t deadline = now_ns() + ms * MS;
  size_t n = 0;

  while (n + 1 < len) {
    struct pollfd p = {c->out, POLLIN, 0};
    int64_t left = (deadline - now_ns()) / MS;
    char ch;

    if (left < 0)
      left = 0;
    if (poll(&p, 1, (int)left) <= 0)
      break;
    if (read(c->out, &ch, 1) != 1)
      break;
    if (ch == '\n') {
      buf[n] = '\0';
      return true;
    }
    buf[n++] = ch;
  }
  buf[n] = '\0';
  return false;
}

/* Wait for a stdout line starting with @prefix; fail with what the child
 * said otherwise. */
static void expect_line(struct child *c, const char *who, const char *prefix,
                        int ms)
{
  char line[256];
  int64_t deadline = now_ns() + ms * MS;

  for (;;) {
    int left = (int)((deadline - now_ns()) / MS);
    if (left < 0 || !read_line(c, line, sizeof line, left))
      fail_msg("%s (pid %d) did not print \"%s\" within %d ms; stderr: %s", who,
               (int)c->pid, prefix, ms, child_stderr(c, 200));
    if (strncmp(line, prefix, strlen(prefix)) == 0)
      return;
  }
}

/* Wait up to @ms for the child to end. Returns true with its wait status
 * and the time it was seen gone, false if it still runs. */
static bool wait_exit(pid_t pid, int ms, int *status, int64_t *when)
{
  int64_t deadline = now_ns() + ms * MS;
  int st;

  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (when != NULL)
        *when = now_ns();
      if (status != NULL)
        *status = st;
      kid_del(pid);
      return true;
    }
    if (r < 0 && errno != EINTR) {
      kid_del(pid);
      if (status != NULL)
        *status = -1;
      return true;
    }
    if (now_ns() >= deadline)
      return false;
    usleep(200);
  }
}

static void kill_reap(pid_t pid)
{
  if (pid <= 0)
    return;
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  kid_del(pid);
}

static void child_close(struct child *c)
{
  if (c->out >= 0)
    close(c->out);
  if (c->err >= 0)
    close(c->err);
  c->out = c->err = -1;
}

static void describe_status(int st, char *buf, size_t len)
{
  if (st == -1)
    snprintf(buf, len, "unknown");
  else if (WIFEXITED(st))
    snprintf(buf, len, "exit %d", WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    snprintf(buf, len, "signal %d", WTERMSIG(st));
  else
    snprintf(buf, len, "status %#x", st);
}

/* The child must end with exit status @code within @ms. */
static void expect_exit(struct child *c, const char *who, int code, int ms)
{
  char how[32];
  int st;

  if (!wait_exit(c->pid, ms, &st, NULL)) {
    kill_reap(c->pid);
    fail_msg("%s (pid %d) still ran %d ms after it should have ended; "
             "stderr: %s",
             who, (int)c->pid, ms, child_stderr(c, 100));
  }
  describe_status(st, how, sizeof how);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != code)
    fail_msg("%s ended with %s, expected exit %d; stderr: %s", who, how, code,
             child_stderr(c, 500));
}

static void spawn_guest(struct child *c, const char *name, bool as_nobody,
                        int timeout_ms)
{
  char ms[16];
  char *argv[] = {(char *)guest_path, "-name", (char *)name, "-timeout-ms", ms,
                  NULL};

  snprintf(ms, sizeof ms, "%d", timeout_ms);
  spawn(c, as_nobody, argv);
}

/* ------------------------------------------------------------------ */
/* Hosts in this process */

#define MAX_HOSTS 8
static shmipc_host *hosts[MAX_HOSTS];

static shmipc_host *host_new(const char *name, uint32_t slots, uint32_t mode)
{
  shmipc_host_config c;
  shmipc_host *h = NULL;
  int r, i;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = slots;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  c.mode = mode;
  r = shmipc_host_create(&c, &h);
  if (r != SHMIPC_OK)
    fail_msg("shmipc_host_create(%s, mode %o): %s", name, mode,
             shmipc_strerror(r));
  for (i = 0; i < MAX_HOSTS; i++)
    if (hosts[i] == NULL) {
      hosts[i] = h;
      break;
    }
  return h;
}

static void host_free(shmipc_host *h)
{
  int i;

  for (i = 0; i < MAX_HOSTS; i++)
    if (hosts[i] == h)
      hosts[i] = NULL;
  shmipc_host_destroy(h);
}

static int host_try(const char *name, shmipc_host **out)
{
  shmipc_host_config c;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 1;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  return shmipc_host_create(&c, out);
}

static void wait_guest(shmipc_host *h, struct child *g, const char *name)
{
  int r = shmipc_host_wait_guest(h, 10000 * MS);

  if (r != SHMIPC_OK)
    fail_msg("no guest attached to %s within 10 s (%s); guest stderr: %s",
             name, shmipc_strerror(r), child_stderr(g, 200));
}

static uint64_t rng_next(uint64_t *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* @n echo calls of random sizes, each checked. */
static void echo_calls(shmipc_host *h, int n, uint64_t seed)
{
  static uint8_t req[CAP], resp[CAP];
  uint64_t x = seed | 1;
  int i;

  for (i = 0; i < n; i++) {
    size_t len = (size_t)(rng_next(&x) % (CAP + 1)), got = 0, k;
    uint32_t type = 1000 + (uint32_t)(rng_next(&x) % 1000), t = 0;
    int r;

    for (k = 0; k < len; k++)
      req[k] = (uint8_t)rng_next(&x);
    r = shmipc_host_call(h, type, req, len, resp, sizeof resp, &got, &t,
                         5000 * MS);
    if (r != SHMIPC_OK)
      fail_msg("echo call %d of %d: %s", i, n, shmipc_strerror(r));
    if (got != len || t != type || memcmp(req, resp, len) != 0)
      fail_msg("echo call %d: wrong response (len %zu/%zu, type %u/%u)", i,
               got, len, t, type);
  }
}

/* Hold every host slot at once, with a call in flight on each: shows that
 * none is lost or still quarantined. Returns false with a message in @err
 * (it never fails the test itself: callers may have threads to stop). */
static bool slots_check(shmipc_host *h, uint32_t n, const char *when,
                        char *err, size_t errlen)
{
  shmipc_slot *s[64];
  uint32_t i, held = 0;
  bool ok = false;
  int r;

  if (n > 64) {
    snprintf(err, errlen, "%s: too many slots", when);
    return false;
  }
  for (held = 0; held < n; held++) {
    r = shmipc_slot_acquire(h, 3000 * MS, &s[held]);
    if (r != SHMIPC_OK) {
      snprintf(err, errlen, "%s: only %u of %u host slots could be acquired "
                            "(%s)",
               when, held, n, shmipc_strerror(r));
      goto out;
    }
  }
  for (i = 0; i < n; i++) {
    int len = snprintf(shmipc_slot_req_buf(s[i]), CAP, "slot-check %u", i);
    r = shmipc_slot_publish(s[i], 150, (size_t)len, 0);
    if (r != SHMIPC_OK) {
      snprintf(err, errlen, "%s: publish on slot %u: %s", when, i,
               shmipc_strerror(r));
      goto out;
    }
  }
  for (i = 0; i < n; i++) {
    char want[32];
    int len = snprintf(want, sizeof want, "slot-check %u", i);
    r = shmipc_slot_wait(s[i], 5000 * MS);
    if (r != SHMIPC_OK) {
      snprintf(err, errlen, "%s: call on slot %u of %u: %s", when, i, n,
               shmipc_strerror(r));
      goto out;
    }
    if (shmipc_slot_resp_size(s[i]) != (size_t)len ||
        memcmp(shmipc_slot_resp_data(s[i]), want, (size_t)len) != 0) {
      snprintf(err, errlen, "%s: slot %u answered with the wrong bytes", when,
               i);
      goto out;
    }
  }
  ok = true;
out:
  for (i = 0; i < held; i++)
    shmipc_slot_release(s[i]);
  return ok;
}

static void all_slots_usable(shmipc_host *h, uint32_t n, const char *when)
{
  char err[256];

  if (!slots_check(h, n, when, err, sizeof err))
    fail_msg("%s", err);
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

  return x < y ? -1 : x > y;
}

static void stats(int64_t *v, int n, double *median, double *worst)
{
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  *median = n % 2 ? ms_of(v[n / 2]) : (ms_of(v[n / 2 - 1]) + ms_of(v[n / 2])) / 2;
  *worst = ms_of(v[n - 1]);
}

/* ------------------------------------------------------------------ */
/* 1. Guest killed mid-traffic */

enum { K_SLOTS = 8, K_WORKERS = 4, K_ROUNDS = 20, K_AFTER_DEAD = 3 };

struct kill_run {
  shmipc_host *h;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int round; /* set by main: the round to run, -1 to exit */
  int done;  /* threads finished with the round */
  atomic_llong t_kill;  /* when the kill was sent (0: not yet) */
  atomic_llong t_dead;  /* when the guest was reaped (0: not yet) */
  atomic_llong pending_max; /* kill -> PEER_GONE of calls in flight at the kill */
  atomic_llong pending_min;
  atomic_int pending_n;
  atomic_llong pending_after_death; /* reap -> PEER_GONE of those calls */
  atomic_llong later_max; /* start -> PEER_GONE of calls started after the kill */
  atomic_int later_n;
  atomic_int delay_started;
  atomic_int oks;
  atomic_int nerr;
  char err[512];
};

struct kill_worker {
  struct kill_run *k;
  int id;
};

static void kr_error(struct kill_run *k, const char *fmt, ...)
{
  va_list ap;

  pthread_mutex_lock(&k->mu);
  if (atomic_fetch_add(&k->nerr, 1) == 0) {
    va_start(ap, fmt);
    vsnprintf(k->err, sizeof k->err, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&k->mu);
}

static void atomic_max(atomic_llong *a, int64_t v)
{
  long long cur = atomic_load(a);

  while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
    ;
}

static void atomic_min(atomic_llong *a, int64_t v)
{
  long long cur = atomic_load(a);

  while (cur > v && !atomic_compare_exchange_weak(a, &cur, v))
    ;
}

/* A call ended with PEER_GONE at @t1; it started at @t0. */
static void note_gone(struct kill_run *k, int id, int64_t t0, int64_t t1)
{
  int64_t tk = atomic_load(&k->t_kill), td = atomic_load(&k->t_dead);

  if (tk == 0) {
    kr_error(k, "thread %d: PEER_GONE before the guest was killed", id);
  } else if (t0 < tk) {
    /* In flight when the kill was sent: fails within the bound of the
     * kill - or, when the kernel itself took longer to end the process
     * (seen on a loaded machine), within the bound of its end, seen as
     * the reap (td == 0 or td > t1: it failed before the reap was seen). */
    int64_t since_death = td != 0 && t1 > td ? t1 - td : 0;
    atomic_max(&k->pending_max, t1 - tk);
    atomic_min(&k->pending_min, t1 - tk);
    atomic_max(&k->pending_after_death, since_death);
    atomic_fetch_add(&k->pending_n, 1);
    if (t1 - tk >= HARD_BOUND_MS * MS ||
        (t1 - tk >= DETECT_BOUND_MS * MS && since_death >= DETECT_BOUND_MS * MS))
      kr_error(k, "thread %d: a call pending at the kill took %.1f ms after "
                  "the kill to fail (bound %d ms; guest reaped %.1f ms after "
                  "the kill%s)",
               id, ms_of(t1 - tk), DETECT_BOUND_MS,
               td ? ms_of(td - tk) : ms_of(t1 - tk), td ? "" : " or later");
  } else {
    /* Started after the kill: it must fail within the bound of the later
     * of its start and the guest's death (seen as the reap). One that
     * ended before the reap was seen has not waited for a dead guest. */
    int64_t from = td != 0 && td > t0 ? td : t0;
    int64_t lat = td != 0 ? t1 - from : 0;
    atomic_max(&k->later_max, lat);
    atomic_fetch_add(&k->later_n, 1);
    if (lat >= DETECT_BOUND_MS * MS || t1 - t0 >= HARD_BOUND_MS * MS)
      kr_error(k, "thread %d: a call started %.1f ms after the kill took %.1f "
                  "ms to fail, %.1f ms after the guest was reaped (%.1f ms "
                  "after the kill); bound %d ms",
               id, ms_of(t0 - tk), ms_of(t1 - t0), ms_of(lat),
               ms_of(td - tk), DETECT_BOUND_MS);
  }
}

/* One echo call, copying or zero-copy (start- or end-aligned). Requests
 * carry the thread, round and call number, so a response meant for
 * another call never matches. */
static int traffic_call(shmipc_host *h, uint64_t *x, int id, int round, int i,
                        bool *right)
{
  static _Thread_local uint8_t req[CAP], resp[CAP];
  size_t len = 16 + (size_t)(rng_next(x) % (CAP - 15)), n = 0, k;
  uint32_t type = 1000 + (uint32_t)(rng_next(x) % 100000), t = 0;
  int r;

  memcpy(req, &id, 4);
  memcpy(req + 4, &round, 4);
  memcpy(req + 8, &i, 4);
  for (k = 12; k < len; k++)
    req[k] = (uint8_t)rng_next(x);
  if (i % 3 == 0) {
    r = shmipc_host_call(h, type, req, len, resp, sizeof resp, &n, &t,
                         5000 * MS);
  } else {
    shmipc_slot *s;
    bool end = i % 3 == 2;
    r = shmipc_slot_acquire(h, 5000 * MS, &s);
    if (r != SHMIPC_OK)
      return r;
    uint8_t *buf = shmipc_slot_req_buf(s);
    memcpy(end ? buf + CAP - len : buf, req, len);
    r = shmipc_slot_send(s, type, len, end ? SHMIPC_F_END_ALIGNED : 0,
                         5000 * MS);
    if (r == SHMIPC_OK) {
      n = shmipc_slot_resp_size(s);
      t = shmipc_slot_resp_type(s);
      memcpy(resp, shmipc_slot_resp_data(s), n <= CAP ? n : CAP);
    }
    shmipc_slot_release(s);
  }
  *right = r == SHMIPC_OK && n == len && t == type && memcmp(req, resp, len) == 0;
  return r;
}

static void traffic_round(struct kill_run *k, int id, int round)
{
  uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1) + (uint64_t)round;
  int after_dead = 0, i;

  for (i = 0;; i++) {
    int64_t td0 = atomic_load(&k->t_dead), tk0 = atomic_load(&k->t_kill);
    int64_t t0 = now_ns(), t1;
    bool right = false;
    int r;

    if (tk0 != 0 && t0 - tk0 > 5000 * MS) {
      kr_error(k, "thread %d: calls still do not fail 5 s after the kill", id);
      return;
    }
    r = traffic_call(k->h, &x, id, round, i, &right);
    t1 = now_ns();
    if (r == SHMIPC_OK) {
      if (!right) {
        kr_error(k, "thread %d round %d call %d: WRONG RESPONSE", id, round, i);
        return;
      }
      if (td0 != 0) {
        kr_error(k, "thread %d: a call started after the dead guest was "
                    "reaped returned OK",
                 id);
        return;
      }
      atomic_fetch_add(&k->oks, 1);
    } else if (r == SHMIPC_E_PEER_GONE) {
      note_gone(k, id, t0, t1);
      if (td0 != 0 && ++after_dead >= K_AFTER_DEAD)
        return;
    } else {
      kr_error(k, "thread %d round %d call %d: unexpected %s", id, round, i,
               shmipc_strerror(r));
      return;
    }
    if (atomic_load(&k->nerr) != 0)
      return;
  }
}

/* One call quarantined by a timeout, then one held in PROCESSING (the
 * guest sleeps in the handler) until the guest dies. */
static void delay_round(struct kill_run *k, int id)
{
  uint8_t req[8], resp[16];
  uint32_t ms = 5000;
  int64_t t0, t1;
  int r;

  memcpy(req, &ms, 4);
  memcpy(req + 4, "late", 4);
  r = shmipc_host_call(k->h, 201, req, 8, resp, sizeof resp, NULL, NULL,
                       50 * MS);
  if (r != SHMIPC_E_TIMEOUT) {
    kr_error(k, "delayed call with a 50 ms timeout: %s, expected TIMEOUT",
             shmipc_strerror(r));
    atomic_store(&k->delay_started, 1);
    return;
  }
  ms = 10000;
  memcpy(req, &ms, 4);
  atomic_store(&k->delay_started, 1);
  t0 = now_ns();
  r = shmipc_host_call(k->h, 201, req, 8, resp, sizeof resp, NULL, NULL,
                       20000 * MS);
  t1 = now_ns();
  if (r != SHMIPC_E_PEER_GONE)
    kr_error(k, "call held by the guest: %s, expected PEER_GONE",
             shmipc_strerror(r));
  else
    note_gone(k, id, t0, t1);
}

static void *kill_worker_main(void *arg)
{
  struct kill_worker *w = arg;
  struct kill_run *k = w->k;
  int seen = 0, round;

  for (;;) {
    pthread_mutex_lock(&k->mu);
    while (k->round == seen)
      pthread_cond_wait(&k->cv, &k->mu);
    round = k->round;
    pthread_mutex_unlock(&k->mu);
    if (round < 0)
      break;
    seen = round;
    if (w->id == K_WORKERS)
      delay_round(k, w->id);
    else
      traffic_round(k, w->id, round);
    pthread_mutex_lock(&k->mu);
    k->done++;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
  }
  return NULL;
}

/* Wait (bounded) until every thread finished the round. */
static bool kill_run_wait_done(struct kill_run *k, int ms)
{
  struct timespec ts;
  bool ok = true;

  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&k->mu);
  while (k->done < K_WORKERS + 1 && ok)
    ok = pthread_cond_timedwait(&k->cv, &k->mu, &ts) != ETIMEDOUT ||
         k->done >= K_WORKERS + 1;
  pthread_mutex_unlock(&k->mu);
  return ok;
}

static void guest_killed_mid_traffic(void **state)
{
  static struct kill_run k;
  struct kill_worker w[K_WORKERS + 1];
  pthread_t th[K_WORKERS + 1];
  int64_t detect[K_ROUNDS], first[K_ROUNDS], later[K_ROUNDS], reaped[K_ROUNDS],
      after_death[K_ROUNDS];
  char name[64], err[600] = "";
  struct child g = {.pid = 0, .out = -1, .err = -1};
  unsigned seed = (unsigned)getpid();
  int round, i, st, rounds_done = 0;
  double med, worst, fmed, fworst, lmed, lworst, rmed, rworst, dmed, dworst;

  (void)state;
  new_name(name, sizeof name);
  memset(&k, 0, sizeof k);
  pthread_mutex_init(&k.mu, NULL);
  pthread_cond_init(&k.cv, NULL);
  k.h = host_new(name, K_SLOTS, 0600);
  for (i = 0; i <= K_WORKERS; i++) {
    w[i] = (struct kill_worker){&k, i};
    assert_int_equal(pthread_create(&th[i], NULL, kill_worker_main, &w[i]), 0);
  }

  for (round = 1; round <= K_ROUNDS; round++) {
    int64_t t_kill, t_dead;
    int r;

    spawn_guest(&g, name, false, 10000);
    r = shmipc_host_wait_guest(k.h, 10000 * MS);
    if (r != SHMIPC_OK) {
      snprintf(err, sizeof err, "round %d: no guest attached within 10 s (%s); "
                                "guest stderr: %s",
               round, shmipc_strerror(r), child_stderr(&g, 200));
      break;
    }
    if (round > 1) {
      /* Every slot the dead guest held (in PROCESSING or quarantined by a
       * timeout) is usable again with the new guest. */
      char when[64];
      snprintf(when, sizeof when, "round %d, new guest", round);
      if (!slots_check(k.h, K_SLOTS, when, err, sizeof err))
        break;
    }
    pthread_mutex_lock(&k.mu);
    k.done = 0;
    atomic_store(&k.t_kill, 0);
    atomic_store(&k.t_dead, 0);
    atomic_store(&k.pending_max, 0);
    atomic_store(&k.pending_min, INT64_MAX);
    atomic_store(&k.pending_n, 0);
    atomic_store(&k.pending_after_death, 0);
    atomic_store(&k.later_max, 0);
    atomic_store(&k.later_n, 0);
    atomic_store(&k.delay_started, 0);
    atomic_store(&k.oks, 0);
    k.round = round;
    pthread_cond_broadcast(&k.cv);
    pthread_mutex_unlock(&k.mu);

    for (i = 0; i < 5000 && !atomic_load(&k.delay_started); i++)
      usleep(1000);
    if (!atomic_load(&k.delay_started))
      snprintf(err, sizeof err, "round %d: the delayed call did not start "
                                "within 5 s", round);
    /* let traffic run with one call held by the guest */
    sleep_ms(20 + (int)(rand_r(&seed) % 40));

    t_kill = now_ns();
    atomic_store(&k.t_kill, t_kill);
    kill(g.pid, SIGKILL);
    if (!wait_exit(g.pid, 2000, &st, &t_dead)) {
      kill_reap(g.pid);
      t_dead = now_ns();
      if (err[0] == '\0')
        snprintf(err, sizeof err, "round %d: guest still alive 2 s after "
                                  "SIGKILL", round);
    } else if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
      char how[32];
      describe_status(st, how, sizeof how);
      if (err[0] == '\0')
        snprintf(err, sizeof err, "round %d: guest ended with %s before the "
                                  "kill; stderr: %s",
                 round, how, child_stderr(&g, 200));
    }
    atomic_store(&k.t_dead, t_dead);
    reaped[round - 1] = t_dead - t_kill;
    child_close(&g);
    g.pid = 0; /* reaped: its pid may be reused */

    if (!kill_run_wait_done(&k, 10000)) {
      /* threads never block without a bound; this is a hang */
      snprintf(err, sizeof err, "round %d: calls did not all end within 10 s "
                                "of the kill", round);
      break;
    }
    if (err[0] != '\0')
      break;
    if (atomic_load(&k.nerr) != 0) {
      snprintf(err, sizeof err, "round %d: %s", round, k.err);
      break;
    }
    if (atomic_load(&k.pending_n) == 0 || atomic_load(&k.oks) == 0) {
      snprintf(err, sizeof err, "round %d: %d calls pending at the kill, %d "
                                "answered before it (want both > 0)",
               round, atomic_load(&k.pending_n), atomic_load(&k.oks));
      break;
    }
    detect[round - 1] = atomic_load(&k.pending_max);
    first[round - 1] = atomic_load(&k.pending_min);
    later[round - 1] = atomic_load(&k.later_max);
    after_death[round - 1] = atomic_load(&k.pending_after_death);
    /* The dead guest's ATTACHED word is no guest: waiting finds none. */
    r = shmipc_host_wait_guest(k.h, 0);
    if (r != SHMIPC_E_TIMEOUT) {
      snprintf(err, sizeof err, "round %d: shmipc_host_wait_guest() after the "
                                "guest died: %s, expected TIMEOUT",
               round, shmipc_strerror(r));
      break;
    }
    rounds_done++;
  }

  /* Stop the threads on every path; only then may the test fail. */
  pthread_mutex_lock(&k.mu);
  k.round = -1;
  pthread_cond_broadcast(&k.cv);
  pthread_mutex_unlock(&k.mu);
  if (g.pid > 0) { /* a guest of a round that ended early */
    kill_reap(g.pid);
    child_close(&g);
    g.pid = 0;
  }
  for (i = 0; i <= K_WORKERS; i++)
    pthread_join(th[i], NULL);
  if (err[0] != '\0')
    fail_msg("%s", err);
  assert_int_equal(rounds_done, K_ROUNDS);

  /* A last guest: all slots work, traffic resumes, clean shutdown. */
  spawn_guest(&g, name, false, 10000);
  wait_guest(k.h, &g, name);
  all_slots_usable(k.h, K_SLOTS, "after the last kill");
  echo_calls(k.h, 200, 77);
  host_free(k.h);
  expect_exit(&g, "last guest", 0, 5000);
  child_close(&g);
  assert_false(seg_exists(name, NULL));

  stats(detect, K_ROUNDS, &med, &worst);
  stats(first, K_ROUNDS, &fmed, &fworst);
  stats(later, K_ROUNDS, &lmed, &lworst);
  stats(reaped, K_ROUNDS, &rmed, &rworst);
  stats(after_death, K_ROUNDS, &dmed, &dworst);
  printf("[ MEASURE  ] guest SIGKILL -> every pending call PEER_GONE (%s): "
         "median %.1f ms, worst %.1f ms over %d kills\n",
         guest_label, med, worst, K_ROUNDS);
  printf("[ MEASURE  ]   first pending call PEER_GONE: median %.1f ms, worst "
         "%.1f ms; kill -> guest reaped: median %.1f ms, worst %.1f ms; "
         "reaped -> last pending PEER_GONE: median %.1f ms, worst %.1f ms; "
         "calls started after the kill, from the later of their start and "
         "the reap: worst %.1f ms\n",
         fmed, fworst, rmed, rworst, dmed, dworst, lworst);
  (void)lmed;
  fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* 2. Host killed */

enum { H_ROUNDS = 12 };

static void spawn_crash_host(struct child *c, const char *name,
                             const char *extra1, const char *extra2,
                             bool as_nobody)
{
  char *argv[8];
  int n = 0;

  argv[n++] = (char *)crash_host_path;
  argv[n++] = "-name";
  argv[n++] = (char *)name;
  if (extra1 != NULL)
    argv[n++] = (char *)extra1;
  if (extra2 != NULL)
    argv[n++] = (char *)extra2;
  argv[n] = NULL;
  spawn(c, as_nobody, argv);
}

static void host_killed(void **state)
{
  int64_t exit_ns[H_ROUNDS];
  double med, worst;
  int round;

  (void)state;
  for (round = 0; round < H_ROUNDS; round++) {
    /* variant 0: the new host comes after the old guest left;
     * variant 1: the new host replaces the segment at once, while the old
     *            guest may still be attached to the unlinked one;
     * variant 2: the new guest starts before the new host and waits for it. */
    int variant = round % 3, st;
    bool busy = round % 2 == 1;
    struct child ch, g, g2;
    char name[64], how[32];
    struct stat old_st, new_st;
    shmipc_host *h = NULL;
    int64_t t_kill, t_exit, t_host_dead;

    new_name(name, sizeof name);
    if (busy) {
      char *argv[] = {(char *)crash_host_path, "-name", name, "-calls", "100",
                      "-busy", NULL};
      spawn(&ch, false, argv);
    } else {
      spawn_crash_host(&ch, name, "-calls", "100", false);
    }
    expect_line(&ch, "crash_host", "created", 5000);
    spawn_guest(&g, name, false, 10000);
    expect_line(&ch, "crash_host", "attached", 10000);
    expect_line(&ch, "crash_host", "calls ok", 10000);
    expect_line(&ch, "crash_host", "blocking", 5000);
    expect_line(&g, "guest", "ready", 5000);
    if (busy)
      sleep_ms(20); /* kill it mid-traffic */
    assert_true(seg_exists(name, &old_st));

    t_kill = now_ns();
    kill(ch.pid, SIGKILL);
    if (!wait_exit(ch.pid, 2000, &st, &t_host_dead))
      fail_msg("crash_host still alive 2 s after SIGKILL");
    describe_status(st, how, sizeof how);
    if (!WIFSIGNALED(st))
      fail_msg("crash_host ended with %s before the kill; stderr: %s", how,
               child_stderr(&ch, 200));
    child_close(&ch);
    if (variant == 1)
      h = host_new(name, 2, 0600); /* the stale segment is replaced */

    if (!wait_exit(g.pid, 3000, &st, &t_exit)) {
      kill_reap(g.pid);
      fail_msg("round %d: guest still running 3 s after its host was killed; "
               "stderr: %s",
               round, child_stderr(&g, 200));
    }
    exit_ns[round] = t_exit - t_kill;
    describe_status(st, how, sizeof how);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      fail_msg("round %d: guest ended with %s after its host died (want exit "
               "0); stderr: %s",
               round, how, child_stderr(&g, 200));
    /* < 1 s from the kill, or from the host's end if the kernel took
     * long to end it (a loaded machine); never more than the hard bound */
    if (exit_ns[round] >= HARD_BOUND_MS * MS ||
        (exit_ns[round] >= 1000 * MS && t_exit - t_host_dead >= 1000 * MS))
      fail_msg("round %d: guest took %.1f ms to leave after its host was "
               "killed (host reaped %.1f ms after the kill)",
               round, ms_of(exit_ns[round]), ms_of(t_host_dead - t_kill));
    child_close(&g);

    if (variant != 1) {
      /* the dead host's segment is still there: exactly one file */
      assert_true(seg_exists(name, NULL));
      assert_int_equal(our_segments(NULL, 0), 1);
    }
    if (variant == 2) {
      spawn_guest(&g2, name, false, 10000);
      sleep_ms(150);
      if (wait_exit(g2.pid, 0, &st, NULL)) {
        describe_status(st, how, sizeof how);
        fail_msg("round %d: a guest started before the new host did not wait "
                 "for it: %s; stderr: %s",
                 round, how, child_stderr(&g2, 200));
      }
      h = host_new(name, 2, 0600);
    } else {
      if (h == NULL)
        h = host_new(name, 2, 0600);
      spawn_guest(&g2, name, false, 10000);
    }
    assert_true(seg_exists(name, &new_st));
    assert_true(new_st.st_ino != old_st.st_ino || new_st.st_dev != old_st.st_dev);
    assert_int_equal(our_segments(NULL, 0), 1);
    wait_guest(h, &g2, name);
    echo_calls(h, 50, (uint64_t)round + 1);
    all_slots_usable(h, 2, "new host");
    host_free(h);
    expect_exit(&g2, "guest of the new host", 0, 5000);
    child_close(&g2);
    assert_no_segments("after the new host's clean shutdown");
  }
  stats(exit_ns, H_ROUNDS, &med, &worst);
  printf("[ MEASURE  ] host SIGKILL -> guest exited 0 (%s): median %.1f ms, "
         "worst %.1f ms over %d kills\n",
         guest_label, med, worst, H_ROUNDS);
  fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* 3. A live host's name is taken; one guest at a time */

static void second_host_and_guest_refused(void **state)
{
  struct child ch, ch2, g, g2;
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
  if (strstr(child_stderr(&ch2, 200), "exists") == NULL)
    fail_msg("second crash_host's message does not say the segment exists: %s",
             ch2.errtext);
  child_close(&ch2);

  /* a second guest, here and in another process: refused at once */
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.connect_timeout_ns = 2000 * MS;
  t0 = now_ns();
  r = shmipc_guest_attach(&gc, &guest);
  dt = now_ns() - t0;
  if (r != SHMIPC_E_BUSY)
    fail_msg("second guest attach: %s, expected BUSY", shmipc_strerror(r));
  assert_null(guest);
  assert_true(dt < 1000 * MS);
  t0 = now_ns();
  spawn_guest(&g2, name, false, 5000);
  expect_exit(&g2, "second guest", 1, 4000);
  dt = now_ns() - t0;
  if (strcasestr(child_stderr(&g2, 200), "busy") == NULL &&
      strcasestr(g2.errtext, "another guest") == NULL)
    fail_msg("second guest's message does not say a guest is attached: %s",
             g2.errtext);
  if (dt >= 3000 * MS)
    fail_msg("second guest took %.0f ms to be refused (it should not wait for "
             "its connect timeout)",
             ms_of(dt));
  child_close(&g2);
  /* the first guest and its host are untouched */
  assert_false(wait_exit(g.pid, 0, NULL, NULL));
  assert_false(wait_exit(ch.pid, 0, NULL, NULL));
  assert_int_equal(our_segments(NULL, 0), 1);

  kill(ch.pid, SIGKILL);
  assert_true(wait_exit(ch.pid, 2000, NULL, NULL));
  child_close(&ch);
  expect_exit(&g, "guest of the killed host", 0, 2000);
  child_close(&g);

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
/* 4. Nothing left in /dev/shm */

static void no_segment_left(void **state)
{
  struct child g, ch;
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
  child_close(&g);
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
  kill(ch.pid, SIGKILL);
  assert_true(wait_exit(ch.pid, 2000, NULL, NULL));
  child_close(&ch);
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
  child_close(&g);
  assert_no_segments("after crash + new host + clean shutdown");
}

/* Hosts racing for one name: exactly one wins, the others see EXISTS
 * (also when the name holds a dead host's segment). */
static void concurrent_create_one_winner(void **state)
{
  enum { RACERS = 4, TRIALS = 150 };
  int trial, wins_total = 0;

  (void)state;
  for (trial = 0; trial < TRIALS; trial++) {
    pid_t pid[RACERS];
    int go[2], done[2], res[2], results[RACERS], wins = 0, i;
    char name[64];

    new_name(name, sizeof name);
    if (trial % 2 == 1) {
      /* leave a dead host's segment behind */
      pid_t p = fork();
      assert_true(p >= 0);
      if (p == 0) {
        shmipc_host *h;
        _exit(host_try(name, &h) == SHMIPC_OK ? 0 : 1);
      }
      assert_true(waitpid(p, &i, 0) == p && WIFEXITED(i) &&
                  WEXITSTATUS(i) == 0);
      assert_true(seg_exists(name, NULL));
    }
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    assert_int_equal(pipe2(done, O_CLOEXEC), 0);
    assert_int_equal(pipe2(res, O_CLOEXEC), 0);
    for (i = 0; i < RACERS; i++) {
      pid[i] = fork();
      assert_true(pid[i] >= 0);
      if (pid[i] == 0) {
        shmipc_host *h = NULL;
        char c;
        int r;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(go[1]);
        close(done[1]);
        /* all start when the parent closes its end */
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
          ;
        r = host_try(name, &h);
        if (write(res[1], &r, sizeof r) != (ssize_t)sizeof r)
          _exit(3);
        /* keep the host alive until every racer has tried */
        while (read(done[0], &c, 1) < 0 && errno == EINTR)
          ;
        shmipc_host_destroy(h);
        _exit(0);
      }
      kid_add(pid[i]);
    }
    close(go[0]);
    close(done[0]);
    close(res[1]);
    close(go[1]); /* start */
    for (i = 0; i < RACERS; i++) {
      struct pollfd p = {res[0], POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0 ||
          read(res[0], &results[i], sizeof results[i]) != (ssize_t)sizeof results[i]) {
        close(done[1]);
        close(res[0]);
        for (i = 0; i < RACERS; i++)
          kill_reap(pid[i]);
        fail_msg("trial %d: a racing host did not report within 5 s", trial);
      }
    }
    close(done[1]); /* let them go */
    close(res[0]);
    for (i = 0; i < RACERS; i++) {
      int st;
      if (!wait_exit(pid[i], 5000, &st, NULL)) {
        int j;
        for (j = 0; j < RACERS; j++)
          kill_reap(pid[j]);
        fail_msg("trial %d: a racing host did not exit", trial);
      }
    }
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

/* ------------------------------------------------------------------ */
/* 5. Access control (needs root to switch users) */

static bool can_switch_users(void)
{
  if (geteuid() == 0)
    return true;
  if (t_strict())
    fail_msg("the access tests need root to run a guest as uid %d "
             "(strict_tests: not skipped)",
             NOBODY);
  return false;
}

static bool mentions_access(const char *text)
{
  return strcasestr(text, "access") != NULL ||
         strcasestr(text, "permission denied") != NULL;
}

static void spawn_probe(struct child *c, const char *name, bool allow,
                        bool serve, bool as_nobody)
{
  char *argv[8];
  int n = 0;

  argv[n++] = (char *)probe_path;
  argv[n++] = "-name";
  argv[n++] = (char *)name;
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
  struct child g, p;
  shmipc_host *h;
  char name[64];

  (void)state;
  if (!can_switch_users())
    skip();
  new_name(name, sizeof name);
  h = host_new(name, 1, 0600);
  spawn_guest(&g, name, true, 2000);
  expect_exit(&g, "guest as uid 65534", 1, 5000);
  if (!mentions_access(child_stderr(&g, 200)))
    fail_msg("guest as uid 65534 on a 0600 segment: message does not name "
             "access: %s",
             g.errtext);
  child_close(&g);
  spawn_probe(&p, name, true, false, true);
  expect_exit(&p, "attach_probe -allow-other-user as uid 65534", -SHMIPC_E_ACCESS,
              5000);
  child_close(&p);
  assert_int_equal(shmipc_host_wait_guest(h, 0), SHMIPC_E_TIMEOUT);
  /* the owner can still attach */
  spawn_guest(&g, name, false, 5000);
  wait_guest(h, &g, name);
  echo_calls(h, 10, 9);
  host_free(h);
  expect_exit(&g, "guest", 0, 5000);
  child_close(&g);
  assert_no_segments("after the access test");
}

/* A 0666 segment: another user gets past the permissions, but guests refuse
 * a segment they do not own unless SHMIPC_GUEST_F_ALLOW_OTHER_USER. */
static void other_user_open_mode(void **state)
{
  struct child g, p;
  shmipc_host *h;
  char name[64], line[128];
  struct stat st;

  (void)state;
  if (!can_switch_users())
    skip();
  new_name(name, sizeof name);
  h = host_new(name, 2, 0666);
  assert_true(seg_exists(name, &st));
  assert_int_equal(st.st_mode & 0777, 0666);
  spawn_guest(&g, name, true, 2000);
  expect_exit(&g, "guest as uid 65534 on a 0666 segment", 1, 5000);
  if (!mentions_access(child_stderr(&g, 200)))
    fail_msg("guest as uid 65534 on a 0666 segment: message does not name "
             "access: %s",
             g.errtext);
  child_close(&g);

  spawn_probe(&p, name, false, false, true);
  expect_exit(&p, "attach_probe as uid 65534", -SHMIPC_E_ACCESS, 5000);
  assert_true(read_line(&p, line, sizeof line, 100)); /* uid line */
  assert_true(read_line(&p, line, sizeof line, 100));
  if (strncmp(line, "result -6 ", 10) != 0)
    fail_msg("attach_probe printed \"%s\", expected result -6", line);
  child_close(&p);
  assert_int_equal(shmipc_host_wait_guest(h, 0), SHMIPC_E_TIMEOUT);

  /* allowed: it attaches and serves */
  spawn_probe(&p, name, true, true, true);
  expect_line(&p, "attach_probe -allow-other-user", "uid 65534 euid 65534", 5000);
  expect_line(&p, "attach_probe -allow-other-user", "result 0 ", 5000);
  expect_line(&p, "attach_probe -allow-other-user", "ready", 5000);
  wait_guest(h, &p, name);
  echo_calls(h, 20, 10);
  host_free(h);
  expect_exit(&p, "attach_probe -allow-other-user -serve", 0, 5000);
  child_close(&p);
  assert_no_segments("after the 0666 test");
}

/* The other way round: a root guest refuses a segment of uid 65534, unless
 * allowed; root then replaces that user's stale segment. */
static void segment_of_other_user(void **state)
{
  struct child ch, g, p;
  shmipc_host *h;
  char name[64];
  struct stat st;

  (void)state;
  if (!can_switch_users())
    skip();
  new_name(name, sizeof name);
  spawn_crash_host(&ch, name, "-no-guest", NULL, true);
  expect_line(&ch, "crash_host as uid 65534", "blocking", 5000);
  assert_true(seg_exists(name, &st));
  assert_int_equal(st.st_uid, NOBODY);
  spawn_guest(&g, name, false, 2000);
  expect_exit(&g, "guest (root) on a segment of uid 65534", 1, 5000);
  if (!mentions_access(child_stderr(&g, 200)))
    fail_msg("root guest on another user's segment: message does not name "
             "access: %s",
             g.errtext);
  child_close(&g);
  spawn_probe(&p, name, false, false, false);
  expect_exit(&p, "attach_probe (root)", -SHMIPC_E_ACCESS, 5000);
  child_close(&p);
  spawn_probe(&p, name, true, false, false);
  expect_exit(&p, "attach_probe -allow-other-user (root)", 0, 5000);
  child_close(&p);
  kill(ch.pid, SIGKILL);
  assert_true(wait_exit(ch.pid, 2000, NULL, NULL));
  child_close(&ch);
  h = host_new(name, 1, 0600);
  assert_true(seg_exists(name, &st));
  assert_int_equal(st.st_uid, 0);
  host_free(h);
  assert_no_segments("after the other user's segment test");
}

/* ------------------------------------------------------------------ */

static int teardown(void **state)
{
  char list[512];
  int i;

  (void)state;
  for (i = 0; i < MAX_KIDS; i++)
    if (kids[i] != 0)
      kill_reap(kids[i]);
  for (i = 0; i < MAX_HOSTS; i++)
    if (hosts[i] != NULL) {
      shmipc_host_destroy(hosts[i]);
      hosts[i] = NULL;
    }
  /* A failed test may leave a dead host's segment: remove ours. */
  if (our_segments(list, sizeof list) != 0) {
    char *save = NULL, *tok;
    for (tok = strtok_r(list, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save)) {
      char path[128];
      snprintf(path, sizeof path, "/dev/shm/%s", tok);
      unlink(path);
    }
  }
  return 0;
}

static bool usable(const char *path, const char *what)
{
  struct stat st;

  if (stat(path, &st) == 0 && (st.st_mode & S_IXUSR))
    return true;
  fprintf(stderr, "%s %s is missing\n", what, path);
  return false;
}

int main(int argc, char **argv)
{
  const struct CMUnitTest liveness[] = {
      cmocka_unit_test_teardown(guest_killed_mid_traffic, teardown),
      cmocka_unit_test_teardown(host_killed, teardown),
      cmocka_unit_test_teardown(second_host_and_guest_refused, teardown),
      cmocka_unit_test_teardown(no_segment_left, teardown),
      cmocka_unit_test_teardown(concurrent_create_one_winner, teardown),
  };
  const struct CMUnitTest access[] = {
      cmocka_unit_test_teardown(other_user_default_mode, teardown),
      cmocka_unit_test_teardown(other_user_open_mode, teardown),
      cmocka_unit_test_teardown(segment_of_other_user, teardown),
  };
  const char *group = argc > 4 ? argv[4] : "liveness";
  char title[256];

  if (argc < 4 || argc > 5 ||
      (strcmp(group, "liveness") != 0 && strcmp(group, "access") != 0)) {
    fprintf(stderr, "usage: %s GUEST CRASH_HOST PROBE [liveness|access]\n",
            argv[0]);
    return 2;
  }
  guest_path = argv[1];
  crash_host_path = argv[2];
  probe_path = argv[3];
  guest_label = strrchr(guest_path, '/') ? strrchr(guest_path, '/') + 1 : guest_path;
  if (!usable(guest_path, "guest binary") ||
      !usable(crash_host_path, "crash_host binary") ||
      !usable(probe_path, "attach_probe binary"))
    return t_cannot_run("a binary the tests need is missing");
  /* Children are reaped explicitly; a write to a dead child's pipe must
   * not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  snprintf(title, sizeof title, "%s %s", group, guest_label);
  if (strcmp(group, "access") == 0) {
    if (geteuid() != 0)
      return t_cannot_run("the access tests need root to switch users");
    return cmocka_run_group_tests_name(title, access, NULL, NULL);
  }
  return cmocka_run_group_tests_name(title, liveness, NULL, NULL);
}
