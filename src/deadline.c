/* SPDX-License-Identifier: MIT */
/*
 * The responder's look at a request's deadline word (docs/PROTOCOL.md,
 * "Deadline and cancel"): the requester's deadline and its cancel mark,
 * for a handler that wants to stop early. The word is the requester's
 * to write and any value may be found in it: it is handed to the handler
 * as information and decides nothing here. A look is one load, made only
 * when a handler asks; the serve path never reads the word.
 */
#include "atomic.h"
#include "internal.h"

/* The deadline word of the slot whose request buffer holds @req (an
 * empty request points at its start, end-aligned or not: one past its
 * end may be the response buffer), among the slots that endpoint @ep
 * answers: a host answers the guest slots, a guest the host slots. NULL
 * for any other pointer. */
static uint64_t *request_word(const struct shmipc__endpoint *ep,
                              const void *req)
{
  const struct shmipc__geom *g = &ep->seg.geom;
  uint32_t first = ep->role == SHMIPC__ROLE_HOST ? g->host_slots : 0;
  uint32_t n = ep->role == SHMIPC__ROLE_HOST ? g->guest_slots : g->host_slots;
  uintptr_t p = (uintptr_t)req, base, off, i;

  if (n == 0 || req == NULL)
    return NULL;
  base = (uintptr_t)shmipc__req_buf(&ep->seg, first);
  if (p < base)
    return NULL;
  off = p - base;
  i = off / g->slot_stride;
  if (i >= n || off - i * g->slot_stride >= g->req_capacity)
    return NULL;
  return &shmipc__wslot(&ep->seg, first + (uint32_t)i)->deadline;
}

/* One look at the word of @req (see request_word()): 0 and the word, or
 * SHMIPC_E_INVALID. */
static int request_look(const struct shmipc__endpoint *ep, const void *req,
                        uint64_t *out)
{
  const uint64_t *w = request_word(ep, req);

  if (w == NULL)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "req %p is not a request buffer this handle answers",
                        req);
  /* relaxed: the take's full CAS ordered the publish's store before us;
   * a cancel mark stored since is seen sooner or later, which is all a
   * handler that polls for it needs */
  *out = shmipc__load_relaxed64(w);
  return SHMIPC_OK;
}

/* The deadline that word @v says, as shmipc_*_request_deadline() give it. */
static int word_deadline(uint64_t v, int64_t *deadline_ns)
{
  uint64_t x = v & SHMIPC_DEADLINE_VALUE;

  if ((v & ~SHMIPC_DEADLINE_CANCELLED) == 0) {
    *deadline_ns = 0;
    return 0;
  }
  if (v & SHMIPC_DEADLINE_BUDGET) {
    /* A budget not yet fixed to the clock: the requester fixes it at its
     * first clock read after the publish, so now + budget is its
     * deadline to within that requester's spin phase. */
    int64_t now = shmipc__now_ns();

    x = (uint64_t)now + x > SHMIPC_DEADLINE_VALUE ? SHMIPC_DEADLINE_VALUE
                                                  : (uint64_t)now + x;
  }
  *deadline_ns = (int64_t)x;
  return 1;
}

static int request_deadline(const struct shmipc__endpoint *ep, const void *req,
                            int64_t *deadline_ns)
{
  uint64_t v;
  int r;

  if (deadline_ns == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "deadline_ns is NULL");
  *deadline_ns = 0;
  r = request_look(ep, req, &v);
  return r != SHMIPC_OK ? r : word_deadline(v, deadline_ns);
}

static int request_cancelled(const struct shmipc__endpoint *ep, const void *req)
{
  uint64_t v;
  int r = request_look(ep, req, &v);

  return r != SHMIPC_OK ? r : (v & SHMIPC_DEADLINE_CANCELLED) != 0;
}

int shmipc_host_request_deadline(const shmipc_host *h, const void *req,
                                 int64_t *deadline_ns)
{
  if (h == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "h is NULL"));
  return shmipc__failed(
      request_deadline(shmipc__host_ep((shmipc_host *)h), req, deadline_ns));
}

int shmipc_host_request_cancelled(const shmipc_host *h, const void *req)
{
  if (h == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "h is NULL"));
  return shmipc__failed(
      request_cancelled(shmipc__host_ep((shmipc_host *)h), req));
}

int shmipc_guest_request_deadline(const shmipc_guest *g, const void *req,
                                  int64_t *deadline_ns)
{
  if (g == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "g is NULL"));
  return shmipc__failed(
      request_deadline(shmipc__guest_ep((shmipc_guest *)g), req, deadline_ns));
}

int shmipc_guest_request_cancelled(const shmipc_guest *g, const void *req)
{
  if (g == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "g is NULL"));
  return shmipc__failed(
      request_cancelled(shmipc__guest_ep((shmipc_guest *)g), req));
}

int64_t shmipc_clock_ns(void) { return shmipc__now_ns(); }
