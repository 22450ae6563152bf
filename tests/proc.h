/* SPDX-License-Identifier: MIT */
/*
 * Child processes for the interop suite: start a guest binary, wait for it
 * with a bound, kill it. proc_linux.c (fork/exec, SIGKILL) and
 * proc_windows.c (CreateProcess, TerminateProcess).
 */
#ifndef SHMIPC_TEST_PROC_H
#define SHMIPC_TEST_PROC_H

#include <stddef.h>
#include <stdint.h>

struct proc {
  intptr_t id; /* pid or process handle */
};

struct proc_status {
  int exited; /* ended on its own, with exit code @code */
  int code;
  int killed; /* ended by proc_kill() (SIGKILL or TerminateProcess) */
};

/* Start @argv[0] with @argv (NULL-terminated); 0 on success. */
int proc_spawn(struct proc *p, const char *const argv[]);
/* Wait at most @ms for the child to end: 0 and *st when it did, -1 when it
 * still runs. */
int proc_wait(struct proc *p, int ms, struct proc_status *st);
/* Kill the child at once (it cannot catch it). */
void proc_kill(struct proc *p);
/* 1 when @path names an executable file. */
int proc_executable(const char *path);
uint32_t proc_self_id(void);
/* This program's own path, for re-running it as a child. */
int proc_self_path(char *buf, size_t len);
int64_t proc_now_ns(void);
void proc_sleep_ms(int ms);

#endif /* SHMIPC_TEST_PROC_H */
