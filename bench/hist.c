/* SPDX-License-Identifier: MIT */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB_BITS 7u                   /* 128 buckets per power of two */
#define SUB_COUNT (1u << SUB_BITS)    /* 128 */
#define LINEAR_LIMIT (2u * SUB_COUNT) /* values < 256 are exact */
#define TOP_EXP 33u                   /* last power of two: [2^33, 2^34) */
#define MAX_VALUE ((UINT64_C(1) << (TOP_EXP + 1)) - 1)
#define BUCKETS (LINEAR_LIMIT + (TOP_EXP - SUB_BITS) * SUB_COUNT)

struct hist {
  uint64_t count;
  uint64_t sum; /* ns; a run would need ~580 years of summed time to wrap */
  uint64_t min;
  uint64_t max;
  uint64_t bucket[BUCKETS];
};

static unsigned bucket_index(uint64_t v)
{
  if (v < LINEAR_LIMIT)
    return (unsigned)v;
  if (v > MAX_VALUE)
    v = MAX_VALUE;
  unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 2^e <= v, e >= 8 */
  unsigned mant = (unsigned)(v >> (e - SUB_BITS)); /* in [128, 256) */
  return LINEAR_LIMIT + (e - (SUB_BITS + 1u)) * SUB_COUNT + (mant - SUB_COUNT);
}

/* Lowest value of bucket @p i and its width. */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *width)
{
  if (i < LINEAR_LIMIT) {
    *lo = i;
    *width = 1;
    return;
  }
  unsigned k = i - LINEAR_LIMIT;
  unsigned e = SUB_BITS + 1u + k / SUB_COUNT;
  uint64_t mant = SUB_COUNT + k % SUB_COUNT;
  *lo = mant << (e - SUB_BITS);
  *width = UINT64_C(1) << (e - SUB_BITS);
}

struct hist *hist_create(void)
{
  struct hist *h = calloc(1, sizeof(*h));
  if (h)
    hist_reset(h);
  return h;
}

void hist_destroy(struct hist *h) { free(h); }

void hist_reset(struct hist *h)
{
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t ns)
{
  h->bucket[bucket_index(ns)]++;
  h->count++;
  h->sum += ns;
  if (ns < h->min)
    h->min = ns;
  if (ns > h->max)
    h->max = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
  if (src->count == 0)
    return;
  for (unsigned i = 0; i < BUCKETS; i++)
    dst->bucket[i] += src->bucket[i];
  dst->count += src->count;
  dst->sum += src->sum;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
}

uint64_t hist_count(const struct hist *h) { return h->count; }

double hist_mean(const struct hist *h)
{
  return h->count ? (double)h->sum / (double)h->count : 0.0;
}

uint64_t hist_min(const struct hist *h) { return h->count ? h->min : 0; }
uint64_t hist_max(const struct hist *h) { return h->max; }

uint64_t hist_percentile(const struct hist *h, double p)
{
  if (h->count == 0)
    return 0;
  if (p <= 0.0)
    return h->min;
  if (p >= 100.0)
    return h->max;
  uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
  if (rank < 1)
    rank = 1;
  if (rank > h->count)
    rank = h->count;
  uint64_t seen = 0;
  for (unsigned i = 0; i < BUCKETS; i++) {
    seen += h->bucket[i];
    if (seen >= rank) {
      uint64_t lo, width;
      bucket_range(i, &lo, &width);
      uint64_t v = lo + (width - 1) / 2;
      if (v < h->min)
        v = h->min;
      if (v > h->max)
        v = h->max;
      return v;
    }
  }
  return h->max;
}
