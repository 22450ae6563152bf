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
 * run under Wine) has the cases of one process; the cross-process ones
 * fork, or launch a guest, on Linux: a forked C++ guest streams to a C++
 * host; an anonymous C++ host launches the C echo guest (its path in
 * SHMIPC_TEST_ECHO_C) and this program as an inherited C++ guest, and sees
 * each child's end; a forked C++ guest answers 5 MiB large answers from a
 * moved std::vector, which the host takes with call_alloc(), call_chunks()
 * and the slot's answer_alloc(), and the C echo guest's type-220 answer
 * comes both ways too. Against the C echo guest: Slot::poll(),
 * shmipc::wait_any() and the slot's and host's aborts; a C++ handler on
 * the listener reads the deadline of the guest's call (and the launched
 * C++ guest the deadline of the host's, and ends its own blocked call
 * with Guest::abort()); an epoll loop on the host's
 * event handle keeps four calls in flight (Linux).
 *
 *   test-cpp [NAME...]   runs the named cases, or all of them
 *   test-cpp --inherited-guest   the launched C++ guest (an echo)
 */
#include <shmipc/shmipc.hpp>

#ifdef _WIN32
#include <process.h>
#define getpid _getpid
#else
#include <sys/wait.h>
#include <unistd.h>
#endif
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
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
constexpr uint32_t stream_guest = SHMIPC_MSG_APP_START + 13;
constexpr uint32_t msg_big = SHMIPC_MSG_APP_START + 14;
constexpr uint32_t msg_big_throw = SHMIPC_MSG_APP_START + 15;
constexpr uint32_t msg_tracked = SHMIPC_MSG_APP_START + 16;
constexpr uint32_t msg_deadline = SHMIPC_MSG_APP_START + 17;
constexpr uint32_t msg_guest_abort = SHMIPC_MSG_APP_START + 18;
constexpr size_t big_size = 5u << 20; // 5 MiB

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

/* Exact counts of a host and a guest in this process, read through
 * Host::stats() and Guest::stats(). */
void test_stats()
{
  std::string name = name_of("stats");
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 1, 1));
  CHECK(h.ok());
  if (!h)
    return;
  shmipc::Result<shmipc::Guest> g = shmipc::Guest::attach(name.c_str(), 1s);
  CHECK(g.ok());
  if (!g)
    return;
  CHECK(g->start([](const shmipc::Request &req, shmipc::Response &resp) {
           if (req.type == msg_false)
             return false;
           return resp.assign(req.data, req.size);
         }).ok());
  CHECK(h->listen([](const shmipc::Request &req, shmipc::Response &resp) {
           resp.assign(req.data, req.size);
         }).ok());
  char buf[64];
  for (int i = 0; i < 5; i++)
    CHECK(h->call(SHMIPC_MSG_NORMAL, "abc", 3, buf, sizeof buf, 10s).ok());
  CHECK(h->call(msg_false, "x", 1, buf, sizeof buf, 10s).code() ==
        SHMIPC_E_REMOTE);
  for (int i = 0; i < 2; i++)
    CHECK(g->call(SHMIPC_MSG_GUEST_CALL, "up", 2, buf, sizeof buf, 10s).ok());

  shmipc::Result<shmipc::Stats> hs = h->stats();
  CHECK(hs.ok());
  if (hs) {
    CHECK(hs->struct_size == sizeof(shmipc::Stats));
    CHECK(hs->calls == 6 && hs->answered == 6 && hs->remote == 1);
    CHECK(hs->timeouts == 0 && hs->peer_gone == 0 && hs->corrupt == 0);
    CHECK(hs->served == 2 && hs->served_errors == 0);
    CHECK(hs->attaches == 1 && hs->uptime_ns > 0);
  }
  shmipc::Result<shmipc::Stats> gs = g->stats();
  CHECK(gs.ok());
  if (gs) {
    CHECK(gs->struct_size == sizeof(shmipc::Stats));
    CHECK(gs->served == 6 && gs->served_errors == 1);
    CHECK(gs->calls == 2 && gs->answered == 2 && gs->remote == 0);
    CHECK(gs->attaches == 1);
  }
  // Empty handles: the C functions' NULL, as a value.
  shmipc::Host eh;
  shmipc::Guest eg;
  CHECK(eh.stats().code() == SHMIPC_E_INVALID && !eh.stats().has_value());
  CHECK(eg.stats().code() == SHMIPC_E_INVALID);
  CHECK(h->listen_stop().ok());
}

/* The refusals of the guest-stream wrappers, in this process. */
void test_guest_stream_refusals()
{
  std::string name = name_of("gsref");
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 1, 0));
  CHECK(h.ok());
  if (!h)
    return;
  shmipc::Result<shmipc::Guest> g = shmipc::Guest::attach(name.c_str(), 1s);
  CHECK(g.ok());
  if (!g)
    return;
  // No guest slots: neither a guest's sender nor a host's receiver.
  shmipc::Result<shmipc::StreamSender> s = shmipc::StreamSender::create(*g);
  CHECK(s.code() == SHMIPC_E_INVALID && !s.message().empty());
  shmipc::Result<shmipc::Reassembler> r = shmipc::Reassembler::create(
      shmipc::stream_limits(), [](shmipc::Stream &) {},
      [](const shmipc::Request &, shmipc::Response &) {});
  CHECK(r.ok());
  if (!r)
    return;
  CHECK(h->stream_receiver(*r).code() == SHMIPC_E_INVALID);
  // With guest slots: an empty receiver is refused, not taken as a detach
  // (which the C call with NULL is).
  std::string name2 = name_of("gsref2");
  shmipc::Result<shmipc::Host> h2 = shmipc::Host::create(small(name2, 1, 1));
  CHECK(h2.ok());
  if (!h2)
    return;
  shmipc::Reassembler empty;
  CHECK(h2->stream_receiver(empty).code() == SHMIPC_E_INVALID);
  CHECK(h2->stream_receiver(*r).ok());
  CHECK(h2->stream_receiver_detach().ok());
  shmipc::Guest eg;
  CHECK(shmipc::StreamSender::create(eg).code() == SHMIPC_E_INVALID);
}

#ifndef _WIN32
/* A forked C++ guest: streams 1000000 bytes to the host (its delivery
 * callable checks them), then a stream the host refuses, checks its own
 * stream counters and serves until the host closes. */
int stream_guest_main(const std::string &name)
{
  shmipc::Result<shmipc::Guest> g = shmipc::Guest::attach(name.c_str(), 10s);
  if (!g) {
    std::fprintf(stderr, "stream guest: attach: %s\n", g.message().c_str());
    return 20;
  }
  if (shmipc::Status st =
          g->start([](const shmipc::Request &, shmipc::Response &) {});
      !st) {
    std::fprintf(stderr, "stream guest: start: %s\n", st.message().c_str());
    return 21;
  }
  shmipc::StreamConfig cfg = shmipc::stream_config();
  cfg.chunk_size = 1000; // many chunks over the two guest slots
  shmipc::Result<shmipc::StreamSender> s =
      shmipc::StreamSender::create(*g, cfg);
  if (!s) {
    std::fprintf(stderr, "stream guest: sender: %s\n", s.message().c_str());
    return 22;
  }
  std::vector<unsigned char> data(1000000);
  for (size_t i = 0; i < data.size(); i++)
    data[i] = static_cast<unsigned char>(i * 7);
  int rc = 0;
  shmipc::StreamResult res;
  shmipc::Status st =
      s->send(stream_guest, data.data(), data.size(), 30s, &res);
  if (!st || res.chunks < 2 || res.accepted != res.chunks) {
    std::fprintf(stderr, "stream guest: send: %s (%llu of %llu chunks)\n",
                 st.message().c_str(),
                 static_cast<unsigned long long>(res.accepted),
                 static_cast<unsigned long long>(res.chunks));
    rc = 23;
  }
  uint64_t chunks = res.chunks;
  shmipc::Status no = s->send(stream_refused, data.data(), 100, 30s, &res);
  if (no.code() != SHMIPC_E_REFUSED || res.reason != SHMIPC_STREAM_REFUSED) {
    std::fprintf(stderr, "stream guest: refused send gave %d (%s)\n", no.code(),
                 res.reason_name());
    rc = 24;
  }
  shmipc::Result<shmipc::Stats> gs = g->stats();
  if (!gs || gs->stream_chunks < chunks || gs->stream_bytes < data.size() ||
      gs->stream_drops != 1) {
    std::fprintf(stderr, "stream guest: stats: %s\n", gs.message().c_str());
    rc = 25;
  }
  s->reset();
  shmipc::Status w = g->wait(60s);
  if (!w) {
    std::fprintf(stderr, "stream guest: wait: %s\n", w.message().c_str());
    return 26;
  }
  return rc;
}

void test_guest_stream_across_processes()
{
  std::string name = name_of("gstream");
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0)
    _exit(stream_guest_main(name));
  CHECK(pid > 0);
  if (pid <= 0)
    return;
  std::atomic<uint64_t> delivered{0};
  std::atomic<int> bad{0};
  {
    // Declared before the host: it outlives its attachment.
    shmipc::Result<shmipc::Reassembler> r = shmipc::Reassembler::create(
        shmipc::stream_limits(),
        [&delivered, &bad](shmipc::Stream &s) {
          if (s.app_type() == stream_refused)
            return false;
          const auto *p = static_cast<const unsigned char *>(s.data());
          for (size_t i = 0; i < s.size(); i++)
            if (p[i] != static_cast<unsigned char>(i * 7)) {
              ++bad;
              return false;
            }
          if (s.app_type() != stream_guest)
            ++bad;
          delivered += s.size();
          return true;
        },
        [](const shmipc::Request &, shmipc::Response &) {});
    CHECK(r.ok());
    shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 2, 2));
    CHECK(h.ok());
    if (!h || !r) {
      kill(pid, SIGKILL);
      reap(pid, 1s);
      return;
    }
    CHECK(h->stream_receiver(*r).ok());
    std::atomic<int> others{0};
    CHECK(h->listen([&others](const shmipc::Request &, shmipc::Response &) {
             ++others;
           }).ok());
    // Not while the listener runs.
    CHECK(h->stream_receiver_detach().code() == SHMIPC_E_BUSY);
    CHECK(h->wait_guest(10s).ok());
    auto end = std::chrono::steady_clock::now() + 30s;
    while ((delivered.load() < 1000000 || r->stats().dropped < 1) &&
           std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(1ms);
    CHECK(delivered.load() == 1000000 && bad.load() == 0);
    shmipc::StreamStats rs = r->stats();
    CHECK(rs.delivered == 1 && rs.dropped == 1 && rs.open == 0);
    CHECK(others.load() == 0); // the stream messages went to the receiver
    shmipc::Result<shmipc::Stats> hs = h->stats();
    CHECK(hs.ok() && hs->served > 2);
    CHECK(h->listen_stop().ok());
    CHECK(h->stream_receiver_detach().ok());
  } // ~Host: the session closes, the guest's wait ends
  CHECK(reap(pid, 30s) == 0);
}

/* The byte at @p i of the C++ guest's large answers. */
unsigned char big_byte(size_t i)
{
  return static_cast<unsigned char>(i * 13 + (i >> 16));
}

std::vector<uint8_t> big_answer(size_t n)
{
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i++)
    v[i] = big_byte(i);
  return v;
}

bool is_big(const void *p, size_t n, size_t from = 0)
{
  const auto *b = static_cast<const unsigned char *>(p);
  for (size_t i = 0; i < n; i++)
    if (b[i] != big_byte(from + i))
      return false;
  return true;
}

// Response::fail() would leave bytes given to set() in place: an
// AnswerResponse is not usable as a Response.
static_assert(
    !std::is_convertible_v<shmipc::AnswerResponse &, shmipc::Response &>);

/* Fails a large-answer request with @p why, after it set bytes: by
 * throwing where exceptions exist, else with AnswerResponse::fail(). */
void refuse_answer(shmipc::AnswerResponse &resp, const std::string &why)
{
#if SHMIPC_HPP_EXCEPTIONS
  (void)resp;
  throw std::runtime_error(why);
#else
  resp.fail(why);
#endif
}

/* A container that counts the live copies of its bytes: the library must
 * delete the one set() moved in once the host has pulled it. */
struct Tracked {
  std::vector<uint8_t> bytes;
  std::atomic<int> *live;
  Tracked(std::vector<uint8_t> b, std::atomic<int> *l)
      : bytes(std::move(b)), live(l)
  {
    ++*live;
  }
  Tracked(Tracked &&o) noexcept
      : bytes(std::move(o.bytes)), live(std::exchange(o.live, nullptr))
  {
  }
  Tracked(const Tracked &) = delete;
  Tracked &operator=(const Tracked &) = delete;
  Tracked &operator=(Tracked &&) = delete;
  ~Tracked()
  {
    if (live != nullptr)
      --*live;
  }
  const uint8_t *data() const noexcept { return bytes.data(); }
  size_t size() const noexcept { return bytes.size(); }
};

/* The large-answer handler of the C++ guests: msg_big answers big_size
 * bytes moved in from a std::vector (no copy), msg_big_throw sets them
 * and then fails, msg_tracked answers @p live's Tracked bytes, anything
 * else a small answer in the response buffer. */
struct BigHandler {
  std::atomic<int> *live = nullptr;
  void operator()(const shmipc::Request &req, shmipc::AnswerResponse &resp)
  {
    if (req.type == msg_big || req.type == msg_big_throw) {
      std::vector<uint8_t> v = big_answer(big_size);
      const void *at = v.data();
      if (!resp.set(std::move(v)))
        return resp.fail("no memory");
      if (!resp.is_set() || v.data() == at) // moved, not copied
        return resp.fail("not moved");
      if (req.type == msg_big_throw)
        refuse_answer(resp, "big trouble");
      return;
    }
    if (req.type == msg_tracked && live != nullptr) {
      if (!resp.set(Tracked(big_answer(big_size / 5), live)))
        resp.fail("no memory");
      return;
    }
    resp.assign("small", 5);
  }
};

/* A host's checks of its guest's large answers (a BigHandler). */
void check_big_answers(shmipc::Host &h)
{
  // call_alloc: the whole answer in one buffer of the library's.
  shmipc::Result<shmipc::Answer> a = h.call_alloc(msg_big, "x", 1, 30s);
  CHECK(a.ok() && a->size() == big_size && a->type() == msg_big);
  CHECK(a.ok() && is_big(a->data(), a->size()));
#if SHMIPC_HPP_SPAN
  CHECK(a.ok() && a->bytes().size() == big_size);
#endif
  // A small answer comes the same way.
  shmipc::Result<shmipc::Answer> sm = h.call_alloc(SHMIPC_MSG_NORMAL, "x", 1);
  CHECK(sm.ok() && sm->size() == 5 && text(sm->data(), 5) == "small");

  // call_chunks: the pieces in order, each checked where it lands.
  size_t got = 0, pieces = 0;
  bool good = true;
  shmipc::Status c = h.call_chunks(
      msg_big, "x", 1,
      [&](const shmipc::Chunk &k) {
        good = good && k.type == msg_big && k.total == big_size &&
               k.offset == got && is_big(k.data, k.size, got);
        got += k.size;
        ++pieces;
      },
      30s);
  CHECK(c.ok() && good && got == big_size && pieces > 1);

  // A callable that stops mid-way: REFUSED, after exactly its pieces.
  size_t seen = 0;
  shmipc::Status stop = h.call_chunks(
      msg_big, "x", 1, [&seen](const shmipc::Chunk &) { return ++seen < 3; },
      30s);
  CHECK(stop.code() == SHMIPC_E_REFUSED && seen == 3);
#if SHMIPC_HPP_EXCEPTIONS
  // An exception stops it too, and its text ends the message.
  seen = 0;
  shmipc::Status thrown = h.call_chunks(
      msg_big, "x", 1,
      [&seen](const shmipc::Chunk &) {
        if (++seen == 2)
          throw std::runtime_error("chunk trouble");
      },
      30s);
  CHECK(thrown.code() == SHMIPC_E_REFUSED && seen == 2 &&
        thrown.message().find(": chunk trouble") != std::string::npos);
#endif

  // The handler fails after it set its bytes: SYSTEM_ERROR with its text.
  shmipc::Result<shmipc::Answer> bad = h.call_alloc(msg_big_throw, "x", 1, 30s);
  CHECK(bad.code() == SHMIPC_E_REMOTE && bad.has_value() &&
        bad->type() == SHMIPC_MSG_SYSTEM_ERROR &&
        text(bad->data(), bad->size()) == "big trouble" &&
        bad.message().find("big trouble") != std::string::npos);

  // The slot: an announcement, fetched; another, dropped.
  shmipc::Result<shmipc::Slot> s = h.acquire(10s);
  CHECK(s.ok());
  if (!s)
    return;
  CHECK(s->answer_alloc(1s).code() == SHMIPC_E_STATE); // nothing announced
  std::memcpy(s->req_data(), "x", 1);
  CHECK(s->send(msg_big, 1, shmipc::Align::start, 30s).ok());
  CHECK(s->resp_type() == SHMIPC_MSG_LARGE_ANSWER &&
        s->answer_total() == big_size);
  shmipc::Result<shmipc::Answer> sa = s->answer_alloc(30s);
  CHECK(sa.ok() && sa->size() == big_size && sa->type() == msg_big &&
        is_big(sa->data(), sa->size()));
  CHECK(s->resp_size() == 0 && s->answer_total() == 0);
  CHECK(s->send(msg_big, 1, shmipc::Align::start, 30s).ok());
  CHECK(s->answer_total() == big_size);
  CHECK(s->answer_drop(10s).ok());
  CHECK(s->answer_drop(10s).code() == SHMIPC_E_STATE);

  // The Answer owns its buffer: moved, released, freed.
  if (sa) {
    shmipc::Answer owned = std::move(*sa);
    CHECK(sa->data() == nullptr && sa->size() == 0 && owned.data() != nullptr);
    void *raw = owned.release();
    CHECK(raw != nullptr && owned.data() == nullptr);
    shmipc_answer_free(raw);
  }
}

/* A forked C++ guest answering with BigHandler until the host closes;
 * then its counters must show every answer given back. */
int big_guest_main(const std::string &name)
{
  shmipc::Result<shmipc::Guest> g = shmipc::Guest::attach(name.c_str(), 10s);
  if (!g) {
    std::fprintf(stderr, "answer guest: attach: %s\n", g.message().c_str());
    return 40;
  }
  if (shmipc::Status st =
          g->start_answers(BigHandler{}, shmipc::answer_limits());
      !st) {
    std::fprintf(stderr, "answer guest: start: %s\n", st.message().c_str());
    return 41;
  }
  shmipc::Status w = g->wait(120s);
  if (!w) {
    std::fprintf(stderr, "answer guest: wait: %s\n", w.message().c_str());
    return 42;
  }
  shmipc::AnswerStats st = g->answer_stats();
  // Pulled whole: call_alloc, call_chunks, the slot's; the rest dropped.
  if (st.parked != 0 || st.held != 0 || st.released < 3 || st.dropped < 2 ||
      st.peak_held < big_size) {
    std::fprintf(stderr,
                 "answer guest: stats parked %u held %llu released %llu "
                 "dropped %llu\n",
                 st.parked, static_cast<unsigned long long>(st.held),
                 static_cast<unsigned long long>(st.released),
                 static_cast<unsigned long long>(st.dropped));
    return 43;
  }
  return 0;
}

/* In one process: the bytes a handler moves in with set() are deleted
 * once the host has pulled them, and a guest started with start() cannot
 * start again with start_answers(). */
void test_large_answer_release()
{
  std::string name = name_of("release");
  shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 2, 0));
  CHECK(h.ok());
  if (!h)
    return;
  shmipc::Result<shmipc::Guest> g = shmipc::Guest::attach(name.c_str(), 5s);
  CHECK(g.ok());
  if (!g)
    return;
  std::atomic<int> live{0};
  shmipc::AnswerLimits lim = shmipc::answer_limits();
  lim.max_answers = 0; // out of range
  CHECK(g->start_answers(BigHandler{&live}, lim).code() == SHMIPC_E_INVALID);
  shmipc::Guest g2 = std::move(*g); // the failed start's handler moves too
  CHECK(g2.start_answers(BigHandler{&live}).code() == SHMIPC_E_STATE);
  g2.reset();
  g = shmipc::Guest::attach(name.c_str(), 5s);
  CHECK(g.ok() && g->start_answers(BigHandler{&live}).ok());
  if (!g)
    return;
  for (int round = 0; round < 3; round++) {
    shmipc::Result<shmipc::Answer> a = h->call_alloc(msg_tracked, "", 0, 30s);
    CHECK(a.ok() && a->size() == big_size / 5 && is_big(a->data(), a->size()));
  }
  auto end = std::chrono::steady_clock::now() + 5s;
  while (live.load() != 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(1ms);
  CHECK(live.load() == 0);
  shmipc::AnswerStats st = g->answer_stats();
  CHECK(st.released == 3 && st.parked == 0 && st.held == 0);
  CHECK(shmipc::Guest().answer_stats().released == 0);
}

void test_large_answers_across_processes()
{
  std::string name = name_of("answers");
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0)
    _exit(big_guest_main(name));
  CHECK(pid > 0);
  if (pid <= 0)
    return;
  {
    shmipc::Result<shmipc::Host> h = shmipc::Host::create(small(name, 4, 0));
    CHECK(h.ok());
    if (!h) {
      kill(pid, SIGKILL);
      reap(pid, 1s);
      return;
    }
    CHECK(h->wait_guest(10s).ok());
    check_big_answers(*h);
  } // ~Host: the session closes, the guest's wait ends
  CHECK(reap(pid, 30s) == 0);
}

/* splitmix64's finalizer, for the echo guest's type 224 data. */
uint64_t splitmix(uint64_t z)
{
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9u;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

void put_le(unsigned char *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = static_cast<unsigned char>(v >> (8 * i));
}

uint64_t get_le(const unsigned char *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* The bytes of the echo guests' large answer of @p seed (type 220;
 * tests/common/pattern.h). */
std::vector<unsigned char> pattern(uint64_t len, uint64_t seed)
{
  std::vector<unsigned char> p(static_cast<size_t>(len));
  uint64_t x = seed * 0x9E3779B97F4A7C15u + 1;
  for (size_t i = 0; i < p.size(); i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1Du;
    for (size_t k = 0; k < 8 && i + k < p.size(); k++)
      p[i + k] = static_cast<unsigned char>(v >> (8 * k));
  }
  return p;
}

/* The launched C++ guest (--inherited-guest): echoes each request with
 * "c++:" before it until the host closes. */
int inherited_guest_main()
{
  shmipc::Result<shmipc::Guest> g = shmipc::Guest::attach_inherited(10s);
  if (!g) {
    std::fprintf(stderr, "inherited guest: attach: %s\n", g.message().c_str());
    return 30;
  }
  shmipc::Status st = g->start([gp = &*g](const shmipc::Request &req,
                                          shmipc::Response &resp) {
    if (req.type == msg_deadline) {
      // 16 bytes, LE: the time left by the caller's deadline in ns
      // (-1 for none, -2 for a refused look), then the cancel mark
      // (1, 0, or -2 refused).
      shmipc::Result<std::optional<shmipc::Clock::time_point>> d =
          gp->request_deadline(req);
      shmipc::Result<bool> c = gp->request_cancelled(req);
      int64_t left = !d ? -2 : !*d ? -1 : (**d - shmipc::Clock::now()).count();
      int64_t mark = !c ? -2 : *c ? 1 : 0;
      if (resp.capacity() < 16)
        return false;
      put_le(static_cast<unsigned char *>(resp.data()),
             static_cast<uint64_t>(left), 8);
      put_le(static_cast<unsigned char *>(resp.data()) + 8,
             static_cast<uint64_t>(mark), 8);
      resp.set_size(16);
      return true;
    }
    if (req.type == msg_guest_abort) {
      // A guest call the host does not serve, ended by Guest::abort()
      // from another thread; 16 bytes, LE: its code, then the ms it took.
      std::thread t([gp] {
        std::this_thread::sleep_for(20ms);
        (void)gp->abort();
      });
      char b[8];
      auto t0 = std::chrono::steady_clock::now();
      shmipc::Result<shmipc::Reply> r =
          gp->call(SHMIPC_MSG_GUEST_CALL, "a", 1, b, sizeof b, 5s);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - t0);
      t.join();
      (void)gp->abort_reset();
      if (resp.capacity() < 16)
        return false;
      put_le(static_cast<unsigned char *>(resp.data()),
             static_cast<uint64_t>(static_cast<int64_t>(r.code())), 8);
      put_le(static_cast<unsigned char *>(resp.data()) + 8,
             static_cast<uint64_t>(ms.count()), 8);
      resp.set_size(16);
      return true;
    }
    std::string out = "c++:" + text(req.data, req.size);
    resp.set_type(req.type);
    return resp.assign(out.data(), out.size());
  });
  if (!st) {
    std::fprintf(stderr, "inherited guest: start: %s\n", st.message().c_str());
    return 31;
  }
  shmipc::Status w = g->wait(60s);
  return w ? 0 : 32;
}

shmipc_host_config anonymous_config()
{
  shmipc_host_config c = shmipc::Host::config(nullptr);
  c.host_slots = 2;
  c.guest_slots = 2;
  c.req_capacity = 4096;
  c.resp_capacity = 4096;
  c.liveness_interval_ns = 10000000; // 10 ms: a dead child is seen soon
  return c;
}

/* Whether process @p pid is gone (reaped: no zombie left). */
bool gone(int64_t pid)
{
  return kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH;
}

/* An anonymous C++ host launches the C echo guest: calls, a guest call to
 * the host's listener, a guest stream into the host's Reassembler, the
 * child's exit once the host closes; a killed child's signal; a Child
 * that frees its running process; and this program as an inherited C++
 * guest. */
void test_launch()
{
  const char *echo = std::getenv("SHMIPC_TEST_ECHO_C");
  CHECK(echo != nullptr && *echo != '\0'); // set by tests/cpp/meson.build
  if (echo == nullptr || *echo == '\0')
    return;
  {
    std::string name = name_of("named");
    shmipc::Result<shmipc::Host> named =
        shmipc::Host::create(small(name, 1, 0));
    CHECK(named.ok());
    if (named)
      CHECK(named->launch(echo, "-inherited").code() == SHMIPC_E_STATE);
  }
  // Not launched: nothing to inherit.
  CHECK(shmipc::Guest::attach_inherited(0ms).code() == SHMIPC_E_NOT_FOUND);

  std::vector<unsigned char> got;
  uint32_t got_type = 0;
  shmipc::Result<shmipc::Reassembler> r = shmipc::Reassembler::create(
      shmipc::stream_limits(),
      [&got, &got_type](shmipc::Stream &s) {
        const auto *p = static_cast<const unsigned char *>(s.data());
        got.assign(p, p + s.size());
        got_type = s.app_type();
      },
      [](const shmipc::Request &, shmipc::Response &) {});
  CHECK(r.ok());
  shmipc::Result<shmipc::Host> h =
      shmipc::Host::create_anonymous(anonymous_config());
  CHECK(h.ok());
  if (!h || !r)
    return;
  CHECK(h->launch("/nonexistent/shmipc-guest").code() == SHMIPC_E_NOT_FOUND);
  CHECK(h->stream_receiver(*r).ok());
  CHECK(h->listen([](const shmipc::Request &req, shmipc::Response &resp) {
           std::string out = "host:" + text(req.data, req.size);
           resp.assign(out.data(), out.size());
         }).ok());

  shmipc::Result<shmipc::Child> c = h->launch(echo, "-inherited");
  CHECK(c.ok());
  if (!c)
    return;
  CHECK(c->pid() > 0);
  CHECK(c->wait(0ms).code() == SHMIPC_E_TIMEOUT); // it serves
  CHECK(h->wait_guest(10s).ok());
  char buf[256];
  shmipc::Result<shmipc::Reply> e =
      h->call(SHMIPC_MSG_NORMAL, "ping", 4, buf, sizeof buf, 10s);
  CHECK(e.ok() && text(buf, e->size) == "ping");
  // 202: the C guest calls back into the host's listener.
  shmipc::Result<shmipc::Reply> cb =
      h->call(202, "cb", 2, buf, sizeof buf, 10s);
  CHECK(cb.ok() && cb->type == 202 && text(buf, cb->size) == "host:cb");
  // 224: the C guest streams 300000 generated bytes into the receiver.
  unsigned char req[32] = {};
  const uint64_t len = 300000, seed = 17;
  put_le(req, len, 8);
  put_le(req + 8, seed, 8);
  put_le(req + 16, stream_guest, 4);
  put_le(req + 20, 10000, 4);
  unsigned char ans[128];
  shmipc::Result<shmipc::Reply> gs =
      h->call(224, req, sizeof req, ans, sizeof ans, 30s);
  CHECK(gs.ok() && gs->size == 72 && get_le(ans, 4) == 0);
  CHECK(got.size() == len && got_type == stream_guest);
  if (got.size() == len) {
    bool same = true;
    for (uint64_t i = 0; i < len; i++) {
      uint64_t w = splitmix(seed + (i / 8 + 1) * 0x9E3779B97F4A7C15u);
      same = same && got[i] == static_cast<unsigned char>(w >> (8 * (i % 8)));
    }
    CHECK(same);
  }
  // 220: the C guest's large answer of the test pattern, whole and in
  // pieces.
  const uint64_t big = 1000003, big_seed = 5;
  unsigned char breq[16];
  put_le(breq, big, 8);
  put_le(breq + 8, big_seed, 8);
  std::vector<unsigned char> want = pattern(big, big_seed);
  shmipc::Result<shmipc::Answer> ba =
      h->call_alloc(220, breq, sizeof breq, 30s);
  CHECK(ba.ok() && ba->type() == 220 && ba->size() == big &&
        std::memcmp(ba->data(), want.data(), big) == 0);
  std::vector<unsigned char> pieces;
  CHECK(h->call_chunks(
             220, breq, sizeof breq,
             [&pieces](const shmipc::Chunk &k) {
               const auto *p = static_cast<const unsigned char *>(k.data);
               if (k.offset != pieces.size())
                 return false;
               pieces.insert(pieces.end(), p, p + k.size);
               return true;
             },
             30s)
            .ok());
  CHECK(pieces == want);
  shmipc::Result<shmipc::Stats> hs = h->stats();
  CHECK(hs.ok() && hs->calls >= 5 && hs->answered >= 5 && hs->served >= 3);

  // The host closes: the child serves no more and exits 0.
  CHECK(h->listen_stop().ok());
  CHECK(h->stream_receiver_detach().ok());
  h->reset();
  shmipc::Result<shmipc::ChildExit> x = c->wait(10s);
  CHECK(x.ok() && x->exited() && x->code == 0);
  shmipc::Result<shmipc::ChildExit> again = c->wait(0ms);
  CHECK(again.ok() && again->exited() && again->code == 0);
  int64_t first = c->pid();
  c->reset();
  CHECK(!*c && c->pid() == 0 && gone(first));
  CHECK(c->wait(0ms).code() == SHMIPC_E_INVALID);

  // A killed child: its signal, and calls end with PEER_GONE.
  h = shmipc::Host::create_anonymous(anonymous_config());
  CHECK(h.ok());
  if (!h)
    return;
  shmipc::Result<shmipc::Child> k = h->launch(echo, "-inherited");
  CHECK(k.ok());
  if (!k)
    return;
  CHECK(h->wait_guest(10s).ok());
  CHECK(k->kill().ok());
  shmipc::Result<shmipc::ChildExit> kx = k->wait(10s);
  CHECK(kx.ok() && !kx->exited() && kx->signal == SIGKILL);
  CHECK(h->call(SHMIPC_MSG_NORMAL, "x", 1, buf, sizeof buf, 10s).code() ==
        SHMIPC_E_PEER_GONE);

  // Launched again, this program as the guest; a Child freed while its
  // process runs kills and reaps it.
  const char *self_argv[] = {"/proc/self/exe", "--inherited-guest", nullptr};
  shmipc::LaunchConfig lc = shmipc::launch_config(self_argv[0]);
  lc.argv = self_argv;
  shmipc::Result<shmipc::Child> cc = h->launch(lc);
  CHECK(cc.ok());
  if (!cc)
    return;
  CHECK(h->wait_guest(10s).ok());
  shmipc::Result<shmipc::Reply> ce =
      h->call(SHMIPC_MSG_APP_START + 1, "hi", 2, buf, sizeof buf, 10s);
  CHECK(ce.ok() && ce->type == SHMIPC_MSG_APP_START + 1 &&
        text(buf, ce->size) == "c++:hi");
  int64_t running = cc->pid();
  CHECK(!gone(running));
  {
    shmipc::Child owned = std::move(*cc);
    CHECK(!*cc && owned.pid() == running);
  } // ~Child: killed and reaped
  CHECK(gone(running));
}
#endif

#ifndef _WIN32
/* An anonymous host of @p cfg into @p h that launched @p prog (the C echo
 * guest, or this program as a C++ guest) into @p c, its guest live. */
bool launch_guest(const shmipc_host_config &cfg, const char *prog,
                  const char *arg, shmipc::Host &h, shmipc::Child &c)
{
  shmipc::Result<shmipc::Host> hr = shmipc::Host::create_anonymous(cfg);
  CHECK(hr.ok());
  if (!hr)
    return false;
  h = std::move(*hr);
  shmipc::Result<shmipc::Child> cr = h.launch(prog, arg);
  CHECK(cr.ok());
  if (!cr)
    return false;
  c = std::move(*cr);
  shmipc::Status w = h.wait_guest(10s);
  CHECK(w.ok());
  return w.ok();
}

const char *echo_c_guest()
{
  const char *echo = std::getenv("SHMIPC_TEST_ECHO_C");
  CHECK(echo != nullptr && *echo != '\0'); // set by tests/cpp/meson.build
  return echo != nullptr && *echo != '\0' ? echo : nullptr;
}

/* Publishes an echo-guest request of type 201 (answered after @p ms) with
 * the bytes @p tag after the delay; the answer echoes the whole request. */
bool publish_late(shmipc::Slot &s, uint32_t ms, const std::string &tag)
{
  auto *p = static_cast<unsigned char *>(s.req_data());
  put_le(p, ms, 4);
  std::memcpy(p + 4, tag.data(), tag.size());
  shmipc::Status st = s.publish(201, 4 + tag.size());
  CHECK(st.ok());
  return st.ok();
}

/* Slot::poll(), wait_any() and the aborts against the C echo guest:
 * a timeout with every call still in flight and no index; the call that
 * ends first by its index (an answered one among slow ones); a slot's
 * abort as SHMIPC_E_ABORTED with that slot's index; the host's abort as
 * SHMIPC_E_ABORTED without one, for wait_any(), poll() and call(), until
 * abort_reset(). */
void test_wait_any_abort()
{
  const char *echo = echo_c_guest();
  if (echo == nullptr)
    return;
  shmipc_host_config cfg = anonymous_config();
  cfg.host_slots = 4;
  shmipc::Child child;
  shmipc::Host h;
  if (!launch_guest(cfg, echo, "-inherited", h, child))
    return;

  std::vector<shmipc::Slot> s;
  for (int i = 0; i < 3; i++) {
    shmipc::Result<shmipc::Slot> a = h.acquire(5s);
    CHECK(a.ok());
    if (!a)
      return;
    s.push_back(std::move(*a));
  }
  // Two slow calls: nothing ends within 50 ms; no index, still in flight.
  if (!publish_late(s[0], 3000, "slow0") || !publish_late(s[1], 3000, "slow1"))
    return;
  shmipc::Result<size_t> none = shmipc::wait_any(s.data(), 2, 50ms);
  CHECK(none.code() == SHMIPC_E_TIMEOUT && !none.has_value());
  shmipc::Result<bool> p0 = s[0].poll();
  CHECK(p0.ok() && !*p0);

  // A prompt call beside them ends first, by its index, readable.
  std::memcpy(s[2].req_data(), "quick", 5);
  CHECK(s[2].publish(SHMIPC_MSG_NORMAL, 5).ok());
  shmipc::Result<size_t> first = shmipc::wait_any(s.data(), 3, 5s);
  CHECK(first.ok() && *first == 2);
  CHECK(text(s[2].resp_data(), s[2].resp_size()) == "quick");
  shmipc::Result<bool> p2 = s[2].poll();
  CHECK(p2.ok() && *p2);
  s[2].release();

  // A slot's abort from another thread ends that call, by its index.
  std::thread aborter([&s] {
    std::this_thread::sleep_for(20ms);
    CHECK(s[1].abort().ok());
  });
  auto t0 = std::chrono::steady_clock::now();
  shmipc::Result<size_t> ab = shmipc::wait_any(s.data(), 2, 5s);
  auto took = std::chrono::steady_clock::now() - t0;
  aborter.join();
  CHECK(ab.code() == SHMIPC_E_ABORTED && ab.has_value() && *ab == 1);
  CHECK(took < 2s); // ended by the abort, not by the 3 s answer
  shmipc::Result<bool> p1 = s[1].poll();
  CHECK(p1.code() == SHMIPC_E_STATE); // the abort ended it: over
  s[1].release();
  CHECK(shmipc::Slot().abort().code() == SHMIPC_E_INVALID);

  // The C-slot form over what is left, and the host's abort: no index,
  // sticky for wait_any(), poll() and call() until abort_reset().
  CHECK(h.abort().ok());
  shmipc_slot *c0[] = {s[0].get()};
  shmipc::Result<size_t> hab = shmipc::wait_any(c0, 1, 5s);
  CHECK(hab.code() == SHMIPC_E_ABORTED && !hab.has_value());
  char buf[64];
  CHECK(h.call(SHMIPC_MSG_NORMAL, "x", 1, buf, sizeof buf, 5s).code() ==
        SHMIPC_E_ABORTED);
  shmipc::Result<bool> p0a = s[0].poll();
  CHECK(p0a.code() == SHMIPC_E_ABORTED);
  s[0].release();
  CHECK(h.abort_reset().ok());
  shmipc::Result<shmipc::Reply> again =
      h.call(SHMIPC_MSG_NORMAL, "y", 1, buf, sizeof buf, 5s);
  CHECK(again.ok() && text(buf, again->size) == "y");
  CHECK(shmipc::Host().abort().code() == SHMIPC_E_INVALID);
  CHECK(shmipc::Guest().abort().code() == SHMIPC_E_INVALID);
  CHECK(shmipc::Guest().abort_reset().code() == SHMIPC_E_INVALID);
}

/* The caller's deadline at the responder, both ways: the C echo guest's
 * guest call (type 234, 3 s timeout) to a C++ handler on the listener,
 * which reads its deadline and cancel mark through Host; a host call to
 * this program as a C++ guest, whose handler reads them through Guest;
 * a pointer outside the request buffers is refused. That guest also
 * ends a guest call of its own, blocked, with Guest::abort(). */
void test_request_deadline()
{
  const char *echo = echo_c_guest();
  if (echo == nullptr)
    return;
  {
    shmipc::Child child;
    shmipc::Host h;
    if (!launch_guest(anonymous_config(), echo, "-inherited", h, child))
      return;
    std::atomic<int64_t> left{-3};
    std::atomic<int> mark{-3}, foreign{-3}, served{0};
    shmipc::Host *hp = &h;
    CHECK(h.listen([hp, &left, &mark, &foreign,
                    &served](const shmipc::Request &rq, shmipc::Response &rs) {
             shmipc::Result<std::optional<shmipc::Clock::time_point>> d =
                 hp->request_deadline(rq);
             shmipc::Result<bool> c = hp->request_cancelled(rq.data);
             left = !d ? -2 : !*d ? -1 : (**d - shmipc::Clock::now()).count();
             mark = !c ? -2 : *c ? 1 : 0;
             int stack = 0;
             foreign = hp->request_deadline(&stack).code();
             ++served;
             rs.set_type(rq.type);
             (void)rs.assign(rq.data, rq.size);
           }).ok());
    unsigned char req[8];
    put_le(req, 3000, 4); // the guest call's timeout, ms
    std::memcpy(req + 4, "dl", 2);
    unsigned char out[64];
    shmipc::Result<shmipc::Reply> r = h.call(234, req, 6, out, sizeof out, 10s);
    CHECK(r.ok() && r->type == 234 && r->size == 8 && get_le(out, 8) == 0);
    CHECK(served == 1);
    // Served within the 3 s the guest gave its call.
    CHECK(left > 2000000000 && left <= 3000000000);
    CHECK(mark == 0);
    CHECK(foreign == SHMIPC_E_INVALID);
    int64_t none = 0;
    CHECK(h.request_deadline(&none).code() == SHMIPC_E_INVALID);
    CHECK(h.request_cancelled(&none).code() == SHMIPC_E_INVALID);
    CHECK(h.listen_stop().ok());
  }

  // Through Guest: this program as the guest (--inherited-guest).
  shmipc::Child child;
  shmipc::Host h;
  if (!launch_guest(anonymous_config(), "/proc/self/exe", "--inherited-guest",
                    h, child))
    return;
  unsigned char out[64];
  shmipc::Result<shmipc::Reply> r =
      h.call(msg_deadline, "d", 1, out, sizeof out, 4s);
  CHECK(r.ok() && r->size == 16);
  int64_t gleft = static_cast<int64_t>(get_le(out, 8));
  CHECK(gleft > 3000000000 && gleft <= 4000000000);
  CHECK(get_le(out + 8, 8) == 0);
  r = h.call(msg_deadline, "d", 1, out, sizeof out,
             shmipc::Timeout::infinite());
  CHECK(r.ok() && r->size == 16);
  CHECK(static_cast<int64_t>(get_le(out, 8)) == -1); // no deadline
  // Guest::abort() ends the guest's own blocked call (the host serves
  // none) well before its 5 s timeout.
  r = h.call(msg_guest_abort, "a", 1, out, sizeof out, 10s);
  CHECK(r.ok() && r->size == 16);
  CHECK(static_cast<int64_t>(get_le(out, 8)) == SHMIPC_E_ABORTED);
  CHECK(get_le(out + 8, 8) < 2000);
  shmipc::Guest empty;
  CHECK(empty.request_deadline(out).code() == SHMIPC_E_INVALID);
  CHECK(empty.request_cancelled(out).code() == SHMIPC_E_INVALID);
  // The clock is the one the deadlines are on, and it moves.
  auto c0 = shmipc::Clock::now();
  std::this_thread::sleep_for(2ms);
  CHECK(shmipc::Clock::now() - c0 >= 2ms);
}
#endif

#ifdef __linux__
/* An epoll loop on the host's event handle, as examples/evloop_epoll.c:
 * four calls in flight through the C++ wrappers (three answered late by
 * the C echo guest, type 201; one, type 202, that the guest answers with
 * what the loop's own serve() answered to its guest call), the loop
 * sleeping in epoll_wait() only when event_arm() says so and woken by the
 * handle, never by epoll's timeout. */
void test_evloop_epoll()
{
  const char *echo = echo_c_guest();
  if (echo == nullptr)
    return;
  shmipc_host_config cfg = anonymous_config();
  cfg.host_slots = 4;
  shmipc::Child child;
  shmipc::Host h;
  if (!launch_guest(cfg, echo, "-inherited", h, child))
    return;
  CHECK(h.event_arm(shmipc::Timeout::none()).code() == SHMIPC_E_STATE);
  shmipc::Result<intptr_t> fd = h.event_handle();
  CHECK(fd.ok() && *fd >= 0);
  if (!fd)
    return;
  shmipc::Result<intptr_t> fd2 = h.event_handle();
  CHECK(fd2.ok() && *fd2 == *fd);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  if (ep < 0)
    return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = 1;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, static_cast<int>(*fd), &ev) == 0);

  std::vector<shmipc::Slot> inflight;
  std::vector<std::string> want;
  for (uint32_t i = 0; i < 4; i++) {
    shmipc::Result<shmipc::Slot> a = h.acquire(5s);
    CHECK(a.ok());
    if (!a)
      break;
    inflight.push_back(std::move(*a));
    shmipc::Slot &s = inflight.back();
    if (i < 3) {
      std::string tag = "late" + std::to_string(i);
      CHECK(publish_late(s, 30 + 30 * i, tag));
      want.push_back(text(s.req_data(), 4 + tag.size()));
    } else {
      std::memcpy(s.req_data(), "loop", 4);
      CHECK(s.publish(202, 4).ok());
      want.push_back("served:loop");
    }
  }
  auto serve_one = [](const shmipc::Request &rq, shmipc::Response &rs) {
    std::string out = "served:" + text(rq.data, rq.size);
    rs.set_type(rq.type);
    return rs.assign(out.data(), out.size());
  };
  int answered = 0, sleeps = 0, fired = 0, epoll_timeouts = 0, served = 0;
  auto end = std::chrono::steady_clock::now() + 10s;
  while (!inflight.empty() && std::chrono::steady_clock::now() < end) {
    shmipc::Result<bool> armed =
        h.event_arm(inflight.data(), inflight.size(), shmipc::Timeout::none());
    CHECK(armed.ok());
    if (!armed)
      break;
    if (!*armed) {
      ++sleeps;
      epoll_event got[2];
      int n = epoll_wait(ep, got, 2, 2000);
      if (n == 0)
        ++epoll_timeouts;
      for (int k = 0; k < n; k++)
        if (got[k].data.u32 == 1) {
          ++fired;
          CHECK(h.event_clear().ok());
        }
    }
    for (size_t i = 0; i < inflight.size();) {
      shmipc::Result<bool> p = inflight[i].poll();
      CHECK(p.ok());
      if (!p.ok() || *p) {
        if (p.ok()) {
          ++answered;
          CHECK(text(inflight[i].resp_data(), inflight[i].resp_size()) ==
                want[i]);
        }
        inflight.erase(inflight.begin() + static_cast<std::ptrdiff_t>(i));
        want.erase(want.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    shmipc::Result<int> sv = h.serve(serve_one, shmipc::Timeout::none());
    CHECK(sv.ok() || sv.code() == SHMIPC_E_TIMEOUT);
    if (sv.ok())
      served += *sv;
  }
  CHECK(answered == 4 && served == 1);
  CHECK(sleeps > 0 && fired > 0 && epoll_timeouts == 0);
  CHECK(h.event_clear().ok());
  close(ep);
}
#endif

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
    {"stats", test_stats},
    {"guest_stream_refusals", test_guest_stream_refusals},
#ifndef _WIN32
    {"across_processes", test_across_processes},
    {"guest_stream_across_processes", test_guest_stream_across_processes},
    {"launch", test_launch},
    {"large_answer_release", test_large_answer_release},
    {"large_answers_across_processes", test_large_answers_across_processes},
    {"wait_any_abort", test_wait_any_abort},
    {"request_deadline", test_request_deadline},
#endif
#ifdef __linux__
    {"evloop_epoll", test_evloop_epoll},
#endif
};

} // namespace

int main(int argc, char **argv)
{
#ifndef _WIN32
  if (argc == 2 && std::strcmp(argv[1], "--inherited-guest") == 0)
    return inherited_guest_main();
#endif
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
