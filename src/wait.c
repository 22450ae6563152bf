/* SPDX-License-Identifier: MIT */
/*
 * One side of a session and its waiting discipline: spin with the pause
 * instruction, yield now and then, and finally sleep on the futex word
 * after announcing it (docs/PROTOCOL.md, "Sleep and wake-up").
 */
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "internal.h"
#include "stats.h"
#include "waitstats.h"

int shmipc__ep_init(struct shmipc__endpoint *ep, enum shmipc__role role,
                    uint32_t spin_budget, int64_t default_timeout_ns,
                    int64_t liveness_ns)
{
  const struct shmipc__geom *g = &ep->seg.geom;
  uint32_t i, first;

  ep->role = role;
  ep->spin_budget = spin_budget;
  ep->default_timeout_ns = default_timeout_ns;
  ep->liveness_ns = liveness_ns;
  ep->closing = 0;
  ep->peer_gone = 0;
  ep->free_seq = 0;
  ep->inside = 0;
  ep->peer_seen_at = 0;
  ep->aborted = 0;
  ep->abort_seq = 0;
  ep->n_req = role == SHMIPC__ROLE_HOST ? g->host_slots : g->guest_slots;
  first = role == SHMIPC__ROLE_HOST ? 0 : g->host_slots;
  ep->req_slots = NULL;
  if (ep->n_req == 0)
    return SHMIPC_OK;
  ep->req_slots = calloc(ep->n_req, sizeof *ep->req_slots);
  if (ep->req_slots == NULL)
    return SHMIPC_E_NOMEM;
  for (i = 0; i < ep->n_req; i++) {
    struct shmipc_slot *s = &ep->req_slots[i];
    s->ep = ep;
    s->index = first + i;
    s->w = shmipc__wslot(&ep->seg, s->index);
    s->req = shmipc__req_buf(&ep->seg, s->index);
    s->resp = shmipc__resp_buf(&ep->seg, s->index);
    s->ctr = shmipc__slot_counters(&ep->seg, s->index);
  }
  return SHMIPC_OK;
}

void shmipc__ep_fini(struct shmipc__endpoint *ep)
{
  free(ep->req_slots);
  ep->req_slots = NULL;
  ep->n_req = 0;
}

int shmipc__timeout(const struct shmipc__endpoint *ep, int64_t timeout_ns,
                    struct shmipc__deadline *out)
{
  int64_t budget;
  int r = shmipc__budget(timeout_ns, ep->default_timeout_ns, &budget);

  if (r != SHMIPC_OK)
    return r;
  *out = shmipc__deadline(budget);
  return SHMIPC_OK;
}

/* The lock look of a wait is a system call; a wait makes it only when
 * no wait of this handle found the peer alive in the last liveness
 * interval (docs/PROTOCOL.md, "Sleep and wake-up"), so a waiter that sleeps
 * once per call (one call every millisecond, say) does not pay one per
 * call, and a peer that died is still seen within an interval of a
 * sleep. The time is kept in 2^20 ns units, a 32-bit atomic. */
#define SEEN_SHIFT 20

static uint32_t seen_now(void)
{
  uint32_t t = (uint32_t)((uint64_t)shmipc__now_ns() >> SEEN_SHIFT);

  return t != 0 ? t : 1;
}

/* Whether the paced lock look is due: no look found the peer alive
 * within the liveness interval. A stamp that reads as later than now
 * (wrapped, after weeks without a look) is due too. */
static bool look_due(struct shmipc__endpoint *ep, bool paced, uint32_t now)
{
  uint32_t seen, span;

  if (!paced)
    return true;
  seen = shmipc__load_relaxed32(&ep->peer_seen_at);
  span = (uint32_t)(ep->liveness_ns >> SEEN_SHIFT);
  return seen == 0 || (int32_t)(now - seen) < 0 ||
         (int32_t)(now - seen) >= (int32_t)(span > 0 ? span : 1);
}

static void seen_alive(struct shmipc__endpoint *ep, bool paced, uint32_t now)
{
  if (paced)
    shmipc__store_relaxed32(&ep->peer_seen_at, now);
}

/* The guest's look at its host: is the session it attached to still
 * served? The lock look only when due (look_due()). */
static int host_check(struct shmipc__endpoint *ep, bool paced)
{
  uint32_t now = paced ? seen_now() : 0;

  struct shmipc_wire_header *h = shmipc__hdr(&ep->seg);

  /* acquire: pairs with the host's release store of CLOSED in destroy */
  switch (shmipc__load_acquire32(&h->host_state)) {
  case SHMIPC_HOST_READY:
    break;
  case SHMIPC_HOST_CLOSED:
    return SHMIPC_E_PEER_GONE;
  default:
    return SHMIPC_E_CORRUPT;
  }
  /* A different nonce: the session was replaced under us. */
  if (h->session_nonce != ep->seg.nonce)
    return SHMIPC_E_PEER_GONE;
  if (!look_due(ep, paced, now))
    return SHMIPC_OK;
  if (shmipc__lock_held(&ep->seg, SHMIPC__ROLE_HOST) == 0)
    return SHMIPC_E_PEER_GONE;
  seen_alive(ep, paced, now);
  return SHMIPC_OK;
}

/* shmipc__peer_check(), with the lock look paced (@paced) or always. */
static int peer_look(struct shmipc__endpoint *ep, bool paced)
{
  struct shmipc_wire_header *h = shmipc__hdr(&ep->seg);
  int r;

  if (shmipc__load_acquire32(&ep->closing))
    return SHMIPC_E_CLOSED;
  if (ep->role == SHMIPC__ROLE_HOST) {
    /* acquire: pairs with the guest's CAS on attach in guest attach/detach */
    uint32_t a = shmipc__load_acquire32(&h->attach) & SHMIPC_ATTACH_STATE_MASK;
    if (a == SHMIPC_ATTACH_DETACHED)
      return SHMIPC_E_PEER_GONE;
    if (a == SHMIPC_ATTACH_ATTACHED) {
      uint32_t now = paced ? seen_now() : 0;

      if (!look_due(ep, paced, now))
        return SHMIPC_OK;
      if (shmipc__guest_lock_held(ep) == 0)
        return SHMIPC_E_PEER_GONE;
      seen_alive(ep, paced, now);
    }
    return SHMIPC_OK; /* no guest yet: calls wait for one, bounded by their
                         timeout */
  }
  /* A host that went away never comes back to this session: the latch
   * answers every later look, whoever made the first (a worker, a call). */
  /* acquire: pairs with the release store below, by whichever thread
   * looked first */
  if (shmipc__load_acquire32(&ep->peer_gone))
    return SHMIPC_E_PEER_GONE;
  r = host_check(ep, paced);
  if (r == SHMIPC_E_PEER_GONE) {
    /* release: pairs with the acquire above and in
     * shmipc__slot_acquire() */
    shmipc__store_release32(&ep->peer_gone, 1);
  }
  return r;
}

int shmipc__peer_check(struct shmipc__endpoint *ep)
{
  return peer_look(ep, false);
}

int shmipc__peer_check_paced(struct shmipc__endpoint *ep)
{
  return peer_look(ep, true);
}

int shmipc__guest_lock_held(struct shmipc__endpoint *ep)
{
  uint32_t t, seen;
  int r;

  /* full: the ticket is taken before the look, so a look whose ticket is
   * later than a value read after a loss (lost_look in slot.c) was made
   * after that loss; pairs with the fetch-add there */
  t = shmipc__fetch_add_full32(&ep->guest_looks, 1) + 1;
  r = shmipc__lock_held(&ep->seg, SHMIPC__ROLE_GUEST);
  if (r != 0)
    return r;
  for (seen = shmipc__load_relaxed32(&ep->guest_gone_at);
       (int32_t)(t - seen) > 0;) {
    uint32_t old = shmipc__cas_full32(&ep->guest_gone_at, seen, t);
    if (old == seen)
      break;
    seen = old;
  }
  return 0;
}

bool shmipc__guest_gone_since(struct shmipc__endpoint *ep, uint32_t since)
{
  /* acquire: pairs with the CAS in shmipc__guest_lock_held() */
  return (int32_t)(shmipc__load_acquire32(&ep->guest_gone_at) - since) > 0;
}

uint32_t shmipc__spin_yield(bool *crowded)
{
  int64_t t;

  if (crowded == NULL) {
    shmipc__yield();
    return SHMIPC__YIELD_EVERY;
  }
  t = shmipc__now_ns();
  shmipc__yield();
  *crowded = shmipc__now_ns() - t > SHMIPC__YIELD_RAN_NS;
  return *crowded ? SHMIPC__YIELD_CROWDED : SHMIPC__YIELD_EVERY;
}

int shmipc__aborted(struct shmipc__endpoint *ep, bool abortable,
                    const uint32_t *abort)
{
  /* acquire: pairs with the release store in shmipc__abort_raise() */
  if ((abortable && shmipc__load_acquire32(&ep->aborted)) ||
      (abort != NULL && shmipc__load_acquire32(abort)))
    return SHMIPC_E_ABORTED;
  return SHMIPC_OK;
}

void shmipc__abort_raise(struct shmipc__endpoint *ep, uint32_t *flag)
{
  uint32_t v, old;

  /* release: pairs with the acquire in shmipc__aborted() */
  shmipc__store_release32(flag, 1);
  /* full: the flag before the move of abort_seq. A sleeper reads
   * abort_seq, then the flags, then sleeps on abort_seq with the value it
   * read: it sees the flag, or the kernel sees the moved word, or the
   * wake below comes after it went to sleep. */
  (void)shmipc__fetch_add_full32(&ep->abort_seq, 1);
  shmipc__futex_wake(&ep->abort_seq);
  /* A thread waiting for a free slot sleeps on free_seq: move it too. */
  for (v = shmipc__load_relaxed32(&ep->free_seq);; v = old) {
    old = shmipc__cas_full32(&ep->free_seq, v,
                             (v + 1) & SHMIPC_DOORBELL_COUNTER_MASK);
    if (old == v)
      break;
  }
  /* The sleepers on segment words (Windows: their events, which stay
   * signalled), and free_seq. */
  shmipc__ep_wake_all(ep);
}

/* What a value of the waited-on word means: 1 done, 0 not yet, or a
 * negative code (a control word no peer may legally write). */
static inline int test_word(const struct shmipc__until *u, uint32_t v)
{
  if (u->slot_word && !shmipc__ctrl_legal(v))
    return SHMIPC_E_CORRUPT;
  if (((v & u->mask) == u->value) == (u->test == SHMIPC__UNTIL_STATE))
    return 1;
  if (u->not_yet != 0 && !(u->not_yet & (1u << shmipc__ctrl_state(v))))
    return SHMIPC_E_CORRUPT;
  return 0;
}

int shmipc__wait_word(struct shmipc__endpoint *ep,
                      const struct shmipc__until *u,
                      const struct shmipc__pace *pace,
                      struct shmipc__deadline *dl, uint32_t *out)
{
  static const struct shmipc__pace by_default = {0, false, 0, NULL, NULL};
  uint32_t *word = u->word;
  int64_t sleep_ns, left;
  uint32_t v, i, every;
  bool yielded = false;
  int r;

  if (pace == NULL)
    pace = &by_default;
  every = pace->crowded != NULL && *pace->crowded ? SHMIPC__YIELD_CROWDED
                                                  : SHMIPC__YIELD_EVERY;
  sleep_ns = pace->sleep_cap_ns > 0 ? pace->sleep_cap_ns : ep->liveness_ns;
  if (pace->yield_first)
    shmipc__yield();
  /* Fast phase: no clock read and no system call until the first yield
   * point, so a prompt peer costs nothing but the loads. Timeouts are
   * therefore honoured to within one yield period (~128 pauses); the
   * first clock read fixes a deadline that no earlier wait fixed. */
  for (i = pace->spins_spent + 1;; i++) {
    /* acquire: pairs with the CAS by which the peer moved the word into
     * the state we wait for (e.g. PROCESSING -> RESP_READY in
     * shmipc__respond()); what it wrote before is visible after this. */
    v = shmipc__load_acquire32(word);
    if ((r = test_word(u, v)) != 0) {
      /* Answered within the spin: the peer runs beside us. */
      if (pace->crowded != NULL && !yielded)
        *pace->crowded = false;
      *out = v;
      return r > 0 ? SHMIPC_OK : r;
    }
    if (dl->budget == 0)
      return SHMIPC_E_TIMEOUT;
    if (i >= ep->spin_budget)
      break;
    if (i % every == 0) {
      if (shmipc__left(dl, shmipc__now_ns()) == 0)
        return SHMIPC_E_TIMEOUT;
      if ((u->abortable || u->abort != NULL) &&
          (r = shmipc__aborted(ep, u->abortable, u->abort)) != SHMIPC_OK)
        return r;
      /* A crowded yield counts as a whole yield period of the budget:
       * as many yields before the sleep as ever, fewer pauses. */
      if (every == SHMIPC__YIELD_CROWDED)
        i += SHMIPC__YIELD_EVERY - SHMIPC__YIELD_CROWDED;
      every = shmipc__spin_yield(pace->crowded);
      yielded = true;
    } else {
      SHMIPC__WS(SPIN);
      shmipc__cpu_pause();
    }
  }
  SHMIPC__WS(SLOW);

  /* Slow phase: announce, re-check, sleep. Counted from here on, before
   * the first look at closing below (see shmipc__ep_quiesce()). */
  if (pace->counted != NULL && !*pace->counted) {
    shmipc__count(ep);
    *pace->counted = true;
  }
  if (u->stamp != NULL) { /* the age shmipc-stat shows */
    int64_t now = shmipc__now_ns();

    shmipc__store_relaxed64(u->stamp, (uint64_t)now);
    if (u->deadline != NULL) {
      /* The deadline, fixed now at the latest, for the responder's
       * handler (information only: the responder decides nothing by it) */
      (void)shmipc__left(dl, now);
      shmipc__store_relaxed64(u->deadline, shmipc__deadline_word(dl));
    }
  }
  for (;;) {
    /* acquire: read before the abort flags (shmipc__abort_raise()) */
    uint32_t seq = shmipc__load_acquire32(&ep->abort_seq);
    bool abortable = u->abortable || u->abort != NULL;

    v = shmipc__load_acquire32(word); /* acquire: as above */
    if ((r = test_word(u, v)) != 0) {
      *out = v;
      return r > 0 ? SHMIPC_OK : r;
    }
    left = shmipc__left(dl, shmipc__now_ns());
    if (left == 0)
      return SHMIPC_E_TIMEOUT;
    if (u->stop != NULL && shmipc__load_acquire32(u->stop))
      return SHMIPC_E_CLOSED;
    if (abortable &&
        (r = shmipc__aborted(ep, u->abortable, u->abort)) != SHMIPC_OK)
      return r;
    r = u->check_peer ? peer_look(ep, true)
                      : (shmipc__load_acquire32(&ep->closing) ? SHMIPC_E_CLOSED
                                                              : SHMIPC_OK);
    if (r != SHMIPC_OK)
      return r;
    if (!(v & u->announce_bit)) {
      /* full: the announce. Either it lands before the peer's transition
       * CAS on this word (which then sees our bit and wakes us) or after
       * it (and fails here, so we re-check). Pairs with the waker's CAS in
       * shmipc_slot_publish(), shmipc__respond(), set_attach() (guest.c)
       * or the doorbell ring. */
      if (shmipc__cas_full32(word, v, v | u->announce_bit) != v)
        continue;
      v |= u->announce_bit;
    }
    shmipc__ctr_add(
        u->sleeps != NULL ? u->sleeps : &shmipc__side(ep)->other_sleeps, 1);
    if (abortable) {
      struct shmipc__sleeper one = {word, v, u->announce_bit};

      shmipc__words_wait(&ep->seg, &one, 1, &ep->abort_seq, seq,
                         left < sleep_ns ? left : sleep_ns);
    } else {
      shmipc__word_wait(&ep->seg, word, v, u->announce_bit,
                        left < sleep_ns ? left : sleep_ns);
    }
  }
}

void shmipc__ring_doorbell(struct shmipc__endpoint *ep, bool always_wake)
{
  uint32_t *bell = &shmipc__hdr(&ep->seg)->doorbell;
  uint32_t v, old;

  for (v = shmipc__load_relaxed32(bell);; v = old) {
    /* full: orders the caller's publish before the ring; pairs with the
     * listener's announce CAS on the doorbell in shmipc__wait_word() */
    old = shmipc__cas_full32(bell, v, (v + 1) & SHMIPC_DOORBELL_COUNTER_MASK);
    if (old == v)
      break;
  }
  if (always_wake || (v & SHMIPC_DOORBELL_LISTENER_WAITING)) {
    shmipc__ctr_add(&shmipc__side(ep)->other_wakes, 1);
    shmipc__word_wake(&ep->seg, bell, SHMIPC_DOORBELL_LISTENER_WAITING);
  }
}

void shmipc__ep_wake_all(struct shmipc__endpoint *ep)
{
  struct shmipc_wire_header *h = shmipc__hdr(&ep->seg);
  uint32_t i, n = ep->seg.geom.host_slots + ep->seg.geom.guest_slots;

  for (i = 0; i < n; i++)
    shmipc__word_wake(&ep->seg, &shmipc__wslot(&ep->seg, i)->ctrl,
                      SHMIPC_CTRL_REQUESTER_WAITING |
                          SHMIPC_CTRL_RESPONDER_WAITING);
  shmipc__word_wake(&ep->seg, &h->attach, SHMIPC_ATTACH_HOST_WAITING);
  shmipc__word_wake(&ep->seg, &h->doorbell, SHMIPC_DOORBELL_LISTENER_WAITING);
  shmipc__futex_wake(&ep->free_seq);
}

/* How long a destroy or detach waits for the threads counted inside its
 * handle: QUIESCE_LIVENESS liveness intervals, at least QUIESCE_MIN_NS,
 * at most QUIESCE_MAX_NS. Every wait re-checks closing at least once per
 * liveness interval even if a wake-up is lost. */
#define QUIESCE_LIVENESS 4
#define QUIESCE_MIN_NS INT64_C(200000000)
#define QUIESCE_MAX_NS INT64_C(10000000000)
/* A fast call counts itself nowhere: once the count reads 0, destroy
 * waits this long more for a spin phase to end (in its answer, or in the
 * counted sleep phase) and for a call to finish, and looks again. */
#define QUIESCE_GRACE_NS INT64_C(2000000)
/* How often a destroy that waits wakes the sleepers again: one that
 * looked at closing just before it was set sleeps after the first wake. */
#define QUIESCE_POLL_NS INT64_C(1000000)

void shmipc__count(struct shmipc__endpoint *ep)
{
  /* full: we count ourselves, then look at closing; destroy sets closing,
   * then looks at the count (shmipc__ep_quiesce()): one of us sees the
   * other. */
  (void)shmipc__fetch_add_full32(&ep->inside, 1);
}

void shmipc__uncount(struct shmipc__endpoint *ep)
{
  /* full (release side): everything this thread did with the handle comes
   * before; pairs with the acquire load in shmipc__ep_quiesce(). Nothing
   * of the handle is touched after this. */
  (void)shmipc__fetch_add_full32(&ep->inside, (uint32_t)-1);
}

void shmipc__ep_quiesce(struct shmipc__endpoint *ep)
{
  int64_t bound = ep->liveness_ns > QUIESCE_MAX_NS / QUIESCE_LIVENESS
                      ? QUIESCE_MAX_NS
                      : ep->liveness_ns * QUIESCE_LIVENESS;
  struct shmipc__deadline dl =
      shmipc__deadline_now(bound < QUIESCE_MIN_NS ? QUIESCE_MIN_NS : bound);
  bool graced = false;

  /* full: closing (stored by the caller) before the loads of the count;
   * pairs with the fetch-add in shmipc__count() */
  shmipc__fence_full();
  for (;;) {
    shmipc__ep_wake_all(ep);
    /* acquire: pairs with the fetch-add in shmipc__uncount() */
    if (shmipc__load_acquire32(&ep->inside) == 0) {
      if (graced)
        return;
      shmipc__sleep_ns(QUIESCE_GRACE_NS);
      graced = true;
      continue;
    }
    graced = false;
    if (shmipc__left(&dl, shmipc__now_ns()) == 0)
      return;
    shmipc__sleep_ns(QUIESCE_POLL_NS);
  }
}
