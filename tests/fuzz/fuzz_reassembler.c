/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a sequence of stream messages, decoded from the input,
 * into one C reassembler with small limits. After every message it checks
 * what docs/PROTOCOL.md promises whatever the peer sends: a legal 16-byte
 * answer, the memory bound, the stream-count bound, delivery only with a
 * COMPLETE answer, and delivered bytes equal to the bytes of exactly the
 * chunks that were accepted (a shadow copy kept by this harness).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_STREAM 4096u
#define MAX_TOTAL 6000u
#define IDS 4 /* ids 1..4, and 0 */

static struct {
  int64_t clock;
  shmipc_reassembler *r;
  /* shadow of each id's current stream: what an honest reassembler holds */
  struct {
    int open;
    uint64_t total;
    uint32_t type;
    unsigned char bytes[MAX_STREAM];
    unsigned char have[MAX_STREAM];
  } sh[IDS + 1];
  int delivered; /* deliveries during the current message */
  uint64_t pend_id, pend_start, pend_end; /* the chunk being handled */
  uint64_t start_id, start_total;         /* the start being handled */
  uint32_t start_type;
} F;

static void die(const char *what)
{
  fprintf(stderr, "fuzz_reassembler: %s\n", what);
  abort();
}

static int64_t fake_now(void *arg)
{
  (void)arg;
  return F.clock;
}

static int on_stream(void *user, uint64_t id, uint32_t type, void *data,
                     size_t len)
{
  (void)user;
  if (id == F.start_id && len == 0 && F.start_total == 0 &&
      type == F.start_type) {
    F.delivered++; /* an empty stream, delivered at its start */
    return (type & 1) ? -1 : 0;
  }
  if (id > IDS || !F.sh[id].open)
    die("delivered a stream that is not open");
  if (len != F.sh[id].total || type != F.sh[id].type)
    die("delivered length or type differ from the start");
  if (len > 0 && memcmp(data, F.sh[id].bytes, len) != 0)
    die("delivered bytes differ from the accepted chunks");
  for (size_t k = 0; k < len; k++)
    if (!F.sh[id].have[k] &&
        !(id == F.pend_id && k >= F.pend_start && k < F.pend_end))
      die("delivered a stream with a byte never received");
  F.delivered++;
  return (type & 1) ? -1 : 0; /* odd types: the callback refuses */
}

static int not_stream(void *user, uint32_t type, const void *req,
                      size_t req_len, void *resp, size_t resp_cap,
                      size_t *resp_len, uint32_t *resp_type)
{
  (void)user, (void)type, (void)req, (void)req_len, (void)resp, (void)resp_cap,
      (void)resp_len, (void)resp_type;
  die("stream message reached the ordinary handler");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  static unsigned char req[SHMIPC__STREAM_HDR + MAX_STREAM + 16];
  shmipc_stream_limits lim;
  size_t i = 0;

  shmipc_stream_limits_init(&lim);
  lim.max_stream = MAX_STREAM;
  lim.max_total = MAX_TOTAL;
  lim.max_streams = 3;
  lim.max_parked = 3;
  lim.idle_timeout_ns = 1000;
  memset(&F, 0, sizeof F);
  if (shmipc_reassembler_create(&lim, on_stream, NULL, not_stream, NULL,
                                &F.r) != SHMIPC_OK)
    die("create");
  shmipc__reassembler_set_clock(F.r, fake_now, NULL);

  /* Each message: 8 bytes of fields, then data taken from the input. */
  while (n - i >= 8) {
    const uint8_t *m = d + i;
    struct shmipc__stream_hdr h = {0};
    uint32_t type =
        (m[0] & 1) ? SHMIPC_MSG_STREAM_CHUNK : SHMIPC_MSG_STREAM_START;
    size_t len, dlen, k;
    unsigned char resp[SHMIPC__STREAM_RESP + 8];
    size_t resp_len = 0;
    uint32_t resp_type = type, status, state, mp;
    shmipc_stream_stats st = {.struct_size = sizeof st};
    int wrap = (m[0] >> 1) & 3;

    i += 8;
    if (m[0] & 0x80)
      F.clock += (int64_t)(m[7] & 0x0f) * 100; /* time passes */
    h.id = m[1] % (IDS + 1);
    h.total = (uint64_t)(m[2] | m[3] << 8) % (MAX_STREAM + 600);
    h.offset = (uint64_t)(m[4] | (m[5] & 0x1f) << 8);
    dlen = (size_t)m[6] * 8 % (MAX_STREAM / 2);
    h.app_type = 200 + (m[7] >> 6);
    h.flags = (m[0] & 0x40) ? (m[7] >> 4 & 3) : 0;
    if (wrap == 1)
      h.offset = UINT64_MAX - h.offset; /* offsets that would wrap */
    if (wrap == 2 && type == SHMIPC_MSG_STREAM_START)
      h.total = UINT64_MAX - h.total;
    if (type == SHMIPC_MSG_STREAM_CHUNK && h.id <= IDS && F.sh[h.id].open &&
        wrap != 3) {
      h.total = F.sh[h.id].total; /* mostly honest about the stream */
      h.app_type = F.sh[h.id].type;
    }
    if (type == SHMIPC_MSG_STREAM_START)
      dlen = (m[6] & 0xf0) == 0xf0 ? 1 : 0;
    if (dlen > n - i)
      dlen = n - i;
    shmipc__stream_hdr_put(req, &h);
    memcpy(req + SHMIPC__STREAM_HDR, d + i, dlen);
    i += dlen;
    len = SHMIPC__STREAM_HDR + dlen;
    if ((m[0] & 0x3e) == 0x3e)
      len = m[6] % SHMIPC__STREAM_HDR; /* a short message */

    /* The chunk's bytes go into the shadow now (marked as received only
     * once accepted), so that a delivery it completes can be compared. */
    F.pend_id = 0;
    if (type == SHMIPC_MSG_STREAM_CHUNK && len >= SHMIPC__STREAM_HDR &&
        h.id >= 1 && h.id <= IDS && F.sh[h.id].open &&
        h.offset <= F.sh[h.id].total && dlen <= F.sh[h.id].total - h.offset) {
      F.pend_id = h.id;
      F.pend_start = h.offset;
      F.pend_end = h.offset + dlen;
      for (k = 0; k < dlen; k++)
        if (!F.sh[h.id].have[h.offset + k])
          F.sh[h.id].bytes[h.offset + k] = req[SHMIPC__STREAM_HDR + k];
    }
    F.start_id = type == SHMIPC_MSG_STREAM_START && len == SHMIPC__STREAM_HDR
                     ? h.id
                     : UINT64_MAX;
    F.start_total = h.total;
    F.start_type = h.app_type;
    F.delivered = 0;
    if (shmipc_reassembler_handle(F.r, type, req, len, resp, sizeof resp,
                                  &resp_len, &resp_type) != 0 ||
        resp_len != SHMIPC__STREAM_RESP || resp_type != type)
      die("not a stream answer");
    if (shmipc__stream_answer(type, resp_type, resp_len, resp, &status, &state,
                              &mp) != SHMIPC_OK ||
        mp != lim.max_parked || status > SHMIPC_STREAM_REFUSED)
      die("illegal answer");
    if (F.delivered > 1)
      die("two deliveries for one message");
    if (F.delivered == 1 &&
        !(state == SHMIPC__SST_COMPLETE ||
          (state == SHMIPC__SST_DROPPED && status == SHMIPC_STREAM_REFUSED)))
      die("delivered without a COMPLETE (or REFUSED) answer");
    if (F.delivered == 0 && state == SHMIPC__SST_COMPLETE)
      die("COMPLETE without a delivery");
    shmipc_reassembler_stats(F.r, &st);
    if (st.held > MAX_TOTAL || st.open > lim.max_streams ||
        st.peak_held > MAX_TOTAL)
      die("a bound was exceeded");

    /* Keep the shadow in step with the answers. */
    if (h.id > IDS || len < SHMIPC__STREAM_HDR)
      continue;
    if (type == SHMIPC_MSG_STREAM_START && status == SHMIPC_STREAM_OK &&
        state == SHMIPC__SST_OPEN) {
      if (h.total > MAX_STREAM)
        die("opened a stream above max_stream");
      F.sh[h.id].open = 1;
      F.sh[h.id].total = h.total;
      F.sh[h.id].type = h.app_type;
      memset(F.sh[h.id].have, 0, sizeof F.sh[h.id].have);
    } else if (type == SHMIPC_MSG_STREAM_CHUNK && status == SHMIPC_STREAM_OK) {
      if (F.pend_id != h.id)
        die("accepted a chunk outside its stream");
      for (k = 0; k < dlen; k++) {
        if (F.sh[h.id].have[h.offset + k])
          die("accepted a byte twice");
        F.sh[h.id].have[h.offset + k] = 1;
      }
    }
    if (state == SHMIPC__SST_COMPLETE || state == SHMIPC__SST_DROPPED ||
        (state == SHMIPC__SST_NONE && type == SHMIPC_MSG_STREAM_CHUNK &&
         status == SHMIPC_STREAM_UNKNOWN))
      F.sh[h.id].open = 0;
  }
  shmipc_reassembler_destroy(F.r);
  return 0;
}
