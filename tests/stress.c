/* SPDX-License-Identifier: MIT */
/*
 * Stress: T host threads make calls with random sizes and types (some of
 * them guest calls that come back through the host's listener) for a
 * while, beside one thread of host-to-guest streams, one of large answers
 * (tests/ECHO_GUEST.md, type 220: whole, chunk by chunk, or abandoned
 * half-read) and one of guest-to-host streams (type 224, into the host's
 * receiver), and the guest process is killed with SIGKILL and restarted
 * at random moments. Every call must either return its own correct answer
 * (a large answer checked byte for byte against its pattern, a guest
 * stream by the SHA-256 of both ends) or an error code: a wrong answer is
 * a loss, and so is a call that overruns its timeout by more than the
 * slack. At the end the host's receiver holds nothing and the host's heap
 * (glibc: every arena and every mapped chunk, so one leaked answer of a
 * killed guest or an abandoned transfer shows) is back to its level before
 * the workers started. Prints the totals and the peak memory; exit 1 on any
 * loss.
 *
 * Usage: shmipc-stress GUEST [SECONDS] [THREADS]
 * The default run (suite 'stress', excluded from the default test setup)
 * lasts minutes; CI runs a 10-second form in the 'interop' suite.
 */
#define _GNU_SOURCE
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "pattern.h"
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

#define ANSWER_MAX (1u << 20)
#define ANSWER_TIMEOUT (3000 * MS)
#define GSTREAM_MAX (1u << 20)
#define GSTREAM_TIMEOUT_MS 2000u
/* The large-answer and guest-stream workers pause between transfers so
 * that the calls and host streams keep most of the machine. (Under Wine
 * the C guest sends its 2 KiB chunks at about 1 MiB/s: a few guest streams
 * make it between kills.) */
#define BIG_PAUSE_MS 20

struct counts {
  uint64_t ok, wrong, overrun, guest_calls;
  uint64_t streams, stream_bytes, unverified;
  uint64_t answers, answer_bytes, abandoned;
  uint64_t gstreams, gstream_bytes;
  uint64_t err[NERR];
};

/* Count a call's end: a legal error code, or a loss. */
static void count_err(struct counts *c, int r)
{
  if (r < 0 && r > -NERR)
    c->err[-r]++;
  else
    c->wrong++;
}

static shmipc_reassembler *receiver;

/* The guest streams the host's receiver delivered: the last 64 ids. */
static struct {
  pthread_mutex_t mu;
  uint64_t id[64], len[64];
  unsigned char sha[64][32];
  unsigned next;
} delivered = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int on_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  struct sha256 h;
  unsigned k;

  (void)user;
  (void)app_type;
  pthread_mutex_lock(&delivered.mu);
  k = delivered.next++ % 64;
  delivered.id[k] = id;
  delivered.len[k] = len;
  sha256_init(&h);
  sha256_update(&h, data, len);
  sha256_final(&h, delivered.sha[k]);
  pthread_mutex_unlock(&delivered.mu);
  return 0;
}

static void put64(uint8_t *p, uint64_t v)
{
  int i;

  for (i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
  uint64_t v = 0;
  int i;

  for (i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

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
    } else {
      count_err(c, r);
    }
  }
  return NULL;
}

/* A chunked large answer, compared piece by piece with what it must be;
 * @stop_at non-zero abandons it there (the callback returns 1). */
struct pieces {
  const uint8_t *want;
  uint64_t len, seen, stop_at;
  int bad, remote;
};

static int on_piece(void *user, uint32_t type, uint64_t total, uint64_t offset,
                    const void *data, size_t len)
{
  struct pieces *p = user;

  /* a guest's failure comes as one piece, its reason (REMOTE) */
  if (type == SHMIPC_MSG_SYSTEM_ERROR && offset == 0 && total == len &&
      p->seen == 0) {
    p->remote = 1;
    return 0;
  }
  if (type != 220 || total != p->len || offset != p->seen ||
      len > total - offset || (len > 0 && memcmp(data, p->want + offset, len)))
    p->bad = 1;
  p->seen += len;
  return p->bad || (p->stop_at != 0 && p->seen >= p->stop_at);
}

/* Large answers of random sizes (most beyond the slot) and seeds: in an
 * allocated buffer, chunk by chunk, or abandoned half-read. */
static void *answer_worker(void *arg)
{
  struct counts *c = arg;
  uint64_t x = 0x2545F4914F6CDD1Dull | 1;
  uint8_t *want = malloc(ANSWER_MAX), req[16];

  if (want == NULL) {
    c->wrong++;
    return NULL;
  }
  for (; !__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE);
       t_sleep_ms(BIG_PAUSE_MS)) {
    uint64_t len = rng(&x) % ANSWER_MAX, seed = rng(&x);
    int mode = (int)(rng(&x) % 3), r;
    int64_t t0 = t_now_ns();
    struct pieces p = {want, len, 0, 0, 0, 0};

    pattern_fill(want, (size_t)len, seed);
    put64(req, len);
    put64(req + 8, seed);
    if (mode == 0) {
      void *buf = NULL;
      size_t n = 0;
      uint32_t t = 0;
      r = shmipc_host_call_alloc(host, 220, req, 16, &buf, &n, &t,
                                 ANSWER_TIMEOUT);
      if (r == SHMIPC_OK &&
          (n != len || t != 220 || (len > 0 && memcmp(buf, want, (size_t)len))))
        p.bad = 1;
      /* a failed call hands out no buffer but the guest's reason */
      if (r != SHMIPC_OK && r != SHMIPC_E_REMOTE && buf != NULL)
        p.bad = 1;
      shmipc_answer_free(buf);
    } else {
      if (mode == 2 && len > 1)
        p.stop_at = 1 + rng(&x) % (len - 1);
      r = shmipc_host_call_chunks(host, 220, req, 16, on_piece, &p,
                                  ANSWER_TIMEOUT);
      if (r == SHMIPC_OK && (p.stop_at != 0 || p.seen != len || p.remote))
        p.bad = 1;
      if (p.remote && r != SHMIPC_E_REMOTE)
        p.bad = 1;
      if (r == SHMIPC_E_REFUSED && p.stop_at != 0 && !p.bad) {
        c->abandoned++;
        continue;
      }
    }
    if (t_now_ns() - t0 > ANSWER_TIMEOUT + SLACK)
      c->overrun++;
    if (p.bad) {
      fprintf(stderr,
              "large answer of %llu bytes (mode %d) is wrong: %s, %llu "
              "bytes seen, stop at %llu\n",
              (unsigned long long)len, mode, shmipc_strerror(r),
              (unsigned long long)p.seen, (unsigned long long)p.stop_at);
      c->wrong++;
    } else if (r == SHMIPC_OK) {
      c->answers++;
      c->answer_bytes += len;
    } else {
      count_err(c, r);
    }
  }
  free(want);
  return NULL;
}

/* Guest-to-host streams of random sizes (type 224): each one the guest
 * says it sent must have been delivered by the host's receiver with the
 * guest's SHA-256. */
static void *gstream_worker(void *arg)
{
  struct counts *c = arg;
  uint64_t x = 0x9E3779B97F4A7C15ull | 1;

  for (; !__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE);
       t_sleep_ms(BIG_PAUSE_MS)) {
    uint8_t req[32] = {0}, resp[128];
    uint64_t len = rng(&x) % GSTREAM_MAX, id;
    int64_t t0 = t_now_ns(), limit = (GSTREAM_TIMEOUT_MS + 2000) * MS;
    size_t n = 0;
    uint32_t t = 0;
    int r, code, k, found = 0;

    put64(req, len);
    put64(req + 8, rng(&x));
    put64(req + 16, 301 | (uint64_t)GSTREAM_TIMEOUT_MS << 32);
    r = shmipc_host_call(host, 224, req, sizeof req, resp, sizeof resp, &n, &t,
                         limit);
    if (t_now_ns() - t0 > limit + SLACK)
      c->overrun++;
    if (r != SHMIPC_OK) {
      count_err(c, r);
      continue;
    }
    if (n != 72 || t != 224) {
      c->wrong++;
      continue;
    }
    code = (int)(int32_t)(uint32_t)get64(resp);
    if (code != SHMIPC_OK) {
      /* the guest's sender ended with a code of its own */
      count_err(c, code);
      continue;
    }
    id = get64(resp + 8);
    pthread_mutex_lock(&delivered.mu);
    /* ids start again with each guest: the newest delivery of the id */
    for (k = 1; k <= 64 && found == 0; k++) {
      unsigned e = (delivered.next - (unsigned)k) % 64;
      if (delivered.id[e] == id && id != 0)
        found = delivered.len[e] == len &&
                        memcmp(delivered.sha[e], resp + 32, 32) == 0
                    ? 1
                    : -1;
    }
    pthread_mutex_unlock(&delivered.mu);
    if (found != 1) {
      fprintf(stderr, "guest stream %llu of %llu bytes: %s\n",
              (unsigned long long)id, (unsigned long long)len,
              found == 0 ? "not delivered" : "delivered wrong");
      c->wrong++;
      continue;
    }
    c->gstreams++;
    c->gstream_bytes += len;
  }
  return NULL;
}

/* Bytes the heap hands out (glibc), -1 where that is not known. */
static long long heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  struct mallinfo2 m = mallinfo2();

  return (long long)(m.uordblks + m.hblkhd);
#else
  return -1;
#endif
}

/* A line of /proc/self/status in KiB ("VmHWM", "VmRSS"); -1 where there
 * is none (Windows). */
static long status_kib(const char *key)
{
  char line[256];
  long v = -1;
  FILE *f = fopen("/proc/self/status", "r");

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
      v = strtol(line + strlen(key) + 1, NULL, 10);
  fclose(f);
  return v;
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
    if (r != SHMIPC_OK)
      count_err(c, r);
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
  shmipc_stream_limits lim;
  shmipc_stream_stats rst = SHMIPC_STREAM_STATS_INIT;
  int threads = 8, i, kills = 0, extra = 3, leak = 0;
  double seconds = 120;
  struct counts *c, total;
  pthread_t th[64 + 3];
  long rss0 = -1, rss1, hwm;
  long long heap0 = -1, heap1;
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
  shmipc_stream_limits_init(&lim);
  if (shmipc_host_create(&cfg, &host) != SHMIPC_OK ||
      shmipc_reassembler_create(&lim, on_stream, NULL, reverse, NULL,
                                &receiver) != SHMIPC_OK ||
      shmipc_host_stream_receiver(host, receiver) != SHMIPC_OK ||
      shmipc_host_listen_start(host, shmipc_reassembler_handle, receiver) !=
          SHMIPC_OK) {
    fprintf(stderr, "cannot create host %s\n", name);
    return 1;
  }
  if (spawn_guest(&guest) != 0 ||
      shmipc_host_wait_guest(host, 10000 * MS) != SHMIPC_OK) {
    fprintf(stderr, "guest did not attach\n");
    proc_kill(&guest);
    return 1;
  }
  c = calloc((size_t)(threads + extra), sizeof *c);
  heap0 = heap_in_use();
  for (i = 0; i < threads; i++)
    pthread_create(&th[i], NULL, worker, &c[i]);
  pthread_create(&th[threads], NULL, stream_worker, &c[threads]);
  pthread_create(&th[threads + 1], NULL, answer_worker, &c[threads + 1]);
  pthread_create(&th[threads + 2], NULL, gstream_worker, &c[threads + 2]);
  end = t_now_ns() + (int64_t)(seconds * 1e9);
  while (t_now_ns() < end) {
    /* run a while, then kill the guest and start a new one */
    t_sleep_ms(200 + (int)(rng(&x) % 1800));
    /* the baseline: every worker's buffers made, a first round run */
    if (rss0 < 0)
      rss0 = status_kib("VmRSS");
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
  for (i = 0; i < threads + extra; i++)
    pthread_join(th[i], NULL);
  /* Nothing in flight: the receiver holds no stream (a killed guest's
   * half-sent ones were dropped), and the memory is back. The host's
   * workers are done, but what the guest sends may not be: a stream whose
   * call failed (a kill, a timeout) ends within the sender's timeout and
   * its ABORT, and a killed or replaced guest's streams are dropped at the
   * listener's next round (a liveness interval). Both are well inside the
   * receiver's idle expiry (10 s), which this wait stays below, so a stream
   * left to expiry still counts as held. */
  {
    int64_t t_settle = t_now_ns(),
            wait = (int64_t)(GSTREAM_TIMEOUT_MS + 1000) * MS * t_time_scale(),
            settle = t_settle + (wait < 8000 * MS ? wait : 8000 * MS);
    for (;;) {
      shmipc_reassembler_stats(receiver, &rst);
      if ((rst.open == 0 && rst.held == 0) || t_now_ns() >= settle)
        break;
      t_sleep_ms(10);
    }
    if (t_now_ns() - t_settle > 100 * MS)
      printf("  the receiver emptied %.0f ms after the workers ended\n",
             t_ms(t_now_ns() - t_settle));
  }
  rss1 = status_kib("VmRSS");
  heap1 = heap_in_use();
  hwm = status_kib("VmHWM");
  if (rst.open != 0 || rst.held != 0) {
    fprintf(stderr, "receiver still holds %u streams, %llu bytes\n", rst.open,
            (unsigned long long)rst.held);
    leak = 1;
  }
  /* The workers freed their buffers: 64 KiB of slack for the library's
   * own bookkeeping (one cut answer is up to 1 MiB). */
  if (heap0 >= 0 && heap1 - heap0 > 64 * 1024) {
    fprintf(stderr,
            "heap: %lld bytes in use before the workers, %lld at "
            "the end\n",
            heap0, heap1);
    leak = 1;
  }
  shmipc_host_listen_stop(host);
  shmipc_host_destroy(host);
  shmipc_reassembler_destroy(receiver);
  if (proc_wait(&guest, 10000, &ps) != 0)
    proc_kill(&guest);

  memset(&total, 0, sizeof total);
  for (i = 0; i < threads + extra; i++) {
    int k;
    total.answers += c[i].answers;
    total.answer_bytes += c[i].answer_bytes;
    total.abandoned += c[i].abandoned;
    total.gstreams += c[i].gstreams;
    total.gstream_bytes += c[i].gstream_bytes;
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
  printf("  large answers ok %llu (%.1f MiB), abandoned half-read %llu\n",
         (unsigned long long)total.answers,
         (double)total.answer_bytes / (1024.0 * 1024.0),
         (unsigned long long)total.abandoned);
  printf("  guest streams ok %llu (%.1f MiB)\n",
         (unsigned long long)total.gstreams,
         (double)total.gstream_bytes / (1024.0 * 1024.0));
  printf("  memory: heap in use %lld KiB before the workers, %lld KiB at the "
         "end; VmRSS %ld KiB after the first round, %ld KiB at the end, peak "
         "VmHWM %ld KiB; receiver: %u open, "
         "%llu bytes held, peak %llu\n",
         heap0 < 0 ? -1 : heap0 >> 10, heap1 < 0 ? -1 : heap1 >> 10, rss0, rss1,
         hwm, rst.open, (unsigned long long)rst.held,
         (unsigned long long)rst.peak_held);
  for (i = 1; i < NERR; i++)
    if (total.err[i])
      printf("  %s: %llu\n", shmipc_strerror(-i),
             (unsigned long long)total.err[i]);
  if (total.ok == 0 || total.streams == 0 || total.answers == 0 ||
      total.abandoned == 0 || total.gstreams == 0 || total.wrong != 0 ||
      total.overrun != 0 || kills == 0 || leak) {
    printf("stress: FAILED\n");
    return 1;
  }
  printf("stress: passed (every call got its own answer or an error)\n");
  return 0;
}
