/* SPDX-License-Identifier: MIT */
/*
 * Stress: T host threads make calls with random sizes and types (some of
 * them guest calls that come back through the host's listener) for a
 * while, and the guest process is killed with SIGKILL and restarted at
 * random moments. Every call must either return its own correct answer or
 * an error code: a wrong answer is a loss, and so is a call that overruns
 * its timeout by more than the slack. Prints the totals; exit 1 on any loss.
 *
 * Usage: shmipc-stress GUEST [SECONDS] [THREADS]
 * The default run (suite 'stress', excluded from the default test setup)
 * lasts minutes; CI runs a 10-second form in the 'interop' suite.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "proc.h"
#include "sha256.h"
#include "strict.h"

#define MS INT64_C(1000000)
#define CAP 2048u
#define CALL_TIMEOUT (500 * MS)
#define SLACK (500 * MS)

static shmipc_host *host;
static const char *guest_path;
static char name[64];
static int stop_flag; /* atomic */

#define NERR 19 /* error codes 0 .. -18 */
#define STREAM_TIMEOUT (2000 * MS)
#define STREAM_MAX (2u << 20)

struct counts {
  uint64_t ok, wrong, overrun, guest_calls;
  uint64_t streams, stream_bytes, unverified;
  uint64_t err[NERR];
};

static uint64_t rng(uint64_t *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* Child processes through tests/common/proc.h (on Linux the
 * guest dies with this process). */
static int spawn_guest(struct proc *p)
{
  const char *argv[] = {guest_path,    "-name", name,
                        "-timeout-ms", "10000", NULL};

  return proc_spawn(p, argv, 0);
}

/* The host's listener answers guest calls with the bytes reversed. */
static int reverse(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type)
{
  size_t i;

  (void)user;
  (void)type;
  if (req_len > resp_cap)
    return -1;
  for (i = 0; i < req_len; i++)
    ((uint8_t *)resp)[i] = ((const uint8_t *)req)[req_len - 1 - i];
  *resp_len = req_len;
  *resp_type = SHMIPC_MSG_APP_START + 9;
  return 0;
}

static void *worker(void *arg)
{
  struct counts *c = arg;
  uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull | 1;
  uint8_t req[CAP], resp[CAP], want[CAP];

  while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
    size_t len = (size_t)(rng(&x) % (CAP + 1)), n = 0, k;
    int guest_call = rng(&x) % 8 == 0;
    uint32_t type = guest_call ? 202 : 1000 + (uint32_t)(rng(&x) % 1000), t = 0;
    int64_t t0 = t_now_ns(), dt;
    int r;

    for (k = 0; k < len; k++)
      req[k] = (uint8_t)rng(&x);
    for (k = 0; k < len; k++)
      want[k] = guest_call ? req[len - 1 - k] : req[k];
    r = shmipc_host_call(host, type, req, len, resp, sizeof resp, &n, &t,
                         CALL_TIMEOUT);
    dt = t_now_ns() - t0;
    if (dt > CALL_TIMEOUT + SLACK)
      c->overrun++;
    if (r == SHMIPC_OK) {
      if (n != len || t != type || memcmp(resp, want, len) != 0)
        c->wrong++;
      else
        c->ok++;
      c->guest_calls += (uint64_t)guest_call;
    } else if (r < 0 && r > -NERR) {
      c->err[-r]++;
    } else {
      c->wrong++;
    }
  }
  return NULL;
}

/* Streams of random sizes beside the calls; each one that succeeds must
 * have been delivered once with the sender's digest (echo type 204). A
 * guest killed in between makes the query fail: counted as unverified. */
static void *stream_worker(void *arg)
{
  struct counts *c = arg;
  uint64_t x = 0x5DEECE66Dull | 1;
  uint8_t *data = malloc(STREAM_MAX), sha[32], q[8], resp[48];
  shmipc_stream_sender *snd;
  int i;

  if (data == NULL || shmipc_stream_sender_create(host, NULL, &snd) != 0) {
    fprintf(stderr, "stream worker: no sender\n");
    c->wrong++;
    free(data);
    return NULL;
  }
  while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
    shmipc_stream_result res = {.struct_size = sizeof res};
    size_t len = (size_t)(rng(&x) % STREAM_MAX), n = 0, k;
    struct sha256 h;
    uint32_t t = 0;
    int64_t t0 = t_now_ns(), dt;
    int r;

    for (k = 0; k < len; k++)
      data[k] = (uint8_t)rng(&x);
    r = shmipc_stream_send(snd, 300, data, len, STREAM_TIMEOUT, &res);
    dt = t_now_ns() - t0;
    /* a failed send may add one best-effort abort of 100 ms */
    if (dt > STREAM_TIMEOUT + SLACK + 100 * MS)
      c->overrun++;
    if (r < 0 && r > -NERR)
      c->err[-r]++;
    if (r == SHMIPC_E_REFUSED && res.reason != SHMIPC_STREAM_UNKNOWN) {
      /* only a new guest (which never saw the start) may refuse a
       * well-formed stream; anything else is a bug */
      fprintf(stderr, "stream refused: %s at chunk %llu of %llu\n",
              shmipc_stream_reason_name(res.reason),
              (unsigned long long)res.failed_chunk,
              (unsigned long long)res.chunks);
      c->wrong++;
    }
    if (r != SHMIPC_OK)
      continue;
    c->streams++;
    c->stream_bytes += len;
    for (i = 0; i < 8; i++)
      q[i] = (uint8_t)(res.stream_id >> (8 * i));
    if (shmipc_host_call(host, 204, q, 8, resp, sizeof resp, &n, &t,
                         CALL_TIMEOUT) != SHMIPC_OK ||
        n != 48) {
      c->unverified++;
      continue;
    }
    sha256_init(&h);
    sha256_update(&h, data, len);
    sha256_final(&h, sha);
    /* deliveries == 1, length and digest equal */
    if (resp[12] != 1 || resp[13] || resp[14] || resp[15] ||
        memcmp(resp + 16, sha, 32) != 0 ||
        (uint64_t)resp[0] + ((uint64_t)resp[1] << 8) +
                ((uint64_t)resp[2] << 16) + ((uint64_t)resp[3] << 24) !=
            len) {
      /* A new guest knows nothing of the stream: that is unverified, not
       * wrong; a guest that says it delivered it must have it right. */
      if (resp[12] == 0)
        c->unverified++;
      else
        c->wrong++;
    }
  }
  shmipc_stream_sender_destroy(snd);
  free(data);
  return NULL;
}

int main(int argc, char **argv)
{
  shmipc_host_config cfg;
  int threads = 8, i, kills = 0;
  double seconds = 120;
  struct counts *c, total;
  pthread_t th[65];
  int64_t end;
  struct proc guest;
  struct proc_status ps;
  uint64_t x = (uint64_t)proc_self_id() | 1;

  if (argc < 2) {
    fprintf(stderr, "usage: %s GUEST [SECONDS] [THREADS]\n", argv[0]);
    return 2;
  }
  guest_path = argv[1];
  if (argc > 2)
    seconds = atof(argv[2]);
  if (argc > 3)
    threads = atoi(argv[3]);
  if (threads < 1 || threads > 64 || seconds <= 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  if (!proc_executable(guest_path))
    return t_cannot_run("guest binary %s is missing", guest_path);
  snprintf(name, sizeof name, "stress-%u", (unsigned)proc_self_id());
  shmipc_host_config_init(&cfg);
  cfg.name = name;
  cfg.host_slots = (uint32_t)threads;
  cfg.guest_slots = 2;
  cfg.req_capacity = CAP;
  cfg.resp_capacity = CAP;
  if (shmipc_host_create(&cfg, &host) != SHMIPC_OK ||
      shmipc_host_listen_start(host, reverse, NULL) != SHMIPC_OK) {
    fprintf(stderr, "cannot create host %s\n", name);
    return 1;
  }
  if (spawn_guest(&guest) != 0 ||
      shmipc_host_wait_guest(host, 10000 * MS) != SHMIPC_OK) {
    fprintf(stderr, "guest did not attach\n");
    proc_kill(&guest);
    return 1;
  }
  c = calloc((size_t)threads + 1, sizeof *c);
  for (i = 0; i < threads; i++)
    pthread_create(&th[i], NULL, worker, &c[i]);
  pthread_create(&th[threads], NULL, stream_worker, &c[threads]);
  end = t_now_ns() + (int64_t)(seconds * 1e9);
  while (t_now_ns() < end) {
    /* run a while, then kill the guest and start a new one */
    t_sleep_ms(200 + (int)(rng(&x) % 1800));
    proc_kill(&guest);
    (void)proc_wait(&guest, 10000, &ps);
    kills++;
    if (spawn_guest(&guest) != 0 ||
        shmipc_host_wait_guest(host, 10000 * MS) != SHMIPC_OK) {
      fprintf(stderr, "replacement guest did not attach\n");
      break;
    }
  }
  __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
  for (i = 0; i <= threads; i++)
    pthread_join(th[i], NULL);
  shmipc_host_destroy(host);
  if (proc_wait(&guest, 10000, &ps) != 0)
    proc_kill(&guest);

  memset(&total, 0, sizeof total);
  for (i = 0; i <= threads; i++) {
    int k;
    total.streams += c[i].streams;
    total.stream_bytes += c[i].stream_bytes;
    total.unverified += c[i].unverified;
    total.ok += c[i].ok;
    total.wrong += c[i].wrong;
    total.overrun += c[i].overrun;
    total.guest_calls += c[i].guest_calls;
    for (k = 0; k < NERR; k++)
      total.err[k] += c[i].err[k];
  }
  free(c);
  printf("stress: %.0f s, %d threads, %d guest kills\n", seconds, threads,
         kills);
  printf("  ok %llu (of which guest calls %llu), wrong answers %llu, overruns "
         "%llu\n",
         (unsigned long long)total.ok, (unsigned long long)total.guest_calls,
         (unsigned long long)total.wrong, (unsigned long long)total.overrun);
  printf("  streams ok %llu (%.1f MiB; %llu not verifiable after a kill)\n",
         (unsigned long long)total.streams,
         (double)total.stream_bytes / (1024.0 * 1024.0),
         (unsigned long long)total.unverified);
  for (i = 1; i < NERR; i++)
    if (total.err[i])
      printf("  %s: %llu\n", shmipc_strerror(-i),
             (unsigned long long)total.err[i]);
  if (total.ok == 0 || total.streams == 0 || total.wrong != 0 ||
      total.overrun != 0 || kills == 0) {
    printf("stress: FAILED\n");
    return 1;
  }
  printf("stress: passed (every call got its own answer or an error)\n");
  return 0;
}
