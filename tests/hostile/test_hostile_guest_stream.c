/* SPDX-License-Identifier: MIT */
/*
 * Hostile guest streams (suite 'hostile'): a real C host here whose
 * receiver serves guest streams (shmipc_host_stream_receiver(), listener
 * thread), and a fake guest in a forked child (the hostile harness,
 * hostile.h: raw requests on guest slots) that announces 1 TiB, lies about
 * totals and offsets, sends a chunk twice or beyond the end, parks too
 * many ranges, fills the host's memory limit with streams it never
 * completes, and dies with streams open. Every answer must be the
 * protocol's (docs/PROTOCOL.md, "Receiver rules"); the host's memory stays
 * within the limits (peak resident memory measured, VmHWM), idle streams
 * are freed with no further message, and the dead guest's at once.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "handlers.h"
#include "hostile.h"
#include "proc.h"

#define MIB ((uint64_t)1 << 20)
#define REQ_CAP (MIB + 32)
#define MAX_STREAM (32 * MIB)
#define MAX_TOTAL (64 * MIB)
#define MAX_STREAMS 4u
#define MAX_PARKED 8u
#define IDLE_MS 1000
#define MS INT64_C(1000000)

static char name[64];

/* ---- the fake guest (child) ---- */

static struct hostile_seg seg;
static unsigned char msgbuf[32 + MIB];
static int step;

static void put32(unsigned char *p, uint32_t v)
{
  int i;

  for (i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
  put32(p, (uint32_t)v);
  put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* One stream message of @type with @len data bytes; the answer must be
 * @want_status / @want_state, or the child exits with the step's number. */
static void msg(uint32_t type, uint64_t id, uint64_t total, uint64_t offset,
                uint32_t flags, size_t len, uint32_t want_status,
                uint32_t want_state)
{
  struct shmipc_wire_slot resp;
  const unsigned char *a;
  int r;

  step++;
  put64(msgbuf, id);
  put64(msgbuf + 8, total);
  put64(msgbuf + 16, offset);
  put32(msgbuf + 24, 4242);
  put32(msgbuf + 28, flags);
  memset(msgbuf + 32, (int)(id + offset), len);
  r = hostile_request(&seg, seg.host_slots, type, (uint32_t)(32 + len), 0,
                      (uint64_t)step, msgbuf, 32 + len, 10000, &resp);
  a = hostile_resp_buf(&seg, seg.host_slots);
  if (r != 0 || resp.resp_type != type || resp.resp_size != 16 ||
      get32(a) != want_status || get32(a + 4) != want_state) {
    fprintf(stderr,
            "hostile guest stream: step %d (type %u id %llu offset %llu): "
            "rc %d, answer type %u size %u status %s state %u; want %s %u\n",
            step, type, (unsigned long long)id, (unsigned long long)offset, r,
            resp.resp_type, resp.resp_size, shmipc_stream_reason_name(get32(a)),
            get32(a + 4), shmipc_stream_reason_name(want_status), want_state);
    _exit(10 + step);
  }
}

static void start(uint64_t id, uint64_t total, uint32_t st, uint32_t state)
{
  msg(SHMIPC_MSG_STREAM_START, id, total, 0, 0, 0, st, state);
}

static void chunk(uint64_t id, uint64_t total, uint64_t off, size_t len,
                  uint32_t st, uint32_t state)
{
  msg(SHMIPC_MSG_STREAM_CHUNK, id, total, off, 0, len, st, state);
}

/* All of stream @id but its last byte: it never completes. */
static void fill_but_one(uint64_t id, uint64_t total)
{
  uint64_t off;

  for (off = 0; off < total - 1; off += MIB)
    chunk(id, total, off,
          (size_t)(total - 1 - off < MIB ? total - 1 - off : MIB),
          SHMIPC_STREAM_OK, 1);
}

enum { OPEN = 1, DROPPED = 3, NONE = 0 };

static void fake_guest(int to_parent, int from_parent)
{
  char b;
  uint64_t k;

  if (hostile_open(name, &seg) != 0 || hostile_guest_attach(&seg) != 0)
    _exit(2);
  /* lies about sizes */
  start(1, (uint64_t)1 << 40, SHMIPC_STREAM_TOO_BIG, NONE); /* 1 TiB */
  start(2, MAX_STREAM + 1, SHMIPC_STREAM_TOO_BIG, NONE);
  start(3, MAX_STREAM, SHMIPC_STREAM_OK, OPEN);
  chunk(3, MAX_STREAM, MAX_STREAM - 10, MIB, SHMIPC_STREAM_BOUNDS, DROPPED);
  start(3, MAX_STREAM, SHMIPC_STREAM_OK, OPEN);
  chunk(3, MAX_STREAM, UINT64_MAX - 5, 100, SHMIPC_STREAM_BOUNDS, DROPPED);
  /* a chunk twice, a chunk after its stream, a lying total */
  start(4, MAX_STREAM, SHMIPC_STREAM_OK, OPEN);
  chunk(4, MAX_STREAM, 0, MIB, SHMIPC_STREAM_OK, OPEN);
  chunk(4, MAX_STREAM, 0, MIB, SHMIPC_STREAM_OVERLAP, DROPPED);
  chunk(4, MAX_STREAM, MIB, MIB, SHMIPC_STREAM_UNKNOWN, NONE);
  start(5, MAX_STREAM, SHMIPC_STREAM_OK, OPEN);
  chunk(5, 2 * MAX_STREAM, 0, 10, SHMIPC_STREAM_MISMATCH, DROPPED);
  start(5, MAX_STREAM, SHMIPC_STREAM_OK, OPEN);
  start(5, MAX_STREAM, SHMIPC_STREAM_DUPLICATE, OPEN);
  msg(SHMIPC_MSG_STREAM_CHUNK, 5, MAX_STREAM, 0, 1, 0, SHMIPC_STREAM_ABORTED,
      DROPPED);
  /* too many out-of-order ranges */
  start(6, MIB, SHMIPC_STREAM_OK, OPEN);
  for (k = 1; k <= MAX_PARKED; k++)
    chunk(6, MIB, k * 8192, 4096, SHMIPC_STREAM_OK, OPEN);
  chunk(6, MIB, (MAX_PARKED + 1) * 8192, 4096, SHMIPC_STREAM_PARKED, DROPPED);
  /* the whole memory limit, touched, never completed */
  start(7, MAX_STREAM, SHMIPC_STREAM_OK, OPEN);
  start(8, MAX_STREAM, SHMIPC_STREAM_OK, OPEN);
  start(9, 1, SHMIPC_STREAM_TOO_BIG, NONE);
  fill_but_one(7, MAX_STREAM);
  fill_but_one(8, MAX_STREAM);
  start(9, 1, SHMIPC_STREAM_TOO_BIG, NONE);
  /* the parent watches the idle timeout free them, no message from us */
  if (write(to_parent, "a", 1) != 1 || read(from_parent, &b, 1) != 1)
    _exit(3);
  for (k = 10; k < 10 + MAX_STREAMS; k++)
    start(k, MAX_TOTAL / MAX_STREAMS, SHMIPC_STREAM_OK, OPEN);
  start(20, 0, SHMIPC_STREAM_TOO_MANY, NONE);
  fill_but_one(10, MAX_TOTAL / MAX_STREAMS);
  /* and dies with them open (exit drops the guest lock) */
  if (write(to_parent, "b", 1) != 1)
    _exit(3);
  _exit(0);
}

/* ---- the host (this process) ---- */

static int on_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  (void)user, (void)id, (void)app_type, (void)data, (void)len;
  return 0;
}

static long vm_kib(const char *field)
{
  char line[256];
  long v = -1;
  FILE *f = fopen("/proc/self/status", "r");

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, field, strlen(field)) == 0)
      v = strtol(line + strlen(field) + 1, NULL, 10);
  fclose(f);
  return v;
}

/* One byte from @fd within @ms. */
static bool read_char(int fd, char *c, int ms)
{
  struct pollfd p = {fd, POLLIN, 0};

  return poll(&p, 1, ms) == 1 && read(fd, c, 1) == 1;
}

/* Wait until the receiver holds nothing; returns when (ns), or -1. */
static int64_t wait_empty(shmipc_reassembler *r, int64_t ms)
{
  shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;
  int64_t until = t_now_ns() + ms * MS;

  do {
    shmipc_reassembler_stats(r, &st);
    if (st.open == 0 && st.held == 0 && st.cached == 0)
      return t_now_ns();
    t_sleep_ns(200000);
  } while (t_now_ns() < until);
  return -1;
}

static void hostile_streams(void **state)
{
  shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;
  shmipc_stream_limits lim;
  shmipc_reassembler *r;
  shmipc_host_config c;
  struct proc child;
  shmipc_host *h;
  int up[2], down[2], fd, rc;
  struct proc_status ps = {0};
  long base, peak;
  int64_t t0, t1;
  char b;

  (void)state;
  snprintf(name, sizeof name, "hostile-gstream-%u", (unsigned)proc_self_id());
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 1;
  c.guest_slots = 1;
  c.req_capacity = (uint32_t)REQ_CAP;
  c.resp_capacity = 64;
  assert_int_equal(shmipc_host_create(&c, &h), SHMIPC_OK);
  shmipc_stream_limits_init(&lim);
  lim.max_stream = MAX_STREAM;
  lim.max_total = MAX_TOTAL;
  lim.max_streams = MAX_STREAMS;
  lim.max_parked = MAX_PARKED;
  lim.idle_timeout_ns = IDLE_MS * MS;
  assert_int_equal(
      shmipc_reassembler_create(&lim, on_stream, NULL, t_echo, NULL, &r),
      SHMIPC_OK);
  assert_int_equal(shmipc_host_stream_receiver(h, r), SHMIPC_OK);
  assert_int_equal(shmipc_host_listen_start(h, t_echo, NULL), SHMIPC_OK);
  /* peak resident memory from here on (Linux: "5" resets VmHWM) */
  fd = open("/proc/self/clear_refs", O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "5", 1), 1);
  close(fd);
  base = vm_kib("VmRSS:");
  assert_int_equal(pipe(up), 0);
  assert_int_equal(pipe(down), 0);
  rc = proc_fork(&child);
  assert_true(rc >= 0);
  if (rc == 0)
    fake_guest(up[1], down[0]);
  if (!read_char(up[0], &b, 30000) || b != 'a') {
    (void)proc_wait(&child, 5000, &ps);
    fail_msg("the fake guest failed before filling the limit (exit %d)",
             ps.code);
  }
  shmipc_reassembler_stats(r, &st);
  assert_int_equal(st.open, 2);
  assert_int_equal(st.held, 2 * MAX_STREAM);
  /* never completed: the idle timeout frees them, no message needed */
  t0 = t_now_ns();
  t1 = wait_empty(r, 5000);
  assert_true(t1 > 0);
  printf("hostile guest streams: %llu MiB held by streams that never "
         "complete, freed by the idle timeout (%d ms; the buffer kept for "
         "reuse after a second one) %.0f ms later\n",
         (unsigned long long)(st.held >> 20), IDLE_MS, t_ms(t1 - t0));
  assert_int_equal(write(down[1], "c", 1), 1);
  if (!read_char(up[0], &b, 30000) || b != 'b') {
    (void)proc_wait(&child, 5000, &ps);
    fail_msg("the fake guest failed before dying (exit %d)", ps.code);
  }
  assert_int_equal(proc_wait(&child, 5000, &ps), 0);
  assert_true(ps.exited && ps.code == 0);
  t0 = t_now_ns();
  t1 = wait_empty(r, 2000);
  assert_true(t1 > 0);
  printf("hostile guest streams: the guest died with %u streams open; the "
         "host freed them %.1f ms after its exit\n",
         MAX_STREAMS, t_ms(t1 - t0));
  assert_true(t1 - t0 < 1000 * MS);
  shmipc_reassembler_stats(r, &st);
  peak = vm_kib("VmHWM:");
  printf("hostile guest streams: receiver peak %llu MiB (max_total %llu "
         "MiB); host resident memory peak %ld KiB above the %ld KiB before "
         "the fake guest\n",
         (unsigned long long)(st.peak_held >> 20),
         (unsigned long long)(MAX_TOTAL >> 20), peak - base, base);
  assert_true(st.peak_held <= MAX_TOTAL);
  /* the documented bound, plus the segment's mapped request buffer */
  assert_true((uint64_t)(peak - base) * 1024 <=
              MAX_TOTAL + MAX_TOTAL / 10 + (64 << 10) * (MAX_STREAMS + 16) +
                  2 * REQ_CAP);
  (void)shmipc_host_listen_stop(h);
  shmipc_host_destroy(h);
  shmipc_reassembler_destroy(r);
  proc_reap(&child);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hostile_streams),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
