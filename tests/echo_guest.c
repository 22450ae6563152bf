/* SPDX-License-Identifier: MIT */
/*
 * shmipc-echo-c: the C echo guest used by the interop tests and the
 * benchmark. Behaviour by request type is specified in ECHO_GUEST.md and
 * matches go/cmd/shmipc-echo.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <shmipc/shmipc.h>

#include "clock.h"
#include "pattern.h"
#include "sha256.h"

enum {
  T_FAIL = 200,
  T_DELAY = 201,
  T_GUEST_CALL = 202,
  T_OVERSIZE = 203,
  T_STREAM_DIGEST = 204,
  T_STREAM_STATS = 205,
  T_LARGE = 220,        /* large answer: u64 len, u64 seed; hashed */
  T_LARGE_DIGEST = 221, /* the last large answer's length and SHA-256 */
  T_ANSWER_STATS = 222, /* the guest's large-answer counters */
  T_LARGE_STATIC = 223, /* large answer: u64 len from a shared buffer */
  APP_REFUSE = 210,     /* stream app type the delivery callback refuses */
  APP_NO_DIGEST = 211,  /* stream app type delivered without a digest */
};

#define REMEMBERED 64

static shmipc_guest *guest;
static shmipc_reassembler *reasm;

/* The REMEMBERED stream ids delivered most recently, for T_STREAM_DIGEST. */
static struct {
  pthread_mutex_t mu;
  struct {
    uint64_t id, len, used;
    uint32_t app_type, count;
    unsigned char sha[32];
  } e[REMEMBERED];
  uint64_t clock;
} seen = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void put64(unsigned char *p, uint64_t v)
{
  int i;

  for (i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static int on_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  unsigned char d[32] = {0};
  struct sha256 c;
  unsigned i;

  (void)user;
  if (app_type == APP_REFUSE)
    return -1;
  if (app_type != APP_NO_DIGEST) {
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, d);
  }
  pthread_mutex_lock(&seen.mu);
  for (i = 0; i < REMEMBERED; i++)
    if (seen.e[i].count > 0 && seen.e[i].id == id)
      break;
  if (i == REMEMBERED) {
    /* a new id takes a free entry, else the one delivered longest ago */
    unsigned k;
    for (i = 0, k = 0; k < REMEMBERED; k++)
      if (seen.e[k].used < seen.e[i].used)
        i = k;
    seen.e[i].count = 0;
  }
  seen.e[i].used = ++seen.clock;
  seen.e[i].id = id;
  seen.e[i].len = len;
  seen.e[i].app_type = app_type;
  seen.e[i].count++;
  memcpy(seen.e[i].sha, d, 32);
  pthread_mutex_unlock(&seen.mu);
  return 0;
}

static int stream_query(uint32_t type, const unsigned char *req, size_t req_len,
                        unsigned char *resp, size_t resp_cap, size_t *resp_len)
{
  shmipc_stream_stats st = {.struct_size = sizeof st};
  uint64_t id = 0;
  unsigned i;

  if (type == T_STREAM_STATS) {
    (void)req;
    if (resp_cap < 40)
      return -1;
    shmipc_reassembler_stats(reasm, &st);
    put64(resp, st.open);
    put64(resp + 8, st.held);
    put64(resp + 16, st.peak_held);
    put64(resp + 24, st.delivered);
    put64(resp + 32, st.dropped);
    *resp_len = 40;
    return 0;
  }
  if (req_len != 8 || resp_cap < 48)
    return -1;
  for (i = 0; i < 8; i++)
    id |= (uint64_t)req[i] << (8 * i);
  memset(resp, 0, 48);
  pthread_mutex_lock(&seen.mu);
  for (i = 0; i < REMEMBERED; i++)
    if (seen.e[i].count > 0 && seen.e[i].id == id) {
      put64(resp, seen.e[i].len);
      /* u32 app_type then u32 deliveries, little-endian */
      put64(resp + 8, (uint64_t)seen.e[i].count << 32 | seen.e[i].app_type);
      memcpy(resp + 16, seen.e[i].sha, 32);
    }
  pthread_mutex_unlock(&seen.mu);
  *resp_len = 48;
  return 0;
}

static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type)
{
  (void)user;
  switch (type) {
  case T_FAIL:
    return -1;
  case T_DELAY:
    if (req_len >= 4) {
      const unsigned char *p = req;
      uint32_t ms = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
      t_sleep_ns((int64_t)ms * T_MS);
    }
    break;
  case T_GUEST_CALL: {
    size_t n = 0;
    uint32_t t = 0;
    int r = shmipc_guest_call(guest, SHMIPC_MSG_GUEST_CALL, req, req_len, resp,
                              resp_cap, &n, &t, INT64_C(5000000000));
    if (r != SHMIPC_OK) {
      const char *why = shmipc_strerror(r);
      n = strlen(why) < resp_cap ? strlen(why) : resp_cap;
      memcpy(resp, why, n);
      *resp_len = n;
      *resp_type = SHMIPC_MSG_SYSTEM_ERROR;
      return 0;
    }
    *resp_len = n;
    *resp_type = T_GUEST_CALL;
    return 0;
  }
  case T_OVERSIZE:
    *resp_len = resp_cap + 1;
    return 0;
  case T_STREAM_DIGEST:
  case T_STREAM_STATS:
    return stream_query(type, req, req_len, resp, resp_cap, resp_len);
  default:
    break;
  }
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

static uint64_t get64(const unsigned char *p)
{
  uint64_t v = 0;
  int i;

  for (i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* The last T_LARGE answer's length and digest. */
static struct {
  pthread_mutex_t mu;
  uint64_t len;
  unsigned char sha[32];
} last_large = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* T_LARGE_STATIC answers from one buffer of the pattern of seed 0, grown
 * as needed; a buffer outgrown stays until exit (answers may still point
 * into it). */
static struct {
  pthread_mutex_t mu;
  unsigned char *buf;
  size_t len;
} statics = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void release_free(void *ctx, const void *data, size_t len)
{
  (void)ctx, (void)len;
  free((void *)data);
}

static int large(uint32_t type, const unsigned char *req, size_t req_len,
                 unsigned char *resp, size_t resp_cap, size_t *resp_len,
                 shmipc_answer *ans)
{
  shmipc_answer_stats st = SHMIPC_ANSWER_STATS_INIT;
  uint64_t len;
  struct sha256 c;

  switch (type) {
  case T_LARGE:
    if (req_len != 16 || (len = get64(req)) > SIZE_MAX)
      return -1;
    {
      unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
      if (b == NULL)
        return -1;
      pattern_fill(b, (size_t)len, get64(req + 8));
      sha256_init(&c);
      sha256_update(&c, b, (size_t)len);
      pthread_mutex_lock(&last_large.mu);
      last_large.len = len;
      sha256_final(&c, last_large.sha);
      pthread_mutex_unlock(&last_large.mu);
      shmipc_answer_set(ans, b, (size_t)len, release_free, NULL);
    }
    return 0;
  case T_LARGE_DIGEST:
    if (resp_cap < 40)
      return -1;
    pthread_mutex_lock(&last_large.mu);
    put64(resp, last_large.len);
    memcpy(resp + 8, last_large.sha, 32);
    pthread_mutex_unlock(&last_large.mu);
    *resp_len = 40;
    return 0;
  case T_ANSWER_STATS:
    if (resp_cap < 48)
      return -1;
    shmipc_guest_answer_stats(guest, &st);
    put64(resp, st.parked);
    put64(resp + 8, st.held);
    put64(resp + 16, st.peak_held);
    put64(resp + 24, st.released);
    put64(resp + 32, st.dropped);
    put64(resp + 40, st.expired);
    *resp_len = 48;
    return 0;
  default: /* T_LARGE_STATIC */
    if (req_len != 8 || (len = get64(req)) > SIZE_MAX)
      return -1;
    pthread_mutex_lock(&statics.mu);
    if (statics.len < len) {
      unsigned char *b = malloc((size_t)len);
      if (b == NULL) {
        pthread_mutex_unlock(&statics.mu);
        return -1;
      }
      pattern_fill(b, (size_t)len, 0);
      statics.buf = b; /* the old one stays: answers may use it */
      statics.len = (size_t)len;
    }
    shmipc_answer_set(ans, statics.buf, (size_t)len, NULL, NULL);
    pthread_mutex_unlock(&statics.mu);
    return 0;
  }
}

static int streams = 1;

static int answer_handler(void *user, uint32_t type, const void *req,
                          size_t req_len, void *resp, size_t resp_cap,
                          size_t *resp_len, uint32_t *resp_type,
                          shmipc_answer *ans)
{
  (void)user;
  if (type >= T_LARGE && type <= T_LARGE_STATIC)
    return large(type, req, req_len, resp, resp_cap, resp_len, ans);
  /* -no-streams: the plain handler answers stream messages too */
  return streams ? shmipc_reassembler_handle(reasm, type, req, req_len, resp,
                                             resp_cap, resp_len, resp_type)
                 : handler(NULL, type, req, req_len, resp, resp_cap, resp_len,
                           resp_type);
}

#define USAGE                                                                  \
  "usage: %s -name NAME [-timeout-ms MS] [-stream-max-stream BYTES]\n"         \
  "       [-stream-max-total BYTES] [-stream-max-streams N]\n"                 \
  "       [-stream-max-parked N] [-stream-idle-ms MS] [-no-streams]\n"         \
  "       [-answer-max BYTES] [-answer-max-total BYTES]\n"                     \
  "       [-answer-max-answers N] [-answer-idle-ms MS]\n"

/* "-flag VALUE" with VALUE an unsigned decimal number no larger than max. */
static int num_arg(const char *s, uint64_t max, uint64_t *out)
{
  char *end;

  errno = 0;
  *out = strtoull(s, &end, 10);
  return errno == 0 && *end == '\0' && s[0] != '-' && *out <= max ? 0 : -1;
}

int main(int argc, char **argv)
{
  shmipc_guest_config cfg;
  shmipc_stream_limits lim;
  shmipc_answer_limits alim;
  const char *name = NULL;
  long timeout_ms = 5000;
  uint64_t v[9];
  int i, r, k;
  static const char *const flags[9] = {
      "-stream-max-stream", "-stream-max-total",   "-stream-max-streams",
      "-stream-max-parked", "-stream-idle-ms",     "-answer-max",
      "-answer-max-total",  "-answer-max-answers", "-answer-idle-ms"};
  static const uint64_t max[9] = {
      UINT64_MAX, UINT64_MAX,          UINT32_MAX,
      UINT32_MAX, INT64_MAX / 1000000, UINT64_MAX,
      UINT64_MAX, UINT32_MAX,          INT64_MAX / 1000000};

  shmipc_stream_limits_init(&lim);
  v[0] = lim.max_stream;
  v[1] = lim.max_total;
  v[2] = lim.max_streams;
  v[3] = lim.max_parked;
  v[4] = (uint64_t)(lim.idle_timeout_ns / 1000000);
  shmipc_answer_limits_init(&alim);
  v[5] = alim.max_answer;
  v[6] = alim.max_total;
  v[7] = alim.max_answers;
  v[8] = (uint64_t)(alim.idle_timeout_ns / 1000000);
  for (i = 1; i < argc; i++) {
    for (k = 0; k < 9 && strcmp(argv[i], flags[k]) != 0; k++)
      ;
    if (strcmp(argv[i], "-name") == 0 && i + 1 < argc)
      name = argv[++i];
    else if (strcmp(argv[i], "-no-streams") == 0)
      streams = 0;
    else if (strcmp(argv[i], "-timeout-ms") == 0 && i + 1 < argc)
      timeout_ms = strtol(argv[++i], NULL, 10);
    else if (k < 9 && i + 1 < argc && num_arg(argv[i + 1], max[k], &v[k]) == 0)
      i++;
    else {
      fprintf(stderr, USAGE, argv[0]);
      return 2;
    }
  }
  lim.max_stream = v[0];
  lim.max_total = v[1];
  lim.max_streams = (uint32_t)v[2];
  lim.max_parked = (uint32_t)v[3];
  lim.idle_timeout_ns = (int64_t)v[4] * 1000000;
  alim.max_answer = v[5];
  alim.max_total = v[6];
  alim.max_answers = (uint32_t)v[7];
  alim.idle_timeout_ns = (int64_t)v[8] * 1000000;
  if (name == NULL) {
    fprintf(stderr, USAGE, argv[0]);
    return 2;
  }
  r = shmipc_reassembler_create(&lim, on_stream, NULL, handler, NULL, &reasm);
  if (r != SHMIPC_OK) {
    fprintf(stderr, "shmipc-echo-c: stream limits: %s\n", shmipc_last_error());
    return 2;
  }
  shmipc_guest_config_init(&cfg);
  cfg.name = name;
  cfg.connect_timeout_ns = (int64_t)timeout_ms * 1000000;
  r = shmipc_guest_attach(&cfg, &guest);
  if (r != SHMIPC_OK) {
    fprintf(stderr, "shmipc-echo-c: attach %s: %s\n", name,
            shmipc_last_error());
    shmipc_reassembler_destroy(reasm);
    return 1;
  }
  r = shmipc_guest_start_answers(guest, answer_handler, NULL, &alim);
  if (r != SHMIPC_OK) {
    fprintf(stderr, "shmipc-echo-c: start: %s\n", shmipc_last_error());
    shmipc_guest_detach(guest);
    shmipc_reassembler_destroy(reasm);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  r = shmipc_guest_wait(guest, SHMIPC_TIMEOUT_INFINITE);
  shmipc_guest_detach(guest);
  shmipc_reassembler_destroy(reasm);
  if (r != SHMIPC_OK && r != SHMIPC_E_PEER_GONE) {
    fprintf(stderr, "shmipc-echo-c: %s\n", shmipc_last_error());
    return 1;
  }
  return 0;
}
