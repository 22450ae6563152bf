/* SPDX-License-Identifier: MIT */
/*
 * ABI check, C side: the public header compiles on its own as strict C11
 * (-std=c11 -Wall -Wextra -Wpedantic -Werror, see meson.build), and the
 * values it documents as stable are what the header defines and what the
 * library returns. Exits non-zero, naming file:line, on the first group of
 * failures.
 */
#include <shmipc/shmipc.h> /* first: the header must be self-contained */

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

#define CHECK_EQ_INT(got, want)                                                \
  do {                                                                         \
    long long got_ = (long long)(got), want_ = (long long)(want);              \
    if (got_ != want_) {                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",        \
              __FILE__, __LINE__, #got, #want, got_, want_);                   \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* The version macros are integer constant expressions usable in #if. */
#if !SHMIPC_CHECK_VERSION(0, 0, 0)
#error "SHMIPC_CHECK_VERSION(0, 0, 0) must be true"
#endif
#if SHMIPC_CHECK_VERSION(SHMIPC_VERSION_MAJOR + 1, 0, 0)
#error "SHMIPC_CHECK_VERSION(major + 1, 0, 0) must be false"
#endif

static void check_version(void)
{
  uint32_t v = shmipc_version();

  CHECK_EQ_INT(v, SHMIPC_VERSION_NUMBER);
  CHECK_EQ_INT(v >> 16, SHMIPC_VERSION_MAJOR);
  CHECK_EQ_INT((v >> 8) & 0xffu, SHMIPC_VERSION_MINOR);
  CHECK_EQ_INT(v & 0xffu, SHMIPC_VERSION_PATCH);
  CHECK(SHMIPC_VERSION_MINOR <= 255 && SHMIPC_VERSION_PATCH <= 255);

  CHECK(SHMIPC_CHECK_VERSION(0, 0, 0));
  CHECK(SHMIPC_CHECK_VERSION(SHMIPC_VERSION_MAJOR, SHMIPC_VERSION_MINOR,
                             SHMIPC_VERSION_PATCH));
  CHECK(!SHMIPC_CHECK_VERSION(SHMIPC_VERSION_MAJOR, SHMIPC_VERSION_MINOR,
                              SHMIPC_VERSION_PATCH + 1));
  CHECK(
      !SHMIPC_CHECK_VERSION(SHMIPC_VERSION_MAJOR, SHMIPC_VERSION_MINOR + 1, 0));
  CHECK(!SHMIPC_CHECK_VERSION(SHMIPC_VERSION_MAJOR + 1, 0, 0));
}

/* Stable values, as listed in docs/PROTOCOL.md ("Error codes",
 * "Message types") and in the header's own comments. */
static void check_constants(void)
{
  static const struct {
    const char *name;
    long long got, want;
  } k[] = {
#define K(name, want) {#name, (long long)(name), (want)}
      K(SHMIPC_OK, 0),
      K(SHMIPC_E_INVALID, -1),
      K(SHMIPC_E_NAME, -2),
      K(SHMIPC_E_NOMEM, -3),
      K(SHMIPC_E_EXISTS, -4),
      K(SHMIPC_E_NOT_FOUND, -5),
      K(SHMIPC_E_ACCESS, -6),
      K(SHMIPC_E_VERSION, -7),
      K(SHMIPC_E_CORRUPT, -8),
      K(SHMIPC_E_TIMEOUT, -9),
      K(SHMIPC_E_PEER_GONE, -10),
      K(SHMIPC_E_TOO_BIG, -11),
      K(SHMIPC_E_TRUNCATED, -12),
      K(SHMIPC_E_REMOTE, -13),
      K(SHMIPC_E_BUSY, -14),
      K(SHMIPC_E_CLOSED, -15),
      K(SHMIPC_E_SYSTEM, -16),
      K(SHMIPC_E_STATE, -17),
      K(SHMIPC_E_REFUSED, -18),
      K(SHMIPC_MSG_NORMAL, 0),
      K(SHMIPC_MSG_SHUTDOWN, 1),
      K(SHMIPC_MSG_SYSTEM_ERROR, 2),
      K(SHMIPC_MSG_GUEST_CALL, 3),
      K(SHMIPC_MSG_STREAM_START, 4),
      K(SHMIPC_MSG_STREAM_CHUNK, 5),
      K(SHMIPC_MSG_APP_START, 128),
      K(SHMIPC_TIMEOUT_DEFAULT, -1),
      K(SHMIPC_TIMEOUT_INFINITE, -2),
      K(SHMIPC_F_END_ALIGNED, 1),
      K(SHMIPC_GUEST_F_ALLOW_OTHER_USER, 1),
      K(SHMIPC_GUEST_F_GLOBAL, 4),
      K(SHMIPC_HOST_F_GLOBAL, 1),
      K(SHMIPC_STREAM_OK, 0),
      K(SHMIPC_STREAM_MALFORMED, 1),
      K(SHMIPC_STREAM_UNKNOWN, 2),
      K(SHMIPC_STREAM_DUPLICATE, 3),
      K(SHMIPC_STREAM_TOO_BIG, 4),
      K(SHMIPC_STREAM_TOO_MANY, 5),
      K(SHMIPC_STREAM_BOUNDS, 6),
      K(SHMIPC_STREAM_OVERLAP, 7),
      K(SHMIPC_STREAM_EMPTY, 8),
      K(SHMIPC_STREAM_PARKED, 9),
      K(SHMIPC_STREAM_MISMATCH, 10),
      K(SHMIPC_STREAM_ABORTED, 11),
      K(SHMIPC_STREAM_NOMEM, 12),
      K(SHMIPC_STREAM_REFUSED, 13),
      K(SHMIPC_STREAM_KEEP, 1),
#undef K
  };
  size_t i;

  for (i = 0; i < sizeof k / sizeof k[0]; i++) {
    if (k[i].got != k[i].want) {
      fprintf(stderr, "%s:%d: %s is %lld, documented as %lld\n", __FILE__,
              __LINE__, k[i].name, k[i].got, k[i].want);
      failures++;
    }
  }
}

static void check_strerror(void)
{
  static const int unknown[] = {1,     2,    128,     -20,     -21,
                                -1000, 1000, INT_MAX, INT_MIN, INT_MIN + 1};
  const char *msg[20];
  int code, other;
  size_t i;

  for (code = 0; code >= -19; code--) {
    msg[-code] = shmipc_strerror(code);
    if (msg[-code] == NULL) {
      fprintf(stderr, "%s:%d: shmipc_strerror(%d) is NULL\n", __FILE__,
              __LINE__, code);
      failures++;
      msg[-code] = "";
      continue;
    }
    if (msg[-code][0] == '\0') {
      fprintf(stderr, "%s:%d: shmipc_strerror(%d) is empty\n", __FILE__,
              __LINE__, code);
      failures++;
    }
    if (code != 0 && strcmp(msg[-code], "unknown error") == 0) {
      fprintf(stderr, "%s:%d: shmipc_strerror(%d) is \"unknown error\"\n",
              __FILE__, __LINE__, code);
      failures++;
    }
  }
  for (code = 0; code >= -19; code--) {
    for (other = code - 1; other >= -19; other--) {
      if (strcmp(msg[-code], msg[-other]) == 0) {
        fprintf(stderr,
                "%s:%d: shmipc_strerror(%d) == shmipc_strerror(%d): "
                "\"%s\"\n",
                __FILE__, __LINE__, code, other, msg[-code]);
        failures++;
      }
    }
  }
  for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const char *s;

    /* Say which value is tried: a bad range check can crash here. */
    printf("shmipc_strerror(%d)\n", unknown[i]);
    fflush(stdout);
    s = shmipc_strerror(unknown[i]);
    if (s == NULL || strcmp(s, "unknown error") != 0) {
      fprintf(stderr,
              "%s:%d: shmipc_strerror(%d) is \"%s\", want "
              "\"unknown error\"\n",
              __FILE__, __LINE__, unknown[i], s ? s : "(null)");
      failures++;
    }
  }
}

/* Public structs grow only at the end, announced by struct_size. Freeze the
 * LP64 layout so a reordered or resized field fails here rather than in a
 * program built against an older header. */
static void check_public_structs(void)
{
  shmipc_host_config hc;
  shmipc_guest_config gc;
  shmipc_stream_config sc;
  shmipc_stream_limits sl;

  memset(&hc, 0xa5, sizeof hc);
  shmipc_host_config_init(&hc);
  CHECK_EQ_INT(hc.struct_size, sizeof hc);
  CHECK(hc.name == NULL);
  /* Defaults documented in the header. */
  CHECK_EQ_INT(hc.host_slots, 4);
  CHECK_EQ_INT(hc.guest_slots, 0);
  CHECK_EQ_INT(hc.req_capacity, 64 * 1024);
  CHECK_EQ_INT(hc.resp_capacity, 64 * 1024);
  CHECK_EQ_INT(hc.spin_budget, 4096);
  CHECK_EQ_INT(hc.mode, 0600);
  CHECK_EQ_INT(hc.default_timeout_ns, 10000000000LL);
  CHECK_EQ_INT(hc.liveness_interval_ns, 50000000LL);

  memset(&gc, 0xa5, sizeof gc);
  shmipc_guest_config_init(&gc);
  CHECK_EQ_INT(gc.struct_size, sizeof gc);
  CHECK(gc.name == NULL);
  CHECK_EQ_INT(gc.flags, 0);
  CHECK_EQ_INT(gc.spin_budget, 4096);
  CHECK_EQ_INT(gc.connect_timeout_ns, 5000000000LL);
  CHECK_EQ_INT(gc.default_timeout_ns, 10000000000LL);
  CHECK_EQ_INT(gc.liveness_interval_ns, 50000000LL);

  memset(&sc, 0xa5, sizeof sc);
  shmipc_stream_config_init(&sc);
  CHECK_EQ_INT(sc.struct_size, sizeof sc);
  CHECK_EQ_INT(sc.depth, 4);
  CHECK_EQ_INT(sc.chunk_size, 0);

  memset(&sl, 0xa5, sizeof sl);
  shmipc_stream_limits_init(&sl);
  CHECK_EQ_INT(sl.struct_size, sizeof sl);
  CHECK_EQ_INT(sl.max_streams, 16);
  CHECK_EQ_INT(sl.max_parked, 64);
  CHECK_EQ_INT(sl.reserved0, 0);
  CHECK_EQ_INT(sl.max_stream, 1LL << 30);
  CHECK_EQ_INT(sl.max_total, 1LL << 30);
  CHECK_EQ_INT(sl.idle_timeout_ns, 10000000000LL);

  /* Handles stay opaque: these must not need a definition. */
  shmipc_host_destroy(NULL);
  shmipc_guest_detach(NULL);
  shmipc_slot_release(NULL);
  shmipc_stream_sender_destroy(NULL);
  shmipc_reassembler_destroy(NULL);
  shmipc_stream_buffer_free(NULL);

#if UINTPTR_MAX == UINT64_MAX
  CHECK_EQ_INT(offsetof(shmipc_host_config, struct_size), 0);
  CHECK_EQ_INT(offsetof(shmipc_host_config, name), 8);
  CHECK_EQ_INT(offsetof(shmipc_host_config, host_slots), 16);
  CHECK_EQ_INT(offsetof(shmipc_host_config, guest_slots), 20);
  CHECK_EQ_INT(offsetof(shmipc_host_config, req_capacity), 24);
  CHECK_EQ_INT(offsetof(shmipc_host_config, resp_capacity), 28);
  CHECK_EQ_INT(offsetof(shmipc_host_config, spin_budget), 32);
  CHECK_EQ_INT(offsetof(shmipc_host_config, mode), 36);
  CHECK_EQ_INT(offsetof(shmipc_host_config, default_timeout_ns), 40);
  CHECK_EQ_INT(offsetof(shmipc_host_config, liveness_interval_ns), 48);
  CHECK_EQ_INT(offsetof(shmipc_host_config, max_answer), 56);
  CHECK_EQ_INT(offsetof(shmipc_host_config, flags), 64);
  CHECK_EQ_INT(offsetof(shmipc_host_config, global_peer_sid), 72);
  CHECK_EQ_INT(sizeof(shmipc_host_config), 80);

  CHECK_EQ_INT(offsetof(shmipc_guest_config, struct_size), 0);
  CHECK_EQ_INT(offsetof(shmipc_guest_config, name), 8);
  CHECK_EQ_INT(offsetof(shmipc_guest_config, flags), 16);
  CHECK_EQ_INT(offsetof(shmipc_guest_config, spin_budget), 20);
  CHECK_EQ_INT(offsetof(shmipc_guest_config, connect_timeout_ns), 24);
  CHECK_EQ_INT(offsetof(shmipc_guest_config, default_timeout_ns), 32);
  CHECK_EQ_INT(offsetof(shmipc_guest_config, liveness_interval_ns), 40);
  CHECK_EQ_INT(sizeof(shmipc_guest_config), 48);
#endif
  /* Fixed-width fields only: the same on every target. */
  CHECK_EQ_INT(offsetof(shmipc_answer_limits, max_answers), 4);
  CHECK_EQ_INT(offsetof(shmipc_answer_limits, max_answer), 8);
  CHECK_EQ_INT(offsetof(shmipc_answer_limits, max_total), 16);
  CHECK_EQ_INT(offsetof(shmipc_answer_limits, idle_timeout_ns), 24);
  CHECK_EQ_INT(sizeof(shmipc_answer_limits), 32);
  CHECK_EQ_INT(offsetof(shmipc_answer_stats, parked), 4);
  CHECK_EQ_INT(offsetof(shmipc_answer_stats, held), 8);
  CHECK_EQ_INT(offsetof(shmipc_answer_stats, expired), 40);
  CHECK_EQ_INT(sizeof(shmipc_answer_stats), 48);
  CHECK_EQ_INT(offsetof(shmipc_stream_config, depth), 4);
  CHECK_EQ_INT(offsetof(shmipc_stream_config, chunk_size), 8);
  CHECK_EQ_INT(sizeof(shmipc_stream_config), 12);
  CHECK_EQ_INT(offsetof(shmipc_stream_result, reason), 4);
  CHECK_EQ_INT(offsetof(shmipc_stream_result, stream_id), 8);
  CHECK_EQ_INT(offsetof(shmipc_stream_result, chunks), 16);
  CHECK_EQ_INT(offsetof(shmipc_stream_result, accepted), 24);
  CHECK_EQ_INT(offsetof(shmipc_stream_result, failed_chunk), 32);
  CHECK_EQ_INT(offsetof(shmipc_stream_result, failed_offset), 40);
  CHECK_EQ_INT(sizeof(shmipc_stream_result), 48);
  CHECK_EQ_INT(offsetof(shmipc_stream_limits, max_streams), 4);
  CHECK_EQ_INT(offsetof(shmipc_stream_limits, max_parked), 8);
  CHECK_EQ_INT(offsetof(shmipc_stream_limits, max_stream), 16);
  CHECK_EQ_INT(offsetof(shmipc_stream_limits, max_total), 24);
  CHECK_EQ_INT(offsetof(shmipc_stream_limits, idle_timeout_ns), 32);
  CHECK_EQ_INT(sizeof(shmipc_stream_limits), 40);
  CHECK_EQ_INT(offsetof(shmipc_stream_stats, open), 4);
  CHECK_EQ_INT(offsetof(shmipc_stream_stats, held), 8);
  CHECK_EQ_INT(offsetof(shmipc_stream_stats, peak_held), 16);
  CHECK_EQ_INT(offsetof(shmipc_stream_stats, delivered), 24);
  CHECK_EQ_INT(offsetof(shmipc_stream_stats, dropped), 32);
  CHECK_EQ_INT(offsetof(shmipc_stream_stats, cached), 40);
  CHECK_EQ_INT(sizeof(shmipc_stream_stats), 48);
}

/* Every handler and function pointer type keeps its documented signature. */
static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type)
{
  (void)user, (void)type, (void)req, (void)req_len, (void)resp;
  (void)resp_cap, (void)resp_len, (void)resp_type;
  return 0;
}

static void check_signatures(void)
{
  shmipc_handler_fn fn = handler;
  int (*host_call)(shmipc_host *, uint32_t, const void *, size_t, void *,
                   size_t, size_t *, uint32_t *, int64_t) = shmipc_host_call;
  int (*slot_send)(shmipc_slot *, uint32_t, size_t, uint32_t, int64_t) =
      shmipc_slot_send;
  int (*listen)(shmipc_host *, shmipc_handler_fn, void *) =
      shmipc_host_listen_start;
  int (*stream_send)(shmipc_stream_sender *, uint32_t, const void *, size_t,
                     int64_t, shmipc_stream_result *) = shmipc_stream_send;
  int (*reasm_create)(const shmipc_stream_limits *, shmipc_stream_fn, void *,
                      shmipc_handler_fn, void *, shmipc_reassembler **) =
      shmipc_reassembler_create;
  shmipc_handler_fn reasm_handle = shmipc_reassembler_handle;

  CHECK(fn != NULL && host_call != NULL && slot_send != NULL &&
        listen != NULL && stream_send != NULL && reasm_create != NULL &&
        reasm_handle != NULL);
}

int main(void)
{
  check_version();
  check_constants();
  check_strerror();
  check_public_structs();
  check_signatures();
  if (failures != 0) {
    fprintf(stderr, "abi_c: %d check(s) failed\n", failures);
    return 1;
  }
  printf("abi_c: ok (library %u.%u.%u, headers %d.%d.%d)\n",
         (unsigned)(shmipc_version() >> 16),
         (unsigned)((shmipc_version() >> 8) & 0xffu),
         (unsigned)(shmipc_version() & 0xffu), SHMIPC_VERSION_MAJOR,
         SHMIPC_VERSION_MINOR, SHMIPC_VERSION_PATCH);
  return 0;
}
