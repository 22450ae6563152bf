// SPDX-License-Identifier: MIT
/*
 * The C++ API (include/shmipc/shmipc.hpp): RAII release on scope exit and
 * on exceptions, move semantics, errors as values, chrono timeouts, and
 * handlers as capturing lambdas across processes (a forked C++ guest):
 * a handler's exception reaches the caller as SHMIPC_E_REMOTE with the
 * exception's text, both ways. Built by tests/cpp/meson.build as C++17
 * and C++20, with and without -fno-exceptions; the exception cases need
 * exceptions and are left out of the -fno-exceptions builds, whose
 * handlers fail with Response::fail() instead. The Windows build (MinGW,
 * run under Wine) has the cases of one process; the cross-process one
 * forks, on Linux.
 *
 *   test-cpp [NAME...]   runs the named cases, or all of them
 */
#include <shmipc/shmipc.hpp>

#ifdef _WIN32
#include <process.h>
#define getpid _getpid
#else
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#if SHMIPC_HPP_EXCEPTIONS
#include <stdexcept>
#endif

using namespace std::chrono_literals;

namespace
{

int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
                   #cond);                                                     \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

constexpr uint32_t msg_throw = SHMIPC_MSG_APP_START + 10;
constexpr uint32_t msg_false = SHMIPC_MSG_APP_START + 11;
constexpr uint32_t stream_refused = SHMIPC_MSG_APP_START + 12;

std::string name_of(const char *what)
{
  return "cpp-" + std::string(what) + "-" + std::to_string(getpid());
}

#ifndef _WIN32
std::string text(const void *p, size_t n)
{
  return std::string(static_cast<const char *>(p), n);
}

/* Fails the request with @p why: by throwing where exceptions exist (the
 * trampoline answers with what()), else with Response::fail(). */
void refuse(shmipc::Response &resp, const std::string &why)
{
#if SHMIPC_HPP_EXCEPTIONS
  (void)resp;
  throw std::runtime_error(why);
#else
  resp.fail(why);
#endif
}
#endif

#ifndef _WIN32
/* Waits up to @p limit for child @p pid; kills it after that. Returns its
 * exit status, or -1. */
int reap(pid_t pid, std::chrono::milliseconds limit)
{
  auto end = std::chrono::steady_clock::now() + limit;
  int st = 0;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > end) {
      std::fprintf(stderr, "child %d still runs after %lld ms: killed\n",
                   static_cast<int>(pid),
                   static_cast<long long>(limit.count()));
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
#endif

shmipc_host_config small(const std::string &name, uint32_t slots,
                         uint32_t guest_slots)
{
  shmipc_host_config c = shmipc::Host::config(name.c_str());
  c.host_slots = slots;
  c.guest_slots = guest_slots;
  c.req_capacity = 4096;
  c.resp_capacity = 4096;
  return c;
}

/* Free host slots now, by acquiring them all (each released on return). */
size_t free_slots(shmipc::Host &h)
{
  std::vector<shmipc::Slot> held;
  for (;;) {
    shmipc::Result<shmipc::Slot> s = h.try_acquire();
    if (!s)
      return held.size();
    held.push_back(std::move(*s));
  }
}

void test_timeouts()
{
  static_assert(shmipc::Timeout().ns() == SHMIPC_TIMEOUT_DEFAULT);
  static_assert(shmipc::Timeout::fallback().ns() == SHMIPC_TIMEOUT_DEFAULT);
  static_assert(shmipc::Timeout::infinite().ns() == SHMIPC_TIMEOUT_INFINITE);
  static_assert(shmipc::Timeout::none().ns() == 0);
  static_assert(shmipc::Timeout(5s).ns() == 5000000000);
  static_assert(shmipc::Timeout(1h).ns() == 3600000000000);
  // -1 ns and -2 ns must not turn into DEFAULT and INFINITE.
  static_assert(shmipc::Timeout(-1ns).ns() == 0);
  static_assert(shmipc::Timeout(-2ns).ns() == 0);
  static_assert(shmipc::Timeout(std::chrono::hours::max()).ns() == INT64_MAX);
  static_assert(shmipc::Timeout(std::chrono::nanoseconds::max()).ns() ==
                INT64_MAX);
  static_assert(shmipc::Timeout(std::chrono::duration<double>(1.5e-3)).ns() ==
                1500000);
  static_assert(shmipc::Timeout(std::chrono::duration<double>(1e300)).ns() ==
                INT64_MAX);
  shmipc::Timeout t = 250ms;
  CHECK(t.ns() == 250000000);
  CHECK(shmipc::Timeout(std::chrono::duration<double>(-0.5)).ns() == 0);
}

void test_errors_as_values()
{
  shmipc::Result<shmipc::Host> h = shmipc::Host::create("bad/name");
  CHECK(!h.ok());
  CHECK(!h.has_value());
  CHECK(h.code() == SHMIPC_E_NAME);
  CHECK(h.status().name() == std::string(shmipc_strerror(SHMIPC_E_NAME)));
  // The text is the thread's last error, copied.
  CHECK(h.message().rfind(shmipc_strerror(SHMIPC_E_NAME), 0) == 0);
  CHECK(h.message().size() > std::strlen(shmipc_strerror(SHMIPC_E_NAME)));
  std::string kept = h.message();
  shmipc::Result<shmipc::Host> h2 = shmipc::Host::create(small("", 1, 0));
  CHECK(h2.code() == SHMIPC_E_NAME || h2.code() == SHMIPC_E_INVALID);
  CHECK(h.message() == kept); // not the new last error

  shmipc::Status ok;
  CHECK(ok.ok() && ok.code() == SHMIPC_OK && ok.message().empty());
  shmipc::Host empty;
  shmipc::Status st = empty.wait_guest(0ms);
  CHECK(st.code() == SHMIPC_E_INVALID);
}

void test_slot_raii_scope()
{
  std::string name = name_of("scope");
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 2, 0));
  CHECK(h.ok());
  if (!h)
    return;
  CHECK(free_slots(*h) == 2);
  {
    shmipc::Result<shmipc::Slot> a = h->acquire(0ms);
    shmipc::Result<shmipc::Slot> b = h->try_acquire();
    CHECK(a.ok() && b.ok());
    shmipc::Result<shmipc::Slot> c = h->try_acquire();
    CHECK(c.code() == SHMIPC_E_BUSY);
    shmipc::Result<shmipc::Slot> d = h->acquire(shmipc::Timeout::none());
    CHECK(d.code() == SHMIPC_E_TIMEOUT);
    CHECK(free_slots(*h) == 0);
  }
  CHECK(free_slots(*h) == 2); // both released by their destructors
}

#if SHMIPC_HPP_EXCEPTIONS
void test_slot_raii_exception()
{
  std::string name = name_of("unwind");
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 2, 0));
  CHECK(h.ok());
  if (!h)
    return;
  bool caught = false;
  try {
    shmipc::Result<shmipc::Slot> a = h->acquire(0ms);
    shmipc::Result<shmipc::Slot> b = h->acquire(0ms);
    CHECK(a.ok() && b.ok() && free_slots(*h) == 0);
    throw std::runtime_error("unwinding");
  } catch (const std::runtime_error &) {
    caught = true;
  }
  CHECK(caught);
  CHECK(free_slots(*h) == 2);
}
#endif

void test_slot_move()
{
  std::string name = name_of("slotmove");
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 2, 0));
  CHECK(h.ok());
  if (!h)
    return;
  static_assert(!std::is_copy_constructible_v<shmipc::Slot>);
  static_assert(!std::is_copy_assignable_v<shmipc::Slot>);
  static_assert(std::is_nothrow_move_constructible_v<shmipc::Slot>);
  static_assert(std::is_nothrow_move_assignable_v<shmipc::Slot>);
  shmipc::Slot a = std::move(*h->acquire(0ms));
  shmipc_slot *raw = a.get();
  CHECK(raw != nullptr);
  shmipc::Slot b(std::move(a));
  CHECK(a.get() == nullptr && !a);
  CHECK(b.get() == raw);
  // A moved-from slot is empty: its calls are the C calls on NULL.
  CHECK(a.send(0, 0).code() == SHMIPC_E_INVALID);
  CHECK(a.req_data() == nullptr && a.req_capacity() == 0);
  CHECK(free_slots(*h) == 1);
  shmipc::Slot c = std::move(*h->acquire(0ms));
  CHECK(free_slots(*h) == 0);
  c = std::move(b); // releases c's own slot, takes b's
  CHECK(c.get() == raw && !b);
  CHECK(free_slots(*h) == 1);
  shmipc::Slot &alias = c; // (a self-move the compiler does not see)
  c = std::move(alias);    // keeps the slot
  CHECK(c.get() == raw);
  c.release();
  CHECK(!c && free_slots(*h) == 2);
}

void test_host_move()
{
  static_assert(!std::is_copy_constructible_v<shmipc::Host>);
  static_assert(std::is_nothrow_move_constructible_v<shmipc::Host>);
  static_assert(!std::is_copy_constructible_v<shmipc::Guest>);
  static_assert(std::is_nothrow_move_constructible_v<shmipc::Guest>);
  static_assert(!std::is_copy_constructible_v<shmipc::StreamSender>);
  static_assert(!std::is_copy_constructible_v<shmipc::Reassembler>);
  std::string n1 = name_of("move1"), n2 = name_of("move2");
  shmipc::Result<shmipc::Host> r1 = shmipc::Host::create(small(n1, 1, 1));
  shmipc::Result<shmipc::Host> r2 = shmipc::Host::create(small(n2, 1, 1));
  CHECK(r1.ok() && r2.ok());
  if (!r1 || !r2)
    return;
  shmipc::Host a = std::move(*r1);
  CHECK(!*r1 && r1->get() == nullptr && a);
  // A second host of a live name is refused ...
  CHECK(shmipc::Host::create(small(n1, 1, 0)).code() == SHMIPC_E_EXISTS);
  std::atomic<int> calls{0};
  CHECK(a.listen([&calls](const shmipc::Request &, shmipc::Response &) {
           ++calls;
         }).ok());
  // ... and a move-assignment closes the target's session first (its
  // listener stopped, its handler freed), so the name is free again.
  a = std::move(*r2);
  CHECK(a && !*r2);
  shmipc::Result<shmipc::Host> again = shmipc::Host::create(small(n1, 1, 0));
  CHECK(again.ok());
  CHECK(shmipc::Host::create(small(n2, 1, 0)).code() == SHMIPC_E_EXISTS);
  a.reset();
  CHECK(!a && shmipc::Host::create(small(n2, 1, 0)).ok());
  CHECK(calls.load() == 0);
}

#ifndef _WIN32
/* The guest of the cross-process tests: echoes, fails msg_throw by
 * throwing (or fail()), msg_false by returning false, reassembles
 * streams (refusing stream_refused ones), and calls the host back,
 * expecting an echo for "hello" and a refusal quoting "host refuses boom"
 * for "boom". Exits 0 when all of that held and the host closed. */
int guest_main(const std::string &name)
{
  shmipc::Result<shmipc::Guest> g = shmipc::Guest::attach(name.c_str(), 10s);
  if (!g) {
    std::fprintf(stderr, "guest: attach: %s\n", g.message().c_str());
    return 10;
  }
  std::atomic<uint64_t> delivered{0};
  auto next = [](const shmipc::Request &req, shmipc::Response &resp) -> bool {
    if (req.type == msg_false)
      return false;
    if (req.type == msg_throw) {
      refuse(resp, "guest refuses " + text(req.data, req.size));
      return true;
    }
    resp.set_type(req.type);
    return resp.assign(req.data, req.size);
  };
  shmipc::Result<shmipc::Reassembler> r = shmipc::Reassembler::create(
      shmipc::stream_limits(),
      [&delivered](shmipc::Stream &s) {
        if (s.app_type() == stream_refused)
          return false;
        const auto *p = static_cast<const unsigned char *>(s.data());
        for (size_t i = 0; i < s.size(); i++)
          if (p[i] != static_cast<unsigned char>(i * 7))
            return false;
        delivered += s.size();
        return true;
      },
      next);
  if (!r) {
    std::fprintf(stderr, "guest: reassembler: %s\n", r.message().c_str());
    return 11;
  }
  if (shmipc::Status st = g->start(*r); !st) {
    std::fprintf(stderr, "guest: start: %s\n", st.message().c_str());
    return 12;
  }
  int rc = 0;
  char buf[256];
  shmipc::Result<shmipc::Reply> a =
      g->call(SHMIPC_MSG_GUEST_CALL, "hello", 5, buf, sizeof buf, 10s);
  if (!a || text(buf, a->size) != "hello") {
    std::fprintf(stderr, "guest: call hello: %s\n", a.message().c_str());
    rc = 13;
  }
  shmipc::Result<shmipc::Reply> b =
      g->call(SHMIPC_MSG_GUEST_CALL, "boom", 4, buf, sizeof buf, 10s);
  if (b.code() != SHMIPC_E_REMOTE || !b.has_value() ||
      text(buf, b->size) != "host refuses boom" ||
      b.message().find("host refuses boom") == std::string::npos) {
    std::fprintf(stderr, "guest: call boom gave %d: %s\n", b.code(),
                 b.message().c_str());
    rc = 14;
  }
  shmipc::Status w = g->wait(60s);
  if (!w) {
    std::fprintf(stderr, "guest: wait: %s\n", w.message().c_str());
    return 15;
  }
  if (rc == 0 && delivered.load() != 1000000) {
    std::fprintf(stderr, "guest: %llu stream bytes delivered, want 1000000\n",
                 static_cast<unsigned long long>(delivered.load()));
    rc = 16;
  }
  g->reset(); // detach (workers joined), then the reassembler goes
  return rc;
}

void test_across_processes()
{
  std::string name = name_of("procs");
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0)
    _exit(guest_main(name));
  CHECK(pid > 0);
  if (pid <= 0)
    return;
  {
    shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 2, 2));
    CHECK(h.ok());
    if (!h) {
      kill(pid, SIGKILL);
      reap(pid, 1s);
      return;
    }
    std::atomic<int> listened{0};
    CHECK(h->listen([&listened](const shmipc::Request &req,
                                shmipc::Response &resp) {
             ++listened;
             if (text(req.data, req.size) == "boom")
               return refuse(resp, "host refuses boom");
             resp.assign(req.data, req.size);
           }).ok());
    CHECK(h->wait_guest(10s).ok());

    char buf[256];
    shmipc::Result<shmipc::Reply> e =
        h->call(SHMIPC_MSG_NORMAL, "ping", 4, buf, sizeof buf, 10s);
    CHECK(e.ok() && e->size == 4 && text(buf, 4) == "ping");

    // The guest's handler throws: the text crosses as the reason.
    shmipc::Result<shmipc::Reply> t =
        h->call(msg_throw, "key", 3, buf, sizeof buf, 10s);
    CHECK(t.code() == SHMIPC_E_REMOTE);
    CHECK(t.has_value() && t->type == SHMIPC_MSG_SYSTEM_ERROR);
    CHECK(t.has_value() && text(buf, t->size) == "guest refuses key");
    CHECK(t.message() == std::string(shmipc_strerror(SHMIPC_E_REMOTE)) +
                             ": guest refuses key");

    // A handler that returns false gives the C library's fixed reason.
    shmipc::Result<shmipc::Reply> f =
        h->call(msg_false, "x", 1, buf, sizeof buf, 10s);
    CHECK(f.code() == SHMIPC_E_REMOTE && f.has_value() &&
          text(buf, f->size) == "shmipc: handler failed");

    // A response larger than the buffer: TRUNCATED, with the size.
    shmipc::Result<shmipc::Reply> tr =
        h->call(SHMIPC_MSG_NORMAL, "0123456789", 10, buf, 4, 10s);
    CHECK(tr.code() == SHMIPC_E_TRUNCATED && tr.has_value() && tr->size == 10);

    // Zero copy, end-aligned, and the zero-copy path's refusal text.
    {
      shmipc::Result<shmipc::Slot> s = h->acquire(10s);
      CHECK(s.ok());
      if (s) {
        char *req = static_cast<char *>(s->req_data());
        std::memcpy(req + s->req_capacity() - 3, "end", 3);
        CHECK(
            s->send(SHMIPC_MSG_APP_START + 1, 3, shmipc::Align::end, 10s).ok());
        CHECK(s->resp_size() == 3 && text(s->resp_data(), 3) == "end");
        CHECK(s->resp_type() == SHMIPC_MSG_APP_START + 1);
        // One send per acquire.
        CHECK(s->send(0, 3, shmipc::Align::end, 10s).code() == SHMIPC_E_STATE);
#if SHMIPC_HPP_SPAN
        CHECK(s->req_bytes().size() == s->req_capacity());
        CHECK(s->resp_bytes().size() == s->resp_size());
#endif
      }
    }
    {
      shmipc::Result<shmipc::Slot> s = h->acquire(10s);
      CHECK(s.ok());
      if (s) {
        std::memcpy(s->req_data(), "zc", 2);
        shmipc::Status st = s->send(msg_throw, 2, shmipc::Align::start, 10s);
        CHECK(st.code() == SHMIPC_E_REMOTE);
        CHECK(st.message() == std::string(shmipc_strerror(SHMIPC_E_REMOTE)) +
                                  ": guest refuses zc");
        CHECK(text(s->resp_data(), s->resp_size()) == "guest refuses zc");
      }
    }
#if SHMIPC_HPP_SPAN
    {
      const std::byte in[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
      std::byte out[8] = {};
      shmipc::Result<shmipc::Reply> r =
          h->call(SHMIPC_MSG_NORMAL, std::span<const std::byte>(in),
                  std::span<std::byte>(out), 10s);
      CHECK(r.ok() && r->size == 3 && out[2] == std::byte{3});
    }
#endif

    // Streams into the guest's Reassembler: one delivered, one refused by
    // the delivery callable.
    shmipc::Result<shmipc::StreamSender> ss = shmipc::StreamSender::create(*h);
    CHECK(ss.ok());
    if (ss) {
      std::vector<unsigned char> data(1000000);
      for (size_t i = 0; i < data.size(); i++)
        data[i] = static_cast<unsigned char>(i * 7);
      shmipc::StreamResult res;
      CHECK(ss->send(SHMIPC_MSG_APP_START + 3, data.data(), data.size(), 30s,
                     &res)
                .ok());
      CHECK(res.accepted == res.chunks && res.chunks > 1);
      shmipc::Status no = ss->send(stream_refused, data.data(), 100, 30s, &res);
      CHECK(no.code() == SHMIPC_E_REFUSED);
      CHECK(res.reason == SHMIPC_STREAM_REFUSED &&
            res.reason_name() ==
                std::string(shmipc_stream_reason_name(SHMIPC_STREAM_REFUSED)));
    }

    // The guest's two calls reached the listener (it waits for them
    // before its own checks end).
    auto end = std::chrono::steady_clock::now() + 10s;
    while (listened.load() < 2 && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(1ms);
    CHECK(listened.load() == 2);
  } // ~StreamSender, ~Host: the session closes, the guest's wait ends
  CHECK(reap(pid, 30s) == 0);
}
#endif

void plain_handler(const shmipc::Request &, shmipc::Response &) {}

void test_serve()
{
  std::string name = name_of("serve");
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 1, 1));
  CHECK(h.ok());
  if (!h)
    return;
  int seen = 0;
  auto fn = [&seen](const shmipc::Request &, shmipc::Response &) { ++seen; };
  shmipc::Result<int> r = h->serve(fn, shmipc::Timeout::none());
  CHECK(r.code() == SHMIPC_E_TIMEOUT && !r.has_value());
  // A const callable serves too, and the listener excludes serve().
  const auto cfn = [](const shmipc::Request &, shmipc::Response &) {};
  CHECK(h->listen(cfn).ok());
  CHECK(h->listen(cfn).code() == SHMIPC_E_BUSY);
  CHECK(h->serve(cfn, 0ms).code() == SHMIPC_E_BUSY);
  CHECK(h->listen_stop().ok());
  CHECK(h->listen_stop().code() == SHMIPC_E_STATE);
  // A plain function serves too, through its pointer.
  CHECK(h->serve(plain_handler, 0ms).code() == SHMIPC_E_TIMEOUT);
  CHECK(h->listen(plain_handler).ok());
  CHECK(h->listen_stop().ok());
  CHECK(seen == 0);
}

struct Case {
  const char *name;
  void (*fn)();
};

const Case cases[] = {
    {"timeouts", test_timeouts},
    {"errors_as_values", test_errors_as_values},
    {"slot_raii_scope", test_slot_raii_scope},
#if SHMIPC_HPP_EXCEPTIONS
    {"slot_raii_exception", test_slot_raii_exception},
#endif
    {"slot_move", test_slot_move},
    {"host_move", test_host_move},
    {"serve", test_serve},
#ifndef _WIN32
    {"across_processes", test_across_processes},
#endif
};

} // namespace

int main(int argc, char **argv)
{
  int ran = 0;
  for (const Case &c : cases) {
    bool want = argc < 2;
    for (int i = 1; i < argc; i++)
      want = want || std::strcmp(argv[i], c.name) == 0;
    if (!want)
      continue;
    int before = failures;
    c.fn();
    ++ran;
    std::printf("%s %s\n", failures == before ? "ok  " : "FAIL", c.name);
  }
  std::printf("C++%ld, exceptions %s: %d cases, %d failed checks\n",
              static_cast<long>(__cplusplus / 100 % 100),
              SHMIPC_HPP_EXCEPTIONS ? "on" : "off", ran, failures);
  return failures == 0 && ran > 0 ? 0 : 1;
}
