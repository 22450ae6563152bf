/* SPDX-License-Identifier: MIT */
/*
 * Large answers (docs/PROTOCOL.md, "Large answers"). The guest parks an
 * answer larger than a slot and announces it (LARGE_ANSWER); the host pulls
 * it with ordinary requests (ANSWER_PULL) on several host slots at once.
 * The slot state machine is untouched: a pull is a call like any other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "atomic.h"

/* ------------------------------------------------------------------ */
/* Wire */

static void put32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void shmipc__answer_hdr_put(void *p, const struct shmipc__answer_hdr *a)
{
  uint8_t *b = p;

  put64(b, a->id);
  put64(b + 8, a->total);
  put32(b + 16, a->app_type);
  put32(b + 20, a->flags);
  put64(b + 24, a->reserved);
}

void shmipc__answer_hdr_get(struct shmipc__answer_hdr *a, const void *p)
{
  const uint8_t *b = p;

  a->id = get64(b);
  a->total = get64(b + 8);
  a->app_type = get32(b + 16);
  a->flags = get32(b + 20);
  a->reserved = get64(b + 24);
}

void shmipc__pull_put(void *p, const struct shmipc__pull *q)
{
  uint8_t *b = p;

  put64(b, q->id);
  put64(b + 8, q->offset);
  put32(b + 16, q->len);
  put32(b + 20, q->flags);
  put64(b + 24, q->reserved);
}

void shmipc__pull_get(struct shmipc__pull *q, const void *p)
{
  const uint8_t *b = p;

  q->id = get64(b);
  q->offset = get64(b + 8);
  q->len = get32(b + 16);
  q->flags = get32(b + 20);
  q->reserved = get64(b + 24);
}

void shmipc__pull_resp_put(void *p, uint32_t status, uint32_t state,
                           uint64_t total)
{
  uint8_t *b = p;

  put32(b, status);
  put32(b + 4, state);
  put64(b + 8, total);
}

void shmipc__pull_resp_get(const void *p, uint32_t *status, uint32_t *state,
                           uint64_t *total)
{
  const uint8_t *b = p;

  *status = get32(b);
  *state = get32(b + 4);
  *total = get64(b + 8);
}

const char *shmipc__pull_status_name(uint32_t status)
{
  static const char *const names[] = {"ok",     "malformed", "unknown",
                                      "bounds", "expired",   "aborted"};

  return status < sizeof names / sizeof names[0] ? names[status]
                                                 : "unknown status";
}

int shmipc__answer_parse(size_t size, const void *resp,
                         struct shmipc__answer_hdr *out)
{
  if (size != SHMIPC__ANSWER_HDR)
    return SHMIPC_E_CORRUPT;
  shmipc__answer_hdr_get(out, resp);
  if (out->id == 0 || out->flags != 0 || out->reserved != 0 ||
      out->app_type == SHMIPC_MSG_LARGE_ANSWER ||
      out->app_type == SHMIPC_MSG_ANSWER_PULL)
    return SHMIPC_E_CORRUPT;
  return SHMIPC_OK;
}

int shmipc__pull_judge(const struct shmipc__pull *q, uint64_t total,
                       uint32_t resp_type, size_t resp_size, const void *resp,
                       uint32_t *status, uint32_t *state, const uint8_t **data)
{
  uint64_t t;

  if (resp_type != SHMIPC_MSG_ANSWER_PULL || resp_size < SHMIPC__PULL_RESP)
    return SHMIPC_E_CORRUPT;
  shmipc__pull_resp_get(resp, status, state, &t);
  if (*status == SHMIPC__PULL_OK) {
    uint32_t want = (q->flags & SHMIPC__PULL_F_RELEASE) ? SHMIPC__AST_RELEASED
                                                        : SHMIPC__AST_OPEN;
    if ((q->flags & SHMIPC__PULL_F_ABORT) || *state != want || t != total ||
        resp_size - SHMIPC__PULL_RESP != q->len)
      return SHMIPC_E_CORRUPT;
    *data = (const uint8_t *)resp + SHMIPC__PULL_RESP;
    return SHMIPC_OK;
  }
  if (resp_size != SHMIPC__PULL_RESP)
    return SHMIPC_E_CORRUPT;
  switch (*status) {
  case SHMIPC__PULL_MALFORMED:
  case SHMIPC__PULL_UNKNOWN:
  case SHMIPC__PULL_EXPIRED:
    return *state == SHMIPC__AST_NONE && t == 0 ? SHMIPC_E_REMOTE
                                                : SHMIPC_E_CORRUPT;
  case SHMIPC__PULL_BOUNDS:
    return *state == SHMIPC__AST_DROPPED && t == total ? SHMIPC_E_REMOTE
                                                       : SHMIPC_E_CORRUPT;
  case SHMIPC__PULL_ABORTED:
    return (q->flags & SHMIPC__PULL_F_ABORT) && *state == SHMIPC__AST_DROPPED &&
                   t == total
               ? SHMIPC_E_REMOTE
               : SHMIPC_E_CORRUPT;
  default:
    return SHMIPC_E_CORRUPT;
  }
}

/* ------------------------------------------------------------------ */
/* Guest: parked answers */

/* The ids of the latest answers dropped by the idle timeout, so that a
 * pull of one says EXPIRED rather than UNKNOWN. */
#define EXPIRED_RING 64u

struct parked {
  struct parked *next;
  uint64_t id;
  const uint8_t *data;
  uint64_t len;
  shmipc_release_fn release;
  void *release_ctx;
  int64_t touched;  /* clock of the park or of the last pull */
  uint32_t copiers; /* pulls copying out of it now (under the lock) */
  bool linked;      /* still in the table (else freed by the last copier) */
};

struct shmipc__answers {
  struct shmipc__mutex *mu;
  shmipc_answer_limits lim;
  shmipc_answer_fn fn;
  void *user;
  uint32_t req_capacity;
  int64_t (*now)(void *);
  void *now_arg;
  /* under mu */
  struct parked *head;
  uint64_t next_id;
  uint32_t parked;
  uint64_t held;
  shmipc_answer_stats st;
  uint64_t expired_ids[EXPIRED_RING];
  uint32_t expired_next;
};

static int64_t clock_now(void *arg)
{
  (void)arg;
  return shmipc__now_ns();
}

int shmipc__answers_create(const shmipc_answer_limits *lim, shmipc_answer_fn fn,
                           void *user, uint32_t req_capacity,
                           struct shmipc__answers **out)
{
  shmipc_answer_limits def;
  struct shmipc__answers *a;

  *out = NULL;
  if (lim == NULL) {
    shmipc_answer_limits_init(&def);
    lim = &def;
  }
  if (lim->struct_size != sizeof *lim)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "limits struct_size %lu, want %lu (fill them with "
                        "shmipc_answer_limits_init())",
                        (unsigned long)lim->struct_size,
                        (unsigned long)sizeof *lim);
  if (lim->max_answers < 1 || lim->max_answers > 65536)
    return shmipc__fail(SHMIPC_E_INVALID, "max_answers %lu outside 1..65536",
                        (unsigned long)lim->max_answers);
  if (lim->idle_timeout_ns <= 0)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "idle_timeout_ns %lld, want more than 0",
                        (long long)lim->idle_timeout_ns);
  a = calloc(1, sizeof *a);
  if (a == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the answer table");
  if (shmipc__mutex_create(&a->mu) != SHMIPC_OK) {
    free(a);
    return shmipc__fail(SHMIPC_E_SYSTEM, "creating the answer table's lock");
  }
  a->lim = *lim;
  a->fn = fn;
  a->user = user;
  a->req_capacity = req_capacity;
  a->now = clock_now;
  a->st.struct_size = sizeof a->st;
  *out = a;
  return SHMIPC_OK;
}

void shmipc__answers_set_clock(struct shmipc__answers *a,
                               int64_t (*now)(void *), void *arg)
{
  a->now = now;
  a->now_arg = arg;
}

int64_t shmipc__answers_tick_ns(const struct shmipc__answers *a)
{
  return a->lim.idle_timeout_ns / 4 > 0 ? a->lim.idle_timeout_ns / 4 : 1;
}

/* A parked answer leaves the table (under mu). Its bytes are released
 * now, or by the last pull still copying out of them: returns the entry
 * to release after unlocking, or NULL. */
static struct parked *unlink_parked(struct shmipc__answers *a,
                                    struct parked **link, bool released)
{
  struct parked *p = *link;

  *link = p->next;
  p->linked = false;
  a->parked--;
  if (released)
    a->st.released++;
  else
    a->st.dropped++;
  return p->copiers == 0 ? p : NULL;
}

/* Outside mu: give the bytes back and forget the entry. */
static void release_parked(struct shmipc__answers *a, struct parked *p)
{
  if (p->release != NULL)
    p->release(p->release_ctx, p->data, (size_t)p->len);
  shmipc__mutex_lock(a->mu);
  a->held -= p->len;
  shmipc__mutex_unlock(a->mu);
  free(p);
}

/* Unlink the idle answers into @out (under mu). */
static void sweep_locked(struct shmipc__answers *a, int64_t now,
                         struct parked **out)
{
  struct parked **link = &a->head, *p;

  while ((p = *link) != NULL) {
    if (p->copiers == 0 && now - p->touched > a->lim.idle_timeout_ns) {
      a->expired_ids[a->expired_next++ % EXPIRED_RING] = p->id;
      a->st.expired++;
      p = unlink_parked(a, link, false);
      if (p != NULL) {
        p->next = *out;
        *out = p;
      }
      continue;
    }
    link = &p->next;
  }
}

static void release_list(struct shmipc__answers *a, struct parked *p)
{
  while (p != NULL) {
    struct parked *next = p->next;
    release_parked(a, p);
    p = next;
  }
}

void shmipc__answers_sweep(struct shmipc__answers *a)
{
  struct parked *gone = NULL;
  int64_t now = a->now(a->now_arg);

  shmipc__mutex_lock(a->mu);
  sweep_locked(a, now, &gone);
  shmipc__mutex_unlock(a->mu);
  release_list(a, gone);
}

void shmipc__answers_clear(struct shmipc__answers *a)
{
  struct parked *gone = NULL, **link = &a->head, *p;

  shmipc__mutex_lock(a->mu);
  while ((p = *link) != NULL) {
    p = unlink_parked(a, link, false);
    if (p != NULL) {
      p->next = gone;
      gone = p;
    }
  }
  shmipc__mutex_unlock(a->mu);
  release_list(a, gone);
}

void shmipc__answers_destroy(struct shmipc__answers *a)
{
  if (a == NULL)
    return;
  shmipc__answers_clear(a);
  shmipc__mutex_destroy(a->mu);
  free(a);
}

void shmipc__answers_stats(struct shmipc__answers *a, shmipc_answer_stats *out)
{
  shmipc__mutex_lock(a->mu);
  a->st.parked = a->parked;
  a->st.held = a->held;
  *out = a->st;
  shmipc__mutex_unlock(a->mu);
}

/* A refusal of the guest's own, as SYSTEM_ERROR text. */
static void refuse(void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type, const char *why, uint64_t got,
                   uint64_t limit)
{
  char m[160];
  size_t n;
  int k;

  k = snprintf(m, sizeof m, "%s %llu, limit %llu", why, (unsigned long long)got,
               (unsigned long long)limit);
  n = k < 0 ? 0 : (size_t)k < sizeof m ? (size_t)k : sizeof m - 1;
  if (n > resp_cap)
    n = resp_cap;
  memcpy(resp, m, n);
  *resp_len = n;
  *resp_type = SHMIPC_MSG_SYSTEM_ERROR;
}

/* The handler set a large answer @ans of type *resp_type: copy it into the
 * slot if it fits, else park it and write the announcement. */
static void park(struct shmipc__answers *a, struct shmipc_answer *ans,
                 void *resp, size_t resp_cap, size_t *resp_len,
                 uint32_t *resp_type)
{
  struct parked *p = NULL, *gone = NULL;
  struct shmipc__answer_hdr h;
  uint64_t len = ans->len;
  const char *why = NULL;
  uint64_t limit = 0;
  int64_t now;

  /* The bytes are the handler's buffer, copied to the start of the slot or
   * pulled: end alignment means nothing for them. */
  *resp_type &= ~SHMIPC_RESP_END_ALIGNED;
  if (len <= resp_cap) {
    if (len > 0)
      memcpy(resp, ans->data, (size_t)len);
    *resp_len = (size_t)len;
    if (ans->release != NULL)
      ans->release(ans->release_ctx, ans->data, ans->len);
    return;
  }
  now = a->now(a->now_arg);
  shmipc__mutex_lock(a->mu);
  sweep_locked(a, now, &gone);
  if (resp_cap < SHMIPC__ANSWER_MIN_CAP ||
      a->req_capacity < SHMIPC__ANSWER_MIN_CAP) {
    why = "large answer: slot capacity";
    limit = SHMIPC__ANSWER_MIN_CAP;
    len = resp_cap < a->req_capacity ? resp_cap : a->req_capacity;
  } else if (len > a->lim.max_answer) {
    why = "large answer: length";
    limit = a->lim.max_answer;
  } else if (a->parked >= a->lim.max_answers) {
    why = "large answer: answers parked";
    limit = a->lim.max_answers;
    len = a->parked;
  } else if (len >
             a->lim.max_total -
                 (a->held < a->lim.max_total ? a->held : a->lim.max_total)) {
    why = "large answer: bytes parked";
    limit = a->lim.max_total;
    len += a->held;
  } else if ((p = calloc(1, sizeof *p)) == NULL) {
    why = "large answer: out of memory for";
    limit = 0;
  }
  if (p != NULL) {
    p->id = ++a->next_id;
    p->data = ans->data;
    p->len = ans->len;
    p->release = ans->release;
    p->release_ctx = ans->release_ctx;
    p->touched = now;
    p->linked = true;
    p->next = a->head;
    a->head = p;
    a->parked++;
    a->held += p->len;
    if (a->held > a->st.peak_held)
      a->st.peak_held = a->held;
    /* Read now: once unlocked, a pull (a host may guess the id) can free
     * the entry. */
    h.id = p->id;
    h.total = p->len;
  } else {
    a->st.dropped++;
  }
  shmipc__mutex_unlock(a->mu);
  release_list(a, gone);
  if (p == NULL) {
    if (ans->release != NULL)
      ans->release(ans->release_ctx, ans->data, ans->len);
    refuse(resp, resp_cap, resp_len, resp_type, why, len, limit);
    return;
  }
  h.app_type = *resp_type;
  h.flags = 0;
  h.reserved = 0;
  shmipc__answer_hdr_put(resp, &h);
  *resp_len = SHMIPC__ANSWER_HDR;
  *resp_type = SHMIPC_MSG_LARGE_ANSWER;
}

static bool expired_recently(const struct shmipc__answers *a, uint64_t id)
{
  uint32_t i;

  for (i = 0; i < EXPIRED_RING; i++)
    if (a->expired_ids[i] == id)
      return true;
  return false;
}

/* Answer one ANSWER_PULL (docs/PROTOCOL.md, "Large answers", the guest's
 * table of checks, in its order). */
static void pull(struct shmipc__answers *a, const void *req, size_t req_len,
                 uint8_t *resp, size_t resp_cap, size_t *resp_len)
{
  struct parked **link, *p, *gone = NULL, *last = NULL;
  uint32_t status = SHMIPC__PULL_OK, state = SHMIPC__AST_OPEN;
  uint64_t total = 0;
  struct shmipc__pull q;
  int64_t now;

  *resp_len = SHMIPC__PULL_RESP;
  if (req_len != SHMIPC__PULL_HDR) {
    shmipc__pull_resp_put(resp, SHMIPC__PULL_MALFORMED, SHMIPC__AST_NONE, 0);
    return;
  }
  shmipc__pull_get(&q, req);
  if (q.id == 0 || q.reserved != 0 ||
      (q.flags & ~(SHMIPC__PULL_F_RELEASE | SHMIPC__PULL_F_ABORT)) != 0 ||
      q.flags == (SHMIPC__PULL_F_RELEASE | SHMIPC__PULL_F_ABORT)) {
    shmipc__pull_resp_put(resp, SHMIPC__PULL_MALFORMED, SHMIPC__AST_NONE, 0);
    return;
  }
  now = a->now(a->now_arg);
  shmipc__mutex_lock(a->mu);
  sweep_locked(a, now, &gone);
  for (link = &a->head; (p = *link) != NULL && p->id != q.id; link = &p->next)
    ;
  if (p == NULL) {
    status =
        expired_recently(a, q.id) ? SHMIPC__PULL_EXPIRED : SHMIPC__PULL_UNKNOWN;
    state = SHMIPC__AST_NONE;
  } else {
    total = p->len;
    if (q.flags & SHMIPC__PULL_F_ABORT) {
      status = SHMIPC__PULL_ABORTED;
      state = SHMIPC__AST_DROPPED;
      last = unlink_parked(a, link, false);
    } else if (q.len > resp_cap - SHMIPC__PULL_RESP || q.offset > p->len ||
               q.len > p->len - q.offset) {
      status = SHMIPC__PULL_BOUNDS;
      state = SHMIPC__AST_DROPPED;
      last = unlink_parked(a, link, false);
    } else {
      p->touched = now;
      p->copiers++;
      if (q.flags & SHMIPC__PULL_F_RELEASE) {
        state = SHMIPC__AST_RELEASED;
        (void)unlink_parked(a, link, true); /* copiers > 0: not yet */
      }
    }
  }
  shmipc__mutex_unlock(a->mu);
  release_list(a, gone);
  if (last != NULL)
    release_parked(a, last);
  shmipc__pull_resp_put(resp, status, state, total);
  if (status != SHMIPC__PULL_OK)
    return;
  /* Outside the lock: pulls of one answer copy in parallel. */
  if (q.len > 0)
    memcpy(resp + SHMIPC__PULL_RESP, p->data + q.offset, q.len);
  *resp_len = SHMIPC__PULL_RESP + q.len;
  shmipc__mutex_lock(a->mu);
  last = --p->copiers == 0 && !p->linked ? p : NULL;
  shmipc__mutex_unlock(a->mu);
  if (last != NULL)
    release_parked(a, last);
}

int shmipc__answers_handle(void *user, uint32_t type, const void *req,
                           size_t req_len, void *resp, size_t resp_cap,
                           size_t *resp_len, uint32_t *resp_type)
{
  struct shmipc__answers *a = user;
  struct shmipc_answer ans;
  int r;

  if (type == SHMIPC_MSG_ANSWER_PULL && resp_cap >= SHMIPC__PULL_RESP) {
    pull(a, req, req_len, resp, resp_cap, resp_len);
    *resp_type = SHMIPC_MSG_ANSWER_PULL;
    return 0;
  }
  ans.set = false;
  r = a->fn(a->user, type, req, req_len, resp, resp_cap, resp_len, resp_type,
            &ans);
  if (!ans.set)
    return r;
  if (r != 0) {
    if (ans.release != NULL)
      ans.release(ans.release_ctx, ans.data, ans.len);
    return r;
  }
  park(a, &ans, resp, resp_cap, resp_len, resp_type);
  return 0;
}

void shmipc_answer_set(shmipc_answer *a, const void *data, size_t len,
                       shmipc_release_fn release, void *release_ctx)
{
  if (a == NULL)
    return;
  if (a->set && a->release != NULL)
    a->release(a->release_ctx, a->data, a->len);
  a->data = data;
  a->len = data == NULL ? 0 : len;
  a->release = release;
  a->release_ctx = release_ctx;
  a->set = true;
}

void shmipc_answer_limits_init(shmipc_answer_limits *lim)
{
  if (lim == NULL)
    return;
  memset(lim, 0, sizeof *lim);
  lim->struct_size = sizeof *lim;
  lim->max_answers = 16;
  lim->max_answer = (uint64_t)1 << 30;
  lim->max_total = (uint64_t)1 << 30;
  lim->idle_timeout_ns = INT64_C(10000000000);
}

/* ------------------------------------------------------------------ */
/* Host: pulling */

/* A best-effort ABORT: tells the guest to free the answer now rather than
 * at its idle timeout. On @s when it can carry a request, else on a slot
 * free now; at most ABORT_NS. */
#define ABORT_NS INT64_C(200000000)

struct puller {
  struct shmipc__endpoint *ep;
  const struct shmipc__answer_hdr *a;
  const struct shmipc__pull_sink *sink;
  struct shmipc__deadline *dl;
  bool *counted;
  uint32_t chunk;
  uint8_t *buf; /* where the bytes go, or NULL for sink->fn */
};

static int publish_pull(shmipc_slot *s, const struct shmipc__pull *q)
{
  shmipc__pull_put(shmipc_slot_req_buf(s), q);
  return shmipc_slot_publish(s, SHMIPC_MSG_ANSWER_PULL, SHMIPC__PULL_HDR, 0);
}

/* Send the ABORT on one of the slots we hold that can carry a request
 * (its last call ended with an answer, or was cancelled), or, with
 * @acquire, on a slot acquired within ABORT_NS. Returns whether it was
 * sent. */
static bool send_abort(struct shmipc__endpoint *ep, shmipc_slot *const *mine,
                       uint32_t n_mine, bool acquire, uint64_t id,
                       bool *counted)
{
  struct shmipc__deadline dl = shmipc__deadline(ABORT_NS);
  struct shmipc__pull q = {id, 0, 0, SHMIPC__PULL_F_ABORT, 0};
  shmipc_slot *s = NULL;
  uint32_t i;
  int r;

  for (i = 0; i < n_mine && s == NULL; i++)
    if (publish_pull(mine[i], &q) == SHMIPC_OK)
      s = mine[i];
  if (s == NULL && acquire) {
    if (shmipc__slot_acquire(ep, &dl, NULL, counted, &s) != SHMIPC_OK)
      return false;
    if (publish_pull(s, &q) != SHMIPC_OK) {
      shmipc_slot_release(s);
      return false;
    }
    n_mine = 0; /* not one of ours: released below */
  }
  if (s == NULL)
    return false;
  r = shmipc__slot_wait(s, &dl, NULL, counted);
  if (n_mine == 0)
    shmipc_slot_release(s);
  else if (r == SHMIPC_OK || r == SHMIPC_E_REMOTE)
    shmipc__slot_rearm(s);
  return true;
}

/* What went wrong, said once at the end (a failed publish or an abort
 * may have written the thread's text meanwhile). */
struct why {
  const char *what;
  uint32_t status, state;
  uint64_t offset;
};

/* Wait for one of the @n pulls in flight in @ring from @head (@n > 1) to
 * end, for a transfer into the caller's buffer, where the bytes may land
 * in any order: the guest's workers end them in the order they are given
 * a CPU, and the host copies out whatever is in and sends the next pull
 * rather than wait on the oldest. The pull that ended is moved to @head.
 * SHMIPC_OK or its call's failure (its slot's call ended); *none set with
 * SHMIPC_E_TIMEOUT or SHMIPC_E_ABORTED when no call ended (all still in
 * flight). */
static int wait_first(struct puller *pu, shmipc_slot **ring,
                      struct shmipc__pull *qs, uint32_t head, uint32_t n,
                      bool *none)
{
  shmipc_slot *set[SHMIPC__PULL_WINDOW];
  int64_t left = shmipc__left(pu->dl, shmipc__now_ns());
  size_t which = n;
  uint32_t k, j;
  int r;

  for (k = 0; k < n; k++)
    set[k] = ring[(head + k) % SHMIPC__PULL_WINDOW];
  r = shmipc_slot_wait_any(
      set, n, left == INT64_MAX ? SHMIPC_TIMEOUT_INFINITE : left, &which);
  *none = which >= n;
  if (*none || which == 0)
    return r;
  j = (head + (uint32_t)which) % SHMIPC__PULL_WINDOW;
  {
    struct shmipc__pull q = qs[j];
    ring[j] = ring[head];
    qs[j] = qs[head];
    ring[head] = set[which];
    qs[head] = q;
  }
  return r;
}

static int pull_all(struct puller *pu, shmipc_slot *first, struct why *why)
{
  shmipc_slot *pool[SHMIPC__PULL_WINDOW], *ring[SHMIPC__PULL_WINDOW];
  struct shmipc__pull qs[SHMIPC__PULL_WINDOW];
  uint32_t n_pool = 0, n_free, head = 0, inflight = 0, i;
  uint64_t next = 0, total = pu->a->total;
  bool sent_last = false;
  int r = SHMIPC_OK;

  /* One slot is ours already; more join if free now. */
  pool[n_pool++] = first;
  shmipc__slot_rearm(first);
  while (n_pool < SHMIPC__PULL_WINDOW && (uint64_t)n_pool * pu->chunk < total) {
    struct shmipc__deadline now = shmipc__deadline(0);
    shmipc_slot *s;
    if (shmipc__slot_acquire(pu->ep, &now, NULL, NULL, &s) != SHMIPC_OK)
      break;
    pool[n_pool++] = s;
  }
  n_free = n_pool;
  for (;;) {
    /* Fill the pipeline; the last pull (RELEASE) goes alone, so that no
     * pull still in flight finds the answer freed. */
    while (!sent_last && n_free > 0) {
      struct shmipc__pull q = {pu->a->id, next, 0, 0, 0};
      uint64_t left = total - next;
      shmipc_slot *s;
      q.len = left < pu->chunk ? (uint32_t)left : pu->chunk;
      if (next + q.len == total) {
        if (inflight > 0)
          break;
        q.flags = SHMIPC__PULL_F_RELEASE;
      }
      /* An answer already in does not end a wait that is past its
       * deadline, so the deadline is looked at here, once a pull. */
      if (pu->dl->budget != INT64_MAX &&
          shmipc__left(pu->dl, shmipc__now_ns()) == 0) {
        r = SHMIPC_E_TIMEOUT;
        why->what = "the transfer's deadline passed";
        why->offset = next;
        goto fail;
      }
      s = pool[--n_free];
      r = publish_pull(s, &q);
      if (r != SHMIPC_OK) {
        why->what = "publishing a pull";
        pool[n_free++] = s;
        goto fail;
      }
      i = (head + inflight) % SHMIPC__PULL_WINDOW;
      ring[i] = s;
      qs[i] = q;
      inflight++;
      next += q.len;
      sent_last = q.flags != 0;
    }
    if (inflight == 0)
      break;
    {
      shmipc_slot *s;
      const struct shmipc__pull *q = &qs[head];
      const uint8_t *data = NULL;
      uint32_t status = 0, state = 0;

      /* Into a buffer: the first pull to end; to the chunk callback: the
       * oldest, so that the bytes reach it in order. */
      if (pu->buf != NULL && inflight > 1) {
        bool none;
        r = wait_first(pu, ring, qs, head, inflight, &none);
        if (none) {
          why->offset = q->offset;
          goto fail; /* every pull still in flight, collected there */
        }
        s = ring[head];
      } else {
        s = ring[head];
        r = shmipc__slot_wait(s, pu->dl, NULL, pu->counted);
      }
      head = (head + 1) % SHMIPC__PULL_WINDOW;
      inflight--;
      if (r != SHMIPC_OK) {
        why->what = r == SHMIPC_E_REMOTE    ? "the guest answered a pull "
                                              "with a system error"
                    : r == SHMIPC_E_CORRUPT ? "illegal pull answer"
                                            : NULL;
        why->offset = q->offset;
        pool[n_free++] = s;
        goto fail;
      }
      r = shmipc__pull_judge(q, total, s->resp_type, s->resp_size, s->resp_data,
                             &status, &state, &data);
      if (r != SHMIPC_OK) {
        why->what = r == SHMIPC_E_REMOTE ? "refused" : "illegal pull answer";
        why->status = status;
        why->state = state;
        why->offset = q->offset;
        shmipc__slot_rearm(s);
        pool[n_free++] = s;
        goto fail;
      }
      if (pu->buf != NULL) {
        if (q->len > 0) {
          if (total >= SHMIPC__STREAMING_TOTAL)
            shmipc__copy_streaming(pu->buf + q->offset, data, q->len);
          else
            memcpy(pu->buf + q->offset, data, q->len);
        }
      } else if (pu->sink->fn(pu->sink->user, pu->a->app_type, total, q->offset,
                              q->len > 0 ? data : NULL, q->len) != 0) {
        r = SHMIPC_E_REFUSED;
        why->what = "the chunk callback stopped the answer";
        why->offset = q->offset;
        shmipc__slot_rearm(s);
        pool[n_free++] = s;
        if (q->flags & SHMIPC__PULL_F_RELEASE)
          sent_last = false; /* the guest freed it already */
        goto fail;
      }
      shmipc__slot_rearm(s);
      pool[n_free++] = s;
    }
  }
  for (i = 0; i < n_pool; i++)
    if (pool[i] != first)
      shmipc_slot_release(pool[i]);
  return SHMIPC_OK;

fail:
  /* Collect what is in flight without waiting: each pull is cancelled,
   * or its slot quarantined until its answer comes. */
  while (inflight > 0) {
    struct shmipc__deadline now = shmipc__deadline(0);
    shmipc_slot *s = ring[head];
    int w = shmipc__slot_wait(s, &now, NULL, NULL);
    if (w == SHMIPC_OK || w == SHMIPC_E_REMOTE)
      shmipc__slot_rearm(s);
    head = (head + 1) % SHMIPC__PULL_WINDOW;
    inflight--;
    pool[n_free++] = s;
  }
  /* Tell the guest to free the answer unless it did (a refusal that
   * dropped it, a RELEASE it answered) or cannot hear us. */
  if (r != SHMIPC_E_PEER_GONE && r != SHMIPC_E_CLOSED &&
      !(r == SHMIPC_E_REMOTE && why->status != 0 &&
        why->state != SHMIPC__AST_OPEN) &&
      !(r == SHMIPC_E_REFUSED && !sent_last && next == total)) {
    /* On a slot of ours that can carry it; else the others go back
     * first (their late answers make them claimable), then one is
     * acquired. */
    if (!send_abort(pu->ep, pool, n_pool, false, pu->a->id, pu->counted)) {
      for (i = 0; i < n_pool; i++)
        if (pool[i] != first)
          shmipc_slot_release(pool[i]);
      n_pool = 0;
      (void)send_abort(pu->ep, NULL, 0, true, pu->a->id, pu->counted);
    }
  }
  for (i = 0; i < n_pool; i++)
    if (pool[i] != first)
      shmipc_slot_release(pool[i]);
  return r;
}

int shmipc__answer_fetch(shmipc_slot *s, uint64_t max_answer,
                         const struct shmipc__pull_sink *sink, uint64_t *total,
                         uint32_t *type, struct shmipc__deadline *dl,
                         bool *counted)
{
  struct shmipc__endpoint *ep = s->ep;
  struct shmipc__answer_hdr a;
  struct puller pu;
  struct why why = {NULL, 0, 0, 0};
  uint8_t *mine = NULL;
  int r;

  *total = 0;
  if (shmipc__answer_parse(s->resp_size, s->resp_data, &a) != SHMIPC_OK) {
    shmipc__slot_rearm(s);
    return shmipc__fail(SHMIPC_E_CORRUPT,
                        "illegal large-answer announcement (%lu bytes)",
                        (unsigned long)s->resp_size);
  }
  *total = a.total;
  *type = a.app_type;
  if (ep->seg.geom.req_capacity < SHMIPC__ANSWER_MIN_CAP ||
      ep->seg.geom.resp_capacity <= SHMIPC__PULL_RESP) {
    shmipc__slot_rearm(s);
    return shmipc__fail(SHMIPC_E_CORRUPT,
                        "a large answer announced on slots too small to "
                        "pull it");
  }
  if (a.total > max_answer || a.total > SIZE_MAX ||
      (sink->alloc == NULL && sink->fn == NULL && a.total > sink->cap)) {
    uint64_t limit =
        sink->alloc == NULL && sink->fn == NULL && sink->cap < max_answer
            ? sink->cap
            : max_answer;
    shmipc__slot_rearm(s);
    (void)send_abort(ep, &s, 1, true, a.id, counted);
    return shmipc__fail(SHMIPC_E_TRUNCATED, "answer of %llu bytes, limit %llu",
                        (unsigned long long)a.total, (unsigned long long)limit);
  }
  pu.ep = ep;
  pu.a = &a;
  pu.sink = sink;
  pu.dl = dl;
  pu.counted = counted;
  pu.chunk = ep->seg.geom.resp_capacity - SHMIPC__PULL_RESP;
  pu.buf = sink->buf;
  if (sink->alloc != NULL) {
    /* Bounded by max_answer; the pages are touched only as bytes come. */
    mine = malloc(a.total > 0 ? (size_t)a.total : 1);
    if (mine == NULL) {
      shmipc__slot_rearm(s);
      (void)send_abort(ep, &s, 1, true, a.id, counted);
      return shmipc__fail(SHMIPC_E_NOMEM,
                          "allocating an answer of %llu "
                          "bytes",
                          (unsigned long long)a.total);
    }
    if (a.total >= SHMIPC__STREAMING_TOTAL)
      shmipc__advise_large(mine, (size_t)a.total);
    pu.buf = mine;
  }
  r = pull_all(&pu, s, &why);
  if (r != SHMIPC_OK) {
    free(mine);
    if (why.what != NULL && why.status != 0)
      return shmipc__fail(r, "answer %llu: pull at offset %llu %s: %s",
                          (unsigned long long)a.id,
                          (unsigned long long)why.offset, why.what,
                          shmipc__pull_status_name(why.status));
    if (why.what != NULL)
      return shmipc__fail(r, "answer %llu: %s at offset %llu",
                          (unsigned long long)a.id, why.what,
                          (unsigned long long)why.offset);
    return r;
  }
  if (sink->alloc != NULL)
    *sink->alloc = mine;
  return a.app_type == SHMIPC_MSG_SYSTEM_ERROR ? SHMIPC_E_REMOTE : SHMIPC_OK;
}
