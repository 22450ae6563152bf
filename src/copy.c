/* SPDX-License-Identifier: MIT */
/*
 * Copies into large stream buffers.
 *
 * A chunk copied into a reassembly buffer is not read again until the
 * whole stream is delivered, and a stream larger than the caches has long
 * left them by then. Ordinary stores first read every destination line
 * (read for ownership), so the receiver moves each byte through memory
 * three times; streaming (non-temporal) stores write the lines without
 * reading them. glibc's memcpy makes the same choice, but only for copies
 * far larger than one chunk.
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) || defined(_M_X64) ||                                  \
    ((defined(__i386__) || defined(_M_IX86)) && defined(__SSE2__))
#include <emmintrin.h>
#define SHMIPC__HAVE_STREAM_STORES 1
#endif

void shmipc__copy_streaming(void *dst, const void *src, size_t n)
{
#ifdef SHMIPC__HAVE_STREAM_STORES
  unsigned char *d = dst;
  const unsigned char *s = src;
  size_t head = (16 - ((uintptr_t)d & 15)) & 15;

  if (n < SHMIPC__STREAMING_MIN + head) {
    memcpy(dst, src, n);
    return;
  }
  memcpy(d, s, head); /* up to the first 16-byte boundary of d */
  d += head;
  s += head;
  n -= head;
  for (; n >= 64; n -= 64, d += 64, s += 64) {
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
    __m128i e = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));
    _mm_stream_si128((__m128i *)(void *)d, a);
    _mm_stream_si128((__m128i *)(void *)(d + 16), b);
    _mm_stream_si128((__m128i *)(void *)(d + 32), c);
    _mm_stream_si128((__m128i *)(void *)(d + 48), e);
  }
  memcpy(d, s, n);
  /* Streaming stores are weakly ordered: make them visible before the
   * caller's unlock (which only orders ordinary stores). */
  _mm_sfence();
#else
  memcpy(dst, src, n);
#endif
}
