/* SPDX-License-Identifier: MIT */
/*
 * Child processes for every suite: start a program, wait for it with a
 * bound, kill it; on Linux also capture what it prints, run it as another
 * user, fork a helper, and kill whatever a failed test left running.
 * proc_linux.c (fork/exec, SIGKILL) and proc_windows.c (CreateProcess,
 * TerminateProcess: no capture, no other user).
 *
 * A child dies with the thread that started it (Linux: PR_SET_PDEATHSIG),
 * so tests start children from their main thread.
 */
#ifndef SHMIPC_TEST_PROC_H
#define SHMIPC_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* proc_spawn() flags (Linux only; Windows refuses them). */
#define PROC_CAPTURE 1u   /* its stdout and stderr into files (out, err) */
#define PROC_AS_NOBODY 2u /* as uid/gid 65534 with no supplementary groups */
#define PROC_NOBODY 65534

struct proc {
  intptr_t id;      /* pid or process handle; 0 when none was started */
  int out, err;     /* PROC_CAPTURE: memfds with its stdout and stderr */
  size_t out_pos;   /* how much of out proc_read_line() has taken */
  bool done;        /* it ended and was waited for */
  int status;       /* Linux: its wait status once done (-1: unknown) */
  int64_t ended_ns; /* when it was seen ended (t_now_ns()) */
  char text[8192];  /* proc_stderr()'s copy */
};

struct proc_status {
  int exited; /* ended on its own, with exit code @code */
  int code;
  int killed; /* ended by proc_kill() (SIGKILL or TerminateProcess) */
};

/* Start @argv[0] with @argv (NULL-terminated) and PROC_* @flags; 0 on
 * success. Safe with threads running: the child makes only
 * async-signal-safe calls before exec. */
int proc_spawn(struct proc *p, const char *const argv[], unsigned flags);
/* Wait at most @ms for the child to end: 0 (and *st when not NULL) when it
 * did (also when it had already been waited for), -1 when it still runs. */
int proc_wait(struct proc *p, int ms, struct proc_status *st);
/* Kill the child at once (it cannot catch it); nothing once it is done.
 * Safe from any thread. */
void proc_kill(struct proc *p);
/* 1 when @path names an executable file. */
int proc_executable(const char *path);
uint32_t proc_self_id(void);
/* This program's own path, for re-running it as a child. */
int proc_self_path(char *buf, size_t len);
/* The calling test makes segment @name: remove the name now if it is
 * there, and again when the program exits. Called after the test killed
 * the name's host (a killed host leaves its name behind, as documented),
 * and before the create by a fixture whose host a failing test may never
 * destroy (cmocka goes on with the next test; the exit removes the name).
 * Never while a host of the name is meant to live on. Only for names the
 * test made itself (they carry its pid); at most 64 per program, more are
 * removed at the call only. Nothing on Windows, where named objects go
 * with their last handle. */
void t_segment_forget(const char *name);

/* Linux only, below. */

/* Fork this program, as fork() (0 in the child, which dies with its
 * parent); 1 in the parent, with @p as for proc_spawn() without capture;
 * -1 on failure. */
int proc_fork(struct proc *p);
/* Kill (if it runs), wait for, and close the files of the child: after
 * this @p holds no process and no file. */
void proc_reap(struct proc *p);
/* Kill and reap every child still running (a failed test's teardown). */
void proc_reap_all(void);
/* The next line of its stdout (PROC_CAPTURE), without the newline, within
 * @ms; false when none came (it ended, or the time ran out). */
bool proc_read_line(struct proc *p, char *buf, size_t len, int ms);
/* All it has written on stderr so far (PROC_CAPTURE), in p->text. */
const char *proc_stderr(struct proc *p);
/* All it has written on stdout so far (PROC_CAPTURE), into @buf. */
void proc_stdout(const struct proc *p, char *buf, size_t len);
/* How it ended, in words ("exit 1", "signal 9"), into @buf. */
void proc_describe(const struct proc *p, char *buf, size_t len);

#endif /* SHMIPC_TEST_PROC_H */
