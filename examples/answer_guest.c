/* SPDX-License-Identifier: MIT */
/*
 * answer_guest: a C guest that answers with large answers, the README's
 * "Large answers".
 *
 *   answer_guest [-name NAME]
 *
 * Attaches to the segment NAME (default "MyIPC", retrying for 5 s), and
 * until the host closes the session answers each request of type
 * SHMIPC_MSG_APP_START + 9 (a little-endian u64 length n, at most 1 GiB)
 * with n bytes of a fixed pattern, printing their FNV-1a checksum; every
 * other request is echoed. examples/answer_host.c is a host for it.
 *
 * Build:  cc answer_guest.c $(pkg-config --cflags --libs libshmipc)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#define MY_ANSWER (SHMIPC_MSG_APP_START + 9)

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
  uint64_t h = UINT64_C(14695981039346656037);
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * UINT64_C(1099511628211);
  return h;
}

/* n bytes of xorshift32, in a buffer of malloc's; NULL if none. */
static uint8_t *compute(const void *req, size_t req_len, size_t *n)
{
  const uint8_t *r = req;
  uint64_t want = 0;
  uint32_t x = 1;
  uint8_t *b;
  size_t i;

  if (req_len != 8)
    return NULL;
  for (i = 0; i < 8; i++)
    want |= (uint64_t)r[i] << (8 * i);
  if (want > (1u << 30) || (b = malloc(want > 0 ? (size_t)want : 1)) == NULL)
    return NULL;
  for (i = 0; i < want; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b[i] = (uint8_t)x;
  }
  *n = (size_t)want;
  printf("answering %zu bytes, checksum %016" PRIx64 "\n", *n, fnv1a(b, *n));
  fflush(stdout);
  return b;
}

/* README:c-answer-handler begin */
static void release(void *ctx, const void *data, size_t len)
{
  (void)ctx, (void)len;
  free((void *)data); /* the host has it, or never will */
}

static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type, shmipc_answer *ans)
{
  size_t n;
  uint8_t *big;
  (void)user, (void)resp_type;
  if (type != MY_ANSWER) { /* an ordinary answer, as any handler's */
    if (req_len > resp_cap)
      return -1;
    memcpy(resp, req, req_len);
    *resp_len = req_len;
    return 0;
  }
  big = compute(req, req_len, &n);
  if (big == NULL)
    return -1; /* the host gets SHMIPC_E_REMOTE */
  shmipc_answer_set(ans, big, n, release, NULL); /* no copy made here */
  return 0;
}
/* README:c-answer-handler end */

int main(int argc, char **argv)
{
  shmipc_guest_config cfg;
  shmipc_guest *guest;
  int rc;

  shmipc_guest_config_init(&cfg);
  cfg.name = "MyIPC";
  if (argc == 3 && strcmp(argv[1], "-name") == 0) {
    cfg.name = argv[2];
  } else if (argc != 1) {
    fprintf(stderr, "usage: %s [-name NAME]\n", argv[0]);
    return 2;
  }
  rc = shmipc_guest_attach(&cfg, &guest);
  if (rc != SHMIPC_OK) {
    fprintf(stderr, "attach: %s\n", shmipc_last_error());
    return 1;
  }
  /* README:c-answer-start begin */
  shmipc_answer_limits lim;
  shmipc_answer_limits_init(&lim); /* 1 GiB per answer and in all, 16 */
  lim.max_total = 512u << 20;      /* 512 MiB parked at once */
  rc = shmipc_guest_start_answers(guest, handler, NULL, &lim);
  if (rc == SHMIPC_OK)
    rc = shmipc_guest_wait(guest, SHMIPC_TIMEOUT_INFINITE);
  shmipc_guest_detach(guest); /* drops what is still parked */
  /* README:c-answer-start end */
  if (rc == SHMIPC_OK)
    printf("answer_guest: the host closed the session\n");
  else
    fprintf(stderr, "answer_guest: %s\n", shmipc_last_error());
  return rc == SHMIPC_OK ? 0 : 1;
}
