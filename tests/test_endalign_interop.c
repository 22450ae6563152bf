/* SPDX-License-Identifier: MIT */
/*
 * End-aligned answers (SHMIPC_RESP_END_ALIGNED, docs/PROTOCOL.md "Slot
 * layout") across processes, against the echo guest given as argv[1] (the
 * Go guest or the C one; ECHO_GUEST.md), for answers of 0 bytes, 1 byte
 * and the whole response buffer:
 * - the guest's handler answers at the end of its buffer (type 225): the
 *   host finds the bytes there with shmipc_slot_resp_data(), and
 *   shmipc_host_call() copies those bytes; the type arrives without the
 *   flag bit;
 * - the host's own handler answers a guest call end-aligned (through the
 *   guest's type 202): the guest gets those bytes;
 * - a request whose type has bit 31 is answered SYSTEM_ERROR, not echoed
 *   as an end-aligned answer, and the guest goes on serving.
 */
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
#define CAP 192u /* a multiple of 64: the response buffer follows at once */
#define T_GUEST_CALL 202u
#define T_END_ALIGNED 225u

static const char *guest_path;

struct session {
  shmipc_host *h;
  struct proc guest;
};

static void start(struct session *ss, const char *what)
{
  static int n;
  char name[64];
  const char *argv[] = {guest_path,    "-name", name,
                        "-timeout-ms", "10000", NULL};
  shmipc_host_config c;

  snprintf(name, sizeof name, "endalign-%s-%u-%d", what,
           (unsigned)proc_self_id(), n++);
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 2;
  c.guest_slots = 1;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  assert_int_equal(shmipc_host_create(&c, &ss->h), SHMIPC_OK);
  if (proc_spawn(&ss->guest, argv, 0) != 0)
    fail_msg("cannot start guest %s", guest_path);
  if (shmipc_host_wait_guest(ss->h, 10000 * MS) != SHMIPC_OK)
    fail_msg("guest %s did not attach within 10 s", guest_path);
}

static void stop(struct session *ss)
{
  struct proc_status st;

  shmipc_host_destroy(ss->h);
  if (proc_wait(&ss->guest, 10000, &st) != 0) {
    proc_kill(&ss->guest);
    fail_msg("guest did not exit within 10 s of the host's close");
  }
  assert_true(st.exited);
  assert_int_equal(st.code, 0);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)(seed * 31u + i * 7u + 1u);
}

static const size_t sizes[] = {0, 1, CAP};

static void guest_answers_end_aligned(void **state)
{
  struct session ss;
  unsigned char want[CAP], got[CAP + 8];

  (void)state;
  start(&ss, "guest");
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k], len = 99;
    uint32_t t = 0;
    shmipc_slot *s;
    unsigned char *req, *resp;

    fill(want, n, (unsigned)k);
    /* In place: the bytes are the last n of the response buffer. */
    assert_int_equal(shmipc_slot_acquire(ss.h, 5000 * MS, &s), SHMIPC_OK);
    req = shmipc_slot_req_buf(s);
    resp = req + CAP; /* docs/PROTOCOL.md "Slot layout" */
    memcpy(req, want, n);
    assert_int_equal(shmipc_slot_send(s, T_END_ALIGNED, n, 0, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(shmipc_slot_resp_type(s), T_END_ALIGNED);
    assert_int_equal(shmipc_slot_resp_size(s), n);
    if ((const unsigned char *)shmipc_slot_resp_data(s) != resp + CAP - n)
      fail_msg("%zu bytes: response at offset %td of the buffer, want %zu", n,
               (const unsigned char *)shmipc_slot_resp_data(s) - resp,
               (size_t)CAP - n);
    assert_memory_equal(resp + CAP - n, want, n);
    shmipc_slot_release(s);

    /* Copied: shmipc_host_call() takes the same bytes. */
    memset(got, 0xEE, sizeof got);
    assert_int_equal(shmipc_host_call(ss.h, T_END_ALIGNED, want, n, got,
                                      sizeof got, &len, &t, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(t, T_END_ALIGNED);
    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
  }
  stop(&ss);
}

/* The host's listener: the request bytes plus one each, end-aligned. */
static int host_handler(void *user, uint32_t type, const void *req,
                        size_t req_len, void *resp, size_t resp_cap,
                        size_t *resp_len, uint32_t *resp_type)
{
  unsigned char *out = (unsigned char *)resp + (resp_cap - req_len);
  const unsigned char *in = req;

  (void)user;
  (void)type;
  if (req_len > resp_cap)
    return -1;
  memset(resp, 0xEE, resp_cap - req_len); /* not the answer */
  for (size_t i = 0; i < req_len; i++)
    out[i] = (unsigned char)(in[i] + 1u);
  *resp_len = req_len;
  *resp_type = SHMIPC_MSG_APP_START | SHMIPC_RESP_END_ALIGNED;
  return 0;
}

static void host_answers_guest_call_end_aligned(void **state)
{
  struct session ss;
  unsigned char req[CAP], want[CAP], got[CAP];

  (void)state;
  start(&ss, "host");
  assert_int_equal(shmipc_host_listen_start(ss.h, host_handler, NULL),
                   SHMIPC_OK);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k], len = 99;
    uint32_t t = 0;

    fill(req, n, (unsigned)k + 10u);
    for (size_t i = 0; i < n; i++)
      want[i] = (unsigned char)(req[i] + 1u);
    memset(got, 0, sizeof got);
    assert_int_equal(shmipc_host_call(ss.h, T_GUEST_CALL, req, n, got,
                                      sizeof got, &len, &t, 5000 * MS),
                     SHMIPC_OK);
    assert_int_equal(t, T_GUEST_CALL);
    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
  }
  assert_int_equal(shmipc_host_listen_stop(ss.h), SHMIPC_OK);
  stop(&ss);
}

static void request_type_with_the_flag_bit_is_refused(void **state)
{
  struct session ss;
  unsigned char got[CAP];
  size_t len = 0;
  uint32_t t = 0;

  (void)state;
  start(&ss, "bit31");
  /* An echo would send it back as its own type, which would ask for an
   * end-aligned answer: the guest answers SYSTEM_ERROR instead. */
  assert_int_equal(shmipc_host_call(ss.h, 128u | SHMIPC_RESP_END_ALIGNED, "ab",
                                    2, got, sizeof got, &len, &t, 5000 * MS),
                   SHMIPC_E_REMOTE);
  assert_int_equal(t, SHMIPC_MSG_SYSTEM_ERROR);
  /* and goes on answering */
  assert_int_equal(shmipc_host_call(ss.h, 128u, "ab", 2, got, sizeof got, &len,
                                    &t, 5000 * MS),
                   SHMIPC_OK);
  assert_int_equal(t, 128u);
  assert_int_equal(len, 2);
  assert_memory_equal(got, "ab", 2);
  stop(&ss);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(guest_answers_end_aligned),
      cmocka_unit_test(host_answers_guest_call_end_aligned),
      cmocka_unit_test(request_type_with_the_flag_bit_is_refused),
  };

  if (argc != 2 || !proc_executable(argv[1])) {
    fprintf(stderr, "usage: %s GUEST-BINARY\n", argv[0]);
    return 2;
  }
  guest_path = argv[1];
  return cmocka_run_group_tests(tests, NULL, NULL);
}
