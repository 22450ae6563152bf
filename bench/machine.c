/* SPDX-License-Identifier: MIT */
/* The facts about the machine that shmipc-bench prints with its results. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <string.h>
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
