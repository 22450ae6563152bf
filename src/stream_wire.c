/* SPDX-License-Identifier: MIT */
/*
 * Encoding of the stream header and answer: explicit little-endian bytes,
 * so neither side depends on the host's byte order or on alignment of the
 * request buffer.
 */
#include <string.h>

#include "internal.h"

static uint32_t get32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static void put64(unsigned char *p, uint64_t v)
{
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

void shmipc__stream_hdr_get(struct shmipc__stream_hdr *h, const void *p)
{
  unsigned char b[SHMIPC__STREAM_HDR];

  /* One copy out of shared memory: the peer may rewrite the bytes while we
   * decode them, and every field must come from the same read. */
  memcpy(b, p, sizeof b);
  h->id = get64(b);
  h->total = get64(b + 8);
  h->offset = get64(b + 16);
  h->app_type = get32(b + 24);
  h->flags = get32(b + 28);
}

void shmipc__stream_hdr_put(void *p, const struct shmipc__stream_hdr *h)
{
  unsigned char *b = p;

  put64(b, h->id);
  put64(b + 8, h->total);
  put64(b + 16, h->offset);
  put32(b + 24, h->app_type);
  put32(b + 28, h->flags);
}

void shmipc__stream_resp_put(void *p, uint32_t status, uint32_t state,
                             uint32_t max_parked)
{
  unsigned char *b = p;

  put32(b, status);
  put32(b + 4, state);
  put32(b + 8, max_parked);
  put32(b + 12, 0);
}

void shmipc__stream_resp_get(const void *p, uint32_t *status, uint32_t *state,
                             uint32_t *max_parked)
{
  unsigned char b[SHMIPC__STREAM_RESP];

  memcpy(b, p, sizeof b);
  *status = get32(b);
  *state = get32(b + 4);
  *max_parked = get32(b + 8);
}

int shmipc__stream_answer(uint32_t req_type, uint32_t resp_type,
                          size_t resp_size, const void *resp, uint32_t *status,
                          uint32_t *state, uint32_t *max_parked)
{
  return shmipc__stream_answer_from("guest", req_type, resp_type, resp_size,
                                    resp, status, state, max_parked);
}

int shmipc__stream_answer_from(const char *peer, uint32_t req_type,
                               uint32_t resp_type, size_t resp_size,
                               const void *resp, uint32_t *status,
                               uint32_t *state, uint32_t *max_parked)
{
  if (resp_type != req_type || resp_size != SHMIPC__STREAM_RESP ||
      resp == NULL) {
    /* A peer whose handler is no stream receiver answers the start as
     * any other request (an echo handler sends it back): a legal answer
     * from a peer that does not speak streams, not a corrupt segment.
     * Once the start was accepted, a receiver answers: anything else from
     * it is corrupt. */
    if (req_type == SHMIPC_MSG_STREAM_START)
      return shmipc__fail(SHMIPC_E_REMOTE,
                          "the %s has no stream receiver (it answered "
                          "STREAM_START with type %lu, %llu bytes)",
                          peer, (unsigned long)resp_type,
                          (unsigned long long)resp_size);
    return shmipc__fail(SHMIPC_E_CORRUPT,
                        "stream answer of type %lu, %llu bytes (want type "
                        "%lu, %u bytes)",
                        (unsigned long)resp_type, (unsigned long long)resp_size,
                        (unsigned long)req_type, SHMIPC__STREAM_RESP);
  }
  shmipc__stream_resp_get(resp, status, state, max_parked);
  /* legal pairs: accepted with OPEN, COMPLETE or DROPPED; refused with any
   * state (docs/PROTOCOL.md, "Stream response") */
  if (*state > SHMIPC__SST_DROPPED ||
      (*status == SHMIPC_STREAM_OK && *state == SHMIPC__SST_NONE))
    return shmipc__fail(SHMIPC_E_CORRUPT,
                        "stream answer with status %lu and state %lu",
                        (unsigned long)*status, (unsigned long)*state);
  return SHMIPC_OK;
}

static const char *const reason_names[] = {
    "ok",       "malformed", "unknown", "duplicate", "too_big",
    "too_many", "bounds",    "overlap", "empty",     "parked",
    "mismatch", "aborted",   "nomem",   "refused",
};

const char *shmipc_stream_reason_name(uint32_t reason)
{
  if (reason >= sizeof reason_names / sizeof reason_names[0])
    return "unknown reason";
  return reason_names[reason];
}
