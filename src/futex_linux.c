/* SPDX-License-Identifier: MIT */
/*
 * Futex words, time and yielding on Linux.
 *
 * Futex contract (docs/PROTOCOL.md, "Sleep and wake-up"): a sleeper first
 * announces itself by setting its waiter bit in the word with a full-barrier
 * CAS, re-checks its condition, then calls FUTEX_WAIT with the exact value
 * it announced; the kernel returns at once if the word changed meanwhile.
 * A waker changes the word with a full-barrier CAS and calls FUTEX_WAKE only
 * if the value it replaced carried a waiter bit. The words live in memory
 * shared between processes, so the shared (non-PRIVATE) operations are used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "waitstats.h"

int64_t shmipc__now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void shmipc__yield(void)
{
  SHMIPC__WS(YIELD);
  sched_yield();
}

void shmipc__sleep_ns(int64_t ns)
{
  struct timespec ts;

  if (ns <= 0)
    return;
  ts.tv_sec = (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void shmipc__futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
  struct timespec ts;

  if (timeout_ns < 0)
    timeout_ns = 0;
  ts.tv_sec = (time_t)(timeout_ns / 1000000000);
  ts.tv_nsec = (long)(timeout_ns % 1000000000);
  SHMIPC__WS(SLEEP);
  /* Relative timeout; EAGAIN (value changed), EINTR and ETIMEDOUT all mean
   * "re-check", which the caller does. */
  syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

void shmipc__futex_wake(uint32_t *word)
{
  SHMIPC__WS(WAKE);
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* One futex per word: Linux needs no direction, the kernel keys the wait on
 * the word's physical address. */
void shmipc__word_wait(const struct shmipc__seg *s, uint32_t *word,
                       uint32_t expected, uint32_t bit, int64_t timeout_ns)
{
  (void)s;
  (void)bit;
  shmipc__futex_wait(word, expected, timeout_ns);
}

void shmipc__word_wake(const struct shmipc__seg *s, uint32_t *word,
                       uint32_t bits)
{
  (void)s;
  (void)bits;
  shmipc__futex_wake(word);
}
