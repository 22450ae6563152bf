/* SPDX-License-Identifier: MIT */
/*
 * What segment_windows.c and event_windows.c share: the Windows side of a
 * segment (docs/PROTOCOL.md, "Windows"). Included only by *_windows.c.
 */
#ifndef SHMIPC_OS_WINDOWS_H
#define SHMIPC_OS_WINDOWS_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "internal.h"

/* Milliseconds for a wait of @ns, rounded up so that a short wait does not
 * become a busy loop of zero-length waits; never INFINITE. */
static inline DWORD shmipc__wait_ms(int64_t ns)
{
  int64_t ms;

  if (ns <= 0)
    return 0;
  ms = ns / 1000000 + (ns % 1000000 != 0);
  return ms >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)ms;
}

/* "Global\shmipc-" + name + "-" + 16 hex digits + "-" + suffix, and NUL */
#define SHMIPC__WIN_NAME_MAX                                                   \
  (sizeof "Global\\shmipc-" + SHMIPC_MAX_NAME_LEN + 40)

struct shmipc__holder;

struct shmipc__seg_os {
  HANDLE map;                  /* the named file mapping */
  void *view;                  /* all of it, mapped (the segment's base) */
  uint64_t view_size;          /* bytes, whole pages */
  HANDLE mutex[2];             /* liveness, by enum shmipc__role */
  struct shmipc__holder *held; /* the thread that holds our role's mutex */
  SECURITY_ATTRIBUTES sa;      /* owner-only unless the mode says otherwise */
  PSECURITY_DESCRIPTOR sd;
  char name[SHMIPC_MAX_NAME_LEN + 1];
  bool global; /* named in Global\ (SHMIPC_HOST_F_GLOBAL), not Local\ */
  /* Wake-up events, opened on first use: [0] attach, [1] doorbell, then
   * two per slot (requester waiting, responder waiting). */
  HANDLE *events;
  uint32_t n_events;
};

/* Event index for @word of @s waited on (or woken) with @bit; -1 when the
 * word is not a wake-up word of the segment. */
int shmipc__win_event_index(const struct shmipc__seg *s, const uint32_t *word,
                            uint32_t bit);
/* The event of segment word @word waited on with @bit (opened on first
 * use, owned by the segment), or NULL. */
HANDLE shmipc__win_event(const struct shmipc__seg *s, const uint32_t *word,
                         uint32_t bit);
/* segment_windows.c: the kernel object name of @os's segment,
 * "Local\shmipc-<name>[-<nonce>]-<suffix>" (Global\ when os->global). */
void shmipc__win_object_name(wchar_t *out, size_t len,
                             const struct shmipc__seg_os *os,
                             const uint64_t *nonce, const char *suffix);
/* The code, and the last-error text, of a failed CreateFileMappingW() of
 * @object (@size bytes) in Global\ with Windows error @err; @privileged
 * says whether this process's token holds SeCreateGlobalPrivilege (1, 0,
 * or -1: unknown). ERROR_ACCESS_DENIED is SHMIPC_E_ACCESS. */
int shmipc__win_global_create_error(unsigned long err, const char *object,
                                    uint64_t size, int privileged);

#endif /* SHMIPC_OS_WINDOWS_H */
