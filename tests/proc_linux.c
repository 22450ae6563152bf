/* SPDX-License-Identifier: MIT */
/* Child processes for the interop suite on Linux (see proc.h). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

int proc_spawn(struct proc *p, const char *const argv[])
{
  pid_t pid = fork();

  if (pid < 0)
    return -1;
  if (pid == 0) {
    /* A guest outlives no test: it dies with the thread that started it
     * (the tests start children from their main thread). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(argv[0], (char *const *)argv);
    perror("exec guest");
    _exit(127);
  }
  p->id = pid;
  return 0;
}

int proc_wait(struct proc *p, int ms, struct proc_status *st)
{
  int s, i;

  for (i = 0;; i++) {
    if (waitpid((pid_t)p->id, &s, WNOHANG) == (pid_t)p->id)
      break;
    if (i >= ms)
      return -1;
    usleep(1000);
  }
  st->exited = WIFEXITED(s);
  st->code = st->exited ? WEXITSTATUS(s) : -1;
  st->killed = WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL;
  return 0;
}

void proc_kill(struct proc *p)
{
  kill((pid_t)p->id, SIGKILL);
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

uint32_t proc_self_id(void)
{
  return (uint32_t)getpid();
}

int64_t proc_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void proc_sleep_ms(int ms)
{
  usleep((useconds_t)ms * 1000);
}
