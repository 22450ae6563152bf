/* SPDX-License-Identifier: MIT */
/*
 * answer_host: a host that asks for one large answer, the README's "Large
 * answers".
 *
 *   answer_host [NAME [BYTES]]
 *
 * Creates the segment NAME (default "MyIPC"), waits up to 5 s for a guest
 * (start examples/answer_guest.c or go/examples/answers as
 * `... -name NAME`, before or after), asks it for BYTES (default 10 MiB)
 * with a call of type SHMIPC_MSG_APP_START + 9 whose request is BYTES as a
 * little-endian u64, first into a buffer the library allocates, then piece
 * by piece, and prints the answer's FNV-1a checksum, which the example
 * guests print too. It exits 0 when both calls got the whole answer.
 *
 * Build:  cc answer_host.c $(pkg-config --cflags --libs libshmipc)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#define MY_ANSWER (SHMIPC_MSG_APP_START + 9)

/* FNV-1a, 64 bits, over pieces: enough to tell that both ends hold the
 * same bytes. */
static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h;
}
#define FNV_START UINT64_C(14695981039346656037)

struct sum {
  uint64_t h, bytes, pieces;
};

/* README:c-answer-chunk begin */
static int on_piece(void *user, uint32_t type, uint64_t total, uint64_t offset,
                    const void *data, size_t len)
{
  struct sum *s = user; /* pieces come in order: offset == s->bytes */
  (void)type, (void)total, (void)offset;
  s->h = fnv1a(s->h, data, len);
  s->bytes += len;
  s->pieces++;
  return 0; /* non-zero stops: the call returns SHMIPC_E_REFUSED */
}
/* README:c-answer-chunk end */

static int ask(shmipc_host *host, uint64_t want)
{
  unsigned char req[8];
  struct sum s = {FNV_START, 0, 0};
  uint64_t whole = 0;
  int i, rc;

  for (i = 0; i < 8; i++)
    req[i] = (unsigned char)(want >> (8 * i));
  {
    /* README:c-answer-alloc begin */
    void *answer;
    size_t len;
    uint32_t type;
    rc = shmipc_host_call_alloc(host, MY_ANSWER, req, sizeof req, &answer, &len,
                                &type, 30000000000 /* 30 s in all */);
    if (rc != SHMIPC_OK) {
      fprintf(stderr, "call: %s\n", shmipc_last_error());
      return rc;
    }
    whole = fnv1a(FNV_START, answer, len);
    printf("answer: %zu bytes of type %" PRIu32 ", checksum %016" PRIx64 "\n",
           len, type, whole);
    shmipc_answer_free(answer);
    /* README:c-answer-alloc end */
  }
  /* README:c-answer-chunks begin */
  rc = shmipc_host_call_chunks(host, MY_ANSWER, req, sizeof req, on_piece, &s,
                               30000000000);
  /* README:c-answer-chunks end */
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "call_chunks: %s\n", shmipc_last_error());
    return rc;
  }
  printf("pieces: %" PRIu64 " bytes in %" PRIu64 " pieces, checksum %016" PRIx64
         "%s\n",
         s.bytes, s.pieces, s.h, s.h == whole ? ", as allocated" : ", DIFFERS");
  return s.h == whole ? SHMIPC_OK : SHMIPC_E_CORRUPT;
}

int main(int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "MyIPC";
  uint64_t want = 10u << 20;
  shmipc_host_config cfg;
  shmipc_host *host;
  int rc;

  if (argc > 3) {
    fprintf(stderr, "usage: %s [NAME [BYTES]]\n", argv[0]);
    return 2;
  }
  if (argc == 3) {
    char *end;
    want = strtoull(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0') {
      fprintf(stderr, "answer_host: bad size %s\n", argv[2]);
      return 2;
    }
  }
  shmipc_host_config_init(&cfg);
  cfg.name = name;
  cfg.max_answer = 256u << 20; /* nothing larger than 256 MiB */
  rc = shmipc_host_create(&cfg, &host);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "create: %s\n", shmipc_strerror(rc));
    return 1;
  }
  rc = shmipc_host_wait_guest(host, 5000000000);
  if (rc != SHMIPC_OK)
    fprintf(stderr, "no guest: %s\n", shmipc_strerror(rc));
  else
    rc = ask(host, want);
  shmipc_host_destroy(host);
  return rc == SHMIPC_OK ? 0 : 1;
}
