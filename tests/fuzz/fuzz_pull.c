/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the parsers of large answers (docs/PROTOCOL.md, "Large
 * answers"). The input is a script for the C guest's table of parked
 * answers (parks, pulls with any header and length, clock steps); after
 * every step the answer must be one the protocol's tables allow, pulled
 * bytes the answer's own, the held bytes within the limits, and at the end
 * every answer released exactly once. Each pull's answer, and the raw
 * input itself, also go through the host's judgement (announcement and
 * pull answer), which must accept only legal answers and never point
 * outside the response. ASan/UBSan catch any read outside a buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"

#define RESP_CAP 256u
#define MAX_TOTAL 6000u

static int64_t now_ns;
static unsigned made, released;

static int64_t fake_clock(void *arg)
{
  (void)arg;
  return now_ns;
}

static void die(const char *what)
{
  fprintf(stderr, "fuzz_pull: %s\n", what);
  abort();
}

static uint8_t byte_at(uint64_t len, uint64_t o)
{
  return (uint8_t)(o * 131 + len * 17 + 7);
}

static void on_release(void *ctx, const void *data, size_t len)
{
  (void)ctx, (void)len;
  released++;
  free((void *)data);
}

static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type, shmipc_answer *ans)
{
  size_t len, o;
  uint8_t *b;

  (void)user, (void)type, (void)resp, (void)resp_cap, (void)resp_len,
      (void)resp_type;
  if (req_len != 2)
    return -1;
  len = (size_t)((const uint8_t *)req)[0] * 23 + ((const uint8_t *)req)[1];
  b = malloc(len > 0 ? len : 1);
  if (b == NULL)
    return -1;
  for (o = 0; o < len; o++)
    b[o] = byte_at(len, o);
  made++;
  shmipc_answer_set(ans, b, len, on_release, NULL);
  return 0;
}

static uint64_t get64(const uint8_t *p)
{
  uint64_t v = 0;
  int i;

  for (i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* The host's judgement of anything: it never points outside. */
static void judge_raw(const uint8_t *in, size_t len)
{
  struct shmipc__answer_hdr a;
  struct shmipc__pull q;
  const uint8_t *data = NULL;
  uint32_t status, state;

  if (shmipc__answer_parse(len, in, &a) == SHMIPC_OK &&
      (len != 32 || a.id == 0 || a.flags != 0))
    die("accepted an illegal announcement");
  if (len < 33)
    return;
  shmipc__pull_get(&q, in);
  q.len %= 512;
  if (shmipc__pull_judge(&q, get64(in + 8), in[32], len - 33, in + 33, &status,
                         &state, &data) == SHMIPC_OK &&
      (data != in + 33 + 16 || len - 33 != 16 + (size_t)q.len))
    die("accepted a pull answer that does not hold the bytes asked");
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
  shmipc_answer_limits lim;
  struct shmipc__answers *a;
  uint8_t resp[RESP_CAP];
  uint64_t lens[64] = {0};

  judge_raw(in, size);
  shmipc_answer_limits_init(&lim);
  lim.max_answer = 4000;
  lim.max_total = MAX_TOTAL;
  lim.max_answers = 3;
  lim.idle_timeout_ns = 50000000;
  now_ns = 0;
  made = released = 0;
  if (shmipc__answers_create(&lim, handler, NULL, 64, &a) != SHMIPC_OK)
    die("create");
  shmipc__answers_set_clock(a, fake_clock, NULL);
  while (size >= 3) {
    uint8_t op = in[0] % 3;
    size_t n = 0;
    uint32_t rt;
    shmipc_answer_stats st;

    if (op == 0) { /* park */
      rt = 130;
      if (shmipc__answers_handle(a, 130, in + 1, 2, resp, RESP_CAP, &n, &rt) !=
          0)
        die("handler failed");
      if (rt == SHMIPC_MSG_LARGE_ANSWER) {
        struct shmipc__answer_hdr h;
        if (shmipc__answer_parse(n, resp, &h) != SHMIPC_OK ||
            h.total <= RESP_CAP || h.app_type != 130)
          die("bad announcement");
        lens[h.id % 64] = h.total;
      } else if (rt != SHMIPC_MSG_SYSTEM_ERROR && (rt != 130 || n > RESP_CAP)) {
        die("bad answer");
      }
      in += 3;
      size -= 3;
    } else if (op == 1) { /* a pull: length byte, then 32 bytes */
      uint8_t req[40] = {0};
      struct shmipc__pull q;
      uint32_t status, state;
      uint64_t total;
      size_t rl = in[1] >= 128 ? 32 : in[1] % 40;
      const uint8_t *data;
      if (size < 35)
        break;
      memcpy(req, in + 3, 32);
      if (in[2] & 1) { /* steer towards pulls that hit */
        req[0] %= 5;
        memset(req + 1, 0, 7);
        req[8] = 0, req[9] %= 20;
        memset(req + 10, 0, 6);
        req[17] = 0, req[18] = 0, req[19] = 0;
        req[20] %= 4;
        memset(req + 21, 0, 11);
      }
      rt = SHMIPC_MSG_ANSWER_PULL;
      if (shmipc__answers_handle(a, SHMIPC_MSG_ANSWER_PULL, req, rl, resp,
                                 RESP_CAP, &n, &rt) != 0 ||
          rt != SHMIPC_MSG_ANSWER_PULL || n < 16 || n > RESP_CAP)
        die("no pull answer");
      shmipc__pull_resp_get(resp, &status, &state, &total);
      shmipc__pull_get(&q, req);
      if (status == 0) {
        uint64_t o;
        if (rl != 32 || n != 16 + (size_t)q.len || total != lens[q.id % 64])
          die("ok pull of the wrong length");
        for (o = 0; o < q.len; o++)
          if (resp[16 + o] != byte_at(total, q.offset + o))
            die("pulled bytes differ");
      } else if (n != 16) {
        die("a refused pull carries data");
      }
      /* the host's judgement agrees */
      if (rl == 32) {
        int r = shmipc__pull_judge(&q, status == 0 ? total : lens[q.id % 64],
                                   rt, n, resp, &status, &state, &data);
        if (status == 0 && r != SHMIPC_OK)
          die("the host refuses a legal pull answer");
        if (status != 0 && r != SHMIPC_E_REMOTE && status != 3 && status != 5)
          die("the host takes a legal refusal as corrupt");
      }
      in += 35;
      size -= 35;
    } else { /* the clock */
      now_ns += (int64_t)in[1] * 1000000;
      in += 3;
      size -= 3;
    }
    shmipc__answers_stats(a, &st);
    if (st.held > MAX_TOTAL || st.parked > 3)
      die("beyond the limits");
  }
  shmipc__answers_destroy(a);
  if (made != released)
    die("an answer not released exactly once");
  return 0;
}
