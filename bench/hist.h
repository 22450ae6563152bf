/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram (HdrHistogram-like) for shmipc-bench.
 *
 * Values are nanoseconds. Values below 256 ns have one bucket each (exact);
 * above that every power of two [2^e, 2^(e+1)) is split into 128 equal
 * buckets, so a bucket is at most 1/128 (0.8 %) of its value wide: two
 * significant decimal digits or better. The top power of two is
 * [2^33, 2^34), i.e. up to ~17 s; larger values are counted in the top
 * bucket (the exact maximum is kept separately).
 *
 * A histogram is not thread-safe: each measuring thread owns one and they
 * are merged afterwards.
 */
#ifndef SHMIPC_BENCH_HIST_H
#define SHMIPC_BENCH_HIST_H

#include <stdint.h>

struct hist;

/** A new, empty histogram, or NULL when out of memory. */
struct hist *hist_create(void);
/** Free @p h. Accepts NULL. */
void hist_destroy(struct hist *h);
/** Forget every recorded value. */
void hist_reset(struct hist *h);

/** Count one value of @p ns nanoseconds. */
void hist_record(struct hist *h, uint64_t ns);
/** Add every value counted in @p src to @p dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/** Number of recorded values. */
uint64_t hist_count(const struct hist *h);
/** Exact mean of the recorded values (0 when empty). */
double hist_mean(const struct hist *h);
/** Exact smallest / largest recorded value (0 when empty). */
uint64_t hist_min(const struct hist *h);
uint64_t hist_max(const struct hist *h);
/**
 * The value at percentile @p p (0-100): the middle of the bucket holding the
 * value of rank ceil(p/100 * count), clamped to [min, max]. 0 when empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);

#endif /* SHMIPC_BENCH_HIST_H */
