/* SPDX-License-Identifier: MIT */
#include "median.h"

#include <math.h>
#include <stdlib.h>

#define MEDIAN_MAX 1024u

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(const double *v, unsigned n)
{
  double tmp[MEDIAN_MAX];
  unsigned k = 0;

  for (unsigned i = 0; i < n && i < MEDIAN_MAX; i++)
    if (isfinite(v[i]))
      tmp[k++] = v[i];
  if (k == 0)
    return NAN;
  qsort(tmp, k, sizeof(*tmp), cmp_double);
  return k % 2 ? tmp[k / 2] : (tmp[k / 2 - 1] + tmp[k / 2]) / 2.0;
}
