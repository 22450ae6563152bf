/* SPDX-License-Identifier: MIT */
/*
 * Windows launcher: not built yet. The design (docs/PROTOCOL.md,
 * "Windows") hands the child an unnamed file mapping, mutexes and events
 * as inheritable handles and puts it in a job object with
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE; until then every function says it
 * is not available, and a child handle never exists.
 */
#include <string.h>

#include "internal.h"

static int unavailable(void)
{
  return shmipc__failed(shmipc__fail(
      SHMIPC_E_SYSTEM, "launching a guest is not available on Windows in "
                       "this version (start it yourself with a named "
                       "segment)"));
}

void shmipc_launch_config_init(shmipc_launch_config *cfg)
{
  if (cfg == NULL)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = sizeof *cfg;
}

int shmipc_host_launch(shmipc_host *h, const shmipc_launch_config *cfg,
                       shmipc_child **out)
{
  (void)h;
  (void)cfg;
  if (out != NULL)
    *out = NULL;
  return unavailable();
}

int64_t shmipc_child_pid(const shmipc_child *c)
{
  (void)c;
  return 0;
}

intptr_t shmipc_child_handle(const shmipc_child *c)
{
  (void)c;
  return -1;
}

int shmipc_child_wait(shmipc_child *c, int64_t timeout_ns,
                      shmipc_child_exit *out)
{
  (void)c;
  (void)timeout_ns;
  (void)out;
  return unavailable();
}

int shmipc_child_kill(shmipc_child *c)
{
  (void)c;
  return unavailable();
}

void shmipc_child_destroy(shmipc_child *c) { (void)c; }
