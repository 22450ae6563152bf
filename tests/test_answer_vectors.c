/* SPDX-License-Identifier: MIT */
/*
 * Replays tests/answer_vectors.txt (given as argv[1]) against the C
 * guest's table of parked answers (src/answer.c); go/answer_vectors_test.go
 * replays the same file against the Go guest's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"

static int failures;
static int line_no;
static int64_t clock_ns;
static uint64_t released;

static int64_t fake_clock(void *arg)
{
  (void)arg;
  return clock_ns;
}

static unsigned char data_at(uint64_t len, uint64_t o)
{
  return (unsigned char)((o * 131 + len * 17 + 7) % 256);
}

static void on_release(void *ctx, const void *data, size_t len)
{
  (void)ctx, (void)len;
  released++;
  free((void *)data);
}

static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type, shmipc_answer *ans)
{
  uint64_t len = 0, o;
  unsigned char *b;
  int i;

  (void)user, (void)type, (void)resp, (void)resp_cap, (void)resp_len,
      (void)resp_type;
  if (req_len != 8)
    return -1;
  for (i = 0; i < 8; i++)
    len |= (uint64_t)((const unsigned char *)req)[i] << (8 * i);
  b = malloc(len > 0 ? (size_t)len : 1);
  if (b == NULL)
    return -1;
  for (o = 0; o < len; o++)
    b[o] = data_at(len, o);
  shmipc_answer_set(ans, b, (size_t)len, on_release, NULL);
  return 0;
}

static void bad(const char *fmt, const char *a, const char *b)
{
  fprintf(stderr, "answer_vectors.txt:%d: ", line_no);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  failures++;
}

static const char *const statuses[] = {"ok",     "malformed", "unknown",
                                       "bounds", "expired",   "aborted"};
static const char *const states[] = {"none", "open", "released", "dropped"};

static uint64_t opt(const char *line, const char *key, uint64_t def)
{
  const char *p = strstr(line, key);

  return p != NULL ? strtoull(p + strlen(key), NULL, 10) : def;
}

int main(int argc, char **argv)
{
  char line[512];
  struct shmipc__answers *a = NULL;
  uint32_t resp_cap = 0;
  unsigned char *resp = NULL;
  int cases = 0;
  FILE *f;

  if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
    fprintf(stderr, "usage: %s tests/answer_vectors.txt\n", argv[0]);
    return 2;
  }
  while (fgets(line, sizeof line, f) != NULL) {
    char word[32] = "", want[512] = "", got[64];
    char *arrow;

    line_no++;
    if (line[0] == '#' || sscanf(line, "%31s", word) != 1)
      continue;
    arrow = strstr(line, "->");
    if (arrow != NULL)
      snprintf(want, sizeof want, "%s", arrow + 3);
    want[strcspn(want, "\n")] = '\0';
    if (strcmp(word, "case") == 0) {
      shmipc__answers_destroy(a);
      a = NULL;
      cases++;
      clock_ns = 0;
      released = 0;
    } else if (strcmp(word, "limits") == 0) {
      shmipc_answer_limits lim;
      unsigned long long ma, mt, mn, idle, cap;
      shmipc_answer_limits_init(&lim);
      if (sscanf(line, "limits %llu %llu %llu %llu %llu", &ma, &mt, &mn, &idle,
                 &cap) != 5) {
        bad("bad limits%s%s", "", "");
        continue;
      }
      lim.max_answer = ma;
      lim.max_total = mt;
      lim.max_answers = (uint32_t)mn;
      lim.idle_timeout_ns = (int64_t)idle * 1000000;
      resp_cap = (uint32_t)cap;
      free(resp);
      resp = malloc(resp_cap + 1);
      if (resp == NULL ||
          shmipc__answers_create(&lim, handler, NULL, 64, &a) != SHMIPC_OK)
        return 2;
      shmipc__answers_set_clock(a, fake_clock, NULL);
    } else if (strcmp(word, "clock") == 0) {
      clock_ns += (int64_t)strtoll(line + 6, NULL, 10) * 1000000;
    } else if (strcmp(word, "answer") == 0) {
      unsigned long long len = strtoull(line + 7, NULL, 10);
      uint32_t type = (uint32_t)opt(line, "type=", 130), rt = type;
      unsigned char req[8];
      size_t n = 0;
      int i;
      for (i = 0; i < 8; i++)
        req[i] = (unsigned char)(len >> (8 * i));
      if (shmipc__answers_handle(a, type, req, 8, resp, resp_cap, &n, &rt) !=
          0) {
        bad("handler failed%s%s", "", "");
        continue;
      }
      if (rt == SHMIPC_MSG_SYSTEM_ERROR) {
        snprintf(got, sizeof got, "refused");
      } else if (rt == SHMIPC_MSG_LARGE_ANSWER) {
        struct shmipc__answer_hdr h;
        if (shmipc__answer_parse(n, resp, &h) != SHMIPC_OK || h.total != len ||
            h.app_type != type)
          bad("bad announcement%s%s", "", "");
        snprintf(got, sizeof got, "id %llu", (unsigned long long)h.id);
      } else {
        size_t o;
        if (rt != type || n != len)
          bad("inline answer of the wrong type or length%s%s", "", "");
        for (o = 0; o < n && o < len; o++)
          if (resp[o] != data_at(len, o)) {
            bad("inline answer bytes differ%s%s", "", "");
            break;
          }
        snprintf(got, sizeof got, "inline");
      }
      if (strcmp(got, want) != 0)
        bad("answer: got \"%s\", want \"%s\"", got, want);
    } else if (strcmp(word, "pull") == 0) {
      struct shmipc__pull q = {0, 0, 0, 0, 0};
      unsigned long long id, off, len;
      unsigned char req[64] = {0};
      uint32_t rt = SHMIPC_MSG_ANSWER_PULL, status, state;
      uint64_t total;
      size_t size, n = 0;
      if (sscanf(line, "pull %llu %llu %llu", &id, &off, &len) != 3) {
        bad("bad pull%s%s", "", "");
        continue;
      }
      q.id = id;
      q.offset = off;
      q.len = (uint32_t)len;
      q.flags = (uint32_t)opt(line, "flags=", 0);
      q.reserved = opt(line, "reserved=", 0);
      size = (size_t)opt(line, "size=", 32);
      shmipc__pull_put(req, &q);
      memset(resp, 0xEE, resp_cap);
      if (shmipc__answers_handle(a, SHMIPC_MSG_ANSWER_PULL, req, size, resp,
                                 resp_cap, &n, &rt) != 0 ||
          rt != SHMIPC_MSG_ANSWER_PULL || n < 16) {
        bad("no pull answer%s%s", "", "");
        continue;
      }
      shmipc__pull_resp_get(resp, &status, &state, &total);
      snprintf(got, sizeof got, "%s %s %llu",
               status < 6 ? statuses[status] : "?",
               state < 4 ? states[state] : "?", (unsigned long long)total);
      if (strcmp(got, want) != 0)
        bad("pull: got \"%s\", want \"%s\"", got, want);
      if (status == 0) {
        uint64_t o;
        if (n != 16 + len)
          bad("pull answer of the wrong length%s%s", "", "");
        for (o = 0; o < len && 16 + o < n; o++)
          if (resp[16 + o] != data_at(total, off + o)) {
            bad("pulled bytes differ%s%s", "", "");
            break;
          }
      } else if (n != 16) {
        bad("a refused pull carries data%s%s", "", "");
      }
    } else if (strcmp(word, "stats") == 0) {
      shmipc_answer_stats st;
      shmipc__answers_stats(a, &st);
      snprintf(got, sizeof got, "%lu %llu", (unsigned long)st.parked,
               (unsigned long long)st.held);
      snprintf(want, sizeof want, "%s", line + 6);
      want[strcspn(want, "\n")] = '\0';
      if (strcmp(got, want) != 0)
        bad("stats: got \"%s\", want \"%s\"", got, want);
    } else if (strcmp(word, "released") == 0) {
      snprintf(got, sizeof got, "%llu", (unsigned long long)released);
      snprintf(want, sizeof want, "%s", line + 9);
      want[strcspn(want, "\n")] = '\0';
      if (strcmp(got, want) != 0)
        bad("released: got \"%s\", want \"%s\"", got, want);
    } else {
      bad("unknown directive %s%s", word, "");
    }
  }
  fclose(f);
  shmipc__answers_destroy(a);
  free(resp);
  if (cases < 5) {
    fprintf(stderr, "only %d cases read\n", cases);
    return 1;
  }
  printf("%d cases, %d failures\n", cases, failures);
  return failures == 0 ? 0 : 1;
}
