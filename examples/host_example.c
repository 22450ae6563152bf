/* SPDX-License-Identifier: MIT */
/*
 * host_example: a minimal libshmipc host, following the README quick start.
 *
 *   host_example NAME [GUEST_PROGRAM]
 *
 * Creates the segment NAME, starts GUEST_PROGRAM as `GUEST_PROGRAM -name
 * NAME` (or, without it, waits for a guest started by hand, e.g.
 * `shmipc-echo -name NAME`), then makes three calls:
 *
 *   1. a copying call (shmipc_host_call),
 *   2. a zero-copy call whose request is built at the end of the slot's
 *      request buffer, as a FlatBuffer builder does (SHMIPC_F_END_ALIGNED),
 *   3. a call with an application-defined message type.
 *
 * Against the echo guest every response equals its request, which this
 * program checks, so it doubles as a smoke test of an installed library.
 *
 * Build:  cc host_example.c $(pkg-config --cflags --libs libshmipc)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include <shmipc/shmipc.h>

extern char **environ;

#define MS (INT64_C(1000000)) /* nanoseconds per millisecond */
#define CALL_TIMEOUT (5000 * MS)
#define GUEST_TIMEOUT (10000 * MS)

/* An application message type: 128 and up are carried untouched. */
#define MSG_GREETING (SHMIPC_MSG_APP_START + 1)

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Start `prog -name NAME`; returns its pid or -1. */
static pid_t spawn_guest(char *prog, char *name)
{
  char *argv[] = {prog, "-name", name, NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, prog, NULL, NULL, argv, environ);

  if (rc != 0) {
    fprintf(stderr, "host_example: cannot start %s: %s\n", prog,
            strerror(rc));
    return -1;
  }
  return pid;
}

/* Wait for the guest to attach, noticing at once if a spawned guest exits
 * before it does (then *guest becomes -1: it has been reaped). */
static int wait_for_guest(shmipc_host *h, pid_t *guest, int64_t timeout_ns)
{
  int64_t waited = 0;
  int rc, status;

  if (*guest < 0)
    return shmipc_host_wait_guest(h, timeout_ns);
  for (;;) {
    rc = shmipc_host_wait_guest(h, 100 * MS);
    if (rc != SHMIPC_E_TIMEOUT)
      return rc;
    if (waitpid(*guest, &status, WNOHANG) == *guest) {
      fprintf(stderr, "host_example: guest exited before attaching "
                      "(status %d)\n", status);
      *guest = -1;
      return SHMIPC_E_PEER_GONE;
    }
    waited += 100 * MS;
    if (waited >= timeout_ns)
      return SHMIPC_E_TIMEOUT;
  }
}

/* Reap the guest, which exits once the host has closed the session. */
static int reap_guest(pid_t guest)
{
  int status, i;

  for (i = 0; i < 100; i++) { /* 5 s */
    pid_t r = waitpid(guest, &status, WNOHANG);
    if (r == guest) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
      fprintf(stderr, "host_example: guest ended with status %d\n", status);
      return -1;
    }
    if (r < 0 && errno != EINTR) {
      perror("host_example: waitpid");
      return -1;
    }
    sleep_ms(50);
  }
  fprintf(stderr, "host_example: guest still running 5 s after the session "
                  "closed; killing it\n");
  kill(guest, SIGKILL);
  waitpid(guest, &status, 0);
  return -1;
}

static int check_echo(const char *what, const void *req, size_t req_len,
                      uint32_t req_type, const void *resp, size_t resp_len,
                      uint32_t resp_type)
{
  if (resp_type != req_type || resp_len != req_len ||
      memcmp(resp, req, req_len) != 0) {
    fprintf(stderr, "host_example: %s: response (type %u, %zu bytes) "
                    "differs from request (type %u, %zu bytes)\n",
            what, (unsigned)resp_type, resp_len, (unsigned)req_type,
            req_len);
    return -1;
  }
  printf("%s: %zu bytes echoed, type %u\n", what, resp_len,
         (unsigned)resp_type);
  return 0;
}

/* 1. Copying call: the library copies the request in and the response out. */
static int copying_call(shmipc_host *h)
{
  static const char req[] = "hello, guest";
  char resp[64];
  size_t resp_len = 0;
  uint32_t resp_type = 0;
  int rc = shmipc_host_call(h, SHMIPC_MSG_NORMAL, req, sizeof req, resp,
                            sizeof resp, &resp_len, &resp_type, CALL_TIMEOUT);

  if (rc != SHMIPC_OK) {
    fprintf(stderr, "host_example: shmipc_host_call: %s\n",
            shmipc_strerror(rc));
    return -1;
  }
  return check_echo("copying call", req, sizeof req, SHMIPC_MSG_NORMAL, resp,
                    resp_len, resp_type);
}

/* 2. Zero-copy call: build the request in place, at the END of the slot's
 *    request buffer, as a FlatBuffer builder does, and read the response in
 *    place. */
static int zero_copy_call(shmipc_host *h)
{
  static const char payload[] = "built back to front, sent in place";
  shmipc_slot *s;
  unsigned char *buf;
  size_t cap, len = sizeof payload;
  int rc, ret;

  rc = shmipc_slot_acquire(h, CALL_TIMEOUT, &s);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "host_example: shmipc_slot_acquire: %s\n",
            shmipc_strerror(rc));
    return -1;
  }
  buf = shmipc_slot_req_buf(s);
  cap = shmipc_slot_req_capacity(s);
  if (len > cap) {
    fprintf(stderr, "host_example: request buffer too small (%zu)\n", cap);
    shmipc_slot_release(s);
    return -1;
  }
  memcpy(buf + cap - len, payload, len); /* the last len bytes */

  rc = shmipc_slot_send(s, SHMIPC_MSG_NORMAL, len, SHMIPC_F_END_ALIGNED,
                        CALL_TIMEOUT);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "host_example: shmipc_slot_send: %s\n",
            shmipc_strerror(rc));
    shmipc_slot_release(s);
    return -1;
  }
  /* The response lives in the slot until it is released. */
  ret = check_echo("zero-copy end-aligned call", payload, len,
                   SHMIPC_MSG_NORMAL, shmipc_slot_resp_data(s),
                   shmipc_slot_resp_size(s), shmipc_slot_resp_type(s));
  shmipc_slot_release(s);
  return ret;
}

/* 3. Application message type: carried untouched in both directions. */
static int app_type_call(shmipc_host *h)
{
  static const char req[] = "a message of the application's own type";
  char resp[128];
  size_t resp_len = 0;
  uint32_t resp_type = 0;
  int rc = shmipc_host_call(h, MSG_GREETING, req, sizeof req, resp,
                            sizeof resp, &resp_len, &resp_type, CALL_TIMEOUT);

  if (rc != SHMIPC_OK) {
    fprintf(stderr, "host_example: shmipc_host_call (type %u): %s\n",
            (unsigned)MSG_GREETING, shmipc_strerror(rc));
    return -1;
  }
  return check_echo("application type", req, sizeof req, MSG_GREETING, resp,
                    resp_len, resp_type);
}

int main(int argc, char **argv)
{
  shmipc_host_config cfg;
  shmipc_host *h = NULL;
  pid_t guest = -1;
  int rc, failed = 0;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s NAME [GUEST_PROGRAM]\n", argv[0]);
    return 2;
  }

  shmipc_host_config_init(&cfg);
  cfg.name = argv[1];
  cfg.host_slots = 2;
  cfg.req_capacity = 4096;
  cfg.resp_capacity = 4096;
  rc = shmipc_host_create(&cfg, &h);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "host_example: shmipc_host_create(\"%s\"): %s\n",
            argv[1], shmipc_strerror(rc));
    return 1;
  }

  if (argc == 3) {
    guest = spawn_guest(argv[2], argv[1]);
    if (guest < 0) {
      shmipc_host_destroy(h);
      return 1;
    }
  } else {
    printf("waiting for a guest on \"%s\"...\n", argv[1]);
    fflush(stdout);
  }

  rc = wait_for_guest(h, &guest, GUEST_TIMEOUT);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "host_example: waiting for the guest: %s\n",
            shmipc_strerror(rc));
    failed = 1;
  } else {
    failed |= copying_call(h) != 0;
    failed |= zero_copy_call(h) != 0;
    failed |= app_type_call(h) != 0;
  }

  /* Closing the session tells the guest to exit. */
  shmipc_host_destroy(h);
  if (guest > 0 && reap_guest(guest) != 0)
    failed = 1;

  if (failed) {
    fprintf(stderr, "host_example: FAILED\n");
    return 1;
  }
  printf("host_example: ok\n");
  return 0;
}
