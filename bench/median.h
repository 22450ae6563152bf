/* SPDX-License-Identifier: MIT */
/* The one median every figure of shmipc-bench is reported with. */
#ifndef SHMIPC_BENCH_MEDIAN_H
#define SHMIPC_BENCH_MEDIAN_H

/** Median of the finite values among the first @p n of @p v (at most
 *  1024 are looked at), NAN when there are none; an even count gives the
 *  mean of the middle two. @p v is left as it was. */
double bench_median(const double *v, unsigned n);

#endif
