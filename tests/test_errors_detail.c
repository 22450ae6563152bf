/* SPDX-License-Identifier: MIT */
/*
 * shmipc_last_error(): every failure says which field, value and limit,
 * or which path, it was about, in the Go guest's words where the Go guest
 * checks the same thing; a success leaves the text alone; each thread has
 * its own. And the codes that name what happened: NOT_FOUND for a missing
 * segment, STATE for a second start and for a stop of no listener, 0 from
 * shmipc_guest_wait() for the host's orderly close, REMOTE for a stream to
 * a guest without a stream receiver, and the hints of waits that run out
 * against a peer that is not there (no guest attached; a host that serves
 * no guest calls).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proc.h"
#include "shmipc/shmipc.h"

#define MS INT64_C(1000000)

/* Fails unless the last error is exactly @want. */
#define TEXT_IS(want)                                                          \
  do {                                                                         \
    const char *t_ = shmipc_last_error();                                      \
    if (strcmp(t_, (want)) != 0)                                               \
      fail_msg("last error \"%s\", want \"%s\"", t_, (want));                  \
  } while (0)

/* Fails unless the last error starts with the text of @code and holds
 * @part. */
#define TEXT_HAS(code, part)                                                   \
  do {                                                                         \
    const char *t_ = shmipc_last_error();                                      \
    const char *w_ = shmipc_strerror(code);                                    \
    if (strncmp(t_, w_, strlen(w_)) != 0 || strstr(t_, (part)) == NULL)        \
      fail_msg("last error \"%s\", want \"%s: ...%s...\"", t_, w_, (part));    \
  } while (0)

/* A name unique to this process and call: suites run at once. */
static const char *uname_(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "errdetail-%u-%d", (unsigned)proc_self_id(), n++);
  return buf;
}

static shmipc_host *host_new(const char *name, uint32_t guest_slots)
{
  shmipc_host_config c;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 2;
  c.guest_slots = guest_slots;
  c.req_capacity = 64;
  c.resp_capacity = 64;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  return h;
}

static shmipc_guest *guest_new(const char *name)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;

  shmipc_guest_config_init(&c);
  c.name = name;
  c.connect_timeout_ns = 2000 * MS;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_OK);
  return g;
}

static int echo(void *user, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type)
{
  (void)user;
  (void)type;
  (void)resp_type;
  if (req_len > resp_cap)
    return -1;
  if (req_len > 0)
    memcpy(resp, req, req_len);
  *resp_len = req_len;
  return 0;
}

/* Each config field out of range names itself, its value and its
 * limits; the name's text is the Go guest's (go/guest.go, Connect). */
static void config_fields_named(void **state)
{
  shmipc_host_config c;
  shmipc_host *h;
  char want[160];

  (void)state;
  shmipc_host_config_init(&c);
  c.name = uname_();
  c.host_slots = 5000;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: host_slots 5000 outside "
          "1..1024");
  c.host_slots = 0;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: host_slots 0 outside 1..1024");
  c.host_slots = 4;
  c.guest_slots = 2000;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: guest_slots 2000 outside "
          "0..1024");
  c.guest_slots = 0;
  c.req_capacity = 0;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: req_capacity 0 outside "
          "1..1073741824");
  c.req_capacity = 64;
  c.resp_capacity = (1u << 30) + 1;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: resp_capacity 1073741825 "
          "outside 1..1073741824");
  c.resp_capacity = 64;
  c.mode = 0400;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_HAS(SHMIPC_E_INVALID, "mode 0400");
  c.mode = 0600;
  c.liveness_interval_ns = 0;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_HAS(SHMIPC_E_INVALID, "liveness_interval_ns 0");
  c.liveness_interval_ns = 50 * MS;
  c.default_timeout_ns = -7;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_HAS(SHMIPC_E_INVALID, "default_timeout_ns -7");

  /* A config zeroed instead of initialised. */
  memset(&c, 0, sizeof c);
  c.name = uname_();
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  snprintf(want, sizeof want,
           "invalid argument or configuration: struct_size 0, want %lu "
           "(fill the config with shmipc_host_config_init())",
           (unsigned long)sizeof c);
  TEXT_IS(want);

  shmipc_host_config_init(&c);
  c.name = "my ipc";
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_NAME);
  TEXT_IS("invalid segment name: \"my ipc\" (want 1-64 of [A-Za-z0-9._-], "
          "no leading '.')");
  c.name = "tab\there";
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_NAME);
  TEXT_HAS(SHMIPC_E_NAME, "\"tab\\there\"");
  c.name = "bell\a\x01\x7f";
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_NAME);
  TEXT_HAS(SHMIPC_E_NAME, "\"bell\\a\\x01\\x7f\"");
  c.name = NULL;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_NAME);
  TEXT_IS("invalid segment name: no name (NULL)");
  assert_int_equal(shmipc_host_create(NULL, &h), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: cfg is NULL");
}

/* The guest's config the same way. */
static void guest_config_named(void **state)
{
  shmipc_guest_config c;
  shmipc_guest *g;

  (void)state;
  shmipc_guest_config_init(&c);
  c.name = uname_();
  c.connect_timeout_ns = -5;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_E_INVALID);
  TEXT_HAS(SHMIPC_E_INVALID, "connect_timeout_ns -5");
  c.connect_timeout_ns = 0;
  c.flags = 0x30;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_E_INVALID);
  TEXT_HAS(SHMIPC_E_INVALID, "flags 0x30: unknown bits 0x30");
  c.flags = 0;
  c.name = ".hidden";
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_E_NAME);
  TEXT_IS("invalid segment name: \".hidden\" (want 1-64 of [A-Za-z0-9._-], "
          "no leading '.')");
}

/* No segment at all: NOT_FOUND, once the connect timeout ran out or at
 * once with timeout 0, naming the path and the wait. */
static void attach_without_segment_is_not_found(void **state)
{
  shmipc_guest_config c;
  shmipc_guest *g;
  char want[160];

  (void)state;
  shmipc_guest_config_init(&c);
  c.name = uname_();
  c.connect_timeout_ns = 0;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_E_NOT_FOUND);
  assert_null(g);
  snprintf(want, sizeof want, "shmipc-%s after 0s", c.name);
  TEXT_HAS(SHMIPC_E_NOT_FOUND, want);
  TEXT_HAS(SHMIPC_E_NOT_FOUND, ": no segment ");
  c.connect_timeout_ns = 50 * MS;
  assert_int_equal(shmipc_guest_attach(&c, &g), SHMIPC_E_NOT_FOUND);
  snprintf(want, sizeof want, "shmipc-%s after 50ms", c.name);
  TEXT_HAS(SHMIPC_E_NOT_FOUND, want);
#ifdef __linux__
  snprintf(want, sizeof want,
           "no such segment: no segment /dev/shm/shmipc-%s after 50ms", c.name);
  TEXT_IS(want);
#endif
}

/* A success leaves the text alone; the next failure replaces it, also
 * one without a detail of its own. */
static void success_keeps_the_text(void **state)
{
  const char *name = uname_();
  shmipc_host_config c;
  shmipc_host *h, *h2;

  (void)state;
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 5000;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: host_slots 5000 outside "
          "1..1024");
  c.host_slots = 2;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  assert_int_equal(shmipc_host_wait_guest(h, 0), SHMIPC_E_TIMEOUT);
  TEXT_HAS(SHMIPC_E_TIMEOUT, "no guest attached in time");
  assert_int_equal(shmipc_host_listen_start(h, echo, NULL), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: the segment has no guest "
          "slots (guest_slots 0)");
  /* a live host has the name */
  assert_int_equal(shmipc_host_create(&c, &h2), SHMIPC_E_EXISTS);
  TEXT_HAS(SHMIPC_E_EXISTS, name);
  assert_int_equal(shmipc_slot_wait(NULL, 0), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: s is NULL");
  /* no detail: the code's own text, not the last one's detail */
  assert_int_equal(shmipc_host_call(NULL, 0, NULL, 0, NULL, 0, NULL, NULL, 0),
                   SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration");
  shmipc_host_destroy(h);
}

static void *fail_on_thread(void *arg)
{
  char *seen = arg;
  shmipc_host_config c;
  shmipc_host *h;

  /* nothing failed on this thread yet */
  snprintf(seen, 200, "%s|", shmipc_last_error());
  shmipc_host_config_init(&c);
  c.name = "two words";
  (void)shmipc_host_create(&c, &h);
  snprintf(seen + strlen(seen), 200 - strlen(seen), "%s", shmipc_last_error());
  return NULL;
}

/* Each thread has its own last error. */
static void text_is_per_thread(void **state)
{
  shmipc_host_config c;
  shmipc_host *h;
  pthread_t t;
  char seen[200];

  (void)state;
  shmipc_host_config_init(&c);
  c.name = uname_();
  c.guest_slots = 1025;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_E_INVALID);
  assert_int_equal(pthread_create(&t, NULL, fail_on_thread, seen), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_string_equal(seen, "|invalid segment name: \"two words\" (want 1-64 "
                            "of [A-Za-z0-9._-], no leading '.')");
  TEXT_IS("invalid argument or configuration: guest_slots 1025 outside "
          "0..1024");
}

/* Codes that name what happened: a second start is STATE, so is a stop
 * of no listener, and neither text speaks of a slot. */
static void state_not_busy(void **state)
{
  const char *name = uname_();
  shmipc_host *h = host_new(name, 1);
  shmipc_guest *g = guest_new(name);

  (void)state;
  assert_null(strstr(shmipc_strerror(SHMIPC_E_STATE), "slot"));
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_E_STATE);
  TEXT_HAS(SHMIPC_E_STATE, "started already");
  assert_int_equal(shmipc_host_listen_stop(h), SHMIPC_E_STATE);
  TEXT_HAS(SHMIPC_E_STATE, "no listener is running");
  assert_int_equal(shmipc_host_listen_start(h, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_start(h, echo, NULL), SHMIPC_E_BUSY);
  TEXT_HAS(SHMIPC_E_BUSY, "a listener runs already");
  assert_int_equal(shmipc_host_listen_stop(h), SHMIPC_OK);
  shmipc_guest_stop(g);
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_OK);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

/* Facts of a call that its arguments or the segment tell. */
static void call_facts(void **state)
{
  const char *name = uname_();
  shmipc_host *h = host_new(name, 0);
  shmipc_guest *g;
  char big[100] = {0}, small[4];
  size_t len;

  (void)state;
  /* no guest at all: the wait runs out, and says why */
  assert_int_equal(
      shmipc_host_call(h, 128, "x", 1, NULL, 0, NULL, NULL, 20 * MS),
      SHMIPC_E_TIMEOUT);
  TEXT_IS("timed out: no guest attached");
  assert_int_equal(
      shmipc_host_call(h, 128, NULL, 3, NULL, 0, NULL, NULL, 20 * MS),
      SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: req is NULL with req_len 3");
  assert_int_equal(shmipc_host_call(h, 128, "x", 1, NULL, 0, NULL, NULL, -9),
                   SHMIPC_E_INVALID);
  TEXT_HAS(SHMIPC_E_INVALID, "timeout_ns -9");
  assert_int_equal(
      shmipc_host_call(h, 128, big, sizeof big, NULL, 0, NULL, NULL, 20 * MS),
      SHMIPC_E_TOO_BIG);
  TEXT_IS("request larger than the slot's capacity: 100 bytes, capacity 64");
  g = guest_new(name);
  assert_int_equal(
      shmipc_guest_call(g, 128, "x", 1, NULL, 0, NULL, NULL, 20 * MS),
      SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: the segment has no guest "
          "slots");
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_host_call(h, 128, "hello", 5, small, sizeof small,
                                    &len, NULL, 2000 * MS),
                   SHMIPC_E_TRUNCATED);
  TEXT_IS("response larger than the caller's buffer: response of 5 bytes, "
          "buffer of 4");
  shmipc_guest_stop(g);
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_OK);
  shmipc_guest_detach(g);
  assert_int_equal(
      shmipc_host_call(h, 128, "x", 1, NULL, 0, NULL, NULL, 2000 * MS),
      SHMIPC_E_PEER_GONE);
  TEXT_IS("peer gone (closed, detached or died): the guest detached");
  shmipc_host_destroy(h);
}

/* A guest call to a host that has guest slots but serves none: the wait
 * runs out with a hint. */
static void guest_call_hint_without_listener(void **state)
{
  const char *name = uname_();
  shmipc_host *h = host_new(name, 1);
  shmipc_guest *g = guest_new(name);

  (void)state;
  assert_int_equal(
      shmipc_guest_call(g, 128, "x", 1, NULL, 0, NULL, NULL, 50 * MS),
      SHMIPC_E_TIMEOUT);
  TEXT_HAS(SHMIPC_E_TIMEOUT, "is the host serving guest calls?");
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

/* The host's orderly close ends the session without an error: the
 * workers end, shmipc_guest_wait() gives 0, and guest calls say that the
 * host closed it (the crash, PEER_GONE, is in test_errors_interop.c). */
static void orderly_close_is_not_an_error(void **state)
{
  const char *name = uname_();
  shmipc_host *h = host_new(name, 1);
  shmipc_guest *g = guest_new(name);

  (void)state;
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_guest_wait(g, 10 * MS), SHMIPC_E_TIMEOUT);
  TEXT_HAS(SHMIPC_E_TIMEOUT, "workers still run");
  shmipc_host_destroy(h);
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_OK);
  assert_int_equal(
      shmipc_guest_call(g, 128, "x", 1, NULL, 0, NULL, NULL, 2000 * MS),
      SHMIPC_E_PEER_GONE);
  TEXT_IS("peer gone (closed, detached or died): host closed the session");
  shmipc_guest_detach(g);
}

/* A stream to a guest whose handler is no stream receiver: the guest's
 * echo of the start is a legal answer, so REMOTE, not CORRUPT. */
static void stream_without_receiver_is_remote(void **state)
{
  const char *name = uname_();
  shmipc_host *h;
  shmipc_guest *g;
  shmipc_stream_sender *s;
  shmipc_stream_config sc;
  shmipc_host_config c;
  shmipc_stream_result res;
  static char data[5000];

  (void)state;
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 4;
  c.req_capacity = 1024;
  c.resp_capacity = 1024;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  g = guest_new(name);
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  shmipc_stream_config_init(&sc);
  sc.depth = 0;
  assert_int_equal(shmipc_stream_sender_create(h, &sc, &s), SHMIPC_E_INVALID);
  TEXT_IS("invalid argument or configuration: depth 0 outside 1..64");
  sc.depth = 2;
  sc.chunk_size = 2000;
  assert_int_equal(shmipc_stream_sender_create(h, &sc, &s), SHMIPC_E_INVALID);
  TEXT_HAS(SHMIPC_E_INVALID, "chunk_size 2000 above 992");
  assert_int_equal(shmipc_stream_sender_create(h, NULL, &s), SHMIPC_OK);
  memset(&res, 0, sizeof res);
  res.struct_size = sizeof res;
  assert_int_equal(
      shmipc_stream_send(s, 200, data, sizeof data, 2000 * MS, &res),
      SHMIPC_E_REMOTE);
  TEXT_IS("peer answered with a system error: the guest has no stream "
          "receiver (it answered STREAM_START with type 4, 32 bytes)");
  /* the guest is fine: an ordinary call still works */
  assert_int_equal(
      shmipc_host_call(h, 128, "x", 1, NULL, 0, NULL, NULL, 2000 * MS),
      SHMIPC_E_TRUNCATED);
  shmipc_stream_sender_destroy(s);
  shmipc_guest_stop(g);
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_OK);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(config_fields_named),
      cmocka_unit_test(guest_config_named),
      cmocka_unit_test(attach_without_segment_is_not_found),
      cmocka_unit_test(success_keeps_the_text),
      cmocka_unit_test(text_is_per_thread),
      cmocka_unit_test(state_not_busy),
      cmocka_unit_test(call_facts),
      cmocka_unit_test(guest_call_hint_without_listener),
      cmocka_unit_test(orderly_close_is_not_an_error),
      cmocka_unit_test(stream_without_receiver_is_remote),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
