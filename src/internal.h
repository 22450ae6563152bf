/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces shared by the library's files. Nothing here is
 * exported: the build hides every symbol that is not named in
 * libshmipc.map.
 */
#ifndef SHMIPC_INTERNAL_H
#define SHMIPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "shmipc/shmipc.h"

/* Internal result: the segment is not there or not ready yet; attach
 * retries it until the connect timeout. Never returned to users. */
#define SHMIPC__E_RETRY (-1000)
/* Internal result: the segment's host died (its liveness lock is free);
 * attach retries it until the connect timeout for a new host to replace
 * the segment, then reports SHMIPC_E_PEER_GONE. Never returned to users. */
#define SHMIPC__E_NO_HOST (-1001)
/* Internal result: there is no segment of that name (yet); attach retries
 * it until the connect timeout, then reports SHMIPC_E_NOT_FOUND. Never
 * returned to users. */
#define SHMIPC__E_NO_SEGMENT (-1002)

/* C11 thread-local storage; MSVC's C compiler spells it as a declspec. */
#if defined(_MSC_VER) && !defined(__clang__)
#define SHMIPC__THREAD_LOCAL __declspec(thread)
#else
#define SHMIPC__THREAD_LOCAL _Thread_local
#endif

/* error.c: the calling thread's last error (shmipc_last_error()). Only
 * failure paths call these; a success leaves the text alone. */
#define SHMIPC__ERROR_TEXT_MAX 320
/* Record a failure of @code with a detail (printf-style; NULL for none)
 * naming the field, value and limit, or the path; returns @code, so a
 * site reads "return shmipc__fail(SHMIPC_E_INVALID, ...)". */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int shmipc__fail(int code, const char *fmt, ...);
/* SHMIPC_E_INVALID for a timeout value (argument or config @field) that
 * is none of DEFAULT, INFINITE, 0 or positive, with the one text that
 * says so; returns SHMIPC_E_INVALID. */
int shmipc__fail_timeout(const char *field, int64_t value);
/* The same detail under another code (a geometry that is INVALID in a
 * config is CORRUPT in a peer's header); returns @code. */
int shmipc__refail(int code);
/* At the end of a public function: @code unchanged; a negative one that
 * no shmipc__fail() described (or another code's was left over) gets the
 * code's own text. Inline, so that a success costs one compare and never
 * reaches the thread-local text. */
int shmipc__failed_set(int code);
static inline int shmipc__failed(int code)
{
  return code < 0 ? shmipc__failed_set(code) : code;
}
/* The detail of the failure of @code being recorded, "" if none. */
const char *shmipc__last_detail(int code);
/* @s in double quotes as Go's %q writes ASCII (\", \\, \a to \r, other
 * non-printable bytes as \xNN), cut with "..." to fit @cap (at least 8);
 * "(NULL)" for NULL. */
void shmipc__quote(char *buf, size_t cap, const char *s);
/* A timeout as Go prints a time.Duration ("500ms", "5s"). */
void shmipc__duration(char *buf, size_t cap, int64_t ns);
/* Where segments live, for texts: "/dev/shm/shmipc-", "Local\\shmipc-". */
extern const char shmipc__seg_prefix[];
/* The same for a segment in the global namespace (SHMIPC_HOST_F_GLOBAL,
 * SHMIPC_GUEST_F_GLOBAL): "Global\\shmipc-" on Windows; "" where there is
 * none (Linux), which refuses the flags. */
extern const char shmipc__seg_prefix_global[];

#define SHMIPC__DEFAULT_SPIN 4096u
#define SHMIPC__DEFAULT_TIMEOUT_NS INT64_C(10000000000)
#define SHMIPC__DEFAULT_LIVENESS_NS INT64_C(50000000)
#define SHMIPC__DEFAULT_CONNECT_NS INT64_C(5000000000)

enum shmipc__role { SHMIPC__ROLE_HOST = 0, SHMIPC__ROLE_GUEST = 1 };

/* Geometry as validated once; capacities are never re-read from the
 * segment afterwards. */
struct shmipc__geom {
  uint32_t host_slots;
  uint32_t guest_slots;
  uint32_t req_capacity;
  uint32_t resp_capacity;
  uint32_t slot_stride;
  uint64_t counters_offset; /* after the last slot */
  uint64_t segment_size;
};

/* The OS side of a segment, defined by segment_linux.c (the file) and
 * segment_windows.c (mapping, mutexes, events). */
struct shmipc__seg_os;

/* A mapped segment (either role). */
struct shmipc__seg {
  struct shmipc__seg_os *os;
  uint8_t *base;
  struct shmipc__geom geom;
  uint64_t nonce;
  char path[SHMIPC_MAX_NAME_LEN + 16];
};

/* segment.c: portable geometry, header validation and attach */
int shmipc__name_valid(const char *name);
/* SHMIPC_OK for a valid name, else SHMIPC_E_NAME with a text that quotes
 * it and gives the rule. */
int shmipc__name_check(const char *name);
int shmipc__geom_compute(uint32_t host_slots, uint32_t guest_slots,
                         uint32_t req_cap, uint32_t resp_cap,
                         struct shmipc__geom *out);
int shmipc__header_validate(const struct shmipc_wire_header *h,
                            uint64_t file_size, struct shmipc__geom *out);
void shmipc__header_init(struct shmipc_wire_header *h,
                         const struct shmipc__geom *g, uint64_t nonce,
                         uint32_t pid);
/* Attach to segment @name as its guest (docs/PROTOCOL.md, "Validation"):
 * SHMIPC__E_NO_SEGMENT while it is missing, SHMIPC__E_RETRY while it is
 * not ready, SHMIPC__E_NO_HOST
 * when its host died, another negative code when it may not or cannot be
 * used. The guest's liveness lock is not taken yet. */
int shmipc__seg_open(const char *name, uint32_t guest_flags,
                     struct shmipc__seg *out);
/* The same for the segment a launching host handed down
 * (SHMIPC_GUEST_F_INHERITED; docs/PROTOCOL.md, "Launched guests"); never
 * SHMIPC__E_NO_SEGMENT: a missing or unusable descriptor is
 * SHMIPC_E_NOT_FOUND, an unsealed one SHMIPC_E_ACCESS. */
int shmipc__seg_open_inherited(uint32_t guest_flags, struct shmipc__seg *out);
/* Room for the text that names an inherited segment. */
#define SHMIPC__INHERITED_WHAT_MAX 64

static inline struct shmipc_wire_header *
shmipc__hdr(const struct shmipc__seg *s)
{
  return (struct shmipc_wire_header *)(void *)s->base;
}

static inline struct shmipc_wire_slot *
shmipc__wslot(const struct shmipc__seg *s, uint32_t index)
{
  return (struct shmipc_wire_slot *)(void *)(s->base + SHMIPC_SLOTS_OFFSET +
                                             (uint64_t)index *
                                                 s->geom.slot_stride);
}

static inline uint8_t *shmipc__req_buf(const struct shmipc__seg *s,
                                       uint32_t index)
{
  return (uint8_t *)shmipc__wslot(s, index) + SHMIPC_SLOT_HEADER_SIZE;
}

static inline uint8_t *shmipc__resp_buf(const struct shmipc__seg *s,
                                        uint32_t index)
{
  return shmipc__req_buf(s, index) + shmipc__round64(s->geom.req_capacity);
}

/* A side's counter block (docs/PROTOCOL.md, "Counters"). */
static inline struct shmipc_wire_side_counters *
shmipc__side_counters(const struct shmipc__seg *s, enum shmipc__role role)
{
  return (struct shmipc_wire_side_counters
              *)(void *)(s->base + s->geom.counters_offset +
                         (role == SHMIPC__ROLE_HOST ? SHMIPC_COUNTERS_HOST
                                                    : SHMIPC_COUNTERS_GUEST));
}

/* Slot @index's counter lines. */
static inline struct shmipc_wire_slot_counters *
shmipc__slot_counters(const struct shmipc__seg *s, uint32_t index)
{
  return (struct shmipc_wire_slot_counters
              *)(void *)(s->base + s->geom.counters_offset +
                         SHMIPC_COUNTERS_SLOTS +
                         (uint64_t)index * SHMIPC_COUNTERS_SLOT_SIZE);
}

/* segment_linux.c, segment_windows.c: the OS side of segments and of the
 * liveness locks, one per role, that the kernel drops when their holder
 * dies (docs/PROTOCOL.md, "Liveness locks": a byte of the file on Linux, a
 * named mutex on Windows). */
int shmipc__seg_create(const char *name, const struct shmipc__geom *g,
                       uint32_t mode, struct shmipc__seg *out);
/* A segment with no name anywhere, for a host that launches its guest
 * (docs/PROTOCOL.md, "Launched guests"): Linux a sealed memfd, reserved
 * like a named one. @name (valid, or NULL) only labels it for people
 * (/proc/PID/fd). s->path stays "": there is nothing to unlink. */
/* Windows: segment @name in the Global\ namespace, every object with the
 * explicit DACL of docs/PROTOCOL.md ("Windows"): the creating user, SYSTEM
 * and @peer_sid (an SDDL SID string, or NULL). Elsewhere SHMIPC_E_INVALID. */
int shmipc__seg_create_global(const char *name, const struct shmipc__geom *g,
                              const char *peer_sid, struct shmipc__seg *out);
int shmipc__seg_create_anon(const char *name, const struct shmipc__geom *g,
                            uint32_t mode, struct shmipc__seg *out);
/* Inherited segment of a launched guest, from the environment, into s->os;
 * @what (@len bytes) receives its name for texts. */
int shmipc__seg_os_inherit(struct shmipc__seg *s, char *what, size_t len);
/* Linux: a new open file description of anonymous segment @s for a child
 * (its own liveness lock must not be ours), close-on-exec; or a negative
 * code. */
int shmipc__seg_child_fd(const struct shmipc__seg *s);
/* Unmap, drop our liveness lock, close; also undoes a partial attach (any
 * step after shmipc__seg_os_open()). */
void shmipc__seg_close(struct shmipc__seg *s, bool unlink_it);
/* Take @role's lock for as long as the segment stays open: SHMIPC_E_BUSY
 * when a live holder has it. */
int shmipc__lock_take(const struct shmipc__seg *s, enum shmipc__role role);
/* 1 when another holder (a live peer) has @role's lock, 0 when not,
 * negative on error. */
int shmipc__lock_held(const struct shmipc__seg *s, enum shmipc__role role);

/* The operations that shmipc__seg_open() runs, in its order. */
/* Open segment @name (valid) read-write, never through a symbolic link,
 * into s->os: SHMIPC__E_NO_SEGMENT when it does not exist. Windows maps the
 * whole segment here: it cannot read a mapping otherwise. */
int shmipc__seg_os_open(const char *name, uint32_t guest_flags,
                        struct shmipc__seg *s);
struct shmipc__seg_stat {
  uint64_t size; /* bytes: the file's (Linux), the view's (whole pages) */
  bool regular;  /* a regular file (always, on Windows) */
  int mine;      /* 1: owned by this process's user, 0: not, negative: the
                  * error finding out */
};
int shmipc__seg_os_stat(const struct shmipc__seg *s,
                        struct shmipc__seg_stat *out);
/* A private copy of the header, the segment holding at least that much. */
int shmipc__seg_os_read_header(const struct shmipc__seg *s,
                               struct shmipc_wire_header *out);
/* Whether a segment whose stat gave @size holds exactly @segment_size
 * bytes (Linux: equal; Windows: the view rounds it up to whole pages). */
bool shmipc__seg_os_size_matches(uint64_t size, uint64_t segment_size);
/* Reach the roles' locks: the file itself on Linux; on Windows the named
 * mutexes, SHMIPC__E_NO_HOST when there are none (no host holds one). */
int shmipc__lock_open(struct shmipc__seg *s);
/* Map s->geom.segment_size bytes shared, read-write, at s->base. */
int shmipc__seg_os_map(struct shmipc__seg *s);
uint32_t shmipc__getpid(void);
uint64_t shmipc__random64(void);

/* futex_linux.c, event_windows.c: time, yielding and wake-ups on words */
/* A monotonic clock in nanoseconds; never negative. */
int64_t shmipc__now_ns(void);
void shmipc__yield(void);
void shmipc__sleep_ns(int64_t ns);
/* A word of this process's own memory: sleep while *word == expected, at
 * most timeout_ns (>= 0). Returns on wake-up, value change, timeout or
 * signal; the caller re-checks. */
void shmipc__futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);
/* Wake every sleeper of a private word. */
void shmipc__futex_wake(uint32_t *word);
/* A word of segment @s (a slot's ctrl, attach or doorbell), on which the
 * caller announced itself with @bit (docs/PROTOCOL.md, "Sleep and
 * wake-up"): as shmipc__futex_wait(). The bit names the sleeper's
 * direction; Linux ignores it (one futex per word), Windows keeps one
 * event per word and direction. */
void shmipc__word_wait(const struct shmipc__seg *s, uint32_t *word,
                       uint32_t expected, uint32_t bit, int64_t timeout_ns);
/* One word of several that a thread sleeps on at once. */
struct shmipc__sleeper {
  uint32_t *word;    /* a word of segment @s, as shmipc__word_wait() */
  uint32_t expected; /* its value as announced */
  uint32_t bit;      /* the announce bit */
};
/* Sleep until one of the @n (>= 1) segment words @w changes from its
 * expected value or is woken, or until the private word @also (optional)
 * no longer reads @also_seen or is woken, at most timeout_ns. Linux:
 * one futex_waitv(2) over all of them; a kernel without it (or more
 * words than it takes) sleeps on the first word alone, at most
 * SHMIPC__WORDS_POLL_NS. Windows: the first word's event, at
 * most SHMIPC__WORDS_POLL_NS when there are others (an abort signals the
 * events too, which stay signalled). Returns as shmipc__futex_wait()
 * does; the caller re-checks. */
#define SHMIPC__WORDS_POLL_NS INT64_C(1000000)
void shmipc__words_wait(const struct shmipc__seg *s,
                        const struct shmipc__sleeper *w, uint32_t n,
                        uint32_t *also, uint32_t also_seen, int64_t timeout_ns);
/* Wake the sleepers of segment word @word that announced one of @bits. */
void shmipc__word_wake(const struct shmipc__seg *s, uint32_t *word,
                       uint32_t bits);

/* thread_posix.c, thread_windows.c: the library's own threads */
struct shmipc__thread;
int shmipc__thread_start(struct shmipc__thread **out, void *(*fn)(void *),
                         void *arg);
void shmipc__thread_join(struct shmipc__thread *t);
/* A process-private mutex (pthread mutex, SRW lock). */
struct shmipc__mutex;
int shmipc__mutex_create(struct shmipc__mutex **out);
void shmipc__mutex_destroy(struct shmipc__mutex *m);
void shmipc__mutex_lock(struct shmipc__mutex *m);
void shmipc__mutex_unlock(struct shmipc__mutex *m);

/* ------------------------------------------------------------------ */
/* Time limits. Every user timeout (include/shmipc/shmipc.h, "Conventions")
 * is resolved once into a budget: 0 (do not wait), a positive number of
 * nanoseconds, or INT64_MAX (no limit: SHMIPC_TIMEOUT_INFINITE, or a
 * value that no wait can outlast). The budget becomes a deadline, which
 * is passed down to every wait of the operation instead of being worked
 * out again by each. A deadline is fixed (its budget added to the clock)
 * at its first look at the clock, so an operation that ends in its spin
 * phase never reads the clock; this is the only place the sum is made. */
struct shmipc__deadline {
  int64_t budget; /* 0, > 0, or INT64_MAX for no limit */
  int64_t at;     /* shmipc__now_ns() limit once fixed, -1 before;
                   * INT64_MAX: no limit */
};

/* Resolve @timeout_ns as a user timeout: SHMIPC_TIMEOUT_DEFAULT takes
 * @def (a resolved budget), SHMIPC_TIMEOUT_INFINITE gives INT64_MAX, any
 * other negative value is SHMIPC_E_INVALID. */
static inline int shmipc__budget(int64_t timeout_ns, int64_t def, int64_t *out)
{
  if (timeout_ns == SHMIPC_TIMEOUT_DEFAULT)
    timeout_ns = def;
  else if (timeout_ns == SHMIPC_TIMEOUT_INFINITE)
    timeout_ns = INT64_MAX;
  if (timeout_ns < 0)
    return SHMIPC_E_INVALID;
  *out = timeout_ns;
  return SHMIPC_OK;
}

/* A deadline of @budget, fixed at its first look at the clock. */
static inline struct shmipc__deadline shmipc__deadline(int64_t budget)
{
  struct shmipc__deadline d;

  d.budget = budget;
  d.at = budget == INT64_MAX ? INT64_MAX : -1;
  return d;
}

/* Nanoseconds left of @d at time @now (>= 0), INT64_MAX for no limit.
 * The first call fixes the deadline at @now + budget; a sum past
 * INT64_MAX means no limit (now >= 0, so the test cannot overflow). */
static inline int64_t shmipc__left(struct shmipc__deadline *d, int64_t now)
{
  if (d->at < 0)
    d->at = d->budget > INT64_MAX - now ? INT64_MAX : now + d->budget;
  if (d->at == INT64_MAX)
    return INT64_MAX;
  return d->at > now ? d->at - now : 0;
}

/* A deadline of @budget fixed now (reads the clock). */
static inline struct shmipc__deadline shmipc__deadline_now(int64_t budget)
{
  struct shmipc__deadline d = shmipc__deadline(budget);

  (void)shmipc__left(&d, shmipc__now_ns());
  return d;
}

/* The slot deadline word of a call bounded by @d (docs/PROTOCOL.md,
 * "Deadline and cancel"), read by no decision of ours: 0 for no limit,
 * the fixed deadline once the clock was read, else BUDGET and what the
 * budget is (the publish reads no clock; the wait writes the fixed form
 * as its spin phase ends). Values past the field saturate. */
static inline uint64_t shmipc__deadline_word(const struct shmipc__deadline *d)
{
  if (d->at == INT64_MAX)
    return 0;
  if (d->at >= 0)
    return (uint64_t)d->at > SHMIPC_DEADLINE_VALUE
               ? SHMIPC_DEADLINE_VALUE
               : ((uint64_t)d->at | (d->at == 0)); /* 0 says "none" */
  return SHMIPC_DEADLINE_BUDGET |
         ((uint64_t)d->budget > SHMIPC_DEADLINE_VALUE ? SHMIPC_DEADLINE_VALUE
                                                      : (uint64_t)d->budget);
}

/* The sooner of @d and @cap nanoseconds after @now, fixed. */
static inline struct shmipc__deadline
shmipc__deadline_cap(struct shmipc__deadline *d, int64_t cap, int64_t now)
{
  struct shmipc__deadline c = shmipc__deadline(cap);
  int64_t left = shmipc__left(d, now);

  (void)shmipc__left(&c, now);
  if (left < cap) {
    c.budget = left;
    c.at = d->at;
  }
  return c;
}

/* ------------------------------------------------------------------ */
/* wait.c: one side of a session and the waiting discipline */

struct shmipc__endpoint;

/* The state of a requester slot's private record (struct shmipc_slot):
 * src/slot.c opens with the table of who moves each state and what the
 * shared control word reads meanwhile. Released states come first; a
 * record in any later state is held by one thread of this side, which
 * alone moves it. */
enum shmipc__rec {
  SHMIPC__REC_IDLE = 0,       /* released; the word reads FREE */
  SHMIPC__REC_REUSE_CONSUMED, /* released over our own consumed answer */
  SHMIPC__REC_REUSE_LATE,     /* released over an answer that may come */
  SHMIPC__REC_TAKEN,          /* held to judge the word: claim, recovery,
                               * repair */
  SHMIPC__REC_CLAIMED,        /* held, word CLAIMED: request being written */
  SHMIPC__REC_DEFERRED,       /* held, word still RESP_READY: request being
                               * written, the publish claims */
  SHMIPC__REC_SENT,           /* held, request published */
  SHMIPC__REC_DONE,           /* held, answer taken and readable */
  SHMIPC__REC_LOST,           /* held, call ended without an answer we can
                               * vouch for */
};

/* Host-private state of one slot on which this side is the requester. */
struct shmipc_slot {
  struct shmipc__endpoint *ep;
  struct shmipc_wire_slot *w;
  uint8_t *req;
  uint8_t *resp;
  struct shmipc_wire_slot_counters *ctr; /* its counters in the segment */
  uint32_t index;                        /* slot index in the segment */
  uint32_t state;      /* atomic, enum shmipc__rec: the one state of the
                        * record; a claimer takes it by CAS, the holder
                        * moves it with relaxed stores and gives it up with
                        * a release store */
  uint32_t gen_word;   /* the word our use of the slot expects, without
                        * waiter bits: generation | CLAIMED from the claim
                        * on (after the publish only its generation
                        * counts), or generation | RESP_READY of the answer
                        * a deferred claim sits on. Written by the holder,
                        * read by whoever holds the record next */
  bool woke_peer;      /* the last publish had to wake the responder (a
                        * wait_any() on the slot clears it) */
  bool crowded;        /* the last wait's last yield gave the CPU away
                        * (struct shmipc__pace) */
  uint16_t waited_seq; /* seq's low bits when a shmipc_slot_wait_any()
                        * over the slot last returned: a call published
                        * since came after it (in the padding here, so
                        * the record keeps its size) */
  uint32_t lost_look;  /* host: ep->guest_looks when the record was last
                        * parked REUSE_LATE; a look after it that found no
                        * guest proves the guest that may have been inside
                        * it gone */
  uint32_t abort;      /* atomic: shmipc_slot_abort() was called since the
                        * record was last claimed; the next look of a wait
                        * or poll on the slot ends its call ABORTED */
  uint64_t seq;
  const uint8_t *resp_data; /* DONE: the answer, checked */
  uint32_t resp_size;
  uint32_t resp_type;
};

struct shmipc__endpoint {
  struct shmipc__seg seg;
  enum shmipc__role role;
  uint32_t spin_budget;
  int64_t default_timeout_ns; /* resolved: >= 0, or INT64_MAX for none */
  int64_t liveness_ns;
  uint32_t closing;   /* atomic: set when this handle shuts down
                       * (destroy, detach, shmipc_guest_stop()), and by
                       * nothing else: SHMIPC_E_CLOSED */
  uint32_t peer_gone; /* atomic, guest role: the host closed, was
                       * replaced or died. Set once, never cleared (a
                       * new host is a new session): SHMIPC_E_PEER_GONE */
  /* requester side: host slots for the host, guest slots for the guest */
  struct shmipc_slot *req_slots;
  uint32_t n_req;
  uint32_t free_seq; /* atomic futex word (private memory): bumped on release */
  uint32_t inside;   /* atomic: threads counted inside a function of
                      * this handle (shmipc__count()); destroy and
                      * detach free nothing while it is not 0 */
  uint32_t repaired_attach; /* atomic: attach state and epoch the host last
                             * repaired its slots for (slot.c) */
  uint32_t guest_looks;     /* atomic, host: looks at the guest lock begun */
  uint32_t guest_gone_at;   /* atomic, host: the latest look (a guest_looks
                             * ticket) that found the guest lock free */
  uint32_t aborted;      /* atomic: shmipc_host_abort() / shmipc_guest_abort()
                          * until its reset: every abortable wait of the
                          * handle ends with SHMIPC_E_ABORTED */
  uint32_t abort_seq;    /* atomic futex word (private memory): moved by
                          * every abort, of the handle or of one of its
                          * slots; an abortable sleep sleeps on it too
                          * (shmipc__words_wait()), so no abort is lost */
  uint32_t peer_seen_at; /* atomic: when a wait last found the peer's
                          * lock held, in 2^20 ns units of
                          * shmipc__now_ns() (0: never); see
                          * peer_look() in wait.c */
};

/* What a wait on a word waits for: its completion test, and what else
 * ends it. Made by the constructors below, never by hand; a caller may
 * then set check_peer and stop. */
enum shmipc__until_test {
  SHMIPC__UNTIL_STATE,   /* done when (*word & mask) == value */
  SHMIPC__UNTIL_CHANGED, /* done when (*word & mask) != value */
};
struct shmipc__until {
  uint32_t *word;
  enum shmipc__until_test test;
  uint32_t mask;
  uint32_t value;
  uint32_t announce_bit; /* set on the word before sleeping */
  bool slot_word;        /* a slot control word: an illegal value, or a
                          * state outside not_yet, is CORRUPT */
  uint32_t not_yet;      /* slot_word: the states (1 << state) that mean
                          * "not yet" (0: any legal one) */
  bool check_peer;       /* a dead or closed peer ends the wait */
  const uint32_t *stop;  /* optional extra stop flag (atomic), e.g. a
                          * listener's: SHMIPC_E_CLOSED */
  uint64_t *sleeps;      /* optional: the counter of this wait's sleeps
                          * (NULL: the side's other_sleeps) */
  uint64_t *stamp;       /* optional: gets the clock as the spin phase
                          * ends (a slot's req_time) */
  bool abortable;        /* the handle's abort (ep->aborted) ends the wait
                          * with SHMIPC_E_ABORTED: a wait of a caller's
                          * thread, not of the library's own (listener,
                          * guest workers) */
  const uint32_t *abort; /* optional: a slot's abort flag (atomic), which
                          * ends the wait with SHMIPC_E_ABORTED too */
  uint64_t *deadline;    /* optional: with stamp, gets the wait's deadline,
                          * fixed then (a slot's deadline word) */
};

/* Wait until the bits @mask of @word read @value; the waiter announces
 * itself with @announce_bit. */
static inline struct shmipc__until shmipc__until_state(uint32_t *word,
                                                       uint32_t mask,
                                                       uint32_t value,
                                                       uint32_t announce_bit)
{
  struct shmipc__until u = {word,
                            SHMIPC__UNTIL_STATE,
                            mask,
                            value & mask,
                            announce_bit,
                            false,
                            0,
                            false,
                            NULL,
                            NULL,
                            NULL,
                            false,
                            NULL,
                            NULL};
  return u;
}

/* Wait until the bits @mask of @word differ from those of @seen. */
static inline struct shmipc__until shmipc__until_changed(uint32_t *word,
                                                         uint32_t mask,
                                                         uint32_t seen,
                                                         uint32_t announce_bit)
{
  struct shmipc__until u = {word,
                            SHMIPC__UNTIL_CHANGED,
                            mask,
                            seen & mask,
                            announce_bit,
                            false,
                            0,
                            false,
                            NULL,
                            NULL,
                            NULL,
                            false,
                            NULL,
                            NULL};
  return u;
}

/* Wait until slot control word @ctrl reads @state, while it reads one of
 * the states @not_yet (1 << state; 0: any legal one); anything else is
 * CORRUPT, and a dead or closed peer ends the wait. */
static inline struct shmipc__until shmipc__until_slot(uint32_t *ctrl,
                                                      uint32_t state,
                                                      uint32_t not_yet,
                                                      uint32_t announce_bit)
{
  struct shmipc__until u = {ctrl,
                            SHMIPC__UNTIL_STATE,
                            SHMIPC_CTRL_STATE_MASK,
                            state,
                            announce_bit,
                            true,
                            not_yet,
                            true,
                            NULL,
                            NULL,
                            NULL,
                            false,
                            NULL,
                            NULL};
  return u;
}

/* How a wait spends its time (docs/PROTOCOL.md, "Sleep and wake-up"): the
 * spin phase (loads a pause apart, a yield every SHMIPC__YIELD_EVERY, up
 * to the endpoint's spin budget), then sleeps on the word, announced.
 * NULL, or the zero value with sleep_cap_ns 0, is the endpoint's default:
 * the whole budget, the liveness interval as the longest sleep. */
struct shmipc__pace {
  uint32_t spins_spent; /* of the spin budget, by the caller already */
  bool yield_first;     /* give the CPU up once before the first load: the
                         * caller just woke the peer, which the kernel may
                         * have queued on this CPU */
  int64_t sleep_cap_ns; /* longest sleep; 0: the liveness interval */
  bool *counted;        /* optional: the sleep phase counts the thread
                         * on the endpoint (shmipc__count()) and sets
                         * this, unless it is set already; the caller
                         * uncounts it */
  bool *crowded;        /* optional, kept by the caller from wait to
                         * wait: the last yield gave the CPU away, so
                         * yield every SHMIPC__YIELD_CROWDED spins; the
                         * wait updates it */
};

int shmipc__ep_init(struct shmipc__endpoint *ep, enum shmipc__role role,
                    uint32_t spin_budget, int64_t default_timeout_ns,
                    int64_t liveness_ns);
void shmipc__ep_fini(struct shmipc__endpoint *ep);
/* Resolve a user timeout into a deadline (see struct shmipc__deadline):
 * SHMIPC_OK, or SHMIPC_E_INVALID for a negative value other than
 * SHMIPC_TIMEOUT_DEFAULT and SHMIPC_TIMEOUT_INFINITE. Reads no clock. */
int shmipc__timeout(const struct shmipc__endpoint *ep, int64_t timeout_ns,
                    struct shmipc__deadline *out);
/* 0 while the peer may answer; SHMIPC_E_CLOSED when this side is closing;
 * SHMIPC_E_PEER_GONE when the peer closed, detached or died (a guest
 * latches it in peer_gone); SHMIPC_E_CORRUPT for an illegal host state. */
int shmipc__peer_check(struct shmipc__endpoint *ep);
/* The same, with the look at the peer's lock made only when no wait of
 * the handle found it held within the liveness interval (as a sleeping
 * wait looks). */
int shmipc__peer_check_paced(struct shmipc__endpoint *ep);
/* Host: 1 when a guest holds the guest lock, 0 when none does (counted in
 * guest_gone_at), negative on error (counts as held). */
int shmipc__guest_lock_held(struct shmipc__endpoint *ep);
/* Host: whether a look at the guest lock begun after ticket @since (a
 * value of guest_looks) found no guest. */
bool shmipc__guest_gone_since(struct shmipc__endpoint *ep, uint32_t since);
/* Wait until @u holds, at the pace @pace (NULL: the default), or until
 * @dl passes (SHMIPC_E_TIMEOUT); *out is the word that ended it. */
int shmipc__wait_word(struct shmipc__endpoint *ep,
                      const struct shmipc__until *u,
                      const struct shmipc__pace *pace,
                      struct shmipc__deadline *dl, uint32_t *out);
/* Whether an abort of the handle (when @abortable) or the abort flag
 * @abort (optional) is raised: SHMIPC_E_ABORTED, else SHMIPC_OK. */
int shmipc__aborted(struct shmipc__endpoint *ep, bool abortable,
                    const uint32_t *abort);
/* Raise an abort: set @flag (the handle's or a slot's), then move
 * ep->abort_seq and wake every sleeper of the handle, so that each
 * abortable wait looks at its flags within a bounded time even while it
 * sleeps in the kernel. */
void shmipc__abort_raise(struct shmipc__endpoint *ep, uint32_t *flag);
/* Move the guest-call doorbell's counter; wake the listener if it
 * announced a sleep (or always). */
void shmipc__ring_doorbell(struct shmipc__endpoint *ep, bool always_wake);
/* Wake every sleeper of this endpoint's words so that it re-checks. */
void shmipc__ep_wake_all(struct shmipc__endpoint *ep);

/* Closing while functions run (shmipc__ep_quiesce()). A fast call
 * (claim, publish, an answer within the spin phase, release) counts
 * itself nowhere: the count is a shared line that every call would write.
 * A call counts itself on its handle once it takes a slow path (the sleep
 * phase of a wait, a wait for a free slot) and says so in a flag of its
 * own (a local of the public function, passed down as @counted: see
 * struct shmipc__pace), which uncounts it as its last step. Functions
 * that always wait (serving, waiting for a guest or for the workers, a
 * stream) count themselves on entry. */
/* Count the calling thread on @ep (before its look at closing). */
void shmipc__count(struct shmipc__endpoint *ep);
void shmipc__uncount(struct shmipc__endpoint *ep);
/* Destroy and detach, after they set closing: wake every sleeper of @ep
 * until no thread is counted inside it, and as long again as a spin phase
 * may take (a fast call in progress is counted nowhere), at most a bounded
 * time (a few liveness intervals). */
void shmipc__ep_quiesce(struct shmipc__endpoint *ep);

/* Spins between two shmipc__yield() calls in a spin phase: when threads
 * outnumber cores, pure spinning starves the peer we wait for. */
#define SHMIPC__YIELD_EVERY 128u
/* The same for a waiter whose last yield gave its CPU to another thread
 * (a yield that took longer than SHMIPC__YIELD_RAN_NS): then the peer is
 * probably queued behind us, each answer comes only after we yield, and a
 * long spin before each yield is what a round trip costs (threads >=
 * cores). A power of two, dividing SHMIPC__YIELD_EVERY. */
#define SHMIPC__YIELD_CROWDED 16u
#define SHMIPC__YIELD_RAN_NS INT64_C(1000)

/* One yield of a spin phase: yield, and note in *@crowded
 * (optional) whether another thread ran meanwhile. Returns the cadence
 * of the yields that follow. A yield at the crowded cadence counts as
 * SHMIPC__YIELD_EVERY spins of the budget, so that a spin phase makes as
 * many yields before its sleep as at the usual cadence. */
uint32_t shmipc__spin_yield(bool *crowded);

/* error.c: the detail of a failed shmipc__call() that its arguments tell
 * (INVALID, TOO_BIG, TRUNCATED, REMOTE); returns @r. */
int shmipc__call_detail(const struct shmipc__endpoint *ep, int r,
                        const void *req, size_t req_len, const void *resp,
                        size_t resp_cap, const size_t *resp_len,
                        int64_t timeout_ns);

/* slot.c: requester and responder halves of the slot state machine */
/* Claim a free requester slot, waiting until @dl. The caller passes the
 * same deadline on to the wait for the answer: one budget for both. */
/* @stop (optional, atomic) is a flag of the caller's that ends the wait
 * with SHMIPC_E_CLOSED, as the endpoint's closing does (a stream
 * sender's). @counted as in struct shmipc__pace: the wait for a free slot
 * counts the thread (NULL: the caller counted itself already). */
int shmipc__slot_acquire(struct shmipc__endpoint *ep,
                         struct shmipc__deadline *dl, const uint32_t *stop,
                         bool *counted, struct shmipc_slot **out);
/* shmipc_slot_wait() with a deadline (the slot was checked to be SENT);
 * @stop and @counted as for shmipc__slot_acquire(). */
int shmipc__slot_wait(struct shmipc_slot *s, struct shmipc__deadline *dl,
                      const uint32_t *stop, bool *counted);
/* Bring every requester slot that no thread of ours holds back to a known
 * state (docs/PROTOCOL.md, "Repair"): FREE with a new generation, unless
 * the responder may still own it. The host does it when the attach word
 * moves; a guest once at attach, for its guest slots. */
void shmipc__slot_repair(struct shmipc__endpoint *ep);
/* A guest at attach, before it serves: answer every host slot left in
 * PROCESSING by the guest before it with SYSTEM_ERROR, so that a host
 * thread still waiting there ends (REMOTE) and the slot is claimable. */
void shmipc__slot_inherit(struct shmipc__endpoint *ep);
/* The host's trigger: shmipc__slot_repair() once per change of the attach
 * word's state or epoch (a guest attached, detached, or replaced a dead
 * one); nothing for a guest. */
void shmipc__slot_repair_epoch(struct shmipc__endpoint *ep);
/* @counted as for shmipc__slot_acquire(): the caller uncounts the thread
 * when it is set, after its last look at the handle. */
int shmipc__call(struct shmipc__endpoint *ep, uint32_t type, const void *req,
                 size_t req_len, void *resp, size_t resp_cap, size_t *resp_len,
                 uint32_t *resp_type, int64_t timeout_ns, bool *counted);
/* A held slot whose answer was taken (DONE) carries another request:
 * the record moves to DEFERRED over that answer, as a claim over a
 * consumed answer does; its response getters give nothing. */
void shmipc__slot_rearm(struct shmipc_slot *s);
/* Responder: take the next request of the slot whose word was last seen as
 * @last, before seeing it, by trying the take CAS from the value the next
 * request will most likely have (REQ_READY of the next generation, no
 * waiter bit), at most @spins times. Returns true with *out the taken
 * (PROCESSING) word; false with *out the last value seen, for the usual
 * wait. */
bool shmipc__take_next(uint32_t *ctrl, uint32_t last, uint32_t spins,
                       bool *crowded, uint32_t *out);
/* Serve the request in slot @index whose control word was read as @v in
 * REQ_READY (or was already taken: @v in PROCESSING, from
 * shmipc__take_next()). Returns 1 when served, 0 when the slot was no
 * longer ours to take, negative on a corrupt slot. */
int shmipc__respond(struct shmipc__endpoint *ep, uint32_t index, uint32_t v,
                    shmipc_handler_fn fn, void *user);

/* host.c, guest.c: the pieces of a host or guest that the stream sender
 * needs: the counter its stream identifiers come from (atomic), and the
 * guest's endpoint. */
size_t *shmipc__host_stream_ids(shmipc_host *h);
size_t *shmipc__guest_stream_ids(shmipc_guest *g);
struct shmipc__endpoint *shmipc__guest_ep(shmipc_guest *g);
/* shmipc__call() on a host slot whose answer @s announces a large answer
 * (docs/PROTOCOL.md, "Large answers"): pull it into @resp under @dl. The
 * caller releases @s. */
int shmipc__host_call_large(struct shmipc_slot *s, void *resp, size_t resp_cap,
                            size_t *resp_len, uint32_t *resp_type,
                            struct shmipc__deadline *dl, bool *counted);
/* host.c: the guest that anonymous host @h launched last, so that
 * shmipc_host_wait_guest() can tell when no guest can come any more.
 * @handle is the host's own duplicate of the child's process handle
 * (shmipc__child_dup()), which the host then owns; a handle of -1 records
 * a child whose end cannot be seen (no pidfd). Any earlier one is closed. */
void shmipc__host_launched(shmipc_host *h, intptr_t handle, int64_t pid);
/* launch_linux.c, launch_windows.c: a duplicate of @c's process handle
 * for the host (a pidfd, a process handle), -1 when there is none; 1 when
 * the process of such a handle has ended, 0 while it runs (or on an error
 * of the look); closing one. */
intptr_t shmipc__child_dup(const shmipc_child *c);
int shmipc__child_ended(intptr_t handle);
void shmipc__child_handle_close(intptr_t handle);

/* A host's endpoint: the first member of struct shmipc_host (host.c
 * asserts it), reached without a call on the acquire path. */
static inline struct shmipc__endpoint *shmipc__host_ep(shmipc_host *h)
{
  return (struct shmipc__endpoint *)(void *)h;
}

/* stream_wire.c: the stream header and answer (docs/PROTOCOL.md, "Streams") */
#define SHMIPC__STREAM_HDR 32u
#define SHMIPC__STREAM_RESP 16u
#define SHMIPC__STREAM_F_ABORT 1u
enum shmipc__stream_state {
  SHMIPC__SST_NONE = 0,
  SHMIPC__SST_OPEN = 1,
  SHMIPC__SST_COMPLETE = 2,
  SHMIPC__SST_DROPPED = 3,
};
struct shmipc__stream_hdr {
  uint64_t id, total, offset;
  uint32_t app_type, flags;
};
void shmipc__stream_hdr_get(struct shmipc__stream_hdr *h, const void *p);
void shmipc__stream_hdr_put(void *p, const struct shmipc__stream_hdr *h);
void shmipc__stream_resp_put(void *p, uint32_t status, uint32_t state,
                             uint32_t max_parked);
void shmipc__stream_resp_get(const void *p, uint32_t *status, uint32_t *state,
                             uint32_t *max_parked);
/* Judge a stream answer as the sender does: SHMIPC_OK with its fields;
 * SHMIPC_E_REMOTE for an answer to STREAM_START that is no stream answer
 * at all (the guest has no stream receiver); SHMIPC_E_CORRUPT for any
 * other answer that is not a legal answer to @req_type. */
int shmipc__stream_answer(uint32_t req_type, uint32_t resp_type,
                          size_t resp_size, const void *resp, uint32_t *status,
                          uint32_t *state, uint32_t *max_parked);
/* The same for a sender whose receiver is the @peer ("guest", "host"):
 * the REMOTE text names it. */
int shmipc__stream_answer_from(const char *peer, uint32_t req_type,
                               uint32_t resp_type, size_t resp_size,
                               const void *resp, uint32_t *status,
                               uint32_t *state, uint32_t *max_parked);

/* memory_linux.c: a hint that @p (malloc'd, @len bytes) will be written
 * whole soon: large pages if the system offers them. */
void shmipc__advise_large(void *p, size_t len);
/* memory_linux.c: give the pages wholly inside @p (malloc'd, @len bytes,
 * about to be freed) back to the system at once. */
void shmipc__release_pages(void *p, size_t len);

/* copy.c: memcpy with streaming stores (the destination's lines are not
 * read first) where the CPU has them, for copies of at least
 * SHMIPC__STREAMING_MIN bytes into buffers that will not be read soon;
 * plain memcpy otherwise. Ordered before the caller's next store like
 * memcpy. */
#define SHMIPC__STREAMING_MIN ((size_t)64 << 10)
void shmipc__copy_streaming(void *dst, const void *src, size_t n);
/* Streams at least this large go through shmipc__copy_streaming(): larger
 * than the caches, so their first bytes are gone from them by delivery. */
#define SHMIPC__STREAMING_TOTAL ((uint64_t)16 << 20)

/* reassembler.c: tests drive the receiver's clock (nanoseconds) */
void shmipc__reassembler_set_clock(shmipc_reassembler *r,
                                   int64_t (*now)(void *), void *arg);
/* reassembler.c, for a host serving guest streams: whether @r holds
 * anything (an open stream, a dropped one still being copied, a spare
 * buffer); drop every open stream of @r and its spare buffer (a dropped
 * stream's memory goes when its last copy ends); drop what is idle past
 * the idle timeout, as a stream message would. */
bool shmipc__reassembler_holds(shmipc_reassembler *r);
void shmipc__reassembler_drop_all(shmipc_reassembler *r);
void shmipc__reassembler_sweep(shmipc_reassembler *r);

#endif /* SHMIPC_INTERNAL_H */
