/* SPDX-License-Identifier: MIT */
/* Child processes on Windows (see proc.h): start, wait, kill. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <string.h>

#include "proc.h"

/* The exit code TerminateProcess gives a killed child. */
#define KILLED_CODE 0xDEADu

int proc_spawn(struct proc *p, const char *const argv[], unsigned flags)
{
  char cmd[4096];
  size_t n = 0;
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;
  int i;

  memset(p, 0, sizeof *p);
  p->out = p->err = -1;
  if (flags != 0)
    return -1; /* capture and another user are Linux only */
  /* Arguments here have no quotes or backslashes before quotes: quoting
   * each is enough. */
  for (i = 0; argv[i] != NULL; i++) {
    int w =
        snprintf(cmd + n, sizeof cmd - n, "%s\"%s\"", i ? " " : "", argv[i]);
    if (w < 0 || (size_t)w >= sizeof cmd - n)
      return -1;
    n += (size_t)w;
  }
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (!CreateProcessA(argv[0], cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
    return -1;
  CloseHandle(pi.hThread);
  p->id = (intptr_t)pi.hProcess;
  return 0;
}

int proc_wait(struct proc *p, int ms, struct proc_status *st)
{
  DWORD code;

  if (WaitForSingleObject((HANDLE)p->id, (DWORD)ms) != WAIT_OBJECT_0)
    return -1;
  if (!GetExitCodeProcess((HANDLE)p->id, &code))
    return -1;
  p->done = true;
  if (st != NULL) {
    st->killed = code == KILLED_CODE;
    st->exited = !st->killed;
    st->code = (int)code;
  }
  return 0;
}

void proc_kill(struct proc *p)
{
  if (p->done)
    return;
  TerminateProcess((HANDLE)p->id, KILLED_CODE);
}

int proc_executable(const char *path)
{
  DWORD a = GetFileAttributesA(path);

  return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

int proc_self_path(char *buf, size_t len)
{
  DWORD n = GetModuleFileNameA(NULL, buf, (DWORD)len);

  return n > 0 && n < len ? 0 : -1;
}

uint32_t proc_self_id(void) { return (uint32_t)GetCurrentProcessId(); }

void t_segment_forget(const char *name)
{
  (void)name; /* named objects go with their last handle */
}
