/* SPDX-License-Identifier: MIT */
/* The facts about the machine that shmipc-bench prints with its results,
 * and how busy it was around the run. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "run.h"

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

void gather_machine(struct machine *m)
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

/* The 1-minute load average, NAN if unknown. */
static double loadavg(void)
{
  FILE *f = fopen("/proc/loadavg", "re");
  double v = NAN;
  if (!f)
    return NAN;
  if (fscanf(f, "%lf", &v) != 1)
    v = NAN;
  fclose(f);
  return v;
}

/* Busy CPU time of the whole machine in seconds (/proc/stat: user, nice,
 * system, irq, softirq; idle, iowait and steal are not busy here), NAN if
 * unknown. */
static double machine_busy_s(void)
{
  FILE *f = fopen("/proc/stat", "re");
  unsigned long long user, nice, sys, idle, iowait, irq, softirq;
  long hz = sysconf(_SC_CLK_TCK);
  int n;
  if (!f)
    return NAN;
  n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys,
             &idle, &iowait, &irq, &softirq);
  fclose(f);
  if (n != 7 || hz <= 0)
    return NAN;
  return (double)(user + nice + sys + irq + softirq) / (double)hz;
}

/* CPU seconds of this process and of its children reaped so far (the
 * baselines' servers and the echo guests are all reaped by the end). */
static double own_cpu_s(void)
{
  struct rusage self, children;
  if (getrusage(RUSAGE_SELF, &self) != 0 ||
      getrusage(RUSAGE_CHILDREN, &children) != 0)
    return NAN;
  return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
                  children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
         (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
                  children.ru_utime.tv_usec + children.ru_stime.tv_usec) /
             1e6;
}

static int above_share(double v, long nproc)
{
  return isfinite(v) && nproc > 0 && v > LOAD_WARN_SHARE * (double)nproc;
}

void load_start(struct load *l, long nproc)
{
  memset(l, 0, sizeof(*l));
  l->loadavg_start = loadavg();
  l->loadavg_end = l->others_cpus = l->steal_cpus = NAN;
  l->busy_s0 = machine_busy_s();
  l->steal_s0 = bench_steal_s();
  l->own_s0 = own_cpu_s();
  l->t0_ns = bench_now_ns();
  if (above_share(l->loadavg_start, nproc))
    fprintf(stderr,
            "shmipc-bench: warning: load average %.2f on %ld CPUs before the "
            "run: other processes will disturb the figures\n",
            l->loadavg_start, nproc);
}

void load_end(struct load *l, long nproc)
{
  double wall_s = (double)(bench_now_ns() - l->t0_ns) / (double)BENCH_NS_PER_S;
  double busy = machine_busy_s() - l->busy_s0;
  double own = own_cpu_s() - l->own_s0;
  double steal = bench_steal_s();
  l->loadavg_end = loadavg();
  if (isfinite(busy) && isfinite(own) && wall_s > 0)
    l->others_cpus = fmax(0.0, (busy - own) / wall_s);
  if (l->steal_s0 >= 0 && steal >= l->steal_s0 && wall_s > 0)
    l->steal_cpus = (steal - l->steal_s0) / wall_s;
  l->warn = above_share(l->loadavg_start, nproc) ||
            above_share(l->others_cpus, nproc);
}
