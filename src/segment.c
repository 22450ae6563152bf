/* SPDX-License-Identifier: MIT */
/*
 * Segment geometry and header validation: the portable half of segments.
 * Every value read from a peer's header is checked here before use.
 */
#include <string.h>

#include "internal.h"

int shmipc__name_valid(const char *name)
{
  size_t n;

  if (name == NULL)
    return 0;
  for (n = 0; name[n] != '\0'; n++) {
    char c = name[n];
    if (n >= SHMIPC_MAX_NAME_LEN)
      return 0;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return 0;
  }
  return n > 0 && name[0] != '.';
}

int shmipc__geom_compute(uint32_t host_slots, uint32_t guest_slots,
                         uint32_t req_cap, uint32_t resp_cap,
                         struct shmipc__geom *out)
{
  uint64_t stride, size;

  if (host_slots < 1 || host_slots > SHMIPC_MAX_SLOTS ||
      guest_slots > SHMIPC_MAX_SLOTS || req_cap < 1 ||
      req_cap > SHMIPC_MAX_CAPACITY || resp_cap < 1 ||
      resp_cap > SHMIPC_MAX_CAPACITY)
    return SHMIPC_E_INVALID;
  /* 64-bit arithmetic: at most 64 + 2 * 2^30 per slot and 2048 slots,
   * far below 2^64. The stride itself must fit its 32-bit field. */
  stride = SHMIPC_SLOT_HEADER_SIZE + shmipc__round64(req_cap) +
           shmipc__round64(resp_cap);
  if (stride > UINT32_MAX)
    return SHMIPC_E_INVALID;
  size = SHMIPC_SLOTS_OFFSET + ((uint64_t)host_slots + guest_slots) * stride;
  if (size > (uint64_t)SIZE_MAX)
    return SHMIPC_E_INVALID;
  out->host_slots = host_slots;
  out->guest_slots = guest_slots;
  out->req_capacity = req_cap;
  out->resp_capacity = resp_cap;
  out->slot_stride = (uint32_t)stride;
  out->segment_size = size;
  return SHMIPC_OK;
}

/* Checks in the order docs/PROTOCOL.md ("Validation") gives them. The
 * caller has already checked the file type, owner and that the file holds
 * at least a header; @h is a private copy, not the live mapping. */
int shmipc__header_validate(const struct shmipc_wire_header *h,
                            uint64_t file_size, struct shmipc__geom *out)
{
  struct shmipc__geom g;

  /* The host sizes the file before it writes the header: until READY the
   * header may still be zeros. */
  if (h->host_state == SHMIPC_HOST_INIT)
    return SHMIPC__E_RETRY;
  if (h->magic != SHMIPC_MAGIC)
    return SHMIPC_E_CORRUPT;
  if (h->version != SHMIPC_PROTOCOL_VERSION)
    return SHMIPC_E_VERSION;
  if (h->host_state == SHMIPC_HOST_CLOSED)
    return SHMIPC_E_PEER_GONE;
  if (h->host_state != SHMIPC_HOST_READY)
    return SHMIPC_E_CORRUPT;
  if (h->header_size != SHMIPC_HEADER_SIZE ||
      h->slot_header_size != SHMIPC_SLOT_HEADER_SIZE ||
      h->slots_offset != SHMIPC_SLOTS_OFFSET || h->flags != 0)
    return SHMIPC_E_CORRUPT;
  if (shmipc__geom_compute(h->host_slots, h->guest_slots, h->req_capacity,
                           h->resp_capacity, &g) != SHMIPC_OK)
    return SHMIPC_E_CORRUPT;
  if (h->slot_stride != g.slot_stride || h->segment_size != g.segment_size ||
      file_size != g.segment_size)
    return SHMIPC_E_CORRUPT;
  *out = g;
  return SHMIPC_OK;
}

void shmipc__header_init(struct shmipc_wire_header *h,
                         const struct shmipc__geom *g, uint64_t nonce,
                         uint32_t pid)
{
  /* The mapping is fresh (zero-filled); only line 0 and host_pid are set.
   * host_state stays INIT until the host publishes READY with release. */
  h->magic = SHMIPC_MAGIC;
  h->version = SHMIPC_PROTOCOL_VERSION;
  h->header_size = SHMIPC_HEADER_SIZE;
  h->host_slots = g->host_slots;
  h->guest_slots = g->guest_slots;
  h->req_capacity = g->req_capacity;
  h->resp_capacity = g->resp_capacity;
  h->slot_header_size = SHMIPC_SLOT_HEADER_SIZE;
  h->slot_stride = g->slot_stride;
  h->slots_offset = SHMIPC_SLOTS_OFFSET;
  h->flags = 0;
  h->segment_size = g->segment_size;
  h->session_nonce = nonce;
  h->host_pid = pid;
}
