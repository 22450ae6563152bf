/* SPDX-License-Identifier: MIT */
/*
 * shmipc-stat's reader (tools/shmipc-stat.c, built in) against a live host
 * and C guest of this process, on Linux and on Windows (where it opens the
 * mapping Local\shmipc-NAME read-only; the Wine run has no Python for
 * tests/stat/test_stat.py): the geometry, a call held in the guest's
 * handler shown PROCESSING with a growing age, the counters, and the JSON
 * and text it prints. Plain checks with an exit status, so that the
 * printers' output can be read back.
 */
#define SHMIPC_STAT_NO_MAIN
#include "../../tools/shmipc-stat.c"

#include "clock.h"

#define MS INT64_C(1000000)

static int failed;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                     \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      failed++;                                                                \
    }                                                                          \
  } while (0)

static uint32_t release; /* atomic: the held handler may return */

static int handler(void *user, uint32_t type, const void *req, size_t req_len,
                   void *resp, size_t resp_cap, size_t *resp_len,
                   uint32_t *resp_type)
{
  int i;

  (void)user;
  /* Type 201 is held until released, at most 10 s. */
  for (i = 0; type == 201 && i < 10000 && !shmipc__load_acquire32(&release);
       i++)
    t_sleep_ms(1);
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

struct held {
  shmipc_host *h;
  int r;
};

static void *held_call(void *arg)
{
  struct held *c = arg;
  char resp[64];
  size_t n;
  uint32_t t;

  c->r = shmipc_host_call(c->h, 201, "held", 4, resp, sizeof resp, &n, &t,
                          10000 * MS);
  return NULL;
}

/* The printers' output, read back. */
static char *printed(void (*print)(const struct snap *), const struct snap *s)
{
  static char buf[1 << 16];
  size_t n;

  out = tmpfile();
  if (out == NULL) {
    fprintf(stderr, "FAIL: no temporary file\n");
    exit(1);
  }
  print(s);
  rewind(out);
  n = fread(buf, 1, sizeof buf - 1, out);
  buf[n] = '\0';
  fclose(out);
  out = stdout;
  return buf;
}

static void print_json(const struct snap *s) { json_segment(s, NULL, 0); }
static void print_text(const struct snap *s) { text_segment(s, NULL, 0); }

static const char *expected_state(void)
{
#ifdef _WIN32
  return "ready"; /* liveness is not looked at on Windows */
#else
  return "live";
#endif
}

int main(void)
{
  shmipc_host_config hc;
  shmipc_guest_config gc;
  shmipc_host *h;
  shmipc_guest *g;
  struct shmipc__thread *t;
  struct held c;
  struct snap s1, s2;
  shmipc_stats st;
  char name[64], resp[64], want[64];
  const char *j;
  int64_t age1 = -1, age2 = -1;
  uint32_t i, busy = UINT32_MAX;
  size_t n;
  uint32_t rt;
  int k;

  out = stdout;
  snprintf(name, sizeof name, "statview-%u", (unsigned)shmipc__getpid());
  shmipc_host_config_init(&hc);
  hc.name = name;
  hc.host_slots = 2;
  hc.guest_slots = 1;
  hc.req_capacity = 64;
  hc.resp_capacity = 64;
  if (shmipc_host_create(&hc, &h) != SHMIPC_OK) {
    fprintf(stderr, "FAIL: host: %s\n", shmipc_last_error());
    return 1;
  }
  shmipc_guest_config_init(&gc);
  gc.name = name;
  if (shmipc_guest_attach(&gc, &g) != SHMIPC_OK ||
      shmipc_guest_start(g, handler, NULL) != SHMIPC_OK) {
    fprintf(stderr, "FAIL: guest: %s\n", shmipc_last_error());
    shmipc_host_destroy(h);
    return 1;
  }
  for (k = 0; k < 7; k++)
    CHECK(shmipc_host_call(h, 130, "abc", 3, resp, sizeof resp, &n, &rt,
                           5000 * MS) == SHMIPC_OK,
          "echo call %d", k);
  c.h = h;
  c.r = 1;
  if (shmipc__thread_start(&t, held_call, &c) != SHMIPC_OK) {
    fprintf(stderr, "FAIL: thread\n");
    return 1;
  }
  t_sleep_ms(200);

  CHECK(snap_take(name, &s1), "snapshot: %s", s1.error);
  t_sleep_ms(200);
  CHECK(snap_take(name, &s2), "second snapshot: %s", s2.error);
  if (s1.valid && s2.valid) {
    CHECK(strcmp(s1.state, expected_state()) == 0, "state %s, want %s",
          s1.state, expected_state());
    CHECK(s1.g.host_slots == 2 && s1.g.guest_slots == 1 &&
              s1.g.req_capacity == 64,
          "geometry");
    for (i = 0; i < s1.g.host_slots; i++)
      if (shmipc__ctrl_state(s1.slots[i].ctrl) == SHMIPC_SLOT_PROCESSING)
        busy = i;
    CHECK(busy != UINT32_MAX, "no host slot PROCESSING while the call is held");
    if (busy != UINT32_MAX) {
      age1 = slot_age(&s1, busy);
      age2 = slot_age(&s2, busy);
      CHECK(age1 > 0, "the held call's age %lld", (long long)age1);
      CHECK(age2 >= age1 + 150 * MS, "its age grows: %lld, then %lld",
            (long long)age1, (long long)age2);
      CHECK(s1.slots[busy].req_type == 201 && s1.slots[busy].req_size == 4,
            "the held request's type and size");
    }
    side_stats(&s2, SHMIPC__ROLE_HOST, &st);
    CHECK(st.calls == 8 && st.answered == 7, "host calls %llu answered %llu",
          (unsigned long long)st.calls, (unsigned long long)st.answered);
    side_stats(&s2, SHMIPC__ROLE_GUEST, &st);
    CHECK(st.served == 7 && st.attaches == 1 && st.epoch == 1,
          "guest served %llu", (unsigned long long)st.served);

    j = printed(print_json, &s2);
    CHECK(strstr(j, "\"schema\": \"shmipc-stat/1\"") != NULL, "JSON schema");
    snprintf(want, sizeof want, "\"state\": \"%s\"", expected_state());
    CHECK(strstr(j, want) != NULL, "JSON state");
    CHECK(strstr(j, "\"state\": \"PROCESSING\"") != NULL, "JSON slot state");
    CHECK(strstr(j, "\"calls\": 8") != NULL, "JSON host calls");
    j = printed(print_text, &s2);
    CHECK(strstr(j, "PROCESSING") != NULL && strstr(j, "served") != NULL,
          "text");
  }
  snap_free(&s1);
  snap_free(&s2);

  shmipc__store_release32(&release, 1);
  shmipc__thread_join(t);
  CHECK(c.r == SHMIPC_OK, "the held call: %d", c.r);
  shmipc_guest_detach(g);
  shmipc_host_destroy(h);
  if (failed == 0)
    printf("stat view: all checks passed\n");
  return failed ? 1 : 0;
}
