/* SPDX-License-Identifier: MIT */
/*
 * A full backing store: a segment that does not fit /dev/shm fails at
 * create with SHMIPC_E_NOMEM and leaves nothing there; one that fits has
 * its memory reserved, so full-size calls with the C and the Go echo guest
 * work even after another file has taken all the space left.
 *
 * The machine's own /dev/shm is never filled: the program moves itself
 * into a private mount namespace (unshare(2), propagation private) and
 * mounts a 16 MiB tmpfs over /dev/shm there, which its guests inherit and
 * which vanishes with them. That needs root (CAP_SYS_ADMIN): without it
 * the program exits 77 (skipped), or fails under CI=true.
 *
 * Linked with -Wl,--wrap=fallocate64 (glibc's name for fallocate with a
 * 64-bit off_t), so that tests can make the library's reservation meet
 * EINTR or EOPNOTSUPP.
 *
 * Usage: test-full-store GUEST... (echo guests, ECHO_GUEST.md)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "proc.h"
#include "strict.h"

#define MS INT64_C(1000000)
#define MIB (UINT64_C(1) << 20)
#define STORE_SIZE (16 * MIB)
#define STORE "/dev/shm"
#define FILLER STORE "/full-store-filler"
#define MAX_GUESTS 4

static const char *guests[MAX_GUESTS];

/* What a failed test leaves, for its teardown. */
static shmipc_host *live_host;
static struct proc live_guest;
static int guest_running;

/* The library's fallocate() calls, through -Wl,--wrap: a test arms
 * inject_errno for the next inject_count calls (-1: all), which then fail
 * with it without allocating. */
int __real_fallocate64(int fd, int mode, off_t off, off_t len);
int __wrap_fallocate64(int fd, int mode, off_t off, off_t len);
static int inject_errno, inject_count;
static int fallocate_calls;
static uint64_t smallest_len;

int __wrap_fallocate64(int fd, int mode, off_t off, off_t len)
{
  fallocate_calls++;
  if ((uint64_t)len < smallest_len)
    smallest_len = (uint64_t)len;
  if (inject_count != 0) {
    if (inject_count > 0)
      inject_count--;
    errno = inject_errno;
    return -1;
  }
  return __real_fallocate64(fd, mode, off, len);
}

/* Move into a private mount namespace with a STORE_SIZE tmpfs on STORE.
 * 0, or the errno of the step that failed (EPERM: not privileged). */
static int isolate(void)
{
  if (unshare(CLONE_NEWNS) != 0)
    return errno;
  /* Private before anything is mounted: with shared propagation (the
   * systemd default) the new tmpfs would appear on the machine's
   * /dev/shm too. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return errno;
  if (mount("shmipc-full-store", STORE, "tmpfs", MS_NOSUID | MS_NODEV,
            "size=16m,mode=1777") != 0)
    return errno;
  return 0;
}

/* The entries in STORE, "." and ".." aside. */
static int store_entries(void)
{
  DIR *d = opendir(STORE);
  struct dirent *e;
  int n = 0;

  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      n++;
      fprintf(stderr, "  in " STORE ": %s\n", e->d_name);
    }
  closedir(d);
  return n;
}

static uint64_t store_used(void)
{
  struct statvfs v;

  assert_int_equal(statvfs(STORE, &v), 0);
  return (uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize;
}

static void assert_store_empty(void)
{
  assert_int_equal(store_entries(), 0);
  assert_int_equal(store_used(), 0);
}

static int64_t now_ns(void) { return t_now_ns(); }

static int create(const char *name, uint32_t slots, uint32_t guest_slots,
                  uint32_t cap, shmipc_host **h)
{
  shmipc_host_config c;

  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = slots;
  c.guest_slots = guest_slots;
  c.req_capacity = cap;
  c.resp_capacity = cap;
  return shmipc_host_create(&c, h);
}

static int teardown(void **state)
{
  struct proc_status st;

  (void)state;
  if (guest_running) {
    proc_kill(&live_guest);
    (void)proc_wait(&live_guest, 10000, &st);
    guest_running = 0;
  }
  shmipc_host_destroy(live_host);
  live_host = NULL;
  (void)unlink(FILLER);
  inject_count = 0;
  return 0;
}

/* 4 slots of 8 MiB each way: 64 MiB on a 16 MiB store. Without the
 * reservation create succeeded and the first call past 16 MiB faulted. */
static void larger_than_store(void **state)
{
  shmipc_host *h = NULL;

  (void)state;
  assert_int_equal(create("full-store-big", 4, 0, 8 * MIB, &h), SHMIPC_E_NOMEM);
  assert_null(h);
  assert_store_empty();
}

/* 1 TiB fails at once: the store refuses a size beyond its own before it
 * allocates anything. */
static void one_tib_at_once(void **state)
{
  shmipc_host *h = NULL;
  int64_t t0 = now_ns();
  int r = create("full-store-tib", 1024, 0, 512 * MIB, &h);
  int64_t took = now_ns() - t0;

  (void)state;
  assert_int_equal(r, SHMIPC_E_NOMEM);
  assert_null(h);
  if (took > 1000 * MS)
    fail_msg("a 1 TiB create took %lld ms to fail", (long long)(took / MS));
  assert_store_empty();
}

/* Fits the store's size but not the space another segment left: the
 * reservation runs out part-way, and what it took is given back with the
 * file. */
static void larger_than_free_space(void **state)
{
  shmipc_host *a = NULL, *b = NULL;
  uint64_t used;

  (void)state;
  assert_int_equal(create("full-store-a", 2, 0, 3 * MIB, &a), SHMIPC_OK);
  used = store_used();
  assert_true(used >= 12 * MIB); /* reserved at create, not at first touch */
  assert_int_equal(create("full-store-b", 2, 0, 3 * MIB, &b), SHMIPC_E_NOMEM);
  assert_null(b);
  assert_int_equal(store_entries(), 1);
  assert_int_equal(store_used(), used);
  shmipc_host_destroy(a);
  assert_store_empty();
}

/* An interrupted reservation (EINTR: the kernel undid that call's pages;
 * tmpfs gives it for a signal, recent kernels for a fatal one only) goes
 * on in smaller pieces, and create gets the whole segment. */
static void reserve_interrupted(void **state)
{
  (void)state;
  inject_errno = EINTR;
  inject_count = 3;
  fallocate_calls = 0;
  smallest_len = UINT64_MAX;
  assert_int_equal(create("full-store-eintr", 2, 0, 3 * MIB, &live_host),
                   SHMIPC_OK);
  assert_int_equal(inject_count, 0);
  assert_true(fallocate_calls > 4);
  assert_true(smallest_len < 12 * MIB);
  assert_true(store_used() >= 12 * MIB);
  shmipc_host_destroy(live_host);
  live_host = NULL;
  assert_store_empty();
}

/* A file system without fallocate: create succeeds as it did before
 * reservations, with the segment unreserved (README, "A full store fails
 * at create"). */
static void reserve_unsupported(void **state)
{
  (void)state;
  inject_errno = EOPNOTSUPP;
  inject_count = -1;
  assert_int_equal(create("full-store-nofalloc", 2, 0, 3 * MIB, &live_host),
                   SHMIPC_OK);
  assert_true(store_used() < 1 * MIB);
  shmipc_host_destroy(live_host);
  live_host = NULL;
  assert_store_empty();
}

/* A segment that fits, then a file that takes all the space left: every
 * slot still carries a full-size request and response, both guests. */
static void fits_then_store_filled(void **state)
{
  const char *guest = *state;
  enum { SLOTS = 2 };
  const uint32_t cap = 3 * MIB;
  char name[64];
  const char *argv[] = {guest, "-name", name, "-timeout-ms", "10000", NULL};
  shmipc_slot *s[SLOTS];
  struct proc_status st;
  shmipc_host *h;
  static char chunk[1 << 20];
  uint64_t filled = 0;
  ssize_t w;
  int fd, k, round;

  snprintf(name, sizeof name, "full-store-fits-%u", (unsigned)proc_self_id());
  assert_int_equal(create(name, SLOTS, 0, cap, &live_host), SHMIPC_OK);
  h = live_host;
  fd = open(FILLER, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  memset(chunk, 0x5a, sizeof chunk);
  while ((w = write(fd, chunk, sizeof chunk)) > 0)
    filled += (uint64_t)w;
  assert_int_equal(errno, ENOSPC);
  close(fd);
  /* Whatever the filler got is what the segment did not hold already. */
  assert_true(filled <= STORE_SIZE - (uint64_t)SLOTS * 2 * cap);

  assert_int_equal(proc_spawn(&live_guest, argv, 0), 0);
  guest_running = 1;
  if (shmipc_host_wait_guest(h, 10000 * MS) != SHMIPC_OK)
    fail_msg("guest %s did not attach within 10 s", guest);
  for (round = 0; round < 2; round++) {
    for (k = 0; k < SLOTS; k++) {
      uint8_t *b;
      uint32_t i;

      assert_int_equal(shmipc_slot_acquire(h, 10000 * MS, &s[k]), SHMIPC_OK);
      assert_int_equal(shmipc_slot_req_capacity(s[k]), cap);
      b = shmipc_slot_req_buf(s[k]);
      for (i = 0; i < cap; i++)
        b[i] = (uint8_t)(i * 31u + (uint32_t)k + (uint32_t)round);
    }
    for (k = 0; k < SLOTS; k++)
      assert_int_equal(shmipc_slot_publish(s[k], 1000, cap, 0), SHMIPC_OK);
    for (k = 0; k < SLOTS; k++) {
      const uint8_t *b;
      uint32_t i;

      assert_int_equal(shmipc_slot_wait(s[k], 10000 * MS), SHMIPC_OK);
      assert_int_equal(shmipc_slot_resp_size(s[k]), cap);
      b = shmipc_slot_resp_data(s[k]);
      for (i = 0; i < cap; i++)
        if (b[i] != (uint8_t)(i * 31u + (uint32_t)k + (uint32_t)round))
          fail_msg("slot %d round %d: byte %u differs", k, round, i);
      shmipc_slot_release(s[k]);
    }
  }
  shmipc_host_destroy(h);
  live_host = NULL;
  if (proc_wait(&live_guest, 5000, &st) != 0)
    fail_msg("guest %s did not exit within 5 s of the host closing", guest);
  guest_running = 0;
  if (!st.exited || st.code != 0)
    fail_msg("guest %s ended with %s %d", guest,
             st.exited ? "exit code" : "a signal, status", st.code);
  assert_int_equal(unlink(FILLER), 0);
  assert_store_empty();
}

int main(int argc, char **argv)
{
  struct CMUnitTest tests[5 + MAX_GUESTS] = {
      cmocka_unit_test_teardown(larger_than_store, teardown),
      cmocka_unit_test_teardown(one_tib_at_once, teardown),
      cmocka_unit_test_teardown(larger_than_free_space, teardown),
      cmocka_unit_test_teardown(reserve_interrupted, teardown),
      cmocka_unit_test_teardown(reserve_unsupported, teardown),
  };
  char titles[MAX_GUESTS][128];
  size_t n = 5;
  struct statvfs v;
  char why[256];
  int k, e;

  if (argc < 2 || argc > 1 + MAX_GUESTS) {
    fprintf(stderr, "usage: %s GUEST...\n", argv[0]);
    return 2;
  }
  for (k = 1; k < argc; k++) {
    if (!proc_executable(argv[k])) {
      snprintf(why, sizeof why, "guest binary %s not found", argv[k]);
      return t_cannot_run("%s", why);
    }
    guests[k - 1] = argv[k];
    snprintf(titles[k - 1], sizeof titles[k - 1], "fits_then_store_filled %s",
             strrchr(argv[k], '/') ? strrchr(argv[k], '/') + 1 : argv[k]);
    tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
        fits_then_store_filled, NULL, teardown, (void *)guests[k - 1]);
    tests[n++].name = titles[k - 1];
  }
  e = isolate();
  if (e != 0) {
    snprintf(why, sizeof why,
             "a private tmpfs on " STORE " needs unshare(2) and mount(2): %s",
             strerror(e));
    return t_cannot_run("%s", why);
  }
  /* Never go on against anything but the store just mounted. */
  if (statvfs(STORE, &v) != 0 ||
      (uint64_t)v.f_blocks * v.f_frsize != STORE_SIZE) {
    fprintf(stderr, STORE " is not the private 16 MiB tmpfs: stopping\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  return _cmocka_run_group_tests("full store", tests, n, NULL, NULL);
}
