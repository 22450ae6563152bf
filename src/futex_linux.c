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

#include "atomic.h"
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

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
/* The kernel's limit on the words of one futex_waitv(2). */
#define WAITV_MAX 128u

struct waitv_entry { /* struct futex_waitv of Linux 5.16 */
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};

void shmipc__words_wait(const struct shmipc__seg *s,
                        const struct shmipc__sleeper *w, uint32_t n,
                        uint32_t *also, uint32_t also_seen, int64_t timeout_ns)
{
  /* 0: not tried yet, 1: works, -1: the kernel has none (ENOSYS) */
  static int have_waitv;
  struct waitv_entry v[WAITV_MAX];
  struct timespec ts;
  uint32_t i, k = 0;
  int64_t at;

  (void)s;
  if (timeout_ns < 0)
    timeout_ns = 0;
  if (shmipc__load_relaxed32((uint32_t *)&have_waitv) != (uint32_t)-1 &&
      n + (also != NULL) <= WAITV_MAX) {
    for (i = 0; i < n; i++, k++) {
      /* shared: the words are in the segment */
      v[k].val = w[i].expected;
      v[k].uaddr = (uint64_t)(uintptr_t)w[i].word;
      v[k].flags = FUTEX_32;
      v[k].reserved = 0;
    }
    if (also != NULL) {
      /* shared as well: a shmipc__futex_wake() wakes it (the shared
       * flavour works on private memory) */
      v[k].val = also_seen;
      v[k].uaddr = (uint64_t)(uintptr_t)also;
      v[k].flags = FUTEX_32;
      v[k].reserved = 0;
      k++;
    }
    /* An absolute CLOCK_MONOTONIC timeout, the clock of shmipc__now_ns(). */
    at = shmipc__now_ns();
    at = timeout_ns > INT64_MAX - at ? INT64_MAX : at + timeout_ns;
    ts.tv_sec = (time_t)(at / 1000000000);
    ts.tv_nsec = (long)(at % 1000000000);
    SHMIPC__WS(SLEEP);
    /* Any return (woken, EAGAIN: a value changed, ETIMEDOUT, EINTR) means
     * "re-check"; only ENOSYS makes us fall back. */
    if (syscall(SYS_futex_waitv, v, k, 0, &ts, CLOCK_MONOTONIC) >= 0 ||
        errno != ENOSYS) {
      shmipc__store_relaxed32((uint32_t *)&have_waitv, 1);
      return;
    }
    shmipc__store_relaxed32((uint32_t *)&have_waitv, (uint32_t)-1);
  }
  if (also != NULL && shmipc__load_acquire32(also) != also_seen)
    return;
  shmipc__futex_wait(w[0].word, w[0].expected,
                     n > 1 || also != NULL ? (timeout_ns < SHMIPC__WORDS_POLL_NS
                                                  ? timeout_ns
                                                  : SHMIPC__WORDS_POLL_NS)
                                           : timeout_ns);
}

void shmipc__word_wake(const struct shmipc__seg *s, uint32_t *word,
                       uint32_t bits)
{
  (void)s;
  (void)bits;
  shmipc__futex_wake(word);
}
