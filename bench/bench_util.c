/* SPDX-License-Identifier: MIT */
/* Time, CPU accounting, futex and child-process helpers for shmipc-bench
 * (Linux). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int64_t bench_process_cpu_ns(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
    return 0;
  return (int64_t)ts.tv_sec * BENCH_NS_PER_S + ts.tv_nsec;
}

double bench_steal_s(void)
{
  FILE *f = fopen("/proc/stat", "re");
  unsigned long long v[8];
  long hz = sysconf(_SC_CLK_TCK);
  int n;
  if (!f)
    return -1;
  n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
             &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n != 8 || hz <= 0)
    return -1;
  return (double)v[7] / (double)hz;
}

/* The line probe: @word goes 2k+1 (from the prober) and 2k+2 (from the
 * echoer); each side spins on it with a pause. No data rides on the word,
 * so its acquire loads and release stores (each pairing with the other
 * side's store of the value it waits for) only keep the timing honest:
 * relaxed would time the same line transfers. */
struct line_probe {
  int cpu;
  _Atomic unsigned word;
  _Atomic int stop, failed;
};

enum { LINE_BATCHES = 5, LINE_TRIPS = 200 };
#define LINE_BATCH_LIMIT_NS INT64_C(50000000)

static void *line_echoer(void *arg)
{
  struct line_probe *lp = arg;
  unsigned seen = 0;
  if (bench_pin_self(lp->cpu) != 0) {
    atomic_store(&lp->failed, 1);
    return NULL;
  }
  while (!atomic_load_explicit(&lp->stop, memory_order_relaxed)) {
    unsigned v = atomic_load_explicit(&lp->word, memory_order_acquire);
    if (v != seen && (v & 1u)) {
      seen = v + 1;
      atomic_store_explicit(&lp->word, seen, memory_order_release);
    } else {
      bench_cpu_relax();
    }
  }
  return NULL;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_line_rtt_ns(void)
{
  struct bench_pin pin;
  struct line_probe lp = {0};
  pthread_t t;
  cpu_set_t old;
  double mean[LINE_BATCHES];
  unsigned v = 0;
  int ok = 1;

  if (bench_pin_init(&pin) != 0 || pin.n < 2 ||
      sched_getaffinity(0, sizeof(old), &old) != 0)
    return NAN;
  lp.cpu = pin.cpus[1];
  if (bench_pin_self(pin.cpus[0]) != 0)
    return NAN;
  if (pthread_create(&t, NULL, line_echoer, &lp) != 0) {
    sched_setaffinity(0, sizeof(old), &old);
    return NAN;
  }
  for (int b = 0; b < LINE_BATCHES && ok; b++) {
    int64_t t0 = bench_now_ns(), limit = t0 + LINE_BATCH_LIMIT_NS;
    for (int i = 0; i < LINE_TRIPS && ok; i++) {
      atomic_store_explicit(&lp.word, ++v, memory_order_release);
      for (unsigned k = 0;
           atomic_load_explicit(&lp.word, memory_order_acquire) != v + 1; k++) {
        bench_cpu_relax();
        if ((k & 1023u) == 1023u &&
            (atomic_load(&lp.failed) || bench_now_ns() > limit)) {
          ok = 0;
          break;
        }
      }
      v++;
    }
    mean[b] = (double)(bench_now_ns() - t0) / LINE_TRIPS;
  }
  atomic_store(&lp.stop, 1);
  pthread_join(t, NULL);
  sched_setaffinity(0, sizeof(old), &old);
  if (!ok)
    return NAN;
  qsort(mean, LINE_BATCHES, sizeof(mean[0]), cmp_double);
  return mean[LINE_BATCHES / 2];
}

/* Nanoseconds on CPU of every live thread of @pid, from
 * /proc/<pid>/task/<tid>/schedstat (first field); -1 if unavailable. */
static int64_t schedstat_ns(pid_t pid)
{
  char path[96], buf[128];
  snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int64_t sum = 0;
  int any = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    snprintf(path, sizeof(path), "/proc/%d/task/%.20s/schedstat", (int)pid,
             e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue; /* the thread just ended */
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    unsigned long long ns;
    if (n <= 0)
      continue;
    buf[n] = '\0';
    if (sscanf(buf, "%llu", &ns) == 1) {
      sum += (int64_t)ns;
      any = 1;
    }
  }
  closedir(d);
  return any ? sum : -1;
}

int64_t bench_pid_cpu_ns(pid_t pid)
{
  int64_t ns = schedstat_ns(pid);
  if (ns >= 0)
    return ns;

  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  /* comm may hold spaces and parentheses: fields restart after the last ')'.
   * After it: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt
   * majflt cmajflt utime(14) stime(15). */
  char *p = strrchr(buf, ')');
  if (!p)
    return -1;
  unsigned long long utime, stime;
  if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
             &utime, &stime) != 2)
    return -1;
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0)
    hz = 100;
  return (int64_t)((utime + stime) * (unsigned long long)(BENCH_NS_PER_S / hz));
}

double bench_clock_overhead_ns(void)
{
  enum { N = 200000 };
  int64_t sink = 0;
  int64_t t0 = bench_now_ns();
  for (int i = 0; i < N; i++)
    sink ^= bench_now_ns();
  int64_t t1 = bench_now_ns();
  (void)sink;
  return (double)(t1 - t0) / N;
}

void bench_sleep_ns(int64_t ns)
{
  if (ns <= 0)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t t = (int64_t)ts.tv_sec * BENCH_NS_PER_S + ts.tv_nsec + ns;
  ts.tv_sec = (time_t)(t / BENCH_NS_PER_S);
  ts.tv_nsec = (long)(t % BENCH_NS_PER_S);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

int bench_futex_wait(void *word, uint32_t val, int64_t timeout_ns)
{
  struct timespec ts = {.tv_sec = (time_t)(timeout_ns / BENCH_NS_PER_S),
                        .tv_nsec = (long)(timeout_ns % BENCH_NS_PER_S)};
  /* FUTEX_WAIT, not FUTEX_WAIT_PRIVATE: the word is shared between
   * processes. The timeout is relative. */
  return (int)syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

void bench_futex_wake(void *word, int n)
{
  syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

int bench_child_die_with_parent(pid_t parent)
{
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    return -1;
  /* The parent may have died before prctl(): then we were re-parented. */
  return getppid() == parent ? 0 : -1;
}

int bench_reap_child(pid_t pid, int64_t timeout_ns, int *status)
{
  int64_t deadline = bench_now_ns() + timeout_ns;
  int64_t nap = 100000; /* 100 us, doubling up to 20 ms */
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      return 0;
    if (r < 0 && errno != EINTR)
      return -1;
    if (bench_now_ns() >= deadline)
      break;
    bench_sleep_ns(nap);
    if (nap < 20000000)
      nap *= 2;
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, status, 0) < 0) {
    if (errno != EINTR)
      return -1;
  }
  return 1;
}

void bench_describe_status(int status, char *buf, size_t len)
{
  if (WIFEXITED(status))
    snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(buf, len, "wait status 0x%x", (unsigned)status);
}

/* ---- pinning ---- */

int bench_pin_init(struct bench_pin *pin)
{
  cpu_set_t set;
  pin->n = 0;
  if (sched_getaffinity(0, sizeof(set), &set) != 0)
    return -1;
  for (int c = 0; c < CPU_SETSIZE && pin->n < BENCH_MAX_CPUS; c++)
    if (CPU_ISSET(c, &set))
      pin->cpus[pin->n++] = c;
  if (pin->n == 0) {
    errno = ESRCH;
    return -1;
  }
  return 0;
}

int bench_pin_cpu(const struct bench_pin *pin, unsigned pair, int server)
{
  return pin->cpus[(2 * (size_t)pair + (server ? 1 : 0)) % pin->n];
}

static void servers_set(const struct bench_pin *pin, unsigned threads,
                        cpu_set_t *set)
{
  CPU_ZERO(set);
  /* Pairs past the n-th only repeat the CPUs of the first ones. */
  for (unsigned i = 0; i < threads && i < pin->n; i++)
    CPU_SET(bench_pin_cpu(pin, i, 1), set);
}

/* The raw system call: the glibc wrapper is not listed as
 * async-signal-safe, and these run between fork() and exec. tid 0 is the
 * calling thread. */
static int set_affinity(pid_t tid, const cpu_set_t *set)
{
  return (int)syscall(SYS_sched_setaffinity, tid, sizeof(*set), set) == 0 ? 0
                                                                          : -1;
}

int bench_pin_self(int cpu)
{
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return set_affinity(0, &set);
}

int bench_pin_self_servers(const struct bench_pin *pin, unsigned threads)
{
  cpu_set_t set;
  servers_set(pin, threads, &set);
  return set_affinity(0, &set);
}

#define PIN_MAX_TASKS 4096
#define PIN_MAX_PASSES 8

static int seen_before(const long *tids, unsigned n, long tid)
{
  for (unsigned i = 0; i < n; i++)
    if (tids[i] == tid)
      return 1;
  return 0;
}

int bench_pin_process_servers(pid_t pid, const struct bench_pin *pin,
                              unsigned threads, char *err, size_t errlen)
{
  cpu_set_t want, got;
  char path[64];
  long *tids = malloc(PIN_MAX_TASKS * sizeof(*tids));
  unsigned ntids = 0;
  int rc = -1;

  if (!tids) {
    snprintf(err, errlen, "pin: out of memory");
    return -1;
  }
  servers_set(pin, threads, &want);
  snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
  /* A thread started during a pass inherits the mask of the thread that
   * started it, pinned or not yet: pass again until a pass finds none. */
  for (int pass = 0; pass < PIN_MAX_PASSES; pass++) {
    int fresh = 0;
    DIR *d = opendir(path);
    if (!d) {
      snprintf(err, errlen, "pin: %s: %s", path, strerror(errno));
      goto out;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
      char *end;
      long tid = strtol(e->d_name, &end, 10);
      if (*end || tid <= 0 || seen_before(tids, ntids, tid))
        continue;
      if (ntids == PIN_MAX_TASKS) {
        closedir(d);
        snprintf(err, errlen, "pin: more than %d threads in process %d",
                 PIN_MAX_TASKS, (int)pid);
        goto out;
      }
      if (set_affinity((pid_t)tid, &want) != 0 ||
          sched_getaffinity((pid_t)tid, sizeof(got), &got) != 0) {
        if (errno == ESRCH)
          continue; /* the thread just ended */
        closedir(d);
        snprintf(err, errlen, "pin: thread %ld of process %d: %s", tid,
                 (int)pid, strerror(errno));
        goto out;
      }
      if (!CPU_EQUAL(&got, &want)) {
        closedir(d);
        snprintf(err, errlen,
                 "pin: thread %ld of process %d does not hold its CPUs", tid,
                 (int)pid);
        goto out;
      }
      tids[ntids++] = tid;
      fresh = 1;
    }
    closedir(d);
    if (!fresh) {
      rc = (int)ntids;
      goto out;
    }
  }
  snprintf(err, errlen, "pin: process %d kept starting threads", (int)pid);
out:
  free(tids);
  return rc;
}
