/* SPDX-License-Identifier: MIT */
/*
 * The library's own threads (guest workers, the host's listener) on Win32
 * threads, and mutexes as slim reader/writer locks.
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

struct shmipc__mutex {
  SRWLOCK lock;
};

int shmipc__mutex_create(struct shmipc__mutex **out)
{
  struct shmipc__mutex *m = malloc(sizeof *m);

  if (m == NULL)
    return SHMIPC_E_NOMEM;
  InitializeSRWLock(&m->lock);
  *out = m;
  return SHMIPC_OK;
}

void shmipc__mutex_destroy(struct shmipc__mutex *m)
{
  free(m); /* an SRW lock needs no teardown */
}

void shmipc__mutex_lock(struct shmipc__mutex *m)
{
  AcquireSRWLockExclusive(&m->lock);
}

void shmipc__mutex_unlock(struct shmipc__mutex *m)
{
  ReleaseSRWLockExclusive(&m->lock);
}
