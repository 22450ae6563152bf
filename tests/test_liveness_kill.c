/* SPDX-License-Identifier: MIT */
/*
 * Peers killed with SIGKILL, with timing bounds (docs/PROTOCOL.md:
 * "Liveness locks", "Timeouts and quarantine"): a guest killed in the
 * middle of traffic, and a host killed with its guest attached, then
 * replaced. Command line and harness: liveness.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "liveness.h"

/* ------------------------------------------------------------------ */
/* Guest killed mid-traffic */

enum { K_SLOTS = 8, K_WORKERS = 4, K_ROUNDS = 20, K_AFTER_DEAD = 3 };

struct kill_run {
  shmipc_host *h;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int round;           /* set by main: the round to run, -1 to exit */
  int done;            /* threads finished with the round */
  atomic_llong t_kill; /* when the kill was sent (0: not yet) */
  atomic_llong t_dead; /* when the guest was reaped (0: not yet) */
  atomic_llong
      pending_max; /* kill -> PEER_GONE of calls in flight at the kill */
  atomic_llong pending_min;
  atomic_int pending_n;
  atomic_llong pending_after_death; /* reap -> PEER_GONE of those calls */
  atomic_llong
      later_max; /* start -> PEER_GONE of calls started after the kill */
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
    if (t1 - tk >= HARD_BOUND_MS * MS || (t1 - tk >= DETECT_BOUND_MS * MS &&
                                          since_death >= DETECT_BOUND_MS * MS))
      kr_error(k,
               "thread %d: a call pending at the kill took %.1f ms after "
               "the kill to fail (bound %d ms; guest reaped %.1f ms after "
               "the kill%s)",
               id, t_ms(t1 - tk), DETECT_BOUND_MS,
               td ? t_ms(td - tk) : t_ms(t1 - tk), td ? "" : " or later");
  } else {
    /* Started after the kill: it must fail within the bound of the later
     * of its start and the guest's death (seen as the reap). One that
     * ended before the reap was seen has not waited for a dead guest. */
    int64_t from = td != 0 && td > t0 ? td : t0;
    int64_t lat = td != 0 ? t1 - from : 0;
    atomic_max(&k->later_max, lat);
    atomic_fetch_add(&k->later_n, 1);
    if (lat >= DETECT_BOUND_MS * MS || t1 - t0 >= HARD_BOUND_MS * MS)
      kr_error(k,
               "thread %d: a call started %.1f ms after the kill took %.1f "
               "ms to fail, %.1f ms after the guest was reaped (%.1f ms "
               "after the kill); bound %d ms",
               id, t_ms(t0 - tk), t_ms(t1 - t0), t_ms(lat), t_ms(td - tk),
               DETECT_BOUND_MS);
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
  *right =
      r == SHMIPC_OK && n == len && t == type && memcmp(req, resp, len) == 0;
  return r;
}

static void traffic_round(struct kill_run *k, int id, int round)
{
  uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1) + (uint64_t)round;
  int after_dead = 0, i;

  for (i = 0;; i++) {
    int64_t td0 = atomic_load(&k->t_dead), tk0 = atomic_load(&k->t_kill);
    int64_t t0 = t_now_ns(), t1;
    bool right = false;
    int r;

    if (tk0 != 0 && t0 - tk0 > 5000 * MS) {
      kr_error(k, "thread %d: calls still do not fail 5 s after the kill", id);
      return;
    }
    r = traffic_call(k->h, &x, id, round, i, &right);
    t1 = t_now_ns();
    if (r == SHMIPC_OK) {
      if (!right) {
        kr_error(k, "thread %d round %d call %d: WRONG RESPONSE", id, round, i);
        return;
      }
      if (td0 != 0) {
        kr_error(k,
                 "thread %d: a call started after the dead guest was "
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
  t0 = t_now_ns();
  r = shmipc_host_call(k->h, 201, req, 8, resp, sizeof resp, NULL, NULL,
                       20000 * MS);
  t1 = t_now_ns();
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

/* What one round measured (ns). */
struct round_figures {
  int64_t detect;      /* kill -> the last pending call's PEER_GONE */
  int64_t first;       /* kill -> the first pending call's PEER_GONE */
  int64_t later;       /* worst call started after the kill */
  int64_t reaped;      /* kill -> guest reaped */
  int64_t after_death; /* reap -> the last pending call's PEER_GONE */
};

/* Reset the round's counters and let the threads run round @round. */
static void kill_run_start(struct kill_run *k, int round)
{
  pthread_mutex_lock(&k->mu);
  k->done = 0;
  atomic_store(&k->t_kill, 0);
  atomic_store(&k->t_dead, 0);
  atomic_store(&k->pending_max, 0);
  atomic_store(&k->pending_min, INT64_MAX);
  atomic_store(&k->pending_n, 0);
  atomic_store(&k->pending_after_death, 0);
  atomic_store(&k->later_max, 0);
  atomic_store(&k->later_n, 0);
  atomic_store(&k->delay_started, 0);
  atomic_store(&k->oks, 0);
  k->round = round;
  pthread_cond_broadcast(&k->cv);
  pthread_mutex_unlock(&k->mu);
}

/* Kill the guest @g with SIGKILL and reap it; the times in *t_kill and
 * *t_dead. A message in @err (if still empty) when it did not die of the
 * kill. */
static void kill_guest(struct kill_run *k, struct proc *g, int round,
                       int64_t *t_kill, int64_t *t_dead, char *err,
                       size_t errlen)
{
  *t_kill = t_now_ns();
  atomic_store(&k->t_kill, *t_kill);
  proc_kill(g);
  if (!ended_within(g, 2000)) {
    proc_reap(g);
    if (err[0] == '\0')
      snprintf(err, errlen, "round %d: guest still alive 2 s after SIGKILL",
               round);
  } else if (g->status == -1 || !WIFSIGNALED(g->status) ||
             WTERMSIG(g->status) != SIGKILL) {
    char how[32];
    proc_describe(g, how, sizeof how);
    if (err[0] == '\0')
      snprintf(err, errlen,
               "round %d: guest ended with %s before the kill; "
               "stderr: %s",
               round, how, proc_stderr(g));
  }
  *t_dead = g->ended_ns;
  atomic_store(&k->t_dead, *t_dead);
  proc_reap(g);
}

/* One round: a new guest serves the traffic and is killed in the middle
 * of it. Returns false with a message in @err. */
static bool kill_round(struct kill_run *k, struct proc *g, const char *name,
                       int round, unsigned *seed, struct round_figures *f,
                       char *err, size_t errlen)
{
  int64_t t_kill, t_dead;
  int r, i;

  spawn_guest(g, name, false, 10000);
  r = shmipc_host_wait_guest(k->h, 10000 * MS);
  if (r != SHMIPC_OK) {
    snprintf(err, errlen,
             "round %d: no guest attached within 10 s (%s); "
             "guest stderr: %s",
             round, shmipc_strerror(r), proc_stderr(g));
    return false;
  }
  if (round > 1) {
    /* Every slot the dead guest held (in PROCESSING or quarantined by a
     * timeout) is usable again with the new guest. */
    char when[64];
    snprintf(when, sizeof when, "round %d, new guest", round);
    if (!slots_check(k->h, K_SLOTS, when, err, errlen))
      return false;
  }
  kill_run_start(k, round);
  for (i = 0; i < 5000 && !atomic_load(&k->delay_started); i++)
    t_sleep_ms(1);
  if (!atomic_load(&k->delay_started))
    snprintf(err, errlen,
             "round %d: the delayed call did not start within "
             "5 s",
             round);
  /* let traffic run with one call held by the guest */
  t_sleep_ms(20 + (int)(rand_r(seed) % 40));
  kill_guest(k, g, round, &t_kill, &t_dead, err, errlen);
  f->reaped = t_dead - t_kill;

  if (!kill_run_wait_done(k, 10000)) {
    /* threads never block without a bound; this is a hang */
    snprintf(err, errlen,
             "round %d: calls did not all end within 10 s of "
             "the kill",
             round);
    return false;
  }
  if (err[0] != '\0')
    return false;
  if (atomic_load(&k->nerr) != 0) {
    snprintf(err, errlen, "round %d: %s", round, k->err);
    return false;
  }
  if (atomic_load(&k->pending_n) == 0 || atomic_load(&k->oks) == 0) {
    snprintf(err, errlen,
             "round %d: %d calls pending at the kill, %d "
             "answered before it (want both > 0)",
             round, atomic_load(&k->pending_n), atomic_load(&k->oks));
    return false;
  }
  f->detect = atomic_load(&k->pending_max);
  f->first = atomic_load(&k->pending_min);
  f->later = atomic_load(&k->later_max);
  f->after_death = atomic_load(&k->pending_after_death);
  /* The dead guest's ATTACHED word is no guest: waiting finds none. */
  r = shmipc_host_wait_guest(k->h, 0);
  if (r != SHMIPC_E_TIMEOUT) {
    snprintf(err, errlen,
             "round %d: shmipc_host_wait_guest() after the "
             "guest died: %s, expected TIMEOUT",
             round, shmipc_strerror(r));
    return false;
  }
  return true;
}

static void report_kills(const struct round_figures *f, int n)
{
  int64_t v[5][K_ROUNDS];
  double med[5], worst[5];
  int i, j;

  for (i = 0; i < n; i++) {
    v[0][i] = f[i].detect;
    v[1][i] = f[i].first;
    v[2][i] = f[i].later;
    v[3][i] = f[i].reaped;
    v[4][i] = f[i].after_death;
  }
  for (j = 0; j < 5; j++)
    stats(v[j], n, &med[j], &worst[j]);
  printf("[ MEASURE  ] guest SIGKILL -> every pending call PEER_GONE (%s): "
         "median %.1f ms, worst %.1f ms over %d kills\n",
         guest_label, med[0], worst[0], n);
  printf("[ MEASURE  ]   first pending call PEER_GONE: median %.1f ms, worst "
         "%.1f ms; kill -> guest reaped: median %.1f ms, worst %.1f ms; "
         "reaped -> last pending PEER_GONE: median %.1f ms, worst %.1f ms; "
         "calls started after the kill, from the later of their start and "
         "the reap: worst %.1f ms\n",
         med[1], worst[1], med[3], worst[3], med[4], worst[4], worst[2]);
  fflush(stdout);
}

/* Guests killed with SIGKILL in the middle of traffic, K_ROUNDS times on
 * one host: every call pending at the kill, and every call started after
 * it, fails with PEER_GONE within the bounds; the next guest finds every
 * slot usable. */
static void guest_killed_mid_traffic(void **state)
{
  static struct kill_run k;
  struct kill_worker w[K_WORKERS + 1];
  pthread_t th[K_WORKERS + 1];
  struct round_figures f[K_ROUNDS];
  char name[64], err[600] = "";
  struct proc g = {0};
  unsigned seed = (unsigned)getpid();
  int round, i, rounds_done = 0;

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
    if (!kill_round(&k, &g, name, round, &seed, &f[round - 1], err, sizeof err))
      break;
    rounds_done++;
  }

  /* Stop the threads on every path; only then may the test fail. */
  pthread_mutex_lock(&k.mu);
  k.round = -1;
  pthread_cond_broadcast(&k.cv);
  pthread_mutex_unlock(&k.mu);
  proc_reap(&g); /* a guest of a round that ended early */
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
  proc_reap(&g);
  assert_false(seg_exists(name, NULL));
  report_kills(f, K_ROUNDS);
}

/* ------------------------------------------------------------------ */
/* Host killed */

enum { H_ROUNDS = 12 };

/* A crash_host serving @g, killed at once or (@busy) in the middle of its
 * calls; the kill's time in *t_kill, the host's end in *t_dead. */
static void kill_serving_host(const char *name, bool busy, struct proc *g,
                              struct stat *seg, int64_t *t_kill,
                              int64_t *t_dead)
{
  struct proc ch;
  char how[32];
  const char *argv[] = {crash_host_path,       "-name", name, "-calls", "100",
                        busy ? "-busy" : NULL, NULL};

  spawn(&ch, false, argv);
  expect_line(&ch, "crash_host", "created", 5000);
  spawn_guest(g, name, false, 10000);
  expect_line(&ch, "crash_host", "attached", 10000);
  expect_line(&ch, "crash_host", "calls ok", 10000);
  expect_line(&ch, "crash_host", "blocking", 5000);
  expect_line(g, "guest", "ready", 5000);
  if (busy)
    t_sleep_ms(20); /* kill it mid-traffic */
  assert_true(seg_exists(name, seg));

  *t_kill = t_now_ns();
  proc_kill(&ch);
  if (!ended_within(&ch, 2000))
    fail_msg("crash_host still alive 2 s after SIGKILL");
  *t_dead = ch.ended_ns;
  proc_describe(&ch, how, sizeof how);
  if (ch.status == -1 || !WIFSIGNALED(ch.status))
    fail_msg("crash_host ended with %s before the kill; stderr: %s", how,
             proc_stderr(&ch));
  proc_reap(&ch);
}

/* The guest of a killed host leaves with exit 0 within the bound;
 * returns the time from the kill. */
static int64_t guest_leaves(struct proc *g, int round, int64_t t_kill,
                            int64_t t_host_dead)
{
  int64_t exit_ns, t_exit;
  char how[32];

  if (!ended_within(g, 3000)) {
    proc_stderr(g);
    proc_reap(g);
    fail_msg("round %d: guest still running 3 s after its host was killed; "
             "stderr: %s",
             round, g->text);
  }
  t_exit = g->ended_ns;
  exit_ns = t_exit - t_kill;
  proc_describe(g, how, sizeof how);
  if (g->status == -1 || !WIFEXITED(g->status) || WEXITSTATUS(g->status) != 0)
    fail_msg("round %d: guest ended with %s after its host died (want exit "
             "0); stderr: %s",
             round, how, proc_stderr(g));
  /* < 1 s from the kill, or from the host's end if the kernel took
   * long to end it (a loaded machine); never more than the hard bound */
  if (exit_ns >= HARD_BOUND_MS * MS ||
      (exit_ns >= 1000 * MS && t_exit - t_host_dead >= 1000 * MS))
    fail_msg("round %d: guest took %.1f ms to leave after its host was "
             "killed (host reaped %.1f ms after the kill)",
             round, t_ms(exit_ns), t_ms(t_host_dead - t_kill));
  proc_reap(g);
  return exit_ns;
}

/* One round of host_killed(); returns the guest's time to leave.
 * variant 0: the new host comes after the old guest left;
 * variant 1: the new host replaces the segment at once, while the old
 *            guest may still be attached to the unlinked one;
 * variant 2: the new guest starts before the new host and waits for it. */
static int64_t host_kill_round(int round)
{
  int variant = round % 3;
  struct proc g, g2;
  char name[64], how[32];
  struct stat old_st, new_st;
  shmipc_host *h = NULL;
  int64_t t_kill, t_host_dead, exit_ns;

  new_name(name, sizeof name);
  kill_serving_host(name, round % 2 == 1, &g, &old_st, &t_kill, &t_host_dead);
  if (variant == 1)
    h = host_new(name, 2, 0600); /* the stale segment is replaced */
  exit_ns = guest_leaves(&g, round, t_kill, t_host_dead);

  if (variant != 1) {
    /* the dead host's segment is still there: exactly one file */
    assert_true(seg_exists(name, NULL));
    assert_int_equal(our_segments(NULL, 0), 1);
  }
  if (variant == 2) {
    spawn_guest(&g2, name, false, 10000);
    t_sleep_ms(150);
    if (ended_within(&g2, 0)) {
      proc_describe(&g2, how, sizeof how);
      fail_msg("round %d: a guest started before the new host did not wait "
               "for it: %s; stderr: %s",
               round, how, proc_stderr(&g2));
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
  proc_reap(&g2);
  assert_no_segments("after the new host's clean shutdown");
  return exit_ns;
}

/* Hosts killed with SIGKILL (idle or mid-traffic): the guest leaves with
 * exit 0 within the bound, and a new host (after the guest left, at once,
 * or awaited by a new guest) replaces the dead one's segment and serves. */
static void host_killed(void **state)
{
  int64_t exit_ns[H_ROUNDS];
  double med, worst;
  int round;

  (void)state;
  for (round = 0; round < H_ROUNDS; round++)
    exit_ns[round] = host_kill_round(round);
  stats(exit_ns, H_ROUNDS, &med, &worst);
  printf("[ MEASURE  ] host SIGKILL -> guest exited 0 (%s): median %.1f ms, "
         "worst %.1f ms over %d kills\n",
         guest_label, med, worst, H_ROUNDS);
  fflush(stdout);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(guest_killed_mid_traffic, lv_teardown),
      cmocka_unit_test_teardown(host_killed, lv_teardown),
  };
  char title[256];
  int r = lv_init(argc, argv, "liveness", title, sizeof title);

  if (r != 0)
    return r;
  return cmocka_run_group_tests_name(title, tests, NULL, NULL);
}
