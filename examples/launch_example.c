/* SPDX-License-Identifier: MIT */
/*
 * launch_example: a host that starts its own guest over an anonymous
 * segment (include/shmipc/shmipc.h, "Launching a guest").
 *
 *   launch_example GUEST_PROGRAM [ARG...]
 *
 * Creates a host whose segment has no name, launches GUEST_PROGRAM ARG...
 * with the segment inherited (the echo guests take it with -inherited),
 * makes one call, closes the session and reports how the guest ended. It
 * exits 0 and prints "launch_example: ok" when the call came back as it
 * went and the guest exited 0.
 *
 * Build:  cc launch_example.c $(pkg-config --cflags --libs libshmipc)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <shmipc/shmipc.h>

int main(int argc, char **argv)
{
  shmipc_host_config cfg;
  shmipc_host *h = NULL;
  char resp[64];
  size_t n = 0;
  uint32_t type = 0;
  int ok = 0;

  if (argc < 2) {
    fprintf(stderr, "usage: %s GUEST_PROGRAM [ARG...]\n", argv[0]);
    return 2;
  }
  /* README:c-launch begin */
  shmipc_host_config_init(&cfg);
  cfg.name = "demo"; /* a label only: nothing appears in /dev/shm */
  if (shmipc_host_create_anonymous(&cfg, &h) != SHMIPC_OK) {
    fprintf(stderr, "create: %s\n", shmipc_last_error());
    return 1;
  }

  shmipc_launch_config lc;
  shmipc_child *child = NULL;
  shmipc_launch_config_init(&lc);
  lc.path = argv[1]; /* e.g. shmipc-echo -inherited */
  lc.argv = (const char *const *)&argv[1];
  if (shmipc_host_launch(h, &lc, &child) != SHMIPC_OK ||
      shmipc_host_wait_guest(h, 5000000000) != SHMIPC_OK) {
    fprintf(stderr, "launch: %s\n", shmipc_last_error());
    shmipc_child_destroy(child); /* kills it if it runs */
    shmipc_host_destroy(h);
    return 1;
  }
  printf("guest %lld attached\n", (long long)shmipc_child_pid(child));

  if (shmipc_host_call(h, SHMIPC_MSG_NORMAL, "ping", 4, resp, sizeof resp, &n,
                       &type, SHMIPC_TIMEOUT_DEFAULT) == SHMIPC_OK)
    ok = n == 4 && memcmp(resp, "ping", 4) == 0;
  else
    fprintf(stderr, "call: %s\n", shmipc_last_error());

  /* Closing the session ends the guest; its exit comes back. */
  shmipc_host_destroy(h);
  shmipc_child_exit ex = {sizeof ex, 0, 0};
  if (shmipc_child_wait(child, 5000000000, &ex) != SHMIPC_OK)
    fprintf(stderr, "wait: %s\n", shmipc_last_error());
  else if (ex.signal != 0)
    printf("guest killed by signal %u\n", ex.signal);
  else
    printf("guest exited with status %lld\n", (long long)ex.code);
  shmipc_child_destroy(child);
  /* README:c-launch end */
  ok = ok && ex.signal == 0 && ex.code == 0;
  printf("launch_example: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
