/* SPDX-License-Identifier: MIT */
/*
 * The library's own threads (guest workers, the host's listener) and
 * mutexes on POSIX threads.
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

struct shmipc__mutex {
  pthread_mutex_t mu;
};

int shmipc__mutex_create(struct shmipc__mutex **out)
{
  struct shmipc__mutex *m = malloc(sizeof *m);

  if (m == NULL)
    return SHMIPC_E_NOMEM;
  if (pthread_mutex_init(&m->mu, NULL) != 0) {
    free(m);
    return SHMIPC_E_SYSTEM;
  }
  *out = m;
  return SHMIPC_OK;
}

void shmipc__mutex_destroy(struct shmipc__mutex *m)
{
  if (m == NULL)
    return;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void shmipc__mutex_lock(struct shmipc__mutex *m) { pthread_mutex_lock(&m->mu); }

void shmipc__mutex_unlock(struct shmipc__mutex *m)
{
  pthread_mutex_unlock(&m->mu);
}
