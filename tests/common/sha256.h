/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4) for tests and test guests: digests of stream
 * payloads on both ends of a transfer. Not constant-time; not for secrets. */
#ifndef SHMIPC_TEST_SHA256_H
#define SHMIPC_TEST_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
  uint32_t h[8];
  uint64_t bytes;
  unsigned char buf[64];
  size_t fill;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, unsigned char out[32]);
/* Lower-case hex of a digest into out[65]. */
void sha256_hex(const unsigned char d[32], char out[65]);

#endif
