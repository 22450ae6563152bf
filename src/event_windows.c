/* SPDX-License-Identifier: MIT */
/*
 * Wake-ups, time and yielding on Windows.
 *
 * Windows has no futex that works across processes, so each wake-up word
 * of a segment has a named auto-reset event per direction (the attach word
 * and the doorbell one each, a slot's control word two: requester waiting
 * and responder waiting; names in docs/PROTOCOL.md, "Windows"). The
 * contract is the futex one: a sleeper announces itself by setting its
 * waiter bit with a full-barrier CAS, re-checks, then waits on the event
 * of its word and bit; a waker changes the word with a full-barrier CAS and
 * signals the event only if the value it replaced carried the bit. No
 * wake-up is lost: if the signal comes after the sleeper's last check but
 * before its wait, the auto-reset event stays signalled until the wait
 * consumes it. A signal that nobody consumed (the sleeper timed out)
 * makes the next wait on that event return at once, which is one more
 * harmless re-check. An event wakes one sleeper: the protocol has one
 * sleeper per word and direction; further ones (several host threads in
 * shmipc_host_wait_guest()) notice within their bounded sleep.
 *
 * Words in the process's own memory (free_seq, the guest's running count)
 * use WaitOnAddress, the in-process futex.
 */
#include <stdio.h>

#include "atomic.h"
#include "os_windows.h"

int64_t shmipc__now_ns(void)
{
  static LARGE_INTEGER freq; /* constant after boot */
  LARGE_INTEGER c;

  if (freq.QuadPart == 0)
    QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&c);
  return (c.QuadPart / freq.QuadPart) * 1000000000 +
         (c.QuadPart % freq.QuadPart) * 1000000000 / freq.QuadPart;
}

void shmipc__yield(void) { SwitchToThread(); }

void shmipc__sleep_ns(int64_t ns)
{
  if (ns > 0)
    Sleep(shmipc__wait_ms(ns));
}

void shmipc__futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
  WaitOnAddress(word, &expected, sizeof expected, shmipc__wait_ms(timeout_ns));
}

void shmipc__futex_wake(uint32_t *word) { WakeByAddressAll(word); }

int shmipc__win_event_index(const struct shmipc__seg *s, const uint32_t *word,
                            uint32_t bit)
{
  const uint8_t *p = (const uint8_t *)word;
  uint64_t off, slot;

  if (s->base == NULL || p < s->base || p >= s->base + s->geom.segment_size)
    return -1;
  off = (uint64_t)(p - s->base);
  if (off == offsetof(struct shmipc_wire_header, attach))
    return 0;
  if (off == offsetof(struct shmipc_wire_header, doorbell))
    return 1;
  if (off < SHMIPC_SLOTS_OFFSET ||
      (off - SHMIPC_SLOTS_OFFSET) % s->geom.slot_stride != 0)
    return -1;
  slot = (off - SHMIPC_SLOTS_OFFSET) / s->geom.slot_stride;
  return 2 + (int)slot * 2 + (bit == SHMIPC_CTRL_RESPONDER_WAITING);
}

/* The event for index @i, opened (or created: either side may come first)
 * on first use and kept until the segment is closed. */
static HANDLE event_get(const struct shmipc__seg *s, int i)
{
  struct shmipc__seg_os *os = s->os;
  wchar_t name[SHMIPC__WIN_NAME_MAX];
  char suffix[24];
  HANDLE e, old;

  if (os == NULL || i < 0 || (uint32_t)i >= os->n_events)
    return NULL;
  e = os->events[i];
  if (e != NULL)
    return e;
  if (i == 0)
    snprintf(suffix, sizeof suffix, "attach");
  else if (i == 1)
    snprintf(suffix, sizeof suffix, "doorbell");
  else
    snprintf(suffix, sizeof suffix, "s%d%c", (i - 2) / 2,
             (i - 2) % 2 ? 's' : 'r');
  shmipc__win_object_name(name, SHMIPC__WIN_NAME_MAX, os, &s->nonce, suffix);
  e = CreateEventW(&os->sa, FALSE, FALSE, name);
  if (e == NULL)
    return NULL;
  /* Two threads may open it at once: one handle wins, the other closes. */
  old = InterlockedCompareExchangePointer(&os->events[i], e, NULL);
  if (old != NULL) {
    CloseHandle(e);
    e = old;
  }
  return e;
}

HANDLE shmipc__win_event(const struct shmipc__seg *s, const uint32_t *word,
                         uint32_t bit)
{
  return event_get(s, shmipc__win_event_index(s, word, bit));
}

void shmipc__word_wait(const struct shmipc__seg *s, uint32_t *word,
                       uint32_t expected, uint32_t bit, int64_t timeout_ns)
{
  HANDLE e = event_get(s, shmipc__win_event_index(s, word, bit));

  if (e == NULL) {
    /* No event (out of handles): poll within the bound. */
    shmipc__sleep_ns(timeout_ns < 1000000 ? timeout_ns : 1000000);
    return;
  }
  /* The futex compare. A change after it signals the event, which then
   * stays signalled for the wait below. */
  if (shmipc__load_acquire32(word) != expected)
    return;
  WaitForSingleObject(e, shmipc__wait_ms(timeout_ns));
}

/* The first word's event; an abort signals the events of every word as
 * well (shmipc__ep_wake_all()), and they stay signalled, so @also needs no
 * event of its own. The other words are looked at again by the caller
 * at least every SHMIPC__WORDS_POLL_NS. A word outside the segment is
 * private memory (WaitOnAddress), whose waker wakes it by its address. */
void shmipc__words_wait(const struct shmipc__seg *s,
                        const struct shmipc__sleeper *w, uint32_t n,
                        uint32_t *also, uint32_t also_seen, int64_t timeout_ns)
{
  const uint8_t *p = (const uint8_t *)w[0].word;
  bool in_segment =
      p >= s->base && p < s->base + s->geom.segment_size && s->base != NULL;

  if (also != NULL && shmipc__load_acquire32(also) != also_seen)
    return;
  if (n > 1 && timeout_ns > SHMIPC__WORDS_POLL_NS)
    timeout_ns = SHMIPC__WORDS_POLL_NS;
  if (in_segment)
    shmipc__word_wait(s, w[0].word, w[0].expected, w[0].bit, timeout_ns);
  else
    shmipc__futex_wait(w[0].word, w[0].expected, timeout_ns);
}

void shmipc__word_wake(const struct shmipc__seg *s, uint32_t *word,
                       uint32_t bits)
{
  static const uint32_t dirs[] = {SHMIPC_CTRL_REQUESTER_WAITING,
                                  SHMIPC_CTRL_RESPONDER_WAITING};
  HANDLE e;
  int i;

  if (shmipc__win_event_index(s, word, 0) < 2) {
    /* attach or doorbell: one event */
    e = event_get(s, shmipc__win_event_index(s, word, 0));
    if (e != NULL)
      SetEvent(e);
    return;
  }
  for (i = 0; i < 2; i++) {
    if (!(bits & dirs[i]))
      continue;
    e = event_get(s, shmipc__win_event_index(s, word, dirs[i]));
    if (e != NULL)
      SetEvent(e);
  }
}
