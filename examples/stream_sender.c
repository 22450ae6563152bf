/* SPDX-License-Identifier: MIT */
/*
 * stream_sender: a host that sends one stream, the README's "Streams".
 *
 *   stream_sender [NAME [BYTES]]
 *
 * Creates the segment NAME (default "MyIPC"), waits up to 5 s for a guest
 * (start examples/stream_receiver.c or go/examples/streams as
 * `... -name NAME`, before or after), sends BYTES (default 10 MiB) of a
 * fixed pattern as one stream of type SHMIPC_MSG_APP_START + 7, and prints
 * the payload's FNV-1a checksum, which the example receivers print too.
 * It exits 0 when the guest delivered the stream, 1 otherwise (a stream
 * above the receiver's limits is refused at its start).
 *
 * Build:  cc stream_sender.c $(pkg-config --cflags --libs libshmipc)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

/* FNV-1a, 64 bits: enough to tell that both ends hold the same bytes. */
static uint64_t fnv1a(const uint8_t *p, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h;
}

static int send_stream(shmipc_host *host, const void *data, size_t len)
{
  int rc;

  /* README:c-stream-send begin */
  shmipc_stream_sender *snd; /* NULL config: depth 4, chunk = slot - 32 B */
  rc = shmipc_stream_sender_create(host, NULL, &snd);
  if (rc != SHMIPC_OK)
    return rc;

  shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;
  rc = shmipc_stream_send(snd, SHMIPC_MSG_APP_START + 7, data, len,
                          30000000000 /* 30 s for the whole stream */, &res);
  if (rc == SHMIPC_E_REFUSED && res.failed_chunk == UINT64_MAX)
    fprintf(stderr, "stream refused at its start: %s\n",
            shmipc_stream_reason_name(res.reason));
  else if (rc == SHMIPC_E_REFUSED)
    fprintf(stderr, "chunk %llu refused: %s\n",
            (unsigned long long)res.failed_chunk,
            shmipc_stream_reason_name(res.reason));
  else if (rc != SHMIPC_OK)
    fprintf(stderr, "stream_send: %s\n", shmipc_strerror(rc));
  shmipc_stream_sender_destroy(snd);
  /* README:c-stream-send end */
  if (rc == SHMIPC_OK)
    printf("sent stream %" PRIu64 ": %zu bytes in %" PRIu64 " chunks\n",
           res.stream_id, len, res.chunks);
  return rc;
}

int main(int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "MyIPC";
  size_t len = 10u << 20, i;
  shmipc_host_config cfg;
  shmipc_host *host;
  uint8_t *data;
  uint32_t x = 1;
  int rc;

  if (argc > 3) {
    fprintf(stderr, "usage: %s [NAME [BYTES]]\n", argv[0]);
    return 2;
  }
  if (argc == 3) {
    char *end;
    unsigned long long v = strtoull(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || v > SIZE_MAX) {
      fprintf(stderr, "stream_sender: bad size %s\n", argv[2]);
      return 2;
    }
    len = (size_t)v;
  }
  data = malloc(len > 0 ? len : 1);
  if (data == NULL) {
    fprintf(stderr, "stream_sender: no memory for %zu bytes\n", len);
    return 1;
  }
  for (i = 0; i < len; i++) { /* xorshift32: a pattern that is not periodic */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    data[i] = (uint8_t)x;
  }
  printf("payload: %zu bytes, checksum %016" PRIx64 "\n", len,
         fnv1a(data, len));

  shmipc_host_config_init(&cfg);
  cfg.name = name;
  rc = shmipc_host_create(&cfg, &host);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "create: %s\n", shmipc_strerror(rc));
    free(data);
    return 1;
  }
  rc = shmipc_host_wait_guest(host, 5000000000);
  if (rc != SHMIPC_OK)
    fprintf(stderr, "no guest: %s\n", shmipc_strerror(rc));
  else
    rc = send_stream(host, data, len);
  shmipc_host_destroy(host);
  free(data);
  return rc == SHMIPC_OK ? 0 : 1;
}
