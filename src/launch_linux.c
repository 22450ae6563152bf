/* SPDX-License-Identifier: MIT */
/*
 * Linux launcher: start a guest program with the host's anonymous segment
 * (a sealed memfd) inherited as descriptor 3 and named in SHMIPC_FD, tie
 * the child's life to the launching thread (PR_SET_PDEATHSIG) and learn
 * its end through a pidfd (docs/PROTOCOL.md, "Launched guests").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic.h"
#include "internal.h"

extern char **environ;

/* The segment's descriptor number in the child: the first after stdio. */
#define CHILD_FD 3
#define CHILD_FD_VAR SHMIPC_ENV_FD "=3"
/* How long the launcher waits for the child to reach its exec. */
#define EXEC_WAIT_MS 10000
/* Longest single sleep of a wait: a bound, not a poll (the pidfd wakes
 * it at the child's end). */
#define WAIT_SLICE_NS INT64_C(1000000000)
/* The longest shmipc_child_destroy() waits for a killed child's end. */
#define DESTROY_WAIT_NS INT64_C(10000000000)
/* The pause of the fallback wait where the kernel has no pidfd (< 5.3). */
#define NO_PIDFD_PAUSE_NS INT64_C(1000000)

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

struct shmipc_child {
  pid_t pid;
  int pidfd;                  /* -1 where the kernel has none */
  int64_t default_timeout_ns; /* the launching host's, resolved */
  uint32_t reaped;            /* atomic: the exit below is known */
  shmipc_child_exit exit;
};

/* Everything the child needs, made before fork: after it, only
 * async-signal-safe calls. */
struct spawn {
  const char *path;
  char *const *argv;
  char *const *envp;
  const char *cwd;
  pid_t parent;
  int seg_fd;   /* the child's own open file description of the segment */
  int err_fd;   /* write end of the report pipe, close-on-exec */
  long max_fd;  /* for the descriptor loop where close_range is missing */
  sigset_t run; /* the mask the program starts with: nothing blocked */
};

/* What the child reports when it cannot exec: the step, and errno. */
enum { STEP_DEATHSIG = 1, STEP_FDS, STEP_CWD, STEP_EXEC };
struct report {
  int step;
  int err;
};

void shmipc_launch_config_init(shmipc_launch_config *cfg)
{
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = sizeof *cfg;
}

static int sys_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

static int sys_close_range(unsigned first, unsigned last, unsigned flags)
{
#ifdef SYS_close_range
  return (int)syscall(SYS_close_range, first, last, flags);
#else
  (void)first;
  (void)last;
  (void)flags;
  errno = ENOSYS;
  return -1;
#endif
}

/* In the child: say why it cannot go on, and end. */
static void child_fail(const struct spawn *sp, int step, int err)
{
  struct report r;

  r.step = step;
  r.err = err;
  if (write(sp->err_fd, &r, sizeof r) < 0) {
    /* nobody to tell: the launcher sees the exit */
  }
  _exit(127);
}

/* The child between fork and exec: async-signal-safe calls only (the
 * host may have other threads, whose locks the fork copied as they
 * were). Every signal is blocked on entry (the launcher blocked them
 * before fork), so no handler of the host runs here. */
static void child_run(struct spawn *sp)
{
  long fd;
  int e;

  /* Die with the launching thread. If the host died before this took
   * effect, the child was reparented already: the check closes the
   * race. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    child_fail(sp, STEP_DEATHSIG, errno);
  if (getppid() != sp->parent)
    _exit(127);
  /* Out of the way of CHILD_FD first: the pipe may be descriptor 3. */
  e = fcntl(sp->err_fd, F_DUPFD_CLOEXEC, CHILD_FD + 1);
  if (e < 0)
    child_fail(sp, STEP_FDS, errno);
  sp->err_fd = e;
  if (sp->seg_fd != CHILD_FD && dup2(sp->seg_fd, CHILD_FD) < 0)
    child_fail(sp, STEP_FDS, errno);
  if (fcntl(CHILD_FD, F_SETFD, 0) != 0) /* inherited across exec */
    child_fail(sp, STEP_FDS, errno);
  /* Every other descriptor above stdio goes at exec (the report pipe
   * too: its end tells the launcher that exec succeeded). */
  if (sys_close_range(CHILD_FD + 1, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
    for (fd = CHILD_FD + 1; fd < sp->max_fd; fd++)
      if (fd != e)
        (void)close((int)fd);
  if (sp->cwd != NULL && chdir(sp->cwd) != 0)
    child_fail(sp, STEP_CWD, errno);
  (void)sigprocmask(SIG_SETMASK, &sp->run, NULL);
  execve(sp->path, sp->argv, sp->envp);
  child_fail(sp, STEP_EXEC, errno);
}

/* The child's environment: @envp (or ours) without any SHMIPC_FD, then
 * ours. One allocation of pointers; the strings are the caller's. */
static char **child_env(const char *const *envp)
{
  static const char var[] = SHMIPC_ENV_FD "=";
  const char *const *src = envp != NULL ? envp : (const char *const *)environ;
  size_t n = 0, i, k = 0;
  char **out;

  while (src != NULL && src[n] != NULL)
    n++;
  out = malloc((n + 2) * sizeof *out);
  if (out == NULL)
    return NULL;
  for (i = 0; i < n; i++)
    if (strncmp(src[i], var, sizeof var - 1) != 0)
      out[k++] = (char *)src[i];
  out[k++] = (char *)CHILD_FD_VAR;
  out[k] = NULL;
  return out;
}

static int launch_code(int err)
{
  switch (err) {
  case ENOENT:
  case ENOTDIR:
    return SHMIPC_E_NOT_FOUND;
  case EACCES:
  case EPERM:
  case ENOEXEC:
    return SHMIPC_E_ACCESS;
  case ENOMEM:
  case EAGAIN:
    return SHMIPC_E_NOMEM;
  default:
    return SHMIPC_E_SYSTEM;
  }
}

/* Wait for the child's report: 0 once it executed (the pipe closed),
 * else the failure. */
static int exec_result(int fd, const struct spawn *sp, pid_t pid)
{
  static const char *const steps[] = {"", "setting PR_SET_PDEATHSIG",
                                      "arranging descriptors", "entering",
                                      "executing"};
  struct report r;
  struct pollfd p;
  size_t got = 0;
  ssize_t n;
  int64_t until = shmipc__now_ns() + (int64_t)EXEC_WAIT_MS * 1000000;

  while (got < sizeof r) {
    int64_t left = until - shmipc__now_ns();
    if (left <= 0)
      return shmipc__fail(SHMIPC_E_SYSTEM,
                          "launching %s: child %ld did not reach exec in "
                          "%d ms",
                          sp->path, (long)pid, EXEC_WAIT_MS);
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno != EINTR)
      return shmipc__fail(SHMIPC_E_SYSTEM, "launching %s: poll: %s", sp->path,
                          strerror(errno));
    if (p.revents == 0)
      continue;
    n = read(fd, (char *)&r + got, sizeof r - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  if (got == 0)
    return SHMIPC_OK; /* closed at exec */
  if (got < sizeof r || r.step < STEP_DEATHSIG || r.step > STEP_EXEC)
    return shmipc__fail(SHMIPC_E_SYSTEM,
                        "launching %s: child %ld ended before exec", sp->path,
                        (long)pid);
  return shmipc__fail(launch_code(r.err), "launching %s: %s%s%s: %s", sp->path,
                      steps[r.step], r.step == STEP_CWD ? " " : "",
                      r.step == STEP_CWD ? sp->cwd : "", strerror(r.err));
}

/* Reap the child if it ended: 1 when it did, 0 while it runs, negative on
 * error. @block waits (a SIGKILLed child's end). */
static int reap(shmipc_child *c, bool block)
{
  siginfo_t si;

  for (;;) {
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | (block ? 0 : WNOHANG)) == 0)
      break;
    if (errno == EINTR)
      continue;
    return shmipc__fail(SHMIPC_E_SYSTEM,
                        "waiting for child %ld: %s (did a SIGCHLD handler "
                        "reap it?)",
                        (long)c->pid, strerror(errno));
  }
  if (si.si_pid == 0)
    return 0;
  c->exit.struct_size = sizeof c->exit;
  if (si.si_code == CLD_EXITED) {
    c->exit.signal = 0;
    c->exit.code = si.si_status;
  } else {
    c->exit.signal = (uint32_t)si.si_status;
    c->exit.code = 0;
  }
  /* release: the exit is written; pairs with the acquire loads below */
  shmipc__store_release32(&c->reaped, 1);
  return 1;
}

static int launch(shmipc_host *h, const shmipc_launch_config *cfg,
                  shmipc_child **out)
{
  const char *self_argv[2];
  struct shmipc__endpoint *ep;
  struct spawn sp;
  sigset_t all, old;
  shmipc_child *c;
  char **env = NULL;
  int pipefd[2] = {-1, -1}, r, e;
  pid_t pid;

  if (out == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "out is NULL");
  *out = NULL;
  if (h == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "h is NULL");
  if (cfg == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "cfg is NULL");
  if (cfg->struct_size != sizeof *cfg)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "struct_size %lu, want %lu (fill the config with "
                        "shmipc_launch_config_init())",
                        (unsigned long)cfg->struct_size,
                        (unsigned long)sizeof *cfg);
  if (cfg->path == NULL || cfg->path[0] == '\0')
    return shmipc__fail(SHMIPC_E_INVALID, "path is %s",
                        cfg->path == NULL ? "NULL" : "empty");
  ep = shmipc__host_ep(h);
  if (ep->seg.path[0] != '\0')
    return shmipc__fail(SHMIPC_E_STATE,
                        "the host's segment is named (%s%s): launch needs "
                        "one from shmipc_host_create_anonymous()",
                        shmipc__seg_prefix,
                        ep->seg.path + sizeof "/shmipc-" - 1);

  c = calloc(1, sizeof *c);
  if (c == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the child handle");
  c->pidfd = -1;
  c->default_timeout_ns = ep->default_timeout_ns;
  env = child_env(cfg->envp);
  if (env == NULL) {
    r = shmipc__fail(SHMIPC_E_NOMEM, "allocating the child's environment");
    goto err_free;
  }
  memset(&sp, 0, sizeof sp);
  self_argv[0] = cfg->path;
  self_argv[1] = NULL;
  sp.path = cfg->path;
  sp.argv = (char *const *)(cfg->argv != NULL ? cfg->argv : self_argv);
  sp.envp = env;
  sp.cwd = cfg->cwd;
  sp.parent = getpid();
  sp.max_fd = sysconf(_SC_OPEN_MAX);
  if (sp.max_fd < 0 || sp.max_fd > INT_MAX)
    sp.max_fd = 1 << 16;
  sigemptyset(&sp.run);
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    r = shmipc__fail(launch_code(errno), "launching %s: pipe: %s", cfg->path,
                     strerror(errno));
    goto err_env;
  }
  sp.err_fd = pipefd[1];
  sp.seg_fd = shmipc__seg_child_fd(&ep->seg);
  if (sp.seg_fd < 0) {
    r = sp.seg_fd;
    goto err_pipe;
  }

  /* No handler of ours may run in the child before exec. */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pid = fork();
  if (pid == 0)
    child_run(&sp); /* never returns */
  e = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  /* The child holds the segment's other description now; ours would keep
   * its guest lock alive after the child's death. */
  close(sp.seg_fd);
  close(pipefd[1]);
  pipefd[1] = -1;
  if (pid < 0) {
    r = shmipc__fail(launch_code(e), "launching %s: fork: %s", cfg->path,
                     strerror(e));
    goto err_pipe;
  }
  c->pid = pid;
  c->pidfd = sys_pidfd_open(pid); /* -1 before Linux 5.3: waits poll */
  r = exec_result(pipefd[0], &sp, pid);
  if (r != SHMIPC_OK) {
    (void)kill(pid, SIGKILL);
    (void)reap(c, true);
    goto err_pipe;
  }
  close(pipefd[0]);
  free(env);
  *out = c;
  return SHMIPC_OK;

err_pipe:
  if (pipefd[1] >= 0)
    close(pipefd[1]);
  close(pipefd[0]);
err_env:
  free(env);
err_free:
  if (c->pidfd >= 0)
    close(c->pidfd);
  free(c);
  return r;
}

int shmipc_host_launch(shmipc_host *h, const shmipc_launch_config *cfg,
                       shmipc_child **out)
{
  int r = launch(h, cfg, out);

  if (r == SHMIPC_OK)
    shmipc__host_launched(h, shmipc__child_dup(*out), (*out)->pid);
  return shmipc__failed(r);
}

intptr_t shmipc__child_dup(const shmipc_child *c)
{
  return c->pidfd >= 0 ? fcntl(c->pidfd, F_DUPFD_CLOEXEC, 0) : -1;
}

int shmipc__child_ended(intptr_t handle)
{
  struct pollfd p = {.fd = (int)handle, .events = POLLIN};

  /* A pidfd turns readable when its process ends, and stays so. */
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) ? 1 : 0;
}

void shmipc__child_handle_close(intptr_t handle) { close((int)handle); }

int64_t shmipc_child_pid(const shmipc_child *c)
{
  return c != NULL ? (int64_t)c->pid : 0;
}

intptr_t shmipc_child_handle(const shmipc_child *c)
{
  return c != NULL ? (intptr_t)c->pidfd : -1;
}

static int child_wait(shmipc_child *c, int64_t timeout_ns,
                      shmipc_child_exit *out)
{
  struct shmipc__deadline dl;
  struct pollfd p;
  int64_t budget, left;
  int r;

  if (c == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "c is NULL");
  if (out != NULL && out->struct_size != sizeof *out)
    return shmipc__fail(SHMIPC_E_INVALID, "out->struct_size %lu, want %lu",
                        (unsigned long)out->struct_size,
                        (unsigned long)sizeof *out);
  if (shmipc__budget(timeout_ns, c->default_timeout_ns, &budget) != SHMIPC_OK)
    return shmipc__fail_timeout("timeout_ns", timeout_ns);
  dl = shmipc__deadline(budget);
  /* acquire: pairs with the release in reap() */
  while (!shmipc__load_acquire32(&c->reaped)) {
    r = reap(c, false);
    if (r < 0)
      return r;
    if (r == 1)
      break;
    left = shmipc__left(&dl, shmipc__now_ns());
    if (left == 0)
      return shmipc__fail(SHMIPC_E_TIMEOUT, "child %ld still runs",
                          (long)c->pid);
    if (left > WAIT_SLICE_NS)
      left = WAIT_SLICE_NS;
    if (c->pidfd < 0) {
      shmipc__sleep_ns(left < NO_PIDFD_PAUSE_NS ? left : NO_PIDFD_PAUSE_NS);
      continue;
    }
    /* The pidfd turns readable when the child ends. */
    p.fd = c->pidfd;
    p.events = POLLIN;
    p.revents = 0;
    (void)poll(&p, 1, (int)((left + 999999) / 1000000));
  }
  if (out != NULL)
    *out = c->exit;
  return SHMIPC_OK;
}

int shmipc_child_wait(shmipc_child *c, int64_t timeout_ns,
                      shmipc_child_exit *out)
{
  return shmipc__failed(child_wait(c, timeout_ns, out));
}

static int child_kill(shmipc_child *c)
{
  if (c == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "c is NULL");
  /* acquire: pairs with the release in reap() */
  if (shmipc__load_acquire32(&c->reaped))
    return SHMIPC_OK;
#ifdef SYS_pidfd_send_signal
  /* The pidfd names this process even once its id is reused. */
  if (c->pidfd >= 0 &&
      syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0) == 0)
    return SHMIPC_OK;
  if (c->pidfd >= 0 && errno == ESRCH)
    return SHMIPC_OK; /* ended and reaped meanwhile */
#endif
  /* Not reaped, so the id is still this child's (a zombie keeps it). */
  if (kill(c->pid, SIGKILL) != 0 && errno != ESRCH)
    return shmipc__fail(SHMIPC_E_SYSTEM, "killing child %ld: %s", (long)c->pid,
                        strerror(errno));
  return SHMIPC_OK;
}

int shmipc_child_kill(shmipc_child *c) { return shmipc__failed(child_kill(c)); }

void shmipc_child_destroy(shmipc_child *c)
{
  if (c == NULL)
    return;
  /* acquire: pairs with the release in reap() */
  if (!shmipc__load_acquire32(&c->reaped)) {
    /* SIGKILL cannot be caught: the end comes at once, unless the kernel
     * holds the process in an uninterruptible wait. After DESTROY_WAIT_NS
     * the process is left to its parent's next wait (a zombie). */
    (void)child_kill(c);
    (void)child_wait(c, DESTROY_WAIT_NS, NULL);
  }
  if (c->pidfd >= 0)
    close(c->pidfd);
  free(c);
}
