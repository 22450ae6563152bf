/* SPDX-License-Identifier: MIT */
/* The tables below (codes, fields, offsets) are aligned by hand, one entry
 * a line, for the reader: clang-format leaves this file as it is. */
/* clang-format off */
/*
 * Wire layout, protocol version 1. docs/PROTOCOL.md is the prose;
 * tests/layout.golden the machine-readable copy that the C and Go tests
 * both check. Fields are plain integers: shared words are only touched
 * through src/atomic.h.
 */
#ifndef SHMIPC_LAYOUT_H
#define SHMIPC_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define SHMIPC_MAGIC UINT64_C(0x315F4350494D4853) /* "SHMIPC_1" */
#define SHMIPC_PROTOCOL_VERSION 1u
#define SHMIPC_HEADER_SIZE 256u
#define SHMIPC_SLOT_HEADER_SIZE 64u
#define SHMIPC_SLOTS_OFFSET 256u
#define SHMIPC_MAX_SLOTS 1024u
#define SHMIPC_MAX_CAPACITY (1u << 30)
#define SHMIPC_MAX_NAME_LEN 64u
#define SHMIPC_CACHE_LINE 64u
/* Counters (docs/PROTOCOL.md, "Counters"): after the slots (from a
 * multiple of 128), one block per side, then two halves per slot. Each
 * writer's part is 128 bytes, an adjacent-line pair of x86 caches. */
#define SHMIPC_COUNTERS_ALIGN 128u
#define SHMIPC_COUNTERS_SIDE_SIZE 128u
#define SHMIPC_COUNTERS_HOST 0u
#define SHMIPC_COUNTERS_GUEST 128u
#define SHMIPC_COUNTERS_SLOTS 256u
#define SHMIPC_COUNTERS_SLOT_SIZE 256u

/* host_state */
#define SHMIPC_HOST_INIT 0u
#define SHMIPC_HOST_READY 1u
#define SHMIPC_HOST_CLOSED 2u

/* attach word */
#define SHMIPC_ATTACH_NONE 0u
#define SHMIPC_ATTACH_ATTACHED 1u
#define SHMIPC_ATTACH_DETACHED 2u
#define SHMIPC_ATTACH_STATE_MASK 0xFFu
#define SHMIPC_ATTACH_HOST_WAITING 0x80000000u
#define SHMIPC_ATTACH_EPOCH_SHIFT 8u
#define SHMIPC_ATTACH_EPOCH_MASK 0x00FFFF00u
#define SHMIPC_ATTACH_RESERVED_MASK 0x7F000000u

/* doorbell word */
#define SHMIPC_DOORBELL_LISTENER_WAITING 0x80000000u
#define SHMIPC_DOORBELL_COUNTER_MASK 0x7FFFFFFFu

/* slot control word */
#define SHMIPC_CTRL_STATE_MASK 0x7u
#define SHMIPC_CTRL_REQUESTER_WAITING 0x10u
#define SHMIPC_CTRL_RESPONDER_WAITING 0x20u
#define SHMIPC_CTRL_RESERVED_MASK 0xC8u
#define SHMIPC_CTRL_GEN_SHIFT 8u
#define SHMIPC_CTRL_GEN_ONE (1u << SHMIPC_CTRL_GEN_SHIFT)

#define SHMIPC_SLOT_FREE 0u
#define SHMIPC_SLOT_CLAIMED 1u
#define SHMIPC_SLOT_REQ_READY 2u
#define SHMIPC_SLOT_PROCESSING 3u
#define SHMIPC_SLOT_RESP_READY 4u
#define SHMIPC_SLOT_STATE_MAX SHMIPC_SLOT_RESP_READY

/* req_flags / resp_flags */
#define SHMIPC_WIRE_END_ALIGNED 0x1u
#define SHMIPC_WIRE_FLAGS_KNOWN 0x1u

/* slot deadline word (docs/PROTOCOL.md, "Deadline and cancel"):
 * 0 = none, else bits 0-61 a clock value (or a budget, with BUDGET) */
#define SHMIPC_DEADLINE_CANCELLED_BIT 63u
#define SHMIPC_DEADLINE_BUDGET_BIT    62u
#define SHMIPC_DEADLINE_CANCELLED (UINT64_C(1) << SHMIPC_DEADLINE_CANCELLED_BIT)
#define SHMIPC_DEADLINE_BUDGET    (UINT64_C(1) << SHMIPC_DEADLINE_BUDGET_BIT)
#define SHMIPC_DEADLINE_VALUE     UINT64_C(0x3FFFFFFFFFFFFFFF)

/* liveness lock bytes */
#define SHMIPC_LOCK_HOST_BYTE 0
#define SHMIPC_LOCK_GUEST_BYTE 1

struct shmipc_wire_header {
  /* line 0: written once by the host before host_state = READY */
  uint64_t magic;
  uint32_t version;
  uint32_t header_size;
  uint32_t host_slots;
  uint32_t guest_slots;
  uint32_t req_capacity;
  uint32_t resp_capacity;
  uint32_t slot_header_size;
  uint32_t slot_stride;
  uint32_t slots_offset;
  uint32_t flags;
  uint64_t segment_size;
  uint64_t session_nonce;
  /* line 1: host */
  uint32_t host_state;
  uint32_t host_pid;
  uint8_t pad1[56];
  /* line 2: guest */
  uint32_t attach;
  uint32_t guest_pid;
  uint8_t pad2[56];
  /* line 3: guest-call doorbell */
  uint32_t doorbell;
  uint8_t pad3[60];
};

struct shmipc_wire_slot {
  uint32_t ctrl;
  uint32_t req_type;
  uint32_t req_size;
  uint32_t req_flags;
  uint64_t req_seq;
  uint32_t resp_type;
  uint32_t resp_size;
  uint32_t resp_flags;
  uint32_t reserved0;
  uint64_t resp_seq;
  uint64_t req_time;
  uint64_t deadline;
};

/* One side's counters (written by that side alone; the other side never
 * trusts them). */
struct shmipc_wire_side_counters {
  uint64_t timeouts;
  uint64_t cancels;
  uint64_t quarantined;
  uint64_t late_dropped;
  uint64_t recovered;
  uint64_t peer_gone;
  uint64_t remote;
  uint64_t corrupt;
  uint64_t other_sleeps;
  uint64_t other_wakes;
  uint64_t stream_chunks;
  uint64_t stream_bytes;
  uint64_t stream_drops;
  uint64_t attaches;
  uint64_t epoch;
  uint64_t start_time;
};

/* A slot's counters: the first 128 bytes the requester's, the next 128
 * the responder's. */
struct shmipc_wire_slot_counters {
  uint64_t req_calls;
  uint64_t req_answered;
  uint64_t req_sleeps;
  uint64_t req_wakes;
  uint64_t req_reserved[12];
  uint64_t resp_served;
  uint64_t resp_errors;
  uint64_t resp_sleeps;
  uint64_t resp_wakes;
  uint64_t resp_reserved[12];
};

_Static_assert(sizeof(struct shmipc_wire_header) == SHMIPC_HEADER_SIZE, "header size");
_Static_assert(offsetof(struct shmipc_wire_header, magic) == 0, "magic");
_Static_assert(offsetof(struct shmipc_wire_header, version) == 8, "version");
_Static_assert(offsetof(struct shmipc_wire_header, header_size) == 12, "header_size");
_Static_assert(offsetof(struct shmipc_wire_header, host_slots) == 16, "host_slots");
_Static_assert(offsetof(struct shmipc_wire_header, guest_slots) == 20, "guest_slots");
_Static_assert(offsetof(struct shmipc_wire_header, req_capacity) == 24, "req_capacity");
_Static_assert(offsetof(struct shmipc_wire_header, resp_capacity) == 28, "resp_capacity");
_Static_assert(offsetof(struct shmipc_wire_header, slot_header_size) == 32, "slot_header_size");
_Static_assert(offsetof(struct shmipc_wire_header, slot_stride) == 36, "slot_stride");
_Static_assert(offsetof(struct shmipc_wire_header, slots_offset) == 40, "slots_offset");
_Static_assert(offsetof(struct shmipc_wire_header, flags) == 44, "flags");
_Static_assert(offsetof(struct shmipc_wire_header, segment_size) == 48, "segment_size");
_Static_assert(offsetof(struct shmipc_wire_header, session_nonce) == 56, "session_nonce");
_Static_assert(offsetof(struct shmipc_wire_header, host_state) == 64, "host_state");
_Static_assert(offsetof(struct shmipc_wire_header, host_pid) == 68, "host_pid");
_Static_assert(offsetof(struct shmipc_wire_header, attach) == 128, "attach");
_Static_assert(offsetof(struct shmipc_wire_header, guest_pid) == 132, "guest_pid");
_Static_assert(offsetof(struct shmipc_wire_header, doorbell) == 192, "doorbell");

_Static_assert(sizeof(struct shmipc_wire_slot) == SHMIPC_SLOT_HEADER_SIZE, "slot header size");
_Static_assert(offsetof(struct shmipc_wire_slot, ctrl) == 0, "ctrl");
_Static_assert(offsetof(struct shmipc_wire_slot, req_type) == 4, "req_type");
_Static_assert(offsetof(struct shmipc_wire_slot, req_size) == 8, "req_size");
_Static_assert(offsetof(struct shmipc_wire_slot, req_flags) == 12, "req_flags");
_Static_assert(offsetof(struct shmipc_wire_slot, req_seq) == 16, "req_seq");
_Static_assert(offsetof(struct shmipc_wire_slot, resp_type) == 24, "resp_type");
_Static_assert(offsetof(struct shmipc_wire_slot, resp_size) == 28, "resp_size");
_Static_assert(offsetof(struct shmipc_wire_slot, resp_flags) == 32, "resp_flags");
_Static_assert(offsetof(struct shmipc_wire_slot, resp_seq) == 40, "resp_seq");
_Static_assert(offsetof(struct shmipc_wire_slot, req_time) == 48, "req_time");
_Static_assert(offsetof(struct shmipc_wire_slot, deadline) == 56, "deadline");

_Static_assert(sizeof(struct shmipc_wire_side_counters) == SHMIPC_COUNTERS_SIDE_SIZE, "side counters size");
_Static_assert(offsetof(struct shmipc_wire_side_counters, timeouts) == 0, "timeouts");
_Static_assert(offsetof(struct shmipc_wire_side_counters, cancels) == 8, "cancels");
_Static_assert(offsetof(struct shmipc_wire_side_counters, quarantined) == 16, "quarantined");
_Static_assert(offsetof(struct shmipc_wire_side_counters, late_dropped) == 24, "late_dropped");
_Static_assert(offsetof(struct shmipc_wire_side_counters, recovered) == 32, "recovered");
_Static_assert(offsetof(struct shmipc_wire_side_counters, peer_gone) == 40, "peer_gone");
_Static_assert(offsetof(struct shmipc_wire_side_counters, remote) == 48, "remote");
_Static_assert(offsetof(struct shmipc_wire_side_counters, corrupt) == 56, "corrupt");
_Static_assert(offsetof(struct shmipc_wire_side_counters, other_sleeps) == 64, "other_sleeps");
_Static_assert(offsetof(struct shmipc_wire_side_counters, other_wakes) == 72, "other_wakes");
_Static_assert(offsetof(struct shmipc_wire_side_counters, stream_chunks) == 80, "stream_chunks");
_Static_assert(offsetof(struct shmipc_wire_side_counters, stream_bytes) == 88, "stream_bytes");
_Static_assert(offsetof(struct shmipc_wire_side_counters, stream_drops) == 96, "stream_drops");
_Static_assert(offsetof(struct shmipc_wire_side_counters, attaches) == 104, "attaches");
_Static_assert(offsetof(struct shmipc_wire_side_counters, epoch) == 112, "epoch");
_Static_assert(offsetof(struct shmipc_wire_side_counters, start_time) == 120, "start_time");

_Static_assert(sizeof(struct shmipc_wire_slot_counters) == SHMIPC_COUNTERS_SLOT_SIZE, "slot counters size");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, req_calls) == 0, "req_calls");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, req_answered) == 8, "req_answered");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, req_sleeps) == 16, "req_sleeps");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, req_wakes) == 24, "req_wakes");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, resp_served) == 128, "resp_served");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, resp_errors) == 136, "resp_errors");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, resp_sleeps) == 144, "resp_sleeps");
_Static_assert(offsetof(struct shmipc_wire_slot_counters, resp_wakes) == 152, "resp_wakes");

static inline uint64_t shmipc__round64(uint64_t x)
{
  return (x + (SHMIPC_CACHE_LINE - 1)) & ~(uint64_t)(SHMIPC_CACHE_LINE - 1);
}

static inline uint32_t shmipc__ctrl_state(uint32_t ctrl)
{
  return ctrl & SHMIPC_CTRL_STATE_MASK;
}

/* A control word is legal when its state is known and no reserved bit is
 * set (docs/PROTOCOL.md, "The control word"). */
static inline int shmipc__ctrl_legal(uint32_t ctrl)
{
  return shmipc__ctrl_state(ctrl) <= SHMIPC_SLOT_STATE_MAX &&
         (ctrl & SHMIPC_CTRL_RESERVED_MASK) == 0;
}

#endif /* SHMIPC_LAYOUT_H */
/* clang-format on */
