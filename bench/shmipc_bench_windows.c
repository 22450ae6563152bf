/* SPDX-License-Identifier: MIT */
/*
 * shmipc-bench for Windows: the library against the same-run spin
 * baseline, one client thread, as shmipc_bench.c does on Linux (which
 * explains the method). The Linux benchmark's other baselines (futex, Unix
 * socket, pipe) and its CPU accounting are built on fork, futexes and
 * /proc; this edition keeps the cells that carry the headline ratio, and
 * the idle check (host and guest connected, no calls: CPU near zero):
 *
 *   spin       two processes ping-pong on a shared cache line, copying the
 *              payload each way (the hardware limit)
 *   shmipc-c   this host calling the C echo guest
 *   shmipc-go  this host calling the Go echo guest
 *
 * Every round runs each cell back to back; a cell's figure is the median
 * over rounds, and its ratios the medians of same-round ratios to spin, of
 * the median and of the mean round trip (the mean is the finer one where
 * the performance counter ticks coarsely: 100 ns under Wine).
 *
 *   shmipc-bench [--quick] [--rounds N] [--seconds S] [--payload BYTES]
 *                [--c-echo PATH] [--go-echo PATH]
 *
 * Exit status 0 when every cell ran, 1 when one failed, 2 on usage errors.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmipc/shmipc.h>

#include "hist.h"
#include "median.h"

#ifndef SHMIPC_BENCH_GO_ECHO
#define SHMIPC_BENCH_GO_ECHO "shmipc-echo.exe"
#endif
#ifndef SHMIPC_BENCH_C_ECHO
#define SHMIPC_BENCH_C_ECHO "shmipc-echo-c.exe"
#endif

#define MS INT64_C(1000000)
#define MAX_ROUNDS 64
#define MAX_PAYLOAD 4096u

enum { CELL_SPIN, CELL_C, CELL_GO, CELL_COUNT };
static const char *const cell_name[CELL_COUNT] = {"spin", "shmipc-c",
                                                  "shmipc-go"};

struct cell_result {
  uint64_t ops;
  double p50, p99, mean;
  double idle_host_pct, idle_guest_pct; /* < 0: not measured */
  double guest_cpu_per_op;              /* ns; < 0: not measured */
  char error[256];
};

/* CPU time (user + kernel) of @proc, in ns. */
static int64_t cpu_ns(HANDLE proc)
{
  FILETIME c, e, k, u;
  ULARGE_INTEGER kk, uu;

  if (!GetProcessTimes(proc, &c, &e, &k, &u))
    return -1;
  kk.LowPart = k.dwLowDateTime;
  kk.HighPart = k.dwHighDateTime;
  uu.LowPart = u.dwLowDateTime;
  uu.HighPart = u.dwHighDateTime;
  return (int64_t)(kk.QuadPart + uu.QuadPart) * 100;
}

static int64_t now_ns(void)
{
  static LARGE_INTEGER f;
  LARGE_INTEGER c;

  if (f.QuadPart == 0)
    QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return (c.QuadPart / f.QuadPart) * 1000000000 +
         (c.QuadPart % f.QuadPart) * 1000000000 / f.QuadPart;
}

/* Start @exe with @args (already quoted); 0 on success. */
static int spawn(const char *exe, const char *args, HANDLE *proc)
{
  char cmd[2048];
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;

  snprintf(cmd, sizeof cmd, "\"%s\" %s", exe, args);
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (!CreateProcessA(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
    return -1;
  CloseHandle(pi.hThread);
  *proc = pi.hProcess;
  return 0;
}

/* Wait for the child up to @ms, then kill it; its exit code or -1. */
static long reap(HANDLE proc, DWORD ms)
{
  DWORD code = (DWORD)-1;

  if (WaitForSingleObject(proc, ms) != WAIT_OBJECT_0) {
    TerminateProcess(proc, 137);
    WaitForSingleObject(proc, INFINITE);
    code = (DWORD)-1;
  } else {
    GetExitCodeProcess(proc, &code);
  }
  CloseHandle(proc);
  return (long)code;
}

static void summarize(struct hist *h, uint64_t ops, struct cell_result *r)
{
  r->ops = ops;
  r->p50 = (double)hist_percentile(h, 50);
  r->p99 = (double)hist_percentile(h, 99);
  r->mean = hist_mean(h);
}

/* --- spin baseline ------------------------------------------------- */

/* One cache line each way plus the payload areas, in a named mapping. */
struct spin_page {
  volatile LONG64 req_seq; /* client writes */
  uint8_t pad0[56];
  volatile LONG64 resp_seq; /* server writes */
  uint8_t pad1[56];
  volatile LONG stop;
  uint8_t pad2[60];
  uint8_t req[MAX_PAYLOAD];
  uint8_t resp[MAX_PAYLOAD];
};

static int spin_server(const char *name, size_t len)
{
  HANDLE m = OpenFileMappingA(FILE_MAP_READ | FILE_MAP_WRITE, FALSE, name);
  struct spin_page *p;
  LONG64 seen = 0;

  if (m == NULL)
    return 1;
  p = MapViewOfFile(m, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, sizeof *p);
  if (p == NULL)
    return 1;
  for (;;) {
    LONG64 s;
    unsigned spins = 0;
    /* acquire: pairs with the client's release of req_seq */
    while ((s = InterlockedCompareExchange64(&p->req_seq, 0, 0)) == seen) {
      if (p->stop)
        return 0;
      YieldProcessor();
      if (++spins % 4096 == 0)
        SwitchToThread(); /* fewer CPUs than spinners */
    }
    seen = s;
    memcpy(p->resp, p->req, len);
    InterlockedExchange64(&p->resp_seq, s); /* release: publishes resp */
  }
}

static void run_spin(const char *self, size_t len, double seconds,
                     struct cell_result *r)
{
  char name[96], args[160];
  struct spin_page *p;
  struct hist *h = hist_create();
  uint8_t out[MAX_PAYLOAD], in[MAX_PAYLOAD];
  HANDLE m, proc;
  uint64_t ops = 0;
  int64_t end, t0;
  LONG64 seq = 0;

  memset(r, 0, sizeof *r);
  snprintf(name, sizeof name, "Local\\shmipc-bench-spin-%lu-%lld",
           (unsigned long)GetCurrentProcessId(), (long long)now_ns());
  m = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                         sizeof *p, name);
  p = m != NULL
          ? MapViewOfFile(m, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, sizeof *p)
          : NULL;
  snprintf(args, sizeof args, "--spin-server %s %u", name, (unsigned)len);
  if (p == NULL || spawn(self, args, &proc) != 0) {
    snprintf(r->error, sizeof r->error, "spin: cannot set up (error %lu)",
             (unsigned long)GetLastError());
    goto out;
  }
  memset(out, 0x5a, sizeof out);
  end = now_ns() + (int64_t)(seconds * 1e9);
  for (int warm = 2000;; warm = warm > 0 ? warm - 1 : 0) {
    unsigned spins = 0;
    t0 = now_ns();
    out[0] = (uint8_t)seq;
    memcpy(p->req, out, len);
    InterlockedExchange64(&p->req_seq, ++seq); /* release: publishes req */
    while (InterlockedCompareExchange64(&p->resp_seq, 0, 0) != seq) {
      YieldProcessor();
      if (++spins % 4096 == 0)
        SwitchToThread();
      if (spins > (1u << 30)) {
        snprintf(r->error, sizeof r->error, "spin: server stopped answering");
        break;
      }
    }
    memcpy(in, p->resp, len);
    if (r->error[0] != '\0' || in[0] != out[0]) {
      if (r->error[0] == '\0')
        snprintf(r->error, sizeof r->error, "spin: wrong answer");
      break;
    }
    if (warm == 0) {
      hist_record(h, (uint64_t)(now_ns() - t0));
      ops++;
      if (now_ns() >= end)
        break;
    }
  }
  p->stop = 1;
  InterlockedExchange64(&p->req_seq, seq); /* the server looks at stop */
  if (reap(proc, 5000) != 0 && r->error[0] == '\0')
    snprintf(r->error, sizeof r->error, "spin: server did not end cleanly");
  summarize(h, ops, r);
out:
  if (p != NULL)
    UnmapViewOfFile(p);
  if (m != NULL)
    CloseHandle(m);
  hist_destroy(h);
}

/* --- the library ---------------------------------------------------- */

static void run_shmipc(const char *guest, size_t len, double seconds,
                       double idle_s, struct cell_result *r)
{
  static int n;
  char name[64], args[160];
  shmipc_host_config c;
  shmipc_host *host = NULL;
  struct hist *h = hist_create();
  uint8_t out[MAX_PAYLOAD], in[MAX_PAYLOAD];
  HANDLE proc = NULL;
  uint64_t ops = 0;
  int64_t end, t0;
  size_t got;
  uint32_t type;
  long code;
  int rc;

  memset(r, 0, sizeof *r);
  r->idle_host_pct = r->idle_guest_pct = -1;
  snprintf(name, sizeof name, "bench-%lu-%d",
           (unsigned long)GetCurrentProcessId(), n++);
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = 1;
  c.req_capacity = MAX_PAYLOAD;
  c.resp_capacity = MAX_PAYLOAD;
  rc = shmipc_host_create(&c, &host);
  if (rc != SHMIPC_OK) {
    snprintf(r->error, sizeof r->error, "host_create: %s", shmipc_strerror(rc));
    goto out;
  }
  snprintf(args, sizeof args, "-name %s -timeout-ms 10000", name);
  if (spawn(guest, args, &proc) != 0) {
    snprintf(r->error, sizeof r->error, "cannot start %s (error %lu)", guest,
             (unsigned long)GetLastError());
    goto out;
  }
  rc = shmipc_host_wait_guest(host, 10000 * MS);
  if (rc != SHMIPC_OK) {
    snprintf(r->error, sizeof r->error, "guest did not attach: %s",
             shmipc_strerror(rc));
    goto out;
  }
  memset(out, 0x5a, sizeof out);
  end = now_ns() + (int64_t)(seconds * 1e9);
  r->guest_cpu_per_op = -1;
  int64_t gcpu0 = -1;
  for (int warm = 2000;; warm = warm > 0 ? warm - 1 : 0) {
    if (warm == 1)
      gcpu0 = cpu_ns(proc);
    out[0] = (uint8_t)ops;
    t0 = now_ns();
    rc = shmipc_host_call(host, 150, out, len, in, sizeof in, &got, &type,
                          5000 * MS);
    if (warm == 0)
      hist_record(h, (uint64_t)(now_ns() - t0));
    if (rc != SHMIPC_OK || got != len || type != 150 || in[0] != out[0]) {
      snprintf(r->error, sizeof r->error, "call: %s, %zu of %zu bytes",
               shmipc_strerror(rc), got, len);
      break;
    }
    if (warm == 0 && (++ops, now_ns() >= end))
      break;
  }
  summarize(h, ops, r);
  if (gcpu0 >= 0 && ops > 0) {
    int64_t gcpu1 = cpu_ns(proc);
    if (gcpu1 >= gcpu0)
      r->guest_cpu_per_op = (double)(gcpu1 - gcpu0) / (double)ops;
  }
  if (idle_s > 0 && r->error[0] == '\0') {
    /* Connected, no calls: both sides must fall asleep. */
    int64_t h0 = cpu_ns(GetCurrentProcess()), g0 = cpu_ns(proc), w0 = now_ns();
    Sleep((DWORD)(idle_s * 1000));
    int64_t h1 = cpu_ns(GetCurrentProcess()), g1 = cpu_ns(proc), w1 = now_ns();
    if (h0 >= 0 && h1 >= 0)
      r->idle_host_pct = 100.0 * (double)(h1 - h0) / (double)(w1 - w0);
    if (g0 >= 0 && g1 >= 0)
      r->idle_guest_pct = 100.0 * (double)(g1 - g0) / (double)(w1 - w0);
  }
out:
  shmipc_host_destroy(host);
  if (proc != NULL && (code = reap(proc, 5000)) != 0 && r->error[0] == '\0')
    snprintf(r->error, sizeof r->error, "guest exit code %ld", code);
  hist_destroy(h);
}

/* --- main ------------------------------------------------------------ */

static void usage(const char *argv0)
{
  fprintf(stderr,
          "usage: %s [--quick] [--rounds N] [--seconds S] [--payload BYTES]\n"
          "       [--c-echo PATH] [--go-echo PATH]\n",
          argv0);
}

int main(int argc, char **argv)
{
  static struct cell_result res[MAX_ROUNDS][CELL_COUNT];
  const char *c_echo = SHMIPC_BENCH_C_ECHO, *go_echo = SHMIPC_BENCH_GO_ECHO;
  char self[MAX_PATH];
  int rounds = 5, failed = 0;
  double seconds = 0.4;
  size_t payload = 64;

  if (argc == 4 && strcmp(argv[1], "--spin-server") == 0)
    return spin_server(argv[2], (size_t)strtoul(argv[3], NULL, 10));
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      rounds = 3;
      seconds = 0.2;
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = atof(argv[++i]);
    } else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc) {
      payload = (size_t)strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--c-echo") == 0 && i + 1 < argc) {
      c_echo = argv[++i];
    } else if (strcmp(argv[i], "--go-echo") == 0 && i + 1 < argc) {
      go_echo = argv[++i];
    } else {
      usage(argv[0]);
      return 2;
    }
  }
  if (rounds < 1 || rounds > MAX_ROUNDS || seconds <= 0 || payload < 1 ||
      payload > MAX_PAYLOAD) {
    usage(argv[0]);
    return 2;
  }
  if (GetModuleFileNameA(NULL, self, sizeof self) == 0)
    return 2;
  for (int i = 0; i < 2; i++) {
    const char *g = i ? go_echo : c_echo;
    if (GetFileAttributesA(g) == INVALID_FILE_ATTRIBUTES) {
      fprintf(stderr, "shmipc-bench: echo guest %s not found\n", g);
      return 2;
    }
  }

  fprintf(stderr,
          "shmipc-bench (Windows): %d rounds of %.2f s, 1 thread, "
          "%zu B\n",
          rounds, seconds, payload);
  for (int rd = 0; rd < rounds; rd++) {
    for (int k = 0; k < CELL_COUNT; k++) {
      int c = (k + rd) % CELL_COUNT; /* the order rotates */
      if (c == CELL_SPIN)
        run_spin(self, payload, seconds, &res[rd][c]);
      else /* the idle check once, in the last round */
        run_shmipc(c == CELL_C ? c_echo : go_echo, payload, seconds,
                   rd == rounds - 1 ? 1.0 : 0, &res[rd][c]);
      if (res[rd][c].error[0] != '\0') {
        fprintf(stderr, "shmipc-bench: round %d, %s: %s\n", rd, cell_name[c],
                res[rd][c].error);
        failed = 1;
      }
    }
  }
  printf("%-10s %10s %10s %10s %12s %12s %12s %13s\n", "system", "median ns",
         "p99 ns", "mean ns", "x spin p50", "x spin mean", "round trips",
         "guest cpu/op");
  for (int c = 0; c < CELL_COUNT; c++) {
    const unsigned nr = (unsigned)rounds;
    double p50[MAX_ROUNDS], p99[MAX_ROUNDS], mean[MAX_ROUNDS];
    double ratio[MAX_ROUNDS], mratio[MAX_ROUNDS], gcpu[MAX_ROUNDS];
    double ops = 0;
    for (int rd = 0; rd < rounds; rd++) {
      p50[rd] = res[rd][c].p50;
      p99[rd] = res[rd][c].p99;
      mean[rd] = res[rd][c].mean;
      ratio[rd] = res[rd][CELL_SPIN].p50 > 0
                      ? res[rd][c].p50 / res[rd][CELL_SPIN].p50
                      : 0;
      mratio[rd] = res[rd][CELL_SPIN].mean > 0
                       ? res[rd][c].mean / res[rd][CELL_SPIN].mean
                       : 0;
      ops += (double)res[rd][c].ops;
      gcpu[rd] = c == CELL_SPIN ? -1 : res[rd][c].guest_cpu_per_op;
    }
    printf("%-10s %10.0f %10.0f %10.0f %12.2f %12.2f %12.0f", cell_name[c],
           bench_median(p50, nr), bench_median(p99, nr), bench_median(mean, nr),
           bench_median(ratio, nr), bench_median(mratio, nr), ops);
    if (c == CELL_SPIN)
      printf(" %13s\n", "-");
    else
      printf(" %10.0f ns\n", bench_median(gcpu, nr));
  }
  printf("\nIdle (connected, no calls, 1 s after the last round's load):\n");
  for (int c = CELL_C; c < CELL_COUNT; c++)
    printf("%-10s host %.2f %% CPU, guest %.2f %% CPU\n", cell_name[c],
           res[rounds - 1][c].idle_host_pct, res[rounds - 1][c].idle_guest_pct);
  return failed;
}
