/* SPDX-License-Identifier: MIT */
/*
 * The tests' clock: monotonic time and sleeps that finish their time
 * (clock_linux.c, clock_windows.c). The tests measure the library with
 * this clock, not with the library's own.
 */
#ifndef SHMIPC_TEST_CLOCK_H
#define SHMIPC_TEST_CLOCK_H

#include <stdint.h>

#define T_MS INT64_C(1000000) /* nanoseconds in a millisecond */

int64_t t_now_ns(void);
int64_t t_now_ms(void);
void t_sleep_ns(int64_t ns);
void t_sleep_ms(int ms);

/* How much slower than usual the peer under test runs: the integer in
 * SHMIPC_TEST_TIME_SCALE (1-100; 1 when unset or invalid). A test that
 * bounds a latency multiplies the bound by it; scripts/sanitizers.sh sets
 * it where the peer runs under valgrind. */
int t_time_scale(void);

/* @ns in milliseconds, for messages. */
static inline double t_ms(int64_t ns) { return (double)ns / 1e6; }

#endif /* SHMIPC_TEST_CLOCK_H */
