/* SPDX-License-Identifier: MIT */
/*
 * shmipc-bench's command line: one table of options, each with the
 * function that takes its argument, then the defaults and the echo guests'
 * paths (run.h: parse_options).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

const char *system_name(int s)
{
  if (s < BASELINE_COUNT)
    return baseline_name((enum baseline_kind)s);
  return s == SYS_SHMIPC_GO ? "shmipc-go" : "shmipc-c";
}

int system_from_name(const char *name)
{
  for (int s = 0; s < SYS_COUNT; s++)
    if (strcmp(name, system_name(s)) == 0)
      return s;
  return -1;
}

int selected(const struct options *o, int s)
{
  for (unsigned i = 0; i < o->nsystems; i++)
    if (o->systems[i] == s)
      return 1;
  return 0;
}

static int parse_size(const char *s, size_t *out)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s)
    return -1;
  if (*end == 'k' || *end == 'K') {
    v *= 1024;
    end++;
  }
  if (*end || v == 0)
    return -1;
  *out = (size_t)v;
  return 0;
}

/* Split a comma list; calls @p item for each element. */
static int parse_list(const char *arg, const char *what,
                      int (*item)(struct options *, const char *),
                      struct options *o)
{
  char *copy = strdup(arg), *save = NULL;
  int rc = 0;
  if (!copy)
    return -1;
  for (char *t = strtok_r(copy, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    if (item(o, t) != 0) {
      fprintf(stderr, "shmipc-bench: bad %s entry '%s'\n", what, t);
      rc = -1;
      break;
    }
  }
  free(copy);
  return rc;
}

static int add_thread(struct options *o, const char *t)
{
  size_t v;
  if (o->nthreads >= MAX_LIST || parse_size(t, &v) != 0 || v > 256 ||
      strpbrk(t, "kK"))
    return -1;
  o->threads[o->nthreads++] = (unsigned)v;
  return 0;
}

static int add_payload(struct options *o, const char *t)
{
  size_t v;
  if (o->npayloads >= MAX_LIST || parse_size(t, &v) != 0 || v > 65536)
    return -1;
  o->payloads[o->npayloads++] = v;
  return 0;
}

static int add_system(struct options *o, const char *t)
{
  int s = system_from_name(t);
  if (s < 0)
    return -1;
  for (unsigned i = 0; i < o->nsystems; i++)
    if (o->systems[i] == s)
      return 0;
  o->systems[o->nsystems++] = s;
  return 0;
}

static int add_inflight(struct options *o, const char *t)
{
  size_t v;
  if (o->ninflight >= MAX_LIST || parse_size(t, &v) != 0 || v > 256 ||
      strpbrk(t, "kK"))
    return -1;
  o->inflight[o->ninflight++] = (unsigned)v;
  return 0;
}

const char *const part_names[PART_COUNT] = {"cells",  "sleep",  "idle",
                                            "stream", "answer", "inflight"};

static int add_part(struct options *o, const char *t)
{
  for (unsigned i = 0; i < PART_COUNT; i++)
    if (strcmp(t, part_names[i]) == 0) {
      o->parts |= 1u << i;
      return 0;
    }
  return -1;
}

/* Resolve @p arg to an executable file path (PATH lookup without '/'). */
static int resolve_exe(const char *arg, char *out, size_t len)
{
  struct stat st;
  if (!arg || !*arg)
    return -1;
  if (strchr(arg, '/')) {
    if (stat(arg, &st) != 0 || !S_ISREG(st.st_mode) || access(arg, X_OK) != 0)
      return -1;
    snprintf(out, len, "%s", arg);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path)
    return -1;
  char *copy = strdup(path), *save = NULL;
  int rc = -1;
  if (!copy)
    return -1;
  for (char *d = strtok_r(copy, ":", &save); d;
       d = strtok_r(NULL, ":", &save)) {
    snprintf(out, len, "%s/%s", *d ? d : ".", arg);
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) {
      rc = 0;
      break;
    }
  }
  free(copy);
  return rc;
}

/* A whole number in [lo, hi] for option --@p name into @p out. */
static int parse_count(const char *arg, const char *name, unsigned long lo,
                       unsigned long hi, unsigned *out)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(arg, &end, 10);
  if (errno || *end || v < lo || v > hi) {
    fprintf(stderr, "shmipc-bench: --%s wants %lu..%lu\n", name, lo, hi);
    return -1;
  }
  *out = (unsigned)v;
  return 0;
}

/* One function per option: takes its argument (NULL for a flag) into @p o,
 * or prints why not and returns -1. A list replaces the default. */

static int set_quick(struct options *o, const char *arg)
{
  (void)arg;
  o->quick = 1;
  return 0;
}

static int set_json(struct options *o, const char *arg)
{
  (void)arg;
  o->json = 1;
  return 0;
}

static int set_rounds(struct options *o, const char *arg)
{
  return parse_count(arg, "rounds", 1, MAX_ROUNDS, &o->rounds);
}

static int set_seconds(struct options *o, const char *arg)
{
  char *end;
  errno = 0;
  o->seconds = strtod(arg, &end);
  if (errno || *end || !(o->seconds >= 0.001 && o->seconds <= 3600)) {
    fprintf(stderr, "shmipc-bench: --seconds wants 0.001..3600\n");
    return -1;
  }
  return 0;
}

static int set_threads(struct options *o, const char *arg)
{
  o->nthreads = 0;
  return parse_list(arg, "--threads (1..256)", add_thread, o);
}

static int set_payloads(struct options *o, const char *arg)
{
  o->npayloads = 0;
  return parse_list(arg, "--payloads (1..65536)", add_payload, o);
}

static int set_inflight(struct options *o, const char *arg)
{
  o->ninflight = 0;
  return parse_list(arg, "--inflight (1..256)", add_inflight, o);
}

static int set_inflight_wait(struct options *o, const char *arg)
{
  if (strcmp(arg, "wait_any") == 0 || strcmp(arg, "poll") == 0) {
    o->inflight_poll = strcmp(arg, "poll") == 0;
    return 0;
  }
  fprintf(stderr, "shmipc-bench: --inflight-wait wants wait_any or poll\n");
  return -1;
}

const char *inflight_wait_name(const struct options *o)
{
  return o->inflight_poll ? "shmipc_slot_poll" : "shmipc_slot_wait_any";
}

static int set_systems(struct options *o, const char *arg)
{
  o->nsystems = 0;
  return parse_list(arg, "--systems", add_system, o);
}

static int set_go_echo(struct options *o, const char *arg)
{
  o->echo_arg[SYS_SHMIPC_GO] = arg;
  return 0;
}

static int set_c_echo(struct options *o, const char *arg)
{
  o->echo_arg[SYS_SHMIPC_C] = arg;
  return 0;
}

static int set_stream_depth(struct options *o, const char *arg)
{
  return parse_count(arg, "stream-depth", 1, 64, &o->stream_depth);
}

static int set_stream_slot(struct options *o, const char *arg)
{
  size_t v;
  if (parse_size(arg, &v) != 0 || v < 64 || v > (64u << 20)) {
    fprintf(stderr, "shmipc-bench: --stream-slot wants 64..64M bytes\n");
    return -1;
  }
  o->stream_slot_bytes = (unsigned)v;
  return 0;
}

static int set_pin(struct options *o, const char *arg)
{
  (void)arg;
  o->pin = 1;
  return 0;
}

static int set_parts(struct options *o, const char *arg)
{
  o->parts = 0;
  return parse_list(arg, "--parts", add_part, o);
}

/* Every option: its name, its argument's name in the usage (NULL for a
 * flag), its help (a second line indented to the help column), and the
 * function that takes it. */
static const struct {
  const char *name, *arg, *help;
  int (*set)(struct options *o, const char *arg);
} option_table[] = {
    {"quick", NULL,
     "short run (threads 1,4; payloads 64,1024; in flight 4;\n"
     "                     ~30 s)",
     set_quick},
    {"json", NULL, "print one JSON document on stdout", set_json},
    {"rounds", "N", "interleaved rounds (default 5, quick 3)", set_rounds},
    {"seconds", "S", "seconds per cell per round (default 0.4, quick 0.2)",
     set_seconds},
    {"threads", "LIST", "e.g. 1,2,4,8 (default; quick 1,4)", set_threads},
    {"inflight", "LIST",
     "calls in flight from one host thread, beside as many\n"
     "                     threads (default 1,2,4,8; quick 4)",
     set_inflight},
    {"inflight-wait", "W",
     "the in-flight thread waits by wait_any (default:\n"
     "                     shmipc_slot_wait_any) or poll (shmipc_slot_poll in\n"
     "                     a busy loop)",
     set_inflight_wait},
    {"payloads", "LIST",
     "bytes each way, k = KiB, <= 64k (default 64,1024,65536; quick "
     "64,1024)",
     set_payloads},
    {"systems", "LIST",
     "of spin,spin-yield,futex,unix,pipe,shmipc-go,shmipc-c (default all)",
     set_systems},
    {"go-echo", "PATH", "Go echo guest (default " SHMIPC_BENCH_GO_ECHO ")",
     set_go_echo},
    {"c-echo", "PATH", "C echo guest (default " SHMIPC_BENCH_C_ECHO ")",
     set_c_echo},
    {"stream-depth", "K", "stream chunks in flight (default 4)",
     set_stream_depth},
    {"stream-slot", "B", "stream slot request capacity, k = KiB (default 256k)",
     set_stream_slot},
    {"parts", "LIST",
     "of cells,sleep,idle,stream,answer,inflight (default\n"
     "                     all; the JSON then lacks what was left out)",
     set_parts},
    {"pin", NULL,
     "each client/server pair on two fixed CPUs: pair i's\n"
     "                     client on CPU 2i, server on 2i+1, modulo the CPUs\n"
     "                     allowed (docs/BENCHMARKS.md)",
     set_pin},
};
#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))
/* getopt_long's value for option_table[i] is OPTION_BASE + i. */
#define OPTION_BASE 256

static void usage(FILE *f)
{
  char left[32];
  fprintf(f, "usage: shmipc-bench [options]\n");
  for (unsigned i = 0; i < OPTION_COUNT; i++) {
    snprintf(left, sizeof(left), "--%s%s%s", option_table[i].name,
             option_table[i].arg ? " " : "",
             option_table[i].arg ? option_table[i].arg : "");
    fprintf(f, "  %-19s%s\n", left, option_table[i].help);
  }
  fprintf(f, "  %-19s%s\n", "-h, --help", "this text");
}

/* What the options left unset: the full or the quick run's values. */
static void apply_defaults(struct options *o)
{
  if (!o->rounds)
    o->rounds = o->quick ? 3 : 5;
  if (o->seconds == 0)
    o->seconds = o->quick ? 0.2 : 0.4;
  if (!o->nthreads) {
    static const unsigned full[] = {1, 2, 4, 8}, quick[] = {1, 4};
    const unsigned *t = o->quick ? quick : full;
    o->nthreads = o->quick ? 2 : 4;
    memcpy(o->threads, t, o->nthreads * sizeof(*t));
  }
  if (!o->ninflight) {
    static const unsigned full[] = {1, 2, 4, 8}, quick[] = {4};
    const unsigned *k = o->quick ? quick : full;
    o->ninflight = o->quick ? 1 : 4;
    memcpy(o->inflight, k, o->ninflight * sizeof(*k));
  }
  if (!o->npayloads) {
    static const size_t full[] = {64, 1024, 65536}, quick[] = {64, 1024};
    const size_t *p = o->quick ? quick : full;
    o->npayloads = o->quick ? 2 : 3;
    memcpy(o->payloads, p, o->npayloads * sizeof(*p));
  }
  if (!o->nsystems)
    for (int s = 0; s < SYS_COUNT; s++)
      o->systems[o->nsystems++] = s;
  if (!o->parts)
    o->parts = PART_ALL;
  o->sleep_calls = o->quick ? 100 : 200;
  o->stream_bytes = (size_t)(o->quick ? 64 : 256) * MIB;
  o->stream_reps = o->quick ? 3 : 5;
  if (!o->stream_depth)
    o->stream_depth = 4;
  if (!o->stream_slot_bytes)
    o->stream_slot_bytes = 256 * 1024;
  o->stream_slots = o->stream_depth;
}

/* The selected library systems' echo guests as executable paths. */
static int resolve_guests(struct options *o)
{
  for (int s = SYS_SHMIPC_GO; s < SYS_COUNT; s++) {
    if (!selected(o, s))
      continue;
    if (resolve_exe(o->echo_arg[s], o->echo_path[s], sizeof(o->echo_path[s])) !=
        0) {
      fprintf(stderr,
              "shmipc-bench: error: %s: echo guest '%s' not found or not "
              "executable (give %s PATH, or leave %s out of --systems)\n",
              system_name(s), o->echo_arg[s],
              s == SYS_SHMIPC_GO ? "--go-echo" : "--c-echo", system_name(s));
      return -2;
    }
  }
  return 0;
}

int parse_options(int argc, char **argv, struct options *o)
{
  struct option longopts[OPTION_COUNT + 2];
  for (unsigned i = 0; i < OPTION_COUNT; i++)
    longopts[i] =
        (struct option){option_table[i].name,
                        option_table[i].arg ? required_argument : no_argument,
                        NULL, OPTION_BASE + (int)i};
  longopts[OPTION_COUNT] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[OPTION_COUNT + 1] = (struct option){NULL, 0, NULL, 0};

  memset(o, 0, sizeof(*o));
  o->echo_arg[SYS_SHMIPC_GO] = SHMIPC_BENCH_GO_ECHO;
  o->echo_arg[SYS_SHMIPC_C] = SHMIPC_BENCH_C_ECHO;
  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (c >= OPTION_BASE && c < OPTION_BASE + (int)OPTION_COUNT) {
      if (option_table[c - OPTION_BASE].set(o, optarg) != 0)
        return -1;
    } else if (c == 'h') {
      usage(stdout);
      exit(0);
    } else {
      usage(stderr);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "shmipc-bench: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  apply_defaults(o);
  if (o->pin && bench_pin_init(&o->pin_map) != 0) {
    fprintf(stderr, "shmipc-bench: --pin: sched_getaffinity: %s\n",
            strerror(errno));
    return -1;
  }
  return resolve_guests(o);
}
