/* SPDX-License-Identifier: MIT */
/*
 * slot.pml -- a Promela model of one slot of docs/PROTOCOL.md ("Slot state
 * machine", "Timeouts and quarantine", "Sleep and wake-up"), written after
 * src/slot.c (claim, publish, wait, abandon, release, recover_lost,
 * free_slot_notify, shmipc__respond) and src/wait.c (shmipc__wait_word).
 *
 * Processes:
 *   Requester(t), t < NREQ  host threads that share the one slot; each makes
 *                           NCALLS (thread 1: NCALLS1) calls, request id
 *                           t*4 + k + 1
 *   Responder               the peer's worker for this slot
 *   Killer     (-DDEATH)    kills the responder at an arbitrary point
 *   Guest2     (-DREPAIR)   a peer's spoiling write, then the next guest:
 *                           attach, answer of a PROCESSING left, serve
 *   AttachLiar (-DATTACH_LIE, with -DREPAIR)
 *                           a peer's DETACHED over the attach word while
 *                           the next guest lives (a new epoch: the host
 *                           repairs again)
 *   Monitor                 checks the final (stuck) state: nobody sleeps on
 *                           a word that already holds what it waits for
 *
 * Configurations (see run_model.sh):
 *   default        no timeouts, responder never dies: every call must be
 *                  answered; checks no lost wake-up, ids, integrity, no
 *                  deadlock (invalid end states)
 *   -DTIMEOUTS     every wait may time out at any moment (cancel, quarantine,
 *                  late response, reuse, re-send in the same generation)
 *   -DDEATH        the responder may die at any point; waits are infinite, so
 *                  only the peer-gone path can end them (property: calls end)
 *   -DLTL_PROGRESS adds the claim "<> every requester thread ends" (pan -a)
 *   -DNO_RESEND    a cancelled call's slot is released, never re-published
 *   -DGIVE_UP      a thread may release a slot it acquired without sending
 *                  (the zero-copy API); such a call counts as ended
 *   -DREPAIR       (with -DDEATH) two attach epochs: every requester thread
 *                  makes its first call, then waits for the next guest
 *                  (shmipc_host_wait_guest); once the responder is dead
 *                  and no thread holds the slot, a peer may spoil the word
 *                  (CLAIMED, REQ_READY, PROCESSING or the illegal state 7);
 *                  a new guest attaches (the epoch moves), answers a
 *                  PROCESSING its predecessor left, and serves, waiting
 *                  while the word is illegal. The host repairs the slot
 *                  when it sees the epoch move (docs/PROTOCOL.md,
 *                  "Repair"); every later call must be answered, and the
 *                  slot is never held by two threads
 *   -DATTACH_LIE   (with -DREPAIR) a peer may also write DETACHED with a
 *                  new epoch into the attach word while the second guest
 *                  lives (AttachLiar): the host repairs again, and must
 *                  still judge a PROCESSING by the guest's lock alone
 *   -DNREQ=, -DNCALLS=, -DNCALLS1=, -DGEN_N=  the bounds (defaults below)
 *
 * Mutations (-DMUT_x) break one rule each; run_model.sh requires spin to
 * find a violation for the ones it runs:
 *   MUT_NO_ANNOUNCE       waiters sleep without setting their waiter bit
 *   MUT_FUTEX_NOCMP       futex_wait does not compare the word (no recheck)
 *   MUT_WAKE_STALE        movers decide to wake from a load made before
 *                         their transition CAS
 *   MUT_NOTIFY_EARLY      free_slot_notify() looks for waiters before the
 *                         slot is made claimable (Dekker order broken)
 *   MUT_READ_BEFORE_TAKE  the responder reads the request id before its take
 *                         CAS (needs -DTIMEOUTS)
 *   MUT_NO_GEN            claims do not bump the generation (caught only
 *                         together with MUT_READ_BEFORE_TAKE and -DNO_RESEND)
 *   MUT_CANCEL_STORE      the cancel is a plain store, not a CAS
 *   MUT_NO_PEER_CHECK     a requester's wait never returns PEER_GONE
 *   MUT_NO_RECOVER        quarantined slots of a dead responder are never
 *                         recovered
 *   MUT_DEFER_STORE       the deferred claim's publish writes the word with
 *                         a plain store from its load ("nobody else writes
 *                         a slot we hold"), not a CAS: the responder's SW
 *                         announce in between is lost, and its wake-up
 *   MUT_NO_REPAIR         (with -DREPAIR) the host does not repair at the
 *                         epoch change: the spoiled slot is lost
 *   MUT_REPAIR_STEALS     (with -DREPAIR) the repair frees a PROCESSING
 *                         although a guest lives that may have taken it (as
 *                         a rule "the quarantine's epoch has ended" would:
 *                         a peer may have turned the word into a request
 *                         the new guest took)
 *   MUT_TRUST_ATTACH      (with -DREPAIR) the repair and recover_lost()
 *                         take DETACHED in the attach word as "no guest
 *                         lives", as src/slot.c's taker_gone() once did: a
 *                         peer writes it (AttachLiar) while the guest is
 *                         inside a request it took, and the slot goes to
 *                         the next call under that guest's answer
 *   MUT_CONSUMED_LOST     a slot released after a lost call (quarantined)
 *                         is marked consumed too, so its next claim does not
 *                         read the word (needs -DTIMEOUTS): it defers over a
 *                         PROCESSING the responder still owns
 *   STALE_CLAIM           claim() judges the generation on the word it read
 *                         before it won the reuse mark, as src/slot.c did
 *                         from commit ccf2868 to c31bffe; spin shows that
 *                         this can drop the mark and leave the slot out of
 *                         use for good
 *
 * Simplifications: one slot; sequentially consistent memory (every load,
 * store and CAS is one atomic step, so the model says nothing about the
 * barriers themselves); the spin/yield phase of a wait is left out (it only
 * re-reads the word); request and response are one byte, the call's id;
 * the 1 ms cap of the free-slot wait and the liveness interval are modelled
 * as timers that fire only when a call may time out or the responder is
 * dead; one responder lifetime (no new guest, so no attach epochs) except
 * with -DREPAIR, where a second guest attaches once. The slot's private
 * record is modelled whole: its one state (rec, struct shmipc_slot.state,
 * with the values of enum shmipc__rec and the table at the top of
 * src/slot.c) and the word it expects (gen_word); the holder's progress
 * through the call is that state too, not a local of the thread.
 */

#ifndef NREQ
#define NREQ 2          /* requester threads (1 or 2) */
#endif
#ifndef NCALLS
#define NCALLS 2        /* calls per requester thread */
#endif
#ifndef GEN_N
#define GEN_N 8         /* generation modulo GEN_N (power of 2) */
#endif

/* ---- the control word, with the wire layout of src/layout.h ---- */
#define FREE        0
#define CLAIMED     1
#define REQ_READY   2
#define PROCESSING  3
#define RESP_READY  4
#define ST_MASK     7
#define RW          16              /* requester waits for RESP_READY */
#define SW          32              /* responder waits for REQ_READY */
#define WBITS       48
#define GEN_ONE     256
#define GEN_MASK    ((GEN_N - 1) * GEN_ONE)
#define ST(v)       ((v) & ST_MASK)
#define GEN(v)      ((v) & GEN_MASK)
#define NOBITS(v)   ((v) & ~WBITS)
#define WITH_STATE(v, s, clr) (((v) & ~(ST_MASK | (clr))) | (s))
#ifdef MUT_NO_GEN
#define NEXT_GEN(v) GEN(v)
#else
#define NEXT_GEN(v) ((GEN(v) + GEN_ONE) & GEN_MASK)
#endif

/* free_seq (requester-private futex word): counter bits 0-6, bit 7 waiting */
#define FS_LW       128
#define FS_CNT      127

/* wait results */
#define R_OK        0
#define R_TIMEOUT   1
#define R_GONE      2

/* the record's states: enum shmipc__rec (src/internal.h) */
#define REC_IDLE            0   /* released; the word reads FREE */
#define REC_REUSE_CONSUMED  1   /* released over our consumed answer */
#define REC_REUSE_LATE      2   /* released over an answer that may come */
#define REC_TAKEN           3   /* held to judge the word */
#define REC_CLAIMED         4   /* held, word CLAIMED */
#define REC_DEFERRED        5   /* held, word still RESP_READY */
#define REC_SENT            6   /* held, request published */
#define REC_DONE            7   /* held, answer taken */
#define REC_LOST            8   /* held, no answer we vouch for */
#define HELD(r)     ((r) >= REC_TAKEN)
#define REUSE(r)    ((r) == REC_REUSE_CONSUMED || (r) == REC_REUSE_LATE)

#ifdef TIMEOUTS
#define CALL_TIMEOUT true
#else
#define CALL_TIMEOUT false
#endif
/* A futex wait returns without a wake: the call's deadline, the liveness
 * interval, or the 1 ms cap of the free-slot wait. While the responder lives
 * and calls have no deadline these returns only re-check and sleep again, so
 * the model leaves them out: a lost wake-up then shows as a stuck sleeper. */
#define TIMER (CALL_TIMEOUT || dead)
/* The free-slot wait's 1 ms cap: with -DREPAIR a slot quarantined under a
 * live responder (it took a stray request) becomes claimable by its answer,
 * which notifies nobody; the cap is what finds it. */
#ifdef REPAIR
#define FS_TIMER (TIMER || rec == REC_REUSE_LATE)
#else
#define FS_TIMER TIMER
#endif

/* thread 1 may make a different number of calls (NCALLS1) */
#ifndef NCALLS1
#define NCALLS1 NCALLS
#endif
#define NCALLS_OF(t) ((t) == 0 -> NCALLS : NCALLS1)
#define TOTAL (NCALLS + (NREQ - 1) * NCALLS1)

/* ---- shared memory ---- */
int  ctrl = 0;          /* the slot's control word */
byte req_id = 0;        /* request fields (req_seq): written in CLAIMED */
byte resp_id = 0;       /* response fields (resp_seq): written in PROCESSING */

/* The deadline word (docs/PROTOCOL.md, "Deadline and cancel"): the id of
 * the call it was written for (its deadline), DL_CANCEL once that call's
 * requester gave up on it; and, as a ghost, the call given up on while
 * the responder held it (0 from each publish). Only the requester writes
 * the word. */
#define DL_CANCEL   128
byte dl_word = 0;
byte dl_gave_up = 0;

/* ---- requester-private memory (shared by the requester's threads) ---- */
byte rec = REC_IDLE;    /* struct shmipc_slot.state: the record's one state */
int  gen_word = 0;      /* struct shmipc_slot.gen_word: gen | CLAIMED, or
                         * gen | RESP_READY while the claim is deferred */
byte free_seq = 0;      /* struct shmipc__endpoint.free_seq */

/* ---- futex wait queues: who sleeps on which word ---- */
bool rq_sleep[2];       /* requester thread t sleeps on ctrl */
bool fs_sleep[2];       /* requester thread t sleeps on free_seq */
bool rs_sleep = false;  /* responder sleeps on ctrl */

/* ---- bookkeeping ---- */
bool dead = false;      /* the responder died (its liveness lock is gone) */
bool killed = false;    /* the first responder died (dead is reset when a
                         * new guest attaches, -DREPAIR) */
byte answered = 0;      /* calls that received their response */
byte finished = 0;      /* requester threads that made all their calls */
byte gave_up = 0;       /* calls released without sending (-DGIVE_UP) */

/* ---- -DREPAIR: attach epochs ---- */
byte epoch = 1;         /* the attach word's epoch (3: AttachLiar wrote it) */
byte repaired = 1;      /* struct shmipc__endpoint.repaired_attach */
byte parked = 0;        /* requester threads waiting for the next guest */
byte holders = 0;       /* requester threads holding the slot */
byte answered2 = 0;     /* calls answered in the second epoch */
bool attach_gone = false; /* a peer wrote DETACHED into the attach word
                         * while the second guest lives (AttachLiar) */

#define LEGAL(v)    (ST(v) <= RESP_READY)
/* The responder that took a PROCESSING is gone only if no guest lives: a
 * quarantine's epoch that has ended says nothing of the word as it reads
 * now (a peer may have turned it into a request the new guest took). What
 * the guest before left in PROCESSING the new guest answers at attach. */
#ifdef MUT_REPAIR_STEALS
#define TAKER_GONE true
#elif defined(MUT_TRUST_ATTACH)
#define TAKER_GONE (dead || attach_gone)
#else
#define TAKER_GONE dead
#endif
/* recover_lost()'s judge of a quarantined PROCESSING: the guest lock only */
#ifdef MUT_TRUST_ATTACH
#define LOST_GONE (dead || attach_gone)
#else
#define LOST_GONE dead
#endif

/* compare-and-swap of a whole word: o_ = the value found */
inline CAS(w_, e_, d_, o_) {
  d_step { o_ = w_; if :: w_ == e_ -> w_ = d_ :: else -> skip fi }
}

inline wake_ctrl() {
  d_step { rq_sleep[0] = false; rq_sleep[1] = false; rs_sleep = false }
}

inline wake_free_seq() {
  d_step { fs_sleep[0] = false; fs_sleep[1] = false }
}

/* FUTEX_WAIT(word, expected): the kernel compares and queues atomically,
 * then the sleeper returns only when woken (or on a timer). */
inline futex_enter(word, expected, me) {
  d_step {
#ifdef MUT_FUTEX_NOCMP
    me = true
#else
    if :: word == expected -> me = true :: else -> skip fi
#endif
  }
}

inline futex_wait(word, expected, me) {
  futex_enter(word, expected, me);
  if
  :: !me -> skip
  :: TIMER -> me = false
  fi
}

inline futex_wait_fs(word, expected, me) {
  futex_enter(word, expected, me);
  if
  :: !me -> skip
  :: FS_TIMER -> me = false
  fi
}

/* slot.c: free_slot_notify() -- after the slot was made claimable */
inline free_slot_notify() {
  fsv = free_seq;                         /* after park()'s full CAS */
  if
  :: (fsv & FS_LW) == 0 -> skip
  :: else ->
     do
     :: CAS(free_seq, fsv, (fsv + 1) & FS_CNT, old);
        if :: old == fsv -> break :: else -> fsv = old fi
     od;
     wake_free_seq()
  fi;
  atomic { fsv = 0; old = 0 }
}

/* slot.c: claimable() and the loop of claim() that acts on the word read
 * into v, the record taken from state was (IDLE or REUSE_LATE): FREE goes
 * to CLAIMED with a new generation by CAS, and so does RESP_READY over an
 * idle record (nobody of ours waits for that answer); RESP_READY of our
 * generation over a late answer is claimed in private only (DEFERRED): the
 * word keeps reading RESP_READY until publish() moves it to REQ_READY with
 * a new generation in one CAS */
inline claim_word() {
  do
  :: ST(v) == RESP_READY && was == REC_REUSE_LATE && GEN(v) == GEN(gen_word) ->
     d_step { gen_word = v & ~WBITS; rec = REC_DEFERRED; ok = true };
     break
  :: ST(v) == FREE || (ST(v) == RESP_READY && was == REC_IDLE) ->
     nv = NEXT_GEN(v) | (v & SW) | CLAIMED;      /* our stale RW goes */
     CAS(ctrl, v, nv, old);
     if
     :: old == v ->
        d_step { gen_word = nv & ~WBITS; rec = REC_CLAIMED; ok = true };
        break
     :: else -> v = old
     fi
  :: else -> break                                /* not claimable */
  od
}

/* slot.c: claim(s). The record first: it is taken by a CAS on its state
 * from a released one, after a look at the word only when it is IDLE.
 * Over our own consumed answer (REUSE_CONSUMED) that CAS alone claims
 * (DEFERRED) and the word is not read at all: it reads RESP_READY of our
 * generation, only we may move it, and publish()'s CAS checks it. After a
 * lost call (REUSE_LATE) the word is read only now that the record is
 * ours (a late answer may be in, or not yet). A record not claimable goes
 * back as it was (put_back). */
inline try_claim() {
  reuse = false;
  ok = false;
#ifndef STALE_CLAIM
  was = rec;
  if
  :: HELD(was) -> skip                            /* another thread has it */
  :: else ->
     if
     :: was == REC_IDLE -> v = ctrl; go = (ST(v) == FREE || ST(v) == RESP_READY)
     :: else -> go = true
     fi;
     if
     :: go ->
        d_step {    /* CAS(state, was, CONSUMED ? DEFERRED : TAKEN) */
          got = rec == was;
          if
          :: got && was == REC_REUSE_CONSUMED ->
             rec = REC_DEFERRED; gen_word = GEN(gen_word) | RESP_READY; ok = true
          :: got && was != REC_REUSE_CONSUMED -> rec = REC_TAKEN
          :: else -> skip
          fi
        };
        if
        :: got && was != REC_REUSE_CONSUMED ->
           if :: was == REC_REUSE_LATE -> reuse = true; v = ctrl :: else -> skip fi;
           claim_word()
        :: else -> skip
        fi
     :: else -> skip
     fi
  fi;
#else
  /* claim() as src/slot.c had it from ccf2868 to c31bffe (no consumed
   * shortcut): the word read first, the mark taken over the RESP_READY it
   * read, and that value judged afterwards */
  v = ctrl;
  was = rec;
  if
  :: ST(v) == RESP_READY && REUSE(was) ->
     d_step { got = rec == was; if :: got -> rec = REC_TAKEN :: else -> skip fi };
     if :: got -> was = REC_REUSE_LATE; reuse = true; claim_word() :: else -> skip fi
  :: else ->
     d_step { got = rec == REC_IDLE; if :: got -> rec = REC_TAKEN; was = REC_IDLE :: else -> skip fi };
     if :: got -> claim_word() :: else -> skip fi
  fi;
#endif
#ifndef REPAIR
  /* A late answer's mark is used, or handed back while the answer is still
   * being made: a judgement that finds anything else was made on a stale
   * word (STALE_CLAIM), and would drop the mark, leaving the slot out of
   * use for good. With -DREPAIR a spoiled word keeps the mark too
   * (repaired at the epoch change). */
  assert(ok || !reuse || ST(v) == PROCESSING);
#endif
  if :: got && !ok -> rec = was :: else -> skip fi;   /* put_back() */
#ifdef REPAIR
  if :: ok -> holders++; assert(holders == 1) :: else -> skip fi;
#endif
  atomic { v = 0; old = 0; nv = 0; got = false; reuse = false; was = 0; go = false }
}

/* slot.c: recover_lost() -- a quarantined slot whose responder is gone.
 * A REUSE_CONSUMED record is claimable as it is and never looked at. */
inline recover_lost() {
#ifndef MUT_NO_RECOVER
  if
  :: rec == REC_REUSE_LATE ->
     v = ctrl;
     if
     :: ST(v) == PROCESSING && LOST_GONE ->        /* taker_gone() */
        d_step { got = rec == REC_REUSE_LATE; if :: got -> rec = REC_TAKEN :: else -> skip fi }
        if
        :: got ->
           do
           :: GEN(v) != GEN(gen_word) || ST(v) != PROCESSING ->
              rec = REC_REUSE_LATE;                /* put_back() */
              break
           :: else ->
              /* a new generation; only SW is kept */
              CAS(ctrl, v, NEXT_GEN(v) | (v & SW) | FREE, old);
              if
              :: old == v -> rec = REC_IDLE; free_slot_notify(); break   /* park() */
              :: else -> v = old
              fi
           od
        :: else -> skip
        fi
     :: else -> skip
     fi;
     atomic { v = 0; old = 0; got = false }
  :: else -> skip
  fi
#else
  skip
#endif
}

/* slot.c: shmipc__slot_repair_epoch() and repair_one() -- the host's
 * repair once the attach epoch has moved: the record is taken (unless a
 * thread holds it) and the word judged as it reads now. Every outcome is
 * a park(), which notifies. */
inline repair_epoch() {
#if defined(REPAIR) && !defined(MUT_NO_REPAIR)
  if
  :: repaired != epoch ->
     repaired = epoch;
     v = ctrl;
     if
     :: rec == REC_IDLE && ST(v) == FREE -> skip   /* as it should be */
     :: else ->
        d_step {
          was = rec;
          got = !HELD(rec);                       /* else a thread holds it */
          if :: got -> rec = REC_TAKEN :: else -> skip fi
        };
        if
        :: got ->
           v = ctrl;
           do
           :: LEGAL(v) && ST(v) == FREE -> rec = REC_IDLE; break
           :: LEGAL(v) && ST(v) == RESP_READY && was != REC_IDLE &&
              GEN(v) == GEN(gen_word) ->
              rec = was; break                     /* our own answer */
           :: LEGAL(v) && ST(v) == PROCESSING && !TAKER_GONE ->
              /* quarantined over that generation until its answer */
              d_step { gen_word = GEN(v) | CLAIMED; rec = REC_REUSE_LATE };
              break
           :: else ->
              CAS(ctrl, v, NEXT_GEN(v) | (v & SW) | FREE, old);
              if
              :: old == v -> rec = REC_IDLE; break
              :: else -> v = old
              fi
           od;
           free_slot_notify()
        :: else -> skip
        fi
     fi;
     atomic { v = 0; old = 0; got = false; was = 0 }
  :: else -> skip
  fi
#else
  skip
#endif
}

/* slot.c: shmipc__slot_acquire() -- out: ok (false: TIMEOUT) */
inline acquire() {
  repair_epoch();
  try_claim();
  if
  :: !ok ->
     recover_lost();
     do
     :: try_claim();
        if :: ok -> break :: else -> skip fi;
        if :: CALL_TIMEOUT -> break :: true -> skip fi;   /* TIMEOUT */
        fsv = free_seq;
        if
        :: (fsv & FS_LW) == 0 ->
           CAS(free_seq, fsv, fsv | FS_LW, old);        /* announce */
           if :: old == fsv -> fsv = fsv | FS_LW; go = true :: else -> go = false fi
        :: else -> go = true
        fi;
        if
        :: go ->
           try_claim();
           if :: ok -> break :: else -> skip fi;
           recover_lost();
           futex_wait_fs(free_seq, fsv, fs_sleep[t])
        :: else -> skip
        fi;
        atomic { fsv = 0; old = 0; go = false }
     od;
     atomic { fsv = 0; old = 0; go = false }
  :: else -> skip
  fi
}

/* slot.c: shmipc_slot_publish(). Deferred: RESP_READY(g) -> REQ_READY(g+1),
 * claim and publish in one CAS, clearing both waiter bits. */
inline publish() {
  req_id = id;                  /* plain stores: we hold the slot, CLAIMED or
                                 * deferred over RESP_READY */
#if defined(MUT_DL_KEEP_MARK)
  d_step { dl_word = (dl_word & DL_CANCEL) | id; dl_gave_up = 0 }  /* the old mark stays */
#elif defined(MUT_DL_LATE)
  dl_gave_up = 0;
#else
  d_step { dl_word = id; dl_gave_up = 0 }   /* a new word: the old mark goes */
#endif
  v = ctrl;
#ifdef MUT_WAKE_STALE
  pre = v;
#endif
  do
  :: assert(NOBITS(v) == gen_word);         /* else CORRUPT in C */
     if
     :: rec == REC_DEFERRED -> nv = NEXT_GEN(v) | REQ_READY
     :: else -> nv = WITH_STATE(v, REQ_READY, SW)
     fi;
#ifdef MUT_DEFER_STORE
     if
     :: rec == REC_DEFERRED -> ctrl = nv; old = v  /* a plain store, not a CAS */
     :: else -> CAS(ctrl, v, nv, old)
     fi;
#else
     CAS(ctrl, v, nv, old);
#endif
     if
     :: old == v ->
        d_step { gen_word = GEN(nv) | CLAIMED; rec = REC_SENT };
        break
     :: else -> v = old
     fi
  od;
#ifdef MUT_WAKE_STALE
  v = pre;
#endif
#ifdef MUT_DL_LATE
  dl_word = id;                 /* written after the publish */
#endif
  if :: (v & SW) != 0 -> wake_ctrl() :: else -> skip fi;
  atomic { v = 0; old = 0; nv = 0; pre = 0 }
}

/* wait.c: shmipc__wait_word() for RESP_READY, announcing RW.
 * out: r, v */
inline wait_resp() {
  do
  :: v = ctrl;
     if :: ST(v) == RESP_READY -> r = R_OK; break :: else -> skip fi;
     if :: CALL_TIMEOUT -> r = R_TIMEOUT; break :: true -> skip fi;
#ifndef MUT_NO_PEER_CHECK
     if :: dead -> r = R_GONE; break :: else -> skip fi;
#endif
     if
     :: (v & RW) == 0 ->
#ifdef MUT_NO_ANNOUNCE
        go = true
#else
        CAS(ctrl, v, v | RW, old);          /* announce */
        if :: old == v -> v = v | RW; go = true :: else -> go = false fi
#endif
     :: else -> go = true
     fi;
     if :: go -> futex_wait(ctrl, v, rq_sleep[t]) :: else -> skip fi;
     atomic { old = 0; go = false }
  od;
  atomic { old = 0; go = false }
}

/* slot.c: take_response() -- property 2 */
inline take_response() {
  assert(resp_id == req_id && req_id == id);
  rec = REC_DONE;
  answered++;
#ifdef REPAIR
  if :: epoch >= 2 -> answered2++ :: else -> skip fi
#endif
}

/* slot.c: abandon() -- out: rec CLAIMED, LOST or DONE */
inline abandon() {
  v = ctrl;
  do
  :: assert(GEN(v) == GEN(gen_word));       /* else CORRUPT in C */
     if
     :: ST(v) == REQ_READY ->
#ifdef MUT_CANCEL_STORE
        ctrl = WITH_STATE(v, CLAIMED, RW); rec = REC_CLAIMED; break
#else
        CAS(ctrl, v, WITH_STATE(v, CLAIMED, RW), old);   /* cancel */
        if :: old == v -> rec = REC_CLAIMED; break :: else -> v = old fi
#endif
     :: ST(v) == PROCESSING ->                           /* quarantine */
        d_step { dl_gave_up = id; dlv = dl_word }  /* the mark: a load, */
        d_step { dl_word = dlv | DL_CANCEL; dlv = 0 } /* then a store */
        rec = REC_LOST; break
     :: ST(v) == RESP_READY -> take_response(); break
     :: else -> assert(false)
     fi
  od;
  atomic { v = 0; old = 0; dlv = 0 }
}

/* slot.c: shmipc_slot_release() for a CLAIMED, DEFERRED, DONE or LOST
 * record: parking_state(), then park() (the state stored, then
 * free_slot_notify()), on every path */
inline release() {
#ifdef REPAIR
  holders--;
#endif
  if
  :: rec == REC_DEFERRED ->
     /* never claimed in the word: it still reads our consumed answer */
     assert(NOBITS(ctrl) == gen_word);      /* else "hostile peer" in C */
     kind = REC_REUSE_CONSUMED
  :: rec == REC_DONE ->
     /* an answer taken (take_response() checked it) is consumed: the next
      * claim does not read the word */
     kind = REC_REUSE_CONSUMED
  :: rec == REC_LOST ->
#ifdef MUT_CONSUMED_LOST
     kind = REC_REUSE_CONSUMED
#else
     kind = REC_REUSE_LATE
#endif
  :: rec == REC_CLAIMED ->
     v = ctrl;
     do
     :: assert(NOBITS(v) == gen_word);      /* else "hostile peer" in C */
        CAS(ctrl, v, WITH_STATE(v, FREE, RW), old);
        if :: old == v -> break :: else -> v = old fi
     od;
     kind = REC_IDLE
  fi;
#ifdef MUT_NOTIFY_EARLY
  free_slot_notify();
  rec = kind;
#else
  rec = kind;
  free_slot_notify();
#endif
  atomic { kind = 0; v = 0; old = 0 }
}

proctype Requester(byte t)
{
  byte k = 0, id, r, fsv, was, kind, dlv;
  int v, old, nv, pre;
  bool ok, reuse, got, go, held = false;

  do
  :: k == NCALLS_OF(t) -> break
  :: else ->
     id = t * 4 + k + 1;
#ifdef REPAIR
     if
     :: k == 1 ->
        /* shmipc_host_wait_guest(): the next guest, and the repair */
        if
        :: held -> held = false; release()
        :: else -> skip
        fi;
        parked++;
        (epoch >= 2);
        repair_epoch()
     :: else -> skip
     fi;
#endif
     if
     :: held -> ok = true; held = false
     :: else ->
        acquire();
#ifdef GIVE_UP
        if
        :: ok ->                             /* released without sending */
           gave_up++; release(); ok = false
        :: true -> skip
        fi
#endif
     fi;
     if
     :: !ok -> skip                          /* acquire timed out, gave up */
     :: else ->
        publish();
        wait_resp();
        if
        :: r == R_OK ->
           assert(GEN(v) == GEN(gen_word));  /* else CORRUPT in C */
           take_response();
           v = 0
        :: else -> abandon()
        fi;
        if
#ifndef NO_RESEND
        /* the zero-copy API may publish again on a slot it still holds */
        :: rec == REC_CLAIMED && k + 1 < NCALLS_OF(t) -> held = true
#endif
        :: true -> release()
        fi
     fi;
     /* forget dead locals: fewer distinct states */
     d_step { k++; r = 0; fsv = 0; v = 0; old = 0; nv = 0; pre = 0;
              ok = false; reuse = false; got = false; go = false; was = 0;
              kind = 0 }
  od;
  atomic {
    finished++;
#if !defined(TIMEOUTS) && !defined(DEATH)
    /* property 1/3: without timeouts and deaths every call is answered */
    assert(finished < NREQ || answered + gave_up == TOTAL)
#elif defined(REPAIR) && !defined(TIMEOUTS)
    /* every call of the second epoch is answered, whatever the slot held */
    assert(finished < NREQ || answered2 == TOTAL - NREQ)
#else
    skip
#endif
  }
}

/* guest.c: worker_main() = shmipc__wait_word(REQ_READY, SW) + respond().
 * Anything but REQ_READY (an illegal word too) is waited for. */
inline serve() {
  do
  :: v = ctrl;
     if
     :: ST(v) == REQ_READY ->
#ifdef MUT_READ_BEFORE_TAKE
        id = req_id;
#endif
        do                                   /* the take */
        :: CAS(ctrl, v, WITH_STATE(v, PROCESSING, 0), old);
           if
           :: old == v -> took = true; break
           :: NOBITS(old) != NOBITS(v) -> took = false; break  /* cancelled */
           :: else -> v = old                /* only a waiter bit moved */
           fi
        od;
        if
        :: took ->
           v = WITH_STATE(v, PROCESSING, 0);
#ifndef MUT_READ_BEFORE_TAKE
           id = req_id;
#endif
           resp_id = id;                     /* the handler echoes the id */
           /* The handler's look at the deadline word: it is the call's
            * the slot holds, and a cancel mark in it is that call's too
            * (never one of a call before). One load; the rest is ghost. */
           d_step {
             dlv = dl_word;
             assert((dlv & ~DL_CANCEL) == req_id);
             assert((dlv & DL_CANCEL) == 0 || dl_gave_up == req_id);
             dlv = 0
           }
#ifdef MUT_WAKE_STALE
           pre = ctrl;
#endif
           do
           :: CAS(ctrl, v, WITH_STATE(v, RESP_READY, RW), old);
              if
              :: old == v -> break
              :: NOBITS(old) != NOBITS(v) ->
                 assert(false)               /* C: CORRUPT, requester touched our slot */
              :: else -> v = old
              fi
           od;
#ifdef MUT_WAKE_STALE
           v = pre;
#endif
           if :: (v & RW) != 0 -> wake_ctrl() :: else -> skip fi
        :: else -> skip
        fi
     :: else ->
        if
        :: (v & SW) == 0 ->
#ifdef MUT_NO_ANNOUNCE
           go = true
#else
           CAS(ctrl, v, v | SW, old);        /* announce */
           if :: old == v -> v = v | SW; go = true :: else -> go = false fi
#endif
        :: else -> go = true
        fi;
        if
        :: go ->
           futex_enter(ctrl, v, rs_sleep);
end_sleep:
           if :: !rs_sleep -> skip fi        /* no deadline while the host lives */
        :: else -> skip
        fi
     fi;
     d_step { v = 0; old = 0; pre = 0; id = 0; took = false; go = false }
  od
}

active proctype Responder()
{
  int v, old, pre;
  byte id, dlv;
  bool took, go;

#ifdef DEATH
  {
#endif
  serve()
#ifdef DEATH
  } unless { killed }
#endif
}

#ifdef REPAIR
/* A peer spoils the idle slot while no guest is attached, then a new guest
 * attaches (its attach CAS moves the epoch; it holds the guest lock, so the
 * host sees it alive), answers a PROCESSING its predecessor left
 * (shmipc__slot_inherit) and serves. */
active proctype Guest2()
{
  int v, old, pre;
  byte id, dlv;
  bool took, go;

  (dead && parked + finished == NREQ);   /* no call in flight */
  if
  :: ctrl = GEN(ctrl) | (ctrl & WBITS) | CLAIMED
  :: ctrl = GEN(ctrl) | (ctrl & WBITS) | REQ_READY
  :: ctrl = GEN(ctrl) | (ctrl & WBITS) | PROCESSING
  :: ctrl = GEN(ctrl) | (ctrl & WBITS) | 7          /* illegal */
  :: skip
  fi;
  d_step { epoch = 2; dead = false };
  v = ctrl;
  if
  :: ST(v) == PROCESSING ->
     resp_id = req_id;                     /* SYSTEM_ERROR for that request */
     do
     :: CAS(ctrl, v, WITH_STATE(v, RESP_READY, RW), old);
        if
        :: old == v -> break
        :: NOBITS(old) != NOBITS(v) -> break  /* the host repaired it */
        :: else -> v = old
        fi
     od;
     if :: (v & RW) != 0 -> wake_ctrl() :: else -> skip fi
  :: else -> skip
  fi;
  d_step { v = 0; old = 0 };
  serve()
}
#endif

#if defined(REPAIR) && (defined(ATTACH_LIE) || defined(MUT_TRUST_ATTACH))
/* A peer writes DETACHED with a new epoch into the attach word while the
 * second guest lives and may be inside a request: the host repairs again,
 * and only the guest's lock (dead) says whether that guest is gone. */
active proctype AttachLiar()
{
  (epoch == 2);
  if
  :: d_step { epoch = 3; attach_gone = true }
  :: skip
  fi
}
#endif

#ifdef DEATH
active proctype Killer()
{
  d_step { killed = true; dead = true }
}
#endif

/* Property 1, stated directly: when nothing can move any more, nobody sleeps
 * on a word that holds what it waits for. */
active proctype Monitor()
{
end_mon:
  timeout;
  assert(!(rs_sleep && ST(ctrl) == REQ_READY && !dead));
  assert(!(rq_sleep[0] && ST(ctrl) == RESP_READY));
  assert(!(rq_sleep[1] && ST(ctrl) == RESP_READY));
  assert(!((fs_sleep[0] || fs_sleep[1]) &&
           (ST(ctrl) == FREE ||
            (ST(ctrl) == RESP_READY && rec == REC_IDLE) ||
            (ST(ctrl) == RESP_READY && REUSE(rec) &&
             GEN(ctrl) == GEN(gen_word)))))
}

init
{
  byte i = 0;
  atomic {
    do
    :: i < NREQ -> run Requester(i); i++
    :: else -> break
    od
  }
}

#ifdef LTL_PROGRESS
/* Property 4: every requester thread ends all its calls. */
ltl calls_end { <> (finished == NREQ) }
#endif
