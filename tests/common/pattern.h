/* SPDX-License-Identifier: MIT */
/* The bytes of a test's large answer (tests/ECHO_GUEST.md, type 220): a
 * xorshift64* stream of @seed, eight little-endian bytes per step. The Go
 * echo guest (go/cmd/shmipc-echo) makes the same bytes. */
#ifndef SHMIPC_TEST_PATTERN_H
#define SHMIPC_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline void pattern_fill(unsigned char *p, size_t len, uint64_t seed)
{
  uint64_t x = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
  size_t i, k;

  for (i = 0; i < len; i += 8) {
    uint64_t v;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    v = x * UINT64_C(0x2545F4914F6CDD1D);
    for (k = 0; k < 8 && i + k < len; k++)
      p[i + k] = (unsigned char)(v >> (8 * k));
  }
}

#endif
