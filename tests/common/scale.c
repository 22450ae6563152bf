/* SPDX-License-Identifier: MIT */
/* t_time_scale() (clock.h), the same on every OS. */
#include <stdlib.h>

#include "clock.h"

int t_time_scale(void)
{
  const char *e = getenv("SHMIPC_TEST_TIME_SCALE");
  char *end;
  long v;

  if (e == NULL)
    return 1;
  v = strtol(e, &end, 10);
  if (end == e || *end != '\0' || v < 1 || v > 100)
    return 1;
  return (int)v;
}
