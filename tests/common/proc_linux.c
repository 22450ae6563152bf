/* SPDX-License-Identifier: MIT */
/* Child processes on Linux (see proc.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"

/* Children started and not yet waited for, for proc_reap_all(). */
#define MAX_KIDS 64
static pid_t kids[MAX_KIDS];
static pthread_mutex_t kids_mu = PTHREAD_MUTEX_INITIALIZER;

static void kid_add(pid_t pid)
{
  int i;

  pthread_mutex_lock(&kids_mu);
  for (i = 0; i < MAX_KIDS; i++)
    if (kids[i] == 0) {
      kids[i] = pid;
      break;
    }
  pthread_mutex_unlock(&kids_mu);
}

static void kid_del(pid_t pid)
{
  int i;

  pthread_mutex_lock(&kids_mu);
  for (i = 0; i < MAX_KIDS; i++)
    if (kids[i] == pid)
      kids[i] = 0;
  pthread_mutex_unlock(&kids_mu);
}

static void say(const char *s)
{
  ssize_t r = write(2, s, strlen(s));
  (void)r;
}

static void start(struct proc *p, pid_t pid)
{
  p->id = pid;
  p->done = false;
  p->status = -1;
  p->ended_ns = 0;
  kid_add(pid);
}

/* In the child, after any uid change (which clears it): die with the
 * parent. The check closes the race with a parent that died before the
 * prctl. */
static void die_with(pid_t parent)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(125);
}

int proc_spawn(struct proc *p, const char *const argv[], unsigned flags)
{
  pid_t parent = getpid(), pid;

  memset(p, 0, sizeof *p);
  p->out = p->err = -1;
  if (flags & PROC_CAPTURE) {
    p->out = memfd_create("child-stdout", MFD_CLOEXEC);
    p->err = memfd_create("child-stderr", MFD_CLOEXEC);
    /* Appending: the child's own children (a launched guest) write to the
     * same file, and two processes writing at the shared offset at once
     * can land at the same place, one line over the other. */
    if (p->out < 0 || p->err < 0 || fcntl(p->out, F_SETFL, O_APPEND) != 0 ||
        fcntl(p->err, F_SETFL, O_APPEND) != 0)
      goto err;
  }
  fflush(NULL); /* nothing buffered is written twice */
  pid = fork();
  if (pid < 0)
    goto err;
  if (pid == 0) {
    /* Only async-signal-safe calls from here: the caller may have
     * threads. */
    if (flags & PROC_CAPTURE) {
      dup2(p->out, 1);
      dup2(p->err, 2);
    }
    if (flags & PROC_AS_NOBODY) {
      gid_t gid = PROC_NOBODY;
      if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
          setresuid(PROC_NOBODY, PROC_NOBODY, PROC_NOBODY) != 0) {
        say("spawn: cannot switch to uid 65534\n");
        _exit(126);
      }
    }
    die_with(parent);
    execv(argv[0], (char *const *)argv);
    say("spawn: exec failed: ");
    say(argv[0]);
    say("\n");
    _exit(127);
  }
  start(p, pid);
  return 0;
err:
  if (p->out >= 0)
    close(p->out);
  if (p->err >= 0)
    close(p->err);
  p->out = p->err = -1;
  return -1;
}

int proc_fork(struct proc *p)
{
  pid_t parent = getpid(), pid;

  memset(p, 0, sizeof *p);
  p->out = p->err = -1;
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    die_with(parent);
    return 0;
  }
  start(p, pid);
  return 1;
}

/* done is an atomic: proc_kill() may look at it from another thread while
 * one waits (a test that kills its guest while a reaper thread waits). */
static bool is_done(const struct proc *p)
{
  return __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
}

static void ended(struct proc *p, int status)
{
  p->status = status;
  p->ended_ns = t_now_ns();
  kid_del((pid_t)p->id);
  __atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
}

int proc_wait(struct proc *p, int ms, struct proc_status *st)
{
  int64_t deadline = t_now_ns() + (ms > 0 ? ms : 0) * T_MS;

  while (!is_done(p)) {
    int s;
    pid_t r = waitpid((pid_t)p->id, &s, WNOHANG);
    if (r == (pid_t)p->id)
      ended(p, s);
    else if (r < 0 && errno != EINTR)
      ended(p, -1); /* not our child any more: nothing to wait for */
    else if (t_now_ns() >= deadline)
      return -1;
    else
      t_sleep_ns(200 * 1000);
  }
  if (st != NULL) {
    st->exited = p->status != -1 && WIFEXITED(p->status);
    st->code = st->exited ? WEXITSTATUS(p->status) : -1;
    st->killed = p->status != -1 && WIFSIGNALED(p->status) &&
                 WTERMSIG(p->status) == SIGKILL;
  }
  return 0;
}

void proc_kill(struct proc *p)
{
  if (p->id > 0 && !is_done(p))
    kill((pid_t)p->id, SIGKILL);
}

void proc_reap(struct proc *p)
{
  if (p->id <= 0)
    return;
  if (!p->done) {
    int s;
    pid_t r;
    kill((pid_t)p->id, SIGKILL);
    while ((r = waitpid((pid_t)p->id, &s, 0)) < 0 && errno == EINTR)
      ;
    ended(p, r == (pid_t)p->id ? s : -1);
  }
  if (p->out >= 0)
    close(p->out);
  if (p->err >= 0)
    close(p->err);
  p->out = p->err = -1;
}

void proc_reap_all(void)
{
  int i;

  pthread_mutex_lock(&kids_mu);
  for (i = 0; i < MAX_KIDS; i++)
    if (kids[i] != 0) {
      kill(kids[i], SIGKILL);
      while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
        ;
      kids[i] = 0;
    }
  pthread_mutex_unlock(&kids_mu);
}

/* True when the child has ended (reaped or not: it is not reaped here). */
static bool gone(const struct proc *p)
{
  siginfo_t si;

  if (p->done)
    return true;
  memset(&si, 0, sizeof si);
  return waitid(P_PID, (id_t)p->id, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
         si.si_pid != 0;
}

bool proc_read_line(struct proc *p, char *buf, size_t len, int ms)
{
  int64_t deadline = t_now_ns() + (ms > 0 ? ms : 0) * T_MS;

  buf[0] = '\0';
  if (p->out < 0 || len < 2)
    return false;
  for (;;) {
    /* Whether it had ended before the read: then what the read finds is
     * all it wrote. */
    bool over = gone(p);
    ssize_t n = pread(p->out, buf, len - 1, (off_t)p->out_pos);
    char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;

    if (nl != NULL) {
      *nl = '\0';
      p->out_pos += (size_t)(nl - buf) + 1;
      return true;
    }
    if (n == (ssize_t)len - 1) { /* a line longer than @buf */
      buf[n] = '\0';
      p->out_pos += (size_t)n;
      return false;
    }
    buf[n > 0 ? n : 0] = '\0';
    if (over || t_now_ns() >= deadline)
      return false;
    t_sleep_ms(1);
  }
}

static void read_all(int fd, char *buf, size_t len)
{
  ssize_t n = fd >= 0 ? pread(fd, buf, len - 1, 0) : -1;

  buf[n > 0 ? n : 0] = '\0';
}

const char *proc_stderr(struct proc *p)
{
  read_all(p->err, p->text, sizeof p->text);
  return p->text;
}

void proc_stdout(const struct proc *p, char *buf, size_t len)
{
  read_all(p->out, buf, len);
}

void proc_describe(const struct proc *p, char *buf, size_t len)
{
  int st = p->status;

  if (!p->done)
    snprintf(buf, len, "still running");
  else if (st == -1)
    snprintf(buf, len, "unknown");
  else if (WIFEXITED(st))
    snprintf(buf, len, "exit %d", WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    snprintf(buf, len, "signal %d", WTERMSIG(st));
  else
    snprintf(buf, len, "status %#x", st);
}

int proc_executable(const char *path)
{
  struct stat st;

  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR);
}

int proc_self_path(char *buf, size_t len)
{
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);

  if (n <= 0)
    return -1;
  buf[n] = '\0';
  return 0;
}

uint32_t proc_self_id(void) { return (uint32_t)getpid(); }

/* Segment names to remove at exit (t_segment_forget()). */
#define MAX_FORGET 64
static char forget[MAX_FORGET][80];
static pthread_mutex_t forget_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t forget_owner; /* a forked child that exits removes nothing */

static void unlink_name(const char *name)
{
  char path[sizeof "/shmipc-" + sizeof forget[0]];

  if (strlen(name) >= sizeof forget[0])
    return; /* longer than any name a test makes: not one of ours */
  snprintf(path, sizeof path, "/shmipc-%.*s", (int)sizeof forget[0] - 1, name);
  (void)shm_unlink(path); /* ENOENT: already gone */
}

static void forget_at_exit(void)
{
  int i;

  if (getpid() != forget_owner)
    return;
  pthread_mutex_lock(&forget_mu);
  for (i = 0; i < MAX_FORGET; i++)
    if (forget[i][0] != '\0')
      unlink_name(forget[i]);
  pthread_mutex_unlock(&forget_mu);
}

void t_segment_forget(const char *name)
{
  static bool registered;
  int i, slot = -1;

  unlink_name(name);
  pthread_mutex_lock(&forget_mu);
  if (!registered) {
    forget_owner = getpid();
    registered = atexit(forget_at_exit) == 0;
  }
  for (i = 0; i < MAX_FORGET; i++) {
    if (strcmp(forget[i], name) == 0) {
      slot = -1;
      break;
    }
    if (forget[i][0] == '\0' && slot < 0)
      slot = i;
  }
  if (slot >= 0 && strlen(name) < sizeof forget[slot])
    memcpy(forget[slot], name, strlen(name) + 1);
  pthread_mutex_unlock(&forget_mu);
}
