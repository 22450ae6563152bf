/* SPDX-License-Identifier: MIT */
/*
 * One fact, one code: a peer that went away (closed, detached or died) is
 * SHMIPC_E_PEER_GONE on every path of the guest and of the host, whether
 * or not the guest's workers ran and saw it first; SHMIPC_E_CLOSED means
 * only that the local handle is shutting down. A peer that dies is a
 * forked child killed with SIGKILL (its liveness lock goes with it); one
 * that closes or detaches runs in this process. Linux only (fork).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "handlers.h"
#include "internal.h"
#include "proc.h"

#define MS INT64_C(1000000)

static const char *tname(void)
{
  static char buf[64];
  static int n;

  snprintf(buf, sizeof buf, "peergone-%u-%d", (unsigned)getpid(), n++);
  return buf;
}

static shmipc_host *host_new(const char *name)
{
  shmipc_host_config c;
  shmipc_host *h = NULL;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 2;
  c.guest_slots = 2;
  c.req_capacity = 256;
  c.resp_capacity = 256;
  c.liveness_interval_ns = 10 * MS;
  if (shmipc_host_create(&c, &h) != SHMIPC_OK)
    return NULL;
  return h;
}

static shmipc_guest *guest_new(const char *name)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;

  shmipc_guest_config_init(&c);
  c.name = name;
  c.connect_timeout_ns = 2000 * MS;
  c.liveness_interval_ns = 10 * MS;
  if (shmipc_guest_attach(&c, &g) != SHMIPC_OK)
    return NULL;
  return g;
}

/* A peer in a child process: it sets up its side, says so on the pipe and
 * waits to be killed. */
struct child {
  struct proc p;
  const char *name;
};

static struct child spawn(const char *name, bool as_host)
{
  struct child c = {{0}, name};
  int fds[2], r;
  char b;

  assert_int_equal(pipe(fds), 0);
  r = proc_fork(&c.p);
  assert_true(r >= 0);
  if (r == 0) {
    close(fds[0]);
    if (as_host) {
      if (host_new(name) == NULL)
        _exit(2);
    } else {
      shmipc_guest *g = guest_new(name);
      if (g == NULL || shmipc_guest_start(g, t_echo, NULL) != SHMIPC_OK)
        _exit(2);
    }
    if (write(fds[1], "r", 1) != 1)
      _exit(3);
    for (;;)
      pause();
  }
  close(fds[1]);
  if (read(fds[0], &b, 1) != 1)
    fail_msg("the child %s for %s did not get ready",
             as_host ? "host" : "guest", name);
  close(fds[0]);
  return c;
}

static void kill_child(struct child *c)
{
  struct proc_status st;

  proc_kill(&c->p);
  assert_int_equal(proc_wait(&c->p, 5000, &st), 0);
  assert_true(st.killed);
}

static int guest_call(shmipc_guest *g)
{
  char resp[8];

  return shmipc_guest_call(g, 0, "x", 1, resp, sizeof resp, NULL, NULL,
                           2000 * MS);
}

static int host_call(shmipc_host *h)
{
  char resp[8];

  return shmipc_host_call(h, 0, "x", 1, resp, sizeof resp, NULL, NULL,
                          2000 * MS);
}

/* The host goes (destroyed here, or its process killed); the guest's
 * workers run and see it first, or none was started. Every later guest
 * call says PEER_GONE. */
static void guest_sees_host_gone(void **state)
{
  static const struct {
    bool dies, workers;
  } cases[] = {{false, false}, {false, true}, {true, false}, {true, true}};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *name = tname();
    struct child c = {{0}, name};
    shmipc_host *h = NULL;
    shmipc_guest *g;
    char path[128];
    int r;

    if (cases[i].dies)
      c = spawn(name, true);
    else
      assert_non_null(h = host_new(name));
    assert_non_null(g = guest_new(name));
    if (cases[i].workers)
      assert_int_equal(shmipc_guest_start(g, t_echo, NULL), SHMIPC_OK);
    if (cases[i].dies)
      kill_child(&c);
    else
      shmipc_host_destroy(h);
    /* the workers end without an error on an orderly close */
    if (cases[i].workers)
      assert_int_equal(shmipc_guest_wait(g, 2000 * MS),
                       cases[i].dies ? SHMIPC_E_PEER_GONE : SHMIPC_OK);
    r = guest_call(g);
    printf("host %s, workers %s: guest_call %d (%s)\n",
           cases[i].dies ? "died" : "closed", cases[i].workers ? "ran" : "none",
           r, shmipc_strerror(r));
    assert_int_equal(r, SHMIPC_E_PEER_GONE);
    assert_int_equal(guest_call(g), SHMIPC_E_PEER_GONE);
    /* Only the local shutdown is CLOSED. */
    shmipc_guest_stop(g);
    assert_int_equal(guest_call(g), SHMIPC_E_CLOSED);
    shmipc_guest_detach(g);
    snprintf(path, sizeof path, "/shmipc-%s", name);
    if (cases[i].dies)
      assert_int_equal(shm_unlink(path), 0); /* what a dead host leaves */
  }
}

/* A corrupt host slot ends the workers with CORRUPT; it is not a closing
 * handle, so guest calls on the guest slots go on. */
static void corrupt_host_slot_is_not_closed(void **state)
{
  const char *name = tname();
  shmipc_host *h = host_new(name);
  shmipc_guest *g = guest_new(name);
  struct shmipc__seg *seg = &shmipc__host_ep(h)->seg;
  uint32_t *ctrl = &shmipc__wslot(seg, 0)->ctrl;
  int i;

  (void)state;
  assert_int_equal(shmipc_guest_start(g, t_echo, NULL), SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_start(h, t_echo, NULL), SHMIPC_OK);
  assert_int_equal(guest_call(g), SHMIPC_OK);
  /* The worker must have seen the word legal first: a word that was never
   * legal for it is one the host repairs, and it waits (docs/PROTOCOL.md,
   * "Repair"). It announces its sleep on the FREE word it saw. */
  for (i = 0; !(__atomic_load_n(ctrl, __ATOMIC_ACQUIRE) &
                SHMIPC_CTRL_RESPONDER_WAITING);
       i++) {
    assert_true(i < 2000); /* 2 s for the worker to go to sleep on slot 0 */
    shmipc__sleep_ns(MS);
  }
  __atomic_store_n(ctrl, 0x5u, __ATOMIC_RELEASE); /* no such state */
  shmipc__word_wake(seg, ctrl, SHMIPC_CTRL_RESPONDER_WAITING);
  assert_int_equal(shmipc_guest_wait(g, 2000 * MS), SHMIPC_E_CORRUPT);
  assert_int_equal(guest_call(g), SHMIPC_OK);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
}

/* The guest goes (detached here, or its process killed): every host path
 * that waits for it says PEER_GONE, never CLOSED. */
static void host_sees_guest_gone(void **state)
{
  int dies;

  (void)state;
  for (dies = 0; dies <= 1; dies++) {
    const char *name = tname();
    shmipc_host *h = host_new(name);
    struct child c = {{0}, name};
    shmipc_stream_sender *snd;
    shmipc_slot *s;
    shmipc_guest *g = NULL;
    char data[600] = {0};

    assert_non_null(h);
    if (dies) {
      c = spawn(name, false);
    } else {
      assert_non_null(g = guest_new(name));
      assert_int_equal(shmipc_guest_start(g, t_echo, NULL), SHMIPC_OK);
    }
    assert_int_equal(shmipc_host_wait_guest(h, 2000 * MS), SHMIPC_OK);
    assert_int_equal(host_call(h), SHMIPC_OK);
    if (dies)
      kill_child(&c);
    else
      shmipc_guest_detach(g);
    assert_int_equal(host_call(h), SHMIPC_E_PEER_GONE);
    assert_int_equal(host_call(h), SHMIPC_E_PEER_GONE);
    assert_int_equal(shmipc_slot_acquire(h, 0, &s), SHMIPC_OK);
    assert_int_equal(shmipc_slot_send(s, 0, 1, 0, 2000 * MS),
                     SHMIPC_E_PEER_GONE);
    shmipc_slot_release(s);
    assert_int_equal(shmipc_stream_sender_create(h, NULL, &snd), SHMIPC_OK);
    assert_int_equal(shmipc_stream_send(snd, SHMIPC_MSG_APP_START, data,
                                        sizeof data, 2000 * MS, NULL),
                     SHMIPC_E_PEER_GONE);
    shmipc_stream_sender_destroy(snd);
    /* waiting for a guest is waiting for the next one */
    assert_int_equal(shmipc_host_wait_guest(h, 20 * MS), SHMIPC_E_TIMEOUT);
    shmipc_host_destroy(h);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(guest_sees_host_gone),
      cmocka_unit_test(corrupt_host_slot_is_not_closed),
      cmocka_unit_test(host_sees_guest_gone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
