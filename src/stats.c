/* SPDX-License-Identifier: MIT */
/*
 * Counters (docs/PROTOCOL.md, "Counters"): their session start, the ends
 * of calls, and the sums that shmipc_host_stats(), shmipc_guest_stats()
 * and shmipc-stat report. The segment's counters are read with single
 * loads and never trusted: a peer may have written anything there.
 */
#include <string.h>

#include "stats.h"

void shmipc__ctr_call_end(struct shmipc__endpoint *ep, int r)
{
  struct shmipc_wire_side_counters *c = shmipc__side(ep);

  switch (r) {
  case SHMIPC_E_TIMEOUT:
    shmipc__ctr_add(&c->timeouts, 1);
    break;
  case SHMIPC_E_PEER_GONE:
    shmipc__ctr_add(&c->peer_gone, 1);
    break;
  case SHMIPC_E_REMOTE:
    shmipc__ctr_add(&c->remote, 1);
    break;
  case SHMIPC_E_CORRUPT:
    shmipc__ctr_add(&c->corrupt, 1);
    break;
  default:
    break;
  }
}

void shmipc__ctr_attach_seen(struct shmipc__endpoint *ep, uint32_t a)
{
  struct shmipc_wire_side_counters *c = shmipc__side(ep);

  if ((a & SHMIPC_ATTACH_STATE_MASK) != SHMIPC_ATTACH_ATTACHED)
    return;
  shmipc__ctr_add(&c->attaches, 1);
  shmipc__store_relaxed64(&c->epoch, (a & SHMIPC_ATTACH_EPOCH_MASK) >>
                                         SHMIPC_ATTACH_EPOCH_SHIFT);
}

static void zero64(uint64_t *p, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    shmipc__store_relaxed64(&p[i], 0);
}

void shmipc__ctr_session_start(const struct shmipc__seg *s,
                               enum shmipc__role role, uint32_t epoch)
{
  const struct shmipc__geom *g = &s->geom;
  struct shmipc_wire_side_counters *c = shmipc__side_counters(s, role);
  uint32_t i, n = g->host_slots + g->guest_slots;

  zero64(&c->timeouts, sizeof *c / sizeof(uint64_t));
  for (i = 0; i < n; i++) {
    struct shmipc_wire_slot_counters *sc = shmipc__slot_counters(s, i);
    /* Host slots: the host asks, the guest answers; guest slots the
     * other way round. */
    bool asks = (i < g->host_slots) == (role == SHMIPC__ROLE_HOST);

    zero64(asks ? &sc->req_calls : &sc->resp_served, 8);
  }
  shmipc__store_relaxed64(&c->epoch, epoch);
  shmipc__store_relaxed64(&c->attaches, role == SHMIPC__ROLE_GUEST ? 1 : 0);
  shmipc__store_relaxed64(&c->start_time, (uint64_t)shmipc__now_ns());
}

/* What shmipc_stats holds, summed in a full copy first. */
void shmipc__stats_sum(const uint8_t *counters, const struct shmipc__geom *g,
                       enum shmipc__role role, int64_t now, shmipc_stats *out)
{
  const struct shmipc_wire_side_counters *c =
      (const void *)(counters + (role == SHMIPC__ROLE_HOST
                                     ? SHMIPC_COUNTERS_HOST
                                     : SHMIPC_COUNTERS_GUEST));
  uint32_t i, n = g->host_slots + g->guest_slots;
  shmipc_stats st;
  uint64_t start;
  size_t size = out->struct_size;

  memset(&st, 0, sizeof st);
  st.struct_size = (uint32_t)sizeof st;
  st.epoch = (uint32_t)shmipc__load_relaxed64(&c->epoch);
  st.timeouts = shmipc__load_relaxed64(&c->timeouts);
  st.cancels = shmipc__load_relaxed64(&c->cancels);
  st.quarantined = shmipc__load_relaxed64(&c->quarantined);
  st.late_dropped = shmipc__load_relaxed64(&c->late_dropped);
  st.recovered = shmipc__load_relaxed64(&c->recovered);
  st.peer_gone = shmipc__load_relaxed64(&c->peer_gone);
  st.remote = shmipc__load_relaxed64(&c->remote);
  st.corrupt = shmipc__load_relaxed64(&c->corrupt);
  st.sleeps = shmipc__load_relaxed64(&c->other_sleeps);
  st.wakes = shmipc__load_relaxed64(&c->other_wakes);
  st.stream_chunks = shmipc__load_relaxed64(&c->stream_chunks);
  st.stream_bytes = shmipc__load_relaxed64(&c->stream_bytes);
  st.stream_drops = shmipc__load_relaxed64(&c->stream_drops);
  st.attaches = shmipc__load_relaxed64(&c->attaches);
  for (i = 0; i < n; i++) {
    const struct shmipc_wire_slot_counters *sc =
        (const void *)(counters + SHMIPC_COUNTERS_SLOTS +
                       (uint64_t)i * SHMIPC_COUNTERS_SLOT_SIZE);

    /* Sums of untrusted values wrap like the counters themselves. */
    if ((i < g->host_slots) == (role == SHMIPC__ROLE_HOST)) {
      st.calls += shmipc__load_relaxed64(&sc->req_calls);
      st.answered += shmipc__load_relaxed64(&sc->req_answered);
      st.sleeps += shmipc__load_relaxed64(&sc->req_sleeps);
      st.wakes += shmipc__load_relaxed64(&sc->req_wakes);
    } else {
      st.served += shmipc__load_relaxed64(&sc->resp_served);
      st.served_errors += shmipc__load_relaxed64(&sc->resp_errors);
      st.sleeps += shmipc__load_relaxed64(&sc->resp_sleeps);
      st.wakes += shmipc__load_relaxed64(&sc->resp_wakes);
    }
  }
  start = shmipc__load_relaxed64(&c->start_time);
  st.uptime_ns =
      start != 0 && start <= (uint64_t)now ? (uint64_t)now - start : 0;
  if (size > sizeof st)
    size = sizeof st;
  memcpy(out, &st, size);
  out->struct_size = (uint32_t)size;
}

/* The fields a caller's struct must have at least. */
#define STATS_MIN (offsetof(shmipc_stats, epoch) + sizeof(uint32_t))

static int stats(const struct shmipc__endpoint *ep, shmipc_stats *out)
{
  if (ep == NULL || out == NULL)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, ep == NULL ? "the handle is NULL" : "out is NULL"));
  if (out->struct_size < STATS_MIN)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, "out->struct_size %lu, at least %lu",
        (unsigned long)out->struct_size, (unsigned long)STATS_MIN));
  shmipc__stats_sum(ep->seg.base + ep->seg.geom.counters_offset, &ep->seg.geom,
                    ep->role, shmipc__now_ns(), out);
  return SHMIPC_OK;
}

int shmipc_host_stats(const shmipc_host *h, shmipc_stats *out)
{
  return stats(h != NULL ? shmipc__host_ep((shmipc_host *)h) : NULL, out);
}

int shmipc_guest_stats(const shmipc_guest *g, shmipc_stats *out)
{
  /* The endpoint is a guest's first member too (guest.c asserts it). */
  return stats((const struct shmipc__endpoint *)(const void *)g, out);
}
