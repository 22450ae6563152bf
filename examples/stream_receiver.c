/* SPDX-License-Identifier: MIT */
/*
 * stream_receiver: a C guest that receives streams, the README's
 * "Streams" receiving side.
 *
 *   stream_receiver [-name NAME]
 *
 * Attaches to the segment NAME (default "MyIPC"), waiting up to 5 s for its
 * host (examples/stream_sender.c), and serves through a stream receiver
 * until the host closes the session: for each stream it prints the
 * length, the application type and the FNV-1a checksum of the bytes it
 * received; every other request is echoed. Streams above 16 MiB are
 * refused at their start.
 *
 * Build:  cc stream_receiver.c $(pkg-config --cflags --libs libshmipc)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <shmipc/shmipc.h>

/* FNV-1a, 64 bits, as stream_sender computes it. */
static uint64_t fnv1a(const uint8_t *p, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h;
}

static void consume(uint64_t id, uint32_t app_type, const void *data,
                    size_t len)
{
  printf("stream %" PRIu64 " of type %u: %zu bytes, checksum %016" PRIx64 "\n",
         id, (unsigned)app_type, len, fnv1a(data, len));
  fflush(stdout);
}

/* Every request that is not a stream's: echo it with its type. */
static int my_handler(void *user, uint32_t type, const void *req,
                      size_t req_len, void *resp, size_t resp_cap,
                      size_t *resp_len, uint32_t *resp_type)
{
  (void)user;
  (void)type;
  (void)resp_type;
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  return 0;
}

/* README:c-stream-fn begin */
static int on_stream(void *user, uint64_t id, uint32_t app_type, void *data,
                     size_t len)
{
  (void)user;
  consume(id, app_type, data, len);
  return 0; /* the library frees data; SHMIPC_STREAM_KEEP keeps it
               (free it with shmipc_stream_buffer_free); < 0 refuses */
}
/* README:c-stream-fn end */

int main(int argc, char **argv)
{
  shmipc_guest_config gc;
  shmipc_guest *guest;
  const char *name = "MyIPC";
  int rc;

  if (argc == 3 && strcmp(argv[1], "-name") == 0) {
    name = argv[2];
  } else if (argc != 1) {
    fprintf(stderr, "usage: %s [-name NAME]\n", argv[0]);
    return 2;
  }
  shmipc_guest_config_init(&gc);
  gc.name = name;
  gc.connect_timeout_ns = 5000000000;
  rc = shmipc_guest_attach(&gc, &guest);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "attach: %s\n", shmipc_strerror(rc));
    return 1;
  }

  /* README:c-stream-receive begin */
  shmipc_stream_limits lim;
  shmipc_stream_limits_init(&lim); /* 1 GiB per stream and in all, 16 streams */
  lim.max_stream = 16u << 20;      /* nothing larger than 16 MiB */
  lim.max_total = 64u << 20;       /* 64 MiB for all open streams */
  shmipc_reassembler *ra;
  rc = shmipc_reassembler_create(&lim, on_stream, NULL, my_handler, NULL, &ra);
  if (rc == SHMIPC_OK)
    rc = shmipc_guest_start(guest, shmipc_reassembler_handle, ra);
  if (rc == SHMIPC_OK)
    rc = shmipc_guest_wait(guest, SHMIPC_TIMEOUT_INFINITE);
  shmipc_guest_detach(guest);     /* its workers end before ra goes */
  shmipc_reassembler_destroy(ra); /* NULL after a failed create: no-op */
  /* README:c-stream-receive end */
  if (rc != SHMIPC_OK && rc != SHMIPC_E_PEER_GONE) {
    fprintf(stderr, "stream_receiver: %s\n", shmipc_strerror(rc));
    return 1;
  }
  printf("stream_receiver: the host closed the session\n");
  return 0;
}
