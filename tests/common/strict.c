/* SPDX-License-Identifier: MIT */
/* "Cannot run": skipped or failed, as the build decided (see strict.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strict.h"

bool t_strict(void)
{
  const char *e = getenv("SHMIPC_TEST_STRICT");

  return e != NULL && strcmp(e, "1") == 0;
}

int t_cannot_run(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (t_strict()) {
    fprintf(stderr, " (strict_tests: a failure, not a skip)\n");
    return 1;
  }
  fprintf(stderr, ": skipped\n");
  return T_EXIT_SKIP;
}
