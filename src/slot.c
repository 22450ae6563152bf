/* SPDX-License-Identifier: MIT */
/*
 * The slot state machine of docs/PROTOCOL.md: the requester half (claim,
 * publish, wait, cancel, quarantine, release) and the responder half (take,
 * answer). The same code serves host slots (host asks) and guest slots
 * (guest asks).
 *
 * The requester's private record of a slot (struct shmipc_slot) has one
 * state, s->state (enum shmipc__rec). A record is held by one thread at a
 * time, whatever the shared word says: a peer that writes FREE over a slot
 * in use must not make this side hand that slot to a second thread. A
 * claimer takes a released record by a CAS on s->state; the holder moves it
 * with relaxed stores (nobody else reads a held record's fields) and gives
 * it up with one release store in park(), which also tells the threads
 * waiting for a free slot. "gen" below is gen_word's generation.
 *
 *   state          moved by, to                     the shared word reads
 *   -------------  -------------------------------  ----------------------
 *   IDLE           claim(): TAKEN; repair: TAKEN     FREE (or what a peer
 *                                                    wrote: repair mends it)
 *   REUSE_CONSUMED claim(): DEFERRED, reading        RESP_READY of gen, with
 *                  nothing; repair: TAKEN            SW perhaps; only we
 *                                                    move it
 *   REUSE_LATE     claim(), recover_lost(), repair:  PROCESSING of gen until
 *                  TAKEN                             the late answer, then
 *                                                    RESP_READY of gen; or
 *                                                    what a peer wrote
 *   TAKEN          its taker: CLAIMED or DEFERRED    as in the state it was
 *                  (claimed), IDLE (it freed the     taken from, or FREE
 *                  word), REUSE_LATE (repair         once freed
 *                  quarantines), else back as it was
 *   CLAIMED        holder: SENT (publish); IDLE      CLAIMED of gen
 *                  (release frees the word)
 *   DEFERRED       holder: SENT (publish);           RESP_READY of gen, SW
 *                  REUSE_CONSUMED (release)          perhaps
 *   SENT           holder: DONE, LOST, CLAIMED       REQ_READY of gen, then
 *                  (the wait or abandon())           PROCESSING, RESP_READY
 *   DONE           holder: REUSE_CONSUMED (release)  RESP_READY of gen
 *   LOST           holder: REUSE_LATE (release)      PROCESSING, RESP_READY
 *                                                    of an answer that
 *                                                    failed its checks, or
 *                                                    what a peer wrote
 *
 * A release of CLAIMED or DEFERRED whose word a peer changed parks the
 * record REUSE_LATE, like a lost call: the next claim reads the word, and
 * recover_lost() or a repair frees it.
 *
 * What the wire allows and this library does on top of it:
 * - The reuse mark. Releasing a slot after its answer was read does not
 *   write the word back to FREE: the record is parked REUSE_CONSUMED, and
 *   the next claim claims over the answer. Idle slots therefore usually
 *   read RESP_READY, not FREE; a responder never cares, it waits for
 *   REQ_READY.
 * - The deferred claim. A claim over RESP_READY of our generation writes
 *   nothing: the record alone says the slot is ours (no other thread can
 *   claim it, and the responder never moves RESP_READY), and the publish
 *   moves RESP_READY(g) -> REQ_READY(g+1) in one CAS. That is one write of
 *   the word less per call, made while the responder watches it. The
 *   responder may still set SW meanwhile, so the publish is a CAS.
 * - Reading nothing over a consumed answer. A claim of a REUSE_CONSUMED
 *   record does not even read the word (the responder may be polling the
 *   line; the publish's CAS checks the word anyway). The new request is
 *   still ordered after the responder's reads of the old one: the thread
 *   that consumed the answer saw RESP_READY with acquire, and its release
 *   store of s->state hands that on to the claimer's CAS. Over a late
 *   answer (REUSE_LATE) the claimer reads the word with acquire only once
 *   it holds the record, and writes the request only after it saw
 *   RESP_READY: a value read before may predate a whole call by another
 *   thread (found by tests/model, STALE_CLAIM). An answer that failed its
 *   checks leaves the record LOST, so the next claim reads the word.
 */
#include <stdio.h>
#include <string.h>

#include "atomic.h"
#include "internal.h"
#include "stats.h"
#include "waitstats.h"

#define WAIT_BITS                                                              \
  (SHMIPC_CTRL_REQUESTER_WAITING | SHMIPC_CTRL_RESPONDER_WAITING)
/* ep->free_seq (private memory): a counter and a "someone waits" bit,
 * laid out like the doorbell word. */
#define FREE_WAITING SHMIPC_DOORBELL_LISTENER_WAITING
#define FREE_COUNT_MASK SHMIPC_DOORBELL_COUNTER_MASK
#define GEN_MASK (~(uint32_t)0 << SHMIPC_CTRL_GEN_SHIFT)
/* Longest sleep of a thread waiting for a free slot: late responses make
 * quarantined slots claimable without notifying, so we look this often. */
#define FREE_WAIT_CAP_NS INT64_C(1000000)
/* Claim attempts (a pause apart) before a thread that found no free slot
 * reads the clock and announces that it waits. */
#define ACQUIRE_SPINS 64u

/* A function off the fast path of a call: kept out of line, so that the
 * fast path saves no registers for it. */
#if defined(__GNUC__)
#define SLOW_PATH __attribute__((noinline, cold))
#elif defined(_MSC_VER)
#define SLOW_PATH __declspec(noinline)
#else
#define SLOW_PATH
#endif

static inline uint32_t with_state(uint32_t v, uint32_t state, uint32_t clear)
{
  return (v & ~(SHMIPC_CTRL_STATE_MASK | clear)) | state;
}

/* Whether a record in state @st is held by a thread of ours. */
static inline bool held(uint32_t st) { return st >= SHMIPC__REC_TAKEN; }

/* The holder moves its record: nobody else reads a held record's state
 * but to see that it is held. */
static inline void set_state(shmipc_slot *s, uint32_t st)
{
  shmipc__store_relaxed32(&s->state, st);
}

/* The holder's own look at its record's state. */
static inline uint32_t get_state(const shmipc_slot *s)
{
  return shmipc__load_relaxed32(&s->state);
}

/* Preferred slot of this thread: a thread that keeps finding its slot free
 * keeps a 1:1 mapping and never contends with others. Read on every
 * acquire: on ELF, the initial-exec model makes that one load off the
 * thread pointer instead of a call to __tls_get_addr (the general model
 * of a shared library); the four bytes fit the static TLS surplus that
 * a loader keeps for libraries opened later. */
#if defined(__GNUC__) && defined(__ELF__)
static SHMIPC__THREAD_LOCAL uint32_t slot_hint
    __attribute__((tls_model("initial-exec")));
#else
static SHMIPC__THREAD_LOCAL uint32_t slot_hint;
#endif

/* Tell threads waiting for a free slot that one may be there. Called after
 * the slot was made claimable. Dekker-style with the waiter in
 * shmipc__slot_acquire(): we publish the slot, then look for the waiter's
 * announce; it announces, then looks for slots. The full fences make sure
 * at least one of us sees the other, so the common case (nobody waits)
 * costs a fence and a load of a line that stays shared, not a write. */
static void free_slot_notify(struct shmipc__endpoint *ep)
{
  uint32_t v, old;

  /* Ordered after the slot's release by the caller's full CAS (park()),
   * which pairs with the announce CAS in shmipc__slot_acquire(). */
  v = shmipc__load_relaxed32(&ep->free_seq);
  if (!(v & FREE_WAITING))
    return;
  for (;; v = old) {
    old = shmipc__cas_full32(&ep->free_seq, v, (v + 1) & FREE_COUNT_MASK);
    if (old == v)
      break;
  }
  shmipc__ctr_add(&shmipc__side(ep)->other_wakes, 1);
  shmipc__futex_wake(&ep->free_seq);
}

/* The end of every use of a record that may leave the slot claimable
 * (a release, a recovery, a repair): the record is given up in state
 * @kind (IDLE, REUSE_CONSUMED or REUSE_LATE), and the threads waiting for
 * a free slot are told, whatever the kind. A REUSE_LATE slot may be
 * claimable by now too (its late answer may be in), and telling costs a
 * fence and a load of a line that stays shared while nobody waits. */
static inline void park(shmipc_slot *s, uint32_t kind)
{
  /* full (release side): the record's fields written before are the next
   * holder's to read; pairs with the CAS on s->state in claim(),
   * recover_lost() and repair_one(). Full, not a release store and a
   * fence: one locked instruction orders the release before the look at
   * free_seq too (free_slot_notify()). Only the holder writes a held
   * record, so the CAS from the state it left cannot fail. */
  (void)shmipc__cas_full32(&s->state, get_state(s), kind);
  free_slot_notify(s->ep);
}

/* A record taken only to look at the word goes back as it was (@was):
 * nothing a waiter waits for has changed, so nobody is told. */
static void put_back(shmipc_slot *s, uint32_t was)
{
  /* release: pairs with the CAS on s->state in claim(), recover_lost()
   * and repair_one() */
  shmipc__store_release32(&s->state, was);
}

/* Whether no guest lives that may have taken a slot whose word we just
 * read as PROCESSING, so that the slot is ours again. Called with the
 * record held, after that read (acquire). Only the kernel's word counts:
 * a guest takes its liveness lock before its attach CAS, and takes a slot
 * only after that, so a PROCESSING read before a look that finds the lock
 * free was not made by a guest that lives. The attach word proves nothing
 * here: any peer can write DETACHED or NONE into it while the guest that
 * took the slot is still inside its handler, and a slot freed then is
 * written by that handler under the next call (tests/hostile,
 * attach_word_lie_keeps_quarantine; tests/model, MUT_TRUST_ATTACH). A
 * guest that detached dropped its lock too. For a guest's requester side,
 * the host is gone (then the session ends anyway) or it answers what it
 * took. */
static bool taker_gone(struct shmipc__endpoint *ep)
{
  if (ep->role != SHMIPC__ROLE_HOST)
    return shmipc__peer_check(ep) == SHMIPC_E_PEER_GONE;
  /* 0: nobody holds the guest lock; an error counts as alive */
  return shmipc__guest_lock_held(ep) == 0;
}

/* A record about to be parked REUSE_LATE notes how many looks at the
 * guest lock had begun by then (see lost_taker_gone()). */
static inline void note_loss(shmipc_slot *s)
{
  /* full: pairs with the ticket's fetch-add in shmipc__guest_lock_held() */
  s->lost_look = shmipc__fetch_add_full32(&s->ep->guest_looks, 0);
}

/* Whether the guest that may still be inside quarantined slot @s
 * (REUSE_LATE, noted by note_loss()) is gone, judged on the word @v read
 * with the record held: no guest lives now, or one of our looks at the
 * guest lock made after the loss found none (then the guest that held it
 * at the loss has ended, even if another one has attached since: a guest
 * never takes the lock back). A PROCESSING needs the first: a peer may
 * have turned the word into a request that a live guest took. Whatever
 * else the word reads (FREE, an illegal word, another generation) may be
 * a peer's write while that guest is still in its handler. */
static bool lost_taker_gone(struct shmipc__endpoint *ep, shmipc_slot *s,
                            uint32_t v)
{
  if (shmipc__guest_gone_since(ep, s->lost_look) &&
      !(shmipc__ctrl_legal(v) &&
        shmipc__ctrl_state(v) == SHMIPC_SLOT_PROCESSING))
    return true;
  return taker_gone(ep);
}

/* Free the quarantined slots whose responder is gone: nobody can answer
 * them any more (docs/PROTOCOL.md, "Timeouts and quarantine", rule 3).
 * The mark is taken first, so the slot's private fields are ours to read
 * (the holder wrote them before its release store of the mark). Only the
 * end of the guest that may be inside counts, judged after the word is
 * read (see lost_taker_gone()): that the epoch of the loss has ended says
 * nothing of the word as it reads now (a peer may have turned it into a
 * request that the new guest took; tests/model, MUT_REPAIR_STEALS), nor
 * does a FREE a peer wrote over it. What the guest before
 * left in PROCESSING the new guest answers at attach
 * (shmipc__slot_inherit()). */
static void recover_lost(struct shmipc__endpoint *ep)
{
  uint32_t i, v;

  for (i = 0; i < ep->n_req; i++) {
    struct shmipc_slot *s = &ep->req_slots[i];

    /* A REUSE_CONSUMED record is claimable as it is; only a late answer
     * may never come.
     * full: pairs with the release store of s->state in park() or
     * put_back(); the record's fields are ours to read after it */
    if (shmipc__load_relaxed32(&s->state) != SHMIPC__REC_REUSE_LATE ||
        shmipc__cas_full32(&s->state, SHMIPC__REC_REUSE_LATE,
                           SHMIPC__REC_TAKEN) != SHMIPC__REC_REUSE_LATE)
      continue;
    v = shmipc__load_acquire32(&s->w->ctrl);
    /* Answered after all (claimable, keep the mark), or the responder
     * may still write it. Otherwise whatever it left (PROCESSING, or
     * garbage) is ours: a new generation makes any CAS prepared against
     * the old one fail. A CAS that fails leaves it for the next look.
     * full: pairs with the next claim CAS in claim() */
    if ((shmipc__ctrl_state(v) != SHMIPC_SLOT_RESP_READY ||
         (v & GEN_MASK) != (s->gen_word & GEN_MASK)) &&
        lost_taker_gone(ep, s, v) &&
        shmipc__cas_full32(&s->w->ctrl, v,
                           (((v & GEN_MASK) + SHMIPC_CTRL_GEN_ONE) & GEN_MASK) |
                               (v & SHMIPC_CTRL_RESPONDER_WAITING) |
                               SHMIPC_SLOT_FREE) == v) {
      shmipc__ctr_add(&shmipc__side(ep)->recovered, 1);
      park(s, SHMIPC__REC_IDLE);
      return;
    }
    /* Not yet: it stays quarantined. */
    put_back(s, SHMIPC__REC_REUSE_LATE);
  }
}

/* Bring requester slot @s back to a known state if no thread of ours holds
 * it (docs/PROTOCOL.md, "Repair"). A held record is left to its holder:
 * its call ends (answered, timed out or PEER_GONE) and its release
 * quarantines what it cannot vouch for. */
static void repair_one(struct shmipc__endpoint *ep, struct shmipc_slot *s)
{
  uint32_t was = shmipc__load_relaxed32(&s->state), v, old, st;

  if (held(was))
    return;
  v = shmipc__load_acquire32(&s->w->ctrl);
  if (was == SHMIPC__REC_IDLE && shmipc__ctrl_legal(v) &&
      shmipc__ctrl_state(v) == SHMIPC_SLOT_FREE)
    return; /* as it should be: no write, no record taken */
  /* full: pairs with the release store of s->state in park() or
   * put_back(); the record's fields are ours to read and write after it */
  if (shmipc__cas_full32(&s->state, was, SHMIPC__REC_TAKEN) != was)
    return;
  if (was == SHMIPC__REC_REUSE_LATE) {
    /* A lost call (or a slot a peer wrote while we held it): the guest
     * that took it may still be inside its handler, whatever a peer wrote
     * over the word since (FREE, an illegal word, another generation, a
     * new epoch in the attach word), and would write its answer under the
     * next call. Only its answer, or the end of the guest that may be
     * inside (lost_taker_gone()), frees it (docs/PROTOCOL.md, "Repair",
     * and quarantine rules 2 and 3). */
    v = shmipc__load_acquire32(&s->w->ctrl);
    if (shmipc__ctrl_legal(v) &&
        shmipc__ctrl_state(v) == SHMIPC_SLOT_RESP_READY &&
        (v & GEN_MASK) == (s->gen_word & GEN_MASK)) {
      park(s, was); /* its answer is in: claimable as it is */
      return;
    }
    if (!lost_taker_gone(ep, s, v)) {
      put_back(s, was);
      return;
    }
  }
  for (v = shmipc__load_acquire32(&s->w->ctrl);; v = old) {
    st = shmipc__ctrl_state(v);
    if (shmipc__ctrl_legal(v)) {
      if (st == SHMIPC_SLOT_FREE) {
        park(s, SHMIPC__REC_IDLE);
        return;
      }
      if (st == SHMIPC_SLOT_RESP_READY && was != SHMIPC__REC_IDLE &&
          (v & GEN_MASK) == (s->gen_word & GEN_MASK)) {
        /* Our own answer, consumed or late: claimable as it is. */
        park(s, was);
        return;
      }
      if (st == SHMIPC_SLOT_PROCESSING && !taker_gone(ep)) {
        /* The responder may still be inside it: the slot is quarantined
         * until its answer comes (claimed over that generation) or the
         * guest is gone. A new guest answers what an earlier one left. */
        s->gen_word = (v & GEN_MASK) | SHMIPC_SLOT_CLAIMED;
        note_loss(s);
        park(s, SHMIPC__REC_REUSE_LATE);
        return;
      }
    }
    /* Nobody of ours uses it and the responder cannot own it (CLAIMED,
     * REQ_READY, an answer nobody waits for, an illegal word, or a
     * PROCESSING whose taker is gone): FREE with a new generation, so
     * that a CAS prepared against the old word fails. A responder that
     * took a stray REQ_READY first keeps it (our CAS fails). SW stays:
     * a responder asleep on the word is woken by the next publish.
     * full: pairs with the next claim CAS in claim() */
    old = shmipc__cas_full32(
        &s->w->ctrl, v,
        (((v & GEN_MASK) + SHMIPC_CTRL_GEN_ONE) & GEN_MASK) |
            (v & SHMIPC_CTRL_RESPONDER_WAITING) | SHMIPC_SLOT_FREE);
    if (old == v) {
      if (was == SHMIPC__REC_REUSE_LATE)
        shmipc__ctr_add(&shmipc__side(ep)->recovered, 1);
      park(s, SHMIPC__REC_IDLE);
      return;
    }
  }
}

void shmipc__slot_repair(struct shmipc__endpoint *ep)
{
  uint32_t i;

  for (i = 0; i < ep->n_req; i++)
    repair_one(ep, &ep->req_slots[i]);
}

void shmipc__slot_inherit(struct shmipc__endpoint *ep)
{
  static const char why[] = "shmipc: the guest that took this request is gone";
  const struct shmipc__geom *g = &ep->seg.geom;
  uint32_t i, v, old;
  size_t n =
      sizeof why - 1 < g->resp_capacity ? sizeof why - 1 : g->resp_capacity;

  for (i = 0; i < g->host_slots; i++) {
    struct shmipc_wire_slot *w = shmipc__wslot(&ep->seg, i);

    v = shmipc__load_acquire32(&w->ctrl);
    if (!shmipc__ctrl_legal(v) ||
        shmipc__ctrl_state(v) != SHMIPC_SLOT_PROCESSING)
      continue;
    /* Taken by a guest that is gone (we hold the guest lock, and a guest
     * that detached had answered all it took): the responder side is
     * ours, and no thread of ours serves yet. */
    memcpy(shmipc__resp_buf(&ep->seg, i), why, n);
    w->resp_type = SHMIPC_MSG_SYSTEM_ERROR;
    w->resp_size = (uint32_t)n;
    w->resp_flags = 0;
    w->resp_seq = w->req_seq;
    shmipc__ctr_served(shmipc__slot_counters(&ep->seg, i), true);
    for (;; v = old) {
      /* full (release side): publishes the answer, as in
       * shmipc__respond() */
      old = shmipc__cas_full32(
          &w->ctrl, v,
          with_state(v, SHMIPC_SLOT_RESP_READY, SHMIPC_CTRL_REQUESTER_WAITING));
      if (old == v) {
        if (v & SHMIPC_CTRL_REQUESTER_WAITING)
          shmipc__word_wake(&ep->seg, &w->ctrl, SHMIPC_CTRL_REQUESTER_WAITING);
        break;
      }
      if ((old & ~WAIT_BITS) != (v & ~WAIT_BITS))
        break; /* the host repaired it meanwhile */
    }
  }
}

/* One load of a word that changes only at attach and detach, on every
 * acquire. */
void shmipc__slot_repair_epoch(struct shmipc__endpoint *ep)
{
  uint32_t a, seen;

  if (ep->role != SHMIPC__ROLE_HOST)
    return;
  /* acquire: pairs with the guest's attach CAS in set_attach() */
  a = shmipc__load_acquire32(&shmipc__hdr(&ep->seg)->attach) &
      (SHMIPC_ATTACH_STATE_MASK | SHMIPC_ATTACH_EPOCH_MASK);
  seen = shmipc__load_relaxed32(&ep->repaired_attach);
  if (a == seen || shmipc__cas_full32(&ep->repaired_attach, seen, a) != seen)
    return;
  shmipc__ctr_attach_seen(ep, a);
  shmipc__slot_repair(ep);
}

/* Whether word @v of slot @s, whose record this thread took from state
 * @was (IDLE or REUSE_LATE), can be claimed. FREE can over an idle record
 * only: over a lost call it is a peer's word, not the end of the handler
 * that may still write its answer (recover_lost() frees the slot once that
 * guest is gone; tests/hostile, attach_word_lie_keeps_quarantine).
 * RESP_READY can over a late answer of our own generation (the deferred
 * claim), and over an idle record: an answer that nobody of ours waits
 * for (the previous guest's last guest call, answered after it went),
 * which the responder is done with. Anything else is a late answer not
 * yet in, or a word a peer spoiled. */
static bool claimable(const shmipc_slot *s, uint32_t was, uint32_t v)
{
  if (!shmipc__ctrl_legal(v))
    return false;
  switch (shmipc__ctrl_state(v)) {
  case SHMIPC_SLOT_FREE:
    return was == SHMIPC__REC_IDLE;
  case SHMIPC_SLOT_RESP_READY:
    return was == SHMIPC__REC_IDLE ||
           (v & GEN_MASK) == (s->gen_word & GEN_MASK);
  default:
    return false;
  }
}

/* Claim slot @s if it is claimable: FREE, or RESP_READY of our own
 * generation under the reuse mark (see the table at the top). Whoever
 * claims a marked slot takes the mark first, whatever the word says, so a
 * mark never outlives the use it was set for (a hostile FREE over a
 * quarantined slot must not let the old mark hand the next use out
 * twice). */
static bool claim(struct shmipc_slot *s)
{
  uint32_t old, was, v = 0;

  /* The private half first: whatever a peer writes into the shared word
   * (a FREE over a slot we hold, say), one thread at a time holds @s. */
  was = shmipc__load_relaxed32(&s->state);
  if (held(was))
    return false;
  if (was == SHMIPC__REC_IDLE) {
    v = shmipc__load_acquire32(&s->w->ctrl);
    if (shmipc__ctrl_state(v) != SHMIPC_SLOT_FREE &&
        shmipc__ctrl_state(v) != SHMIPC_SLOT_RESP_READY)
      return false; /* spoiled: shmipc__slot_repair() brings it back */
  }
  /* A consumed answer is claimed by this CAS alone (DEFERRED): the word
   * reads RESP_READY of our generation, with SW perhaps, and only we may
   * move it; the publish's CAS checks it.
   * full: pairs with the release store of s->state in park() or
   * put_back(); the consumer's acquire load that saw the answer is
   * ordered before our request through it */
  if (shmipc__cas_full32(&s->state, was,
                         was == SHMIPC__REC_REUSE_CONSUMED
                             ? SHMIPC__REC_DEFERRED
                             : SHMIPC__REC_TAKEN) != was)
    return false;
  if (was == SHMIPC__REC_REUSE_CONSUMED) {
    s->gen_word = (s->gen_word & GEN_MASK) | SHMIPC_SLOT_RESP_READY;
    return true;
  }
  if (was == SHMIPC__REC_REUSE_LATE) {
    /* A late answer may have come in. The word is read only now that we
     * hold the record: a value read before may predate a whole call by
     * another thread (found by tests/model, STALE_CLAIM). */
    v = shmipc__load_acquire32(&s->w->ctrl);
  }
  for (; claimable(s, was, v); v = old) {
    uint32_t nv;

    if (shmipc__ctrl_state(v) == SHMIPC_SLOT_RESP_READY &&
        was == SHMIPC__REC_REUSE_LATE) {
      /* The late answer is in: nobody else may write this slot until we
       * publish, so the claim is deferred to the publish, as for a
       * consumed answer. */
      s->gen_word = v & ~WAIT_BITS;
      set_state(s, SHMIPC__REC_DEFERRED);
      shmipc__ctr_add(&shmipc__side(s->ep)->late_dropped, 1);
      return true;
    }
    /* FREE, or an answer over an idle record: the responder is done with
     * it, so a CAS claims it. Every claim makes a new generation, so that
     * a CAS prepared against an older use of this slot can no longer
     * succeed. Our own stale RW goes. */
    nv = (((v & GEN_MASK) + SHMIPC_CTRL_GEN_ONE) & GEN_MASK) |
         (v & SHMIPC_CTRL_RESPONDER_WAITING) | SHMIPC_SLOT_CLAIMED;
    /* full: the claim; pairs with the previous user's release (the CAS to
     * FREE, or the responder's publish of the RESP_READY we reuse) */
    old = shmipc__cas_full32(&s->w->ctrl, v, nv);
    if (old == v) {
      s->gen_word = nv & ~WAIT_BITS;
      set_state(s, SHMIPC__REC_CLAIMED);
      return true;
    }
  }
  /* Not claimable after all (a late answer not yet in, or a word a peer
   * spoiled): the record keeps its mark; recover_lost() frees the slot
   * once the peer that could write it is gone. */
  put_back(s, was);
  return false;
}

static struct shmipc_slot *try_claim(struct shmipc__endpoint *ep)
{
  uint32_t k, n = ep->n_req, start = slot_hint;

  if (start >= n) /* a hint from another handle: no division as a rule */
    start %= n;

  for (k = 0; k < n; k++) {
    uint32_t i = start + k < n ? start + k : start + k - n;
    struct shmipc_slot *s = &ep->req_slots[i];

    if (claim(s)) {
      /* a new use: an abort of an earlier one is over */
      shmipc__store_relaxed32(&s->abort, 0);
      if (i != start)
        slot_hint = i;
      return s;
    }
  }
  return NULL;
}

/* No slot was free at the first look: recover, spin, then sleep until
 * one is (the rest of shmipc__slot_acquire(), kept out of its fast path). */
static SLOW_PATH int acquire_slow(struct shmipc__endpoint *ep,
                                  struct shmipc__deadline *dl,
                                  const uint32_t *stop, bool *counted,
                                  struct shmipc_slot **out)
{
  struct shmipc_slot *s;
  int64_t left;
  uint32_t seen, i;

  recover_lost(ep);
  /* A short spin first: with more threads than slots, a slot usually
   * frees within a round trip. */
  for (i = 0; i < ACQUIRE_SPINS && dl->budget != 0; i++) {
    shmipc__cpu_pause();
    if ((s = try_claim(ep)) != NULL) {
      *out = s;
      return SHMIPC_OK;
    }
  }
  for (;;) {
    if ((s = try_claim(ep)) != NULL)
      break;
    if (dl->budget == 0)
      return SHMIPC_E_TIMEOUT;
    /* Slow path only: the clock is read once we know we must wait. */
    left = shmipc__left(dl, shmipc__now_ns());
    if (left == 0)
      return SHMIPC_E_TIMEOUT;
    /* Counted before the look at closing (see shmipc__ep_quiesce()). */
    if (counted != NULL && !*counted) {
      shmipc__count(ep);
      *counted = true;
    }
    if (shmipc__load_acquire32(&ep->closing) ||
        (stop != NULL && shmipc__load_acquire32(stop)))
      return SHMIPC_E_CLOSED;
    if (shmipc__load_acquire32(&ep->peer_gone)) /* acquire: as above */
      return SHMIPC_E_PEER_GONE;
    /* Announce, then look again (see free_slot_notify()).
     * acquire: read before the look at the abort flag below; an abort
     * raised after that look moves free_seq (shmipc__abort_raise()), so
     * the futex wait on @seen returns at once */
    seen = shmipc__load_acquire32(&ep->free_seq);
    if (!(seen & FREE_WAITING)) {
      /* full: pairs with the fence in free_slot_notify() */
      if (shmipc__cas_full32(&ep->free_seq, seen, seen | FREE_WAITING) != seen)
        continue;
      seen |= FREE_WAITING;
    }
    if ((s = try_claim(ep)) != NULL)
      break;
    if (shmipc__aborted(ep, true, NULL) != SHMIPC_OK)
      return SHMIPC_E_ABORTED;
    recover_lost(ep);
    /* Late answers free quarantined slots without notifying: look again
     * at least every FREE_WAIT_CAP_NS. */
    shmipc__ctr_add(&shmipc__side(ep)->other_sleeps, 1);
    shmipc__futex_wait(&ep->free_seq, seen,
                       left < FREE_WAIT_CAP_NS ? left : FREE_WAIT_CAP_NS);
  }
  *out = s;
  return SHMIPC_OK;
}

int shmipc__slot_acquire(struct shmipc__endpoint *ep,
                         struct shmipc__deadline *dl, const uint32_t *stop,
                         bool *counted, struct shmipc_slot **out)
{
  struct shmipc_slot *s;

  if (ep->n_req == 0)
    return SHMIPC_E_INVALID;
  if (shmipc__load_acquire32(&ep->closing))
    return SHMIPC_E_CLOSED;
  /* acquire: pairs with shmipc__abort_raise() (the same line as closing) */
  if (shmipc__load_acquire32(&ep->aborted))
    return SHMIPC_E_ABORTED;
  /* acquire: pairs with the latch's release store in shmipc__peer_check()
   * (a guest's only; a host's stays 0) */
  if (shmipc__load_acquire32(&ep->peer_gone))
    return SHMIPC_E_PEER_GONE;
  shmipc__slot_repair_epoch(ep);
  s = try_claim(ep);
  if (s == NULL)
    return acquire_slow(ep, dl, stop, counted, out);
  *out = s;
  return SHMIPC_OK;
}

/* shmipc_slot_publish() with the deadline word @dlw of the call
 * (shmipc__deadline_word(); 0 when the publish does not know it). */
static inline int publish(shmipc_slot *s, uint32_t type, size_t len,
                          uint32_t flags, uint64_t dlw)
{
  struct shmipc__endpoint *ep;
  uint32_t v, old, st;

  if (s == NULL || (flags & ~SHMIPC_F_END_ALIGNED) != 0)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, s == NULL ? "s is NULL" : "unknown flags"));
  st = get_state(s);
  if (st != SHMIPC__REC_CLAIMED && st != SHMIPC__REC_DEFERRED)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_STATE, "the slot was published already since its acquire"));
  ep = s->ep;
  if (len > ep->seg.geom.req_capacity)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_TOO_BIG, "%llu bytes, capacity %lu", (unsigned long long)len,
        (unsigned long)ep->seg.geom.req_capacity));
  s->w->req_type = type;
  s->w->req_size = (uint32_t)len;
  s->w->req_flags =
      (flags & SHMIPC_F_END_ALIGNED) ? SHMIPC_WIRE_END_ALIGNED : 0;
  s->w->req_seq = ++s->seq;
  s->w->req_time = 0; /* until the wait leaves its spin phase */
  /* A new word for a new call: a cancel mark of the call before goes
   * (docs/PROTOCOL.md, "Deadline and cancel"). Published by the CAS
   * below, as the fields above; relaxed only because the mark of an
   * abandoned call is stored beside the responder's loads. */
  shmipc__store_relaxed64(&s->w->deadline, dlw);
  shmipc__ctr_bump(&s->ctr->req_calls);
  /* First guess: the word as we left it, no waiter bit. Reading it first
   * would fetch the line shared and then upgrade it: two transfers while the
   * responder polls it, where a CAS that fails tells us the value anyway. */
  for (v = s->gen_word;; v = old) {
    uint32_t nv;

    if ((v & ~WAIT_BITS) !=
        s->gen_word) /* the peer wrote a slot it does not own */
      return shmipc__failed(
          shmipc__fail(SHMIPC_E_CORRUPT,
                       "slot %lu: control word %#lx changed while we held it",
                       (unsigned long)s->index, (unsigned long)v));
    /* Deferred: claim and publish at once, a new generation (our stale
     * RW goes too). */
    nv = st == SHMIPC__REC_DEFERRED
             ? (((v & GEN_MASK) + SHMIPC_CTRL_GEN_ONE) & GEN_MASK) |
                   SHMIPC_SLOT_REQ_READY
             : with_state(v, SHMIPC_SLOT_REQ_READY,
                          SHMIPC_CTRL_RESPONDER_WAITING);
    /* full (release side): publishes the request fields and payload
     * written above; pairs with the responder's take CAS in
     * shmipc__respond(). Clears the responder's waiter bit. */
    old = shmipc__cas_full32(&s->w->ctrl, v, nv);
    if (old == v) {
      s->gen_word = (nv & GEN_MASK) | SHMIPC_SLOT_CLAIMED;
      break;
    }
  }
  s->woke_peer = (v & SHMIPC_CTRL_RESPONDER_WAITING) != 0;
  if (s->woke_peer) {
    shmipc__ctr_add(&s->ctr->req_wakes, 1);
    shmipc__word_wake(&ep->seg, &s->w->ctrl, SHMIPC_CTRL_RESPONDER_WAITING);
  }
  set_state(s, SHMIPC__REC_SENT);
  if (ep->role == SHMIPC__ROLE_GUEST) {
    /* Ring the doorbell after the publish above, so that a listener that
     * reads the doorbell before scanning either sees this slot or sees the
     * counter move. */
    shmipc__ring_doorbell(ep, false);
  }
  return SHMIPC_OK;
}

int shmipc_slot_publish(shmipc_slot *s, uint32_t type, size_t len,
                        uint32_t flags)
{
  /* The wait's timeout is not known yet: the wait writes the deadline as
   * its spin phase ends. */
  return publish(s, type, len, flags, 0);
}

/* The response is in (state RESP_READY of our generation): check it and
 * make it readable (DONE). An answer that fails its checks leaves the
 * record LOST, so that the next claim reads the word. */
static int take_response(shmipc_slot *s)
{
  const struct shmipc__geom *g = &s->ep->seg.geom;
  uint32_t size = s->w->resp_size, flags = s->w->resp_flags;

  /* resp_seq must echo the seq we published (our private copy: the
   * shared req_seq is the peer's to scribble on by now). */
  if (size > g->resp_capacity || (flags & ~SHMIPC_WIRE_FLAGS_KNOWN) != 0 ||
      s->w->resp_seq != s->seq) {
    set_state(s, SHMIPC__REC_LOST);
    return SHMIPC_E_CORRUPT;
  }
  SHMIPC__WS(ANSWER);
  set_state(s, SHMIPC__REC_DONE);
  shmipc__ctr_bump(&s->ctr->req_answered);
  s->resp_size = size;
  s->resp_type = s->w->resp_type;
  s->resp_data = (flags & SHMIPC_WIRE_END_ALIGNED)
                     ? s->resp + (g->resp_capacity - size)
                     : s->resp;
  return s->resp_type == SHMIPC_MSG_SYSTEM_ERROR ? SHMIPC_E_REMOTE : SHMIPC_OK;
}

/* The call ends without a response (timeout, peer gone, closing): take the
 * request back if the responder has not (CLAIMED), else the call is LOST:
 * the responder keeps the slot (it took the request, or wrote something
 * we cannot vouch for), and the release quarantines it until its answer
 * comes (from it, or from the guest after it at attach) or the guest
 * that may be inside is gone (lost_taker_gone()). */
static int abandon(shmipc_slot *s, int why)
{
  uint32_t v, old;

  for (v = shmipc__load_acquire32(&s->w->ctrl);; v = old) {
    if ((v & GEN_MASK) != (s->gen_word & GEN_MASK) || !shmipc__ctrl_legal(v)) {
      set_state(s, SHMIPC__REC_LOST);
      return SHMIPC_E_CORRUPT;
    }
    switch (shmipc__ctrl_state(v)) {
    case SHMIPC_SLOT_REQ_READY:
      /* full: the cancel; the responder's take CAS of the same value now
       * fails */
      old = shmipc__cas_full32(
          &s->w->ctrl, v,
          with_state(v, SHMIPC_SLOT_CLAIMED, SHMIPC_CTRL_REQUESTER_WAITING));
      if (old == v) {
        set_state(s, SHMIPC__REC_CLAIMED);
        shmipc__ctr_add(&shmipc__side(s->ep)->cancels, 1);
        return why;
      }
      break;
    case SHMIPC_SLOT_PROCESSING:
      /* The responder took it: mark the call given up, so that its
       * handler can stop early. Only we write the word (the responder
       * only reads it), so no CAS: the next publish writes it anew. */
      shmipc__store_relaxed64(&s->w->deadline,
                              shmipc__load_relaxed64(&s->w->deadline) |
                                  SHMIPC_DEADLINE_CANCELLED);
      set_state(s, SHMIPC__REC_LOST);
      shmipc__ctr_add(&shmipc__side(s->ep)->quarantined, 1);
      return why;
    case SHMIPC_SLOT_RESP_READY:
      return take_response(s); /* it made it after all */
    default:
      set_state(s, SHMIPC__REC_LOST);
      return SHMIPC_E_CORRUPT;
    }
  }
}

int shmipc__slot_wait(shmipc_slot *s, struct shmipc__deadline *dl,
                      const uint32_t *stop, bool *counted)
{
  /* Only the responder moves a published slot, and only this far. */
  struct shmipc__until u;
  /* The kernel often queues a woken thread on the waker's CPU; spinning
   * here would then delay the very answer we wait for. */
  struct shmipc__pace pace = {0, s->woke_peer, 0, counted, &s->crowded};
  uint32_t *ctrl = &s->w->ctrl, gen = s->gen_word & GEN_MASK, v, i = 0;
  uint32_t first = s->crowded ? SHMIPC__YIELD_CROWDED : SHMIPC__YIELD_EVERY;
  int r;

  /* The answer within the first yield period, looked for without the
   * general wait's set-up: the one word that answers our call (any
   * waiter bit aside) ends the wait, the two that mean "not yet" go on
   * spinning, anything else goes to the general wait below, which judges
   * it. The same loads and pauses as the first yield period there, so
   * the general wait takes over from where this one stopped. */
  if (!pace.yield_first && dl->budget != 0) {
    for (i = 1; i < first && i < s->ep->spin_budget; i++) {
      /* acquire: as in shmipc__wait_word() (pairs with the responder's
       * publish CAS in shmipc__respond()) */
      v = shmipc__load_acquire32(ctrl) & ~WAIT_BITS;
      if (v == (gen | SHMIPC_SLOT_RESP_READY)) {
        s->crowded = false; /* answered within the spin */
        r = take_response(s);
        if (r != SHMIPC_OK)
          shmipc__ctr_call_end(s->ep, r); /* REMOTE, CORRUPT */
        return r;
      }
      if (v != (gen | SHMIPC_SLOT_REQ_READY) &&
          v != (gen | SHMIPC_SLOT_PROCESSING))
        break;
      SHMIPC__WS(SPIN);
      shmipc__cpu_pause();
    }
    pace.spins_spent = i - 1;
  }
  u = shmipc__until_slot(ctrl, SHMIPC_SLOT_RESP_READY,
                         1u << SHMIPC_SLOT_REQ_READY |
                             1u << SHMIPC_SLOT_PROCESSING,
                         SHMIPC_CTRL_REQUESTER_WAITING);
  u.stop = stop;
  u.abortable = true;
  u.abort = &s->abort;
  u.sleeps = &s->ctr->req_sleeps;
  u.stamp = &s->w->req_time;
  u.deadline = &s->w->deadline;
  r = shmipc__wait_word(s->ep, &u, &pace, dl, &v);
  if (r == SHMIPC_OK) {
    if ((v & GEN_MASK) != (s->gen_word & GEN_MASK)) {
      set_state(s, SHMIPC__REC_LOST);
      r = SHMIPC_E_CORRUPT;
    } else {
      r = take_response(s);
    }
  } else if (r == SHMIPC_E_CORRUPT) {
    set_state(s, SHMIPC__REC_LOST);
  } else {
    r = abandon(s, r);
  }
  if (r != SHMIPC_OK)
    shmipc__ctr_call_end(s->ep, r);
  return r;
}

/* shmipc__timeout(), inlined on the path of every call. */
static inline int slot_timeout(const struct shmipc__endpoint *ep,
                               int64_t timeout_ns, struct shmipc__deadline *out)
{
  int64_t budget;
  int r = shmipc__budget(timeout_ns, ep->default_timeout_ns, &budget);

  if (r == SHMIPC_OK)
    *out = shmipc__deadline(budget);
  return r;
}

int shmipc_slot_wait(shmipc_slot *s, int64_t timeout_ns)
{
  struct shmipc__deadline dl;
  bool counted = false;
  int r;

  if (s == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "s is NULL"));
  if (get_state(s) != SHMIPC__REC_SENT)
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_STATE, "nothing was published on the slot"));
  r = slot_timeout(s->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
  r = shmipc__failed(shmipc__slot_wait(s, &dl, NULL, &counted));
  if (counted)
    shmipc__uncount(s->ep);
  return r;
}

/* One look at published slot @s (record SENT) without waiting: 1 when its
 * call ended (*r its result, the record moved as shmipc__slot_wait()
 * moves it: DONE, or LOST for a word no peer may write), 0 while the
 * request waits or is being served. */
static int look(shmipc_slot *s, int *r)
{
  /* acquire: as in shmipc__wait_word() (pairs with the responder's
   * publish CAS in shmipc__respond()) */
  uint32_t v = shmipc__load_acquire32(&s->w->ctrl);

  if (shmipc__ctrl_legal(v) && (v & GEN_MASK) == (s->gen_word & GEN_MASK)) {
    switch (shmipc__ctrl_state(v)) {
    case SHMIPC_SLOT_REQ_READY:
    case SHMIPC_SLOT_PROCESSING:
      return 0;
    case SHMIPC_SLOT_RESP_READY:
      *r = take_response(s);
      if (*r != SHMIPC_OK)
        shmipc__ctr_call_end(s->ep, *r); /* REMOTE, CORRUPT */
      return 1;
    default:
      break;
    }
  }
  set_state(s, SHMIPC__REC_LOST);
  *r = SHMIPC_E_CORRUPT;
  shmipc__ctr_call_end(s->ep, *r);
  return 1;
}

/* End the call of published slot @s without its answer, for @why (an
 * abort, a dead or closed peer), as a wait that ends so does. */
static int end_call(shmipc_slot *s, int why)
{
  int r = abandon(s, why);

  if (r != SHMIPC_OK)
    shmipc__ctr_call_end(s->ep, r);
  return r;
}

/* The result of a record that holds its answer (DONE). */
static int done_result(const shmipc_slot *s)
{
  return s->resp_type == SHMIPC_MSG_SYSTEM_ERROR ? SHMIPC_E_REMOTE : SHMIPC_OK;
}

int shmipc_slot_poll(shmipc_slot *s)
{
  uint32_t st;
  int r;

  if (s == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "s is NULL"));
  st = get_state(s);
  if (st == SHMIPC__REC_DONE)
    return (r = done_result(s)) == SHMIPC_OK ? 1 : shmipc__failed(r);
  if (st != SHMIPC__REC_SENT)
    return shmipc__failed(
        shmipc__fail(SHMIPC_E_STATE, "nothing was published on the slot"));
  if (!look(s, &r)) {
    r = shmipc__aborted(s->ep, true, &s->abort);
    if (r == SHMIPC_OK)
      r = shmipc__peer_check_paced(s->ep);
    if (r == SHMIPC_OK)
      return 0;
    r = end_call(s, r);
  }
  return r == SHMIPC_OK ? 1 : shmipc__failed(r);
}

/* Slots whose words one sleep of shmipc_slot_wait_any() covers; more are
 * looked at again every SHMIPC__WORDS_POLL_NS. */
#define WAIT_ANY_SLEEPERS 64u

/* One look at each published slot (record SENT) of a set: the test of
 * shmipc__slot_wait()'s first yield period (the one word that answers the
 * call ends it, the two that mean "not yet" go on), look() judging any
 * other word. 1 when a call ended: its index in *which, its result in *r
 * (the record moved as look() moves it). */
static int look_set(shmipc_slot *const *slots, size_t n, size_t *which, int *r)
{
  size_t i;

  for (i = 0; i < n; i++) {
    shmipc_slot *s = slots[i];
    uint32_t gen = s->gen_word & GEN_MASK;
    /* acquire: as in shmipc__wait_word() (pairs with the responder's
     * publish CAS in shmipc__respond()) */
    uint32_t v = shmipc__load_acquire32(&s->w->ctrl) & ~WAIT_BITS;

    if (v == (gen | SHMIPC_SLOT_REQ_READY) ||
        v == (gen | SHMIPC_SLOT_PROCESSING))
      continue;
    if (v == (gen | SHMIPC_SLOT_RESP_READY)) {
      *r = take_response(s);
      if (*r != SHMIPC_OK)
        shmipc__ctr_call_end(s->ep, *r); /* REMOTE, CORRUPT */
    } else if (!look(s, r)) {
      continue;
    }
    *which = i;
    return 1;
  }
  return 0;
}

/* The aborts a wait over a set looks at: the handle's (1, *r ABORTED,
 * *which untouched: every call stays in flight) or a slot's (1, that
 * call ended ABORTED, its index in *which). */
static int set_aborted(shmipc_slot *const *slots, size_t n, size_t *which,
                       int *r)
{
  struct shmipc__endpoint *ep = slots[0]->ep;
  size_t i;

  if (shmipc__aborted(ep, true, NULL) != SHMIPC_OK) {
    *r = SHMIPC_E_ABORTED;
    return 1;
  }
  for (i = 0; i < n; i++) {
    if (shmipc__aborted(ep, false, &slots[i]->abort) != SHMIPC_OK) {
      *which = i;
      *r = end_call(slots[i], SHMIPC_E_ABORTED);
      return 1;
    }
  }
  return 0;
}

/* The sleep phase of wait_any(): look at the set, the aborts and the peer
 * (paced), announce on every slot, look again, sleep on all of the words
 * and on abort_seq; until a call ends, the deadline or an abort. */
static int sleep_any(shmipc_slot *const *slots, size_t n,
                     struct shmipc__deadline *dl, bool *counted, size_t *which)
{
  struct shmipc__endpoint *ep = slots[0]->ep;
  struct shmipc__sleeper sl[WAIT_ANY_SLEEPERS];
  uint64_t now;
  uint32_t seq, v, k;
  size_t i, pending;
  int r;

  SHMIPC__WS(SLOW);
  if (!*counted) {
    /* counted before the look at closing (see shmipc__ep_quiesce()) */
    shmipc__count(ep);
    *counted = true;
  }
  /* the age shmipc-stat shows, from the first wait that slept */
  now = (uint64_t)shmipc__now_ns();
  for (i = 0; i < n; i++)
    if (shmipc__load_relaxed64(&slots[i]->w->req_time) == 0)
      shmipc__store_relaxed64(&slots[i]->w->req_time, now);
  for (;;) {
    /* acquire: read before the abort flags (shmipc__abort_raise()) */
    seq = shmipc__load_acquire32(&ep->abort_seq);
    if (look_set(slots, n, which, &r) || set_aborted(slots, n, which, &r))
      return r;
    int64_t left = shmipc__left(dl, shmipc__now_ns());
    if (left == 0)
      return SHMIPC_E_TIMEOUT;
    r = shmipc__peer_check_paced(ep);
    if (r != SHMIPC_OK) {
      *which = 0;
      return end_call(slots[0], r);
    }
    for (i = 0, k = 0, pending = 0; i < n; i++) {
      uint32_t *ctrl = &slots[i]->w->ctrl;

      pending++;
      v = shmipc__load_acquire32(ctrl);
      if (shmipc__ctrl_state(v) == SHMIPC_SLOT_RESP_READY ||
          !shmipc__ctrl_legal(v))
        break; /* looked at again below */
      if (!(v & SHMIPC_CTRL_REQUESTER_WAITING)) {
        /* full: the announce, as in shmipc__wait_word(); pairs with the
         * responder's publish CAS in shmipc__respond() */
        if (shmipc__cas_full32(ctrl, v, v | SHMIPC_CTRL_REQUESTER_WAITING) != v)
          break;
        v |= SHMIPC_CTRL_REQUESTER_WAITING;
      }
      if (k < WAIT_ANY_SLEEPERS) {
        sl[k].word = ctrl;
        sl[k].expected = v;
        sl[k].bit = SHMIPC_CTRL_REQUESTER_WAITING;
        k++;
      }
    }
    if (i < n || k == 0)
      continue; /* a word moved meanwhile: look again at once */
    shmipc__ctr_add(&shmipc__side(ep)->other_sleeps, 1);
    if (left > ep->liveness_ns)
      left = ep->liveness_ns;
    if (pending > k && left > SHMIPC__WORDS_POLL_NS)
      left = SHMIPC__WORDS_POLL_NS;
    shmipc__words_wait(&ep->seg, sl, k, &ep->abort_seq, seq, left);
  }
}

/* The wait of shmipc_slot_wait_any(), its arguments checked and every
 * record SENT: the index of the slot whose call ended in *which and its
 * result, or TIMEOUT or ABORTED (the handle's abort), every call still in
 * flight. The pace of shmipc__slot_wait() and shmipc__wait_word(), over
 * the set: a yield first when a publish since the last wait on one of the
 * slots woke the responder, then passes over the set a pause apart
 * without a clock read, a yield every SHMIPC__YIELD_EVERY passes (every
 * SHMIPC__YIELD_CROWDED once a yield gave the CPU away, counted as a
 * whole period of the budget) with the looks at the deadline and the
 * aborts, up to the spin budget; then sleep_any(). Each record of the set
 * keeps what the last wait on it learnt of the CPU (crowded). */
static int wait_any(shmipc_slot *const *slots, size_t n,
                    struct shmipc__deadline *dl, bool *counted, size_t *which)
{
  struct shmipc__endpoint *ep = slots[0]->ep;
  bool crowded = false, woke = false, yielded = false;
  uint32_t i, every;
  size_t j;
  int r;

  for (j = 0; j < n; j++) {
    crowded |= slots[j]->crowded;
    woke |= slots[j]->woke_peer;
    slots[j]->woke_peer = false; /* this wait yields for it */
  }
  every = crowded ? SHMIPC__YIELD_CROWDED : SHMIPC__YIELD_EVERY;
  /* The kernel often queues a woken thread on the waker's CPU; spinning
   * here would then delay the very answer we wait for. */
  if (woke)
    shmipc__yield();
  for (i = 1;; i++) {
    if (look_set(slots, n, which, &r)) {
      /* Answered within the spin, before any yield: the peer runs
       * beside us. Not so an answer at the first look to a call that an
       * earlier wait over it saw in flight: it may have come while the
       * caller was busy with another, which tells nothing of the CPU. */
      if (!yielded &&
          (i > 1 || (uint16_t)slots[*which]->seq != slots[*which]->waited_seq))
        crowded = false;
      break;
    }
    if (dl->budget == 0) {
      if (!set_aborted(slots, n, which, &r))
        r = SHMIPC_E_TIMEOUT;
      break;
    }
    if (i >= ep->spin_budget) {
      r = sleep_any(slots, n, dl, counted, which);
      break;
    }
    if (i % every == 0) {
      if (shmipc__left(dl, shmipc__now_ns()) == 0) {
        r = SHMIPC_E_TIMEOUT;
        break;
      }
      if (set_aborted(slots, n, which, &r))
        break;
      if (every == SHMIPC__YIELD_CROWDED)
        i += SHMIPC__YIELD_EVERY - SHMIPC__YIELD_CROWDED;
      every = shmipc__spin_yield(&crowded);
      yielded = true;
    } else {
      SHMIPC__WS(SPIN);
      shmipc__cpu_pause();
    }
  }
  for (j = 0; j < n; j++) {
    slots[j]->crowded = crowded;
    slots[j]->waited_seq = (uint16_t)slots[j]->seq;
  }
  return r;
}

int shmipc_slot_wait_any(shmipc_slot *const *slots, size_t n,
                         int64_t timeout_ns, size_t *which)
{
  struct shmipc__deadline dl;
  bool counted = false;
  size_t i, done = n;
  int r;

  if (which == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "which is NULL"));
  *which = n;
  if (slots == NULL || n == 0)
    return shmipc__failed(shmipc__fail(
        SHMIPC_E_INVALID, slots == NULL ? "slots is NULL" : "n is 0"));
  for (i = 0; i < n; i++) {
    uint32_t st;

    if (slots[i] == NULL)
      return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "slots[%lu] is NULL",
                                         (unsigned long)i));
    if (slots[i]->ep != slots[0]->ep)
      return shmipc__failed(shmipc__fail(
          SHMIPC_E_INVALID, "slots[%lu] is of another handle than slots[0]",
          (unsigned long)i));
    st = get_state(slots[i]);
    if (st != SHMIPC__REC_SENT && st != SHMIPC__REC_DONE)
      return shmipc__failed(shmipc__fail(SHMIPC_E_STATE,
                                         "nothing was published on slots[%lu]",
                                         (unsigned long)i));
    if (st == SHMIPC__REC_DONE && done == n)
      done = i;
  }
  r = slot_timeout(slots[0]->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
  if (done < n) { /* an answer taken before ends the wait at once */
    *which = done;
    return shmipc__failed(done_result(slots[done]));
  }
  r = wait_any(slots, n, &dl, &counted, which);
  if (counted)
    shmipc__uncount(slots[0]->ep);
  return shmipc__failed(r);
}

int shmipc_slot_abort(shmipc_slot *s)
{
  if (s == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "s is NULL"));
  shmipc__abort_raise(s->ep, &s->abort);
  return SHMIPC_OK;
}

int shmipc_slot_send(shmipc_slot *s, uint32_t type, size_t len, uint32_t flags,
                     int64_t timeout_ns)
{
  struct shmipc__deadline dl;
  bool counted = false;
  int r;

  /* Every argument is checked before the publish: an error other than
   * the wait's own means that nothing was sent. */
  if (s == NULL)
    return shmipc__failed(shmipc__fail(SHMIPC_E_INVALID, "s is NULL"));
  r = slot_timeout(s->ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return shmipc__failed(shmipc__fail_timeout("timeout_ns", timeout_ns));
  r = publish(s, type, len, flags, shmipc__deadline_word(&dl));
  if (r != SHMIPC_OK)
    return r;
  r = shmipc__failed(shmipc__slot_wait(s, &dl, NULL, &counted));
  if (counted)
    shmipc__uncount(s->ep);
  return r;
}

void *shmipc_slot_req_buf(shmipc_slot *s) { return s != NULL ? s->req : NULL; }

size_t shmipc_slot_req_capacity(const shmipc_slot *s)
{
  return s != NULL ? s->ep->seg.geom.req_capacity : 0;
}

const void *shmipc_slot_resp_data(const shmipc_slot *s)
{
  return s != NULL && get_state(s) == SHMIPC__REC_DONE ? s->resp_data : NULL;
}

size_t shmipc_slot_resp_size(const shmipc_slot *s)
{
  return s != NULL && get_state(s) == SHMIPC__REC_DONE ? s->resp_size : 0;
}

uint32_t shmipc_slot_resp_type(const shmipc_slot *s)
{
  return s != NULL && get_state(s) == SHMIPC__REC_DONE ? s->resp_type : 0;
}

/* The state a released record is parked in, by the state @st its holder
 * leaves it in (see the table at the top). */
static uint32_t parking_state(shmipc_slot *s, uint32_t st)
{
  uint32_t v, old;

  switch (st) {
  case SHMIPC__REC_DONE:
    /* The answer was consumed: the next claim claims over it. */
    return SHMIPC__REC_REUSE_CONSUMED;
  case SHMIPC__REC_DEFERRED:
    /* Never claimed in the shared word: it still reads the answer the
     * claim sat on, unless a peer wrote the slot meanwhile.
     * acquire: the word is only compared here, not acted on */
    if ((shmipc__load_acquire32(&s->w->ctrl) & ~WAIT_BITS) == s->gen_word)
      return SHMIPC__REC_REUSE_CONSUMED;
    return SHMIPC__REC_REUSE_LATE;
  case SHMIPC__REC_CLAIMED:
    for (v = shmipc__load_acquire32(&s->w->ctrl);; v = old) {
      if ((v & ~WAIT_BITS) != s->gen_word)
        return SHMIPC__REC_REUSE_LATE; /* a peer wrote a slot we held */
      /* full: frees the slot; pairs with the next claim CAS in claim() */
      old = shmipc__cas_full32(
          &s->w->ctrl, v,
          with_state(v, SHMIPC_SLOT_FREE, SHMIPC_CTRL_REQUESTER_WAITING));
      if (old == v)
        return SHMIPC__REC_IDLE;
    }
  default:
    /* LOST: the responder may still own the slot, or its answer failed
     * its checks. The slot is quarantined: the next claim reads the
     * word, and recover_lost() frees it once the responder is gone. */
    return SHMIPC__REC_REUSE_LATE;
  }
}

void shmipc__slot_rearm(shmipc_slot *s)
{
  /* As claim() over a consumed answer (REUSE_CONSUMED): the word reads
   * RESP_READY of our generation, which only we move, and we saw it with
   * acquire; the next publish claims over it. */
  s->gen_word = (s->gen_word & GEN_MASK) | SHMIPC_SLOT_RESP_READY;
  set_state(s, SHMIPC__REC_DEFERRED);
}

void shmipc_slot_release(shmipc_slot *s)
{
  uint32_t st;

  if (s == NULL)
    return;
  st = get_state(s);
  if (!held(st))
    return;
  if (st == SHMIPC__REC_SENT) {
    (void)abandon(s, SHMIPC_OK);
    st = get_state(s);
  }
  st = parking_state(s, st);
  if (st == SHMIPC__REC_REUSE_LATE)
    note_loss(s);
  park(s, st);
}

int shmipc__call(struct shmipc__endpoint *ep, uint32_t type, const void *req,
                 size_t req_len, void *resp, size_t resp_cap, size_t *resp_len,
                 uint32_t *resp_type, int64_t timeout_ns, bool *counted)
{
  struct shmipc__deadline dl;
  struct shmipc_slot *s;
  int r;

  if ((req == NULL && req_len > 0) || (resp == NULL && resp_cap > 0))
    return SHMIPC_E_INVALID;
  r = shmipc__timeout(ep, timeout_ns, &dl);
  if (r != SHMIPC_OK)
    return r;
  if (req_len > ep->seg.geom.req_capacity)
    return SHMIPC_E_TOO_BIG;
  /* One deadline for both waits: the acquire's wait counts against the
   * answer's. */
  r = shmipc__slot_acquire(ep, &dl, NULL, counted, &s);
  if (r != SHMIPC_OK)
    return r;
  if (req_len > 0)
    memcpy(s->req, req, req_len);
  r = publish(s, type, req_len, 0, shmipc__deadline_word(&dl));
  if (r == SHMIPC_OK)
    r = shmipc__slot_wait(s, &dl, NULL, counted);
  if (r == SHMIPC_OK && s->resp_type == SHMIPC_MSG_LARGE_ANSWER &&
      ep->role == SHMIPC__ROLE_HOST) {
    /* An answer larger than the slot (docs/PROTOCOL.md, "Large
     * answers"): pulled into resp under the same deadline. */
    r = shmipc__host_call_large(s, resp, resp_cap, resp_len, resp_type, &dl,
                                counted);
    shmipc_slot_release(s);
    return r;
  }
  if (r == SHMIPC_OK || r == SHMIPC_E_REMOTE) {
    if (resp_len != NULL)
      *resp_len = s->resp_size;
    if (resp_type != NULL)
      *resp_type = s->resp_type;
    if (s->resp_size > resp_cap)
      r = r == SHMIPC_OK ? SHMIPC_E_TRUNCATED : r;
    else if (s->resp_size > 0)
      memcpy(resp, s->resp_data, s->resp_size);
  }
  shmipc_slot_release(s);
  return r;
}

bool shmipc__take_next(uint32_t *ctrl, uint32_t last, uint32_t spins,
                       bool *crowded, uint32_t *out)
{
  /* A load that sees REQ_READY fetches the line shared, and the take CAS
   * then has to upgrade it: a transfer and a round trip to the requester's
   * core. A CAS from the expected value fetches the line once, exclusive,
   * and takes the request in the same step. A CAS that finds anything else
   * writes nothing, so this is the protocol's take, only tried early. */
  uint32_t next = ((last & GEN_MASK) + SHMIPC_CTRL_GEN_ONE) & GEN_MASK;
  uint32_t want = next | SHMIPC_SLOT_REQ_READY, v = last, i;
  uint32_t every = *crowded ? SHMIPC__YIELD_CROWDED : SHMIPC__YIELD_EVERY;
  bool yielded = false;

  for (i = 1; i <= spins; i++) {
    /* full (acquire side): the take, as in shmipc__respond() */
    v = shmipc__cas_full32(ctrl, want, next | SHMIPC_SLOT_PROCESSING);
    if (v == want) {
      if (!yielded)
        *crowded = false; /* the request came within the spin */
      SHMIPC__WS(FASTHIT);
      *out = next | SHMIPC_SLOT_PROCESSING;
      return true;
    }
    /* A request after all, but not quite as expected (a waiter bit, a
     * re-send after a cancel, a claim from FREE after recovery): the
     * usual path takes it. */
    if (shmipc__ctrl_state(v) == SHMIPC_SLOT_REQ_READY ||
        !shmipc__ctrl_legal(v))
      break;
    if (i % every == 0) {
      /* a crowded yield counts as a whole yield period (as in
       * shmipc__wait_word()) */
      if (every == SHMIPC__YIELD_CROWDED)
        i += SHMIPC__YIELD_EVERY - SHMIPC__YIELD_CROWDED;
      every = shmipc__spin_yield(crowded);
      yielded = true;
    } else {
      SHMIPC__WS(SPIN);
      shmipc__cpu_pause();
    }
  }
  *out = v;
  return false;
}

_Static_assert(SHMIPC_RESP_END_ALIGNED >> 31 == SHMIPC_WIRE_END_ALIGNED,
               "the response type's bit 31 shifts onto the wire flag");

int shmipc__respond(struct shmipc__endpoint *ep, uint32_t index, uint32_t v,
                    shmipc_handler_fn fn, void *user)
{
  const struct shmipc__geom *g = &ep->seg.geom;
  struct shmipc_wire_slot *w = shmipc__wslot(&ep->seg, index);
  uint8_t *req = shmipc__req_buf(&ep->seg, index);
  uint8_t *resp = shmipc__resp_buf(&ep->seg, index);
  uint32_t size, flags, type, rtype, old;
  uint64_t seq;
  size_t rlen = 0;
  const char *why = NULL;

  while (shmipc__ctrl_state(v) != SHMIPC_SLOT_PROCESSING) {
    /* full (acquire side): the take; pairs with the requester's publish
     * CAS in shmipc_slot_publish(), after which the request fields are ours
     * to read. */
    old = shmipc__cas_full32(&w->ctrl, v,
                             with_state(v, SHMIPC_SLOT_PROCESSING, 0));
    if (old == v)
      break;
    /* Only a waiter bit moved (the requester announced its sleep): the
     * request is still there, take it. Anything else means it was
     * cancelled or re-claimed. */
    if ((old & ~WAIT_BITS) != (v & ~WAIT_BITS))
      return 0;
    v = old;
  }
  v = with_state(v, SHMIPC_SLOT_PROCESSING, 0);
  type = w->req_type;
  size = w->req_size;
  flags = w->req_flags;
  seq = w->req_seq;
  rtype = type;
  /* A request type with SHMIPC_RESP_END_ALIGNED is no message type: it
   * would come back as the default response type and be taken for the
   * handler's request to answer end-aligned. */
  if (size > g->req_capacity || (flags & ~SHMIPC_WIRE_FLAGS_KNOWN) != 0 ||
      (type & SHMIPC_RESP_END_ALIGNED) != 0) {
    why = "shmipc: corrupt request header";
  } else {
    /* An empty request points at the buffer's start, aligned either way:
     * one past its end is the response buffer's start (for a capacity
     * that is a multiple of 64), which shmipc_*_request_deadline() must
     * tell from a request. */
    const uint8_t *data = (flags & SHMIPC_WIRE_END_ALIGNED) && size != 0
                              ? req + (g->req_capacity - size)
                              : req;
    if (fn(user, type, data, size, resp, g->resp_capacity, &rlen, &rtype) != 0)
      why = "shmipc: handler failed";
    else if (rlen > g->resp_capacity)
      why = "shmipc: response larger than the slot's capacity";
  }
  if (why != NULL) {
    rlen = strlen(why);
    if (rlen > g->resp_capacity)
      rlen = g->resp_capacity;
    memcpy(resp, why, rlen);
    rtype = SHMIPC_MSG_SYSTEM_ERROR;
  }
  /* The handler's SHMIPC_RESP_END_ALIGNED becomes the wire flag, without a
   * branch; it never goes out as part of the type. */
  w->resp_type = rtype & ~SHMIPC_RESP_END_ALIGNED;
  w->resp_size = (uint32_t)rlen;
  w->resp_flags = rtype >> 31; /* SHMIPC_WIRE_END_ALIGNED */
  w->resp_seq = seq;
  shmipc__ctr_served(shmipc__slot_counters(&ep->seg, index),
                     (rtype & ~SHMIPC_RESP_END_ALIGNED) ==
                         SHMIPC_MSG_SYSTEM_ERROR);
  for (;;) {
    /* full (release side): publishes the response; pairs with the
     * requester's acquire load in shmipc__wait_word(). Clears the
     * requester's waiter bit. */
    old = shmipc__cas_full32(
        &w->ctrl, v,
        with_state(v, SHMIPC_SLOT_RESP_READY, SHMIPC_CTRL_REQUESTER_WAITING));
    if (old == v)
      break;
    if ((old & ~WAIT_BITS) != (v & ~WAIT_BITS))
      return SHMIPC_E_CORRUPT; /* the requester touched a slot we own */
    v = old;
  }
  if (v & SHMIPC_CTRL_REQUESTER_WAITING) {
    shmipc__ctr_add(&shmipc__slot_counters(&ep->seg, index)->resp_wakes, 1);
    shmipc__word_wake(&ep->seg, &w->ctrl, SHMIPC_CTRL_REQUESTER_WAITING);
  }
  SHMIPC__WS(SERVED);
  return 1;
}
