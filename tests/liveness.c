/* SPDX-License-Identifier: MIT */
/* What the liveness, names and access tests share (see liveness.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "liveness.h"
#include "strict.h"

const char *guest_path, *crash_host_path, *probe_path;
const char *guest_label;
static int name_counter;

/* ------------------------------------------------------------------ */
/* Names, segment files */

void new_name(char *buf, size_t len)
{
  snprintf(buf, len, "liveness-%d-%d", (int)getpid(), name_counter++);
}

static void seg_file(const char *name, char *buf, size_t len)
{
  snprintf(buf, len, "/dev/shm/shmipc-%s", name);
}

int seg_exists(const char *name, struct stat *st)
{
  char path[128];
  struct stat tmp;

  seg_file(name, path, sizeof path);
  return stat(path, st != NULL ? st : &tmp) == 0;
}

int our_segments(char *list, size_t len)
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

void assert_no_segments(const char *when)
{
  char list[512];
  int n = our_segments(list, sizeof list);

  if (n != 0)
    fail_msg("%d segment file(s) left in /dev/shm %s:%s", n, when, list);
}

/* ------------------------------------------------------------------ */
/* Peers in other processes */

void spawn(struct proc *c, bool as_nobody, const char *const argv[])
{
  unsigned flags = PROC_CAPTURE | (as_nobody ? PROC_AS_NOBODY : 0);

  if (proc_spawn(c, argv, flags) != 0)
    fail_msg("cannot start %s", argv[0]);
}

void spawn_guest(struct proc *c, const char *name, bool as_nobody,
                 int timeout_ms)
{
  char ms[16];
  const char *argv[] = {guest_path, "-name", name, "-timeout-ms", ms, NULL};

  snprintf(ms, sizeof ms, "%d", timeout_ms);
  spawn(c, as_nobody, argv);
}

void spawn_crash_host(struct proc *c, const char *name, const char *extra1,
                      const char *extra2, bool as_nobody)
{
  const char *argv[8];
  int n = 0;

  argv[n++] = crash_host_path;
  argv[n++] = "-name";
  argv[n++] = name;
  if (extra1 != NULL)
    argv[n++] = extra1;
  if (extra2 != NULL)
    argv[n++] = extra2;
  argv[n] = NULL;
  spawn(c, as_nobody, argv);
}

void expect_line(struct proc *c, const char *who, const char *prefix, int ms)
{
  char line[256];
  int64_t deadline = t_now_ns() + ms * MS;

  for (;;) {
    int left = (int)((deadline - t_now_ns()) / MS);
    if (left < 0 || !proc_read_line(c, line, sizeof line, left))
      fail_msg("%s (pid %d) did not print \"%s\" within %d ms; stderr: %s", who,
               (int)c->id, prefix, ms, proc_stderr(c));
    if (strncmp(line, prefix, strlen(prefix)) == 0)
      return;
  }
}

bool ended_within(struct proc *c, int ms)
{
  return proc_wait(c, ms, NULL) == 0;
}

void expect_exit(struct proc *c, const char *who, int code, int ms)
{
  char how[32];

  if (!ended_within(c, ms)) {
    proc_stderr(c);
    proc_reap(c);
    fail_msg("%s (pid %d) still ran %d ms after it should have ended; "
             "stderr: %s",
             who, (int)c->id, ms, c->text);
  }
  proc_describe(c, how, sizeof how);
  if (c->status == -1 || !WIFEXITED(c->status) ||
      WEXITSTATUS(c->status) != code)
    fail_msg("%s ended with %s, expected exit %d; stderr: %s", who, how, code,
             proc_stderr(c));
}

/* ------------------------------------------------------------------ */
/* Hosts in this process */

#define MAX_HOSTS 8
static shmipc_host *hosts[MAX_HOSTS];

shmipc_host *host_new(const char *name, uint32_t slots, uint32_t mode)
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

void host_free(shmipc_host *h)
{
  int i;

  for (i = 0; i < MAX_HOSTS; i++)
    if (hosts[i] == h)
      hosts[i] = NULL;
  shmipc_host_destroy(h);
}

int host_try(const char *name, shmipc_host **out)
{
  shmipc_host_config c;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 1;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  return shmipc_host_create(&c, out);
}

void wait_guest(shmipc_host *h, struct proc *g, const char *name)
{
  int r = shmipc_host_wait_guest(h, 10000 * MS);

  if (r != SHMIPC_OK)
    fail_msg("no guest attached to %s within 10 s (%s); guest stderr: %s", name,
             shmipc_strerror(r), proc_stderr(g));
}

uint64_t rng_next(uint64_t *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

void echo_calls(shmipc_host *h, int n, uint64_t seed)
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
      fail_msg("echo call %d: wrong response (len %zu/%zu, type %u/%u)", i, got,
               len, t, type);
  }
}

bool slots_check(shmipc_host *h, uint32_t n, const char *when, char *err,
                 size_t errlen)
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
      snprintf(err, errlen,
               "%s: only %u of %u host slots could be acquired "
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

void all_slots_usable(shmipc_host *h, uint32_t n, const char *when)
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

void stats(int64_t *v, int n, double *median, double *worst)
{
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  *median = n % 2 ? t_ms(v[n / 2]) : (t_ms(v[n / 2 - 1]) + t_ms(v[n / 2])) / 2;
  *worst = t_ms(v[n - 1]);
}

/* ------------------------------------------------------------------ */

int lv_teardown(void **state)
{
  char list[512];
  int i;

  (void)state;
  proc_reap_all();
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

int lv_init(int argc, char **argv, const char *group, char *title,
            size_t title_len)
{
  int i;

  if (argc != 4) {
    fprintf(stderr, "usage: %s GUEST CRASH_HOST PROBE\n", argv[0]);
    return 2;
  }
  guest_path = argv[1];
  crash_host_path = argv[2];
  probe_path = argv[3];
  guest_label =
      strrchr(guest_path, '/') ? strrchr(guest_path, '/') + 1 : guest_path;
  for (i = 1; i < 4; i++)
    if (!proc_executable(argv[i]))
      return t_cannot_run("binary %s is missing", argv[i]);
  /* Children are reaped explicitly; a write to a dead child's pipe must
   * not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  snprintf(title, title_len, "%s %s", group, guest_label);
  return 0;
}
