// SPDX-License-Identifier: MIT
/*
 * The installed C++ header as a user meets it: <shmipc/shmipc.hpp> found
 * through pkg-config or find_package(libshmipc), linked with the C
 * library alone. It makes a host, acquires a slot (released by its
 * destructor), and checks that a failure comes back as a value.
 */
#include <shmipc/shmipc.hpp>

#include <cstdio>
#include <string>

#include <unistd.h>

int main()
{
  using namespace std::chrono_literals;
  std::string name = "cpp-consumer-" + std::to_string(getpid());
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(name.c_str());
  if (!h) {
    std::fprintf(stderr, "create: %s\n", h.message().c_str());
    return 1;
  }
  {
    shmipc::Result<shmipc::Slot> s = h->acquire(0ms);
    if (!s || s->req_capacity() != h->req_capacity()) {
      std::fprintf(stderr, "acquire: %s\n", s.message().c_str());
      return 1;
    }
  }
  shmipc::Result<shmipc::Host> bad = shmipc::Host::create("bad/name");
  if (bad.code() != SHMIPC_E_NAME) {
    std::fprintf(stderr, "a bad name gave %d\n", bad.code());
    return 1;
  }
  std::printf("cpp_consumer: ok (%s)\n", bad.message().c_str());
  return 0;
}
