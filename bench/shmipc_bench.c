/* SPDX-License-Identifier: MIT */
/*
 * shmipc-bench: libshmipc against the baselines it must be judged by.
 *
 * Every round runs, for each (threads, payload) pair, every selected system
 * back to back (the order rotates from round to round), so the ratio of a
 * library cell to the `spin` cell of the same round compares two runs made
 * in the same phase of a noisy (virtualised) machine. Ratios are reported
 * as the median over rounds of those same-round ratios, and every other
 * figure of a cell as the median over rounds of its per-round value (not a
 * histogram merged over rounds, which would weight the fast, undisturbed
 * rounds by their larger number of round trips).
 *
 * Output: a table on stdout, or with --json one JSON document and nothing
 * else on stdout. Progress and errors go to stderr. Exit status: 0 when
 * everything ran, 1 when any measurement failed, 2 on a usage error or a
 * missing echo guest binary.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "baselines.h"
#include "bench.h"
#include "bench_shmipc.h"
#include "median.h"
#include "hist.h"

#ifndef SHMIPC_BENCH_GO_ECHO
#define SHMIPC_BENCH_GO_ECHO "shmipc-echo"
#endif
#ifndef SHMIPC_BENCH_C_ECHO
#define SHMIPC_BENCH_C_ECHO "shmipc-echo-c"
#endif

#define MAX_LIST 16
#define MAX_ROUNDS 1000
#define MAX_ERRORS 64
#define MAX_FAILURES_PER_SYSTEM 3
#define SLEEP_INTERVAL_NS INT64_C(1000000)
#define SLEEP_PAYLOAD 64
#define IDLE_SECONDS 2.0
#define MIB (1024u * 1024u)

/* Baselines first, in enum baseline_kind order, then the library. */
enum system {
  SYS_SPIN = BASELINE_SPIN,
  SYS_SPIN_YIELD = BASELINE_SPIN_YIELD,
  SYS_FUTEX = BASELINE_FUTEX,
  SYS_UNIX = BASELINE_UNIX,
  SYS_PIPE = BASELINE_PIPE,
  SYS_SHMIPC_GO = BASELINE_COUNT,
  SYS_SHMIPC_C,
  SYS_COUNT
};

static const char *system_name(int s)
{
  if (s < BASELINE_COUNT)
    return baseline_name((enum baseline_kind)s);
  return s == SYS_SHMIPC_GO ? "shmipc-go" : "shmipc-c";
}

static int system_from_name(const char *name)
{
  for (int s = 0; s < SYS_COUNT; s++)
    if (strcmp(name, system_name(s)) == 0)
      return s;
  return -1;
}

struct options {
  int quick, json;
  unsigned rounds;
  double seconds;
  unsigned threads[MAX_LIST], nthreads;
  size_t payloads[MAX_LIST];
  unsigned npayloads;
  int systems[SYS_COUNT];
  unsigned nsystems;
  const char *echo_arg[SYS_COUNT]; /* as given */
  char echo_path[SYS_COUNT][4096]; /* resolved */
  unsigned sleep_calls;
  size_t stream_bytes;
  unsigned stream_depth, stream_slots, stream_slot_bytes, stream_reps;
  unsigned parts; /* PART_* bits */
};

/* The parts of a run (--parts); all by default. */
enum { PART_CELLS = 1, PART_SLEEP = 2, PART_IDLE = 4, PART_STREAM = 8,
       PART_ALL = 15 };

/* Per-round figures of a cell; each is reported as its median over the
 * rounds, like the ratios, so one disturbed round moves nothing. */
enum metric {
  M_OPS_PER_SEC,
  M_MEAN,
  M_P50,
  M_P99,
  M_P999,
  M_CPU_HOST, /* CPU seconds per round trip */
  M_CPU_GUEST,
  M_COUNT
};

/* One (system, threads, payload) cell over all rounds. */
struct cell {
  int sys;
  unsigned threads;
  size_t payload;
  uint64_t ops; /* round trips measured, all rounds */
  unsigned rounds_ok;
  double *m[M_COUNT]; /* [metric][round], NAN when the round failed */
  char error[300];
};

struct sleep_result {
  int sys;
  int ran, ok;
  uint64_t calls, p50, p99; /* p50, p99 over all rounds' calls */
  double ratio;             /* median over rounds of p50 / futex p50 */
};

static struct {
  char *msg[MAX_ERRORS];
  unsigned n;
} errors;

static int system_failures[SYS_COUNT];

static void add_error(const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "shmipc-bench: error: %s\n", buf);
  if (errors.n < MAX_ERRORS)
    errors.msg[errors.n++] = strdup(buf);
}

/* ------------------------------------------------------------------ */
/* options */

static void usage(FILE *f)
{
  fprintf(f,
          "usage: shmipc-bench [options]\n"
          "  --quick            short run (threads 1,4; payloads 64,1024; "
          "~30 s)\n"
          "  --json             print one JSON document on stdout\n"
          "  --rounds N         interleaved rounds (default 5, quick 3)\n"
          "  --seconds S        seconds per cell per round (default 0.4, "
          "quick 0.2)\n"
          "  --threads LIST     e.g. 1,2,4,8 (default; quick 1,4)\n"
          "  --payloads LIST    bytes each way, k = KiB, <= 64k "
          "(default 64,1024,65536; quick 64,1024)\n"
          "  --systems LIST     of spin,spin-yield,futex,unix,pipe,"
          "shmipc-go,shmipc-c (default all)\n"
          "  --go-echo PATH     Go echo guest (default %s)\n"
          "  --c-echo PATH      C echo guest (default %s)\n"
          "  --stream-depth K   stream chunks in flight (default 4)\n"
          "  --stream-slot B    stream slot request capacity, k = KiB "
          "(default 256k)\n"
          "  --parts LIST       of cells,sleep,idle,stream (default all; the\n"
          "                     JSON then lacks what was left out)\n"
          "  -h, --help         this text\n",
          SHMIPC_BENCH_GO_ECHO, SHMIPC_BENCH_C_ECHO);
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
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
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

static int add_part(struct options *o, const char *t)
{
  static const char *const names[] = {"cells", "sleep", "idle", "stream"};
  for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(t, names[i]) == 0) {
      o->parts |= 1u << i;
      return 0;
    }
  return -1;
}

static int selected(const struct options *o, int s)
{
  for (unsigned i = 0; i < o->nsystems; i++)
    if (o->systems[i] == s)
      return 1;
  return 0;
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
  for (char *d = strtok_r(copy, ":", &save); d && copy;
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

static int parse_options(int argc, char **argv, struct options *o)
{
  enum { O_QUICK = 256, O_JSON, O_ROUNDS, O_SECONDS, O_THREADS, O_PAYLOADS,
         O_SYSTEMS, O_GO_ECHO, O_C_ECHO, O_STREAM_DEPTH, O_STREAM_SLOT, O_PARTS };
  static const struct option longopts[] = {
      {"quick", no_argument, NULL, O_QUICK},
      {"json", no_argument, NULL, O_JSON},
      {"rounds", required_argument, NULL, O_ROUNDS},
      {"seconds", required_argument, NULL, O_SECONDS},
      {"threads", required_argument, NULL, O_THREADS},
      {"payloads", required_argument, NULL, O_PAYLOADS},
      {"systems", required_argument, NULL, O_SYSTEMS},
      {"go-echo", required_argument, NULL, O_GO_ECHO},
      {"c-echo", required_argument, NULL, O_C_ECHO},
      {"stream-depth", required_argument, NULL, O_STREAM_DEPTH},
      {"stream-slot", required_argument, NULL, O_STREAM_SLOT},
      {"parts", required_argument, NULL, O_PARTS},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof(*o));
  o->echo_arg[SYS_SHMIPC_GO] = SHMIPC_BENCH_GO_ECHO;
  o->echo_arg[SYS_SHMIPC_C] = SHMIPC_BENCH_C_ECHO;
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case O_QUICK:
      o->quick = 1;
      break;
    case O_JSON:
      o->json = 1;
      break;
    case O_ROUNDS: {
      errno = 0;
      unsigned long v = strtoul(optarg, &end, 10);
      if (errno || *end || v < 1 || v > MAX_ROUNDS) {
        fprintf(stderr, "shmipc-bench: --rounds wants 1..1000\n");
        return -1;
      }
      o->rounds = (unsigned)v;
      break;
    }
    case O_SECONDS:
      errno = 0;
      o->seconds = strtod(optarg, &end);
      if (errno || *end || !(o->seconds >= 0.001 && o->seconds <= 3600)) {
        fprintf(stderr, "shmipc-bench: --seconds wants 0.001..3600\n");
        return -1;
      }
      break;
    case O_THREADS:
      o->nthreads = 0;
      if (parse_list(optarg, "--threads (1..256)", add_thread, o) != 0)
        return -1;
      break;
    case O_PAYLOADS:
      o->npayloads = 0;
      if (parse_list(optarg, "--payloads (1..65536)", add_payload, o) != 0)
        return -1;
      break;
    case O_SYSTEMS:
      o->nsystems = 0;
      if (parse_list(optarg, "--systems", add_system, o) != 0)
        return -1;
      break;
    case O_GO_ECHO:
      o->echo_arg[SYS_SHMIPC_GO] = optarg;
      break;
    case O_C_ECHO:
      o->echo_arg[SYS_SHMIPC_C] = optarg;
      break;
    case O_STREAM_DEPTH: {
      errno = 0;
      unsigned long v = strtoul(optarg, &end, 10);
      if (errno || *end || v < 1 || v > 64) {
        fprintf(stderr, "shmipc-bench: --stream-depth wants 1..64\n");
        return -1;
      }
      o->stream_depth = (unsigned)v;
      break;
    }
    case O_STREAM_SLOT: {
      size_t v;
      if (parse_size(optarg, &v) != 0 || v < 64 || v > (64u << 20)) {
        fprintf(stderr, "shmipc-bench: --stream-slot wants 64..64M bytes\n");
        return -1;
      }
      o->stream_slot_bytes = (unsigned)v;
      break;
    }
    case O_PARTS:
      o->parts = 0;
      if (parse_list(optarg, "--parts", add_part, o) != 0)
        return -1;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      usage(stderr);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "shmipc-bench: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
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

/* ------------------------------------------------------------------ */
/* running */

static int run_system(const struct options *o, int sys,
                      const struct bench_params *p, struct bench_result *r)
{
  r->error[0] = '\0';
  hist_reset(r->hist);
  if (sys < BASELINE_COUNT)
    return baseline_run((enum baseline_kind)sys, p, r);
  return shmipc_cell_run(o->echo_path[sys], p, r);
}

static void run_cell(const struct options *o, struct cell *c, unsigned round,
                     struct bench_result *r)
{
  if (system_failures[c->sys] >= MAX_FAILURES_PER_SYSTEM) {
    if (!c->error[0])
      snprintf(c->error, sizeof(c->error),
               "skipped: %s failed %d times already", system_name(c->sys),
               MAX_FAILURES_PER_SYSTEM);
    return;
  }
  struct bench_params p = {.threads = c->threads,
                           .payload = c->payload,
                           .seconds = o->seconds};
  if (run_system(o, c->sys, &p, r) != 0 || r->ops == 0 || r->wall_s <= 0) {
    if (!r->error[0])
      snprintf(r->error, sizeof(r->error), "no round trip completed");
    system_failures[c->sys]++;
    add_error("%s threads=%u payload=%zu round %u: %s", system_name(c->sys),
              c->threads, c->payload, round + 1, r->error);
    if (!c->error[0])
      snprintf(c->error, sizeof(c->error), "round %u: %s", round + 1,
               r->error);
    return;
  }
  double ops = (double)r->ops;
  c->m[M_OPS_PER_SEC][round] = ops / r->wall_s;
  c->m[M_MEAN][round] = hist_mean(r->hist);
  c->m[M_P50][round] = (double)hist_percentile(r->hist, 50.0);
  c->m[M_P99][round] = (double)hist_percentile(r->hist, 99.0);
  c->m[M_P999][round] = (double)hist_percentile(r->hist, 99.9);
  c->m[M_CPU_HOST][round] = r->cpu_host_s / ops;
  c->m[M_CPU_GUEST][round] = r->cpu_guest_s >= 0 ? r->cpu_guest_s / ops : NAN;
  c->ops += r->ops;
  c->rounds_ok++;
}


/* Median over rounds of this cell's metric divided by @p ref's in the same
 * round. */
static double same_round_ratio(const struct cell *c, const struct cell *ref,
                               unsigned rounds, int ops)
{
  if (!ref)
    return NAN;
  double v[MAX_ROUNDS];
  for (unsigned r = 0; r < rounds; r++) {
    enum metric k = ops ? M_OPS_PER_SEC : M_P50;
    double a = c->m[k][r], b = ref->m[k][r];
    v[r] = (isfinite(a) && isfinite(b) && b > 0) ? a / b : NAN;
  }
  return bench_median(v, rounds);
}

static double memcpy_bandwidth(size_t bytes, char *err, size_t errlen)
{
  unsigned char *src = malloc(bytes), *dst = malloc(bytes);
  if (!src || !dst) {
    free(src);
    free(dst);
    snprintf(err, errlen, "cannot allocate 2 x %zu bytes", bytes);
    return NAN;
  }
  /* Touch every page first: the copies below measure copying, not faults. */
  memset(src, 0x5a, bytes);
  memset(dst, 0, bytes);
  enum { REPS = 5 };
  double rate[REPS];
  volatile unsigned char sink = 0;
  memcpy(dst, src, bytes);
  for (int i = 0; i < REPS; i++) {
    src[(size_t)i * 4099 % bytes] = (unsigned char)i;
    int64_t t0 = bench_now_ns();
    memcpy(dst, src, bytes);
    int64_t t1 = bench_now_ns();
    sink ^= dst[(size_t)i * 4099 % bytes];
    rate[i] = (double)bytes * (double)BENCH_NS_PER_S / (double)(t1 - t0);
  }
  (void)sink;
  free(src);
  free(dst);
  return bench_median(rate, REPS);
}

/* ------------------------------------------------------------------ */
/* machine facts */

struct machine {
  long nproc, nproc_conf;
  char kernel[160], arch[80], cpu_model[128], clocksource[64];
  char compiler[128], lib_version[96];
  int hypervisor;
  double clock_overhead_ns;
};

static void read_first_line(const char *path, char *out, size_t len)
{
  FILE *f = fopen(path, "re");
  snprintf(out, len, "unknown");
  if (!f)
    return;
  if (fgets(out, (int)len, f))
    out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

static void gather_machine(struct machine *m)
{
  struct utsname u;
  memset(m, 0, sizeof(*m));
  m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
  m->nproc_conf = sysconf(_SC_NPROCESSORS_CONF);
  if (uname(&u) == 0) {
    snprintf(m->kernel, sizeof(m->kernel), "%s %s", u.sysname, u.release);
    snprintf(m->arch, sizeof(m->arch), "%s", u.machine);
  }
  snprintf(m->cpu_model, sizeof(m->cpu_model), "unknown");
  FILE *f = fopen("/proc/cpuinfo", "re");
  if (f) {
    char line[1024];
    int have_model = 0;
    while (fgets(line, sizeof(line), f)) {
      char *colon = strchr(line, ':');
      if (!colon)
        continue;
      if (!have_model && (strncmp(line, "model name", 10) == 0 ||
                          strncmp(line, "Model", 5) == 0)) {
        char *v = colon + 1;
        v += strspn(v, " \t");
        v[strcspn(v, "\n")] = '\0';
        snprintf(m->cpu_model, sizeof(m->cpu_model), "%s", v);
        have_model = 1;
      }
      if (strncmp(line, "flags", 5) == 0 && strstr(colon, " hypervisor"))
        m->hypervisor = 1;
    }
    fclose(f);
  }
  read_first_line(
      "/sys/devices/system/clocksource/clocksource0/current_clocksource",
      m->clocksource, sizeof(m->clocksource));
#if defined(__clang__)
  snprintf(m->compiler, sizeof(m->compiler), "clang %s", __clang_version__);
#elif defined(__GNUC__)
  snprintf(m->compiler, sizeof(m->compiler), "gcc %s", __VERSION__);
#else
  snprintf(m->compiler, sizeof(m->compiler), "unknown");
#endif
  shmipc_bench_version(m->lib_version, sizeof(m->lib_version));
  m->clock_overhead_ns = bench_clock_overhead_ns();
}

/* ------------------------------------------------------------------ */
/* JSON */

static void json_str(const char *s)
{
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

static void json_num(double v, const char *fmt)
{
  if (isfinite(v))
    printf(fmt, v);
  else
    fputs("null", stdout);
}

struct report {
  const struct options *o;
  const struct machine *m;
  struct cell *cells;
  unsigned ncells;
  double memcpy_bps;
  struct stream_result stream[SYS_COUNT]; /* shmipc-go and shmipc-c */
  int stream_ran[SYS_COUNT];
  int idle_ran;
  double idle_host, idle_guest;
  struct sleep_result sleep[3];
  unsigned nsleep;
};

struct cell_stats {
  double ops_per_sec, mean, p50, p99, p999, ratio_spin, ratio_yield;
  double cpu_host, cpu_guest;
};

static struct cell *find_cell(const struct report *rp, int sys,
                              unsigned threads, size_t payload)
{
  for (unsigned i = 0; i < rp->ncells; i++) {
    struct cell *c = &rp->cells[i];
    if (c->sys == sys && c->threads == threads && c->payload == payload)
      return c;
  }
  return NULL;
}

static void cell_stats(const struct report *rp, const struct cell *c,
                       struct cell_stats *s)
{
  unsigned rounds = rp->o->rounds;
  s->ops_per_sec = bench_median(c->m[M_OPS_PER_SEC], rounds);
  s->mean = bench_median(c->m[M_MEAN], rounds);
  s->p50 = bench_median(c->m[M_P50], rounds);
  s->p99 = bench_median(c->m[M_P99], rounds);
  s->p999 = bench_median(c->m[M_P999], rounds);
  s->ratio_spin = same_round_ratio(
      c, find_cell(rp, SYS_SPIN, c->threads, c->payload), rounds, 0);
  s->ratio_yield = same_round_ratio(
      c, find_cell(rp, SYS_SPIN_YIELD, c->threads, c->payload), rounds, 1);
  s->cpu_host = bench_median(c->m[M_CPU_HOST], rounds);
  s->cpu_guest = bench_median(c->m[M_CPU_GUEST], rounds);
}

static void print_json(const struct report *rp)
{
  const struct options *o = rp->o;
  unsigned rounds = o->rounds;
  const struct machine *m = rp->m;
  printf("{\n  \"machine\": {\"nproc\": %ld, \"nproc_configured\": %ld, "
         "\"kernel\": ",
         m->nproc, m->nproc_conf);
  json_str(m->kernel);
  printf(", \"arch\": ");
  json_str(m->arch);
  printf(", \"cpu_model\": ");
  json_str(m->cpu_model);
  printf(", \"hypervisor\": %s, \"clocksource\": ",
         m->hypervisor ? "true" : "false");
  json_str(m->clocksource);
  printf(", \"clock_overhead_ns\": %.1f, \"compiler\": ", m->clock_overhead_ns);
  json_str(m->compiler);
  printf(", \"libshmipc\": ");
  json_str(m->lib_version);
  printf("},\n  \"config\": {\"quick\": %s, \"rounds\": %u, "
         "\"seconds_per_cell\": %g, \"timer\": \"clock_gettime(CLOCK_MONOTONIC)"
         " pair per round trip\", \"aggregation\": \"median over rounds\", "
         "\"threads\": [",
         o->quick ? "true" : "false", o->rounds, o->seconds);
  for (unsigned i = 0; i < o->nthreads; i++)
    printf("%s%u", i ? ", " : "", o->threads[i]);
  printf("], \"payloads\": [");
  for (unsigned i = 0; i < o->npayloads; i++)
    printf("%s%zu", i ? ", " : "", o->payloads[i]);
  printf("], \"systems\": [");
  for (unsigned i = 0; i < o->nsystems; i++) {
    printf("%s", i ? ", " : "");
    json_str(system_name(o->systems[i]));
  }
  printf("]},\n  \"results\": [");
  for (unsigned i = 0; i < rp->ncells; i++) {
    const struct cell *c = &rp->cells[i];
    struct cell_stats s;
    cell_stats(rp, c, &s);
    printf("%s\n    {\"system\": ", i ? "," : "");
    json_str(system_name(c->sys));
    printf(", \"threads\": %u, \"payload\": %zu, \"rounds_ok\": %u, "
           "\"ops\": %llu, \"ops_per_sec\": ",
           c->threads, c->payload, c->rounds_ok, (unsigned long long)c->ops);
    json_num(s.ops_per_sec, "%.1f");
    printf(", \"rtt_ns\": {\"mean\": ");
    json_num(s.mean, "%.1f");
    printf(", \"p50\": ");
    json_num(s.p50, "%.0f");
    printf(", \"p99\": ");
    json_num(s.p99, "%.0f");
    printf(", \"p999\": ");
    json_num(s.p999, "%.0f");
    printf("}, \"ratio_p50_to_spin\": ");
    json_num(s.ratio_spin, "%.6g");
    printf(", \"ratio_ops_to_spin_yield\": ");
    json_num(s.ratio_yield, "%.6g");
    printf(", \"cpu_s_per_op\": {\"host\": ");
    json_num(s.cpu_host, "%.4e");
    printf(", \"guest\": ");
    json_num(s.cpu_guest, "%.4e");
    printf("}, \"per_round\": {\"p50_ns\": [");
    for (unsigned k = 0; k < rounds; k++) {
      printf("%s", k ? ", " : "");
      json_num(c->m[M_P50][k], "%.0f");
    }
    printf("], \"ops_per_sec\": [");
    for (unsigned k = 0; k < rounds; k++) {
      printf("%s", k ? ", " : "");
      json_num(c->m[M_OPS_PER_SEC][k], "%.1f");
    }
    printf("]}");
    if (c->error[0]) {
      printf(", \"error\": ");
      json_str(c->error);
    }
    printf("}");
  }
  printf("\n  ],\n  \"stream\": [{\"system\": \"memcpy\", \"bytes\": %zu, "
         "\"bytes_per_sec\": ",
         o->stream_bytes);
  json_num(rp->memcpy_bps, "%.0f");
  printf("}");
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!rp->stream_ran[sy])
      continue;
    printf(", {\"system\": \"%s\", \"bytes\": %zu, \"bytes_per_sec\": ",
           system_name(sy), o->stream_bytes);
    json_num(rp->stream[sy].bps, "%.0f");
    printf(", \"paired_memcpy_bytes_per_sec\": ");
    json_num(rp->stream[sy].memcpy_bps, "%.0f");
    printf(", \"ratio_to_memcpy\": ");
    json_num(rp->stream[sy].ratio, "%.3f");
    printf(", \"depth\": %u, \"slot_bytes\": %u}", o->stream_depth,
           o->stream_slot_bytes);
  }
  printf("],\n");
  printf("  \"idle_cpu_percent\": ");
  if (rp->idle_ran) {
    printf("{\"host\": ");
    json_num(rp->idle_host, "%.3f");
    printf(", \"guest\": ");
    json_num(rp->idle_guest, "%.3f");
    printf(", \"seconds\": %.1f}", IDLE_SECONDS);
  } else {
    printf("null");
  }
  printf(",\n  \"sleep_path\": [");
  for (unsigned i = 0; i < rp->nsleep; i++) {
    const struct sleep_result *sr = &rp->sleep[i];
    printf("%s\n    {\"system\": ", i ? "," : "");
    json_str(system_name(sr->sys));
    printf(", \"calls\": %llu, \"interval_ns\": %lld, \"rtt_ns\": {\"p50\": ",
           (unsigned long long)sr->calls, (long long)SLEEP_INTERVAL_NS);
    json_num(sr->ok ? (double)sr->p50 : NAN, "%.0f");
    printf(", \"p99\": ");
    json_num(sr->ok ? (double)sr->p99 : NAN, "%.0f");
    printf("}, \"ratio_p50_to_futex\": ");
    json_num(sr->ratio, "%.3f");
    printf("}");
  }
  printf("\n  ],\n  \"errors\": [");
  for (unsigned i = 0; i < errors.n; i++) {
    printf("%s\n    ", i ? "," : "");
    json_str(errors.msg[i]);
  }
  printf("%s]\n}\n", errors.n ? "\n  " : "");
}

/* ------------------------------------------------------------------ */
/* table */

static const char *fmt_time(char *buf, size_t len, double ns)
{
  if (!isfinite(ns))
    snprintf(buf, len, "-");
  else if (ns < 1e3)
    snprintf(buf, len, "%.0f ns", ns);
  else if (ns < 1e6)
    snprintf(buf, len, "%.3g us", ns / 1e3);
  else if (ns < 1e9)
    snprintf(buf, len, "%.3g ms", ns / 1e6);
  else
    snprintf(buf, len, "%.3g s", ns / 1e9);
  return buf;
}

static const char *fmt_rate(char *buf, size_t len, double v)
{
  if (!isfinite(v))
    snprintf(buf, len, "-");
  else if (v >= 1e6)
    snprintf(buf, len, "%.3gM", v / 1e6);
  else if (v >= 1e3)
    snprintf(buf, len, "%.3gk", v / 1e3);
  else
    snprintf(buf, len, "%.3g", v);
  return buf;
}

static const char *fmt_ratio(char *buf, size_t len, double v)
{
  if (!isfinite(v))
    snprintf(buf, len, "-");
  else if (v < 0.1)
    snprintf(buf, len, "%.2gx", v);
  else
    snprintf(buf, len, "%.2fx", v);
  return buf;
}

static void print_table(const struct report *rp)
{
  const struct options *o = rp->o;
  const struct machine *m = rp->m;
  char a[32], b[32], c_[32], d[32], e[32], f[32], g[32], h[32], i_[32];

  printf("shmipc-bench%s: %u rounds x %g s per cell, systems interleaved in "
         "each round\n",
         o->quick ? " --quick" : "", o->rounds, o->seconds);
  printf("machine: %ld CPUs, %s, %s%s, %s, clocksource %s, "
         "clock_gettime %.0f ns\n",
         m->nproc, m->arch, m->cpu_model,
         m->hypervisor ? " (virtualised)" : "", m->kernel, m->clocksource,
         m->clock_overhead_ns);
  printf("libshmipc %s; %s\n\n", m->lib_version, m->compiler);

  printf("Round trips: T client threads, P bytes each way. Every figure is "
         "the median over\nrounds of that round's value; ratios are same-round "
         "ratios (p50 / spin p50,\nops/s / spin-yield ops/s). CPU per round "
         "trip.\n\n");
  printf("%-11s %3s %7s %9s %9s %9s %9s %9s %9s %14s %11s %11s\n",
         "system", "T", "P", "ops/s", "mean", "p50", "p99", "p99.9",
         "p50/spin", "ops/spin-yield", "host cpu/op", "guest cpu/op");
  for (unsigned ti = 0; (o->parts & PART_CELLS) && ti < o->nthreads; ti++) {
    for (unsigned pi = 0; pi < o->npayloads; pi++) {
      for (unsigned si = 0; si < o->nsystems; si++) {
        const struct cell *c = find_cell(rp, o->systems[si], o->threads[ti],
                                         o->payloads[pi]);
        struct cell_stats s;
        cell_stats(rp, c, &s);
        printf("%-11s %3u %7zu %9s %9s %9s %9s %9s %9s %14s %11s %11s",
               system_name(c->sys), c->threads, c->payload,
               fmt_rate(a, sizeof(a), s.ops_per_sec),
               fmt_time(b, sizeof(b), s.mean), fmt_time(c_, sizeof(c_), s.p50),
               fmt_time(d, sizeof(d), s.p99), fmt_time(e, sizeof(e), s.p999),
               fmt_ratio(f, sizeof(f), s.ratio_spin),
               fmt_ratio(g, sizeof(g), s.ratio_yield),
               fmt_time(h, sizeof(h), s.cpu_host * 1e9),
               fmt_time(i_, sizeof(i_), s.cpu_guest * 1e9));
        if (c->error[0])
          printf("  FAILED (%u/%u rounds ok)", c->rounds_ok, o->rounds);
        putchar('\n');
      }
      putchar('\n');
    }
  }

  if (!(o->parts & PART_SLEEP))
    goto idle;
  printf("Sleep path: 1 thread, %d B, one call every %lld ms (the server has "
         "gone to sleep),\nin rounds like the cells; p50/futex is the median "
         "over rounds of the same-round ratio\n",
         SLEEP_PAYLOAD, (long long)(SLEEP_INTERVAL_NS / 1000000));
  printf("%-11s %6s %9s %9s %11s\n", "system", "calls", "p50", "p99",
         "p50/futex");
  for (unsigned i = 0; i < rp->nsleep; i++) {
    const struct sleep_result *sr = &rp->sleep[i];
    printf("%-11s %6llu %9s %9s %11s%s\n", system_name(sr->sys),
           (unsigned long long)sr->calls,
           fmt_time(a, sizeof(a), sr->ok ? (double)sr->p50 : NAN),
           fmt_time(b, sizeof(b), sr->ok ? (double)sr->p99 : NAN),
           fmt_ratio(c_, sizeof(c_), sr->ratio), sr->ok ? "" : "  FAILED");
  }
  if (!rp->nsleep)
    printf("(no system of futex, shmipc-go, shmipc-c selected)\n");

idle:
  if (!(o->parts & PART_IDLE))
    goto stream;
  printf("\nIdle: shmipc-go host and guest connected, no calls, %.0f s right "
         "after a loaded cell\n",
         IDLE_SECONDS);
  if (rp->idle_ran)
    printf("host %.2f %% CPU, guest %.2f %% CPU (guest from "
           "/proc/<pid>/task/*/schedstat)\n",
           rp->idle_host, rp->idle_guest);
  else
    printf("not measured (shmipc-go not selected or its run failed)\n");

stream:
  if (!(o->parts & PART_STREAM))
    return;
  printf("\nStreams\n");
  printf("%-11s %9s %12s\n", "system", "bytes", "bandwidth");
  if (isfinite(rp->memcpy_bps))
    printf("%-11s %5zu MiB %7.2f GB/s\n", "memcpy", o->stream_bytes / MIB,
           rp->memcpy_bps / 1e9);
  else
    printf("%-11s %5zu MiB %12s\n", "memcpy", o->stream_bytes / MIB, "FAILED");
  for (int sy = SYS_SHMIPC_GO; sy < SYS_COUNT; sy++) {
    if (!rp->stream_ran[sy])
      continue;
    if (isfinite(rp->stream[sy].bps))
      printf("%-11s %5zu MiB %7.2f GB/s  (%.2fx the memcpy run beside it; "
             "%u in flight, %u KiB slots)\n",
             system_name(sy), o->stream_bytes / MIB, rp->stream[sy].bps / 1e9,
             rp->stream[sy].ratio, o->stream_depth,
             o->stream_slot_bytes / 1024);
    else
      printf("%-11s %5zu MiB %12s\n", system_name(sy), o->stream_bytes / MIB,
             "FAILED");
  }

  if (errors.n) {
    printf("\nErrors (%u):\n", errors.n);
    for (unsigned k = 0; k < errors.n; k++)
      printf("  %s\n", errors.msg[k]);
  }
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
  struct options o;
  int prc = parse_options(argc, argv, &o);
  if (prc != 0)
    return 2;

  shmipc_bench_install_cleanup();
  struct machine m;
  gather_machine(&m);
  int64_t t_start = bench_now_ns();

  unsigned ncells = o.nthreads * o.npayloads * o.nsystems;
  struct cell *cells = calloc(ncells, sizeof(*cells));
  struct bench_result r = {.hist = hist_create()};
  if (!cells || !r.hist) {
    fprintf(stderr, "shmipc-bench: out of memory\n");
    return 1;
  }
  for (unsigned ti = 0, k = 0; ti < o.nthreads; ti++)
    for (unsigned pi = 0; pi < o.npayloads; pi++)
      for (unsigned si = 0; si < o.nsystems; si++, k++) {
        struct cell *c = &cells[k];
        c->sys = o.systems[si];
        c->threads = o.threads[ti];
        c->payload = o.payloads[pi];
        for (int k = 0; k < M_COUNT; k++) {
          c->m[k] = malloc(o.rounds * sizeof(double));
          if (!c->m[k]) {
            fprintf(stderr, "shmipc-bench: out of memory\n");
            return 1;
          }
          for (unsigned x = 0; x < o.rounds; x++)
            c->m[k][x] = NAN;
        }
      }

  for (unsigned round = 0; (o.parts & PART_CELLS) && round < o.rounds;
       round++) {
    fprintf(stderr, "shmipc-bench: round %u/%u (%u cells)\n", round + 1,
            o.rounds, ncells);
    for (unsigned ti = 0; ti < o.nthreads; ti++)
      for (unsigned pi = 0; pi < o.npayloads; pi++)
        for (unsigned k = 0; k < o.nsystems; k++) {
          /* Rotate the order so no system always runs first or last. */
          unsigned si = (k + round) % o.nsystems;
          unsigned idx = (ti * o.npayloads + pi) * o.nsystems + si;
          run_cell(&o, &cells[idx], round, &r);
        }
  }

  struct report rp = {.o = &o, .m = &m, .cells = cells, .ncells = ncells};

  /* Sleep path: the server side has gone to sleep before every call. Like
   * the cells, in rounds with the systems interleaved (order rotating), so
   * that each ratio to futex compares one moment of the machine. */
  static const int sleepers[] = {SYS_FUTEX, SYS_SHMIPC_GO, SYS_SHMIPC_C};
  double sleep_p50[3][MAX_ROUNDS];
  struct hist *pooled[3] = {NULL, NULL, NULL};
  /* Every round makes the full number of calls: a guest just started
   * answers its first hundred or so sleeping calls slower. */
  unsigned per_round = o.sleep_calls;
  fprintf(stderr, "shmipc-bench: sleep path\n");
  for (unsigned i = 0; (o.parts & PART_SLEEP) && i < 3; i++) {
    if (!selected(&o, sleepers[i]))
      continue;
    struct sleep_result *sr = &rp.sleep[rp.nsleep++];
    sr->sys = sleepers[i];
    sr->ratio = NAN;
    pooled[i] = hist_create();
    if (!pooled[i]) {
      fprintf(stderr, "shmipc-bench: out of memory\n");
      return 1;
    }
    for (unsigned x = 0; x < o.rounds; x++)
      sleep_p50[i][x] = NAN;
  }
  for (unsigned round = 0; (o.parts & PART_SLEEP) && round < o.rounds;
       round++) {
    for (unsigned k = 0; k < 3; k++) {
      unsigned i = (k + round) % 3;
      struct sleep_result *sr = NULL;
      for (unsigned j = 0; j < rp.nsleep; j++)
        if (rp.sleep[j].sys == sleepers[i])
          sr = &rp.sleep[j];
      if (!sr)
        continue;
      if (system_failures[sr->sys] >= MAX_FAILURES_PER_SYSTEM) {
        if (round == 0)
          add_error("sleep path %s: skipped after %d failures",
                    system_name(sr->sys), MAX_FAILURES_PER_SYSTEM);
        continue;
      }
      struct bench_params p = {.threads = 1,
                               .payload = SLEEP_PAYLOAD,
                               .max_ops = per_round,
                               .interval_ns = SLEEP_INTERVAL_NS};
      sr->ran = 1;
      if (run_system(&o, sr->sys, &p, &r) == 0 && r.ops > 0) {
        sr->calls += r.ops;
        sleep_p50[i][round] = (double)hist_percentile(r.hist, 50.0);
        hist_merge(pooled[i], r.hist);
      } else {
        add_error("sleep path %s, round %u: %s", system_name(sr->sys),
                  round + 1, r.error[0] ? r.error : "no call completed");
      }
    }
  }
  for (unsigned j = 0; j < rp.nsleep; j++) {
    struct sleep_result *sr = &rp.sleep[j];
    unsigned i = sr->sys == SYS_FUTEX ? 0 : sr->sys == SYS_SHMIPC_GO ? 1 : 2;
    double ratios[MAX_ROUNDS];
    if (hist_count(pooled[i]) > 0) {
      sr->ok = 1;
      sr->p50 = hist_percentile(pooled[i], 50.0);
      sr->p99 = hist_percentile(pooled[i], 99.0);
    }
    for (unsigned x = 0; x < o.rounds; x++)
      ratios[x] = sleep_p50[i][x] / sleep_p50[0][x]; /* NaN when missing */
    if (selected(&o, SYS_FUTEX))
      sr->ratio = bench_median(ratios, o.rounds);
    hist_destroy(pooled[i]);
  }

  /* Idle: a loaded shmipc-go cell, then connected but silent. */
  if (!(o.parts & PART_IDLE)) {
    /* left out */
  } else if (selected(&o, SYS_SHMIPC_GO) &&
             system_failures[SYS_SHMIPC_GO] >= MAX_FAILURES_PER_SYSTEM) {
    add_error("idle shmipc-go: skipped after %d failures",
              MAX_FAILURES_PER_SYSTEM);
  } else if (selected(&o, SYS_SHMIPC_GO)) {
    unsigned tmax = 1;
    for (unsigned i = 0; i < o.nthreads; i++)
      if (o.threads[i] > tmax)
        tmax = o.threads[i];
    struct bench_params p = {.threads = tmax,
                             .payload = o.payloads[0],
                             .seconds = o.seconds,
                             .idle_seconds = IDLE_SECONDS};
    fprintf(stderr, "shmipc-bench: idle (%u threads loaded, then %.0f s idle)\n",
            tmax, IDLE_SECONDS);
    if (run_system(&o, SYS_SHMIPC_GO, &p, &r) == 0 &&
        r.idle_cpu_host_pct >= 0) {
      rp.idle_ran = 1;
      rp.idle_host = r.idle_cpu_host_pct;
      rp.idle_guest = r.idle_cpu_guest_pct >= 0 ? r.idle_cpu_guest_pct : NAN;
    } else {
      add_error("idle shmipc-go: %s",
                r.error[0] ? r.error : "idle phase not measured");
    }
  }

  char err[256] = "";
  rp.memcpy_bps = NAN;
  if (o.parts & PART_STREAM) {
    fprintf(stderr, "shmipc-bench: memcpy %zu MiB\n", o.stream_bytes / MIB);
    rp.memcpy_bps = memcpy_bandwidth(o.stream_bytes, err, sizeof(err));
    if (!isfinite(rp.memcpy_bps))
      add_error("memcpy stream: %s", err);
  }
  for (int sy = SYS_SHMIPC_GO; (o.parts & PART_STREAM) && sy < SYS_COUNT;
       sy++) {
    struct stream_params sp = {.bytes = o.stream_bytes,
                               .reps = o.stream_reps,
                               .depth = o.stream_depth,
                               .slots = o.stream_slots,
                               .slot_bytes = o.stream_slot_bytes};
    if (!selected(&o, sy))
      continue;
    fprintf(stderr, "shmipc-bench: stream %s %zu MiB x %u\n", system_name(sy),
            o.stream_bytes / MIB, o.stream_reps);
    rp.stream_ran[sy] = 1;
    if (shmipc_stream_cell_run(o.echo_path[sy], &sp, &rp.stream[sy], err,
                               sizeof(err)) != 0)
      add_error("stream %s: %s", system_name(sy), err);
  }

  fprintf(stderr, "shmipc-bench: done in %.1f s\n",
          (double)(bench_now_ns() - t_start) / (double)BENCH_NS_PER_S);
  if (o.json)
    print_json(&rp);
  else
    print_table(&rp);
  fflush(stdout);

  for (unsigned k = 0; k < ncells; k++) {
    for (int x = 0; x < M_COUNT; x++)
      free(cells[k].m[x]);
  }
  free(cells);
  hist_destroy(r.hist);
  int failed = errors.n > 0;
  for (unsigned k = 0; k < errors.n; k++)
    free(errors.msg[k]);
  return failed ? 1 : 0;
}
