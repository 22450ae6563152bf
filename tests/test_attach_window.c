/* SPDX-License-Identifier: MIT */
/*
 * The guest's attach between its validation of the header (a private copy,
 * read without mapping) and its mapping (src/segment.c, shmipc__seg_open()):
 * a host that closes in that window, or a peer that rewrites cache line 0
 * there, is seen at attach, through the acquire load of host_state after
 * mapping and the comparison of line 0 with the validated copy.
 *
 * Linux only: the program is linked with -Wl,--wrap=mmap,--wrap=mmap64, so
 * the test acts in the window from inside the library's mmap() of the
 * segment, the first mapping of a file that attach makes.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <cmocka.h>

#include "internal.h"
#include "raw.h"

#define MS INT64_C(1000000)

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd,
                    off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd,
                    off_t off);

/* Armed by a test: runs once, at the next mapping of a file. */
static void (*in_window)(void);
static int windows_met;
static struct shmipc_wire_header *hd; /* the raw view's header */

static void window(int fd)
{
  void (*f)(void) = in_window;

  if (f != NULL && fd >= 0) {
    in_window = NULL;
    windows_met++;
    f();
  }
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off)
{
  window(fd);
  return __real_mmap(addr, len, prot, flags, fd, off);
}

void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd,
                    off_t off)
{
  window(fd);
  return __real_mmap64(addr, len, prot, flags, fd, off);
}

static void nothing(void) {}
static void host_closes(void) { hd->host_state = SHMIPC_HOST_CLOSED; }
static void host_state_garbage(void) { hd->host_state = 77; }
static void nonce_changes(void) { hd->session_nonce ^= 1; }
static void capacity_changes(void) { hd->req_capacity = 64; }
static void magic_changes(void) { hd->magic ^= UINT64_C(1) << 63; }

static int attach_rc(const char *name)
{
  shmipc_guest_config c;
  shmipc_guest *g = NULL;
  int r;

  shmipc_guest_config_init(&c);
  c.name = name;
  c.connect_timeout_ns = 200 * MS;
  r = shmipc_guest_attach(&c, &g);
  shmipc_guest_detach(g);
  return r;
}

static void changes_in_window(void **state)
{
  static const struct {
    const char *what;
    void (*change)(void);
    int want;
  } cases[] = {
      {"nothing changes", nothing, SHMIPC_OK},
      {"the host closes", host_closes, SHMIPC_E_PEER_GONE},
      {"host_state turns to garbage", host_state_garbage, SHMIPC_E_CORRUPT},
      {"the session nonce changes", nonce_changes, SHMIPC_E_CORRUPT},
      {"req_capacity changes", capacity_changes, SHMIPC_E_CORRUPT},
      {"magic changes", magic_changes, SHMIPC_E_CORRUPT},
  };
  char name[64];
  shmipc_host_config c;
  shmipc_host *h = NULL;
  struct shmipc_wire_header saved;
  struct raw r;
  size_t i;

  (void)state;
  snprintf(name, sizeof name, "window-%u", (unsigned)shmipc__getpid());
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 2;
  c.req_capacity = 256;
  c.resp_capacity = 256;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  assert_int_equal(raw_open(name, &r), 0);
  hd = (struct shmipc_wire_header *)(void *)r.base;
  saved = *hd;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int met = windows_met, rc;

    in_window = cases[i].change;
    rc = attach_rc(name);
    in_window = NULL;
    *hd = saved;
    if (windows_met != met + 1)
      fail_msg("%s: attach never mapped the segment", cases[i].what);
    if (rc != cases[i].want)
      fail_msg("%s between validation and mapping: attach gave %d (%s), "
               "want %d (%s)",
               cases[i].what, rc, shmipc_strerror(rc), cases[i].want,
               shmipc_strerror(cases[i].want));
  }
  raw_close(&r);
  shmipc_host_destroy(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(changes_in_window),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
