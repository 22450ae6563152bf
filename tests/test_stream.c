/* SPDX-License-Identifier: MIT */
/*
 * The C reassembler beyond what the shared vectors can say: chunks of one
 * stream from several threads at once (also run under TSan), buffer
 * ownership (SHMIPC_STREAM_KEEP), refusal by the callback, answers that do
 * not fit, argument checks, and the sender's judgement of answers.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

struct got {
  pthread_mutex_t mu;
  int calls;
  uint64_t id, len;
  uint32_t type;
  unsigned char *data; /* kept when keep != 0 */
  int keep, refuse;
  unsigned char first, last;
};

static int on_stream(void *user, uint64_t id, uint32_t type, void *data,
                     size_t len)
{
  struct got *g = user;

  pthread_mutex_lock(&g->mu);
  g->calls++;
  g->id = id;
  g->type = type;
  g->len = len;
  if (len > 0) {
    g->first = ((unsigned char *)data)[0];
    g->last = ((unsigned char *)data)[len - 1];
  }
  if (g->keep)
    g->data = data;
  pthread_mutex_unlock(&g->mu);
  return g->refuse ? -1 : g->keep ? SHMIPC_STREAM_KEEP : 0;
}

static int echo(void *user, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type)
{
  (void)user, (void)type;
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = 999;
  return 0;
}

/* One message; returns status << 8 | state. */
static int msg(shmipc_reassembler *r, uint32_t type, uint64_t id,
               uint64_t total, uint64_t off, uint32_t app, uint32_t flags,
               const unsigned char *data, size_t len)
{
  unsigned char req[32 + 65536], resp[16];
  struct shmipc__stream_hdr h = {id, total, off, app, flags};
  size_t rl = 0;
  uint32_t rt = type, st, sa, mp;

  assert_true(len <= 65536);
  shmipc__stream_hdr_put(req, &h);
  if (len > 0)
    memcpy(req + 32, data, len);
  assert_int_equal(shmipc_reassembler_handle(r, type, req, 32 + len, resp,
                                             sizeof resp, &rl, &rt),
                   0);
  assert_int_equal(rl, 16);
  assert_int_equal(rt, type);
  shmipc__stream_resp_get(resp, &st, &sa, &mp);
  return (int)(st << 8 | sa);
}

static shmipc_reassembler *make_parked(struct got *g, uint32_t max_parked)
{
  shmipc_stream_limits lim;
  shmipc_reassembler *r;

  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->mu, NULL);
  shmipc_stream_limits_init(&lim);
  lim.max_parked = max_parked;
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, g, echo, NULL, &r), SHMIPC_OK);
  return r;
}

static shmipc_reassembler *make(struct got *g) { return make_parked(g, 64); }

struct sender {
  shmipc_reassembler *r;
  const unsigned char *data;
  uint64_t total;
  size_t chunk;
  unsigned first, step, n; /* this thread's chunks: first, first+step, ... */
  int bad;
};

static void *send_chunks(void *arg)
{
  struct sender *s = arg;
  unsigned i;

  /* backwards, so most chunks arrive ahead of the in-order point */
  for (i = s->n; i-- > 0;) {
    uint64_t k = s->first + (uint64_t)i * s->step, off = k * s->chunk;
    size_t len = off + s->chunk <= s->total ? s->chunk : s->total - off;
    int a = msg(s->r, SHMIPC_MSG_STREAM_CHUNK, 5, s->total, off, 300, 0,
                s->data + off, len);
    if ((a >> 8) != 0)
      s->bad++;
  }
  return NULL;
}

/* Four threads deliver one stream's chunks in parallel, backwards: the
 * bytes arrive intact, once. */
static void parallel_stream(size_t chunk, size_t chunks)
{
  enum { THREADS = 4 };
  size_t total = chunk * chunks - 123, i;
  unsigned char *data = malloc(total);
  struct sender s[THREADS];
  pthread_t th[THREADS];
  shmipc_stream_stats st = {.struct_size = sizeof st};
  struct got g;
  /* every chunk may arrive ahead of the in-order point */
  shmipc_reassembler *r = make_parked(&g, (uint32_t)chunks);

  assert_non_null(data);
  g.keep = 1;
  for (i = 0; i < total; i++)
    data[i] = (unsigned char)(i * 7 + i / 251);
  assert_int_equal(
      msg(r, SHMIPC_MSG_STREAM_START, 5, total, 0, 300, 0, NULL, 0),
      SHMIPC__SST_OPEN);
  for (i = 0; i < THREADS; i++) {
    s[i] = (struct sender){r,
                           data,
                           total,
                           chunk,
                           (unsigned)i,
                           THREADS,
                           (unsigned)(chunks / THREADS),
                           0};
    assert_int_equal(pthread_create(&th[i], NULL, send_chunks, &s[i]), 0);
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(s[i].bad, 0);
  }
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.len, total);
  assert_non_null(g.data);
  assert_memory_equal(g.data, data, total);
  shmipc_stream_buffer_free(g.data);
  shmipc_reassembler_stats(r, &st);
  assert_int_equal(st.open, 0);
  assert_int_equal(st.held, 0);
  assert_int_equal(st.delivered, 1);
  assert_int_equal(st.peak_held, total);
  shmipc_reassembler_destroy(r);
  pthread_mutex_destroy(&g.mu);
  free(data);
}

static void parallel_chunks(void **state)
{
  (void)state;
  parallel_stream(1000, 4 * 15);
}

/* The same with a stream past SHMIPC__STREAMING_TOTAL in chunks of 64 KiB,
 * which the receiver copies with streaming stores. */
static void parallel_chunks_large(void **state)
{
  (void)state;
  assert_true((uint64_t)65536 * 4 * 68 - 123 >= SHMIPC__STREAMING_TOTAL);
  parallel_stream(65536, 4 * 68);
}

/* shmipc__copy_streaming() copies exactly what memcpy would, whatever the
 * alignment of either end and the length, and writes nothing outside. */
static void streaming_copy(void **state)
{
  static const size_t sizes[] = {
      0, 1, 63, 64, 65535, 65536, 65536 + 15, 65536 + 16, 65536 + 63, 200003};
  enum { GUARD = 64 };
  size_t max = 200003 + 16 + 2 * GUARD, k, i, dof, sof;
  unsigned char *src = malloc(max), *dst = malloc(max);

  (void)state;
  assert_non_null(src);
  assert_non_null(dst);
  for (i = 0; i < max; i++)
    src[i] = (unsigned char)(i * 13 + i / 509);
  for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    for (dof = 0; dof < 16; dof += 5)
      for (sof = 0; sof < 4; sof += 3) {
        size_t n = sizes[k];
        unsigned char *d = dst + GUARD + dof;

        memset(dst, 0xEE, max);
        shmipc__copy_streaming(d, src + sof, n);
        assert_memory_equal(d, src + sof, n);
        for (i = 0; i < GUARD + dof; i++)
          assert_int_equal(dst[i], 0xEE);
        for (i = GUARD + dof + n; i < max; i++)
          assert_int_equal(dst[i], 0xEE);
      }
  free(src);
  free(dst);
}

/* A refusal by the callback is reported and counted as dropped. */
static void callback_refuses(void **state)
{
  struct got g;
  shmipc_reassembler *r = make(&g);
  shmipc_stream_stats st = {.struct_size = sizeof st};
  unsigned char d[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

  (void)state;
  g.refuse = 1;
  assert_int_equal(msg(r, SHMIPC_MSG_STREAM_START, 1, 10, 0, 300, 0, NULL, 0),
                   SHMIPC__SST_OPEN);
  assert_int_equal(msg(r, SHMIPC_MSG_STREAM_CHUNK, 1, 10, 0, 300, 0, d, 10),
                   SHMIPC_STREAM_REFUSED << 8 | SHMIPC__SST_DROPPED);
  assert_int_equal(g.calls, 1);
  assert_int_equal(g.first, 1);
  assert_int_equal(g.last, 10);
  shmipc_reassembler_stats(r, &st);
  assert_int_equal(st.delivered, 0);
  assert_int_equal(st.dropped, 1);
  /* an empty stream refused at its start */
  assert_int_equal(msg(r, SHMIPC_MSG_STREAM_START, 2, 0, 0, 300, 0, NULL, 0),
                   SHMIPC_STREAM_REFUSED << 8 | SHMIPC__SST_DROPPED);
  shmipc_reassembler_destroy(r);
  pthread_mutex_destroy(&g.mu);
}

/* Other messages pass through untouched; an answer that does not fit is a
 * system error, not a write past the buffer. */
static void passthrough_and_small_answer(void **state)
{
  struct got g;
  shmipc_reassembler *r = make(&g);
  unsigned char req[40] = "hello", resp[15];
  size_t rl = 0;
  uint32_t rt = 150;

  (void)state;
  assert_int_equal(
      shmipc_reassembler_handle(r, 150, req, 5, resp, sizeof resp, &rl, &rt),
      0);
  assert_int_equal(rl, 5);
  assert_int_equal(rt, 999);
  assert_memory_equal(resp, "hello", 5);
  rt = SHMIPC_MSG_STREAM_START;
  assert_int_not_equal(shmipc_reassembler_handle(r, SHMIPC_MSG_STREAM_START,
                                                 req, 32, resp, sizeof resp,
                                                 &rl, &rt),
                       0);
  shmipc_reassembler_destroy(r);
  pthread_mutex_destroy(&g.mu);
}

static void limits_checked(void **state)
{
  shmipc_stream_limits lim;
  shmipc_reassembler *r = (shmipc_reassembler *)&lim;
  struct got g;

  (void)state;
  memset(&g, 0, sizeof g);
  shmipc_stream_limits_init(&lim);
  assert_int_equal(shmipc_reassembler_create(&lim, NULL, &g, echo, NULL, &r),
                   SHMIPC_E_INVALID);
  assert_null(r);
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, &g, NULL, NULL, &r),
      SHMIPC_E_INVALID);
  lim.max_streams = 0;
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, &g, echo, NULL, &r),
      SHMIPC_E_INVALID);
  shmipc_stream_limits_init(&lim);
  lim.idle_timeout_ns = 0;
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, &g, echo, NULL, &r),
      SHMIPC_E_INVALID);
  shmipc_stream_limits_init(&lim);
  lim.struct_size = 8;
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, &g, echo, NULL, &r),
      SHMIPC_E_INVALID);
  shmipc_stream_limits_init(&lim);
  lim.max_parked = 1u << 20;
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, &g, echo, NULL, &r),
      SHMIPC_E_INVALID);
  assert_string_equal(shmipc_stream_reason_name(SHMIPC_STREAM_OVERLAP),
                      "overlap");
  assert_string_equal(shmipc_stream_reason_name(14), "unknown reason");
  /* destroying with open streams frees them */
  shmipc_stream_limits_init(&lim);
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, &g, echo, NULL, &r),
      SHMIPC_OK);
  assert_int_equal(
      msg(r, SHMIPC_MSG_STREAM_START, 1, 1 << 20, 0, 300, 0, NULL, 0),
      SHMIPC__SST_OPEN);
  shmipc_reassembler_destroy(r);
}

/* Answers judged by the sender: only legal ones pass. */
static void sender_judges_answers(void **state)
{
  unsigned char a[16];
  uint32_t st, sa, mp;

  (void)state;
  shmipc__stream_resp_put(a, 0, SHMIPC__SST_OPEN, 4);
  assert_int_equal(shmipc__stream_answer(4, 4, 16, a, &st, &sa, &mp), 0);
  assert_int_equal(mp, 4);
  /* a start answered with no stream answer at all: a guest without a
   * stream receiver; a chunk answered so: corrupt */
  assert_int_equal(shmipc__stream_answer(4, 5, 16, a, &st, &sa, &mp),
                   SHMIPC_E_REMOTE);
  assert_int_equal(shmipc__stream_answer(4, 4, 15, a, &st, &sa, &mp),
                   SHMIPC_E_REMOTE);
  assert_int_equal(shmipc__stream_answer(5, 4, 16, a, &st, &sa, &mp),
                   SHMIPC_E_CORRUPT);
  assert_int_equal(shmipc__stream_answer(5, 5, 32, a, &st, &sa, &mp),
                   SHMIPC_E_CORRUPT);
  shmipc__stream_resp_put(a, 0, SHMIPC__SST_NONE, 4);
  assert_int_equal(shmipc__stream_answer(4, 4, 16, a, &st, &sa, &mp),
                   SHMIPC_E_CORRUPT);
  shmipc__stream_resp_put(a, 7, 4, 4);
  assert_int_equal(shmipc__stream_answer(5, 5, 16, a, &st, &sa, &mp),
                   SHMIPC_E_CORRUPT);
  shmipc__stream_resp_put(a, 99, SHMIPC__SST_NONE, 4);
  assert_int_equal(shmipc__stream_answer(5, 5, 16, a, &st, &sa, &mp), 0);
  assert_int_equal(st, 99);
}

static int64_t fake_ns;

static int64_t fake_now(void *arg)
{
  (void)arg;
  return fake_ns;
}

/* A delivered buffer of 4 MiB or more is reused for the next stream of the
 * same size, counts against max_total, and goes after the idle timeout. */
static void spare_buffer(void **state)
{
  enum { N = 4 << 20 };
  static unsigned char d[65536];
  shmipc_stream_limits lim;
  shmipc_stream_stats st = {.struct_size = sizeof st};
  shmipc_reassembler *r;
  struct got g;
  uint64_t off;

  (void)state;
  memset(&g, 0, sizeof g);
  pthread_mutex_init(&g.mu, NULL);
  shmipc_stream_limits_init(&lim);
  lim.max_total = 2 * N;
  lim.idle_timeout_ns = 1000;
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, &g, echo, NULL, &r),
      SHMIPC_OK);
  shmipc__reassembler_set_clock(r, fake_now, NULL);
  for (int k = 0; k < 2; k++) {
    memset(d, 0x11 * (k + 1), sizeof d);
    assert_int_equal(
        msg(r, SHMIPC_MSG_STREAM_START, 1 + k, N, 0, 300, 0, NULL, 0),
        SHMIPC__SST_OPEN);
    for (off = 0; off < N; off += sizeof d)
      assert_int_equal(
          msg(r, SHMIPC_MSG_STREAM_CHUNK, 1 + k, N, off, 300, 0, d, sizeof d) &
              0xff00,
          0);
    /* the callback saw this stream's bytes, not the last one's */
    assert_int_equal(g.first, 0x11 * (k + 1));
    assert_int_equal(g.last, 0x11 * (k + 1));
    shmipc_reassembler_stats(r, &st);
    assert_int_equal(st.cached, N);
    assert_int_equal(st.held, 0);
  }
  assert_int_equal(st.peak_held, N);
  /* a stream that needs the room takes it from the spare */
  assert_int_equal(
      msg(r, SHMIPC_MSG_STREAM_START, 3, 2 * N, 0, 300, 0, NULL, 0),
      SHMIPC__SST_OPEN);
  shmipc_reassembler_stats(r, &st);
  assert_int_equal(st.cached, 0);
  assert_true(st.peak_held <= 2 * N);
  assert_int_equal(
      msg(r, SHMIPC_MSG_STREAM_CHUNK, 3, 2 * N, 0, 300, 1, NULL, 0),
      SHMIPC_STREAM_ABORTED << 8 | SHMIPC__SST_DROPPED);
  /* the dropped buffer (8 MiB) is the spare now, until it idles out */
  shmipc_reassembler_stats(r, &st);
  assert_int_equal(st.cached, 2 * N);
  fake_ns += 1001;
  assert_int_equal(msg(r, SHMIPC_MSG_STREAM_CHUNK, 9, 1, 0, 300, 0, d, 1),
                   SHMIPC_STREAM_UNKNOWN << 8);
  shmipc_reassembler_stats(r, &st);
  assert_int_equal(st.cached, 0);
  shmipc_reassembler_destroy(r);
  pthread_mutex_destroy(&g.mu);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parallel_chunks),
      cmocka_unit_test(parallel_chunks_large),
      cmocka_unit_test(streaming_copy),
      cmocka_unit_test(callback_refuses),
      cmocka_unit_test(passthrough_and_small_answer),
      cmocka_unit_test(limits_checked),
      cmocka_unit_test(sender_judges_answers),
      cmocka_unit_test(spare_buffer),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
