/* SPDX-License-Identifier: MIT */
/*
 * shmipc-echo-c: the C echo guest used by the interop tests and the
 * benchmark. Behaviour by request type is specified in ECHO_GUEST.md and
 * matches go/cmd/shmipc-echo.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmipc/shmipc.h>

enum {
  T_FAIL = 200,
  T_DELAY = 201,
  T_GUEST_CALL = 202,
  T_OVERSIZE = 203,
};

static shmipc_guest *guest;

static void sleep_ms(uint32_t ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type)
{
  (void)user;
  switch (type) {
  case T_FAIL:
    return -1;
  case T_DELAY:
    if (req_len >= 4) {
      const unsigned char *p = req;
      sleep_ms((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24);
    }
    break;
  case T_GUEST_CALL: {
    size_t n = 0;
    uint32_t t = 0;
    int r = shmipc_guest_call(guest, SHMIPC_MSG_GUEST_CALL, req, req_len, resp,
                              resp_cap, &n, &t, INT64_C(5000000000));
    if (r != SHMIPC_OK) {
      const char *why = shmipc_strerror(r);
      n = strlen(why) < resp_cap ? strlen(why) : resp_cap;
      memcpy(resp, why, n);
      *resp_len = n;
      *resp_type = SHMIPC_MSG_SYSTEM_ERROR;
      return 0;
    }
    *resp_len = n;
    *resp_type = T_GUEST_CALL;
    return 0;
  }
  case T_OVERSIZE:
    *resp_len = resp_cap + 1;
    return 0;
  default:
    break;
  }
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

int main(int argc, char **argv)
{
  shmipc_guest_config cfg;
  const char *name = NULL;
  long timeout_ms = 5000;
  int i, r;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-name") == 0 && i + 1 < argc)
      name = argv[++i];
    else if (strcmp(argv[i], "-timeout-ms") == 0 && i + 1 < argc)
      timeout_ms = strtol(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: %s -name NAME [-timeout-ms MS]\n", argv[0]);
      return 2;
    }
  }
  if (name == NULL) {
    fprintf(stderr, "usage: %s -name NAME [-timeout-ms MS]\n", argv[0]);
    return 2;
  }
  shmipc_guest_config_init(&cfg);
  cfg.name = name;
  cfg.connect_timeout_ns = (int64_t)timeout_ms * 1000000;
  r = shmipc_guest_attach(&cfg, &guest);
  if (r != SHMIPC_OK) {
    fprintf(stderr, "shmipc-echo-c: attach %s: %s\n", name, shmipc_strerror(r));
    return 1;
  }
  r = shmipc_guest_start(guest, handler, NULL);
  if (r != SHMIPC_OK) {
    fprintf(stderr, "shmipc-echo-c: start: %s\n", shmipc_strerror(r));
    shmipc_guest_detach(guest);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  r = shmipc_guest_wait(guest, SHMIPC_TIMEOUT_INFINITE);
  shmipc_guest_detach(guest);
  if (r != SHMIPC_OK && r != SHMIPC_E_PEER_GONE) {
    fprintf(stderr, "shmipc-echo-c: %s\n", shmipc_strerror(r));
    return 1;
  }
  return 0;
}
