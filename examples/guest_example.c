/* SPDX-License-Identifier: MIT */
/*
 * guest_example: a libshmipc guest written in C, the README's "C guest".
 *
 *   guest_example [-name NAME]
 *
 * Attaches to the segment NAME (default "MyIPC"), waiting up to 5 s for its
 * host, makes one guest call, then answers the host's requests until the
 * host closes the session:
 *
 *   - type MSG_LOOKUP (SHMIPC_MSG_APP_START + 2): the key "answer" is
 *     answered "42"; any other key fails with the reason
 *     "no such key: KEY", which the host receives as SHMIPC_E_REMOTE;
 *   - any other type: the request is echoed with its type.
 *
 * It exits 0 once the host has closed the session. examples/host_example.c
 * is a host for it.
 *
 * Build:  cc guest_example.c $(pkg-config --cflags --libs libshmipc)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <shmipc/shmipc.h>

#define MSG_LOOKUP (SHMIPC_MSG_APP_START + 2)

/* README:c-handler begin */
static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type)
{
  (void)user;
  if (type == MSG_LOOKUP) {
    if (req_len == 6 && memcmp(req, "answer", 6) == 0 && resp_cap >= 2) {
      memcpy(resp, "42", 2);
      *resp_len = 2;
      return 0;
    }
    /* Fail with a reason: the host's call gets SHMIPC_E_REMOTE and the
     * text as its response. */
    int len = snprintf(resp, resp_cap, "no such key: %.*s", (int)req_len,
                       (const char *)req);
    if (len < 0 || resp_cap == 0)
      return -1; /* the fixed reason "shmipc: handler failed" */
    *resp_len = (size_t)len < resp_cap ? (size_t)len : resp_cap - 1;
    *resp_type = SHMIPC_MSG_SYSTEM_ERROR;
    return 0;
  }
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len); /* anything else: echo, type unchanged */
  *resp_len = req_len;
  return 0;
}
/* README:c-handler end */

int main(int argc, char **argv)
{
  const char *name = "MyIPC";

  if (argc == 3 && strcmp(argv[1], "-name") == 0) {
    name = argv[2];
  } else if (argc != 1) {
    fprintf(stderr, "usage: %s [-name NAME]\n", argv[0]);
    return 2;
  }

  /* README:c-guest begin */
  shmipc_guest_config gc;
  shmipc_guest_config_init(&gc);
  gc.name = name;                     /* "MyIPC", as the host named it */
  gc.connect_timeout_ns = 5000000000; /* retries until the host is there */
  shmipc_guest *guest;
  int rc = shmipc_guest_attach(&gc, &guest);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "attach: %s\n", shmipc_strerror(rc));
    return 1;
  }

  /* A guest call: the host's listener (or shmipc_host_serve) answers. */
  char answer[64];
  size_t n;
  uint32_t type;
  rc = shmipc_guest_call(guest, SHMIPC_MSG_GUEST_CALL, "hello", 5, answer,
                         sizeof answer, &n, &type, SHMIPC_TIMEOUT_DEFAULT);
  if (rc == SHMIPC_OK)
    printf("host answered %.*s\n", (int)n, answer);
  else
    fprintf(stderr, "guest call: %s\n", shmipc_strerror(rc));

  rc = shmipc_guest_start(guest, handler, NULL); /* one thread per host slot */
  if (rc == SHMIPC_OK)
    rc = shmipc_guest_wait(guest,
                           SHMIPC_TIMEOUT_INFINITE); /* until host closes */
  shmipc_guest_detach(guest);
  /* README:c-guest end */
  if (rc != SHMIPC_OK && rc != SHMIPC_E_PEER_GONE) {
    fprintf(stderr, "guest_example: %s\n", shmipc_strerror(rc));
    return 1;
  }
  printf("guest_example: the host closed the session\n");
  return 0;
}
