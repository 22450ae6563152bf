/* SPDX-License-Identifier: MIT */
/*
 * The counters of the segment (docs/PROTOCOL.md, "Counters"): the one-line
 * calls the rest of the library makes where something happens, and the
 * summing that the stats API (stats.c) and shmipc-stat share. Diagnostics
 * only: nothing here orders anything, and nothing the library decides
 * depends on a counter.
 */
#ifndef SHMIPC_STATS_H
#define SHMIPC_STATS_H

#include "atomic.h"
#include "internal.h"

/* A counter with one writer at a time (a slot's line, written by the
 * thread that holds the slot): a load and a store, no locked instruction.
 * The fast path's only kind. */
static inline void shmipc__ctr_bump(uint64_t *c)
{
  shmipc__store_relaxed64(c, shmipc__load_relaxed64(c) + 1);
}

/* A counter that several threads of one side may move (a side's block, a
 * slot's sleeps and wakes): an atomic add, on slow paths only. */
static inline void shmipc__ctr_add(uint64_t *c, uint64_t n)
{
  shmipc__add_relaxed64(c, n);
}

/* This side's block. */
static inline struct shmipc_wire_side_counters *
shmipc__side(const struct shmipc__endpoint *ep)
{
  return shmipc__side_counters(&ep->seg, ep->role);
}

/* A responder answered a request in the slot whose counters are @c
 * (before its publish CAS, which hands the line to the next taker). */
static inline void shmipc__ctr_served(struct shmipc_wire_slot_counters *c,
                                      bool error)
{
  shmipc__ctr_bump(&c->resp_served);
  if (error)
    shmipc__ctr_bump(&c->resp_errors);
}

/* A stream chunk of @bytes was accepted. */
static inline void shmipc__ctr_chunk(struct shmipc__endpoint *ep,
                                     uint64_t bytes)
{
  shmipc__ctr_add(&shmipc__side(ep)->stream_chunks, 1);
  shmipc__ctr_add(&shmipc__side(ep)->stream_bytes, bytes);
}

/* The host saw the attach word @a (state and epoch) change. */
void shmipc__ctr_attach_seen(struct shmipc__endpoint *ep, uint32_t a);
/* A requester's call ended with @r (after its wait): TIMEOUT, PEER_GONE,
 * REMOTE and CORRUPT are counted in the side's block. */
void shmipc__ctr_call_end(struct shmipc__endpoint *ep, int r);
/* The start of @role's session on segment @s: zero its block and its
 * halves of every slot's counters (a guest, whose predecessor's are
 * there), then note the clock and the epoch. */
void shmipc__ctr_session_start(const struct shmipc__seg *s,
                               enum shmipc__role role, uint32_t epoch);
/* Sum @role's counters from @counters, the counter region (at
 * counters_offset) of a segment whose geometry @g was validated: the live
 * mapping or a copy, hostile perhaps (only loads, bounded by @g), at
 * monotonic time @now. Fills out->struct_size bytes of @out (at most
 * sizeof(shmipc_stats)) as shmipc_host_stats() does. */
void shmipc__stats_sum(const uint8_t *counters, const struct shmipc__geom *g,
                       enum shmipc__role role, int64_t now, shmipc_stats *out);

#endif /* SHMIPC_STATS_H */
