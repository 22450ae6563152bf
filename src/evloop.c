/* SPDX-License-Identifier: MIT */
/*
 * Event loops (include/shmipc/shmipc.h, "Event loops"): a handle that an
 * event loop waits on, signalled when a guest call is pending or a call
 * the loop waits for has ended.
 *
 * The guests wake the host only through the words of the segment (a
 * FUTEX_WAKE on Linux, the word's event on Windows), and only when the
 * host announced a sleep there (docs/PROTOCOL.md, "Sleep and wake-up"). So
 * the loop announces its sleep exactly as a blocked waiter would, on every
 * slot word it waits for and on the doorbell (shmipc_host_event_arm()),
 * and one thread of the library, the bridge, sleeps on those words in its
 * place and signals the loop's handle when one of them moves. The bridge
 * sleeps on a private control word too, which every arm that sleeps, the
 * destroy and the bridge's stop move, and never longer than a liveness
 * interval, so that it looks at the guest's liveness as a sleeping waiter
 * does.
 *
 * No wake-up is lost: the arm announces (a full-barrier CAS on each word),
 * then looks again at everything it waits for; a guest's transition after
 * that look sees the bit and wakes the word, or it changed the word before
 * the bridge's sleep, whose compare then fails. The bridge takes over the
 * values the arm announced under the mutex, after the control word moved,
 * and looks at the words again before each sleep.
 *
 * Who owns what: the loop's thread owns the arm and the clear (one at a
 * time); the bridge reads the armed set and writes the fired state under
 * the mutex; the destroy stops the bridge and frees all of it after the
 * quiesce, before the segment goes.
 */
#include <stdlib.h>

#include "atomic.h"
#include "evloop.h"
#include "stats.h"

#define GEN_MASK (~(uint32_t)0 << SHMIPC_CTRL_GEN_SHIFT)
#define WAIT_BITS                                                              \
  (SHMIPC_CTRL_REQUESTER_WAITING | SHMIPC_CTRL_RESPONDER_WAITING)
/* Looks between two clock reads in the arm's spin. */
#define SPIN_CLOCK_EVERY 128u
/* The longest sleep of the library's thread while nothing is armed (every
 * arm, the destroy and the stop wake it). */
#define BRIDGE_IDLE_NS INT64_C(1000000000)

struct shmipc__evloop {
  shmipc_host *h;
  struct shmipc__evos *os;
  intptr_t handle;
  struct shmipc__mutex *mu;
  struct shmipc__thread *bridge; /* NULL until the first arm that sleeps */
  uint32_t ctl; /* atomic futex word (private memory): moved by every arm
                 * that sleeps, the destroy and the bridge's stop */
  /* under mu: */
  bool quit;               /* the bridge returns */
  bool armed;              /* the bridge watches sl[0..n) */
  bool fired;              /* the handle is signalled and not reset yet */
  bool counted;            /* the loop's thread is counted on the endpoint */
  bool bell;               /* the doorbell is among sl[0..n) */
  const void *loop_thread; /* its tag (&loop_tag on that thread) */
  uint32_t n;
  uint32_t n_slots;           /* of sl[0..n): slot words */
  struct shmipc__sleeper *sl; /* host_slots + 1 of them */
  /* Beside sl, what the bridge needs of each armed call, copied by the
   * arm: the loop may release and claim the slot again meanwhile, and
   * the slot's record is its holder's (the abort flag is atomic). */
  uint32_t *gens;          /* its generation (GEN_MASK bits) */
  const uint32_t **aborts; /* its slot's abort flag; NULL: the doorbell */
};

/* A byte per thread whose address names the thread. */
static SHMIPC__THREAD_LOCAL char loop_tag;

static inline struct shmipc__evloop *get_ev(shmipc_host *h)
{
  /* acquire: pairs with the CAS that publishes it in
   * shmipc_host_event_handle() */
  return shmipc__load_acquire_ptr(shmipc__host_evloop(h));
}

/* Whether the call of generation @gen whose slot word reads @v, and whose
 * abort flag is @abort (atomic), needs a look: it ended (answered, a word
 * no peer may write, another generation) or it was aborted. */
static bool call_ended(uint32_t gen, const uint32_t *abort, uint32_t v)
{
  uint32_t w = v & ~WAIT_BITS;

  if (!shmipc__ctrl_legal(v) || (w != (gen | SHMIPC_SLOT_REQ_READY) &&
                                 w != (gen | SHMIPC_SLOT_PROCESSING)))
    return true;
  /* acquire: pairs with the release store in shmipc__abort_raise() */
  return shmipc__load_acquire32(abort) != 0;
}

/* The same for published slot @s, by its holder. */
static bool slot_ended(shmipc_slot *s, uint32_t v)
{
  return call_ended(s->gen_word & GEN_MASK, &s->abort, v);
}

/* Whether a guest call is pending (a guest slot in REQ_READY). */
static bool guest_call_pending(struct shmipc__endpoint *ep)
{
  const struct shmipc__geom *g = &ep->seg.geom;
  uint32_t i;

  for (i = g->host_slots; i < g->host_slots + g->guest_slots; i++) {
    /* acquire: pairs with the guest's publish CAS */
    uint32_t v = shmipc__load_acquire32(&shmipc__wslot(&ep->seg, i)->ctrl);
    if (shmipc__ctrl_legal(v) && shmipc__ctrl_state(v) == SHMIPC_SLOT_REQ_READY)
      return true;
  }
  return false;
}

/* What ends the calls in flight besides their words: the host's abort, a
 * gone guest (paced, as a sleeping waiter looks). */
static bool calls_stopped(struct shmipc__endpoint *ep)
{
  return shmipc__aborted(ep, true, NULL) != SHMIPC_OK ||
         shmipc__peer_check_paced(ep) != SHMIPC_OK;
}

/* Whether the doorbell counts: guest slots, and no listener serving
 * them. */
static bool with_bell(shmipc_host *h)
{
  return shmipc__host_ep(h)->seg.geom.guest_slots > 0 &&
         !shmipc__host_listening(h);
}

/* The loop's look: whether anything it waits for is ready now. */
static bool ready_now(shmipc_host *h, shmipc_slot *const *slots, size_t n,
                      bool bell)
{
  struct shmipc__endpoint *ep = shmipc__host_ep(h);
  size_t i;

  for (i = 0; i < n; i++) {
    /* acquire: the holder's own record; the answer's fields come with the
     * word's acquire below */
    if (shmipc__load_acquire32(&slots[i]->state) != SHMIPC__REC_SENT)
      return true; /* DONE: answered already */
    /* acquire: pairs with the responder's publish CAS in
     * shmipc__respond() */
    if (slot_ended(slots[i], shmipc__load_acquire32(&slots[i]->w->ctrl)))
      return true;
  }
  if (bell && guest_call_pending(ep))
    return true;
  return n > 0 && calls_stopped(ep);
}

/* Signal the handle once per firing (under mu). */
static void fire(struct shmipc__evloop *ev)
{
  ev->armed = false;
  if (!ev->fired) {
    ev->fired = true;
    shmipc__evos_signal(ev->os);
  }
}

/* The bridge's look at the armed words (under mu): true when one moved
 * in a way the loop must see; otherwise each word's value as read now
 * becomes its expected one (a take, REQ_READY -> PROCESSING, moves a word
 * without waking it). */
static bool armed_moved(struct shmipc__evloop *ev)
{
  struct shmipc__endpoint *ep = shmipc__host_ep(ev->h);
  uint32_t k, v;

  for (k = 0; k < ev->n; k++) {
    /* acquire: as in ready_now() */
    v = shmipc__load_acquire32(ev->sl[k].word);
    if (ev->aborts[k] != NULL) {
      /* a slot word that lost our bit (no wake-up would come) fires too */
      if (call_ended(ev->gens[k], ev->aborts[k], v) ||
          !(v & SHMIPC_CTRL_REQUESTER_WAITING))
        return true;
    } else if (v != ev->sl[k].expected) {
      return true; /* the doorbell rang */
    }
    ev->sl[k].expected = v;
  }
  if (ev->bell && guest_call_pending(ep))
    return true;
  if (ev->n_slots > 0 && calls_stopped(ep))
    return true;
  return shmipc__load_acquire32(&ep->closing) != 0;
}

static void *bridge_main(void *arg)
{
  struct shmipc__evloop *ev = arg;
  struct shmipc__endpoint *ep = shmipc__host_ep(ev->h);
  struct shmipc__sleeper *sl;
  uint32_t n = 0, seen, abort_seen;

  sl = calloc(ep->seg.geom.host_slots + 1, sizeof *sl);
  shmipc__mutex_lock(ev->mu);
  while (!ev->quit) {
    /* acquire: read before the look, so that an arm (or a stop) after it
     * makes the sleep below return; pairs with the fetch-add in
     * move_ctl() */
    seen = shmipc__load_acquire32(&ev->ctl);
    /* acquire: read before the abort flags (shmipc__abort_raise()) */
    abort_seen = shmipc__load_acquire32(&ep->abort_seq);
    n = 0;
    if (ev->armed) {
      if (armed_moved(ev)) {
        fire(ev);
        continue;
      }
      n = ev->n;
      if (sl != NULL) {
        uint32_t k;
        for (k = 0; k < n; k++)
          sl[k] = ev->sl[k];
      }
    }
    shmipc__mutex_unlock(ev->mu);
    if (sl == NULL) /* no memory: look every millisecond instead */
      shmipc__sleep_ns(SHMIPC__WORDS_POLL_NS);
    else
      shmipc__evos_sleep(ev->os, &ep->seg, sl, n, &ev->ctl, seen,
                         &ep->abort_seq, abort_seen,
                         n > 0 ? ep->liveness_ns : BRIDGE_IDLE_NS);
    shmipc__mutex_lock(ev->mu);
  }
  shmipc__mutex_unlock(ev->mu);
  free(sl);
  return NULL;
}

/* Tell the bridge that the armed set or the state changed (under mu). */
static void move_ctl(struct shmipc__evloop *ev)
{
  /* full: the new set (and quit) before the move; pairs with the acquire
   * load in bridge_main() */
  (void)shmipc__fetch_add_full32(&ev->ctl, 1);
  shmipc__evos_kick(ev->os, &ev->ctl);
}

/* The loop's thread is counted from its first arm on (see the header);
 * a look at closing follows (under mu). */
static void count_loop(struct shmipc__evloop *ev)
{
  if (ev->counted)
    return;
  shmipc__count(shmipc__host_ep(ev->h));
  ev->counted = true;
  ev->loop_thread = &loop_tag;
}

/* The host is being destroyed: the loop learns it and is counted out
 * (under mu). */
static int closed(struct shmipc__evloop *ev)
{
  if (ev->counted) {
    ev->counted = false;
    shmipc__uncount(shmipc__host_ep(ev->h));
  }
  return shmipc__fail(SHMIPC_E_CLOSED, "the host is being destroyed");
}

int shmipc_host_event_handle(shmipc_host *h, intptr_t *out)
{
  struct shmipc__evloop *ev, *old;
  uint32_t cap;
  int r;

  if (out != NULL)
    *out = -1;
  if (h == NULL || out == NULL)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, h == NULL ? "h is NULL" : "out is NULL"));
  if (shmipc__load_acquire32(&shmipc__host_ep(h)->closing))
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_CLOSED, "the host is being destroyed"));
  ev = get_ev(h);
  if (ev != NULL) {
    *out = ev->handle;
    return SHMIPC_OK;
  }
  cap = shmipc__host_ep(h)->seg.geom.host_slots + 1;
  ev = calloc(1, sizeof *ev);
  if (ev == NULL)
    return shmipc__failed(SHMIPC_E_NOMEM);
  ev->h = h;
  ev->sl = calloc(cap, sizeof *ev->sl);
  ev->gens = calloc(cap, sizeof *ev->gens);
  ev->aborts = calloc(cap, sizeof *ev->aborts);
  if (ev->sl == NULL || ev->gens == NULL || ev->aborts == NULL) {
    r = SHMIPC_E_NOMEM;
    goto err_mem;
  }
  if ((r = shmipc__mutex_create(&ev->mu)) != SHMIPC_OK)
    goto err_mem;
  if ((r = shmipc__evos_open(&ev->os, &ev->handle)) != SHMIPC_OK)
    goto err_mutex;
  /* full: publishes the state; pairs with the acquire in get_ev(). Two
   * threads may make one at once: one wins, the other frees its own. */
  old = shmipc__cas_full_ptr(shmipc__host_evloop(h), NULL, ev);
  if (old != NULL) {
    shmipc__evos_close(ev->os);
    shmipc__mutex_destroy(ev->mu);
    free(ev->aborts);
    free(ev->gens);
    free(ev->sl);
    free(ev);
    ev = old;
  }
  *out = ev->handle;
  return SHMIPC_OK;

err_mutex:
  shmipc__mutex_destroy(ev->mu);
err_mem:
  free(ev->aborts);
  free(ev->gens);
  free(ev->sl);
  free(ev);
  return shmipc__failed(r == SHMIPC_E_NOMEM
                            ? r
                            : shmipc__fail(r, "making the event-loop handle"));
}

/* The arguments of shmipc_host_event_arm(). */
static int arm_check(shmipc_host *h, shmipc_slot *const *slots, size_t n,
                     int64_t spin_ns)
{
  struct shmipc__endpoint *ep;
  size_t i;

  if (h == NULL)
    return shmipc__fail(SHMIPC_E_INVALID, "h is NULL");
  if (slots == NULL && n > 0)
    return shmipc__fail(SHMIPC_E_INVALID, "slots is NULL");
  if (spin_ns < 0 && spin_ns != SHMIPC_TIMEOUT_DEFAULT)
    return shmipc__fail_timeout("spin_ns", spin_ns);
  ep = shmipc__host_ep(h);
  if (n > ep->seg.geom.host_slots)
    return shmipc__fail(SHMIPC_E_TOO_BIG, "%lu slots, the host has %lu",
                        (unsigned long)n,
                        (unsigned long)ep->seg.geom.host_slots);
  for (i = 0; i < n; i++) {
    uint32_t st;

    if (slots[i] == NULL)
      return shmipc__fail(SHMIPC_E_INVALID, "slots[%lu] is NULL",
                          (unsigned long)i);
    if (slots[i]->ep != ep)
      return shmipc__fail(SHMIPC_E_INVALID, "slots[%lu] is of another host",
                          (unsigned long)i);
    st = shmipc__load_acquire32(&slots[i]->state);
    if (st != SHMIPC__REC_SENT && st != SHMIPC__REC_DONE)
      return shmipc__fail(SHMIPC_E_STATE, "nothing was published on slots[%lu]",
                          (unsigned long)i);
  }
  if (get_ev(h) == NULL)
    return shmipc__fail(SHMIPC_E_STATE, "no event-loop handle was made "
                                        "(shmipc_host_event_handle())");
  return SHMIPC_OK;
}

/* Set @bit, the waiter's announce, in @word, leaving the value with it in
 * *@out; false (nothing set) when @s is a slot whose call ended first. */
static bool announce_bit(uint32_t *word, uint32_t bit, shmipc_slot *s,
                         uint32_t *out)
{
  uint32_t v, old;

  for (v = shmipc__load_acquire32(word);; v = old) {
    if (s != NULL && slot_ended(s, v))
      return false;
    if (v & bit)
      break;
    /* full: the announce, as in shmipc__wait_word() for a slot and
     * serve_once() (host.c) for the doorbell; pairs with the CAS of the
     * side that moves the word next (the responder's publish CAS in
     * shmipc__respond(), the ring's CAS in shmipc__ring_doorbell()),
     * which then sees the bit and wakes the word */
    old = shmipc__cas_full32(word, v, v | bit);
    if (old == v) {
      v |= bit;
      break;
    }
  }
  *out = v;
  return true;
}

/* Announce the sleep on each slot word of @slots and on the doorbell
 * (@bell), into ev->sl (under mu): false when a word moved so that the
 * loop must look (a call ended). */
static bool announce(struct shmipc__evloop *ev, shmipc_slot *const *slots,
                     size_t n, bool bell)
{
  uint32_t k = 0, v, *word;
  size_t i;

  for (i = 0; i < n; i++) {
    shmipc_slot *s = slots[i];

    if (shmipc__load_acquire32(&s->state) != SHMIPC__REC_SENT)
      return false;
    word = &s->w->ctrl;
    if (!announce_bit(word, SHMIPC_CTRL_REQUESTER_WAITING, s, &v))
      return false;
    ev->sl[k].word = word;
    ev->sl[k].expected = v;
    ev->sl[k].bit = SHMIPC_CTRL_REQUESTER_WAITING;
    ev->gens[k] = s->gen_word & GEN_MASK;
    ev->aborts[k] = &s->abort;
    k++;
  }
  ev->n_slots = k;
  if (bell) {
    word = &shmipc__hdr(&shmipc__host_ep(ev->h)->seg)->doorbell;
    (void)announce_bit(word, SHMIPC_DOORBELL_LISTENER_WAITING, NULL, &v);
    ev->sl[k].word = word;
    ev->sl[k].expected = v;
    ev->sl[k].bit = SHMIPC_DOORBELL_LISTENER_WAITING;
    ev->gens[k] = 0;
    ev->aborts[k] = NULL;
    k++;
  }
  ev->n = k;
  ev->bell = bell;
  return true;
}

int shmipc_host_event_arm(shmipc_host *h, shmipc_slot *const *slots, size_t n,
                          int64_t spin_ns)
{
  struct shmipc__evloop *ev;
  struct shmipc__endpoint *ep;
  bool bell;
  int r;

  r = arm_check(h, slots, n, spin_ns);
  if (r != SHMIPC_OK)
    return shmipc__failed(r);
  ev = get_ev(h);
  ep = shmipc__host_ep(h);
  bell = with_bell(h);
  shmipc__mutex_lock(ev->mu);
  count_loop(ev);
  /* acquire: pairs with the release store in shmipc_host_destroy() */
  if (shmipc__load_acquire32(&ep->closing)) {
    r = closed(ev);
    shmipc__mutex_unlock(ev->mu);
    return shmipc__failed(r);
  }
  /* The arm before is over (fired or not). */
  ev->armed = false;
  if (ev->fired) {
    ev->fired = false;
    shmipc__evos_reset(ev->os);
  }
  shmipc__mutex_unlock(ev->mu);

  /* The spin: looks only, no announce, so that a prompt guest needs no
   * wake-up. */
  if (spin_ns != 0) {
    int64_t budget = spin_ns;
    struct shmipc__deadline dl;
    uint32_t i;

    if (spin_ns == SHMIPC_TIMEOUT_DEFAULT)
      budget = INT64_MAX; /* counted in looks below */
    dl = shmipc__deadline(budget);
    for (i = 1;; i++) {
      if (ready_now(h, slots, n, bell))
        return 1;
      if (spin_ns == SHMIPC_TIMEOUT_DEFAULT && i >= ep->spin_budget)
        break;
      if (i % SPIN_CLOCK_EVERY == 0) {
        if (shmipc__left(&dl, shmipc__now_ns()) == 0)
          break;
        shmipc__yield();
      } else {
        shmipc__cpu_pause();
      }
    }
  }
  if (ready_now(h, slots, n, bell))
    return 1;

  shmipc__mutex_lock(ev->mu);
  /* Announce, then look again: what moved before the announce is seen
   * here, what moves after it wakes the word. */
  if (!announce(ev, slots, n, bell)) {
    shmipc__mutex_unlock(ev->mu);
    return 1;
  }
  /* full: the announces (some were set already, by an arm before) before
   * the look; pairs with the guest's transition CASes */
  shmipc__fence_full();
  if (ready_now(h, slots, n, bell)) {
    shmipc__mutex_unlock(ev->mu);
    return 1;
  }
  if (ev->bridge == NULL &&
      shmipc__thread_start(&ev->bridge, bridge_main, ev) != SHMIPC_OK) {
    ev->bridge = NULL;
    shmipc__mutex_unlock(ev->mu);
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_SYSTEM, "starting the event-loop thread"));
  }
  ev->armed = true;
  shmipc__ctr_add(&shmipc__side(ep)->other_sleeps, 1);
  move_ctl(ev);
  shmipc__mutex_unlock(ev->mu);
  return 0;
}

int shmipc_host_event_clear(shmipc_host *h)
{
  struct shmipc__evloop *ev;
  int r = SHMIPC_OK;

  if (h == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "h is NULL"));
  ev = get_ev(h);
  if (ev == NULL)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_STATE,
        "no event-loop handle was made (shmipc_host_event_handle())"));
  shmipc__mutex_lock(ev->mu);
  ev->armed = false;
  ev->fired = false;
  shmipc__evos_reset(ev->os);
  /* acquire: pairs with the release store in shmipc_host_destroy() */
  if (shmipc__load_acquire32(&shmipc__host_ep(h)->closing))
    r = closed(ev);
  shmipc__mutex_unlock(ev->mu);
  return shmipc__failed(r);
}

void shmipc__evloop_closing(shmipc_host *h)
{
  struct shmipc__evloop *ev = get_ev(h);

  if (ev == NULL)
    return;
  shmipc__mutex_lock(ev->mu);
  fire(ev);
  move_ctl(ev);
  /* On the loop's own thread the loop is not in its wait: count it out. */
  if (ev->counted && ev->loop_thread == &loop_tag) {
    ev->counted = false;
    shmipc__uncount(shmipc__host_ep(h));
  }
  shmipc__mutex_unlock(ev->mu);
}

void shmipc__evloop_free(shmipc_host *h)
{
  struct shmipc__evloop *ev = get_ev(h);

  if (ev == NULL)
    return;
  shmipc__mutex_lock(ev->mu);
  ev->quit = true;
  move_ctl(ev);
  shmipc__mutex_unlock(ev->mu);
  if (ev->bridge != NULL)
    shmipc__thread_join(ev->bridge);
  shmipc__evos_close(ev->os);
  shmipc__mutex_destroy(ev->mu);
  free(ev->aborts);
  free(ev->gens);
  free(ev->sl);
  free(ev);
  *shmipc__host_evloop(h) = NULL;
}
