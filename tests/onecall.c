/* SPDX-License-Identifier: MIT */
/*
 * A fixed number of one-thread calls, for counting what one call costs
 * (instructions under callgrind, system calls under strace) rather than
 * timing it: the count does not move when the machine is loaded.
 *
 *   shmipc-onecall shmipc N GAP_US [PREFIX...] GUEST
 *       host side: N calls of 64 B on one slot to the guest program GUEST
 *       (started as PREFIX... GUEST -name NAME), GAP_US microseconds
 *       apart (0: back to back; 1000: the sleep-path cell).
 *   shmipc-onecall shmipc-pre N HOLD_US [PREFIX...] GUEST
 *       the same calls as publish, the driver's own spin until slot 0's
 *       word reads RESP_READY (at most HOLD_US microseconds), then wait:
 *       the wait finds the answer at its first look, so the host's count
 *       is its own path, not the guest's speed.
 *   shmipc-onecall spin N GAP_US [PREFIX...]
 *       the `spin` baseline's protocol (one word and one buffer each way),
 *       the server in a child process started as PREFIX... SELF spin-serve.
 *   shmipc-onecall futex N GAP_US [PREFIX...]
 *       the `futex` baseline's protocol: FUTEX_WAKE after each store,
 *       FUTEX_WAIT whenever the word is not there yet.
 *
 * The calls run in run_calls() and are served in serve_calls(), for
 * callgrind's --toggle-collect. Linux only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmipc/shmipc.h>

#include "layout.h"

#define PAYLOAD 64u
#define CALL_TIMEOUT_NS INT64_C(10000000000)
#define ATTACH_TIMEOUT_NS INT64_C(60000000000)
#define STOP 0x80000000u

static void gap(unsigned us)
{
  struct timespec ts = {0, (long)us * 1000};

  if (us > 0)
    nanosleep(&ts, NULL);
}

static pid_t spawn(char **argv)
{
  pid_t pid = fork();

  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
      dup2(devnull, STDOUT_FILENO);
    execvp(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static int reap(pid_t pid)
{
  int st;

  if (waitpid(pid, &st, 0) != pid)
    return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- the library ---- */

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Slot 0's control word, read-only (pre-answered mode). */
static const uint32_t *ctrl0;

static int map_ctrl0(const char *name)
{
  char path[128];
  const struct shmipc_wire_header *hdr;
  void *m;
  int fd;

  snprintf(path, sizeof path, "/dev/shm/shmipc-%s", name);
  fd = open(path, O_RDONLY);
  if (fd < 0)
    return -1;
  m = mmap(NULL, 65536, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED)
    return -1;
  hdr = m;
  if (hdr->slots_offset + sizeof(uint32_t) > 65536)
    return -1;
  ctrl0 =
      (const uint32_t *)(const void *)((const uint8_t *)m + hdr->slots_offset);
  return 0;
}

/* Spin in our own code until the answer is in, at most @us microseconds
 * (pre-answered mode). */
static void hold(unsigned us)
{
  int64_t until = now_ns() + (int64_t)us * 1000;

  while ((__atomic_load_n(ctrl0, __ATOMIC_ACQUIRE) & SHMIPC_CTRL_STATE_MASK) !=
             SHMIPC_SLOT_RESP_READY &&
         now_ns() < until)
    ;
}

/* @pre_us > 0: publish, give the guest @pre_us microseconds to answer,
 * then wait (which then finds the answer at its first look): the host's
 * own path, without the spin that depends on the guest's speed. */
__attribute__((noinline)) static int run_calls(shmipc_host *h, unsigned n,
                                               unsigned gap_us, unsigned pre_us)
{
  unsigned char out[PAYLOAD];
  unsigned i;

  for (i = 0; i < n; i++) {
    shmipc_slot *s;
    int r = shmipc_slot_acquire(h, CALL_TIMEOUT_NS, &s);

    if (r != SHMIPC_OK)
      return r;
    memset(out, (int)i, sizeof out);
    memcpy(shmipc_slot_req_buf(s), out, sizeof out);
    if (pre_us > 0) {
      r = shmipc_slot_publish(s, 128, sizeof out, 0);
      hold(pre_us);
      if (r == SHMIPC_OK)
        r = shmipc_slot_wait(s, CALL_TIMEOUT_NS);
    } else {
      r = shmipc_slot_send(s, 128, sizeof out, 0, CALL_TIMEOUT_NS);
    }
    if (r == SHMIPC_OK && (shmipc_slot_resp_size(s) != sizeof out ||
                           memcmp(shmipc_slot_resp_data(s), out, sizeof out)))
      r = SHMIPC_E_CORRUPT;
    shmipc_slot_release(s);
    if (r != SHMIPC_OK)
      return r;
    gap(gap_us);
  }
  return SHMIPC_OK;
}

static int lib_main(unsigned n, unsigned gap_us, unsigned pre_us, char **guest,
                    int nguest)
{
  char name[64], **argv = calloc((size_t)nguest + 3, sizeof *argv);
  shmipc_host_config cfg;
  shmipc_host *h;
  pid_t pid;
  int r, i;

  snprintf(name, sizeof name, "onecall-%ld", (long)getpid());
  shmipc_host_config_init(&cfg);
  cfg.name = name;
  cfg.host_slots = 1;
  cfg.guest_slots = 1;
  if (argv == NULL || (r = shmipc_host_create(&cfg, &h)) != SHMIPC_OK) {
    fprintf(stderr, "onecall: create failed\n");
    return 1;
  }
  for (i = 0; i < nguest; i++)
    argv[i] = guest[i];
  argv[i++] = "-name";
  argv[i++] = name;
  pid = spawn(argv);
  r = shmipc_host_wait_guest(h, ATTACH_TIMEOUT_NS);
  if (r == SHMIPC_OK && pre_us > 0 && map_ctrl0(name) != 0)
    r = SHMIPC_E_SYSTEM;
  if (r == SHMIPC_OK)
    r = run_calls(h, n, gap_us, pre_us);
  if (r != SHMIPC_OK)
    fprintf(stderr, "onecall: %s\n", shmipc_strerror(r));
  shmipc_host_destroy(h);
  if (pid > 0)
    reap(pid);
  free(argv);
  return r == SHMIPC_OK ? 0 : 1;
}

/* ---- the baselines: bench/baselines.c's protocol ---- */

struct pair {
  _Alignas(64) atomic_uint c2s;
  _Alignas(64) atomic_uint s2c;
  _Alignas(64) unsigned char req[PAYLOAD];
  _Alignas(64) unsigned char resp[PAYLOAD];
};

static void futex_wait(atomic_uint *w, uint32_t v)
{
  struct timespec ts = {1, 0};

  syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
}

static void futex_wake(atomic_uint *w)
{
  syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static uint32_t wait_ne(atomic_uint *w, uint32_t last, int sleep)
{
  uint32_t v;

  for (;;) {
    v = atomic_load_explicit(w, memory_order_acquire);
    if (v != last)
      return v;
    if (sleep)
      futex_wait(w, v);
    else
      relax();
  }
}

__attribute__((noinline)) static void serve_calls(struct pair *p, int sleep)
{
  uint32_t last = 0, v;

  while (!((v = wait_ne(&p->c2s, last, sleep)) & STOP)) {
    memcpy(p->resp, p->req, PAYLOAD);
    atomic_store_explicit(&p->s2c, v, memory_order_release);
    if (sleep)
      futex_wake(&p->s2c);
    last = v;
  }
}

__attribute__((noinline)) static int run_pair_calls(struct pair *p, unsigned n,
                                                    unsigned gap_us, int sleep)
{
  unsigned char in[PAYLOAD], out[PAYLOAD];
  uint32_t seq;

  for (seq = 1; seq <= n; seq++) {
    memset(out, (int)seq, sizeof out);
    memcpy(p->req, out, sizeof out);
    atomic_store_explicit(&p->c2s, seq, memory_order_release);
    if (sleep)
      futex_wake(&p->c2s);
    while (wait_ne(&p->s2c, seq - 1, sleep) != seq)
      ;
    memcpy(in, p->resp, sizeof in);
    if (memcmp(in, out, sizeof in) != 0)
      return -1;
    gap(gap_us);
  }
  return 0;
}

static struct pair *map_pair(int fd)
{
  void *m = mmap(NULL, sizeof(struct pair), PROT_READ | PROT_WRITE, MAP_SHARED,
                 fd, 0);

  return m == MAP_FAILED ? NULL : m;
}

static int pair_main(const char *self, int sleep, unsigned n, unsigned gap_us,
                     char **prefix, int nprefix)
{
  char path[64], **argv = calloc((size_t)nprefix + 5, sizeof *argv);
  struct pair *p;
  pid_t pid;
  int fd, r, i;

  snprintf(path, sizeof path, "/dev/shm/onecall-pair-%ld", (long)getpid());
  fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (argv == NULL || fd < 0 || ftruncate(fd, sizeof *p) != 0 ||
      (p = map_pair(fd)) == NULL) {
    fprintf(stderr, "onecall: %s: %s\n", path, strerror(errno));
    return 1;
  }
  for (i = 0; i < nprefix; i++)
    argv[i] = prefix[i];
  argv[i++] = (char *)self;
  argv[i++] = sleep ? "futex-serve" : "spin-serve";
  argv[i++] = path;
  pid = spawn(argv);
  /* The server says it runs by setting s2c to STOP once. */
  while (atomic_load_explicit(&p->s2c, memory_order_acquire) != STOP)
    gap(1000);
  atomic_store_explicit(&p->s2c, 0, memory_order_release);
  r = run_pair_calls(p, n, gap_us, sleep);
  atomic_store_explicit(&p->c2s, STOP, memory_order_release);
  futex_wake(&p->c2s);
  reap(pid);
  unlink(path);
  free(argv);
  return r == 0 ? 0 : 1;
}

static int serve_main(const char *path, int sleep)
{
  int fd = open(path, O_RDWR);
  struct pair *p = fd >= 0 ? map_pair(fd) : NULL;

  if (p == NULL)
    return 1;
  atomic_store_explicit(&p->s2c, STOP, memory_order_release);
  while (atomic_load_explicit(&p->s2c, memory_order_acquire) == STOP)
    gap(100);
  serve_calls(p, sleep);
  return 0;
}

int main(int argc, char **argv)
{
  unsigned n, gap_us;

  if (argc == 3 && strcmp(argv[1], "spin-serve") == 0)
    return serve_main(argv[2], 0);
  if (argc == 3 && strcmp(argv[1], "futex-serve") == 0)
    return serve_main(argv[2], 1);
  if (argc < 4) {
    fprintf(stderr,
            "usage: %s shmipc|spin|futex N GAP_US [PREFIX...] [GUEST]\n",
            argv[0]);
    return 2;
  }
  n = (unsigned)strtoul(argv[2], NULL, 10);
  gap_us = (unsigned)strtoul(argv[3], NULL, 10);
  if (strcmp(argv[1], "shmipc") == 0 && argc >= 5)
    return lib_main(n, gap_us, 0, argv + 4, argc - 4);
  if (strcmp(argv[1], "shmipc-pre") == 0 && argc >= 5)
    return lib_main(n, 0, gap_us, argv + 4, argc - 4);
  if (strcmp(argv[1], "spin") == 0 || strcmp(argv[1], "futex") == 0)
    return pair_main(argv[0], argv[1][0] == 'f', n, gap_us, argv + 4, argc - 4);
  fprintf(stderr, "onecall: unknown mode %s\n", argv[1]);
  return 2;
}
