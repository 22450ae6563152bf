/* SPDX-License-Identifier: MIT */
/*
 * The host role: creates the segment, makes calls on host slots and serves
 * guest calls on guest slots (listener thread or the application's loop).
 */
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "atomic.h"
#include "evloop.h"
#include "internal.h"
#include "stats.h"

/* h->listening. Start and stop each move it with one CAS, so of two
 * threads that start (or stop) at once exactly one does it, and a stop
 * never joins a thread that is not yet, or no longer, there. */
enum {
  LISTEN_OFF,      /* no listener; listen_start may begin one */
  LISTEN_STARTING, /* listen_start is creating the thread */
  LISTEN_ON,       /* the thread runs; listen_stop may end it */
  LISTEN_STOPPING, /* listen_stop is joining the thread */
};

struct shmipc_host {
  struct shmipc__endpoint ep;
  struct shmipc__thread *listener;
  uint32_t listening;     /* atomic: LISTEN_* (who owns the listener) */
  uint32_t listener_stop; /* atomic: asks the listener to return */
  shmipc_handler_fn listen_fn;
  void *listen_user;
  size_t stream_ids; /* atomic: stream identifiers handed out */
  /* The receiver of the guest's streams (shmipc_host_stream_receiver()),
   * or NULL; and the attach word's state and epoch (atomic) when its
   * streams were last known to belong to the guest attached. */
  shmipc_reassembler *receiver;
  uint32_t receiver_attach;
  uint64_t max_answer; /* largest large answer a call accepts */
  void *evloop;        /* atomic: struct shmipc__evloop (evloop.c), or NULL */
  /* An anonymous host's last launched guest (shmipc__host_launched()):
   * its process handle, owned (-1: none, or one whose end cannot be
   * seen), and id, under launched_mu (NULL for a named host). */
  struct shmipc__mutex *launched_mu;
  intptr_t launched;
  int64_t launched_pid;
};

size_t *shmipc__host_stream_ids(shmipc_host *h) { return &h->stream_ids; }

void **shmipc__host_evloop(shmipc_host *h) { return &h->evloop; }

bool shmipc__host_listening(shmipc_host *h)
{
  return shmipc__load_acquire32(&h->listening) != LISTEN_OFF;
}

_Static_assert(offsetof(struct shmipc_host, ep) == 0,
               "shmipc__host_ep() needs the endpoint first");

void shmipc_host_config_init(shmipc_host_config *cfg)
{
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = sizeof *cfg;
  cfg->host_slots = 4;
  cfg->guest_slots = 0;
  cfg->req_capacity = 64 * 1024;
  cfg->resp_capacity = 64 * 1024;
  cfg->spin_budget = SHMIPC__DEFAULT_SPIN;
  cfg->mode = 0600;
  cfg->default_timeout_ns = SHMIPC__DEFAULT_TIMEOUT_NS;
  cfg->liveness_interval_ns = SHMIPC__DEFAULT_LIVENESS_NS;
  cfg->max_answer = (uint64_t)1 << 30;
}

/* The checks of shmipc_host_create() that come before any resource. */
static int config_check(const shmipc_host_config *cfg, bool anonymous,
                        int64_t *call_ns, struct shmipc__geom *g)
{
  int r;

  if (cfg == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "cfg is NULL");
  /* host_create() gave a config of today's size (see there). */
  if (cfg->struct_size != sizeof *cfg)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "struct_size %lu, want %lu (fill the config with "
                        "shmipc_host_config_init())",
                        (unsigned long)cfg->struct_size,
                        (unsigned long)sizeof *cfg);
  /* An anonymous segment's name is only a label, and optional. */
  r = anonymous && cfg->name == NULL ? SHMIPC_OK
                                     : shmipc__name_check(cfg->name);
  if (r != SHMIPC_OK)
    return r;
  if ((cfg->mode & ~0777u) != 0 || (cfg->mode & 0600u) != 0600u)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "mode %#lo, want permission bits (0777) that "
                        "include 0600",
                        (unsigned long)cfg->mode);
  if ((cfg->flags & ~SHMIPC_HOST_F_GLOBAL) != 0)
    return shmipc__fail(SHMIPC_E_INVALID, "flags %#lx: unknown bits %#lx",
                        (unsigned long)cfg->flags,
                        (unsigned long)(cfg->flags & ~SHMIPC_HOST_F_GLOBAL));
  if (cfg->flags & SHMIPC_HOST_F_GLOBAL) {
    /* Refused rather than ignored: a program that asks for the global
     * namespace expects another session to reach the segment. */
    if (shmipc__seg_prefix_global[0] == '\0')
      return shmipc__fail(SHMIPC_E_INVALID,
                          "SHMIPC_HOST_F_GLOBAL is Windows-only (the "
                          "Global\\ namespace); a segment in %s is "
                          "reachable by any process its mode allows",
                          shmipc__seg_prefix);
    if (anonymous)
      return shmipc__fail(SHMIPC_E_INVALID,
                          "SHMIPC_HOST_F_GLOBAL with an anonymous segment "
                          "(it has no name to put in Global\\)");
  } else if (cfg->global_peer_sid != NULL)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "global_peer_sid set without SHMIPC_HOST_F_GLOBAL");
  if (shmipc__budget(cfg->default_timeout_ns, SHMIPC__DEFAULT_TIMEOUT_NS,
                     call_ns) != SHMIPC_OK)
    return shmipc__fail_timeout("default_timeout_ns", cfg->default_timeout_ns);
  if (cfg->liveness_interval_ns <= 0)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "liveness_interval_ns %lld, want more than 0",
                        (long long)cfg->liveness_interval_ns);
  return shmipc__geom_compute(cfg->host_slots, cfg->guest_slots,
                              cfg->req_capacity, cfg->resp_capacity, g);
}

static int host_create(const shmipc_host_config *cfg, bool anonymous,
                       shmipc_host **out)
{
  shmipc_host_config full;
  struct shmipc__geom g;
  int64_t call_ns = 0;
  shmipc_host *h;
  int r;

  if (out == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "out is NULL");
  *out = NULL;
  /* A program built before max_answer, or before flags and
   * global_peer_sid, were added gives the size of the config it knew; the
   * fields after it take their defaults. Any other size is refused (in
   * config_check()). */
  if (cfg != NULL &&
      (cfg->struct_size == offsetof(shmipc_host_config, max_answer) ||
       cfg->struct_size == offsetof(shmipc_host_config, flags))) {
    shmipc_host_config_init(&full);
    memcpy(&full, cfg, cfg->struct_size);
    full.struct_size = sizeof full;
    cfg = &full;
  }
  r = config_check(cfg, anonymous, &call_ns, &g);
  if (r != SHMIPC_OK)
    return r;

  h = calloc(1, sizeof *h);
  if (h == NULL)
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the host handle");
  h->launched = -1;
  if (anonymous && shmipc__mutex_create(&h->launched_mu) != SHMIPC_OK) {
    free(h);
    return shmipc__fail(SHMIPC_E_NOMEM, "allocating the host handle");
  }
  if (anonymous)
    r = shmipc__seg_create_anon(cfg->name, &g, cfg->mode, &h->ep.seg);
  else if (cfg->flags & SHMIPC_HOST_F_GLOBAL)
    r = shmipc__seg_create_global(cfg->name, &g, cfg->global_peer_sid,
                                  &h->ep.seg);
  else
    r = shmipc__seg_create(cfg->name, &g, cfg->mode, &h->ep.seg);
  if (r == SHMIPC_E_EXISTS)
    r = shmipc__fail(r, "%s%s belongs to a live host",
                     (cfg->flags & SHMIPC_HOST_F_GLOBAL)
                         ? shmipc__seg_prefix_global
                         : shmipc__seg_prefix,
                     cfg->name);
  if (r != SHMIPC_OK)
    goto err_free;
  shmipc__header_init(shmipc__hdr(&h->ep.seg), &g, h->ep.seg.nonce,
                      shmipc__getpid());
  h->max_answer = cfg->max_answer;
  r = shmipc__ep_init(&h->ep, SHMIPC__ROLE_HOST, cfg->spin_budget, call_ns,
                      cfg->liveness_interval_ns);
  if (r != SHMIPC_OK)
    goto err_seg;
  shmipc__ctr_session_start(&h->ep.seg, SHMIPC__ROLE_HOST, 0);
  /* release: publishes the header written by shmipc__header_init(); pairs
   * with the guest's acquire load of host_state in shmipc__seg_open(),
   * after it mapped the segment. */
  shmipc__store_release32(&shmipc__hdr(&h->ep.seg)->host_state,
                          SHMIPC_HOST_READY);
  *out = h;
  return SHMIPC_OK;

err_seg:
  shmipc__seg_close(&h->ep.seg, true);
err_free:
  if (h->launched_mu != NULL)
    shmipc__mutex_destroy(h->launched_mu);
  free(h);
  return r;
}

int shmipc_host_create(const shmipc_host_config *cfg, shmipc_host **out)
{
  return shmipc__failed(host_create(cfg, false, out));
}

int shmipc_host_create_anonymous(const shmipc_host_config *cfg,
                                 shmipc_host **out)
{
  return shmipc__failed(host_create(cfg, true, out));
}

void shmipc_host_destroy(shmipc_host *h)
{
  if (h == NULL)
    return;
  if (shmipc__load_acquire32(&h->listening))
    (void)shmipc_host_listen_stop(h);
  /* release: pairs with the acquire loads of closing in every wait; the
   * calls, acquires, waits and serves in progress return
   * SHMIPC_E_CLOSED, and nothing is freed before they are out. */
  shmipc__store_release32(&h->ep.closing, 1);
  /* release: pairs with the guest's acquire load in shmipc__peer_check() */
  shmipc__store_release32(&shmipc__hdr(&h->ep.seg)->host_state,
                          SHMIPC_HOST_CLOSED);
  /* An event loop learns it from its handle (evloop.c). */
  shmipc__evloop_closing(h);
  shmipc__ep_quiesce(&h->ep);
  shmipc__evloop_free(h);
  shmipc__seg_close(&h->ep.seg, true);
  shmipc__ep_fini(&h->ep);
  if (h->launched >= 0)
    shmipc__child_handle_close(h->launched);
  if (h->launched_mu != NULL)
    shmipc__mutex_destroy(h->launched_mu);
  free(h);
}

void shmipc__host_launched(shmipc_host *h, intptr_t handle, int64_t pid)
{
  intptr_t old;

  shmipc__mutex_lock(h->launched_mu);
  old = h->launched;
  h->launched = handle;
  h->launched_pid = pid;
  shmipc__mutex_unlock(h->launched_mu);
  if (old >= 0)
    shmipc__child_handle_close(old);
}

/* Whether the guest that @h launched last has ended (its id in @pid):
 * then no guest can attach to the anonymous segment until the next
 * launch. 0 for a named host, before any launch, and for a child whose
 * end cannot be seen. */
static int launched_ended(shmipc_host *h, int64_t *pid)
{
  int ended = 0;

  if (h->launched_mu == NULL)
    return 0;
  shmipc__mutex_lock(h->launched_mu);
  if (h->launched >= 0 && shmipc__child_ended(h->launched) == 1) {
    ended = 1;
    *pid = h->launched_pid;
  }
  shmipc__mutex_unlock(h->launched_mu);
  return ended;
}

/* A timeout argument that shmipc__timeout() refused. */
static int bad_timeout(int64_t timeout_ns)
{
  return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
}

static int wait_guest_failed(int r)
{
  if (r == SHMIPC_E_TIMEOUT)
    r = shmipc__fail(r, "no guest attached in time");
  return shmipc__failed(r);
}

/* Why a host call or acquire failed, when the guest is the reason: no
 * guest at all, one that detached, or one that died. Failure path only. */
static int call_failed(shmipc_host *h, int r)
{
  uint32_t a;

  if (r != SHMIPC_E_TIMEOUT && r != SHMIPC_E_PEER_GONE)
    return shmipc__failed(r);
  /* acquire: pairs with the guest's attach CAS (guest.c set_attach()) */
  a = shmipc__load_acquire32(&shmipc__hdr(&h->ep.seg)->attach) &
      SHMIPC_ATTACH_STATE_MASK;
  if (a == SHMIPC_ATTACH_DETACHED)
    r = shmipc__fail(r, "the guest detached");
  else if (a != SHMIPC_ATTACH_ATTACHED)
    r = shmipc__fail(r, "no guest attached");
  else if (shmipc__lock_held(&h->ep.seg, SHMIPC__ROLE_GUEST) == 0)
    r = shmipc__fail(r, "the guest died (its liveness lock is free)");
  else if (r == SHMIPC_E_TIMEOUT)
    r = shmipc__fail(r, "no answer in time");
  return shmipc__failed(r);
}

/* shmipc__wait_word() for wait_guest(). An anonymous host waits in
 * slices of a liveness interval and, after each, looks whether the guest
 * it launched last has ended: then SHMIPC_E_PEER_GONE, since no other
 * process can reach the segment. A live attached guest ends the first
 * slice at once, so a later child's end (one refused with BUSY) is never
 * taken for it. */
static int wait_attach(shmipc_host *h, const struct shmipc__until *u,
                       struct shmipc__deadline *dl, uint32_t *v)
{
  struct shmipc__deadline slice;
  int64_t pid = 0;
  int r;

  if (h->launched_mu == NULL)
    return shmipc__wait_word(&h->ep, u, NULL, dl, v);
  for (;;) {
    slice = shmipc__deadline_cap(dl, h->ep.liveness_ns, shmipc__now_ns());
    r = shmipc__wait_word(&h->ep, u, NULL, &slice, v);
    if (r != SHMIPC_E_TIMEOUT || shmipc__left(dl, shmipc__now_ns()) == 0)
      return r;
    if (launched_ended(h, &pid))
      return shmipc__fail(SHMIPC_E_PEER_GONE,
                          "the guest launched last (pid %lld) has ended; "
                          "shmipc_child_wait() tells how",
                          (long long)pid);
  }
}

static int wait_guest(shmipc_host *h, struct shmipc__deadline *dl)
{
  struct shmipc__until attached, moved;
  uint32_t *word;
  uint32_t v;
  int r;

  word = &shmipc__hdr(&h->ep.seg)->attach;
  attached =
      shmipc__until_state(word, SHMIPC_ATTACH_STATE_MASK,
                          SHMIPC_ATTACH_ATTACHED, SHMIPC_ATTACH_HOST_WAITING);
  attached.abortable = true;
  for (;;) {
    r = wait_attach(h, &attached, dl, &v);
    if (r != SHMIPC_OK)
      return wait_guest_failed(r);
    /* A guest that died leaves the word ATTACHED: only a held guest lock
     * is a live guest (docs/PROTOCOL.md, "Attach"). A new guest takes the
     * lock before its attach CAS, so a held lock over the old word is
     * that guest arriving. An error of the check counts as alive, as in
     * shmipc__peer_check(). */
    if (shmipc__guest_lock_held(&h->ep) != 0) {
      /* The previous guest's epoch has ended: what it or anyone else left
       * in our slots is repaired before the caller uses them. */
      shmipc__slot_repair_epoch(&h->ep);
      return SHMIPC_OK;
    }
    /* Dead: wait for the next guest's attach CAS, which moves the epoch. */
    moved = shmipc__until_changed(
        word, SHMIPC_ATTACH_STATE_MASK | SHMIPC_ATTACH_EPOCH_MASK, v,
        SHMIPC_ATTACH_HOST_WAITING);
    moved.abortable = true;
    r = wait_attach(h, &moved, dl, &v);
    if (r != SHMIPC_OK)
      return wait_guest_failed(r);
  }
}

int shmipc_host_wait_guest(shmipc_host *h, int64_t timeout_ns)
{
  struct shmipc__deadline dl;
  int r;

  if (h == NULL)
    return shmipc__failed(SHMIPC_E_INVALID);
  r = shmipc__timeout(&h->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return bad_timeout(timeout_ns);
  shmipc__count(&h->ep);
  r = wait_guest(h, &dl);
  shmipc__uncount(&h->ep);
  return r;
}

size_t shmipc_host_req_capacity(const shmipc_host *h)
{
  return h != NULL ? h->ep.seg.geom.req_capacity : 0;
}

size_t shmipc_host_resp_capacity(const shmipc_host *h)
{
  return h != NULL ? h->ep.seg.geom.resp_capacity : 0;
}

int shmipc_host_call(shmipc_host *h, uint32_t type, const void *req,
                     size_t req_len, void *resp, size_t resp_cap,
                     size_t *resp_len, uint32_t *resp_type, int64_t timeout_ns)
{
  bool counted = false;
  int r;

  if (h == NULL)
    return shmipc__failed(SHMIPC_E_INVALID);
  r = shmipc__call(&h->ep, type, req, req_len, resp, resp_cap, resp_len,
                   resp_type, timeout_ns, &counted);
  if (r < 0)
    r = call_failed(h, shmipc__call_detail(&h->ep, r, req, req_len, resp,
                                           resp_cap, resp_len, timeout_ns));
  if (counted)
    shmipc__uncount(&h->ep);
  return r;
}

int shmipc_slot_acquire(shmipc_host *h, int64_t timeout_ns, shmipc_slot **out)
{
  struct shmipc__deadline dl;
  bool counted = false;
  int r;

  if (out != NULL)
    *out = NULL;
  if (h == NULL || out == NULL)
    return shmipc__failed(SHMIPC_E_INVALID);
  r = shmipc__timeout(&h->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return bad_timeout(timeout_ns);
  r = shmipc__slot_acquire(&h->ep, &dl, NULL, &counted, out);
  if (r == SHMIPC_E_TIMEOUT)
    r = shmipc__fail(r, "no free host slot in time (%lu in all)",
                     (unsigned long)h->ep.seg.geom.host_slots);
  r = r < 0 ? shmipc__failed(r) : r;
  if (counted)
    shmipc__uncount(&h->ep);
  return r;
}

int shmipc_slot_try_acquire(shmipc_host *h, shmipc_slot **out)
{
  struct shmipc__deadline now = shmipc__deadline(0);
  int r;

  if (out != NULL)
    *out = NULL;
  if (h == NULL || out == NULL)
    return shmipc__failed(SHMIPC_E_INVALID);
  r = shmipc__slot_acquire(&h->ep, &now, NULL, NULL, out);
  if (r == SHMIPC_E_TIMEOUT)
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_BUSY, "no free host slot now (%lu in all)",
                     (unsigned long)h->ep.seg.geom.host_slots));
  return r < 0 ? shmipc__failed(r) : r;
}

/* Guest streams (docs/PROTOCOL.md, "Streams"): the receiver's streams
 * belong to one guest. Stream ids are unique per session and direction
 * only, so when the attach word moves (the guest detached, or a new guest
 * took a dead one's place) every stream of the guest before is dropped,
 * before a message of the new one is handled: a guest attaches before it
 * publishes its first request, so the move is visible by then. */
static void receiver_epoch(shmipc_host *h, shmipc_reassembler *r)
{
  /* acquire: pairs with the guest's attach CAS (guest.c set_attach()) */
  uint32_t a = shmipc__load_acquire32(&shmipc__hdr(&h->ep.seg)->attach) &
               (SHMIPC_ATTACH_STATE_MASK | SHMIPC_ATTACH_EPOCH_MASK);
  uint32_t seen = shmipc__load_relaxed32(&h->receiver_attach);

  /* full: one of the servers that saw the move drops the streams */
  if (a != seen && shmipc__cas_full32(&h->receiver_attach, seen, a) == seen)
    shmipc__reassembler_drop_all(r);
}

/* Once per serving round (a liveness interval at most) while the receiver
 * holds anything: a guest that detached, died or was replaced frees what
 * it left at once, and idle streams go without waiting for a next stream
 * message. */
static void receiver_check(shmipc_host *h)
{
  shmipc_reassembler *r = h->receiver;

  if (r == NULL || !shmipc__reassembler_holds(r))
    return;
  receiver_epoch(h, r);
  if (shmipc__guest_lock_held(&h->ep) == 0)
    shmipc__reassembler_drop_all(r);
  else
    shmipc__reassembler_sweep(r);
}

/* The handler of a guest call while a receiver is attached: stream
 * messages to it, the rest to the serving function's handler. */
struct route {
  shmipc_host *h;
  shmipc_reassembler *r;
  shmipc_handler_fn fn;
  void *user;
};

static int route(void *user, uint32_t type, const void *req, size_t req_len,
                 void *resp, size_t resp_cap, size_t *resp_len,
                 uint32_t *resp_type)
{
  struct route *rt = user;

  if (type != SHMIPC_MSG_STREAM_START && type != SHMIPC_MSG_STREAM_CHUNK)
    return rt->fn(rt->user, type, req, req_len, resp, resp_cap, resp_len,
                  resp_type);
  receiver_epoch(rt->h, rt->r);
  return shmipc_reassembler_handle(rt->r, type, req, req_len, resp, resp_cap,
                                   resp_len, resp_type);
}

/* Serve every guest call pending now; returns how many were answered. */
static int serve_pending(shmipc_host *h, shmipc_handler_fn fn, void *user)
{
  const struct shmipc__geom *g = &h->ep.seg.geom;
  struct route rt = {h, h->receiver, fn, user};
  uint32_t i;
  int n = 0;

  if (rt.r != NULL) {
    fn = route;
    user = &rt;
  }

  for (i = g->host_slots; i < g->host_slots + g->guest_slots; i++) {
    /* acquire: pairs with the guest's publish CAS; the take CAS in
     * shmipc__respond() re-validates the exact value */
    uint32_t v = shmipc__load_acquire32(&shmipc__wslot(&h->ep.seg, i)->ctrl);
    if (shmipc__ctrl_legal(v) &&
        shmipc__ctrl_state(v) == SHMIPC_SLOT_REQ_READY &&
        shmipc__respond(&h->ep, i, v, fn, user) > 0)
      n++;
  }
  return n;
}

/* Wait for the doorbell to move from @seen, then serve what is pending. */
static int serve_once(shmipc_host *h, shmipc_handler_fn fn, void *user,
                      const uint32_t *stop, bool abortable,
                      struct shmipc__deadline *dl)
{
  uint32_t *bell = &shmipc__hdr(&h->ep.seg)->doorbell;
  struct shmipc__until u;
  uint32_t seen;
  int n, r;

  /* acquire: read before scanning, so a guest call published after the
   * scan moves the counter (the guest rings after its publish CAS) */
  seen = shmipc__load_acquire32(bell);
  n = serve_pending(h, fn, user);
  if (n > 0)
    return n;
  u = shmipc__until_changed(bell, SHMIPC_DOORBELL_COUNTER_MASK, seen,
                            SHMIPC_DOORBELL_LISTENER_WAITING);
  u.stop = stop;
  u.abortable = abortable; /* shmipc_host_serve(), not the listener */
  r = shmipc__wait_word(&h->ep, &u, NULL, dl, &seen);
  if (r != SHMIPC_OK)
    return r;
  return serve_pending(h, fn, user);
}

static void *listener_main(void *arg)
{
  shmipc_host *h = arg;

  /* Each wait is at most one liveness interval, then the guest slots are
   * scanned again even if the doorbell did not move: a peer that rewrote
   * the doorbell word could otherwise make a real ring look like no
   * change. */
  while (!shmipc__load_acquire32(&h->listener_stop)) {
    struct shmipc__deadline tick = shmipc__deadline(h->ep.liveness_ns);
    int r = serve_once(h, h->listen_fn, h->listen_user, &h->listener_stop,
                       false, &tick);
    if (r == SHMIPC_E_CLOSED)
      break;
    receiver_check(h);
  }
  return NULL;
}

/* The arguments of shmipc_host_listen_start() and shmipc_host_serve(). */
static int serve_check(shmipc_host *h, shmipc_handler_fn fn)
{
  if (h == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "h is NULL");
  if (fn == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "fn is NULL");
  if (h->ep.seg.geom.guest_slots == 0)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "the segment has no guest slots (guest_slots 0)");
  return SHMIPC_OK;
}

int shmipc_host_listen_start(shmipc_host *h, shmipc_handler_fn fn, void *user)
{
  int r = serve_check(h, fn);

  if (r != SHMIPC_OK)
    return shmipc__failed(r);
  /* full: one caller wins the start; pairs with the release stores of
   * LISTEN_OFF below and in shmipc_host_listen_stop(), after which the
   * previous listener's fields are ours to overwrite. */
  if (shmipc__cas_full32(&h->listening, LISTEN_OFF, LISTEN_STARTING) !=
      LISTEN_OFF)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_BUSY, "a listener runs already, or another thread is "
                       "starting or stopping one"));
  h->listen_fn = fn;
  h->listen_user = user;
  shmipc__store_release32(&h->listener_stop, 0);
  if (shmipc__thread_start(&h->listener, listener_main, h) != SHMIPC_OK) {
    shmipc__store_release32(&h->listening, LISTEN_OFF);
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_SYSTEM, "starting the listener thread"));
  }
  /* release: publishes h->listener; pairs with the CAS in
   * shmipc_host_listen_stop() */
  shmipc__store_release32(&h->listening, LISTEN_ON);
  return SHMIPC_OK;
}

int shmipc_host_listen_stop(shmipc_host *h)
{
  if (h == NULL)
    return shmipc__failed(SHMIPC_E_INVALID);
  /* full: one caller wins the stop (and joins); pairs with the release
   * store of LISTEN_ON in shmipc_host_listen_start() */
  if (shmipc__cas_full32(&h->listening, LISTEN_ON, LISTEN_STOPPING) !=
      LISTEN_ON)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_STATE, "no listener is running (or another thread is "
                        "starting or stopping it)"));
  /* release: pairs with the listener's acquire of listener_stop in
   * shmipc__wait_word(); the wake makes a sleeping listener look. */
  shmipc__store_release32(&h->listener_stop, 1);
  /* Moving the counter makes a listener that checked the stop flag just
   * before we set it, and is about to sleep on the old value, return at
   * once instead of at its next liveness tick. */
  shmipc__ring_doorbell(&h->ep, true);
  shmipc__thread_join(h->listener);
  /* release: pairs with the CAS in shmipc_host_listen_start() */
  shmipc__store_release32(&h->listening, LISTEN_OFF);
  return SHMIPC_OK;
}

static int serve(shmipc_host *h, shmipc_handler_fn fn, void *user,
                 struct shmipc__deadline dl)
{
  struct shmipc__deadline round;
  int r;

  for (;;) {
    /* At most one liveness interval per wait, as in listener_main(). */
    round = dl.budget == 0 ? dl
                           : shmipc__deadline_cap(&dl, h->ep.liveness_ns,
                                                  shmipc__now_ns());
    r = serve_once(h, fn, user, NULL, true, &round);
    receiver_check(h);
    if (r != 0 && r != SHMIPC_E_TIMEOUT)
      return r < 0 ? shmipc__failed(r) : r;
    /* Nothing yet (or the call was cancelled before we took it). */
    if (dl.budget == 0 || shmipc__left(&dl, shmipc__now_ns()) == 0)
      return shmipc__failed(
          shmipc__fail(SHMIPC_E_TIMEOUT, "no guest call in time"));
  }
}

int shmipc_host_serve(shmipc_host *h, shmipc_handler_fn fn, void *user,
                      int64_t timeout_ns)
{
  struct shmipc__deadline dl;
  int r;

  r = serve_check(h, fn);
  if (r != SHMIPC_OK)
    return shmipc__failed(r);
  r = shmipc__timeout(&h->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return bad_timeout(timeout_ns);
  if (shmipc__load_acquire32(&h->listening))
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_BUSY, "the listener thread serves guest calls"));
  /* Counted on entry: a handler may run on a destroyed handle's slot
   * otherwise (the serve loop need not have slept first). */
  shmipc__count(&h->ep);
  /* acquire: pairs with the release store in shmipc_host_destroy(); a
   * serve that does not wait (an event loop's) says CLOSED too */
  r = shmipc__load_acquire32(&h->ep.closing)
          ? shmipc__failed(
                shmipc__fail(SHMIPC_E_CLOSED, "the host is being destroyed"))
          : serve(h, fn, user, dl);
  shmipc__uncount(&h->ep);
  return r;
}

int shmipc_host_stream_receiver(shmipc_host *h, shmipc_reassembler *r)
{
  if (h == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "h is NULL"));
  if (h->ep.seg.geom.guest_slots == 0)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, "the segment has no guest slots (guest_slots 0)"));
  if (shmipc__load_acquire32(&h->listening) != LISTEN_OFF)
    return shmipc__failed(shmipc__fail(SHMIPC_E_BUSY,
                                       "the listener thread serves guest calls "
                                       "(stop it first)"));
  /* The guest attached now is the receiver's from the start. Plain
   * stores: no thread serves meanwhile (the listener's start, or the
   * caller's own order before shmipc_host_serve(), publishes them). The
   * acquire pairs with the guest's attach CAS. */
  shmipc__store_relaxed32(
      &h->receiver_attach,
      shmipc__load_acquire32(&shmipc__hdr(&h->ep.seg)->attach) &
          (SHMIPC_ATTACH_STATE_MASK | SHMIPC_ATTACH_EPOCH_MASK));
  h->receiver = r;
  return SHMIPC_OK;
}

/* ------------------------------------------------------------------ */
/* Large answers (docs/PROTOCOL.md, "Large answers"; answer.c) */

int shmipc__host_call_large(struct shmipc_slot *s, void *resp, size_t resp_cap,
                            size_t *resp_len, uint32_t *resp_type,
                            struct shmipc__deadline *dl, bool *counted)
{
  shmipc_host *h = (shmipc_host *)(void *)s->ep;
  struct shmipc__pull_sink sink = {resp, resp_cap, NULL, NULL, NULL};
  uint64_t total = 0;
  uint32_t type = 0;
  int r;

  r = shmipc__answer_fetch(s, h->max_answer, &sink, &total, &type, dl, counted);
  if (resp_len != NULL)
    *resp_len = total > SIZE_MAX ? SIZE_MAX : (size_t)total;
  if (resp_type != NULL)
    *resp_type = type;
  return r;
}

/* The call of shmipc_host_call_alloc() and shmipc_host_call_chunks(). */
static int call_into(shmipc_host *h, uint32_t type, const void *req,
                     size_t req_len, const struct shmipc__pull_sink *sink,
                     size_t *resp_len, uint32_t *resp_type, int64_t timeout_ns,
                     bool *counted)
{
  struct shmipc__deadline dl;
  shmipc_slot *s;
  uint64_t total = 0;
  uint32_t t = 0;
  int r;

  if (req == NULL && req_len > 0)
    return shmipc__fail(SHMIPC_E_INVALID, "req is NULL with req_len %llu",
                        (unsigned long long)req_len);
  if (shmipc__timeout(&h->ep, timeout_ns, &dl) != SHMIPC_OK)
    return shmipc__fail_timeout("timeout_ns", timeout_ns);
  if (req_len > h->ep.seg.geom.req_capacity)
    return shmipc__fail(SHMIPC_E_TOO_BIG, "%llu bytes, capacity %lu",
                        (unsigned long long)req_len,
                        (unsigned long)h->ep.seg.geom.req_capacity);
  r = shmipc__slot_acquire(&h->ep, &dl, NULL, counted, &s);
  if (r != SHMIPC_OK)
    return r;
  if (req_len > 0)
    memcpy(shmipc_slot_req_buf(s), req, req_len);
  r = shmipc_slot_publish(s, type, req_len, 0);
  if (r == SHMIPC_OK)
    r = shmipc__slot_wait(s, &dl, NULL, counted);
  if (r == SHMIPC_OK && s->resp_type == SHMIPC_MSG_LARGE_ANSWER) {
    r = shmipc__answer_fetch(s, h->max_answer, sink, &total, &t, &dl, counted);
  } else if (r == SHMIPC_OK || r == SHMIPC_E_REMOTE) {
    /* It fits a slot: one piece, or one copy into a buffer of its size. */
    total = s->resp_size;
    t = s->resp_type;
    if (sink->alloc != NULL) {
      void *b = malloc(total > 0 ? (size_t)total : 1);
      if (b == NULL) {
        r = shmipc__fail(SHMIPC_E_NOMEM, "allocating an answer of %llu bytes",
                         (unsigned long long)total);
      } else {
        if (total > 0)
          memcpy(b, s->resp_data, (size_t)total);
        *sink->alloc = b;
      }
    } else if (sink->fn(sink->user, t, total, 0,
                        total > 0 ? s->resp_data : NULL, (size_t)total) != 0) {
      r = shmipc__fail(SHMIPC_E_REFUSED, "the chunk callback stopped the "
                                         "answer at offset 0");
    }
    if (r == SHMIPC_E_REMOTE)
      r = shmipc__fail(r, "the peer's handler failed; its reason is the "
                          "response");
  }
  shmipc_slot_release(s);
  if (resp_len != NULL)
    *resp_len = total > SIZE_MAX ? SIZE_MAX : (size_t)total;
  if (resp_type != NULL)
    *resp_type = t;
  return r;
}

int shmipc_host_call_alloc(shmipc_host *h, uint32_t type, const void *req,
                           size_t req_len, void **resp, size_t *resp_len,
                           uint32_t *resp_type, int64_t timeout_ns)
{
  struct shmipc__pull_sink sink = {NULL, 0, resp, NULL, NULL};
  bool counted = false;
  int r;

  if (resp != NULL)
    *resp = NULL;
  if (h == NULL || resp == NULL)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, h == NULL ? "h is NULL" : "resp is NULL"));
  r = call_into(h, type, req, req_len, &sink, resp_len, resp_type, timeout_ns,
                &counted);
  if (r < 0 && r != SHMIPC_E_REMOTE && *resp != NULL) {
    free(*resp);
    *resp = NULL;
  }
  if (r < 0)
    r = call_failed(h, r);
  if (counted)
    shmipc__uncount(&h->ep);
  return r;
}

int shmipc_host_call_chunks(shmipc_host *h, uint32_t type, const void *req,
                            size_t req_len, shmipc_chunk_fn fn, void *user,
                            int64_t timeout_ns)
{
  struct shmipc__pull_sink sink = {NULL, 0, NULL, fn, user};
  bool counted = false;
  int r;

  if (h == NULL || fn == NULL)
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_INVALID, h == NULL ? "h is NULL" : "fn is NULL"));
  r = call_into(h, type, req, req_len, &sink, NULL, NULL, timeout_ns, &counted);
  if (r < 0)
    r = call_failed(h, r);
  if (counted)
    shmipc__uncount(&h->ep);
  return r;
}

void shmipc_answer_free(void *resp) { free(resp); }

/* A slot holding a large answer's announcement. */
static bool holds_announcement(const shmipc_slot *s)
{
  struct shmipc__answer_hdr a;

  return s != NULL && s->ep->role == SHMIPC__ROLE_HOST &&
         shmipc_slot_resp_type(s) == SHMIPC_MSG_LARGE_ANSWER &&
         shmipc__answer_parse(shmipc_slot_resp_size(s),
                              shmipc_slot_resp_data(s), &a) == SHMIPC_OK;
}

uint64_t shmipc_slot_answer_total(const shmipc_slot *s)
{
  struct shmipc__answer_hdr a;

  if (!holds_announcement(s))
    return 0;
  shmipc__answer_hdr_get(&a, shmipc_slot_resp_data(s));
  return a.total;
}

int shmipc_slot_answer_alloc(shmipc_slot *s, void **resp, size_t *resp_len,
                             uint32_t *resp_type, int64_t timeout_ns)
{
  struct shmipc__pull_sink sink = {NULL, 0, resp, NULL, NULL};
  struct shmipc__deadline dl;
  bool counted = false;
  uint64_t total = 0;
  uint32_t t = 0;
  int r;

  if (resp != NULL)
    *resp = NULL;
  if (s == NULL || resp == NULL)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, s == NULL ? "s is NULL" : "resp is NULL"));
  if (shmipc__timeout(s->ep, timeout_ns, &dl) != SHMIPC_OK)
    return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
  if (!holds_announcement(s))
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_STATE, "the slot holds no large answer's announcement"));
  r = shmipc__answer_fetch(s, ((shmipc_host *)(void *)s->ep)->max_answer, &sink,
                           &total, &t, &dl, &counted);
  if (resp_len != NULL)
    *resp_len = total > SIZE_MAX ? SIZE_MAX : (size_t)total;
  if (resp_type != NULL)
    *resp_type = t;
  if (r < 0 && r != SHMIPC_E_REMOTE && *resp != NULL) {
    free(*resp);
    *resp = NULL;
  }
  r = shmipc__failed(r);
  if (counted)
    shmipc__uncount(s->ep);
  return r;
}

int shmipc_slot_answer_drop(shmipc_slot *s, int64_t timeout_ns)
{
  struct shmipc__answer_hdr a;
  struct shmipc__pull q = {0, 0, 0, SHMIPC__PULL_F_ABORT, 0};
  struct shmipc__deadline dl;
  bool counted = false;
  uint32_t status = 0, state = 0;
  const uint8_t *data;
  int r;

  if (s == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "s is NULL"));
  if (shmipc__timeout(s->ep, timeout_ns, &dl) != SHMIPC_OK)
    return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
  if (!holds_announcement(s))
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_STATE, "the slot holds no large answer's announcement"));
  shmipc__answer_hdr_get(&a, shmipc_slot_resp_data(s));
  q.id = a.id;
  shmipc__slot_rearm(s);
  shmipc__pull_put(shmipc_slot_req_buf(s), &q);
  r = shmipc_slot_publish(s, SHMIPC_MSG_ANSWER_PULL, SHMIPC__PULL_HDR, 0);
  if (r != SHMIPC_OK)
    return r;
  r = shmipc__slot_wait(s, &dl, NULL, &counted);
  if (r == SHMIPC_OK) {
    r = shmipc__pull_judge(&q, a.total, s->resp_type, s->resp_size,
                           s->resp_data, &status, &state, &data);
    shmipc__slot_rearm(s);
    /* ABORTED is the answer asked for. */
    if (r == SHMIPC_E_REMOTE && status == SHMIPC__PULL_ABORTED)
      r = SHMIPC_OK;
    else if (r == SHMIPC_E_REMOTE)
      r = shmipc__fail(r, "answer %llu: %s", (unsigned long long)a.id,
                       shmipc__pull_status_name(status));
    else
      r = shmipc__fail(SHMIPC_E_CORRUPT, "illegal answer to a drop");
  }
  r = r < 0 ? call_failed((shmipc_host *)(void *)s->ep, r) : r;
  if (counted)
    shmipc__uncount(s->ep);
  return r;
}

int shmipc_host_abort(shmipc_host *h)
{
  if (h == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "h is NULL"));
  shmipc__abort_raise(&h->ep, &h->ep.aborted);
  return SHMIPC_OK;
}

int shmipc_host_abort_reset(shmipc_host *h)
{
  if (h == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "h is NULL"));
  /* release: pairs with the acquire in shmipc__aborted() */
  shmipc__store_release32(&h->ep.aborted, 0);
  return SHMIPC_OK;
}
