/* SPDX-License-Identifier: MIT */
/* The tests' clock on Linux (see clock.h). */
#include <errno.h>
#include <time.h>

#include "clock.h"

int64_t t_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t t_now_ms(void) { return t_now_ns() / T_MS; }

void t_sleep_ns(int64_t ns)
{
  struct timespec ts;

  if (ns <= 0)
    return;
  ts.tv_sec = (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  /* a signal cuts the sleep short: sleep what is left */
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void t_sleep_ms(int ms) { t_sleep_ns((int64_t)ms * T_MS); }
