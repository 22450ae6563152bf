/* SPDX-License-Identifier: MIT */
/*
 * Replays tests/stream_vectors.txt (grammar in its header) against the C
 * reassembler; go/stream_vectors_test.go replays the same file against the
 * Go one. Every line that one side decides differently fails here or there.
 *
 * With --guest-slots every message travels the other way, as a guest's
 * stream does: a C guest sends it as a guest call on a guest slot, and the
 * host's receiver (shmipc_host_stream_receiver(), served by the listener
 * thread) answers it over the segment.
 *
 * Usage: test-stream-vectors [--guest-slots] VECTORS_FILE
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "proc.h"
#include "sha256.h"

#define MAX_IDS 64
#define MAX_DELIVERIES 64
#define MAX_CHUNK (1u << 20)

struct delivery {
  uint64_t id;
  uint32_t type;
  uint64_t len;
  char sha[65];
};

static struct {
  const char *file;
  int line;
  char name[128];
  int failures;
  int cases;
  int steps;
  shmipc_reassembler *r;
  shmipc_stream_limits lim;
  int64_t clock_ns; /* atomic (__atomic builtins): read by the listener */
  struct {
    uint64_t id, total;
    uint32_t type;
  } ids[MAX_IDS];
  int nids;
  struct delivery got[MAX_DELIVERIES];
  int ngot; /* atomic: the deliveries in got (see on_stream()) */
  int nchecked;
  shmipc_host *h;  /* --guest-slots: the host whose receiver is V.r */
  shmipc_guest *g; /* and the guest that sends the messages */
} V;

static void failf(const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "%s:%d: case %s: ", V.file, V.line, V.name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  V.failures++;
}

/* With --guest-slots the receiver runs on the host's listener thread,
 * whose round sweeps idle streams by this clock at any time (the
 * acquire pairs with the release store in main()). */
static int64_t fake_now(void *arg)
{
  (void)arg;
  return __atomic_load_n(&V.clock_ns, __ATOMIC_ACQUIRE);
}

/* With --guest-slots a delivery is made on the listener thread, before it
 * answers the message that completed the stream; the main thread looks at
 * it once the guest call has that answer. The slot protocol orders the
 * two, but host and guest map the segment at two addresses in this
 * process, and ThreadSanitizer keys its ordering by address: it cannot
 * pair the host's publish with the guest's acquire of the same word. So
 * the delivery is handed over by ngot as well (release here, acquire in
 * do_delivered()). A delivery that came after its answer would still be
 * missing there. */

static int on_stream(void *user, uint64_t id, uint32_t type, void *data,
                     size_t len)
{
  struct sha256 c;
  unsigned char d[32];
  struct delivery *g;
  int n;

  (void)user;
  n = __atomic_load_n(&V.ngot, __ATOMIC_RELAXED); /* only we store it */
  if (n == MAX_DELIVERIES) {
    failf("more than %d deliveries", MAX_DELIVERIES);
    return 0;
  }
  g = &V.got[n];
  g->id = id;
  g->type = type;
  g->len = len;
  sha256_init(&c);
  sha256_update(&c, data, len);
  sha256_final(&c, d);
  sha256_hex(d, g->sha);
  /* release: publishes got[n]; pairs with the acquire in do_delivered() */
  __atomic_store_n(&V.ngot, n + 1, __ATOMIC_RELEASE);
  return 0;
}

static int not_stream(void *user, uint32_t type, const void *req,
                      size_t req_len, void *resp, size_t resp_cap,
                      size_t *resp_len, uint32_t *resp_type)
{
  (void)user, (void)type, (void)req, (void)req_len, (void)resp, (void)resp_cap,
      (void)resp_len, (void)resp_type;
  failf("a stream message reached the ordinary handler");
  return -1;
}

static const char *const states[] = {"none", "open", "complete", "dropped"};

static int parse_u64(const char *s, uint64_t *out)
{
  char *end;

  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  *out = strtoull(s, &end, 10);
  return *end == '\0' ? 0 : -1;
}

static int parse_status(const char *s, uint32_t *out)
{
  uint32_t i;

  for (i = 0; i <= SHMIPC_STREAM_REFUSED; i++)
    if (strcmp(shmipc_stream_reason_name(i), s) == 0) {
      *out = i;
      return 0;
    }
  return -1;
}

static int parse_state(const char *s, uint32_t *out)
{
  uint32_t i;

  for (i = 0; i < 4; i++)
    if (strcmp(states[i], s) == 0) {
      *out = i;
      return 0;
    }
  return -1;
}

/* --guest-slots: stop serving through V.r (so that it may be destroyed),
 * or start serving through it. */
static void serve_receiver(bool on)
{
  if (V.h == NULL)
    return;
  if (!on) {
    (void)shmipc_host_listen_stop(V.h);
    (void)shmipc_host_stream_receiver(V.h, NULL);
    return;
  }
  if (shmipc_host_stream_receiver(V.h, V.r) != SHMIPC_OK ||
      shmipc_host_listen_start(V.h, not_stream, NULL) != SHMIPC_OK)
    failf("cannot serve through the receiver: %s", shmipc_last_error());
}

static void finish_case(void)
{
  if (V.r == NULL)
    return;
  serve_receiver(false);
  if (V.ngot != V.nchecked)
    failf("%d deliveries beyond those listed (first: id %" PRIu64 ")",
          V.ngot - V.nchecked, V.got[V.nchecked].id);
  shmipc_reassembler_destroy(V.r);
  V.r = NULL;
}

/* Send one message and compare the answer with "-> STATUS STATE". */
static void exchange(uint32_t type, const unsigned char *req, size_t len,
                     char **tok, int ntok, int arrow)
{
  unsigned char resp[64];
  size_t resp_len = 0;
  uint32_t resp_type = type, status, state, max_parked, want_status, want_state;
  int rc;

  if (arrow + 3 != ntok || parse_status(tok[arrow + 1], &want_status) != 0 ||
      parse_state(tok[arrow + 2], &want_state) != 0) {
    failf("cannot parse the expected answer");
    return;
  }
  memset(resp, 0xEE, sizeof resp);
  if (V.g != NULL)
    rc = shmipc_guest_call(V.g, type, req, len, resp, sizeof resp, &resp_len,
                           &resp_type, INT64_C(10000000000));
  else
    rc = shmipc_reassembler_handle(V.r, type, req, len, resp, sizeof resp,
                                   &resp_len, &resp_type);
  V.steps++;
  if (rc != 0 || resp_len != SHMIPC__STREAM_RESP || resp_type != type) {
    failf("answer rc %d len %zu type %u: not a stream answer", rc, resp_len,
          resp_type);
    return;
  }
  shmipc__stream_resp_get(resp, &status, &state, &max_parked);
  if (status != want_status || state != want_state)
    failf("got %s %s want %s %s", shmipc_stream_reason_name(status),
          state < 4 ? states[state] : "?", tok[arrow + 1], tok[arrow + 2]);
  if (max_parked != V.lim.max_parked || resp[12] || resp[13] || resp[14] ||
      resp[15])
    failf("answer's max_parked %u / reserved bytes wrong", max_parked);
}

static int find_arrow(char **tok, int ntok)
{
  int i;

  for (i = 0; i < ntok; i++)
    if (strcmp(tok[i], "->") == 0)
      return i;
  return -1;
}

static int opt_u64(char **tok, int from, int to, const char *key, uint64_t *out)
{
  size_t k = strlen(key);
  int i;

  for (i = from; i < to; i++)
    if (strncmp(tok[i], key, k) == 0 && tok[i][k] == '=')
      return parse_u64(tok[i] + k + 1, out) == 0 ? 1 : -1;
  return 0;
}

static void remember(uint64_t id, uint64_t total, uint32_t type)
{
  int i;

  for (i = 0; i < V.nids; i++)
    if (V.ids[i].id == id)
      break;
  if (i == MAX_IDS)
    return;
  if (i == V.nids)
    V.nids++;
  V.ids[i].id = id;
  V.ids[i].total = total;
  V.ids[i].type = type;
}

static void do_start(char **tok, int ntok)
{
  static unsigned char req[SHMIPC__STREAM_HDR + 256];
  struct shmipc__stream_hdr h = {0};
  uint64_t total, type, flags = 0, extra = 0, offset = 0;
  int arrow = find_arrow(tok, ntok);

  if (arrow < 4) {
    failf("bad start line");
    return;
  }
  if (parse_u64(tok[1], &h.id) || parse_u64(tok[2], &total) ||
      parse_u64(tok[3], &type) || opt_u64(tok, 4, arrow, "flags", &flags) < 0 ||
      opt_u64(tok, 4, arrow, "extra", &extra) < 0 || extra > 256 ||
      opt_u64(tok, 4, arrow, "offset", &offset) < 0 || type > UINT32_MAX ||
      flags > UINT32_MAX) {
    failf("bad start line");
    return;
  }
  h.total = total;
  h.offset = offset;
  h.app_type = (uint32_t)type;
  h.flags = (uint32_t)flags;
  shmipc__stream_hdr_put(req, &h);
  memset(req + SHMIPC__STREAM_HDR, 0x5A, (size_t)extra);
  remember(h.id, total, (uint32_t)type);
  exchange(SHMIPC_MSG_STREAM_START, req, SHMIPC__STREAM_HDR + (size_t)extra,
           tok, ntok, arrow);
}

static void do_chunk(char **tok, int ntok)
{
  static unsigned char req[SHMIPC__STREAM_HDR + MAX_CHUNK];
  struct shmipc__stream_hdr h = {0};
  uint64_t len, total = 0, type = 0, flags = 0, fill = 0, o;
  int arrow = find_arrow(tok, ntok), i, has_total, has_type, has_fill;

  if (arrow < 4 || parse_u64(tok[1], &h.id) || parse_u64(tok[2], &h.offset) ||
      parse_u64(tok[3], &len) || len > MAX_CHUNK) {
    failf("bad chunk line");
    return;
  }
  for (i = 0; i < V.nids; i++)
    if (V.ids[i].id == h.id) {
      total = V.ids[i].total;
      type = V.ids[i].type;
    }
  has_total = opt_u64(tok, 4, arrow, "total", &total);
  has_type = opt_u64(tok, 4, arrow, "type", &type);
  has_fill = opt_u64(tok, 4, arrow, "fill", &fill);
  if (has_total < 0 || has_type < 0 || has_fill < 0 || fill > 255 ||
      opt_u64(tok, 4, arrow, "flags", &flags) < 0 || type > UINT32_MAX ||
      flags > UINT32_MAX) {
    failf("bad chunk option");
    return;
  }
  h.total = total;
  h.app_type = (uint32_t)type;
  h.flags = (uint32_t)flags;
  shmipc__stream_hdr_put(req, &h);
  for (o = 0; o < len; o++)
    req[SHMIPC__STREAM_HDR + o] =
        has_fill ? (unsigned char)fill
                 : (unsigned char)((h.offset + o) * 131 + h.id * 17 + 7);
  exchange(SHMIPC_MSG_STREAM_CHUNK, req, SHMIPC__STREAM_HDR + (size_t)len, tok,
           ntok, arrow);
}

static void do_short(char **tok, int ntok)
{
  unsigned char req[SHMIPC__STREAM_HDR] = {0};
  uint64_t len;
  uint32_t type;

  if (ntok != 6 || parse_u64(tok[1], &len) || len >= SHMIPC__STREAM_HDR ||
      strcmp(tok[3], "->") != 0) {
    failf("bad short line");
    return;
  }
  if (strcmp(tok[2], "start") == 0)
    type = SHMIPC_MSG_STREAM_START;
  else if (strcmp(tok[2], "chunk") == 0)
    type = SHMIPC_MSG_STREAM_CHUNK;
  else {
    failf("bad short message kind");
    return;
  }
  exchange(type, req, (size_t)len, tok, ntok, 3);
}

static void do_delivered(char **tok, int ntok)
{
  uint64_t id, type, len;
  struct delivery *g;

  if (ntok != 5 || parse_u64(tok[1], &id) || parse_u64(tok[2], &type) ||
      parse_u64(tok[3], &len) || strlen(tok[4]) != 64) {
    failf("bad delivered line");
    return;
  }
  /* acquire: pairs with the release store in on_stream() */
  if (V.nchecked == __atomic_load_n(&V.ngot, __ATOMIC_ACQUIRE)) {
    failf("expected delivery of id %" PRIu64 ", none came", id);
    return;
  }
  g = &V.got[V.nchecked++];
  if (g->id != id || g->type != type || g->len != len ||
      strcmp(g->sha, tok[4]) != 0)
    failf("got delivery %" PRIu64 " %u %" PRIu64 " %s want %s %s %s %s", g->id,
          g->type, g->len, g->sha, tok[1], tok[2], tok[3], tok[4]);
}

static void do_limits(char **tok, int ntok)
{
  uint64_t v[5];
  int i;

  if (ntok != 6) {
    failf("bad limits line");
    return;
  }
  for (i = 0; i < 5; i++)
    if (parse_u64(tok[i + 1], &v[i])) {
      failf("bad limits line");
      return;
    }
  serve_receiver(false);
  shmipc_reassembler_destroy(V.r);
  shmipc_stream_limits_init(&V.lim);
  V.lim.max_stream = v[0];
  V.lim.max_total = v[1];
  V.lim.max_streams = (uint32_t)v[2];
  V.lim.max_parked = (uint32_t)v[3];
  V.lim.idle_timeout_ns = (int64_t)v[4] * 1000000;
  if (shmipc_reassembler_create(&V.lim, on_stream, NULL, not_stream, NULL,
                                &V.r) != SHMIPC_OK) {
    failf("limits refused by shmipc_reassembler_create");
    V.r = NULL;
    return;
  }
  shmipc__reassembler_set_clock(V.r, fake_now, NULL);
  serve_receiver(true);
}

/* --guest-slots: a host with one guest slot and a C guest attached to it
 * in this process. The liveness interval is long, so that the listener's
 * rounds (which sweep idle streams by the fake clock) come between
 * messages as rarely as possible: a sweep there drops what the next
 * message would have dropped anyway. */
static int open_session(void)
{
  shmipc_host_config hc;
  shmipc_guest_config gc;
  static char name[64];

  snprintf(name, sizeof name, "vectors-%u", (unsigned)proc_self_id());
  shmipc_host_config_init(&hc);
  hc.name = name;
  hc.host_slots = 1;
  hc.guest_slots = 1;
  hc.req_capacity = SHMIPC__STREAM_HDR + MAX_CHUNK;
  hc.resp_capacity = 64;
  hc.liveness_interval_ns = INT64_C(60000000000);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  if (shmipc_host_create(&hc, &V.h) != SHMIPC_OK ||
      shmipc_guest_attach(&gc, &V.g) != SHMIPC_OK) {
    fprintf(stderr, "session: %s\n", shmipc_last_error());
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  char buf[1024], *tok[32], *p;
  FILE *f;
  int ntok;

  if (argc == 3 && strcmp(argv[1], "--guest-slots") == 0) {
    if (open_session() != 0)
      return 1;
    argv++, argc--;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s [--guest-slots] VECTORS_FILE\n", argv[0]);
    return 2;
  }
  V.file = argv[1];
  f = fopen(V.file, "r");
  if (f == NULL) {
    perror(V.file);
    return 1;
  }
  while (fgets(buf, sizeof buf, f) != NULL) {
    V.line++;
    if ((p = strchr(buf, '#')) != NULL)
      *p = '\0';
    ntok = 0;
    for (p = strtok(buf, " \t\r\n"); p != NULL && ntok < 32;
         p = strtok(NULL, " \t\r\n"))
      tok[ntok++] = p;
    if (ntok == 0)
      continue;
    if (strcmp(tok[0], "case") == 0 && ntok == 2) {
      finish_case();
      snprintf(V.name, sizeof V.name, "%s", tok[1]);
      V.cases++;
      /* No listener runs (finish_case() stopped it). */
      __atomic_store_n(&V.clock_ns, 0, __ATOMIC_RELEASE);
      V.nids = V.ngot = V.nchecked = 0;
      continue;
    }
    if (strcmp(tok[0], "limits") == 0) {
      do_limits(tok, ntok);
      continue;
    }
    if (V.r == NULL) {
      failf("'%s' before a case's limits", tok[0]);
      continue;
    }
    if (strcmp(tok[0], "start") == 0)
      do_start(tok, ntok);
    else if (strcmp(tok[0], "chunk") == 0)
      do_chunk(tok, ntok);
    else if (strcmp(tok[0], "short") == 0)
      do_short(tok, ntok);
    else if (strcmp(tok[0], "delivered") == 0)
      do_delivered(tok, ntok);
    else if (strcmp(tok[0], "clock") == 0 && ntok == 2) {
      uint64_t ms;
      if (parse_u64(tok[1], &ms))
        failf("bad clock line");
      /* release: pairs with the acquire in fake_now() */
      __atomic_store_n(&V.clock_ns, V.clock_ns + (int64_t)ms * 1000000,
                       __ATOMIC_RELEASE);
    } else if (strcmp(tok[0], "reserved") == 0 && ntok == 2) {
      shmipc_stream_stats st = {.struct_size = sizeof st};
      uint64_t want;
      if (parse_u64(tok[1], &want)) {
        failf("bad reserved line");
        continue;
      }
      shmipc_reassembler_stats(V.r, &st);
      if (st.held != want)
        failf("reserved %" PRIu64 " want %" PRIu64, st.held, want);
    } else if (strcmp(tok[0], "end") == 0 && ntok == 1) {
      finish_case();
    } else {
      failf("unknown directive '%s'", tok[0]);
    }
  }
  fclose(f);
  finish_case();
  if (V.cases == 0)
    failf("no cases");
  printf("%d cases, %d messages, %d failures%s\n", V.cases, V.steps, V.failures,
         V.g != NULL ? " (on guest slots)" : "");
  shmipc_guest_detach(V.g);
  shmipc_host_destroy(V.h);
  return V.failures == 0 ? 0 : 1;
}
