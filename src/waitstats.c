/* SPDX-License-Identifier: MIT */
/*
 * The diagnosis build's wait counters (waitstats.h). Each thread counts in
 * a block of its own, allocated at its first count and kept to the exit of
 * the process, so that the counts of threads that ended are still there.
 */
#define _GNU_SOURCE
#include "waitstats.h"

#if defined(SHMIPC_WAIT_STATS) && defined(__linux__)
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct block {
  struct block *next;
  long tid;
  uint64_t n[SHMIPC__WS_COUNT];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct block *blocks;
static _Thread_local struct block *mine;

static const char *const names[SHMIPC__WS_COUNT] = {
    "spins",   "yields", "sleeps",   "wakes",
    "answers", "served", "fasthits", "slow"};

void shmipc__ws_add(enum shmipc__ws what)
{
  if (mine == NULL) {
    mine = calloc(1, sizeof *mine);
    if (mine == NULL)
      return;
    mine->tid = (long)syscall(SYS_gettid);
    pthread_mutex_lock(&mu);
    mine->next = blocks;
    blocks = mine;
    pthread_mutex_unlock(&mu);
  }
  mine->n[what]++;
}

__attribute__((destructor)) static void report(void)
{
  const char *path = getenv("SHMIPC_WAIT_STATS");
  FILE *f = path != NULL ? fopen(path, "a") : stderr;
  struct block *b;
  int i;

  if (f == NULL)
    return;
  pthread_mutex_lock(&mu);
  for (b = blocks; b != NULL; b = b->next) {
    fprintf(f, "pid %ld tid %ld", (long)getpid(), b->tid);
    for (i = 0; i < SHMIPC__WS_COUNT; i++)
      fprintf(f, " %s %llu", names[i], (unsigned long long)b->n[i]);
    fputc('\n', f);
  }
  pthread_mutex_unlock(&mu);
  if (f != stderr)
    fclose(f);
}
#else
typedef int shmipc__waitstats_empty; /* ISO C: no empty translation unit */
#endif
