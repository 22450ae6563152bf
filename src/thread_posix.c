/* SPDX-License-Identifier: MIT */
/*
 * The library's own threads (guest workers, the host's listener) on POSIX
 * threads.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

struct shmipc__thread {
  pthread_t id;
};

int shmipc__thread_start(struct shmipc__thread **out, void *(*fn)(void *),
                         void *arg)
{
  struct shmipc__thread *t = malloc(sizeof *t);

  if (t == NULL)
    return SHMIPC_E_NOMEM;
  if (pthread_create(&t->id, NULL, fn, arg) != 0) {
    free(t);
    return SHMIPC_E_SYSTEM;
  }
  *out = t;
  return SHMIPC_OK;
}

void shmipc__thread_join(struct shmipc__thread *t)
{
  pthread_join(t->id, NULL);
  free(t);
}
