/* SPDX-License-Identifier: MIT */
/*
 * shmipc-hostile: a test-only hostile peer. It opens a LIVE segment raw
 * (/dev/shm/shmipc-NAME, O_RDWR, mmap; no validation) and writes chosen
 * garbage into it while the other side runs. Every loop is bounded in time.
 *
 *   shmipc-hostile [OPTIONS] NAME COMMAND [ARGS]
 *
 * Options (before NAME):
 *   -for-ms N       repeat a write (header/slot/random-slot/flood), or serve
 *                   (respond), for N ms (default: write once; respond 1000)
 *   -seed S         xorshift seed for random garbage (default 1)
 *   -timeout-ms N   request: how long to wait for the answer (default 2000)
 *   -late-ms N      respond late/mixed: delay of late answers (default 300)
 *   -leave-mess     respond: leave the garbage in place when stopping
 *   -no-detach      respond: stop without detaching (like a crash)
 *
 * Commands:
 *   info                          print the raw header and control words
 *   header FIELD VALUE            write a header field (hostile.h lists them)
 *   slot INDEX FIELD VALUE        write a slot header field
 *   random-slot INDEX|all         random bytes over slot headers (ctrl too)
 *   truncate SIZE                 ftruncate the segment file to SIZE bytes.
 *       A peer that has the segment mapped gets SIGBUS on any access past
 *       the new end: that is what truncating under a live mapping does, and
 *       no library can prevent it for a mapping it already has. The tests
 *       therefore use this only at attach time: truncate, then a NEW guest
 *       attaches and must get SHMIPC_E_CORRUPT (or time out waiting for a
 *       header), never crash.
 *   request INDEX TYPE SIZE FLAGS [SEQ]
 *                                 act as a requester on a host slot with
 *                                 arbitrary header values (SIZE past the
 *                                 capacity, unknown FLAGS...); prints the
 *                                 response header. Exit 3 on timeout, 4 if
 *                                 the word went illegal.
 *   respond MODE                  act as a fake guest (takes liveness byte
 *                                 1, attaches) answering host slots with
 *                                 MODE framing: echo end-aligned size-cap1
 *                                 size-max size-high flags seq gen state
 *                                 reserved regress random late silent mixed
 *   flood TARGET                  keep writing garbage for -for-ms:
 *                                 slots | attach | doorbell | all
 *
 * VALUE and SIZE accept decimal or 0x-prefixed hex; "cap+1" means the
 * matching capacity plus one (req_capacity for req_size and request SIZE,
 * resp_capacity for resp_size).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hostile.h"

static void usage(void)
{
  fprintf(
      stderr,
      "usage: shmipc-hostile [-for-ms N] [-seed S] [-timeout-ms N] "
      "[-late-ms N] [-leave-mess] [-no-detach] NAME COMMAND [ARGS]\n"
      "commands: info | header FIELD VALUE | slot INDEX FIELD VALUE |\n"
      "  random-slot INDEX|all | truncate SIZE |\n"
      "  request INDEX TYPE SIZE FLAGS [SEQ] | respond MODE | flood TARGET\n");
}

static int parse_u64(const char *s, uint64_t cap, uint64_t *out)
{
  char *end;

  if (!strcmp(s, "cap+1")) {
    *out = cap + 1;
    return 0;
  }
  errno = 0;
  *out = strtoull(s, &end, 0);
  return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

static void sleep_us(int us)
{
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000L};

  nanosleep(&ts, NULL);
}

static void info(const struct hostile_seg *s)
{
  const struct shmipc_wire_header *h = hostile_hdr(s);
  uint32_t i;

  printf("size %zu\n", s->r.size);
  if (s->r.size < sizeof *h)
    return;
  printf("magic %#llx version %u header_size %u host_slots %u guest_slots %u\n",
         (unsigned long long)h->magic, h->version, h->header_size,
         h->host_slots, h->guest_slots);
  printf("req_capacity %u resp_capacity %u slot_stride %u segment_size %llu\n",
         h->req_capacity, h->resp_capacity, h->slot_stride,
         (unsigned long long)h->segment_size);
  printf("host_state %u attach %#x doorbell %#x\n", h->host_state, h->attach,
         h->doorbell);
  for (i = 0; i < s->host_slots + s->guest_slots && i < SHMIPC_MAX_SLOTS * 2;
       i++) {
    const struct shmipc_wire_slot *w = hostile_slot(s, i);
    if (w == NULL)
      break;
    printf("slot %u ctrl %#x req_size %u resp_size %u req_seq %llu resp_seq "
           "%llu\n",
           i, w->ctrl, w->req_size, w->resp_size,
           (unsigned long long)w->req_seq, (unsigned long long)w->resp_seq);
  }
}

/* The options (before NAME). */
struct opts {
  const char *name;
  int for_ms; /* -1: once */
  int timeout_ms;
  int late_ms;
  int leave_mess;
  int detach;
  uint64_t seed;
  int64_t end; /* t_now_ms() at which -for-ms runs out */
};

/* Each command returns the exit status: 0, 1 (failed), 2 (bad arguments:
 * the usage is printed), or its own (request: 3, 4). */

static int cmd_truncate(struct hostile_seg *s, const struct opts *o,
                        char **argv, int argc)
{
  char path[128];
  uint64_t v;

  (void)s;
  (void)argc;
  if (parse_u64(argv[0], 0, &v) != 0)
    return 2;
  snprintf(path, sizeof path, "/dev/shm/shmipc-%s", o->name);
  if (truncate(path, (off_t)v) != 0) {
    fprintf(stderr, "shmipc-hostile: truncate %s: %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

static int cmd_info(struct hostile_seg *s, const struct opts *o, char **argv,
                    int argc)
{
  (void)o;
  (void)argv;
  (void)argc;
  info(s);
  return 0;
}

static int cmd_header(struct hostile_seg *s, const struct opts *o, char **argv,
                      int argc)
{
  uint64_t v;

  (void)argc;
  if (parse_u64(argv[1], 0, &v) != 0)
    return 2;
  do {
    if (hostile_set_header(s, argv[0], v) != 0) {
      fprintf(stderr, "shmipc-hostile: no header field %s\n", argv[0]);
      return 2;
    }
    sleep_us(200);
  } while (t_now_ms() < o->end);
  return 0;
}

static int cmd_slot(struct hostile_seg *s, const struct opts *o, char **argv,
                    int argc)
{
  uint64_t idx, v;
  uint64_t cap =
      !strcmp(argv[1], "req_size") ? s->req_capacity : s->resp_capacity;

  (void)argc;
  if (parse_u64(argv[0], 0, &idx) != 0 || parse_u64(argv[2], cap, &v) != 0)
    return 2;
  do {
    if (hostile_set_slot(s, (uint32_t)idx, argv[1], v) != 0) {
      fprintf(stderr, "shmipc-hostile: no slot %s / field %s\n", argv[0],
              argv[1]);
      return 2;
    }
    sleep_us(200);
  } while (t_now_ms() < o->end);
  return 0;
}

static int cmd_random_slot(struct hostile_seg *s, const struct opts *o,
                           char **argv, int argc)
{
  uint64_t idx = 0, x = o->seed;
  int all = !strcmp(argv[0], "all"), r = 0;

  (void)argc;
  if (!all && parse_u64(argv[0], 0, &idx) != 0)
    return 2;
  do {
    uint32_t k, n = all ? s->host_slots + s->guest_slots : 1;
    for (k = 0; k < n && k < 2 * SHMIPC_MAX_SLOTS; k++)
      if (hostile_random_slot(s, all ? k : (uint32_t)idx, &x) != 0 && !all)
        r = 2;
    sleep_us(200);
  } while (r == 0 && t_now_ms() < o->end);
  return r;
}

static int cmd_flood(struct hostile_seg *s, const struct opts *o, char **argv,
                     int argc)
{
  uint64_t x = o->seed;
  int slots = !strcmp(argv[0], "slots") || !strcmp(argv[0], "all");
  int attach = !strcmp(argv[0], "attach") || !strcmp(argv[0], "all");
  int bell = !strcmp(argv[0], "doorbell") || !strcmp(argv[0], "all");

  (void)argc;
  if (!slots && !attach && !bell)
    return 2;
  do {
    if (slots) {
      uint32_t k =
          (uint32_t)(hostile_rand(&x) % (s->host_slots + s->guest_slots + 1u));
      (void)hostile_random_slot(s, k, &x);
    }
    if (attach)
      (void)hostile_set_header(s, "attach", hostile_rand(&x));
    if (bell)
      (void)hostile_set_header(s, "doorbell", hostile_rand(&x));
    sleep_us(50);
  } while (t_now_ms() < o->end);
  return 0;
}

static int cmd_request(struct hostile_seg *s, const struct opts *o, char **argv,
                       int argc)
{
  static const char payload[] = "hostile request";
  uint64_t idx, type, size, flags, seq = 0x5EED;
  struct shmipc_wire_slot resp;
  int r;

  if (parse_u64(argv[0], 0, &idx) || parse_u64(argv[1], 0, &type) ||
      parse_u64(argv[2], s->req_capacity, &size) ||
      parse_u64(argv[3], 0, &flags) ||
      (argc == 5 && parse_u64(argv[4], 0, &seq)))
    return 2;
  r = hostile_request(s, (uint32_t)idx, (uint32_t)type, (uint32_t)size,
                      (uint32_t)flags, seq, payload, sizeof payload - 1,
                      o->timeout_ms, &resp);
  if (r == 0)
    printf("resp_type %u resp_size %u resp_flags %#x resp_seq %llu\n",
           resp.resp_type, resp.resp_size, resp.resp_flags,
           (unsigned long long)resp.resp_seq);
  else
    fprintf(stderr, "shmipc-hostile: request: %s\n",
            r == -2   ? "timeout"
            : r == -1 ? "no free slot"
                      : "word went illegal");
  return r == 0 ? 0 : r == -2 ? 3 : r == -3 ? 4 : 1;
}

static int cmd_respond(struct hostile_seg *s, const struct opts *o, char **argv,
                       int argc)
{
  struct hostile_respond_opts ro;
  struct hostile_stats st;
  int m = hostile_mode_parse(argv[0]);

  (void)argc;
  if (m < 0) {
    fprintf(stderr, "shmipc-hostile: unknown mode %s\n", argv[0]);
    return 2;
  }
  if (hostile_guest_attach(s) != 0) {
    fprintf(stderr, "shmipc-hostile: cannot take the guest role (busy)\n");
    return 1;
  }
  memset(&ro, 0, sizeof ro);
  ro.mode = m;
  ro.seed = o->seed;
  ro.for_ms = o->for_ms > 0 ? o->for_ms : 1000;
  ro.late_ms = o->late_ms;
  ro.leave_mess = o->leave_mess;
  ro.detach = o->detach;
  printf("ready\n");
  fflush(stdout);
  (void)hostile_respond(s, &ro, &st);
  if (o->detach)
    hostile_guest_detach(s);
  printf("taken %lu\n", st.taken);
  for (m = 0; m < HM_COUNT; m++)
    if (st.per_mode[m])
      printf("  %s %lu\n", hostile_mode_name(m), st.per_mode[m]);
  return 0;
}

static const struct command {
  const char *name;
  int min_args, max_args;
  int maps; /* 0: works on the file, without mapping the segment */
  int (*run)(struct hostile_seg *s, const struct opts *o, char **argv,
             int argc);
} commands[] = {
    {"truncate", 1, 1, 0, cmd_truncate},
    {"info", 0, 0, 1, cmd_info},
    {"header", 2, 2, 1, cmd_header},
    {"slot", 3, 3, 1, cmd_slot},
    {"random-slot", 1, 1, 1, cmd_random_slot},
    {"flood", 1, 1, 1, cmd_flood},
    {"request", 4, 5, 1, cmd_request},
    {"respond", 1, 1, 1, cmd_respond},
};

/* Parse the options into *o; the index of NAME, or -1. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
  int i;

  *o = (struct opts){
      .for_ms = -1, .timeout_ms = 2000, .late_ms = 300, .detach = 1, .seed = 1};
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-leave-mess"))
      o->leave_mess = 1;
    else if (!strcmp(a, "-no-detach"))
      o->detach = 0;
    else if (i + 1 < argc && !strcmp(a, "-for-ms"))
      o->for_ms = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(a, "-timeout-ms"))
      o->timeout_ms = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(a, "-late-ms"))
      o->late_ms = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(a, "-seed"))
      o->seed = strtoull(argv[++i], NULL, 0);
    else
      return -1;
  }
  return argc - i < 2 ? -1 : i;
}

int main(int argc, char **argv)
{
  const struct command *c = NULL;
  struct hostile_seg s;
  struct opts o;
  size_t k;
  int i = parse_opts(argc, argv, &o), n, r;

  if (i < 0) {
    usage();
    return 2;
  }
  o.name = argv[i];
  n = argc - i - 2;
  for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
    if (!strcmp(argv[i + 1], commands[k].name) && n >= commands[k].min_args &&
        n <= commands[k].max_args)
      c = &commands[k];
  if (c == NULL) {
    usage();
    return 2;
  }
  if (!c->maps) {
    r = c->run(NULL, &o, argv + i + 2, n);
  } else {
    r = hostile_open(o.name, &s);
    if (r != 0) {
      fprintf(stderr, "shmipc-hostile: open %s: %s\n", o.name, strerror(-r));
      return 1;
    }
    o.end = t_now_ms() + (o.for_ms > 0 ? o.for_ms : 0);
    r = c->run(&s, &o, argv + i + 2, n);
    hostile_close(&s);
  }
  if (r == 2)
    usage();
  return r;
}
