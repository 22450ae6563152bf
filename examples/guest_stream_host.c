/* SPDX-License-Identifier: MIT */
/*
 * guest_stream_host: a host that receives one stream from its guest, the
 * README's "Streams from guest to host".
 *
 *   guest_stream_host [NAME]
 *
 * Creates the segment NAME (default "MyIPC") with guest slots, attaches a
 * stream receiver to its serving of guest calls (listener thread), waits
 * up to 5 s for a guest (start examples/guest_stream_sender.c or
 * go/examples/guest_streams as `... -name NAME`, before or after) and up
 * to 30 s for its stream, and prints the stream's length and FNV-1a
 * checksum, which the senders print too. It exits 0 when a stream arrived,
 * 1 otherwise (a stream above 16 MiB is refused at its start).
 *
 * Build:  cc guest_stream_host.c $(pkg-config --cflags --libs libshmipc)
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <shmipc/shmipc.h>

static atomic_int delivered; /* set by the callback */

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h;
}

/* Called on the listener thread with each complete stream. */
static int on_guest_stream(void *user, uint64_t id, uint32_t app_type,
                           void *data, size_t len)
{
  (void)user;
  printf("stream %" PRIu64 " of type %" PRIu32
         ": %zu bytes, checksum %016" PRIx64 "\n",
         id, app_type, len, fnv1a(data, len));
  fflush(stdout);
  atomic_store(&delivered, 1);
  return 0;
}

/* Every guest call that is not a stream's. */
static int my_handler(void *user, uint32_t type, const void *req,
                      size_t req_len, void *resp, size_t resp_cap,
                      size_t *resp_len, uint32_t *resp_type)
{
  (void)user;
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

int main(int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "MyIPC";
  shmipc_host_config cfg;
  shmipc_host *host;
  int rc, i;

  if (argc > 2) {
    fprintf(stderr, "usage: %s [NAME]\n", argv[0]);
    return 2;
  }
  shmipc_host_config_init(&cfg);
  cfg.name = name;
  cfg.guest_slots = 4; /* a guest streams on its guest slots */
  rc = shmipc_host_create(&cfg, &host);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "create: %s\n", shmipc_strerror(rc));
    return 1;
  }
  /* README:c-guest-stream-receive begin */
  shmipc_stream_limits lim;
  shmipc_stream_limits_init(&lim);
  lim.max_stream = 16u << 20; /* nothing larger than 16 MiB */
  lim.max_total = 64u << 20;  /* 64 MiB for all open streams */
  shmipc_reassembler *ra;
  rc = shmipc_reassembler_create(&lim, on_guest_stream, NULL, my_handler, NULL,
                                 &ra);
  if (rc == SHMIPC_OK) /* stream messages to ra, the rest to my_handler */
    rc = shmipc_host_stream_receiver(host, ra);
  if (rc == SHMIPC_OK)
    rc = shmipc_host_listen_start(host, my_handler, NULL);
  /* README:hide begin */
  if (rc == SHMIPC_OK)
    rc = shmipc_host_wait_guest(host, 5000000000);
  for (i = 0; rc == SHMIPC_OK && i < 3000 && !atomic_load(&delivered); i++) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  if (rc != SHMIPC_OK)
    fprintf(stderr, "guest_stream_host: %s\n", shmipc_last_error());
  /* README:hide end */
  /* ... until the application is done, then: */
  (void)shmipc_host_listen_stop(host);
  shmipc_host_destroy(host);      /* nothing serves through ra any more */
  shmipc_reassembler_destroy(ra); /* NULL after a failed create: no-op */
  /* README:c-guest-stream-receive end */
  return rc == SHMIPC_OK && atomic_load(&delivered) ? 0 : 1;
}
