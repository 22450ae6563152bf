/* SPDX-License-Identifier: MIT */
/*
 * The C side of the layout contract: every row of tests/layout.golden must
 * match the C definitions, and every C definition must have its row. The
 * Go tests read the same file (go/layout_test.go).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "answer.h"
#include "layout.h"
#include "shmipc/shmipc.h"

#define FIELD(kind, type, f)                                                   \
  {                                                                            \
    kind, #f, (int64_t)offsetof(struct type, f),                               \
        sizeof(((struct type *)0)->f), 0                                       \
  }
#define CONST(kind, name, v)                                                   \
  {                                                                            \
    kind, name, (int64_t)(v), 0, 0                                             \
  }

/* A field of a wire header that has no C struct (a little-endian byte
 * layout, src/answer.c): its offset and size. */
#define AT(kind, name, off, sz)                                                \
  {                                                                            \
    kind, name, (int64_t)(off), (sz), 0                                        \
  }

struct row {
  const char *kind;
  const char *name;
  int64_t value;
  size_t size;
  int seen;
};

static struct row rows[] = {
    CONST("const", "magic", SHMIPC_MAGIC),
    CONST("const", "version", SHMIPC_PROTOCOL_VERSION),
    CONST("const", "header_size", SHMIPC_HEADER_SIZE),
    CONST("const", "slot_header_size", SHMIPC_SLOT_HEADER_SIZE),
    CONST("const", "slots_offset", SHMIPC_SLOTS_OFFSET),
    CONST("const", "max_slots", SHMIPC_MAX_SLOTS),
    CONST("const", "max_capacity", SHMIPC_MAX_CAPACITY),
    CONST("const", "max_name_len", SHMIPC_MAX_NAME_LEN),
    CONST("const", "counters_align", SHMIPC_COUNTERS_ALIGN),
    CONST("const", "counters_side_size", SHMIPC_COUNTERS_SIDE_SIZE),
    CONST("const", "counters_host", SHMIPC_COUNTERS_HOST),
    CONST("const", "counters_guest", SHMIPC_COUNTERS_GUEST),
    CONST("const", "counters_slots", SHMIPC_COUNTERS_SLOTS),
    CONST("const", "counters_slot_size", SHMIPC_COUNTERS_SLOT_SIZE),
    FIELD("header", shmipc_wire_header, magic),
    FIELD("header", shmipc_wire_header, version),
    FIELD("header", shmipc_wire_header, header_size),
    FIELD("header", shmipc_wire_header, host_slots),
    FIELD("header", shmipc_wire_header, guest_slots),
    FIELD("header", shmipc_wire_header, req_capacity),
    FIELD("header", shmipc_wire_header, resp_capacity),
    FIELD("header", shmipc_wire_header, slot_header_size),
    FIELD("header", shmipc_wire_header, slot_stride),
    FIELD("header", shmipc_wire_header, slots_offset),
    FIELD("header", shmipc_wire_header, flags),
    FIELD("header", shmipc_wire_header, segment_size),
    FIELD("header", shmipc_wire_header, session_nonce),
    FIELD("header", shmipc_wire_header, host_state),
    FIELD("header", shmipc_wire_header, host_pid),
    FIELD("header", shmipc_wire_header, attach),
    FIELD("header", shmipc_wire_header, guest_pid),
    FIELD("header", shmipc_wire_header, doorbell),
    FIELD("slot", shmipc_wire_slot, ctrl),
    FIELD("slot", shmipc_wire_slot, req_type),
    FIELD("slot", shmipc_wire_slot, req_size),
    FIELD("slot", shmipc_wire_slot, req_flags),
    FIELD("slot", shmipc_wire_slot, req_seq),
    FIELD("slot", shmipc_wire_slot, resp_type),
    FIELD("slot", shmipc_wire_slot, resp_size),
    FIELD("slot", shmipc_wire_slot, resp_flags),
    FIELD("slot", shmipc_wire_slot, resp_seq),
    FIELD("slot", shmipc_wire_slot, req_time),
    FIELD("slot", shmipc_wire_slot, deadline),
    FIELD("side", shmipc_wire_side_counters, timeouts),
    FIELD("side", shmipc_wire_side_counters, cancels),
    FIELD("side", shmipc_wire_side_counters, quarantined),
    FIELD("side", shmipc_wire_side_counters, late_dropped),
    FIELD("side", shmipc_wire_side_counters, recovered),
    FIELD("side", shmipc_wire_side_counters, peer_gone),
    FIELD("side", shmipc_wire_side_counters, remote),
    FIELD("side", shmipc_wire_side_counters, corrupt),
    FIELD("side", shmipc_wire_side_counters, other_sleeps),
    FIELD("side", shmipc_wire_side_counters, other_wakes),
    FIELD("side", shmipc_wire_side_counters, stream_chunks),
    FIELD("side", shmipc_wire_side_counters, stream_bytes),
    FIELD("side", shmipc_wire_side_counters, stream_drops),
    FIELD("side", shmipc_wire_side_counters, attaches),
    FIELD("side", shmipc_wire_side_counters, epoch),
    FIELD("side", shmipc_wire_side_counters, start_time),
    FIELD("slotctr", shmipc_wire_slot_counters, req_calls),
    FIELD("slotctr", shmipc_wire_slot_counters, req_answered),
    FIELD("slotctr", shmipc_wire_slot_counters, req_sleeps),
    FIELD("slotctr", shmipc_wire_slot_counters, req_wakes),
    FIELD("slotctr", shmipc_wire_slot_counters, resp_served),
    FIELD("slotctr", shmipc_wire_slot_counters, resp_errors),
    FIELD("slotctr", shmipc_wire_slot_counters, resp_sleeps),
    FIELD("slotctr", shmipc_wire_slot_counters, resp_wakes),
    CONST("ctrl", "state_mask", SHMIPC_CTRL_STATE_MASK),
    CONST("ctrl", "requester_waiting", SHMIPC_CTRL_REQUESTER_WAITING),
    CONST("ctrl", "responder_waiting", SHMIPC_CTRL_RESPONDER_WAITING),
    CONST("ctrl", "reserved_mask", SHMIPC_CTRL_RESERVED_MASK),
    CONST("ctrl", "gen_shift", SHMIPC_CTRL_GEN_SHIFT),
    CONST("state", "free", SHMIPC_SLOT_FREE),
    CONST("state", "claimed", SHMIPC_SLOT_CLAIMED),
    CONST("state", "req_ready", SHMIPC_SLOT_REQ_READY),
    CONST("state", "processing", SHMIPC_SLOT_PROCESSING),
    CONST("state", "resp_ready", SHMIPC_SLOT_RESP_READY),
    CONST("host", "init", SHMIPC_HOST_INIT),
    CONST("host", "ready", SHMIPC_HOST_READY),
    CONST("host", "closed", SHMIPC_HOST_CLOSED),
    CONST("attach", "none", SHMIPC_ATTACH_NONE),
    CONST("attach", "attached", SHMIPC_ATTACH_ATTACHED),
    CONST("attach", "detached", SHMIPC_ATTACH_DETACHED),
    CONST("attach", "state_mask", SHMIPC_ATTACH_STATE_MASK),
    CONST("deadline", "cancelled_bit", SHMIPC_DEADLINE_CANCELLED_BIT),
    CONST("deadline", "budget_bit", SHMIPC_DEADLINE_BUDGET_BIT),
    CONST("deadline", "value_mask", SHMIPC_DEADLINE_VALUE),
    CONST("attach", "host_waiting", SHMIPC_ATTACH_HOST_WAITING),
    CONST("attach", "epoch_shift", SHMIPC_ATTACH_EPOCH_SHIFT),
    CONST("attach", "epoch_mask", SHMIPC_ATTACH_EPOCH_MASK),
    CONST("attach", "reserved_mask", SHMIPC_ATTACH_RESERVED_MASK),
    CONST("doorbell", "listener_waiting", SHMIPC_DOORBELL_LISTENER_WAITING),
    CONST("doorbell", "counter_mask", SHMIPC_DOORBELL_COUNTER_MASK),
    CONST("flag", "end_aligned", SHMIPC_WIRE_END_ALIGNED),
    CONST("lock", "host_byte", SHMIPC_LOCK_HOST_BYTE),
    CONST("lock", "guest_byte", SHMIPC_LOCK_GUEST_BYTE),
    CONST("msg", "normal", SHMIPC_MSG_NORMAL),
    CONST("msg", "shutdown", SHMIPC_MSG_SHUTDOWN),
    CONST("msg", "system_error", SHMIPC_MSG_SYSTEM_ERROR),
    CONST("msg", "guest_call", SHMIPC_MSG_GUEST_CALL),
    CONST("msg", "stream_start", SHMIPC_MSG_STREAM_START),
    CONST("msg", "stream_chunk", SHMIPC_MSG_STREAM_CHUNK),
    CONST("msg", "large_answer", SHMIPC_MSG_LARGE_ANSWER),
    CONST("msg", "answer_pull", SHMIPC_MSG_ANSWER_PULL),
    CONST("msg", "app_start", SHMIPC_MSG_APP_START),
    CONST("msg", "resp_end_aligned", SHMIPC_RESP_END_ALIGNED),
    AT("answer", "id", 0, 8),
    AT("answer", "total", 8, 8),
    AT("answer", "app_type", 16, 4),
    AT("answer", "flags", 20, 4),
    CONST("answer", "size", SHMIPC__ANSWER_HDR),
    AT("pull", "id", 0, 8),
    AT("pull", "offset", 8, 8),
    AT("pull", "len", 16, 4),
    AT("pull", "flags", 20, 4),
    CONST("pull", "size", SHMIPC__PULL_HDR),
    CONST("pull", "release", SHMIPC__PULL_F_RELEASE),
    CONST("pull", "abort", SHMIPC__PULL_F_ABORT),
    AT("pullresp", "status", 0, 4),
    AT("pullresp", "state", 4, 4),
    AT("pullresp", "total", 8, 8),
    CONST("pullresp", "size", SHMIPC__PULL_RESP),
    CONST("error", "ok", SHMIPC_OK),
    CONST("error", "invalid", SHMIPC_E_INVALID),
    CONST("error", "name", SHMIPC_E_NAME),
    CONST("error", "nomem", SHMIPC_E_NOMEM),
    CONST("error", "exists", SHMIPC_E_EXISTS),
    CONST("error", "not_found", SHMIPC_E_NOT_FOUND),
    CONST("error", "access", SHMIPC_E_ACCESS),
    CONST("error", "version", SHMIPC_E_VERSION),
    CONST("error", "corrupt", SHMIPC_E_CORRUPT),
    CONST("error", "timeout", SHMIPC_E_TIMEOUT),
    CONST("error", "peer_gone", SHMIPC_E_PEER_GONE),
    CONST("error", "too_big", SHMIPC_E_TOO_BIG),
    CONST("error", "truncated", SHMIPC_E_TRUNCATED),
    CONST("error", "remote", SHMIPC_E_REMOTE),
    CONST("error", "busy", SHMIPC_E_BUSY),
    CONST("error", "closed", SHMIPC_E_CLOSED),
    CONST("error", "system", SHMIPC_E_SYSTEM),
    CONST("error", "state", SHMIPC_E_STATE),
    CONST("error", "refused", SHMIPC_E_REFUSED),
    CONST("error", "aborted", SHMIPC_E_ABORTED),
};

#define NROWS (sizeof rows / sizeof rows[0])

static struct row *find(const char *kind, const char *name)
{
  size_t i;

  for (i = 0; i < NROWS; i++)
    if (strcmp(rows[i].kind, kind) == 0 && strcmp(rows[i].name, name) == 0)
      return &rows[i];
  return NULL;
}

static void golden_matches_c(void **state)
{
  char line[256], kind[32], name[64], value[64];
  unsigned long size;
  int golden_rows = 0;
  size_t i;
  FILE *f;

  (void)state;
  f = fopen(SHMIPC_GOLDEN, "r");
  if (f == NULL)
    fail_msg("cannot open %s", SHMIPC_GOLDEN);
  while (fgets(line, sizeof line, f) != NULL) {
    struct row *r;
    long long v;

    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (sscanf(line, "%31s %63s %63s %lu", kind, name, value, &size) != 4)
      fail_msg("malformed golden line: %s", line);
    r = find(kind, name);
    if (r == NULL)
      fail_msg("golden row %s.%s has no C definition", kind, name);
    v = strtoll(value, NULL, 0);
    if (strncmp(value, "0x", 2) == 0 || strncmp(value, "0X", 2) == 0)
      v = (long long)strtoull(value, NULL, 16);
    if ((int64_t)v != r->value)
      fail_msg("%s.%s: golden %s, C %lld", kind, name, value,
               (long long)r->value);
    if (size != 0 && size != r->size)
      fail_msg("%s.%s: golden size %lu, C %zu", kind, name, size, r->size);
    r->seen++;
    golden_rows++;
  }
  fclose(f);
  for (i = 0; i < NROWS; i++)
    if (rows[i].seen != 1)
      fail_msg("C definition %s.%s appears %d times in the golden file",
               rows[i].kind, rows[i].name, rows[i].seen);
  assert_int_equal(golden_rows, (int)NROWS);
}

static void struct_sizes(void **state)
{
  (void)state;
  assert_int_equal(sizeof(struct shmipc_wire_header), SHMIPC_HEADER_SIZE);
  assert_int_equal(sizeof(struct shmipc_wire_slot), SHMIPC_SLOT_HEADER_SIZE);
  /* each side's counters, and each half of a slot's, own a 128-byte pair
   * of lines */
  assert_int_equal(sizeof(struct shmipc_wire_side_counters) % 64, 0);
  assert_int_equal(SHMIPC_COUNTERS_GUEST % 64, 0);
  assert_int_equal(offsetof(struct shmipc_wire_slot_counters, resp_served),
                   128);
  /* host, guest and doorbell words each own a cache line */
  assert_int_equal(offsetof(struct shmipc_wire_header, host_state) % 64, 0);
  assert_int_equal(offsetof(struct shmipc_wire_header, attach) % 64, 0);
  assert_int_equal(offsetof(struct shmipc_wire_header, doorbell) % 64, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(golden_matches_c),
      cmocka_unit_test(struct_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
