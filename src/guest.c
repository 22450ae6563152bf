/* SPDX-License-Identifier: MIT */
/*
 * The C guest role: attach to a host's segment, answer host calls with one
 * worker thread per host slot, make guest calls on guest slots.
 */
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "atomic.h"
#include "internal.h"
#include "stats.h"

struct shmipc_guest;

#define IDLE_SLEEP_NS INT64_C(1000000000)
/* Attach retries a segment that is not there yet after a pause that
 * starts here and doubles up to ATTACH_PAUSE_MAX_NS. */
#define ATTACH_PAUSE_FIRST_NS INT64_C(1000000)
#define ATTACH_PAUSE_MAX_NS INT64_C(20000000)
/* Longest sleep of shmipc_guest_wait() on the workers' count. The last
 * worker wakes it; the slice only bounds a wake-up lost to a signal. */
#define GUEST_WAIT_SLICE_NS INT64_C(100000000)

struct worker {
  struct shmipc_guest *g;
  struct shmipc__thread *thread;
  uint32_t index;
};

struct shmipc_guest {
  struct shmipc__endpoint ep; /* first: shmipc_guest_stats() (stats.c) */
  struct worker *workers;
  uint32_t n_workers;
  uint32_t started;    /* workers were started */
  uint32_t running;    /* atomic, futex word: workers still running */
  uint32_t reason_set; /* atomic: first worker to end records its reason */
  uint32_t halt;       /* atomic: a worker found the segment corrupt; the
                        * others stop too */
  uint32_t detaching;  /* atomic: shmipc_guest_detach() runs; a
                        * shmipc_guest_wait() in progress returns
                        * SHMIPC_E_CLOSED */
  int reason;
  shmipc_handler_fn fn;
  void *user;
  size_t stream_ids;               /* atomic: stream identifiers handed out */
  struct shmipc__answers *answers; /* large answers parked, or NULL */
};

size_t *shmipc__guest_stream_ids(shmipc_guest *g) { return &g->stream_ids; }

struct shmipc__endpoint *shmipc__guest_ep(shmipc_guest *g) { return &g->ep; }

_Static_assert(offsetof(struct shmipc_guest, ep) == 0,
               "shmipc_guest_stats() needs the endpoint first");

void shmipc_guest_config_init(shmipc_guest_config *cfg)
{
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = sizeof *cfg;
  cfg->spin_budget = SHMIPC__DEFAULT_SPIN;
  cfg->connect_timeout_ns = SHMIPC__DEFAULT_CONNECT_NS;
  cfg->default_timeout_ns = SHMIPC__DEFAULT_TIMEOUT_NS;
  cfg->liveness_interval_ns = SHMIPC__DEFAULT_LIVENESS_NS;
}

/* Move attach to @state (ATTACHED, with a new epoch, or DETACHED), waking a
 * waiting host. */
static int set_attach(struct shmipc__seg *seg, uint32_t state)
{
  uint32_t *word = &shmipc__hdr(seg)->attach;
  uint32_t v, nv, old;

  for (v = shmipc__load_acquire32(word);; v = old) {
    if ((v & SHMIPC_ATTACH_RESERVED_MASK) != 0 ||
        (v & SHMIPC_ATTACH_STATE_MASK) > SHMIPC_ATTACH_DETACHED)
      return SHMIPC_E_CORRUPT;
    nv = (v & SHMIPC_ATTACH_EPOCH_MASK) | state;
    if (state == SHMIPC_ATTACH_ATTACHED)
      nv =
          ((v + (1u << SHMIPC_ATTACH_EPOCH_SHIFT)) & SHMIPC_ATTACH_EPOCH_MASK) |
          state;
    /* full: pairs with the host's announce CAS in shmipc_host_wait_guest()
     * and its acquire load in shmipc__peer_check(). Attaching over
     * ATTACHED is legal: we hold the guest lock, so that guest is dead. */
    old = shmipc__cas_full32(word, v, nv);
    if (old == v)
      break;
  }
  if (v & SHMIPC_ATTACH_HOST_WAITING) {
    shmipc__ctr_add(
        &shmipc__side_counters(seg, SHMIPC__ROLE_GUEST)->other_wakes, 1);
    shmipc__word_wake(seg, word, SHMIPC_ATTACH_HOST_WAITING);
  }
  return SHMIPC_OK;
}

#define GUEST_FLAGS                                                            \
  (SHMIPC_GUEST_F_ALLOW_OTHER_USER | SHMIPC_GUEST_F_INHERITED |                \
   SHMIPC_GUEST_F_GLOBAL)

/* The checks of shmipc_guest_attach() that come before any resource. */
static int config_check(const shmipc_guest_config *cfg, int64_t *connect_ns,
                        int64_t *call_ns)
{
  if (cfg == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "cfg is NULL");
  if (cfg->struct_size != sizeof *cfg)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "struct_size %lu, want %lu (fill the config with "
                        "shmipc_guest_config_init())",
                        (unsigned long)cfg->struct_size,
                        (unsigned long)sizeof *cfg);
  if (shmipc__budget(cfg->connect_timeout_ns, SHMIPC__DEFAULT_CONNECT_NS,
                     connect_ns) != SHMIPC_OK)
    return shmipc__fail_timeout("connect_timeout_ns", cfg->connect_timeout_ns);
  if (shmipc__budget(cfg->default_timeout_ns, SHMIPC__DEFAULT_TIMEOUT_NS,
                     call_ns) != SHMIPC_OK)
    return shmipc__fail_timeout("default_timeout_ns", cfg->default_timeout_ns);
  if (cfg->liveness_interval_ns <= 0)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "liveness_interval_ns %lld, want more than 0",
                        (long long)cfg->liveness_interval_ns);
  if ((cfg->flags & ~GUEST_FLAGS) != 0)
    return shmipc__fail(SHMIPC_E_INVALID, "flags %#lx: unknown bits %#lx",
                        (unsigned long)cfg->flags,
                        (unsigned long)(cfg->flags & ~GUEST_FLAGS));
  if ((cfg->flags & SHMIPC_GUEST_F_GLOBAL) &&
      shmipc__seg_prefix_global[0] == '\0')
    return shmipc__fail(SHMIPC_E_INVALID,
                        "SHMIPC_GUEST_F_GLOBAL is Windows-only (the "
                        "Global\\ namespace)");
  if ((cfg->flags & SHMIPC_GUEST_F_GLOBAL) &&
      (cfg->flags & SHMIPC_GUEST_F_INHERITED))
    return shmipc__fail(SHMIPC_E_INVALID,
                        "SHMIPC_GUEST_F_GLOBAL with SHMIPC_GUEST_F_INHERITED "
                        "(an inherited segment has no name)");
  if (cfg->flags & SHMIPC_GUEST_F_INHERITED)
    return cfg->name == NULL
               ? SHMIPC_OK
               : shmipc__fail(SHMIPC_E_INVALID,
                              "name given with SHMIPC_GUEST_F_INHERITED "
                              "(the inherited segment has none: set it "
                              "to NULL)");
  return shmipc__name_check(cfg->name);
}

/* Attach's last "not yet" when the connect timeout ran out, as the Go
 * guest words it (go/guest.go, Connect). */
static int attach_gave_up(int r, const char *name, uint32_t flags,
                          int64_t connect_ns)
{
  const char *prefix = (flags & SHMIPC_GUEST_F_GLOBAL)
                           ? shmipc__seg_prefix_global
                           : shmipc__seg_prefix;
  char d[32];

  shmipc__duration(d, sizeof d, connect_ns);
  if (r == SHMIPC__E_NO_HOST)
    return shmipc__fail(SHMIPC_E_PEER_GONE,
                        "%s%s: segment's host is not running", prefix, name);
  if (r == SHMIPC__E_NO_SEGMENT)
    return shmipc__fail(SHMIPC_E_NOT_FOUND, "no segment %s%s after %s", prefix,
                        name, d);
  return shmipc__fail(SHMIPC_E_TIMEOUT,
                      "segment not ready (host_state INIT) %s%s after %s",
                      prefix, name, d);
}

static int guest_attach(const shmipc_guest_config *cfg, shmipc_guest **out)
{
  int64_t pause_ns = ATTACH_PAUSE_FIRST_NS, connect_ns = 0, call_ns = 0, left;
  struct shmipc__deadline dl;
  shmipc_guest *g;
  int r;

  if (out == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "out is NULL");
  *out = NULL;
  r = config_check(cfg, &connect_ns, &call_ns);
  if (r != SHMIPC_OK)
    return r;
  g = calloc(1, sizeof *g);
  if (g == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the guest handle");

  dl = shmipc__deadline_now(connect_ns);
  /* An inherited segment is ready before its guest runs, and no other
   * host can ever replace it: one attempt decides. */
  if (cfg->flags & SHMIPC_GUEST_F_INHERITED) {
    r = shmipc__seg_open_inherited(cfg->flags, &g->ep.seg);
    if (r == SHMIPC__E_NO_HOST)
      r = shmipc__fail(SHMIPC_E_PEER_GONE,
                       "inherited segment's host is not running");
    else if (r == SHMIPC__E_RETRY)
      r = shmipc__fail(SHMIPC_E_CORRUPT,
                       "inherited segment not ready (host_state INIT)");
  }
  while (!(cfg->flags & SHMIPC_GUEST_F_INHERITED)) {
    r = shmipc__seg_open(cfg->name, cfg->flags, &g->ep.seg);
    if (r != SHMIPC__E_RETRY && r != SHMIPC__E_NO_HOST &&
        r != SHMIPC__E_NO_SEGMENT)
      break;
    left = shmipc__left(&dl, shmipc__now_ns());
    if (left == 0) {
      /* Only a dead host's segment was there: the host is gone (the Go
       * guest reports the same). No segment at all is NOT_FOUND; one
       * that never got ready, TIMEOUT. */
      r = attach_gave_up(r, cfg->name, cfg->flags, connect_ns);
      break;
    }
    shmipc__sleep_ns(pause_ns < left ? pause_ns : left);
    if (pause_ns < ATTACH_PAUSE_MAX_NS)
      pause_ns *= 2;
  }
  if (r != SHMIPC_OK)
    goto err_free;
  r = shmipc__lock_take(&g->ep.seg, SHMIPC__ROLE_GUEST);
  if (r == SHMIPC_E_BUSY)
    r = shmipc__fail(r, "another guest is attached to %s%s",
                     cfg->name != NULL ? shmipc__seg_prefix : "the ",
                     cfg->name != NULL ? cfg->name : "inherited segment");
  if (r != SHMIPC_OK)
    goto err_seg;
  r = shmipc__ep_init(&g->ep, SHMIPC__ROLE_GUEST, cfg->spin_budget, call_ns,
                      cfg->liveness_interval_ns);
  if (r != SHMIPC_OK)
    goto err_seg;
  shmipc__hdr(&g->ep.seg)->guest_pid = shmipc__getpid();
  r = set_attach(&g->ep.seg, SHMIPC_ATTACH_ATTACHED);
  if (r != SHMIPC_OK)
    goto err_ep;
  shmipc__ctr_session_start(
      &g->ep.seg, SHMIPC__ROLE_GUEST,
      (shmipc__load_relaxed32(&shmipc__hdr(&g->ep.seg)->attach) &
       SHMIPC_ATTACH_EPOCH_MASK) >>
          SHMIPC_ATTACH_EPOCH_SHIFT);
  /* We succeed the guest before us: its unanswered requests are answered,
   * and what it (or a peer) left in the guest slots goes back to FREE
   * (docs/PROTOCOL.md, "Repair"). */
  shmipc__slot_inherit(&g->ep);
  shmipc__slot_repair(&g->ep);
  *out = g;
  return SHMIPC_OK;

err_ep:
  shmipc__ep_fini(&g->ep);
err_seg:
  shmipc__seg_close(&g->ep.seg, false);
err_free:
  free(g);
  return r;
}

int shmipc_guest_attach(const shmipc_guest_config *cfg, shmipc_guest **out)
{
  return shmipc__failed(guest_attach(cfg, out));
}

/* Why this session's host is gone, in the order of the Go guest's
 * hostGone() (go/wait.go): SHMIPC_OK when it closed the session in order
 * (shmipc_host_destroy() stored CLOSED in the header we mapped),
 * SHMIPC_E_PEER_GONE with the reason otherwise (the session was replaced,
 * or the host died). Failure path only. */
static int host_gone_why(shmipc_guest *g)
{
  struct shmipc_wire_header *h = shmipc__hdr(&g->ep.seg);

  /* acquire: pairs with the host's release store of CLOSED in
   * shmipc_host_destroy() */
  if (shmipc__load_acquire32(&h->host_state) == SHMIPC_HOST_CLOSED)
    return SHMIPC_OK;
  if (h->session_nonce != g->ep.seg.nonce)
    return shmipc__fail(SHMIPC_E_PEER_GONE,
                        "host session replaced (session_nonce changed)");
  return shmipc__fail(SHMIPC_E_PEER_GONE,
                      "host died (its liveness lock is free)");
}

static void record_end(shmipc_guest *g, int reason)
{
  if (shmipc__cas_full32(&g->reason_set, 0, 1) == 0)
    g->reason = reason;
  /* A corrupt segment or a gone host ends every worker, not just the one
   * that saw it (only worker 0 watches the host while idle). A gone host
   * is already latched in peer_gone by shmipc__peer_check(), which every
   * wait and guest call reads; corruption stops the workers alone (guest
   * calls go on while the guest slots hold up). Neither is closing: that
   * is the local handle's shutdown only. */
  if (reason == SHMIPC_E_CORRUPT) {
    /* release: pairs with the acquire of u->stop in shmipc__wait_word();
     * the wake below makes sleeping workers look */
    shmipc__store_release32(&g->halt, 1);
  }
  if (reason == SHMIPC_E_CORRUPT || reason == SHMIPC_E_PEER_GONE)
    shmipc__ep_wake_all(&g->ep);
}

static void *worker_main(void *arg)
{
  struct worker *wk = arg;
  shmipc_guest *g = wk->g;
  uint32_t *ctrl = &shmipc__wslot(&g->ep.seg, wk->index)->ctrl;
  struct shmipc__until u = shmipc__until_slot(ctrl, SHMIPC_SLOT_REQ_READY, 0,
                                              SHMIPC_CTRL_RESPONDER_WAITING);
  /* The first half of the spin phase tries to take the next request
   * outright; the usual wait (the rest of the spins, then sleep) after.
   * Worker 0 checks the host every liveness interval while idle; the
   * others sleep up to IDLE_SLEEP_NS and are woken when it finds the host
   * gone, so an idle guest wakes once per interval, not once per slot. */
  bool crowded = false;
  const struct shmipc__pace pace = {g->ep.spin_budget / 2, false,
                                    wk->index == 0 ? 0 : IDLE_SLEEP_NS, NULL,
                                    &crowded};
  const struct shmipc__pace settle_pace = {0, false, pace.sleep_cap_ns, NULL,
                                           NULL};
  struct shmipc__deadline none = shmipc__deadline(INT64_MAX);
  uint32_t v = shmipc__load_acquire32(ctrl);
  int r = SHMIPC_OK;

  u.stop = &g->halt;
  u.sleeps = &shmipc__slot_counters(&g->ep.seg, wk->index)->resp_sleeps;
  /* A word that is illegal before we ever saw it legal is what an earlier
   * epoch (or a peer meanwhile) left: the host repairs it, so we wait for
   * it to change instead of ending the session (docs/PROTOCOL.md,
   * "Repair"). Once seen legal, an illegal word is CORRUPT. */
  while (!shmipc__ctrl_legal(v) && r == SHMIPC_OK) {
    struct shmipc__until settle =
        shmipc__until_changed(ctrl,
                              ~(uint32_t)(SHMIPC_CTRL_REQUESTER_WAITING |
                                          SHMIPC_CTRL_RESPONDER_WAITING),
                              v, SHMIPC_CTRL_RESPONDER_WAITING);

    settle.check_peer = true;
    r = shmipc__wait_word(&g->ep, &settle, &settle_pace, &none, &v);
  }
  while (r >= 0) {
    if (shmipc__take_next(ctrl, v, pace.spins_spent, &crowded, &v)) {
      r = SHMIPC_OK;
    } else if (g->answers != NULL && wk->index == 0) {
      /* Worker 0's idle path sweeps the parked answers (docs/PROTOCOL.md,
       * "Large answers") every quarter of their idle timeout. */
      struct shmipc__deadline tick =
          shmipc__deadline(shmipc__answers_tick_ns(g->answers));
      r = shmipc__wait_word(&g->ep, &u, &pace, &tick, &v);
      if (r == SHMIPC_E_TIMEOUT) {
        shmipc__answers_sweep(g->answers);
        r = SHMIPC_OK;
        continue;
      }
    } else {
      r = shmipc__wait_word(&g->ep, &u, &pace, &none, &v);
    }
    if (r == SHMIPC_OK)
      r = shmipc__respond(&g->ep, wk->index, v, g->fn, g->user);
  }
  record_end(g, r == SHMIPC_E_CLOSED ? SHMIPC_OK : r);
  /* Every worker drops the parked answers as it ends (the host that could
   * pull them is gone, or nobody serves them any more), so that they are
   * all freed before the last one's count below. */
  if (g->answers != NULL)
    shmipc__answers_clear(g->answers);
  /* release: pairs with the acquire in shmipc_guest_wait() */
  if (shmipc__fetch_add_full32(&g->running, (uint32_t)-1) == 1)
    shmipc__futex_wake(&g->running);
  return NULL;
}

static int start_workers(shmipc_guest *g, shmipc_handler_fn fn, void *user)
{
  uint32_t i, n;

  n = g->ep.seg.geom.host_slots;
  g->workers = calloc(n, sizeof *g->workers);
  if (g->workers == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_NOMEM, "allocating %lu workers",
                                       (unsigned long)n));
  g->fn = fn;
  g->user = user;
  g->started = 1;
  for (i = 0; i < n; i++) {
    g->workers[i].g = g;
    g->workers[i].index = i;
    shmipc__fetch_add_full32(&g->running, 1);
    if (shmipc__thread_start(&g->workers[i].thread, worker_main,
                             &g->workers[i]) != SHMIPC_OK) {
      shmipc__fetch_add_full32(&g->running, (uint32_t)-1);
      g->n_workers = i;
      shmipc_guest_stop(g);
      return shmipc__failed(
          shmipc__fail(SHMIPC_E_SYSTEM, "starting worker thread %lu of %lu",
                       (unsigned long)i + 1, (unsigned long)n));
    }
    g->n_workers = i + 1;
  }
  return SHMIPC_OK;
}

/* The arguments of the two starts. */
static int start_check(shmipc_guest *g, bool no_fn)
{
  if (g == NULL || no_fn)
    return shmipc__fail(SHMIPC_E_INVALID,
                        g == NULL ? "g is NULL" : "fn is NULL");
  if (g->started)
    return shmipc__fail(SHMIPC_E_STATE,
                        "the workers were started already (start once per "
                        "attach)");
  return SHMIPC_OK;
}

int shmipc_guest_start(shmipc_guest *g, shmipc_handler_fn fn, void *user)
{
  int r = start_check(g, fn == NULL);

  if (r != SHMIPC_OK)
    return shmipc__failed(r);
  return start_workers(g, fn, user);
}

int shmipc_guest_start_answers(shmipc_guest *g, shmipc_answer_fn fn, void *user,
                               const shmipc_answer_limits *lim)
{
  int r = start_check(g, fn == NULL);

  if (r != SHMIPC_OK)
    return shmipc__failed(r);
  r = shmipc__answers_create(lim, fn, user, g->ep.seg.geom.req_capacity,
                             &g->answers);
  if (r != SHMIPC_OK)
    return shmipc__failed(r);
  return start_workers(g, shmipc__answers_handle, g->answers);
}

void shmipc_guest_answer_stats(shmipc_guest *g, shmipc_answer_stats *out)
{
  if (g == NULL || out == NULL || out->struct_size < sizeof *out)
    return;
  if (g->answers == NULL) {
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    return;
  }
  shmipc__answers_stats(g->answers, out);
}

void shmipc_guest_stop(shmipc_guest *g)
{
  if (g == NULL)
    return;
  /* release: pairs with the workers' acquire of closing in
   * shmipc__wait_word(); the wake makes sleeping workers look. */
  shmipc__store_release32(&g->ep.closing, 1);
  shmipc__ep_wake_all(&g->ep);
}

static int guest_wait(shmipc_guest *g, struct shmipc__deadline *dl)
{
  int64_t left;
  uint32_t n;
  int r;

  /* acquire: pairs with the workers' decrement as they end */
  for (;;) {
    /* acquire: read before the abort flag (shmipc__abort_raise()) */
    uint32_t seq = shmipc__load_acquire32(&g->ep.abort_seq);

    if ((n = shmipc__load_acquire32(&g->running)) == 0)
      break;
    /* acquire: pairs with the release store in shmipc_guest_detach() */
    if (shmipc__load_acquire32(&g->detaching))
      return shmipc__fail(SHMIPC_E_CLOSED, "the guest is being detached");
    if (shmipc__aborted(&g->ep, true, NULL) != SHMIPC_OK)
      return shmipc__fail(SHMIPC_E_ABORTED, "shmipc_guest_abort() was called");
    left = shmipc__left(dl, shmipc__now_ns());
    if (left == 0)
      return shmipc__fail(SHMIPC_E_TIMEOUT, "%lu of %lu workers still run",
                          (unsigned long)n, (unsigned long)g->n_workers);
    /* abort_seq is in the words slept on: an abort after the look above
     * wakes us (private memory; the segment is not needed) */
    shmipc__words_wait(&g->ep.seg, &(struct shmipc__sleeper){&g->running, n, 0},
                       1, &g->ep.abort_seq, seq,
                       left < GUEST_WAIT_SLICE_NS ? left : GUEST_WAIT_SLICE_NS);
  }
  if (shmipc__load_acquire32(&g->detaching))
    return shmipc__fail(SHMIPC_E_CLOSED, "the guest is being detached");
  r = shmipc__load_acquire32(&g->reason_set) ? g->reason : SHMIPC_OK;
  /* The host's orderly close ends the session without an error: 0, and
   * PEER_GONE (with why) for a host that died or was replaced. */
  if (r == SHMIPC_E_PEER_GONE)
    r = host_gone_why(g);
  else if (r == SHMIPC_E_CORRUPT)
    r = shmipc__fail(r, "a host slot held an illegal value; the workers "
                        "stopped");
  return r;
}

int shmipc_guest_wait(shmipc_guest *g, int64_t timeout_ns)
{
  struct shmipc__deadline dl;
  int r;

  if (g == NULL)
    return shmipc__failed(SHMIPC_E_INVALID);
  r = shmipc__timeout(&g->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
  if (!g->started)
    return shmipc__failed(shmipc__fail(SHMIPC_E_STATE,
                                       "the workers were never started "
                                       "(shmipc_guest_start())"));
  /* Counted on entry (see shmipc__ep_quiesce()), before the first look
   * at detaching. */
  shmipc__count(&g->ep);
  r = guest_wait(g, &dl);
  r = r < 0 ? shmipc__failed(r) : r;
  shmipc__uncount(&g->ep);
  return r;
}

void shmipc_guest_detach(shmipc_guest *g)
{
  uint32_t i;

  if (g == NULL)
    return;
  /* release: pairs with the acquire in guest_wait(); the stop below sets
   * closing, which ends the guest calls in progress with
   * SHMIPC_E_CLOSED. */
  shmipc__store_release32(&g->detaching, 1);
  shmipc_guest_stop(g);
  shmipc__futex_wake(&g->running);
  if (g->started) {
    for (i = 0; i < g->n_workers; i++)
      shmipc__thread_join(g->workers[i].thread);
  }
  (void)set_attach(&g->ep.seg, SHMIPC_ATTACH_DETACHED);
  /* Host threads asleep on a call notice at once instead of at their next
   * liveness check; our own guest calls and waits in progress are out
   * before anything is freed. */
  shmipc__ep_quiesce(&g->ep);
  shmipc__seg_close(&g->ep.seg, false);
  shmipc__ep_fini(&g->ep);
  shmipc__answers_destroy(g->answers);
  free(g->workers);
  free(g);
}

/* Why a guest call failed, where the segment tells: no guest slots, the
 * host gone, or no answer (with the hint the Go guest gives). Failure
 * path only. */
static int call_failed(shmipc_guest *g, int r)
{
  if (r == SHMIPC_E_INVALID && g->ep.n_req == 0 &&
      shmipc__last_detail(r)[0] == '\0')
    r = shmipc__fail(r, "the segment has no guest slots");
  else if (r == SHMIPC_E_PEER_GONE && host_gone_why(g) == SHMIPC_OK)
    r = shmipc__fail(r, "host closed the session");
  else if (r == SHMIPC_E_TIMEOUT)
    r = shmipc__fail(r, "no response in time (is the host serving guest "
                        "calls?)");
  else if (r == SHMIPC_E_CLOSED)
    r = shmipc__fail(r, "shmipc_guest_stop() was called, or the guest is "
                        "being detached");
  return shmipc__failed(r);
}

int shmipc_guest_call(shmipc_guest *g, uint32_t type, const void *req,
                      size_t req_len, void *resp, size_t resp_cap,
                      size_t *resp_len, uint32_t *resp_type, int64_t timeout_ns)
{
  bool counted = false;
  int r;

  if (g == NULL)
    return shmipc__failed(SHMIPC_E_INVALID);
  r = shmipc__call(&g->ep, type, req, req_len, resp, resp_cap, resp_len,
                   resp_type, timeout_ns, &counted);
  if (r < 0)
    r = call_failed(g, shmipc__call_detail(&g->ep, r, req, req_len, resp,
                                           resp_cap, resp_len, timeout_ns));
  if (counted)
    shmipc__uncount(&g->ep);
  return r;
}

size_t shmipc_guest_req_capacity(const shmipc_guest *g)
{
  return g != NULL ? g->ep.seg.geom.req_capacity : 0;
}

size_t shmipc_guest_resp_capacity(const shmipc_guest *g)
{
  return g != NULL ? g->ep.seg.geom.resp_capacity : 0;
}

int shmipc_guest_abort(shmipc_guest *g)
{
  if (g == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "g is NULL"));
  shmipc__abort_raise(&g->ep, &g->ep.aborted);
  /* shmipc_guest_wait() sleeps on the workers' count */
  shmipc__futex_wake(&g->running);
  return SHMIPC_OK;
}

int shmipc_guest_abort_reset(shmipc_guest *g)
{
  if (g == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "g is NULL"));
  /* release: pairs with the acquire in shmipc__aborted() */
  shmipc__store_release32(&g->ep.aborted, 0);
  return SHMIPC_OK;
}
