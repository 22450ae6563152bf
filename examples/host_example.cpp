// SPDX-License-Identifier: MIT
/*
 * The README's C++ quick start as a program: the C quick start's host
 * (examples/host_example.c) written against shmipc.hpp. It creates the
 * segment NAME, serves guest calls with a lambda, makes a copying call
 * and a zero-copy end-aligned call, and closes the session.
 *
 *   host_example_cpp NAME    (a guest attaches to NAME: any echo guest)
 */
// README:cpp-quickstart begin
#include <shmipc/shmipc.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <stdexcept>

using namespace std::chrono_literals;

int main(int argc, char **argv)
{
  shmipc_host_config cfg = shmipc::Host::config(argc > 1 ? argv[1] : "MyIPC");
  cfg.guest_slots = 2; // > 0 enables guest calls
  shmipc::Result<shmipc::Host> host = shmipc::Host::create(cfg);
  if (!host) { // errors are values: the code and what it was about
    std::fprintf(stderr, "create: %s\n", host.message().c_str());
    return 1;
  }

  // Any callable serves, capturing lambdas too; an exception it throws
  // is answered as SHMIPC_MSG_SYSTEM_ERROR with its text.
  std::atomic<int> served{0};
  shmipc::Status st = host->listen(
      [&served](const shmipc::Request &req, shmipc::Response &resp) {
        ++served;
        if (!resp.assign(req.data, req.size)) // echo
          throw std::length_error("request larger than the response buffer");
      });
  if (st)
    st = host->wait_guest(5s);
  if (!st) {
    std::fprintf(stderr, "no guest: %s\n", st.message().c_str());
    return 1; // ~Host closes the session and stops the listener
  }

  char resp[256];
  shmipc::Result<shmipc::Reply> r =
      host->call(SHMIPC_MSG_NORMAL, "ping", 4, resp, sizeof resp);
  if (r)
    std::printf("ping: %.*s (type %u)\n", static_cast<int>(r->size), resp,
                r->type);

  // Zero copy: the slot is released when `slot` goes out of scope.
  if (shmipc::Result<shmipc::Slot> slot = host->acquire(1s)) {
    const char msg[] = "built at the buffer's end";
    char *buf = static_cast<char *>(slot->req_data());
    std::memcpy(buf + slot->req_capacity() - (sizeof msg - 1), msg,
                sizeof msg - 1);
    if (slot->send(SHMIPC_MSG_APP_START + 1, sizeof msg - 1,
                   shmipc::Align::end))
      std::printf("zero-copy end-aligned: %zu bytes echoed\n",
                  slot->resp_size());
  }
  std::printf("guest call served: %d\n", served.load());
  std::printf("host_example_cpp: %s\n", r ? "ok" : r.message().c_str());
  return r ? 0 : 1;
}
// README:cpp-quickstart end
