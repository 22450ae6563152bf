/* SPDX-License-Identifier: MIT */
/*
 * attach_probe: attach a C guest with chosen flags and report the result,
 * for the access-control cases of test_access.c.
 *
 *   attach_probe -name NAME [-allow-other-user] [-timeout-ms MS] [-serve]
 *
 * It prints "uid U euid E" and "result CODE TEXT" (CODE is the
 * shmipc_guest_attach() result, TEXT its shmipc_strerror()) on stdout. With
 * -serve and a successful attach it then answers every request by echoing
 * it (prints "ready") until the host closes or dies. The exit status is
 * -CODE (0 on success; 6 for SHMIPC_E_ACCESS, 14 for SHMIPC_E_BUSY), or 1
 * when serving ends with an error other than the host going away, 2 on bad
 * usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmipc/shmipc.h>

#include "handlers.h"

int main(int argc, char **argv)
{
  shmipc_guest_config cfg;
  shmipc_guest *g = NULL;
  const char *name = NULL;
  long timeout_ms = 2000;
  int serve = 0, i, r;

  shmipc_guest_config_init(&cfg);
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-name") == 0 && i + 1 < argc)
      name = argv[++i];
    else if (strcmp(argv[i], "-timeout-ms") == 0 && i + 1 < argc)
      timeout_ms = strtol(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "-allow-other-user") == 0)
      cfg.flags |= SHMIPC_GUEST_F_ALLOW_OTHER_USER;
    else if (strcmp(argv[i], "-serve") == 0)
      serve = 1;
    else {
      fprintf(stderr, "usage: attach_probe -name NAME [-allow-other-user] "
                      "[-timeout-ms MS] [-serve]\n");
      return 2;
    }
  }
  if (name == NULL || timeout_ms < 0) {
    fprintf(stderr, "attach_probe: -name NAME is required\n");
    return 2;
  }
  cfg.name = name;
  cfg.connect_timeout_ns = (int64_t)timeout_ms * 1000000;
  printf("uid %ld euid %ld\n", (long)getuid(), (long)geteuid());
  r = shmipc_guest_attach(&cfg, &g);
  printf("result %d %s\n", r, shmipc_strerror(r));
  fflush(stdout);
  if (r != SHMIPC_OK)
    return -r;
  if (serve) {
    r = shmipc_guest_start(g, t_echo, NULL);
    if (r == SHMIPC_OK) {
      printf("ready\n");
      fflush(stdout);
      r = shmipc_guest_wait(g, SHMIPC_TIMEOUT_INFINITE);
    }
    if (r != SHMIPC_OK && r != SHMIPC_E_PEER_GONE) {
      fprintf(stderr, "attach_probe: serve: %s\n", shmipc_strerror(r));
      shmipc_guest_detach(g);
      return 1;
    }
  }
  shmipc_guest_detach(g);
  return 0;
}
