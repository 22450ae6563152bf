/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for bcryptprimitives.dll for Wine releases that lack it
 * (Wine 8, Debian 12): the Go runtime (1.22 and later) loads it from
 * system32 at start-up for ProcessPrng. scripts/windows.sh builds it and
 * puts it into its private Wine prefix only; it is not part of the
 * library and never ships.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
      return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
