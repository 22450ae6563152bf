/* SPDX-License-Identifier: MIT */
/*
 * The library's own threads (guest workers, the host's listener) on Win32
 * threads.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <stdlib.h>
#include <windows.h>

#include "internal.h"

struct shmipc__thread {
  HANDLE handle;
  void *(*fn)(void *);
  void *arg;
};

static DWORD WINAPI thread_main(void *p)
{
  struct shmipc__thread *t = p;

  (void)t->fn(t->arg);
  return 0;
}

int shmipc__thread_start(struct shmipc__thread **out, void *(*fn)(void *),
                         void *arg)
{
  struct shmipc__thread *t = malloc(sizeof *t);

  if (t == NULL)
    return SHMIPC_E_NOMEM;
  t->fn = fn;
  t->arg = arg;
  t->handle = CreateThread(NULL, 0, thread_main, t, 0, NULL);
  if (t->handle == NULL) {
    free(t);
    return SHMIPC_E_SYSTEM;
  }
  *out = t;
  return SHMIPC_OK;
}

void shmipc__thread_join(struct shmipc__thread *t)
{
  WaitForSingleObject(t->handle, INFINITE);
  CloseHandle(t->handle);
  free(t);
}
