/* SPDX-License-Identifier: MIT */
/*
 * host_example: a libshmipc host, the README's C quick start as a program.
 *
 *   host_example [NAME [GUEST_PROGRAM]]
 *
 * Starts GUEST_PROGRAM as `GUEST_PROGRAM -name NAME` if given (or waits for
 * a guest started by hand, e.g. `guest_example -name NAME`), creates the
 * segment NAME (default "MyIPC"), serves the guest's calls from a listener
 * thread, and makes these calls:
 *
 *   1. a copying call (shmipc_host_call),
 *   2. a zero-copy call whose request is built at the end of the slot's
 *      request buffer, as a FlatBuffer builder does (SHMIPC_F_END_ALIGNED),
 *   3. a call with an application-defined message type,
 *   4. two lookups (type MSG_LOOKUP) that the example guests answer, one
 *      with a value and one with an error reason (SHMIPC_E_REMOTE).
 *
 * The calls of 1-3 must come back as they went (every example guest and
 * both echo guests echo them), which this program checks; the lookups are
 * printed as answered. It exits 0 and prints "host_example: ok" when every
 * check passed.
 *
 * Build:  cc host_example.c $(pkg-config --cflags --libs libshmipc)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include <shmipc/shmipc.h>

extern char **environ;

/* An application message type: 128 and up are carried untouched. */
#define MSG_GREETING (SHMIPC_MSG_APP_START + 1)
/* A key to look up; the example guests answer it or fail with a reason. */
#define MSG_LOOKUP (SHMIPC_MSG_APP_START + 2)

static int failures; /* checks that failed */

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
    fprintf(stderr, "host_example: cannot start %s: %s\n", prog, strerror(rc));
    return -1;
  }
  return pid;
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

static void check_echo(const char *what, const void *req, size_t req_len,
                       uint32_t req_type, const void *resp, size_t resp_len,
                       uint32_t resp_type)
{
  if (resp_type != req_type || resp_len != req_len ||
      memcmp(resp, req, req_len) != 0) {
    fprintf(stderr,
            "host_example: %s: response (type %u, %zu bytes) "
            "differs from request (type %u, %zu bytes)\n",
            what, (unsigned)resp_type, resp_len, (unsigned)req_type, req_len);
    failures++;
    return;
  }
  printf("%s: %zu bytes echoed, type %u\n", what, resp_len,
         (unsigned)resp_type);
}

/* README:c-guest-handler begin */
static int on_guest_call(void *user, uint32_t type, const void *req,
                         size_t req_len, void *resp, size_t resp_cap,
                         size_t *resp_len, uint32_t *resp_type)
{
  (void)user;
  if (req_len > resp_cap)
    return -1; /* answered as SHMIPC_MSG_SYSTEM_ERROR */
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}
/* README:c-guest-handler end */

/* What the zero-copy call sends; build_back_to_front() stands in for a
 * FlatBuffer builder, which fills its buffer from the end. */
static const char zero_copy_payload[] = "built back to front, sent in place";

static size_t build_back_to_front(uint8_t *buf, size_t cap)
{
  size_t len = sizeof zero_copy_payload;

  if (len > cap)
    return 0;
  memcpy(buf + cap - len, zero_copy_payload, len); /* the last len bytes */
  return len;
}

/* The response lives in the slot until the slot is released. */
static void use(const void *data, size_t len, uint32_t type)
{
  check_echo("zero-copy end-aligned call", zero_copy_payload,
             sizeof zero_copy_payload, SHMIPC_MSG_APP_START + 1, data, len,
             type);
}

/* 2. Zero-copy call: build the request in place, at the END of the slot's
 *    request buffer, and read the response in place. */
static int zero_copy_call(shmipc_host *host)
{
  /* README:c-zero-copy begin */
  shmipc_slot *slot;
  int rc = shmipc_slot_acquire(host, SHMIPC_TIMEOUT_DEFAULT, &slot);
  if (rc != SHMIPC_OK)
    return rc; /* no slot: slot is NULL, nothing to release */
  uint8_t *buf = shmipc_slot_req_buf(slot);
  size_t cap = shmipc_slot_req_capacity(slot);

  /* e.g. flatbuffers::FlatBufferBuilder over [buf, buf + cap) */
  size_t len = build_back_to_front(buf, cap); /* bytes at buf + cap - len */

  rc = shmipc_slot_send(slot, SHMIPC_MSG_APP_START + 1, len,
                        SHMIPC_F_END_ALIGNED, SHMIPC_TIMEOUT_DEFAULT);
  if (rc == SHMIPC_OK)
    use(shmipc_slot_resp_data(slot), shmipc_slot_resp_size(slot),
        shmipc_slot_resp_type(slot)); /* valid until release */
  shmipc_slot_release(slot);
  /* README:c-zero-copy end */
  return rc;
}

/* 3. Application message type: carried untouched in both directions. */
static int app_type_call(shmipc_host *host)
{
  static const char req[] = "a message of the application's own type";
  char resp[128];
  size_t resp_len = 0;
  uint32_t resp_type = 0;
  int rc =
      shmipc_host_call(host, MSG_GREETING, req, sizeof req, resp, sizeof resp,
                       &resp_len, &resp_type, SHMIPC_TIMEOUT_DEFAULT);

  if (rc == SHMIPC_OK)
    check_echo("application type", req, sizeof req, MSG_GREETING, resp,
               resp_len, resp_type);
  return rc;
}

/* 4. A lookup the guest may refuse with a reason of its own. */
static int lookup(shmipc_host *host, const char *key)
{
  char resp[256];
  size_t n;
  uint32_t type;

  /* README:c-remote begin */
  int rc = shmipc_host_call(host, MSG_LOOKUP, key, strlen(key), resp,
                            sizeof resp, &n, &type, SHMIPC_TIMEOUT_DEFAULT);
  if (rc == SHMIPC_OK)
    printf("lookup %s: %.*s\n", key, (int)n, resp);
  else if (rc == SHMIPC_E_REMOTE && n <= sizeof resp) /* n > sizeof resp: */
    printf("lookup %s refused: %.*s\n", key, (int)n, resp); /* not copied */
  /* README:c-remote end */
  return rc == SHMIPC_E_REMOTE ? SHMIPC_OK : rc;
}

/* Every call of this example; the first error ends them. */
static int calls(shmipc_host *host)
{
  int rc;

  if ((rc = zero_copy_call(host)) != SHMIPC_OK ||
      (rc = app_type_call(host)) != SHMIPC_OK ||
      (rc = lookup(host, "answer")) != SHMIPC_OK ||
      (rc = lookup(host, "question")) != SHMIPC_OK)
    fprintf(stderr, "host_example: call: %s\n", shmipc_strerror(rc));
  return rc;
}

static int run(const char *name)
{
  /* README:c-quickstart begin */
  shmipc_host_config cfg;
  shmipc_host_config_init(&cfg); /* defaults: 4 slots, 64 KiB each way */
  cfg.name = name;               /* "MyIPC": the guest attaches by name */
  cfg.host_slots = 4;            /* concurrent host calls */
  cfg.guest_slots = 2;           /* > 0 enables guest calls */

  shmipc_host *host;
  int rc = shmipc_host_create(&cfg, &host);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "create: %s\n", shmipc_strerror(rc));
    return 1;
  }
  /* A listener thread answers guest calls with on_guest_call (below). */
  rc = shmipc_host_listen_start(host, on_guest_call, NULL);
  if (rc == SHMIPC_OK)
    rc = shmipc_host_wait_guest(host, 5000000000); /* 5 s, in nanoseconds */
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "no guest: %s\n", shmipc_strerror(rc));
    shmipc_host_destroy(host); /* also stops the listener */
    return 1;
  }

  /* Copying call: the response is copied into your buffer. */
  char resp[256];
  size_t n;
  uint32_t type;
  rc = shmipc_host_call(host, SHMIPC_MSG_NORMAL, "ping", 4, resp, sizeof resp,
                        &n, &type, SHMIPC_TIMEOUT_DEFAULT);
  /* SHMIPC_E_TRUNCATED if the response does not fit: never a silent cut. */
  if (rc == SHMIPC_OK)
    printf("ping: %.*s (type %u)\n", (int)n, resp, (unsigned)type);
  /* ... */
  /* README:hide begin */
  if (rc == SHMIPC_OK)
    check_echo("copying call", "ping", 4, SHMIPC_MSG_NORMAL, resp, n, type);
  else
    failures++;
  if (calls(host) != SHMIPC_OK)
    failures++;
  /* README:hide end */

  shmipc_host_listen_stop(host);
  /* README:hide begin */
  /* README:c-serve begin */
  /* From your own loop instead of a listener: serves every pending guest
   * call, waiting up to the timeout for the first. */
  int served = shmipc_host_serve(host, on_guest_call, NULL, 1000000);
  if (served < 0 && served != SHMIPC_E_TIMEOUT) /* TIMEOUT: none came */
    fprintf(stderr, "serve: %s\n", shmipc_strerror(served));
  /* README:c-serve end */
  if (served < 0 && served != SHMIPC_E_TIMEOUT)
    failures++;
  /* README:hide end */
  shmipc_host_destroy(host);
  /* README:c-quickstart end */
  return 0;
}

int main(int argc, char **argv)
{
  char *name = argc > 1 ? argv[1] : "MyIPC";
  pid_t guest = -1;

  if (argc > 3) {
    fprintf(stderr, "usage: %s [NAME [GUEST_PROGRAM]]\n", argv[0]);
    return 2;
  }
  /* The guest may start first: it retries until the segment is there. */
  if (argc == 3) {
    guest = spawn_guest(argv[2], name);
    if (guest < 0)
      return 1;
  } else {
    printf("waiting for a guest on \"%s\"...\n", name);
    fflush(stdout);
  }

  if (run(name) != 0)
    failures++;
  /* Closing the session (shmipc_host_destroy) tells the guest to exit. */
  if (guest > 0 && reap_guest(guest) != 0)
    failures++;

  if (failures > 0) {
    fprintf(stderr, "host_example: FAILED\n");
    return 1;
  }
  printf("host_example: ok\n");
  return 0;
}
