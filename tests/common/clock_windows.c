/* SPDX-License-Identifier: MIT */
/* The tests' clock on Windows (see clock.h). */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "clock.h"

int64_t t_now_ns(void)
{
  LARGE_INTEGER c, f;

  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return (c.QuadPart / f.QuadPart) * 1000000000 +
         (c.QuadPart % f.QuadPart) * 1000000000 / f.QuadPart;
}

int64_t t_now_ms(void) { return t_now_ns() / T_MS; }

/* Sleep() counts whole milliseconds: round up, so that the sleep is never
 * shorter than asked. */
void t_sleep_ns(int64_t ns)
{
  if (ns > 0)
    Sleep((DWORD)((ns + T_MS - 1) / T_MS));
}

void t_sleep_ms(int ms)
{
  if (ms > 0)
    Sleep((DWORD)ms);
}
