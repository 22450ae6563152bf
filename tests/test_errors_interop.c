/* SPDX-License-Identifier: MIT */
/*
 * Codes that say what happened, across processes, against the echo guest
 * given as argv[1] (the Go guest or the C one; ECHO_GUEST.md):
 * - a stream to a guest without a stream receiver (-no-streams) is
 *   SHMIPC_E_REMOTE with a text that says so, not SHMIPC_E_CORRUPT, and
 *   the guest goes on answering;
 * - shmipc_guest_wait() tells a host's crash (PEER_GONE, "host died")
 *   from its orderly close (0), with this program as the host's process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "proc.h"
#include "shmipc/shmipc.h"

#define MS INT64_C(1000000)

static const char *guest_path;

/* Fails unless the last error starts with the text of @code and holds
 * @part. */
#define TEXT_HAS(code, part)                                                   \
  do {                                                                         \
    const char *t_ = shmipc_last_error();                                      \
    const char *w_ = shmipc_strerror(code);                                    \
    if (strncmp(t_, w_, strlen(w_)) != 0 || strstr(t_, (part)) == NULL)        \
      fail_msg("last error \"%s\", want \"%s: ...%s...\"", t_, w_, (part));    \
  } while (0)

static const char *uname_(const char *what)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "errinterop-%s-%u-%d", what,
           (unsigned)proc_self_id(), n++);
  return buf;
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

static void stream_to_guest_without_receiver(void **state)
{
  const char *name = uname_("stream");
  const char *argv[] = {guest_path, "-name",       name, "-timeout-ms",
                        "10000",    "-no-streams", NULL};
  static char data[100000];
  shmipc_stream_sender *s;
  shmipc_stream_result res;
  shmipc_host_config c;
  struct proc_status st;
  struct proc guest;
  shmipc_host *h;
  char resp[8];
  size_t len = 0;

  (void)state;
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 4;
  c.req_capacity = 4096;
  c.resp_capacity = 4096;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  if (proc_spawn(&guest, argv, 0) != 0)
    fail_msg("cannot start guest %s", guest_path);
  if (shmipc_host_wait_guest(h, 10000 * MS) != SHMIPC_OK)
    fail_msg("guest %s did not attach within 10 s", guest_path);
  assert_int_equal(shmipc_stream_sender_create(h, NULL, &s), SHMIPC_OK);
  memset(&res, 0, sizeof res);
  res.struct_size = sizeof res;
  assert_int_equal(
      shmipc_stream_send(s, 200, data, sizeof data, 5000 * MS, &res),
      SHMIPC_E_REMOTE);
  TEXT_HAS(SHMIPC_E_REMOTE, "the guest has no stream receiver");
  assert_int_equal(res.accepted, 0);
  /* Not a corrupt segment: the guest answers as before. */
  assert_int_equal(shmipc_host_call(h, 128, "ping", 4, resp, sizeof resp, &len,
                                    NULL, 5000 * MS),
                   SHMIPC_OK);
  assert_int_equal(len, 4);
  assert_memory_equal(resp, "ping", 4);
  shmipc_stream_sender_destroy(s);
  shmipc_host_destroy(h);
  /* The guest's orderly end: it exits 0. */
  if (proc_wait(&guest, 10000, &st) != 0) {
    proc_kill(&guest);
    fail_msg("guest did not exit within 10 s of the host's close");
  }
  assert_true(st.exited);
  assert_int_equal(st.code, 0);
}

/* The host as a child process: create, say so, then live until killed
 * (at most 30 s). */
static int host_child(const char *name)
{
  shmipc_host_config c;
  shmipc_host *h;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 2;
  if (shmipc_host_create(&c, &h) != SHMIPC_OK) {
    fprintf(stderr, "host child: %s\n", shmipc_last_error());
    return 1;
  }
  t_sleep_ms(30000);
  shmipc_host_destroy(h);
  return 0;
}

static void guest_wait_tells_crash_from_close(void **state)
{
  char self[4096];
  const char *name = uname_("crash");
  const char *argv[] = {self, "--host", name, NULL};
  shmipc_guest_config gc;
  shmipc_host_config hc;
  shmipc_guest *g;
  shmipc_host *h;
  struct proc host;

  (void)state;
  assert_int_equal(proc_self_path(self, sizeof self), 0);
  assert_int_equal(proc_spawn(&host, argv, 0), 0);
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.connect_timeout_ns = 10000 * MS;
  gc.liveness_interval_ns = 20 * MS;
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_guest_wait(g, 50 * MS), SHMIPC_E_TIMEOUT);
  proc_kill(&host);
  assert_int_equal(shmipc_guest_wait(g, 5000 * MS), SHMIPC_E_PEER_GONE);
  TEXT_HAS(SHMIPC_E_PEER_GONE, "host died (its liveness lock is free)");
  shmipc_guest_detach(g);

  /* A new host replaces the dead one's segment; its orderly close ends
   * the session without an error. */
  shmipc_host_config_init(&hc);
  hc.name = name;
  assert_int_equal(shmipc_host_create(&hc, &h), SHMIPC_OK);
  assert_int_equal(shmipc_guest_attach(&gc, &g), SHMIPC_OK);
  assert_int_equal(shmipc_guest_start(g, echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_guest_wait(g, 50 * MS), SHMIPC_E_TIMEOUT);
  shmipc_host_destroy(h);
  assert_int_equal(shmipc_guest_wait(g, 5000 * MS), SHMIPC_OK);
  shmipc_guest_detach(g);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stream_to_guest_without_receiver),
      cmocka_unit_test(guest_wait_tells_crash_from_close),
  };

  if (argc == 3 && strcmp(argv[1], "--host") == 0)
    return host_child(argv[2]);
  if (argc != 2 || !proc_executable(argv[1])) {
    fprintf(stderr, "usage: %s GUEST-BINARY\n", argv[0]);
    return 2;
  }
  guest_path = argv[1];
  return cmocka_run_group_tests(tests, NULL, NULL);
}
