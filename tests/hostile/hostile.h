/* SPDX-License-Identifier: MIT */
/*
 * A hostile peer, for tests only: a raw view of a LIVE segment (opened
 * O_RDWR and mapped, no validation, no liveness lock unless asked for) and
 * the garbage it can write into it while the other side runs. Used by the
 * shmipc-hostile tool (hostile_main.c) and by test_hostile_host.c and
 * test_hostile_guest.c.
 *
 * Nothing here trusts the header: the raw geometry is whatever the header
 * says, and every slot access is bounds-checked against the mapping's real
 * size, so the tool itself survives the garbage it writes.
 */
#ifndef SHMIPC_HOSTILE_H
#define SHMIPC_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "raw.h"

struct hostile_seg {
  struct raw r; /* r.base, r.size: the file's size at open time */
  /* Geometry as read from the header at open time (unvalidated). */
  uint32_t host_slots;
  uint32_t guest_slots;
  uint32_t req_capacity;
  uint32_t resp_capacity;
  uint32_t slot_stride;
};

/* Open and map the segment NAME (raw_open()). Returns 0 or -errno. */
int hostile_open(const char *name, struct hostile_seg *s);
void hostile_close(struct hostile_seg *s);

static inline struct shmipc_wire_header *
hostile_hdr(const struct hostile_seg *s)
{
  return (struct shmipc_wire_header *)(void *)s->r.base;
}

/* The header of slot @i (host slots first), or NULL when it lies outside
 * the mapping or the raw geometry is nonsense. */
struct shmipc_wire_slot *hostile_slot(const struct hostile_seg *s, uint32_t i);
/* The request / response buffer of slot @i, or NULL (as above). */
uint8_t *hostile_req_buf(const struct hostile_seg *s, uint32_t i);
uint8_t *hostile_resp_buf(const struct hostile_seg *s, uint32_t i);

/* Words: atomic accesses (sequentially consistent), so that a sleeping
 * peer sees them; hostile_wake() wakes every futex sleeper on the word. */
uint32_t hostile_load32(const uint32_t *p);
void hostile_store32(uint32_t *p, uint32_t v);
uint32_t hostile_cas32(uint32_t *p, uint32_t expected, uint32_t desired);
void hostile_wake(uint32_t *p);

/* Named fields. Header fields: magic, version, header_size, host_slots,
 * guest_slots, req_capacity, resp_capacity, slot_header_size, slot_stride,
 * slots_offset, flags, segment_size, session_nonce, host_state, host_pid,
 * attach, guest_pid, doorbell. Slot fields: ctrl, req_type, req_size,
 * req_flags, req_seq, resp_type, resp_size, resp_flags, reserved0,
 * resp_seq. Returns 0, or -1 for an unknown field or slot. Word fields are
 * stored atomically and their futex sleepers woken. */
int hostile_set_header(struct hostile_seg *s, const char *field, uint64_t v);
int hostile_set_slot(struct hostile_seg *s, uint32_t slot, const char *field,
                     uint64_t v);

/* Fill @len bytes at @p with bytes from the xorshift generator *x. */
void hostile_random_bytes(void *p, size_t len, uint64_t *x);
uint64_t hostile_rand(uint64_t *x);

/* Random bytes over the whole 64-byte header of slot @slot (ctrl included,
 * stored atomically and woken). Returns 0 or -1. */
int hostile_random_slot(struct hostile_seg *s, uint32_t slot, uint64_t *x);

/* Act as a requester on slot @slot with arbitrary header values: claim it
 * (FREE -> CLAIMED, generation + 1, by CAS, so a cooperating requester in
 * another process never collides with us), write req_type/size/flags/seq
 * as given (sizes past the capacity included; no payload is written
 * beyond the buffer), publish REQ_READY and wait up to @timeout_ms for
 * RESP_READY; on a guest slot it rings the doorbell after publishing, as
 * a guest does. On success the response header is copied to *resp and the
 * slot freed. Returns 0; -1 no free slot / bad slot; -2 timeout (the slot
 * is then left as it is); -3 the word went illegal or changed generation. */
int hostile_request(struct hostile_seg *s, uint32_t slot, uint32_t type,
                    uint32_t size, uint32_t flags, uint64_t seq,
                    const void *payload, size_t payload_len, int timeout_ms,
                    struct shmipc_wire_slot *resp);

/* Take the guest role by hand: OFD-lock liveness byte 1 and move the
 * attach word to ATTACHED with a new epoch (waking a waiting host).
 * Returns 0, -1 lock busy / failed. */
int hostile_guest_attach(struct hostile_seg *s);
/* attach -> DETACHED (epoch kept) and drop the lock. */
void hostile_guest_detach(struct hostile_seg *s);

/* Fake-guest responder modes (hostile_respond). Every mode writes the
 * correct echo payload; what it corrupts is the framing, which the host
 * must refuse (or, for the legal ones, accept exactly). */
enum hostile_mode {
  HM_ECHO = 0,    /* correct answer (control) */
  HM_END_ALIGNED, /* correct answer, end-aligned (legal) */
  HM_SIZE_CAP1,   /* resp_size = capacity + 1 */
  HM_SIZE_MAX,    /* resp_size = 0xFFFFFFFF */
  HM_SIZE_HIGH,   /* resp_size = 0x80000000 */
  HM_FLAGS,       /* unknown resp_flags bits */
  HM_SEQ,         /* resp_seq of another call */
  HM_GEN,         /* RESP_READY of another generation */
  HM_STATE,       /* illegal state 5..7 instead of RESP_READY */
  HM_RESERVED,    /* RESP_READY with a reserved bit set */
  HM_REGRESS,     /* FREE / CLAIMED / REQ_READY instead of RESP_READY */
  HM_RANDOM,      /* random bytes over the slot header */
  HM_LATE,        /* answer correctly after the host gave up (late) */
  HM_SILENT,      /* take the request and never answer */
  HM_MIXED,       /* any of the above, chosen per request */
  HM_COUNT
};

const char *hostile_mode_name(int mode);
int hostile_mode_parse(const char *name);

struct hostile_respond_opts {
  int mode;
  uint64_t seed;
  int for_ms;     /* serve this long, then stop */
  int late_ms;    /* HM_LATE: delay before the late answer */
  int leave_mess; /* 0: at the end put every slot we hold back into a
                     state a crashed guest could leave (PROCESSING of its
                     generation); 1: leave whatever garbage is there */
  int detach;     /* 1: detach properly at the end; 0: just drop the lock */
};

struct hostile_stats {
  unsigned long taken; /* requests taken */
  unsigned long per_mode[HM_COUNT];
};

/* Serve the host slots with the given mode until for_ms has passed. The
 * caller has attached with hostile_guest_attach(). Returns 0. */
int hostile_respond(struct hostile_seg *s, const struct hostile_respond_opts *o,
                    struct hostile_stats *st);

/* Wait up to @timeout_ms for a request in slot @slot (either direction),
 * take it and answer it once with @mode framing (not HM_LATE, HM_SILENT or
 * HM_MIXED). Returns 0, or -1 when no request came. */
int hostile_serve_one(struct hostile_seg *s, uint32_t slot, int mode,
                      uint64_t *x, int timeout_ms);

#endif /* SHMIPC_HOSTILE_H */
