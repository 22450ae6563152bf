/* SPDX-License-Identifier: MIT */
/*
 * Event loops (include/shmipc/shmipc.h, "Event loops"): what the portable
 * part (evloop.c) needs of the host and of the OS (evloop_linux.c,
 * evloop_windows.c).
 */
#ifndef SHMIPC_EVLOOP_H
#define SHMIPC_EVLOOP_H

#include "internal.h"

struct shmipc__evloop;

/* host.c: the host's event-loop state (NULL until the first
 * shmipc_host_event_handle(); atomic pointer), and whether a listener
 * thread serves the guest calls. */
void **shmipc__host_evloop(shmipc_host *h);
bool shmipc__host_listening(shmipc_host *h);

/* evloop.c, for shmipc_host_destroy(): after closing is set and before
 * the quiesce, signal the handle (a loop that sleeps on it wakes and
 * learns CLOSED) and, when the destroy runs on the loop's own thread, let
 * the quiesce count the loop out; after the quiesce and before the
 * segment goes, stop the library's thread, close the handle, free. */
void shmipc__evloop_closing(shmipc_host *h);
void shmipc__evloop_free(shmipc_host *h);

/* The OS part: the handle the loop waits on, and the sleep of the
 * library's thread on the armed words and on a private control word. */
struct shmipc__evos;
/* Words one sleep of the library's thread covers at most (Linux: within
 * futex_waitv's 128 with the abort and control words); more are looked
 * at every SHMIPC__WORDS_POLL_NS. */
#define SHMIPC__EVLOOP_WORDS_MAX 126u
/* Make the handle (not signalled); *handle is the value the loop gets. */
int shmipc__evos_open(struct shmipc__evos **out, intptr_t *handle);
void shmipc__evos_close(struct shmipc__evos *o);
/* Signal the handle (an eventfd write, SetEvent); reset it. */
void shmipc__evos_signal(struct shmipc__evos *o);
void shmipc__evos_reset(struct shmipc__evos *o);
/* Wake the library's thread out of shmipc__evos_sleep() after @ctl moved. */
void shmipc__evos_kick(struct shmipc__evos *o, uint32_t *ctl);
/* Sleep until one of the @n segment words @w moves from its expected
 * value or is woken, or @ctl no longer reads @ctl_seen or is kicked, or
 * (when @n > 0) the endpoint's abort word @abort_seq no longer reads
 * @abort_seen or is woken, at most @timeout_ns; the caller re-checks.
 * Windows needs no abort word: an abort signals the words' events, which
 * stay signalled. */
void shmipc__evos_sleep(struct shmipc__evos *o, const struct shmipc__seg *s,
                        const struct shmipc__sleeper *w, uint32_t n,
                        uint32_t *ctl, uint32_t ctl_seen, uint32_t *abort_seq,
                        uint32_t abort_seen, int64_t timeout_ns);

#endif /* SHMIPC_EVLOOP_H */
