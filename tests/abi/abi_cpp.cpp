/* SPDX-License-Identifier: MIT */
/*
 * ABI check, C++ side: the public header compiles as C++11 with
 * -Wall -Wextra -Wpedantic -Werror (see meson.build) and declares its
 * functions extern "C": a missing linkage block would mangle the names below
 * and the link would fail.
 */
#include <shmipc/shmipc.h>

#include <cstdio>
#include <cstring>

// The macros are constant expressions in C++ too.
static_assert(SHMIPC_CHECK_VERSION(0, 0, 0), "CHECK_VERSION(0,0,0)");
static_assert(!SHMIPC_CHECK_VERSION(SHMIPC_VERSION_MAJOR + 1, 0, 0),
              "CHECK_VERSION(major+1,0,0)");
static_assert(SHMIPC_E_STATE == -17, "SHMIPC_E_STATE");
static_assert(SHMIPC_MSG_APP_START == 128u, "SHMIPC_MSG_APP_START");
static_assert(SHMIPC_F_END_ALIGNED == 1u, "SHMIPC_F_END_ALIGNED");

namespace
{

int failures = 0;

void check(bool ok, const char *what, int line)
{
  if (!ok) {
    std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, line, what);
    ++failures;
  }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

} // namespace

// A handler with C language linkage, as a C++ user would write one.
extern "C" {
static int handler(void *, uint32_t, const void *, size_t, void *, size_t,
                   size_t *resp_len, uint32_t *)
{
  *resp_len = 0;
  return 0;
}
}

int main()
{
  CHECK(shmipc_version() == SHMIPC_VERSION_NUMBER);
  CHECK(std::strcmp(shmipc_strerror(SHMIPC_E_TIMEOUT),
                    shmipc_strerror(SHMIPC_E_PEER_GONE)) != 0);
  CHECK(std::strcmp(shmipc_strerror(-1000), "unknown error") == 0);

  shmipc_host_config cfg;
  shmipc_host_config_init(&cfg);
  CHECK(cfg.struct_size == sizeof cfg);
  CHECK(cfg.name == nullptr);

  // No name: creation must be refused, and leave the handle NULL.
  shmipc_host *h = reinterpret_cast<shmipc_host *>(&cfg);
  int rc = shmipc_host_create(&cfg, &h);
  CHECK(rc < 0);
  CHECK(h == nullptr);
  shmipc_host_destroy(h);

  shmipc_guest_config gcfg;
  shmipc_guest_config_init(&gcfg);
  CHECK(gcfg.struct_size == sizeof gcfg);

  shmipc_handler_fn fn = handler;
  CHECK(fn != nullptr);
  shmipc_slot *s = nullptr;
  shmipc_slot_release(s);

  if (failures != 0) {
    std::fprintf(stderr, "abi_cpp: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("abi_cpp: ok\n");
  return 0;
}
