/* SPDX-License-Identifier: MIT */
/*
 * doorbell.pml -- guest calls and the host's listener (docs/PROTOCOL.md,
 * "Guest calls"), written after src/slot.c (shmipc_slot_publish(): publish,
 * then ring) and src/host.c (serve_once(), serve_pending(), listener_main())
 * with shmipc__respond() and shmipc__wait_word() (src/wait.c).
 *
 * Processes:
 *   Guest(t), t < 2   guest threads; thread t calls on guest slot t (the
 *                     1:1 slot_hint mapping; claim contention is the subject
 *                     of slot.pml) and makes NCALLS calls, without timeouts
 *   Listener          the host's listener thread: read the doorbell, scan
 *                     both guest slots, serve; if none, announce on the
 *                     doorbell and sleep
 *   Monitor           checks the final (stuck) state
 *
 * Property: no lost guest call. Every call is answered with its own id, and
 * no run ends with the listener asleep while a slot holds REQ_READY.
 *
 * Mutations (-DMUT_x):
 *   MUT_SCAN_BEFORE_READ     the listener reads the doorbell after its scan
 *   MUT_RING_BEFORE_PUBLISH  the guest rings before it publishes REQ_READY
 *   MUT_NO_TAKE_RETRY        a take CAS that failed only because the guest
 *                            set RW is not retried
 *   MUT_NO_ANNOUNCE          the listener sleeps without LISTENER_WAITING
 */

#ifndef NCALLS
#define NCALLS 2
#endif

#define FREE        0
#define CLAIMED     1
#define REQ_READY   2
#define PROCESSING  3
#define RESP_READY  4
#define ST_MASK     7
#define RW          16
#define SW          32
#define WBITS       48
#define GEN_ONE     256
#define GEN_MASK    (7 * GEN_ONE)
#define ST(v)       ((v) & ST_MASK)
#define GEN(v)      ((v) & GEN_MASK)
#define NOBITS(v)   ((v) & ~WBITS)
#define WITH_STATE(v, s, clr) (((v) & ~(ST_MASK | (clr))) | (s))

/* doorbell: counter bits 0-6 (0-30 on the wire), LISTENER_WAITING bit 7 */
#define LW          128
#define CNT         127

int  ctrl[2];           /* the two guest slots' control words */
byte req_id[2];
byte resp_id[2];
byte bell = 0;

bool gsleep[2];         /* guest thread t sleeps on ctrl[t] */
bool lsleep = false;    /* the listener sleeps on the doorbell */

byte answered = 0;
byte finished = 0;

/* compare-and-swap of a whole word: o_ = the value found */
inline CAS(w_, e_, d_, o_) {
  d_step { o_ = w_; if :: w_ == e_ -> w_ = d_ :: else -> skip fi }
}

/* guest thread t: publish REQ_READY (shmipc_slot_publish, guest role) */
inline publish() {
  v = ctrl[t];
  do
  :: assert(NOBITS(v) == claimed);
     CAS(ctrl[t], v, WITH_STATE(v, REQ_READY, SW), old);
     if :: old == v -> break :: else -> v = old fi
  od;
  /* the listener never sets SW: nobody to wake here */
  assert((v & SW) == 0);
  atomic { v = 0; old = 0 }
}

/* guest thread t: ring the doorbell */
inline ring() {
  d = bell;
  do
  :: CAS(bell, d, (d + 1) & CNT, old);
     if :: old == d -> break :: else -> d = old fi
  od;
  if :: (d & LW) != 0 -> lsleep = false :: else -> skip fi;   /* FUTEX_WAKE */
  atomic { d = 0; old = 0 }
}

proctype Guest(byte t)
{
  byte k = 0, id, d;
  int v, old, claimed;
  bool go;

  do
  :: k == NCALLS -> break
  :: else ->
     id = t * 4 + k + 1;
     /* claim: FREE, or our own consumed RESP_READY; a new generation */
     v = ctrl[t];
     assert(ST(v) == FREE || ST(v) == RESP_READY);
     CAS(ctrl[t], v, ((GEN(v) + GEN_ONE) & GEN_MASK) | (v & SW) | CLAIMED, old);
     assert(old == v);                  /* nobody else writes these states */
     claimed = ((GEN(v) + GEN_ONE) & GEN_MASK) | CLAIMED;
     req_id[t] = id;
#ifdef MUT_RING_BEFORE_PUBLISH
     ring();
     publish();
#else
     publish();
     ring();
#endif
     /* wait for RESP_READY, announcing RW; no timeouts */
     do
     :: v = ctrl[t];
        if :: ST(v) == RESP_READY -> break :: else -> skip fi;
        if
        :: (v & RW) == 0 ->
           CAS(ctrl[t], v, v | RW, old);
           if :: old == v -> v = v | RW; go = true :: else -> go = false fi
        :: else -> go = true
        fi;
        if
        :: go ->
           d_step { if :: ctrl[t] == v -> gsleep[t] = true :: else -> skip fi }
           if :: !gsleep[t] -> skip fi
        :: else -> skip
        fi;
        atomic { old = 0; go = false }
     od;
     assert(GEN(v) == GEN(claimed));
     assert(resp_id[t] == id && req_id[t] == id);
     answered++;
     /* release: the slot stays RESP_READY, claimable by us (slot.c) */
     atomic { k++; v = 0; old = 0 }
  od;
  atomic {
    finished++;
    assert(finished < 2 || answered == 2 * NCALLS)
  }
}

/* shmipc__respond() for guest slot i, read as v (REQ_READY) */
inline respond(i) {
  do
  :: CAS(ctrl[i], v, WITH_STATE(v, PROCESSING, 0), old);
     if
     :: old == v -> took = true; break
     :: NOBITS(old) != NOBITS(v) -> took = false; break
#ifdef MUT_NO_TAKE_RETRY
     :: else -> took = false; break
#else
     :: else -> v = old                 /* only RW moved: take it anyway */
#endif
     fi
  od;
  if
  :: took ->
     v = WITH_STATE(v, PROCESSING, 0);
     resp_id[i] = req_id[i];
     do
     :: CAS(ctrl[i], v, WITH_STATE(v, RESP_READY, RW), old);
        if
        :: old == v -> break
        :: NOBITS(old) != NOBITS(v) -> assert(false)
        :: else -> v = old
        fi
     od;
     if :: (v & RW) != 0 -> gsleep[i] = false :: else -> skip fi;
     n++
  :: else -> skip
  fi;
  atomic { v = 0; old = 0; took = false }
}

/* host.c: serve_pending() */
inline serve_pending() {
  n = 0;
  v = ctrl[0];
  if :: ST(v) == REQ_READY -> respond(0) :: else -> v = 0 fi;
  v = ctrl[1];
  if :: ST(v) == REQ_READY -> respond(1) :: else -> v = 0 fi
}

active proctype Listener()
{
  byte seen, n, bv;
  int v, old;
  bool took, go;

  do
  :: /* serve_once() */
#ifdef MUT_SCAN_BEFORE_READ
     serve_pending();
     seen = bell;
#else
     seen = bell;                       /* read before scanning */
     serve_pending();
#endif
     if
     :: n > 0 -> skip
     :: else ->
        /* shmipc__wait_word(doorbell, counter != seen, LISTENER_WAITING) */
        do
        :: bv = bell;
           if :: (bv & CNT) != (seen & CNT) -> break :: else -> skip fi;
           if
           :: (bv & LW) == 0 ->
#ifdef MUT_NO_ANNOUNCE
              go = true
#else
              CAS(bell, bv, bv | LW, old);
              if :: old == bv -> bv = bv | LW; go = true :: else -> go = false fi
#endif
           :: else -> go = true
           fi;
           if
           :: go ->
              d_step { if :: bell == bv -> lsleep = true :: else -> skip fi }
end_sleep:
              if :: !lsleep -> skip fi
           :: else -> skip
           fi;
           atomic { old = 0; go = false }
        od;
        serve_pending()
     fi;
     atomic { seen = 0; n = 0; bv = 0; old = 0; go = false }
  od
}

active proctype Monitor()
{
end_mon:
  timeout;
  assert(!(lsleep && (ST(ctrl[0]) == REQ_READY || ST(ctrl[1]) == REQ_READY)));
  assert(!(gsleep[0] && ST(ctrl[0]) == RESP_READY));
  assert(!(gsleep[1] && ST(ctrl[1]) == RESP_READY))
}

init
{
  atomic { run Guest(0); run Guest(1) }
}
