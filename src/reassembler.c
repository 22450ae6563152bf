/* SPDX-License-Identifier: MIT */
/*
 * The stream receiver (docs/PROTOCOL.md, "Streams"): wraps the user's
 * handler, takes STREAM_START and STREAM_CHUNK messages, writes each chunk
 * at its offset into one buffer per stream and delivers a complete stream
 * once. The answers depend only on the messages and the clock; the
 * conformance vectors in tests/stream_vectors.txt pin them.
 *
 * Locking: one mutex guards the bookkeeping. A chunk's range is taken under
 * it, then its bytes are copied without it (several workers copy into one
 * stream at once), then the copied count is added under it again. A stream
 * dropped while a copy runs keeps its buffer until the last copier leaves.
 * start() allocates the buffer under the mutex: malloc does not touch the
 * memory, whose pages the chunk copies fault in outside it. The Go receiver
 * (go/stream.go) gets zeroed memory from make(), which can mean writing the
 * whole buffer, so it allocates without its lock and marks the stream
 * "opening" meanwhile; otherwise the two receivers have the same shape and
 * the same names: copying (messages copying into a buffer), take_range()
 * (takeRange), deliver(), retire() (the spare, or Recycle in Go), struct
 * span, drop(), sweep().
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_STREAMS_LIMIT 65536u
#define MAX_PARKED_LIMIT 65536u
/* Buffers this large are kept for a next stream of the same size: a fresh
 * one costs the kernel a zeroed page per page, which was most of the
 * receiver's time for large streams. */
#define SPARE_MIN ((uint64_t)4 << 20)

struct span {
  uint64_t start, end;
};

struct stream {
  bool in_use;  /* the entry holds a stream (open or dropped) */
  bool dropped; /* no longer open; freed when copying reaches 0 */
  uint32_t app_type;
  uint32_t copying; /* messages copying into buf */
  uint32_t nparked;
  uint64_t id;
  uint64_t total;
  uint64_t next;   /* bytes [0, next) are taken */
  uint64_t copied; /* bytes copied into buf */
  int64_t last_ns; /* START or the last accepted chunk */
  unsigned char *buf;
  struct span *parked; /* sorted, disjoint, above next; max_parked long */
};

struct shmipc_reassembler {
  shmipc_stream_limits lim;
  shmipc_stream_fn fn;
  void *fn_user;
  shmipc_handler_fn next;
  void *next_user;
  int64_t (*now)(void *);
  void *now_arg;
  struct shmipc__mutex *mu;
  struct stream *streams; /* lim.max_streams entries */
  uint32_t open;
  uint64_t reserved;      /* sum of totals of buffers not yet freed */
  uint64_t peak_reserved; /* of reserved + spare_len */
  unsigned char *spare;   /* a retired buffer kept for reuse, or NULL */
  uint64_t spare_len;     /* its size; reserved + spare_len <= max_total */
  int64_t spare_ns;       /* when it was retired */
  uint64_t delivered;
  uint64_t dropped;
};

static int64_t real_now(void *arg)
{
  (void)arg;
  return shmipc__now_ns();
}

void shmipc_stream_limits_init(shmipc_stream_limits *lim)
{
  if (lim == NULL)
    return;
  memset(lim, 0, sizeof *lim);
  lim->struct_size = sizeof *lim;
  lim->max_streams = 16;
  lim->max_parked = 64;
  lim->max_stream = (uint64_t)1 << 30;
  lim->max_total = (uint64_t)1 << 30;
  lim->idle_timeout_ns = 10 * (int64_t)1000000000;
}

/* The arguments of shmipc_reassembler_create(). */
static int limits_check(const shmipc_stream_limits *lim, shmipc_stream_fn fn,
                        shmipc_handler_fn next)
{
  if (lim == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "lim is NULL");
  if (fn == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "fn is NULL");
  if (next == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "next is NULL");
  if (lim->struct_size != sizeof *lim)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "struct_size %lu, want %lu (fill the limits with "
                        "shmipc_stream_limits_init())",
                        (unsigned long)lim->struct_size,
                        (unsigned long)sizeof *lim);
  if (lim->max_streams < 1 || lim->max_streams > MAX_STREAMS_LIMIT)
    return shmipc__fail(SHMIPC_E_INVALID, "max_streams %lu outside 1..%lu",
                        (unsigned long)lim->max_streams,
                        (unsigned long)MAX_STREAMS_LIMIT);
  if (lim->max_parked > MAX_PARKED_LIMIT)
    return shmipc__fail(SHMIPC_E_INVALID, "max_parked %lu outside 0..%lu",
                        (unsigned long)lim->max_parked,
                        (unsigned long)MAX_PARKED_LIMIT);
  if (lim->reserved0 != 0)
    return shmipc__fail(SHMIPC_E_INVALID, "reserved0 %lu, want 0",
                        (unsigned long)lim->reserved0);
  if (lim->idle_timeout_ns <= 0)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "idle_timeout_ns %lld, want more than 0",
                        (long long)lim->idle_timeout_ns);
  return SHMIPC_OK;
}

static int reassembler_create(const shmipc_stream_limits *lim,
                              shmipc_stream_fn fn, void *fn_user,
                              shmipc_handler_fn next, void *next_user,
                              shmipc_reassembler **out);

int shmipc_reassembler_create(const shmipc_stream_limits *lim,
                              shmipc_stream_fn fn, void *fn_user,
                              shmipc_handler_fn next, void *next_user,
                              shmipc_reassembler **out)
{
  return shmipc__failed(
      reassembler_create(lim, fn, fn_user, next, next_user, out));
}

static int reassembler_create(const shmipc_stream_limits *lim,
                              shmipc_stream_fn fn, void *fn_user,
                              shmipc_handler_fn next, void *next_user,
                              shmipc_reassembler **out)
{
  shmipc_reassembler *r;
  int rc;

  if (out == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "out is NULL");
  *out = NULL;
  rc = limits_check(lim, fn, next);
  if (rc != SHMIPC_OK)
    return rc;
  r = calloc(1, sizeof *r);
  if (r == NULL)
    return SHMIPC_E_NOMEM;
  r->streams = calloc(lim->max_streams, sizeof *r->streams);
  if (r->streams == NULL)
    goto err_free;
  if (shmipc__mutex_create(&r->mu) != SHMIPC_OK) {
    free(r->streams);
    free(r);
    return SHMIPC_E_SYSTEM;
  }
  r->lim = *lim;
  r->fn = fn;
  r->fn_user = fn_user;
  r->next = next;
  r->next_user = next_user;
  r->now = real_now;
  *out = r;
  return SHMIPC_OK;

err_free:
  free(r);
  return SHMIPC_E_NOMEM;
}

static void note_peak(shmipc_reassembler *r)
{
  if (r->reserved + r->spare_len > r->peak_reserved)
    r->peak_reserved = r->reserved + r->spare_len;
}

/* Free a stream buffer of @len bytes, its pages first: a block malloc
 * keeps for reuse (in a worker thread's arena, or below the mmap threshold)
 * would otherwise stay resident, and with several workers the process held
 * up to half as much again as max_total. */
static void release(unsigned char *buf, uint64_t len)
{
  shmipc__release_pages(buf, (size_t)len);
  free(buf);
}

/* Under mu, with @len no longer counted in reserved: keep @buf as the
 * spare for a next stream of the same size, or free it. Its old bytes are
 * never seen: a stream is delivered only once every byte was written. */
static void retire(shmipc_reassembler *r, unsigned char *buf, uint64_t len)
{
  if (buf == NULL)
    return;
  if (len < SPARE_MIN || len > r->lim.max_total - r->reserved) {
    release(buf, len);
    return;
  }
  release(r->spare, r->spare_len);
  r->spare = buf;
  r->spare_len = len;
  r->spare_ns = r->now(r->now_arg);
  note_peak(r);
}

static void drop_spare(shmipc_reassembler *r)
{
  release(r->spare, r->spare_len);
  r->spare = NULL;
  r->spare_len = 0;
}

static void free_stream(shmipc_reassembler *r, struct stream *st)
{
  unsigned char *buf = st->buf;
  uint64_t len = st->total;

  free(st->parked);
  r->reserved -= st->total;
  memset(st, 0, sizeof *st);
  retire(r, buf, len);
}

void shmipc_reassembler_destroy(shmipc_reassembler *r)
{
  uint32_t i;

  if (r == NULL)
    return;
  for (i = 0; i < r->lim.max_streams; i++)
    if (r->streams[i].in_use)
      free_stream(r, &r->streams[i]);
  drop_spare(r);
  shmipc__mutex_destroy(r->mu);
  free(r->streams);
  free(r);
}

void shmipc__reassembler_set_clock(shmipc_reassembler *r,
                                   int64_t (*now)(void *), void *arg)
{
  r->now = now != NULL ? now : real_now;
  r->now_arg = arg;
}

void shmipc_reassembler_stats(shmipc_reassembler *r, shmipc_stream_stats *out)
{
  if (r == NULL || out == NULL || out->struct_size < sizeof *out)
    return;
  shmipc__mutex_lock(r->mu);
  out->open = r->open;
  out->held = r->reserved;
  out->cached = r->spare_len;
  out->peak_held = r->peak_reserved;
  out->delivered = r->delivered;
  out->dropped = r->dropped;
  shmipc__mutex_unlock(r->mu);
}

void shmipc_stream_buffer_free(void *data) { free(data); }

bool shmipc__reassembler_holds(shmipc_reassembler *r)
{
  bool any;

  shmipc__mutex_lock(r->mu);
  any = r->reserved != 0 || r->spare != NULL || r->open != 0;
  shmipc__mutex_unlock(r->mu);
  return any;
}

/* Under mu. The stream stops being open; its memory goes now, or when the
 * last copier leaves. */
static void drop(shmipc_reassembler *r, struct stream *st)
{
  st->dropped = true;
  r->open--;
  r->dropped++;
  if (st->copying == 0)
    free_stream(r, st);
}

/* Under mu: drop every open stream idle for more than the timeout, and a
 * spare buffer unused as long. */
static void sweep(shmipc_reassembler *r, int64_t now)
{
  uint32_t i;

  if (r->spare != NULL && now - r->spare_ns > r->lim.idle_timeout_ns)
    drop_spare(r);
  for (i = 0; i < r->lim.max_streams; i++) {
    struct stream *st = &r->streams[i];

    if (st->in_use && !st->dropped &&
        now - st->last_ns > r->lim.idle_timeout_ns)
      drop(r, st);
  }
}

void shmipc__reassembler_drop_all(shmipc_reassembler *r)
{
  uint32_t i;

  shmipc__mutex_lock(r->mu);
  drop_spare(r);
  for (i = 0; i < r->lim.max_streams; i++)
    if (r->streams[i].in_use && !r->streams[i].dropped)
      drop(r, &r->streams[i]);
  shmipc__mutex_unlock(r->mu);
}

void shmipc__reassembler_sweep(shmipc_reassembler *r)
{
  shmipc__mutex_lock(r->mu);
  sweep(r, r->now(r->now_arg));
  shmipc__mutex_unlock(r->mu);
}

static struct stream *find_open(shmipc_reassembler *r, uint64_t id)
{
  uint32_t i;

  for (i = 0; i < r->lim.max_streams; i++)
    if (r->streams[i].in_use && !r->streams[i].dropped &&
        r->streams[i].id == id)
      return &r->streams[i];
  return NULL;
}

/* Under mu: take the range [start, end) (start < end <= total) of @st, or
 * say why not: SHMIPC_STREAM_OVERLAP or SHMIPC_STREAM_PARKED. */
static uint32_t take_range(const shmipc_reassembler *r, struct stream *st,
                           uint64_t start, uint64_t end)
{
  struct span *p = st->parked;
  uint32_t n = st->nparked, i, at;
  bool left, right;

  if (start < st->next)
    return SHMIPC_STREAM_OVERLAP;
  for (i = 0; i < n; i++)
    if (p[i].start < end && start < p[i].end)
      return SHMIPC_STREAM_OVERLAP;
  if (start == st->next) {
    /* Parked ranges start above next and do not overlap [start, end), so
     * only the first can touch the new in-order point. */
    st->next = end;
    while (st->nparked > 0 && p[0].start == st->next) {
      st->next = p[0].end;
      memmove(p, p + 1, (st->nparked - 1) * sizeof *p);
      st->nparked--;
    }
    return SHMIPC_STREAM_OK;
  }
  for (at = 0; at < n && p[at].end <= start; at++)
    ;
  /* p[at - 1] ends at or before start, p[at] starts at or after end */
  left = at > 0 && p[at - 1].end == start;
  right = at < n && p[at].start == end;
  if (left && right) {
    p[at - 1].end = p[at].end;
    memmove(p + at, p + at + 1, (n - at - 1) * sizeof *p);
    st->nparked--;
  } else if (left) {
    p[at - 1].end = end;
  } else if (right) {
    p[at].start = start;
  } else {
    if (n >= r->lim.max_parked)
      return SHMIPC_STREAM_PARKED;
    memmove(p + at + 1, p + at, (n - at) * sizeof *p);
    p[at].start = start;
    p[at].end = end;
    st->nparked++;
  }
  return SHMIPC_STREAM_OK;
}

/* Hand a complete stream (already out of the table) to the callback.
 * Returns the answer's status. */
static uint32_t deliver(shmipc_reassembler *r, uint64_t id, uint32_t app_type,
                        unsigned char *buf, uint64_t len)
{
  int rc = r->fn(r->fn_user, id, app_type, buf, (size_t)len);

  shmipc__mutex_lock(r->mu);
  if (rc != SHMIPC_STREAM_KEEP)
    retire(r, buf, len);
  if (rc < 0)
    r->dropped++;
  else
    r->delivered++;
  shmipc__mutex_unlock(r->mu);
  return rc < 0 ? SHMIPC_STREAM_REFUSED : SHMIPC_STREAM_OK;
}

static void start(shmipc_reassembler *r, const struct shmipc__stream_hdr *h,
                  size_t req_len, uint32_t *status, uint32_t *state)
{
  struct stream *st = NULL;
  uint32_t i;

  *state = SHMIPC__SST_NONE;
  shmipc__mutex_lock(r->mu);
  sweep(r, r->now(r->now_arg));
  if (req_len != SHMIPC__STREAM_HDR || h->id == 0 || h->offset != 0 ||
      h->flags != 0) {
    *status = SHMIPC_STREAM_MALFORMED;
    goto out;
  }
  if (find_open(r, h->id) != NULL) {
    *status = SHMIPC_STREAM_DUPLICATE;
    *state = SHMIPC__SST_OPEN;
    goto out;
  }
  if (h->total > r->lim.max_stream) {
    *status = SHMIPC_STREAM_TOO_BIG;
    goto out;
  }
  for (i = 0; i < r->lim.max_streams && st == NULL; i++)
    if (!r->streams[i].in_use)
      st = &r->streams[i];
  if (st == NULL) {
    *status = SHMIPC_STREAM_TOO_MANY;
    goto out;
  }
  /* reserved <= max_total always holds, so the subtraction cannot wrap */
  if (h->total > r->lim.max_total - r->reserved) {
    *status = SHMIPC_STREAM_TOO_BIG;
    goto out;
  }
  if (h->total == 0) {
    shmipc__mutex_unlock(r->mu);
    *status = deliver(r, h->id, h->app_type, NULL, 0);
    *state = *status == SHMIPC_STREAM_OK ? SHMIPC__SST_COMPLETE
                                         : SHMIPC__SST_DROPPED;
    return;
  }
  if (r->spare != NULL && r->spare_len == h->total) {
    st->buf = r->spare; /* its size was counted: reserved + spare fit */
    r->spare = NULL;
    r->spare_len = 0;
  } else if (r->spare != NULL &&
             r->spare_len > r->lim.max_total - r->reserved - h->total) {
    drop_spare(r); /* the new buffer and the spare would not both fit */
  }
  if (st->buf == NULL && (uint64_t)(size_t)h->total == h->total) {
    st->buf = malloc((size_t)h->total);
    shmipc__advise_large(st->buf, (size_t)h->total); /* NULL is ignored */
  }
  if (st->buf == NULL ||
      (r->lim.max_parked > 0 &&
       (st->parked = calloc(r->lim.max_parked, sizeof *st->parked)) == NULL)) {
    free(st->buf);
    st->buf = NULL;
    *status = SHMIPC_STREAM_NOMEM;
    goto out;
  }
  st->in_use = true;
  st->id = h->id;
  st->total = h->total;
  st->app_type = h->app_type;
  st->last_ns = r->now(r->now_arg);
  r->open++;
  r->reserved += h->total;
  note_peak(r);
  *status = SHMIPC_STREAM_OK;
  *state = SHMIPC__SST_OPEN;
out:
  shmipc__mutex_unlock(r->mu);
}

static void chunk(shmipc_reassembler *r, const struct shmipc__stream_hdr *h,
                  const unsigned char *data, uint64_t len, uint32_t *status,
                  uint32_t *state)
{
  struct stream *st;
  uint64_t id, total;
  uint32_t app_type;
  unsigned char *buf;

  *state = SHMIPC__SST_NONE;
  shmipc__mutex_lock(r->mu);
  sweep(r, r->now(r->now_arg));
  if (h->id == 0 || (h->flags & ~SHMIPC__STREAM_F_ABORT) != 0) {
    *status = SHMIPC_STREAM_MALFORMED;
    goto out;
  }
  st = find_open(r, h->id);
  if (st == NULL) {
    *status = SHMIPC_STREAM_UNKNOWN;
    goto out;
  }
  if (h->flags & SHMIPC__STREAM_F_ABORT)
    *status = SHMIPC_STREAM_ABORTED;
  else if (h->total != st->total || h->app_type != st->app_type)
    *status = SHMIPC_STREAM_MISMATCH;
  else if (len == 0)
    *status = SHMIPC_STREAM_EMPTY;
  else if (h->offset > st->total || len > st->total - h->offset)
    *status = SHMIPC_STREAM_BOUNDS;
  else
    *status = take_range(r, st, h->offset, h->offset + len);
  if (*status != SHMIPC_STREAM_OK) {
    drop(r, st);
    *state = SHMIPC__SST_DROPPED;
    goto out;
  }
  st->last_ns = r->now(r->now_arg);
  st->copying++;
  shmipc__mutex_unlock(r->mu);

  /* The range is ours alone: no other message can take these bytes, and
   * the buffer lives while copying > 0. */
  if (st->total >= SHMIPC__STREAMING_TOTAL)
    shmipc__copy_streaming(st->buf + h->offset, data, (size_t)len);
  else
    memcpy(st->buf + h->offset, data, (size_t)len);

  shmipc__mutex_lock(r->mu);
  st->copying--;
  st->copied += len;
  if (st->dropped) {
    /* another message dropped the stream while we copied */
    if (st->copying == 0)
      free_stream(r, st);
    *state = SHMIPC__SST_DROPPED;
    goto out;
  }
  if (st->copied != st->total) {
    *state = SHMIPC__SST_OPEN;
    goto out;
  }
  /* Every byte was taken exactly once and copied: out of the table, then
   * delivered without the lock. */
  id = st->id;
  total = st->total;
  app_type = st->app_type;
  buf = st->buf;
  st->buf = NULL;
  r->open--;
  free_stream(r, st);
  shmipc__mutex_unlock(r->mu);
  *status = deliver(r, id, app_type, buf, total);
  *state =
      *status == SHMIPC_STREAM_OK ? SHMIPC__SST_COMPLETE : SHMIPC__SST_DROPPED;
  return;
out:
  shmipc__mutex_unlock(r->mu);
}

int shmipc_reassembler_handle(void *user, uint32_t type, const void *req,
                              size_t req_len, void *resp, size_t resp_cap,
                              size_t *resp_len, uint32_t *resp_type)
{
  shmipc_reassembler *r = user;
  struct shmipc__stream_hdr h;
  uint32_t status, state;

  if (type != SHMIPC_MSG_STREAM_START && type != SHMIPC_MSG_STREAM_CHUNK)
    return r->next(r->next_user, type, req, req_len, resp, resp_cap, resp_len,
                   resp_type);
  if (resp_cap < SHMIPC__STREAM_RESP)
    return -1; /* the guest answers SYSTEM_ERROR: no room for an answer */
  if (req_len < SHMIPC__STREAM_HDR) {
    /* every stream message sweeps, even one too short to read */
    shmipc__mutex_lock(r->mu);
    sweep(r, r->now(r->now_arg));
    shmipc__mutex_unlock(r->mu);
    status = SHMIPC_STREAM_MALFORMED;
    state = SHMIPC__SST_NONE;
  } else {
    shmipc__stream_hdr_get(&h, req);
    if (type == SHMIPC_MSG_STREAM_START)
      start(r, &h, req_len, &status, &state);
    else
      chunk(r, &h, (const unsigned char *)req + SHMIPC__STREAM_HDR,
            req_len - SHMIPC__STREAM_HDR, &status, &state);
  }
  shmipc__stream_resp_put(resp, status, state, r->lim.max_parked);
  *resp_len = SHMIPC__STREAM_RESP;
  *resp_type = type;
  return 0;
}
