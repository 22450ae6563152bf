/* SPDX-License-Identifier: MIT */
/*
 * guest_stream_sender: a C guest that streams to its host, the README's
 * "Streams from guest to host".
 *
 *   guest_stream_sender -name NAME [BYTES]
 *
 * Attaches to the segment NAME (waiting up to 5 s for it: start
 * examples/guest_stream_host.c before or after), sends BYTES (default 10
 * MiB) of the pattern examples/stream_sender.c sends as one stream of type
 * SHMIPC_MSG_APP_START + 7 on its guest slots, and prints the payload's
 * FNV-1a checksum, which the host prints too. It exits 0 when the host
 * delivered the stream, 1 otherwise.
 *
 * Build:  cc guest_stream_sender.c $(pkg-config --cflags --libs libshmipc)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h;
}

static int send_stream(shmipc_guest *guest, const void *data, size_t len)
{
  int rc;

  /* README:c-guest-stream-send begin */
  shmipc_stream_sender *snd; /* its chunks travel on the guest slots */
  rc = shmipc_guest_stream_sender_create(guest, NULL, &snd);
  if (rc != SHMIPC_OK)
    return rc;

  shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;
  rc = shmipc_stream_send(snd, SHMIPC_MSG_APP_START + 7, data, len,
                          30000000000 /* 30 s for the whole stream */, &res);
  if (rc == SHMIPC_E_REFUSED)
    fprintf(stderr, "the host refused chunk %lld: %s\n",
            res.failed_chunk == UINT64_MAX ? -1LL : (long long)res.failed_chunk,
            shmipc_stream_reason_name(res.reason));
  else if (rc != SHMIPC_OK) /* PEER_GONE, TIMEOUT, REMOTE (no receiver) */
    fprintf(stderr, "stream_send: %s\n", shmipc_last_error());
  shmipc_stream_sender_destroy(snd);
  /* README:c-guest-stream-send end */
  if (rc == SHMIPC_OK)
    printf("sent stream %" PRIu64 ": %zu bytes in %" PRIu64 " chunks\n",
           res.stream_id, len, res.chunks);
  return rc;
}

int main(int argc, char **argv)
{
  const char *name = NULL;
  size_t len = 10u << 20, i;
  shmipc_guest_config cfg;
  shmipc_guest *guest;
  uint8_t *data;
  uint32_t x = 1;
  int rc;

  if (argc >= 3 && strcmp(argv[1], "-name") == 0)
    name = argv[2];
  if (name == NULL || argc > 4) {
    fprintf(stderr, "usage: %s -name NAME [BYTES]\n", argv[0]);
    return 2;
  }
  if (argc == 4) {
    char *end;
    unsigned long long v = strtoull(argv[3], &end, 10);
    if (*argv[3] == '\0' || *end != '\0' || v > SIZE_MAX) {
      fprintf(stderr, "guest_stream_sender: bad size %s\n", argv[3]);
      return 2;
    }
    len = (size_t)v;
  }
  data = malloc(len > 0 ? len : 1);
  if (data == NULL) {
    fprintf(stderr, "guest_stream_sender: no memory for %zu bytes\n", len);
    return 1;
  }
  for (i = 0; i < len; i++) { /* xorshift32, as examples/stream_sender.c */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    data[i] = (uint8_t)x;
  }
  printf("payload: %zu bytes, checksum %016" PRIx64 "\n", len,
         fnv1a(data, len));

  shmipc_guest_config_init(&cfg);
  cfg.name = name;
  rc = shmipc_guest_attach(&cfg, &guest);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "attach: %s\n", shmipc_last_error());
    free(data);
    return 1;
  }
  rc = send_stream(guest, data, len);
  shmipc_guest_detach(guest);
  free(data);
  return rc == SHMIPC_OK ? 0 : 1;
}
