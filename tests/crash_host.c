/* SPDX-License-Identifier: MIT */
/*
 * crash_host: a C host that test_liveness_kill.c and test_names.c kill on
 * purpose.
 *
 *   crash_host -name NAME [-mode OCTAL] [-calls N] [-busy] [-no-guest]
 *              [-life-ms MS]
 *
 * It creates host NAME (mode 0600 unless -mode), prints "created PID",
 * waits up to 10 s for a guest and prints "attached" (skipped with
 * -no-guest), makes N echo calls with a content check on every response
 * and prints "calls ok N", with -busy starts two threads that keep making
 * echo calls until the process dies and prints "busy", then prints
 * "blocking" and blocks until it is killed. Every line is flushed at once:
 * the test reads them through a pipe.
 *
 * Exit status: -code when shmipc_host_create() fails (4 for
 * SHMIPC_E_EXISTS), with the error on stderr; 3 on a wrong response or a
 * failed call; 2 on bad usage. After -life-ms (default 60000) it exits 0 on
 * its own, so that a crashed test never leaves it behind.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmipc/shmipc.h>

#define MS INT64_C(1000000)
#define CAP 4096u

static shmipc_host *host;

static uint64_t rng_next(uint64_t *x)
{
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* One echo call with a content check; 0 when the answer is right. */
static int echo_call(uint64_t *x, const char **what)
{
  static _Thread_local uint8_t req[CAP], resp[CAP];
  size_t len = 8 + (size_t)(rng_next(x) % (CAP - 8)), n = 0, k;
  uint32_t type = 1000 + (uint32_t)(rng_next(x) % 1000), t = 0;
  int r;

  for (k = 0; k < len; k++)
    req[k] = (uint8_t)rng_next(x);
  r = shmipc_host_call(host, type, req, len, resp, sizeof resp, &n, &t,
                       5000 * MS);
  if (r != SHMIPC_OK) {
    *what = shmipc_strerror(r);
    return -1;
  }
  if (n != len || t != type || memcmp(req, resp, len) != 0) {
    *what = "wrong response";
    return -1;
  }
  return 0;
}

static void *busy_main(void *arg)
{
  uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)arg;
  const char *what = "";

  for (;;) {
    if (echo_call(&x, &what) != 0) {
      fprintf(stderr, "crash_host: busy call: %s\n", what);
      _exit(3);
    }
  }
  return NULL;
}

static void usage(void)
{
  fprintf(stderr, "usage: crash_host -name NAME [-mode OCTAL] [-calls N] "
                  "[-busy] [-no-guest] [-life-ms MS]\n");
  exit(2);
}

int main(int argc, char **argv)
{
  shmipc_host_config cfg;
  const char *name = NULL, *what = "";
  long calls = 0, life_ms = 60000, i;
  int busy = 0, no_guest = 0, r;
  uint32_t mode = 0600;
  uint64_t x = 88172645463325252ull;
  struct timespec ts;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-name") == 0 && i + 1 < argc)
      name = argv[++i];
    else if (strcmp(argv[i], "-mode") == 0 && i + 1 < argc)
      mode = (uint32_t)strtoul(argv[++i], NULL, 8);
    else if (strcmp(argv[i], "-calls") == 0 && i + 1 < argc)
      calls = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "-life-ms") == 0 && i + 1 < argc)
      life_ms = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "-busy") == 0)
      busy = 1;
    else if (strcmp(argv[i], "-no-guest") == 0)
      no_guest = 1;
    else
      usage();
  }
  if (name == NULL || calls < 0 || life_ms <= 0)
    usage();

  shmipc_host_config_init(&cfg);
  cfg.name = name;
  cfg.mode = mode;
  cfg.host_slots = 4;
  cfg.req_capacity = CAP;
  cfg.resp_capacity = CAP;
  r = shmipc_host_create(&cfg, &host);
  if (r != SHMIPC_OK) {
    fprintf(stderr, "crash_host: create %s: %s\n", name, shmipc_strerror(r));
    return -r;
  }
  printf("created %ld\n", (long)getpid());
  fflush(stdout);
  if (!no_guest) {
    r = shmipc_host_wait_guest(host, 10000 * MS);
    if (r != SHMIPC_OK) {
      fprintf(stderr, "crash_host: wait for a guest: %s\n", shmipc_strerror(r));
      return 3;
    }
    printf("attached\n");
    fflush(stdout);
  }
  for (i = 0; i < calls; i++) {
    if (echo_call(&x, &what) != 0) {
      fprintf(stderr, "crash_host: call %ld: %s\n", i, what);
      return 3;
    }
  }
  if (calls > 0) {
    printf("calls ok %ld\n", calls);
    fflush(stdout);
  }
  if (busy) {
    pthread_t th;
    for (i = 1; i <= 2; i++)
      if (pthread_create(&th, NULL, busy_main, (void *)(uintptr_t)i) != 0) {
        fprintf(stderr, "crash_host: pthread_create failed\n");
        return 3;
      }
    printf("busy\n");
    fflush(stdout);
  }
  printf("blocking\n");
  fflush(stdout);
  /* Wait to be killed; give up after life_ms so nothing lingers. The host
   * is deliberately not destroyed: leaving is the crash this stands for. */
  ts.tv_sec = life_ms / 1000;
  ts.tv_nsec = (life_ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0)
    ;
  return 0;
}
