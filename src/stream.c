/* SPDX-License-Identifier: MIT */
/*
 * The stream sender (docs/PROTOCOL.md, "Streams", "Sender rules"): one
 * STREAM_START, then the chunks in order of offset with up to K in flight
 * on K slots, each written straight into its slot. The sender waits for the
 * oldest chunk before it sends another, which bounds how far ahead of the
 * receiver's in-order point accepted chunks can be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "internal.h"
#include "stats.h"

#define MAX_DEPTH 64u
#define ABORT_TIMEOUT_NS (100 * (int64_t)1000000)
/* How long shmipc_stream_sender_destroy() waits for the sends in
 * progress to see its flag (they do within a liveness interval, at once
 * when woken), and how often it wakes them meanwhile. */
#define DESTROY_WAIT_NS (2000 * (int64_t)1000000)
#define DESTROY_POLL_NS ((int64_t)1000000)

/* The sender speaks to one requester: a host (its host slots) or a C
 * guest (its guest slots). Both directions are one protocol; only the
 * endpoint, the id counter and the peer's name in texts differ. */
struct shmipc_stream_sender {
  struct shmipc__endpoint *ep;
  size_t *ids;      /* atomic: the requester's stream id counter */
  const char *peer; /* "guest" or "host", for texts */
  uint32_t depth;
  uint32_t chunk;
  uint32_t closing; /* atomic: destroy runs; sends in progress return
                     * SHMIPC_E_CLOSED */
  uint32_t sending; /* atomic: shmipc_stream_send() calls in progress */
};

/* One send in progress. */
struct send {
  shmipc_stream_sender *s;
  struct shmipc__stream_hdr hdr;
  const unsigned char *data;
  uint64_t len;
  struct shmipc__deadline dl; /* of the whole send */
  shmipc_stream_result res;
  uint32_t completes;  /* answers that said COMPLETE */
  uint32_t max_parked; /* the receiver's limit, from the START answer */
  int err;             /* first failure, 0 while none */
  char why[160];       /* its detail, kept for shmipc_last_error() */
};

void shmipc_stream_config_init(shmipc_stream_config *cfg)
{
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = sizeof *cfg;
  cfg->depth = 4;
}

static int sender_create(struct shmipc__endpoint *ep, size_t *ids,
                         const char *peer, const shmipc_stream_config *cfg,
                         shmipc_stream_sender **out)
{
  shmipc_stream_config def;
  shmipc_stream_sender *s;
  size_t room;

  if (out == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "out is NULL"));
  *out = NULL;
  if (cfg == NULL) {
    shmipc_stream_config_init(&def);
    cfg = &def;
  }
  if (ep == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "%s is NULL",
                                       peer[0] == 'g' ? "h" : "g"));
  if (cfg->struct_size != sizeof *cfg)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID,
        "struct_size %lu, want %lu (fill the config with "
        "shmipc_stream_config_init())",
        (unsigned long)cfg->struct_size, (unsigned long)sizeof *cfg));
  if (cfg->depth == 0 || cfg->depth > MAX_DEPTH)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID,
                                       "depth %lu outside 1..%u",
                                       (unsigned long)cfg->depth, MAX_DEPTH));
  if (ep->n_req == 0)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, "the segment has no guest slots (guest_slots 0)"));
  if (ep->seg.geom.req_capacity <= SHMIPC__STREAM_HDR)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID,
        "req_capacity %lu leaves no room after the %u-byte stream header",
        (unsigned long)ep->seg.geom.req_capacity, SHMIPC__STREAM_HDR));
  if (ep->seg.geom.resp_capacity < SHMIPC__STREAM_RESP)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID,
        "resp_capacity %lu cannot hold the %u-byte stream answer",
        (unsigned long)ep->seg.geom.resp_capacity, SHMIPC__STREAM_RESP));
  room = ep->seg.geom.req_capacity - SHMIPC__STREAM_HDR;
  if (cfg->chunk_size > room)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID,
        "chunk_size %lu above %llu (req_capacity %lu minus the %u-byte "
        "header)",
        (unsigned long)cfg->chunk_size, (unsigned long long)room,
        (unsigned long)ep->seg.geom.req_capacity, SHMIPC__STREAM_HDR));
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_NOMEM, "allocating the stream sender"));
  s->ep = ep;
  s->ids = ids;
  s->peer = peer;
  s->depth = cfg->depth < ep->n_req ? cfg->depth : ep->n_req;
  s->chunk = cfg->chunk_size != 0 ? cfg->chunk_size : (uint32_t)room;
  *out = s;
  return SHMIPC_OK;
}

int shmipc_stream_sender_create(shmipc_host *h, const shmipc_stream_config *cfg,
                                shmipc_stream_sender **out)
{
  return sender_create(h != NULL ? shmipc__host_ep(h) : NULL,
                       h != NULL ? shmipc__host_stream_ids(h) : NULL, "guest",
                       cfg, out);
}

int shmipc_guest_stream_sender_create(shmipc_guest *g,
                                      const shmipc_stream_config *cfg,
                                      shmipc_stream_sender **out)
{
  return sender_create(g != NULL ? shmipc__guest_ep(g) : NULL,
                       g != NULL ? shmipc__guest_stream_ids(g) : NULL, "host",
                       cfg, out);
}

void shmipc_stream_sender_destroy(shmipc_stream_sender *s)
{
  struct shmipc__deadline dl;

  if (s == NULL)
    return;
  /* release: pairs with the acquire loads of the stop flag in the sends'
   * waits (shmipc__wait_word(), shmipc__slot_acquire()) */
  shmipc__store_release32(&s->closing, 1);
  /* full: closing before the count; pairs with the fetch-add in
   * shmipc_stream_send() */
  shmipc__fence_full();
  dl = shmipc__deadline_now(DESTROY_WAIT_NS);
  /* acquire: pairs with the decrement at the end of a send. With no send
   * in progress the host is not touched: it may be destroyed already. */
  while (shmipc__load_acquire32(&s->sending) != 0 &&
         shmipc__left(&dl, shmipc__now_ns()) > 0) {
    shmipc__ep_wake_all(s->ep);
    shmipc__sleep_ns(DESTROY_POLL_NS);
  }
  free(s);
}

/* Record the first failure of the send. */
static void fail(struct send *x, int err, uint32_t reason, uint64_t index,
                 uint64_t offset)
{
  if (x->err != 0)
    return;
  x->err = err;
  /* Later failures (of slots still in flight, of the abort) record their
   * own texts: keep this one's. */
  snprintf(x->why, sizeof x->why, "%s", shmipc__last_detail(err));
  x->res.reason = reason;
  x->res.failed_chunk = index;
  x->res.failed_offset = offset;
}

/* Write the header of the message at @offset carrying @n data bytes into
 * @s and publish it. */
static int send_message(struct send *x, shmipc_slot *s, uint32_t type,
                        uint64_t offset, size_t n, uint32_t flags)
{
  unsigned char *b = shmipc_slot_req_buf(s);

  x->hdr.offset = offset;
  x->hdr.flags = flags;
  shmipc__stream_hdr_put(b, &x->hdr);
  if (n > 0)
    memcpy(b + SHMIPC__STREAM_HDR, x->data + offset, n);
  return shmipc_slot_publish(s, type, SHMIPC__STREAM_HDR + n, 0);
}

/* Wait for the answer to the message in @s (chunk @index at @offset, or
 * the start for UINT64_MAX), judge it and release the slot. Returns the
 * state the receiver reported (SHMIPC__SST_*), or -1 when there is none. */
static int take_answer(struct send *x, shmipc_slot *s, uint32_t type,
                       uint64_t index, uint64_t offset)
{
  uint32_t status, state;
  int r = shmipc__slot_wait(s, &x->dl, &x->s->closing, NULL);

  if (r != SHMIPC_OK) {
    shmipc_slot_release(s);
    fail(x, r, 0, index, offset);
    return -1;
  }
  r = shmipc__stream_answer_from(
      x->s->peer, type, shmipc_slot_resp_type(s), shmipc_slot_resp_size(s),
      shmipc_slot_resp_data(s), &status, &state, &x->max_parked);
  shmipc_slot_release(s);
  if (r != SHMIPC_OK) {
    fail(x, r, 0, index, offset);
    return -1;
  }
  if (status != SHMIPC_STREAM_OK) {
    fail(x, SHMIPC_E_REFUSED, status, index, offset);
    return (int)state;
  }
  if (index != UINT64_MAX) {
    x->res.accepted++;
    shmipc__ctr_chunk(x->s->ep, x->len - offset < x->s->chunk ? x->len - offset
                                                              : x->s->chunk);
  }
  if (state == SHMIPC__SST_COMPLETE)
    x->completes++;
  else if (state == SHMIPC__SST_DROPPED)
    /* accepted, but another message dropped the stream; its own answer
     * carries the reason, if it was ours to see */
    fail(x, SHMIPC_E_REFUSED, SHMIPC_STREAM_UNKNOWN, index, offset);
  return (int)state;
}

/* Best effort: tell the receiver to free a stream we gave up on. */
static void abort_stream(struct send *x)
{
  struct shmipc__deadline acquire = shmipc__deadline(ABORT_TIMEOUT_NS);
  struct shmipc__deadline answer = shmipc__deadline(ABORT_TIMEOUT_NS);
  shmipc_slot *s;

  if (shmipc__slot_acquire(x->s->ep, &acquire, &x->s->closing, NULL, &s) !=
      SHMIPC_OK)
    return;
  if (send_message(x, s, SHMIPC_MSG_STREAM_CHUNK, 0, 0,
                   SHMIPC__STREAM_F_ABORT) == SHMIPC_OK)
    (void)shmipc__slot_wait(s, &answer, &x->s->closing, NULL);
  shmipc_slot_release(s);
}

/* The chunks, with up to @depth in flight, oldest answer first. */
static void send_chunks(struct send *x, uint32_t depth)
{
  shmipc_slot *ring[MAX_DEPTH];
  uint64_t idx[MAX_DEPTH];
  uint64_t chunk = x->s->chunk, next = 0, off;
  uint64_t n = (x->len + chunk - 1) / chunk;
  uint32_t head = 0, count = 0, at;
  shmipc_slot *s;
  int r;

  x->res.chunks = n;
  while (count > 0 || (next < n && x->err == 0)) {
    if (next < n && x->err == 0 && count < depth) {
      /* With answers pending, take a free slot only if one is there now;
       * otherwise the oldest answer frees ours. */
      struct shmipc__deadline now = shmipc__deadline(0);

      r = shmipc__slot_acquire(x->s->ep, count == 0 ? &x->dl : &now,
                               &x->s->closing, NULL, &s);
      if (r == SHMIPC_OK) {
        off = next * chunk;
        r = send_message(x, s, SHMIPC_MSG_STREAM_CHUNK, off,
                         (size_t)(x->len - off < chunk ? x->len - off : chunk),
                         0);
        if (r != SHMIPC_OK) {
          shmipc_slot_release(s);
          fail(x, r, 0, next, off);
          continue;
        }
        at = (head + count) % MAX_DEPTH;
        ring[at] = s;
        idx[at] = next++;
        count++;
        continue;
      }
      if (r != SHMIPC_E_TIMEOUT || count == 0) {
        fail(x, r, 0, next, next * chunk);
        continue;
      }
    }
    (void)take_answer(x, ring[head], SHMIPC_MSG_STREAM_CHUNK, idx[head],
                      idx[head] * chunk);
    head = (head + 1) % MAX_DEPTH;
    count--;
  }
}

/* The text of a failed send: the first failure's detail, or the refusal's
 * reason and where it came. */
static int send_failed(struct send *x)
{
  if (x->why[0] != '\0')
    return shmipc__failed(shmipc__fail(x->err, "%s", x->why));
  if (x->err == SHMIPC_E_REFUSED && x->res.failed_chunk == UINT64_MAX)
    return shmipc__failed(shmipc__fail(
        x->err, "%s at the start", shmipc_stream_reason_name(x->res.reason)));
  if (x->err == SHMIPC_E_REFUSED)
    return shmipc__failed(
        shmipc__fail(x->err, "%s at chunk %llu (offset %llu)",
                     shmipc_stream_reason_name(x->res.reason),
                     (unsigned long long)x->res.failed_chunk,
                     (unsigned long long)x->res.failed_offset));
  return shmipc__failed(x->err);
}

static int stream_send(shmipc_stream_sender *snd, uint32_t app_type,
                       const void *data, size_t len, int64_t timeout_ns,
                       shmipc_stream_result *res)
{
  struct shmipc__deadline dl;
  struct send x;
  shmipc_slot *s;
  int r, state;
  uint32_t depth;

  if (snd == NULL || (data == NULL && len > 0))
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, snd == NULL ? "s is NULL" : "data is NULL"));
  if (res != NULL && res->struct_size < sizeof *res)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, "res->struct_size %lu, want at least %lu",
        (unsigned long)res->struct_size, (unsigned long)sizeof *res));
  r = shmipc__timeout(snd->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
  memset(&x, 0, sizeof x);
  x.s = snd;
  x.data = data;
  x.len = len;
  /* Fixed now: the whole send counts, not only its waits. */
  x.dl = shmipc__deadline_now(dl.budget);
  x.res.struct_size = sizeof x.res;
  x.res.failed_chunk = UINT64_MAX;
  /* Unique per requester session and direction: never reused while the
   * host (or guest) handle lives; on a 32-bit machine they would wrap
   * after 2^32 streams. */
  x.hdr.id = (uint64_t)shmipc__fetch_add_fullsz(snd->ids, 1) + 1;
  x.hdr.total = len;
  x.hdr.app_type = app_type;
  x.res.stream_id = x.hdr.id;

  r = shmipc__slot_acquire(snd->ep, &x.dl, &snd->closing, NULL, &s);
  if (r != SHMIPC_OK) {
    fail(&x, r, 0, UINT64_MAX, 0);
    goto out;
  }
  r = send_message(&x, s, SHMIPC_MSG_STREAM_START, 0, 0, 0);
  if (r != SHMIPC_OK) {
    shmipc_slot_release(s);
    fail(&x, r, 0, UINT64_MAX, 0);
    goto out;
  }
  state = take_answer(&x, s, SHMIPC_MSG_STREAM_START, UINT64_MAX, 0);
  if (x.err != 0)
    goto out;
  /* At most max_parked accepted chunks may wait ahead of the receiver's
   * in-order point, and at most depth - 1 can with depth in flight. */
  depth = x.max_parked < snd->depth ? x.max_parked + 1 : snd->depth;
  if (state == SHMIPC__SST_OPEN && len > 0)
    send_chunks(&x, depth);
  else if (state != SHMIPC__SST_COMPLETE || len > 0)
    fail(&x,
         shmipc__fail(SHMIPC_E_CORRUPT,
                      "the start of a %llu-byte stream was answered with "
                      "state %d",
                      (unsigned long long)len, state),
         0, UINT64_MAX, 0);
  if (x.err == 0 && x.completes != 1)
    fail(&x,
         shmipc__fail(SHMIPC_E_CORRUPT,
                      "%lu answers said the stream was complete, not 1",
                      (unsigned long)x.completes),
         0, UINT64_MAX, 0);
  if (x.err != 0 && x.err != SHMIPC_E_REFUSED && x.err != SHMIPC_E_PEER_GONE)
    abort_stream(&x);
out:
  /* A detach (a destroy) sets closing, then tells the peer (the attach
   * word, the host state) before our sends are out; the receiver drops
   * their streams and may answer a message in flight with a refusal,
   * which a wait takes as its answer before it looks at closing. That
   * refusal answers our own closing: the send reports it as such, as
   * documented. acquire: the closing store came before the word that the
   * receiver read before it refused, and so before the answer we took
   * (release chain: the attach CAS or host state store, the receiver's
   * publish CAS, our acquire of it). */
  if (x.err == SHMIPC_E_REFUSED && shmipc__load_acquire32(&snd->ep->closing)) {
    x.err = SHMIPC_E_CLOSED;
    snprintf(x.why, sizeof x.why,
             "the %s dropped the stream (%s) after the closing began",
             snd->peer, shmipc_stream_reason_name(x.res.reason));
  }
  if (x.err != 0)
    shmipc__ctr_add(&shmipc__side(snd->ep)->stream_drops, 1);
  if (res != NULL)
    memcpy(res, &x.res, sizeof x.res);
  return x.err == 0 ? 0 : send_failed(&x);
}

int shmipc_stream_send(shmipc_stream_sender *snd, uint32_t app_type,
                       const void *data, size_t len, int64_t timeout_ns,
                       shmipc_stream_result *res)
{
  struct shmipc__endpoint *ep;
  int r;

  if (snd == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "s is NULL"));
  ep = snd->ep;
  /* Counted on the sender and on its host before the first look at
   * either's flag: neither destroy frees anything while we are inside.
   * full: pairs with the fences in shmipc_stream_sender_destroy() and
   * shmipc__ep_quiesce() */
  (void)shmipc__fetch_add_full32(&snd->sending, 1);
  shmipc__count(ep);
  if (shmipc__load_acquire32(&snd->closing))
    r = shmipc__failed(
        shmipc__fail(SHMIPC_E_CLOSED, "the stream sender is being destroyed"));
  else
    r = stream_send(snd, app_type, data, len, timeout_ns, res);
  shmipc__uncount(ep);
  /* release: all we did with the sender comes before; pairs with the
   * acquire in shmipc_stream_sender_destroy(). Nothing of it after. */
  (void)shmipc__fetch_add_full32(&snd->sending, (uint32_t)-1);
  return r;
}
