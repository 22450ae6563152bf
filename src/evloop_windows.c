/* SPDX-License-Identifier: MIT */
/*
 * The event-loop handle on Windows: a manual-reset event, for
 * WaitForMultipleObjects() and MsgWaitForMultipleObjects(). The library's
 * thread sleeps with one WaitForMultipleObjects() on its control event
 * and on the events of the armed words (event_windows.c: the requester's
 * event of each slot, the doorbell's), which the guest signals when it
 * finds our waiter bit, and an abort signals too.
 */
#include <stdlib.h>

#include "atomic.h"
#include "evloop.h"
#include "os_windows.h"

struct shmipc__evos {
  HANDLE loop; /* the loop's handle: manual-reset */
  HANDLE ctl;  /* the library thread's: auto-reset */
};

int shmipc__evos_open(struct shmipc__evos **out, intptr_t *handle)
{
  struct shmipc__evos *o = malloc(sizeof *o);

  if (o == NULL)
    return SHMIPC_E_NOMEM;
  o->loop = CreateEventW(NULL, TRUE, FALSE, NULL);
  o->ctl = CreateEventW(NULL, FALSE, FALSE, NULL);
  if (o->loop == NULL || o->ctl == NULL) {
    unsigned long e = GetLastError();
    if (o->loop != NULL)
      CloseHandle(o->loop);
    if (o->ctl != NULL)
      CloseHandle(o->ctl);
    free(o);
    return shmipc__fail(SHMIPC_E_SYSTEM, "CreateEventW: error %lu", e);
  }
  *out = o;
  *handle = (intptr_t)o->loop;
  return SHMIPC_OK;
}

void shmipc__evos_close(struct shmipc__evos *o)
{
  if (o == NULL)
    return;
  CloseHandle(o->loop);
  CloseHandle(o->ctl);
  free(o);
}

void shmipc__evos_signal(struct shmipc__evos *o) { SetEvent(o->loop); }

void shmipc__evos_reset(struct shmipc__evos *o) { ResetEvent(o->loop); }

void shmipc__evos_kick(struct shmipc__evos *o, uint32_t *ctl)
{
  (void)ctl;
  SetEvent(o->ctl);
}

void shmipc__evos_sleep(struct shmipc__evos *o, const struct shmipc__seg *s,
                        const struct shmipc__sleeper *w, uint32_t n,
                        uint32_t *ctl, uint32_t ctl_seen, uint32_t *abort_seq,
                        uint32_t abort_seen, int64_t timeout_ns)
{
  HANDLE hs[MAXIMUM_WAIT_OBJECTS];
  DWORD k = 0;
  uint32_t i;

  (void)abort_seq;
  (void)abort_seen;
  hs[k++] = o->ctl;
  for (i = 0; i < n; i++) {
    HANDLE e = shmipc__win_event(s, w[i].word, w[i].bit);

    if (e == NULL || k == MAXIMUM_WAIT_OBJECTS) {
      /* a word without an event here: looked at every millisecond */
      if (timeout_ns > SHMIPC__WORDS_POLL_NS)
        timeout_ns = SHMIPC__WORDS_POLL_NS;
      continue;
    }
    hs[k++] = e;
  }
  /* The compares of a futex wait: a change after them signals an event,
   * which stays signalled for the wait below. */
  if (shmipc__load_acquire32(ctl) != ctl_seen)
    return;
  for (i = 0; i < n; i++)
    if (shmipc__load_acquire32(w[i].word) != w[i].expected)
      return;
  WaitForMultipleObjects(k, hs, FALSE, shmipc__wait_ms(timeout_ns));
}
