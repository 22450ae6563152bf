// SPDX-License-Identifier: MIT
/**
 * @file shmipc.hpp
 * @brief libshmipc for C++17: RAII handles, any callable as a handler,
 * errors as values, timeouts as std::chrono durations.
 *
 * Header-only, over the C API of shmipc.h alone: it adds no symbol to the
 * library and links nothing but `-lshmipc`. Everything in shmipc.h stays
 * usable beside it (each handle gives its C handle with `get()`).
 *
 * Conventions:
 * - No function of this header throws (but see Memory below), and no
 *   exception crosses into the library: a handler's exception is caught in the
 * trampoline and answered as SHMIPC_MSG_SYSTEM_ERROR with the exception's
 * what() as the reason. The header compiles and works with `-fno-exceptions`.
 * - Failures come back as values: shmipc::Status (the code and the text
 *   shmipc_last_error() gave on the failing thread) and shmipc::Result
 *   (a value or a Status). Both are `[[nodiscard]]`.
 * - Timeouts are shmipc::Timeout, made from any std::chrono duration, or
 *   shmipc::Timeout::fallback() (the handle's configured default, as
 *   SHMIPC_TIMEOUT_DEFAULT), shmipc::Timeout::infinite() (as
 *   SHMIPC_TIMEOUT_INFINITE) or shmipc::Timeout::none() (0: one look, no
 *   wait). A negative duration counts as none(), as std::chrono waits
 *   treat one; a duration of 9.2e18 ns (292 years) or more counts as
 *   INT64_MAX nanoseconds. A default-constructed Timeout is fallback().
 *   A request's deadline, as a handler asks for it (Host::request_deadline(),
 *   Guest::request_deadline()), is a time point of shmipc::Clock, the
 *   clock of shmipc_clock_ns().
 * - Buffers are a pointer and a size; under C++20 every such function has
 *   a std::span overload as well.
 * - Handles are move-only. A moved-from handle is empty: its get() is
 *   nullptr, and its functions give SHMIPC_E_INVALID as the C functions do
 *   for a NULL handle.
 * - Memory: the text of a failed Status is a std::string, allocated only
 *   on failure; if that allocation fails, the program ends
 *   (std::terminate from a noexcept function, or the allocator's abort
 *   under -fno-exceptions). Copying a handler into a Host or Guest may
 *   throw whatever its copy or move throws.
 * - Threads: as for the C handle each class wraps (shmipc.h), except that
 *   Host::listen(), Host::listen_stop(), Guest::start() and
 *   Guest::start_answers(), which keep the handler inside the object,
 *   must not run on two threads at once for the same object.
 *
 * The sections follow shmipc.h's, and each wrapper is made the same way,
 * which a wrapper of a later C function follows too: a C function that
 * returns a code becomes a member returning Status::from_rc() of it (or a
 * Result<T> when it hands something out); a C handle becomes a move-only
 * class whose destructor is the C destroy; a C callback becomes any
 * callable, kept in a detail::Box beside the handle (destroyed after it)
 * and entered through a noexcept trampoline that turns an exception into
 * the C callback's failure.
 */
#ifndef SHMIPC_SHMIPC_HPP
#define SHMIPC_SHMIPC_HPP

#include "shmipc.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#endif
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
/** Defined to 1 when the std::span overloads are there (C++20). */
#define SHMIPC_HPP_SPAN 1
#else
/** Defined to 0 before C++20 (no std::span overloads). */
#define SHMIPC_HPP_SPAN 0
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
/** Defined to 1 when the header is compiled with exceptions on: the
 *  handler trampolines then catch them. */
#define SHMIPC_HPP_EXCEPTIONS 1
#include <exception>
#else
/** Defined to 0 under -fno-exceptions: a handler then fails with
 *  Response::fail(). */
#define SHMIPC_HPP_EXCEPTIONS 0
#endif

/** The C++ API of libshmipc. */
namespace shmipc
{

/* ------------------------------------------------------------------ */
/** @name Errors and timeouts */
/**@{*/

/**
 * The outcome of an operation: SHMIPC_OK, or a negative SHMIPC_E_* code
 * with the text shmipc_last_error() gave for it on the thread that failed
 * (copied, so it stays valid). A Status converts to true when it is OK.
 */
class [[nodiscard]] Status
{
public:
  /** An OK status. */
  Status() noexcept = default;

  /** A status of @p code with the message @p message.
   *  @param code     SHMIPC_OK or a SHMIPC_E_* code
   *  @param message  what the failure was about */
  Status(int code, std::string message)
      : code_(code), message_(std::move(message))
  {
  }

  /** The status of a C function's result: OK for 0 and above, else the
   *  code with this thread's shmipc_last_error(). Call it right after the
   *  C function, on the same thread.
   *  @param rc  what the C function returned
   *  @return the status */
  static Status from_rc(int rc)
  {
    if (rc >= 0)
      return Status();
    return Status(rc, shmipc_last_error());
  }

  /** @return true when the operation succeeded */
  bool ok() const noexcept { return code_ >= 0; }
  /** @return ok() */
  explicit operator bool() const noexcept { return ok(); }
  /** @return SHMIPC_OK or the SHMIPC_E_* code */
  int code() const noexcept { return code_; }
  /** @return shmipc_strerror() of the code (static, never NULL) */
  const char *name() const noexcept { return shmipc_strerror(code_); }
  /** @return the failure's text ("" when OK): shmipc_strerror() of the
   *          code and, after ": ", what it was about */
  const std::string &message() const noexcept { return message_; }

private:
  int code_ = SHMIPC_OK;
  std::string message_;
};

/**
 * A value of type @p T, or the Status that says why there is none.
 * Some operations fill the value on a failure too (Host::call() on
 * SHMIPC_E_REMOTE and SHMIPC_E_TRUNCATED): has_value() tells.
 * @tparam T  the value's type (move-only types are fine)
 */
template <class T> class [[nodiscard]] Result
{
public:
  /** A successful result.
   *  @param value  the value */
  Result(T value) : value_(std::move(value)) {}
  /** A failed result without a value.
   *  @param status  why (not OK) */
  Result(Status status) : status_(std::move(status)) {}
  /** A failed result with a value.
   *  @param status  why (not OK)
   *  @param value   what the operation still reports */
  Result(Status status, T value)
      : value_(std::move(value)), status_(std::move(status))
  {
  }

  /** @return true when the operation succeeded */
  bool ok() const noexcept { return status_.ok(); }
  /** @return ok() */
  explicit operator bool() const noexcept { return ok(); }
  /** @return true when a value is held (always when ok()) */
  bool has_value() const noexcept { return value_.has_value(); }
  /** @return the status (OK on success) */
  const Status &status() const noexcept { return status_; }
  /** @return status().code() */
  int code() const noexcept { return status_.code(); }
  /** @return status().message() */
  const std::string &message() const noexcept { return status_.message(); }

  /** The value. Without one the program aborts (no exception is thrown,
   *  so that the header works with -fno-exceptions): test ok() or
   *  has_value() first.
   *  @return the value */
  T &value() &noexcept { return *check(); }
  /** @copydoc value() */
  const T &value() const &noexcept { return *check(); }
  /** @copydoc value() */
  T &&value() &&noexcept { return std::move(*check()); }
  /** @return value() */
  T &operator*() &noexcept { return value(); }
  /** @return value() */
  const T &operator*() const &noexcept { return value(); }
  /** @return value() */
  T &&operator*() &&noexcept { return std::move(*this).value(); }
  /** @return a pointer to value() */
  T *operator->() noexcept { return &value(); }
  /** @return a pointer to value() */
  const T *operator->() const noexcept { return &value(); }

private:
  T *check() noexcept
  {
    if (!value_)
      std::abort();
    return &*value_;
  }
  const T *check() const noexcept
  {
    if (!value_)
      std::abort();
    return &*value_;
  }
  std::optional<T> value_;
  Status status_;
};

/**
 * A timeout for a call that can block (shmipc.h, "Conventions").
 */
class Timeout
{
public:
  /** The handle's configured default (SHMIPC_TIMEOUT_DEFAULT). */
  constexpr Timeout() noexcept = default;

  /** A wait of @p d: negative counts as 0 (no wait), 9.2e18 ns (292
   *  years) or more as INT64_MAX nanoseconds.
   *  @tparam Rep     the duration's representation
   *  @tparam Period  the duration's period
   *  @param d        the duration */
  template <class Rep, class Period>
  constexpr Timeout(std::chrono::duration<Rep, Period> d) noexcept
      : ns_(clamp(d))
  {
  }

  /** @return the handle's configured default (SHMIPC_TIMEOUT_DEFAULT) */
  static constexpr Timeout fallback() noexcept { return Timeout(); }
  /** @return no limit; peer death still ends the wait
   *          (SHMIPC_TIMEOUT_INFINITE) */
  static constexpr Timeout infinite() noexcept
  {
    return Timeout(SHMIPC_TIMEOUT_INFINITE, 0);
  }
  /** @return no wait: one look (0) */
  static constexpr Timeout none() noexcept { return Timeout(0, 0); }

  /** @return the value the C API takes, in nanoseconds */
  constexpr int64_t ns() const noexcept { return ns_; }

private:
  constexpr Timeout(int64_t ns, int) noexcept : ns_(ns) {}

  template <class Rep, class Period>
  static constexpr int64_t clamp(std::chrono::duration<Rep, Period> d) noexcept
  {
    using fns = std::chrono::duration<long double, std::nano>;
    /* Just under INT64_MAX: what a long double of any precision (53
     * bits where it is a double) tells apart from it. */
    constexpr long double top = 9.2e18L;
    const long double approx = std::chrono::duration_cast<fns>(d).count();
    if (!(approx > 0)) /* negative, zero, NaN */
      return 0;
    if (approx >= top)
      return std::numeric_limits<int64_t>::max();
    if constexpr (std::chrono::treat_as_floating_point<Rep>::value)
      return static_cast<int64_t>(approx);
    else /* exact for integer durations */
      return static_cast<int64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }

  int64_t ns_ = SHMIPC_TIMEOUT_DEFAULT;
};

/**
 * The clock of request deadlines (shmipc_clock_ns(): Linux
 * CLOCK_MONOTONIC, Windows QueryPerformanceCounter; one clock for every
 * process of the machine), as a std::chrono clock. A handler's time left
 * is its request's deadline (Host::request_deadline()) minus now().
 */
struct Clock {
  using rep = int64_t;                                 /**< nanoseconds */
  using period = std::nano;                            /**< of a second */
  using duration = std::chrono::duration<rep, period>; /**< a span */
  using time_point = std::chrono::time_point<Clock>;   /**< a reading */
  static constexpr bool is_steady = true;              /**< monotonic */
  /** @return the clock's reading (shmipc_clock_ns()) */
  static time_point now() noexcept
  {
    return time_point(duration(shmipc_clock_ns()));
  }
};

/** Send flags, for Slot::send() and Slot::publish(). */
enum class Align : uint32_t {
  start = 0,                  /**< the payload is the buffer's first bytes */
  end = SHMIPC_F_END_ALIGNED, /**< the payload is the buffer's last bytes
                                   (a FlatBuffer built back to front) */
};

/** What a copying call answered. */
struct Reply {
  size_t size = 0;   /**< the response's length (on SHMIPC_E_TRUNCATED: the
                          length that did not fit) */
  uint32_t type = 0; /**< the response's message type */
};

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Handlers */
/**@{*/

/** A request as a handler sees it: read-only bytes in shared memory,
 *  valid until the handler returns. */
struct Request {
  uint32_t type = 0;          /**< the request's message type */
  const void *data = nullptr; /**< the request's bytes */
  size_t size = 0;            /**< their length */
#if SHMIPC_HPP_SPAN
  /** @return the request's bytes as a span (C++20) */
  std::span<const std::byte> bytes() const noexcept
  {
    return {static_cast<const std::byte *>(data), size};
  }
#endif
};

/**
 * The response buffer a handler fills, in shared memory. It starts empty
 * (size 0) with the request's type. The handler writes into data() and
 * sets the size, or calls assign(); fail() answers
 * SHMIPC_MSG_SYSTEM_ERROR with a reason.
 */
class Response
{
public:
  /** Wrap the C handler's response arguments.
   *  @param buf   the response buffer
   *  @param cap   its capacity
   *  @param len   the response length to set
   *  @param type  the response type to set */
  Response(void *buf, size_t cap, size_t *len, uint32_t *type) noexcept
      : buf_(buf), cap_(cap), len_(len), type_(type)
  {
  }

  /** @return the response buffer (capacity() bytes) */
  void *data() const noexcept { return buf_; }
  /** @return the buffer's capacity in bytes */
  size_t capacity() const noexcept { return cap_; }
  /** @return the response length set so far */
  size_t size() const noexcept { return *len_; }
  /** @return the response type set so far */
  uint32_t type() const noexcept { return *type_; }
#if SHMIPC_HPP_SPAN
  /** @return the whole buffer as a span (C++20) */
  std::span<std::byte> bytes() const noexcept
  {
    return {static_cast<std::byte *>(buf_), cap_};
  }
#endif

  /** Set the response length (the bytes written at data()). A length
   *  above capacity() answers SHMIPC_MSG_SYSTEM_ERROR, as in C.
   *  @param n  the length */
  void set_size(size_t n) noexcept { *len_ = n; }
  /** Set the response's message type.
   *  @param t  the type */
  void set_type(uint32_t t) noexcept { *type_ = t; }

  /** Copy @p n bytes of @p p in as the response.
   *  @param p  the bytes (may be nullptr if @p n is 0)
   *  @param n  their length
   *  @return false, changing nothing, when they do not fit */
  bool assign(const void *p, size_t n) noexcept
  {
    if (n > cap_)
      return false;
    if (n > 0)
      std::memcpy(buf_, p, n);
    *len_ = n;
    return true;
  }
#if SHMIPC_HPP_SPAN
  /** Copy @p b in as the response (C++20).
   *  @param b  the bytes
   *  @return false, changing nothing, when they do not fit */
  bool assign(std::span<const std::byte> b) noexcept
  {
    return assign(b.data(), b.size());
  }
#endif

  /** Answer SHMIPC_MSG_SYSTEM_ERROR with @p reason as its text (cut to
   *  the capacity): the caller gets SHMIPC_E_REMOTE.
   *  @param reason  why the request failed */
  void fail(std::string_view reason) noexcept
  {
    size_t n = reason.size() < cap_ ? reason.size() : cap_;
    if (n > 0)
      std::memcpy(buf_, reason.data(), n);
    *len_ = n;
    *type_ = SHMIPC_MSG_SYSTEM_ERROR;
  }

private:
  void *buf_;
  size_t cap_;
  size_t *len_;
  uint32_t *type_;
};

/// @cond SHMIPC_DETAIL
namespace detail
{

/* Call f(req, resp): a handler returns void, or bool (false answers the
 * fixed reason of a failed C handler). Exceptions become the answer's
 * reason here, never reaching the library. */
template <class F>
int run_handler(F &f, uint32_t type, const void *req, size_t req_len,
                void *resp, size_t resp_cap, size_t *resp_len,
                uint32_t *resp_type) noexcept
{
  Request rq;
  rq.type = type;
  rq.data = req;
  rq.size = req_len;
  Response rs(resp, resp_cap, resp_len, resp_type);
#if SHMIPC_HPP_EXCEPTIONS
  try {
#endif
    using R = decltype(f(rq, rs));
    if constexpr (std::is_void_v<R>) {
      f(rq, rs);
      return 0;
    } else {
      static_assert(std::is_convertible_v<R, bool>,
                    "a handler returns void or bool");
      return static_cast<bool>(f(rq, rs)) ? 0 : 1;
    }
#if SHMIPC_HPP_EXCEPTIONS
  } catch (const std::exception &e) {
    rs.fail(e.what());
  } catch (...) {
    rs.fail("unknown exception");
  }
  return 0;
#endif
}

template <class F>
int trampoline(void *user, uint32_t type, const void *req, size_t req_len,
               void *resp, size_t resp_cap, size_t *resp_len,
               uint32_t *resp_type) noexcept
{
  return run_handler(*static_cast<F *>(user), type, req, req_len, resp,
                     resp_cap, resp_len, resp_type);
}

/* A callable kept alive as long as the C library may call it. */
struct Box {
  virtual ~Box() = default;
  virtual shmipc_handler_fn fn() const noexcept = 0;
  virtual void *user() noexcept = 0;
};

template <class F> struct HandlerBox final : Box {
  explicit HandlerBox(F &&f) : f_(std::move(f)) {}
  explicit HandlerBox(const F &f) : f_(f) {}
  shmipc_handler_fn fn() const noexcept override { return &trampoline<F>; }
  void *user() noexcept override { return &f_; }
  F f_;
};

template <class F> std::unique_ptr<Box> box(F &&f)
{
  using D = std::decay_t<F>;
  return std::unique_ptr<Box>(new (std::nothrow)
                                  HandlerBox<D>(std::forward<F>(f)));
}

inline Status nomem()
{
  return Status(SHMIPC_E_NOMEM, "out of memory: the handler's copy");
}

/* The status of a C result; on SHMIPC_E_REMOTE its text quotes the
 * peer's reason (@p reason, @p n bytes, when there), cut to 256 bytes. */
inline Status remote_status(int rc, const void *reason, size_t n)
{
  if (rc != SHMIPC_E_REMOTE || reason == nullptr)
    return Status::from_rc(rc);
  return Status(rc, std::string(shmipc_strerror(rc)) + ": " +
                        std::string(static_cast<const char *>(reason),
                                    n < 256 ? n : 256));
}

/* After a copying call: the status, with the peer's reason in the text
 * on SHMIPC_E_REMOTE (when it was copied). */
inline Result<Reply> call_result(int rc, const void *resp, size_t resp_cap,
                                 Reply r)
{
  if (rc == SHMIPC_OK)
    return Result<Reply>(r);
  Status st = remote_status(rc, r.size <= resp_cap ? resp : nullptr, r.size);
  if (rc == SHMIPC_E_REMOTE || rc == SHMIPC_E_TRUNCATED)
    return Result<Reply>(std::move(st), r);
  return Result<Reply>(std::move(st));
}

} // namespace detail
/// @endcond

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Host */
/**@{*/

class Host;
class Child;
class Reassembler;
class Answer;
struct Chunk;

/**
 * A zero-copy host slot, from Host::acquire(): write the request into
 * req_data(), send() it, read the response in place, and the destructor
 * releases the slot (shmipc_slot_release()). Move-only. It must not
 * outlive its Host.
 */
class Slot
{
public:
  /** An empty slot. */
  Slot() noexcept = default;
  /** Take ownership of a C slot.
   *  @param s  the slot, from shmipc_slot_acquire() (or nullptr) */
  explicit Slot(shmipc_slot *s) noexcept : s_(s) {}
  Slot(const Slot &) = delete;
  Slot &operator=(const Slot &) = delete;
  /** Take @p o's slot; @p o is left empty.
   *  @param o  the slot to move from */
  Slot(Slot &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  /** Release this slot, then take @p o's; @p o is left empty.
   *  @param o  the slot to move from
   *  @return *this */
  Slot &operator=(Slot &&o) noexcept
  {
    if (this != &o) {
      release();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  /** Release the slot (shmipc_slot_release()). */
  ~Slot() { release(); }

  /** Give the slot back now (nothing if empty). */
  void release() noexcept { shmipc_slot_release(std::exchange(s_, nullptr)); }
  /** @return the C slot, still owned by this object */
  shmipc_slot *get() const noexcept { return s_; }
  /** @return true when a slot is held */
  explicit operator bool() const noexcept { return s_ != nullptr; }

  /** @return the request buffer in shared memory (req_capacity() bytes) */
  void *req_data() const noexcept { return shmipc_slot_req_buf(s_); }
  /** @return the request buffer's capacity in bytes */
  size_t req_capacity() const noexcept { return shmipc_slot_req_capacity(s_); }
  /** @return the response in shared memory, valid until release (nullptr
   *          without one) */
  const void *resp_data() const noexcept { return shmipc_slot_resp_data(s_); }
  /** @return the response's length */
  size_t resp_size() const noexcept { return shmipc_slot_resp_size(s_); }
  /** @return the response's message type */
  uint32_t resp_type() const noexcept { return shmipc_slot_resp_type(s_); }
#if SHMIPC_HPP_SPAN
  /** @return the request buffer as a span (C++20) */
  std::span<std::byte> req_bytes() const noexcept
  {
    return {static_cast<std::byte *>(req_data()), req_capacity()};
  }
  /** @return the response as a span (C++20) */
  std::span<const std::byte> resp_bytes() const noexcept
  {
    return {static_cast<const std::byte *>(resp_data()), resp_size()};
  }
#endif

  /** Publish the @p len bytes written in the request buffer and wait for
   *  the response (shmipc_slot_send()).
   *  @param type   the request's message type
   *  @param len    the request's length
   *  @param align  where the bytes are: Align::end for the last @p len
   *                bytes (a FlatBuffer)
   *  @param t      how long to wait for the response
   *  @return OK (the response is readable), or as shmipc_slot_send():
   *          SHMIPC_E_REMOTE (the response is the peer's reason, which
   *          the message quotes), SHMIPC_E_TIMEOUT, ... */
  Status send(uint32_t type, size_t len, Align align = Align::start,
              Timeout t = Timeout()) noexcept
  {
    return result(
        shmipc_slot_send(s_, type, len, static_cast<uint32_t>(align), t.ns()));
  }
  /** Publish without waiting (shmipc_slot_publish()).
   *  @param type   the request's message type
   *  @param len    the request's length
   *  @param align  where the bytes are
   *  @return OK, or as shmipc_slot_publish() */
  Status publish(uint32_t type, size_t len, Align align = Align::start) noexcept
  {
    return Status::from_rc(
        shmipc_slot_publish(s_, type, len, static_cast<uint32_t>(align)));
  }
  /** Wait for the response to a published request (shmipc_slot_wait()).
   *  @param t  how long to wait
   *  @return OK, or as shmipc_slot_wait() (SHMIPC_E_REMOTE quotes the
   *          peer's reason, as send()) */
  Status wait(Timeout t = Timeout()) noexcept
  {
    return result(shmipc_slot_wait(s_, t.ns()));
  }

  /** Whether the call published on this slot has ended, without waiting
   *  (shmipc_slot_poll(); shmipc.h, "Calls in flight without a blocked
   *  thread, and aborts").
   *  @return true (the answer is readable), false (not answered yet), or
   *          as shmipc_slot_poll(): SHMIPC_E_REMOTE (quotes the peer's
   *          reason, as send()), SHMIPC_E_PEER_GONE, SHMIPC_E_ABORTED,
   *          SHMIPC_E_STATE (nothing published), ...; after a failure
   *          other than SHMIPC_E_REMOTE the call is over */
  Result<bool> poll()
  {
    int rc = shmipc_slot_poll(s_);
    if (rc < 0)
      return result(rc);
    return rc == 1;
  }
  /** End this slot's call from any thread (shmipc_slot_abort()): a wait,
   *  poll or wait_any() on it returns SHMIPC_E_ABORTED unless its answer
   *  is in first. The mark lasts until the slot is next acquired; keep
   *  the slot held meanwhile.
   *  @return OK, SHMIPC_E_INVALID (an empty slot) */
  Status abort() noexcept { return Status::from_rc(shmipc_slot_abort(s_)); }

  /** The length a large answer's announcement gives
   *  (shmipc_slot_answer_total()): after send() or wait() gave a response
   *  of type SHMIPC_MSG_LARGE_ANSWER.
   *  @return the announced length, 0 without a valid announcement */
  uint64_t answer_total() const noexcept
  {
    return shmipc_slot_answer_total(s_);
  }
  /** Fetch the large answer announced in this slot into a buffer of the
   *  library's (shmipc_slot_answer_alloc()); the slot then holds no
   *  response and is released as usual.
   *  @param t  bounds the whole transfer
   *  @return the answer, or as Host::call_alloc(); SHMIPC_E_STATE when
   *          the slot holds no announcement */
  inline Result<Answer> answer_alloc(Timeout t = Timeout());
  /** Tell the guest to free the large answer announced in this slot
   *  (shmipc_slot_answer_drop()); the slot then holds no response.
   *  @param t  how long to wait for the guest's answer
   *  @return OK, SHMIPC_E_STATE (no announcement), SHMIPC_E_REMOTE (the
   *          guest held it no more), SHMIPC_E_TIMEOUT, ... */
  Status answer_drop(Timeout t = Timeout()) noexcept
  {
    return Status::from_rc(shmipc_slot_answer_drop(s_, t.ns()));
  }

private:
  Status result(int rc) const
  {
    return detail::remote_status(rc, resp_data(), resp_size());
  }
  shmipc_slot *s_ = nullptr;
};

/// @cond SHMIPC_DETAIL
namespace detail
{
/* A Slot is its C slot pointer and nothing else, so that an array of
 * Slots is an array of C slots for shmipc_slot_wait_any() and
 * shmipc_host_event_arm(). */
static_assert(std::is_standard_layout_v<Slot> &&
                  sizeof(Slot) == sizeof(shmipc_slot *),
              "a Slot is one shmipc_slot pointer");
inline shmipc_slot *const *c_slots(const Slot *slots) noexcept
{
  return reinterpret_cast<shmipc_slot *const *>(slots);
}

inline Result<size_t> wait_any_result(int rc, size_t which, size_t n,
                                      const void *resp, size_t resp_size)
{
  if (rc == SHMIPC_OK)
    return which;
  Status st = detail::remote_status(rc, resp, resp_size);
  if (which < n)
    return Result<size_t>(std::move(st), which);
  return Result<size_t>(std::move(st));
}
} // namespace detail
/// @endcond

/** Wait for the first of @p n published calls to end
 *  (shmipc_slot_wait_any(); shmipc.h, "Calls in flight without a blocked
 *  thread, and aborts").
 *  @param slots  @p n slots of one host, each published (Slot::publish());
 *                an array of Slot objects (a std::vector<Slot>'s data(), a
 *                std::array<Slot, N>), read as the C slots they hold
 *  @param n      how many (at least 1)
 *  @param t      how long to wait
 *  @return the index of the slot whose call ended, with that call's
 *          outcome: OK (its answer is readable), or a failure that still
 *          has the index as its value (has_value()): SHMIPC_E_REMOTE
 *          (quoting the peer's reason), SHMIPC_E_PEER_GONE,
 *          SHMIPC_E_ABORTED (Slot::abort()), ...; a failure without a
 *          value when no call ended: SHMIPC_E_TIMEOUT (the slots stay
 *          published), SHMIPC_E_ABORTED (the host's abort), SHMIPC_E_STATE
 *          (a slot not published), SHMIPC_E_INVALID */
inline Result<size_t> wait_any(const Slot *slots, size_t n,
                               Timeout t = Timeout())
{
  size_t which = n;
  int rc = shmipc_slot_wait_any(
      slots == nullptr ? nullptr : detail::c_slots(slots), n, t.ns(), &which);
  const bool one = rc != SHMIPC_OK && slots != nullptr && which < n;
  return detail::wait_any_result(rc, which, n,
                                 one ? slots[which].resp_data() : nullptr,
                                 one ? slots[which].resp_size() : 0);
}
/** wait_any() over C slots (each Slot's get()).
 *  @param slots  @p n published C slots of one host
 *  @param n      how many (at least 1)
 *  @param t      how long to wait
 *  @return as the Slot form */
inline Result<size_t> wait_any(shmipc_slot *const *slots, size_t n,
                               Timeout t = Timeout())
{
  size_t which = n;
  int rc = shmipc_slot_wait_any(slots, n, t.ns(), &which);
  const bool one = rc != SHMIPC_OK && slots != nullptr && which < n;
  return detail::wait_any_result(
      rc, which, n, one ? shmipc_slot_resp_data(slots[which]) : nullptr,
      one ? shmipc_slot_resp_size(slots[which]) : 0);
}
#if SHMIPC_HPP_SPAN
/** wait_any() over a span of Slots (C++20).
 *  @param slots  the published slots
 *  @param t      how long to wait
 *  @return as the pointer form */
inline Result<size_t> wait_any(std::span<const Slot> slots,
                               Timeout t = Timeout())
{
  return wait_any(slots.data(), slots.size(), t);
}
#endif

/**
 * A host (shmipc_host_create()): creates the segment, makes calls and
 * serves guest calls. Move-only; the destructor closes the session
 * (shmipc_host_destroy(), which also stops the listener) and then frees
 * the listener's handler.
 */
class Host
{
public:
  /** @return a configuration with the defaults (shmipc_host_config_init())
   *  @param name  the segment name */
  static shmipc_host_config config(const char *name) noexcept
  {
    shmipc_host_config c;
    shmipc_host_config_init(&c);
    c.name = name;
    return c;
  }

  /** Create the segment (shmipc_host_create()).
   *  @param cfg  the configuration, from config()
   *  @return the host, or the failure (as shmipc_host_create()) */
  static Result<Host> create(const shmipc_host_config &cfg)
  {
    shmipc_host *h = nullptr;
    int rc = shmipc_host_create(&cfg, &h);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return Host(h);
  }
  /** Create a segment of @p name with the default configuration.
   *  @param name  the segment name
   *  @return the host, or the failure */
  static Result<Host> create(const char *name) { return create(config(name)); }

  /** Create a host whose segment has no name, for a guest it launches
   *  (shmipc_host_create_anonymous(); see launch()).
   *  @param cfg  the configuration, from config(); its name may be
   *              nullptr, or a valid name that only labels the segment
   *  @return the host, or the failure (as shmipc_host_create_anonymous()) */
  static Result<Host> create_anonymous(const shmipc_host_config &cfg)
  {
    shmipc_host *h = nullptr;
    int rc = shmipc_host_create_anonymous(&cfg, &h);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return Host(h);
  }

  /** An empty host. */
  Host() noexcept = default;
  /** Take ownership of a C host.
   *  @param h  the host (or nullptr) */
  explicit Host(shmipc_host *h) noexcept : h_(h) {}
  Host(const Host &) = delete;
  Host &operator=(const Host &) = delete;
  /** Take @p o's host and listener; @p o is left empty.
   *  @param o  the host to move from */
  Host(Host &&o) noexcept
      : listener_(std::move(o.listener_)), h_(std::exchange(o.h_, nullptr))
  {
  }
  /** Close this host, then take @p o's; @p o is left empty.
   *  @param o  the host to move from
   *  @return *this */
  Host &operator=(Host &&o) noexcept
  {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
      listener_ = std::move(o.listener_);
    }
    return *this;
  }
  /** Close the session (shmipc_host_destroy()). */
  ~Host() { reset(); }

  /** Close the session now (nothing if empty): the host is destroyed
   *  first, which stops the listener, then its handler is freed. */
  void reset() noexcept
  {
    shmipc_host_destroy(std::exchange(h_, nullptr));
    listener_.reset();
  }
  /** @return the C host, still owned by this object */
  shmipc_host *get() const noexcept { return h_; }
  /** @return true when a host is held */
  explicit operator bool() const noexcept { return h_ != nullptr; }

  /** @return the request capacity per slot */
  size_t req_capacity() const noexcept { return shmipc_host_req_capacity(h_); }
  /** @return the response capacity per slot */
  size_t resp_capacity() const noexcept
  {
    return shmipc_host_resp_capacity(h_);
  }

  /** Wait for a live guest (shmipc_host_wait_guest()).
   *  @param t  how long to wait
   *  @return OK, SHMIPC_E_TIMEOUT, SHMIPC_E_PEER_GONE (an anonymous host
   *          whose guest launched last has ended), ... */
  Status wait_guest(Timeout t = Timeout()) noexcept
  {
    return Status::from_rc(shmipc_host_wait_guest(h_, t.ns()));
  }

  /** Copying call (shmipc_host_call()).
   *  @param type      the request's message type
   *  @param req       the request (may be nullptr if @p req_len is 0)
   *  @param req_len   its length
   *  @param resp      the buffer for the response
   *  @param resp_cap  its size
   *  @param t         bounds the whole call
   *  @return the response's size and type; on SHMIPC_E_REMOTE (the
   *          message quotes the peer's reason when it fitted @p resp) and
   *          SHMIPC_E_TRUNCATED the value is there too; other failures as
   *          shmipc_host_call() */
  Result<Reply> call(uint32_t type, const void *req, size_t req_len, void *resp,
                     size_t resp_cap, Timeout t = Timeout())
  {
    Reply r;
    int rc = shmipc_host_call(h_, type, req, req_len, resp, resp_cap, &r.size,
                              &r.type, t.ns());
    return detail::call_result(rc, resp, resp_cap, r);
  }
#if SHMIPC_HPP_SPAN
  /** Copying call with spans (C++20).
   *  @param type  the request's message type
   *  @param req   the request
   *  @param resp  the buffer for the response
   *  @param t     bounds the whole call
   *  @return as the pointer form */
  Result<Reply> call(uint32_t type, std::span<const std::byte> req,
                     std::span<std::byte> resp, Timeout t = Timeout())
  {
    return call(type, req.data(), req.size(), resp.data(), resp.size(), t);
  }
#endif

  /** Acquire a free slot for zero-copy use (shmipc_slot_acquire()).
   *  @param t  how long to wait for one
   *  @return the slot, or SHMIPC_E_TIMEOUT, ... */
  Result<Slot> acquire(Timeout t = Timeout())
  {
    shmipc_slot *s = nullptr;
    int rc = shmipc_slot_acquire(h_, t.ns(), &s);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return Slot(s);
  }
  /** Acquire a slot only if one is free now (shmipc_slot_try_acquire()).
   *  @return the slot, or SHMIPC_E_BUSY, ... */
  Result<Slot> try_acquire()
  {
    shmipc_slot *s = nullptr;
    int rc = shmipc_slot_try_acquire(h_, &s);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return Slot(s);
  }

  /** Start the listener thread, serving guest calls with a copy of
   *  @p f (shmipc_host_listen_start()). @p f is called as
   *  `f(const Request &, Response &)` and returns void or bool (false
   *  answers the fixed reason "shmipc: handler failed"); an exception it
   *  throws is answered as SHMIPC_MSG_SYSTEM_ERROR with its what(). The
   *  copy lives until listen_stop() or the host's end.
   *  @tparam F  the callable's type
   *  @param f   the handler
   *  @return OK, SHMIPC_E_BUSY (a listener runs), SHMIPC_E_NOMEM, ... */
  template <class F> Status listen(F &&f)
  {
    if (listener_ != nullptr)
      return Status(SHMIPC_E_BUSY, std::string(shmipc_strerror(SHMIPC_E_BUSY)) +
                                       ": a listener runs");
    std::unique_ptr<detail::Box> b = detail::box(std::forward<F>(f));
    if (b == nullptr)
      return detail::nomem();
    int rc = shmipc_host_listen_start(h_, b->fn(), b->user());
    if (rc == SHMIPC_OK)
      listener_ = std::move(b);
    return Status::from_rc(rc);
  }
  /** Start the listener with a C handler (a Reassembler's, say).
   *  @param fn    the handler
   *  @param user  passed to @p fn, which must outlive the listener
   *  @return as shmipc_host_listen_start() */
  Status listen(shmipc_handler_fn fn, void *user) noexcept
  {
    return Status::from_rc(shmipc_host_listen_start(h_, fn, user));
  }
  /** Stop the listener and free its handler (shmipc_host_listen_stop()).
   *  @return OK, SHMIPC_E_STATE (none runs), ... */
  Status listen_stop()
  {
    Status st = Status::from_rc(shmipc_host_listen_stop(h_));
    if (st.ok())
      listener_.reset();
    return st;
  }

  /** Serve pending guest calls on this thread with @p f
   *  (shmipc_host_serve()); @p f as for listen(), used only during the
   *  call (no copy).
   *  @tparam F  the callable's type
   *  @param f   the handler
   *  @param t   how long to wait for the first call
   *  @return the number of calls served, or SHMIPC_E_TIMEOUT (none came),
   *          SHMIPC_E_BUSY (the listener runs), ... */
  template <class F> Result<int> serve(F &&f, Timeout t = Timeout())
  {
    using D = std::remove_reference_t<F>;
    if constexpr (std::is_function_v<D>) { // a function: by its pointer
      D *fp = &f;
      return serve(fp, t);
    } else {
      int rc = shmipc_host_serve(
          h_, &detail::trampoline<D>,
          const_cast<void *>(static_cast<const void *>(std::addressof(f))),
          t.ns());
      if (rc < 0)
        return Status::from_rc(rc);
      return rc;
    }
  }

  /** Send the guest's streams to @p r (shmipc_host_stream_receiver()):
   *  from then on the listener and serve() hand STREAM_START and
   *  STREAM_CHUNK guest calls to @p r and every other guest call to
   *  their own handler (@p r's next handler is not used here). Not while
   *  the listener runs or a serve() is in progress. @p r must outlive its
   *  attachment: stream_receiver_detach() first, or let the host go
   *  first (declare the Reassembler before the Host).
   *  @param r  the receiver
   *  @return OK, SHMIPC_E_BUSY (the listener runs), SHMIPC_E_INVALID (no
   *          guest slots, or an empty host or receiver) */
  inline Status stream_receiver(Reassembler &r) noexcept;
  /** Detach the receiver stream_receiver() attached (none: nothing
   *  happens); the same threads rule holds.
   *  @return OK, SHMIPC_E_BUSY (the listener runs), SHMIPC_E_INVALID */
  Status stream_receiver_detach() noexcept
  {
    return Status::from_rc(shmipc_host_stream_receiver(h_, nullptr));
  }

  /** Start a guest program with this host's segment
   *  (shmipc_host_launch()): a host from create_anonymous(), whose guest
   *  attaches with Guest::attach_inherited() (C:
   *  SHMIPC_GUEST_F_INHERITED); wait_guest() waits for it. The calling
   *  thread must outlive the child (Linux: it gets SIGKILL when that
   *  thread ends).
   *  @param cfg  the program, from launch_config()
   *  @return the child, or SHMIPC_E_STATE (a named segment),
   *          SHMIPC_E_NOT_FOUND (no such program), SHMIPC_E_ACCESS, ... */
  inline Result<Child> launch(const shmipc_launch_config &cfg);
  /** Start the program @p path with the arguments @p args (after
   *  argv[0], which is @p path), the host's environment and working
   *  directory; as launch(const shmipc_launch_config &).
   *  @tparam Args  each convertible to `const char *`
   *  @param path   the program's file (not searched in PATH)
   *  @param args   its arguments
   *  @return the child, or the failure */
  template <class... Args> Result<Child> launch(const char *path, Args... args);

  /** Read the host's counters (shmipc_host_stats()).
   *  @return the counters, or SHMIPC_E_INVALID (an empty host) */
  inline Result<shmipc_stats> stats() const;

  /** Call whose answer, of any size up to the host's max_answer, lands
   *  in a buffer of the library's (shmipc_host_call_alloc(); shmipc.h,
   *  "Large answers").
   *  @param type     the request's message type
   *  @param req      the request (may be nullptr if @p req_len is 0)
   *  @param req_len  its length
   *  @param t        bounds the whole call and transfer
   *  @return the answer; on SHMIPC_E_REMOTE the value holds the peer's
   *          reason (which the message quotes), on SHMIPC_E_TRUNCATED
   *          (above max_answer) the announced size without bytes; other
   *          failures as shmipc_host_call_alloc() */
  inline Result<Answer> call_alloc(uint32_t type, const void *req,
                                   size_t req_len, Timeout t = Timeout());
#if SHMIPC_HPP_SPAN
  /** call_alloc() with a span (C++20).
   *  @param type  the request's message type
   *  @param req   the request
   *  @param t     bounds the whole call and transfer
   *  @return as the pointer form */
  inline Result<Answer> call_alloc(uint32_t type,
                                   std::span<const std::byte> req,
                                   Timeout t = Timeout());
#endif
  /** Call whose answer, of any size up to the host's max_answer, goes to
   *  @p f piece by piece, in order, straight from shared memory
   *  (shmipc_host_call_chunks(); nothing is allocated). @p f is called
   *  as `f(const Chunk &)` on this thread and returns void or bool:
   *  false stops the transfer (the guest frees the answer) and the call
   *  gives SHMIPC_E_REFUSED; an exception stops it too, and the message
   *  of that SHMIPC_E_REFUSED ends with the exception's what().
   *  @tparam F       the callable's type
   *  @param type     the request's message type
   *  @param req      the request (may be nullptr if @p req_len is 0)
   *  @param req_len  its length
   *  @param f        receives the pieces (used only during the call)
   *  @param t        bounds the whole call and transfer
   *  @return OK, SHMIPC_E_REFUSED, or as call_alloc() */
  template <class F>
  Status call_chunks(uint32_t type, const void *req, size_t req_len, F &&f,
                     Timeout t = Timeout());
#if SHMIPC_HPP_SPAN
  /** call_chunks() with a span (C++20).
   *  @tparam F    the callable's type
   *  @param type  the request's message type
   *  @param req   the request
   *  @param f     receives the pieces
   *  @param t     bounds the whole call and transfer
   *  @return as the pointer form */
  template <class F>
  Status call_chunks(uint32_t type, std::span<const std::byte> req, F &&f,
                     Timeout t = Timeout())
  {
    return call_chunks(type, req.data(), req.size(), std::forward<F>(f), t);
  }
#endif
  /** call_chunks() with a C callback.
   *  @param type     the request's message type
   *  @param req      the request (may be nullptr if @p req_len is 0)
   *  @param req_len  its length
   *  @param fn       receives the pieces
   *  @param user     passed to @p fn
   *  @param t        bounds the whole call and transfer
   *  @return as shmipc_host_call_chunks() */
  Status call_chunks(uint32_t type, const void *req, size_t req_len,
                     shmipc_chunk_fn fn, void *user,
                     Timeout t = Timeout()) noexcept
  {
    return Status::from_rc(
        shmipc_host_call_chunks(h_, type, req, req_len, fn, user, t.ns()));
  }

  /** @name Aborts (shmipc.h, "Calls in flight without a blocked thread,
   *  and aborts") */
  /**@{*/
  /** End every blocking call of this host, from any thread
   *  (shmipc_host_abort()): sticky until abort_reset(), each blocking
   *  call (call(), acquire(), Slot::send() and wait(), wait_any(),
   *  serve(), wait_guest(), stream sends) returns SHMIPC_E_ABORTED
   *  instead of waiting. The listener goes on serving.
   *  @return OK, SHMIPC_E_INVALID (an empty host) */
  Status abort() noexcept { return Status::from_rc(shmipc_host_abort(h_)); }
  /** Let the blocking calls wait again (shmipc_host_abort_reset()).
   *  @return OK, SHMIPC_E_INVALID (an empty host) */
  Status abort_reset() noexcept
  {
    return Status::from_rc(shmipc_host_abort_reset(h_));
  }
  /**@}*/

  /** @name Event loops (shmipc.h, "Event loops")
   *  The loop's steps: event_handle() once, and add it to the loop; then
   *  for each turn event_arm() with the slots in flight, sleep only when
   *  it gives false, event_clear() when the handle fired, then
   *  Slot::poll() each slot and serve() with Timeout::none(). These three
   *  are the loop's: one thread at a time. Once one gives
   *  SHMIPC_E_CLOSED (another thread destroys the host), touch neither
   *  the host nor its slots again. */
  /**@{*/
  /** The handle the loop waits on, made on the first call
   *  (shmipc_host_event_handle()); it belongs to the host, which closes
   *  it: on Linux an eventfd (readable while signalled), on Windows an
   *  event HANDLE cast to intptr_t.
   *  @return the handle, or SHMIPC_E_SYSTEM, SHMIPC_E_NOMEM,
   *          SHMIPC_E_CLOSED, SHMIPC_E_INVALID (an empty host) */
  Result<intptr_t> event_handle()
  {
    intptr_t fd = -1;
    int rc = shmipc_host_event_handle(h_, &fd);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return fd;
  }
  /** Announce that the loop is about to sleep, waiting for the calls of
   *  @p n published @p slots and for guest calls
   *  (shmipc_host_event_arm()).
   *  @param slots  an array of @p n published Slots of this host
   *                (nullptr when @p n is 0)
   *  @param n      how many
   *  @param spin   look for this long first: Timeout::none() for one
   *                look, fallback() for the host's spin budget
   *  @return true: something is ready now, do not sleep (poll and
   *          serve); false: armed, sleep; or SHMIPC_E_CLOSED (touch the
   *          host no more), SHMIPC_E_STATE (no handle yet, a slot not
   *          published), SHMIPC_E_INVALID, SHMIPC_E_TOO_BIG, ... */
  Result<bool> event_arm(const Slot *slots, size_t n, Timeout spin = Timeout())
  {
    int rc = shmipc_host_event_arm(
        h_, slots == nullptr ? nullptr : detail::c_slots(slots), n, spin.ns());
    if (rc < 0)
      return Status::from_rc(rc);
    return rc == 1;
  }
  /** event_arm() over C slots (each Slot's get()).
   *  @param slots  @p n published C slots of this host
   *  @param n      how many
   *  @param spin   look for this long first
   *  @return as the Slot form */
  Result<bool> event_arm(shmipc_slot *const *slots, size_t n,
                         Timeout spin = Timeout())
  {
    int rc = shmipc_host_event_arm(h_, slots, n, spin.ns());
    if (rc < 0)
      return Status::from_rc(rc);
    return rc == 1;
  }
  /** event_arm() for guest calls alone (no slots).
   *  @param spin  look for this long first
   *  @return as the Slot form */
  Result<bool> event_arm(Timeout spin = Timeout())
  {
    return event_arm(static_cast<const Slot *>(nullptr), 0, spin);
  }
#if SHMIPC_HPP_SPAN
  /** event_arm() over a span of Slots (C++20).
   *  @param slots  the published slots
   *  @param spin   look for this long first
   *  @return as the pointer form */
  Result<bool> event_arm(std::span<const Slot> slots, Timeout spin = Timeout())
  {
    return event_arm(slots.data(), slots.size(), spin);
  }
#endif
  /** Reset the handle after it fired (shmipc_host_event_clear()).
   *  @return OK, SHMIPC_E_CLOSED (touch the host no more), SHMIPC_E_STATE
   *          (no handle yet), SHMIPC_E_INVALID */
  Status event_clear() noexcept
  {
    return Status::from_rc(shmipc_host_event_clear(h_));
  }
  /**@}*/

  /** @name The caller's deadline and cancel mark (shmipc.h, "The
   *  caller's deadline at the responder, and its cancel mark")
   *  For a handler of listen() or serve(), with the Request it was given
   *  (or its data pointer): information from the peer, to stop early by,
   *  never checked by the library. One load from the slot each. */
  /**@{*/
  /** The caller's deadline of the guest call being served in @p req
   *  (shmipc_host_request_deadline()).
   *  @param req  the handler's request pointer (Request::data)
   *  @return the deadline on Clock, std::nullopt when there is none (an
   *          infinite timeout), or SHMIPC_E_INVALID (@p req not in a
   *          request buffer this host answers, e.g. a reassembled stream;
   *          an empty host) */
  Result<std::optional<Clock::time_point>>
  request_deadline(const void *req) const
  {
    int64_t ns = 0;
    int rc = shmipc_host_request_deadline(h_, req, &ns);
    if (rc < 0)
      return Status::from_rc(rc);
    if (rc == 0)
      return std::optional<Clock::time_point>();
    return std::optional<Clock::time_point>(
        Clock::time_point(Clock::duration(ns)));
  }
  /** @copybrief request_deadline(const void *) const
   *  @param rq  the request the handler was given
   *  @return as the pointer form */
  Result<std::optional<Clock::time_point>>
  request_deadline(const Request &rq) const
  {
    return request_deadline(rq.data);
  }
  /** Whether the caller of the guest call being served in @p req has
   *  given up on it (shmipc_host_request_cancelled()).
   *  @param req  the handler's request pointer (Request::data)
   *  @return true (given up), false (not yet), or SHMIPC_E_INVALID */
  Result<bool> request_cancelled(const void *req) const
  {
    int rc = shmipc_host_request_cancelled(h_, req);
    if (rc < 0)
      return Status::from_rc(rc);
    return rc == 1;
  }
  /** @copybrief request_cancelled(const void *) const
   *  @param rq  the request the handler was given
   *  @return as the pointer form */
  Result<bool> request_cancelled(const Request &rq) const
  {
    return request_cancelled(rq.data);
  }
  /**@}*/

private:
  // Destroyed after h_ (reverse order): the listener stops first.
  std::unique_ptr<detail::Box> listener_;
  shmipc_host *h_ = nullptr;
};

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Guest */
/**@{*/

/**
 * A guest (shmipc_guest_attach()): serves the host's requests on one
 * worker thread per host slot and calls the host back. Move-only; the
 * destructor detaches (shmipc_guest_detach(), which waits for the
 * workers) and then frees the handler.
 */
class Guest
{
public:
  /** @return a configuration with the defaults (shmipc_guest_config_init())
   *  @param name  the segment name */
  static shmipc_guest_config config(const char *name) noexcept
  {
    shmipc_guest_config c;
    shmipc_guest_config_init(&c);
    c.name = name;
    return c;
  }

  /** Attach to a segment (shmipc_guest_attach()).
   *  @param cfg  the configuration, from config()
   *  @return the guest, or the failure (as shmipc_guest_attach()) */
  static Result<Guest> attach(const shmipc_guest_config &cfg)
  {
    shmipc_guest *g = nullptr;
    int rc = shmipc_guest_attach(&cfg, &g);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return Guest(g);
  }
  /** Attach to the segment @p name, retrying for @p connect.
   *  @param name     the segment name
   *  @param connect  how long to retry (fallback(): the default 5 s)
   *  @return the guest, or the failure */
  static Result<Guest> attach(const char *name, Timeout connect = Timeout())
  {
    shmipc_guest_config c = config(name);
    c.connect_timeout_ns = connect.ns();
    return attach(c);
  }
  /** Attach to the segment the launching host handed down
   *  (SHMIPC_GUEST_F_INHERITED; Host::launch()).
   *  @param connect  how long to retry (fallback(): the default 5 s)
   *  @return the guest, or the failure (SHMIPC_E_NOT_FOUND when the
   *          program was not launched so, ...) */
  static Result<Guest> attach_inherited(Timeout connect = Timeout())
  {
    shmipc_guest_config c = config(nullptr);
    c.flags |= SHMIPC_GUEST_F_INHERITED;
    c.connect_timeout_ns = connect.ns();
    return attach(c);
  }

  /** An empty guest. */
  Guest() noexcept = default;
  /** Take ownership of a C guest.
   *  @param g  the guest (or nullptr) */
  explicit Guest(shmipc_guest *g) noexcept : g_(g) {}
  Guest(const Guest &) = delete;
  Guest &operator=(const Guest &) = delete;
  /** Take @p o's guest and handler; @p o is left empty.
   *  @param o  the guest to move from */
  Guest(Guest &&o) noexcept
      : handler_(std::move(o.handler_)), g_(std::exchange(o.g_, nullptr))
  {
  }
  /** Detach this guest, then take @p o's; @p o is left empty.
   *  @param o  the guest to move from
   *  @return *this */
  Guest &operator=(Guest &&o) noexcept
  {
    if (this != &o) {
      reset();
      g_ = std::exchange(o.g_, nullptr);
      handler_ = std::move(o.handler_);
    }
    return *this;
  }
  /** Detach (shmipc_guest_detach()). */
  ~Guest() { reset(); }

  /** Detach now (nothing if empty), then free the handler. */
  void reset() noexcept
  {
    shmipc_guest_detach(std::exchange(g_, nullptr));
    handler_.reset();
  }
  /** @return the C guest, still owned by this object */
  shmipc_guest *get() const noexcept { return g_; }
  /** @return true when a guest is held */
  explicit operator bool() const noexcept { return g_ != nullptr; }

  /** @return the request capacity per slot */
  size_t req_capacity() const noexcept { return shmipc_guest_req_capacity(g_); }
  /** @return the response capacity per slot */
  size_t resp_capacity() const noexcept
  {
    return shmipc_guest_resp_capacity(g_);
  }

  /** Start the workers, serving with a copy of @p f
   *  (shmipc_guest_start()); @p f as for Host::listen(), called on
   *  several threads at once. The copy lives as long as the guest.
   *  @tparam F  the callable's type
   *  @param f   the handler
   *  @return OK, SHMIPC_E_STATE (already started), SHMIPC_E_NOMEM, ... */
  template <class F> Status start(F &&f)
  {
    if (handler_ != nullptr)
      return Status(SHMIPC_E_STATE,
                    std::string(shmipc_strerror(SHMIPC_E_STATE)) +
                        ": the guest was started already");
    std::unique_ptr<detail::Box> b = detail::box(std::forward<F>(f));
    if (b == nullptr)
      return detail::nomem();
    int rc = shmipc_guest_start(g_, b->fn(), b->user());
    // Kept even on failure: a start that gave SHMIPC_E_SYSTEM may have
    // had workers running that held it.
    handler_ = std::move(b);
    return Status::from_rc(rc);
  }
  /** Start the workers with a C handler.
   *  @param fn    the handler
   *  @param user  passed to @p fn, which must outlive the guest's workers
   *  @return as shmipc_guest_start() */
  Status start(shmipc_handler_fn fn, void *user) noexcept
  {
    return Status::from_rc(shmipc_guest_start(g_, fn, user));
  }
  /** Start the workers serving through @p r (streams to @p r, every
   *  other request to its next handler). @p r must outlive the guest.
   *  @param r  the receiver
   *  @return as shmipc_guest_start() */
  inline Status start(Reassembler &r) noexcept;

  /** Wait until the workers end (shmipc_guest_wait()).
   *  @param t  how long to wait
   *  @return OK (the host closed the session, or stop()),
   *          SHMIPC_E_PEER_GONE, SHMIPC_E_TIMEOUT (they still run), ... */
  Status wait(Timeout t = Timeout()) noexcept
  {
    return Status::from_rc(shmipc_guest_wait(g_, t.ns()));
  }
  /** Ask the workers to stop (shmipc_guest_stop()); wait() joins. */
  void stop() noexcept { shmipc_guest_stop(g_); }

  /** Read the guest's counters (shmipc_guest_stats()).
   *  @return the counters, or SHMIPC_E_INVALID (an empty guest) */
  inline Result<shmipc_stats> stats() const;

  /** Start the workers with a copy of @p f that may answer with large
   *  answers (shmipc_guest_start_answers(); shmipc.h, "Large answers").
   *  @p f is called as `f(const Request &, AnswerResponse &)` on several
   *  threads at once and returns void or bool (false answers the fixed
   *  reason "shmipc: handler failed"); it answers in the response buffer
   *  as a start() handler does, or hands over bytes of any length with
   *  AnswerResponse::set(). An exception it throws is answered as
   *  SHMIPC_MSG_SYSTEM_ERROR with its what() (bytes it set are released).
   *  The copy lives as long as the guest.
   *  @tparam F  the callable's type
   *  @param f    the handler
   *  @param lim  the limits, from answer_limits(), or nullptr for the
   *              defaults
   *  @return OK, SHMIPC_E_STATE (already started), SHMIPC_E_INVALID
   *          (limits out of range), SHMIPC_E_NOMEM, ... */
  template <class F>
  Status start_answers(F &&f, const shmipc_answer_limits *lim = nullptr);
  /** start_answers() with limits.
   *  @tparam F  the callable's type
   *  @param f    the handler
   *  @param lim  the limits, from answer_limits()
   *  @return as the pointer form */
  template <class F>
  Status start_answers(F &&f, const shmipc_answer_limits &lim)
  {
    return start_answers(std::forward<F>(f), &lim);
  }
  /** Start the workers with a C large-answer handler.
   *  @param fn    the handler
   *  @param user  passed to @p fn, which must outlive the guest's workers
   *  @param lim   the limits, or nullptr for the defaults
   *  @return as shmipc_guest_start_answers() */
  Status start_answers(shmipc_answer_fn fn, void *user,
                       const shmipc_answer_limits *lim) noexcept
  {
    return Status::from_rc(shmipc_guest_start_answers(g_, fn, user, lim));
  }
  /** Read the guest's large-answer counters (shmipc_guest_answer_stats();
   *  zeros for an empty guest or one started with start()).
   *  @return the counters */
  inline shmipc_answer_stats answer_stats() const noexcept;

  /** Guest-to-host call (shmipc_guest_call()).
   *  @param type      the request's message type
   *  @param req       the request (may be nullptr if @p req_len is 0)
   *  @param req_len   its length
   *  @param resp      the buffer for the response
   *  @param resp_cap  its size
   *  @param t         bounds the whole call
   *  @return as Host::call() */
  Result<Reply> call(uint32_t type, const void *req, size_t req_len, void *resp,
                     size_t resp_cap, Timeout t = Timeout())
  {
    Reply r;
    int rc = shmipc_guest_call(g_, type, req, req_len, resp, resp_cap, &r.size,
                               &r.type, t.ns());
    return detail::call_result(rc, resp, resp_cap, r);
  }
#if SHMIPC_HPP_SPAN
  /** Guest-to-host call with spans (C++20).
   *  @param type  the request's message type
   *  @param req   the request
   *  @param resp  the buffer for the response
   *  @param t     bounds the whole call
   *  @return as the pointer form */
  Result<Reply> call(uint32_t type, std::span<const std::byte> req,
                     std::span<std::byte> resp, Timeout t = Timeout())
  {
    return call(type, req.data(), req.size(), resp.data(), resp.size(), t);
  }
#endif

  /** End the guest's blocking calls (call(), wait(), stream sends) from
   *  any thread (shmipc_guest_abort()), sticky until abort_reset(); the
   *  workers go on serving.
   *  @return OK, SHMIPC_E_INVALID (an empty guest) */
  Status abort() noexcept { return Status::from_rc(shmipc_guest_abort(g_)); }
  /** Let the blocking calls wait again (shmipc_guest_abort_reset()).
   *  @return OK, SHMIPC_E_INVALID (an empty guest) */
  Status abort_reset() noexcept
  {
    return Status::from_rc(shmipc_guest_abort_reset(g_));
  }

  /** The caller's deadline of the host request being served in @p req
   *  (shmipc_guest_request_deadline()); as Host::request_deadline().
   *  @param req  the handler's request pointer (Request::data)
   *  @return the deadline, std::nullopt for none, or SHMIPC_E_INVALID */
  Result<std::optional<Clock::time_point>>
  request_deadline(const void *req) const
  {
    int64_t ns = 0;
    int rc = shmipc_guest_request_deadline(g_, req, &ns);
    if (rc < 0)
      return Status::from_rc(rc);
    if (rc == 0)
      return std::optional<Clock::time_point>();
    return std::optional<Clock::time_point>(
        Clock::time_point(Clock::duration(ns)));
  }
  /** @copybrief request_deadline(const void *) const
   *  @param rq  the request the handler was given
   *  @return as the pointer form */
  Result<std::optional<Clock::time_point>>
  request_deadline(const Request &rq) const
  {
    return request_deadline(rq.data);
  }
  /** Whether the host's caller of the request being served in @p req has
   *  given up on it (shmipc_guest_request_cancelled()).
   *  @param req  the handler's request pointer (Request::data)
   *  @return true, false, or SHMIPC_E_INVALID */
  Result<bool> request_cancelled(const void *req) const
  {
    int rc = shmipc_guest_request_cancelled(g_, req);
    if (rc < 0)
      return Status::from_rc(rc);
    return rc == 1;
  }
  /** @copybrief request_cancelled(const void *) const
   *  @param rq  the request the handler was given
   *  @return as the pointer form */
  Result<bool> request_cancelled(const Request &rq) const
  {
    return request_cancelled(rq.data);
  }

private:
  // Destroyed after g_ (reverse order): the workers end first.
  std::unique_ptr<detail::Box> handler_;
  shmipc_guest *g_ = nullptr;
};

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Streams */
/**@{*/

/** Stream sender settings (shmipc_stream_config). */
using StreamConfig = shmipc_stream_config;
/** Receiver limits (shmipc_stream_limits). */
using StreamLimits = shmipc_stream_limits;
/** Receiver counters (shmipc_stream_stats). */
using StreamStats = shmipc_stream_stats;

/** @return stream sender settings with the defaults
 *          (shmipc_stream_config_init()) */
inline StreamConfig stream_config() noexcept
{
  StreamConfig c;
  shmipc_stream_config_init(&c);
  return c;
}
/** @return receiver limits with the defaults (shmipc_stream_limits_init()) */
inline StreamLimits stream_limits() noexcept
{
  StreamLimits l;
  shmipc_stream_limits_init(&l);
  return l;
}

/** The outcome of StreamSender::send() (shmipc_stream_result). */
struct StreamResult : shmipc_stream_result {
  /** Zeroed, with its struct_size set. */
  StreamResult() noexcept : shmipc_stream_result(SHMIPC_STREAM_RESULT_INIT) {}
  /** @return shmipc_stream_reason_name() of the reason */
  const char *reason_name() const noexcept
  {
    return shmipc_stream_reason_name(reason);
  }
};

/**
 * A stream sender: sends payloads of any size as chunks over several
 * slots, from a host to its guest (shmipc_stream_sender_create()) or from
 * a guest to its host (shmipc_guest_stream_sender_create()). Move-only;
 * the destructor destroys it. Its Host or Guest must outlive every send.
 */
class StreamSender
{
public:
  /** Create a sender for @p h.
   *  @param h    the host
   *  @param cfg  the settings, from stream_config()
   *  @return the sender, or the failure (as shmipc_stream_sender_create()) */
  static Result<StreamSender> create(Host &h,
                                     const StreamConfig &cfg = stream_config())
  {
    shmipc_stream_sender *s = nullptr;
    int rc = shmipc_stream_sender_create(h.get(), &cfg, &s);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return StreamSender(s);
  }
  /** Create a sender from guest @p g to its host, over the guest slots
   *  (shmipc_guest_stream_sender_create()): the host receives with
   *  Host::stream_receiver(); a host without one answers SHMIPC_E_REMOTE.
   *  @param g    the guest
   *  @param cfg  the settings, from stream_config()
   *  @return the sender, or the failure (SHMIPC_E_INVALID: no guest
   *          slots, or slots too small, ...) */
  static Result<StreamSender> create(Guest &g,
                                     const StreamConfig &cfg = stream_config())
  {
    shmipc_stream_sender *s = nullptr;
    int rc = shmipc_guest_stream_sender_create(g.get(), &cfg, &s);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return StreamSender(s);
  }

  /** An empty sender. */
  StreamSender() noexcept = default;
  /** Take ownership of a C sender.
   *  @param s  the sender (or nullptr) */
  explicit StreamSender(shmipc_stream_sender *s) noexcept : s_(s) {}
  StreamSender(const StreamSender &) = delete;
  StreamSender &operator=(const StreamSender &) = delete;
  /** Take @p o's sender; @p o is left empty.
   *  @param o  the sender to move from */
  StreamSender(StreamSender &&o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  /** Destroy this sender, then take @p o's.
   *  @param o  the sender to move from
   *  @return *this */
  StreamSender &operator=(StreamSender &&o) noexcept
  {
    if (this != &o) {
      reset();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  /** Destroy the sender (shmipc_stream_sender_destroy()). */
  ~StreamSender() { reset(); }
  /** Destroy the sender now (nothing if empty). */
  void reset() noexcept
  {
    shmipc_stream_sender_destroy(std::exchange(s_, nullptr));
  }
  /** @return the C sender, still owned by this object */
  shmipc_stream_sender *get() const noexcept { return s_; }

  /** Send @p len bytes of @p data as one stream (shmipc_stream_send()).
   *  @param app_type  the stream's application type
   *  @param data      the payload (may be nullptr if @p len is 0)
   *  @param len       its length
   *  @param t         bounds the whole send
   *  @param res       optional: which chunk failed and why
   *  @return OK, SHMIPC_E_REFUSED (see @p res), ... */
  Status send(uint32_t app_type, const void *data, size_t len,
              Timeout t = Timeout(), StreamResult *res = nullptr) noexcept
  {
    return Status::from_rc(
        shmipc_stream_send(s_, app_type, data, len, t.ns(), res));
  }
#if SHMIPC_HPP_SPAN
  /** Send @p data as one stream (C++20).
   *  @param app_type  the stream's application type
   *  @param data      the payload
   *  @param t         bounds the whole send
   *  @param res       optional: which chunk failed and why
   *  @return as the pointer form */
  Status send(uint32_t app_type, std::span<const std::byte> data,
              Timeout t = Timeout(), StreamResult *res = nullptr) noexcept
  {
    return send(app_type, data.data(), data.size(), t, res);
  }
#endif

private:
  shmipc_stream_sender *s_ = nullptr;
};

/** Frees a stream buffer kept with Stream::keep(). */
struct StreamBufferFree {
  /** @param p  the buffer (shmipc_stream_buffer_free()) */
  void operator()(std::byte *p) const noexcept { shmipc_stream_buffer_free(p); }
};
/** A stream's buffer owned by the program. */
using StreamBuffer = std::unique_ptr<std::byte[], StreamBufferFree>;

/** A complete stream, as a Reassembler's delivery callable sees it. */
class Stream
{
public:
  /** Wrap the C delivery arguments.
   *  @param id        the stream's identifier
   *  @param app_type  its application type
   *  @param data      its bytes
   *  @param size      their length */
  Stream(uint64_t id, uint32_t app_type, void *data, size_t size) noexcept
      : id_(id), app_type_(app_type), data_(data), size_(size)
  {
  }
  /** @return the stream's identifier */
  uint64_t id() const noexcept { return id_; }
  /** @return the application type the sender gave */
  uint32_t app_type() const noexcept { return app_type_; }
  /** @return the stream's bytes (nullptr when empty); the library frees
   *          them after delivery unless keep() was called */
  const void *data() const noexcept { return data_; }
  /** @return their length */
  size_t size() const noexcept { return size_; }
#if SHMIPC_HPP_SPAN
  /** @return the bytes as a span (C++20) */
  std::span<const std::byte> bytes() const noexcept
  {
    return {static_cast<const std::byte *>(data_), size_};
  }
#endif
  /** Take the buffer: the program owns it from now on, and the stream
   *  counts as accepted whatever the callable does next.
   *  @return the buffer (empty for an empty stream, or a second keep()) */
  StreamBuffer keep() noexcept
  {
    kept_ = data_ != nullptr;
    return StreamBuffer(
        static_cast<std::byte *>(std::exchange(data_, nullptr)));
  }
  /** @return true once keep() took the buffer */
  bool kept() const noexcept { return kept_; }

private:
  uint64_t id_;
  uint32_t app_type_;
  void *data_;
  size_t size_;
  bool kept_ = false;
};

/// @cond SHMIPC_DETAIL
namespace detail
{
struct StreamBox {
  virtual ~StreamBox() = default;
  virtual int deliver(Stream &s) noexcept = 0;
  static int call(void *user, uint64_t id, uint32_t app_type, void *data,
                  size_t len) noexcept
  {
    Stream s(id, app_type, data, len);
    int rc = static_cast<StreamBox *>(user)->deliver(s);
    /* A kept buffer is the program's whatever the verdict: the library
     * must not free it too. */
    if (s.kept())
      return SHMIPC_STREAM_KEEP;
    return rc < 0 ? rc : 0;
  }
};
template <class F> struct StreamFnBox final : StreamBox {
  explicit StreamFnBox(F &&f) : f_(std::move(f)) {}
  explicit StreamFnBox(const F &f) : f_(f) {}
  int deliver(Stream &s) noexcept override
  {
#if SHMIPC_HPP_EXCEPTIONS
    try {
#endif
      using R = decltype(f_(s));
      if constexpr (std::is_void_v<R>) {
        f_(s);
        return 0;
      } else {
        static_assert(std::is_convertible_v<R, bool>,
                      "a stream callable returns void or bool");
        return static_cast<bool>(f_(s)) ? 0 : -1;
      }
#if SHMIPC_HPP_EXCEPTIONS
    } catch (...) {
      return -1;
    }
#endif
  }
  F f_;
};
} // namespace detail
/// @endcond

/**
 * A stream receiver (shmipc_reassembler_create()): serve with it
 * (Guest::start(Reassembler &), or its fn() and user() with a C serve
 * call) and it reassembles streams and hands every other request to its
 * next handler. Move-only; the destructor destroys it, so it must not
 * run while anything still serves through it.
 */
class Reassembler
{
public:
  /** Create a receiver.
   *  @tparam D        the delivery callable's type
   *  @tparam N        the next handler's type
   *  @param lim       the limits, from stream_limits()
   *  @param deliver   called as `deliver(Stream &)` with each complete
   *                   stream; returns void or bool (false refuses the
   *                   stream: the sender gets SHMIPC_E_REFUSED); an
   *                   exception refuses it too
   *  @param next      the handler of every other request, as for
   *                   Host::listen()
   *  @return the receiver, or the failure (as
   *          shmipc_reassembler_create(), or SHMIPC_E_NOMEM) */
  template <class D, class N>
  static Result<Reassembler> create(const StreamLimits &lim, D &&deliver,
                                    N &&next)
  {
    using DD = std::decay_t<D>;
    Reassembler r;
    r.deliver_.reset(new (std::nothrow)
                         detail::StreamFnBox<DD>(std::forward<D>(deliver)));
    r.next_ = detail::box(std::forward<N>(next));
    if (r.deliver_ == nullptr || r.next_ == nullptr)
      return detail::nomem();
    int rc = shmipc_reassembler_create(&lim, &detail::StreamBox::call,
                                       r.deliver_.get(), r.next_->fn(),
                                       r.next_->user(), &r.r_);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return Result<Reassembler>(std::move(r));
  }

  /** An empty receiver. */
  Reassembler() noexcept = default;
  Reassembler(const Reassembler &) = delete;
  Reassembler &operator=(const Reassembler &) = delete;
  /** Take @p o's receiver; @p o is left empty.
   *  @param o  the receiver to move from */
  Reassembler(Reassembler &&o) noexcept
      : deliver_(std::move(o.deliver_)), next_(std::move(o.next_)),
        r_(std::exchange(o.r_, nullptr))
  {
  }
  /** Destroy this receiver, then take @p o's.
   *  @param o  the receiver to move from
   *  @return *this */
  Reassembler &operator=(Reassembler &&o) noexcept
  {
    if (this != &o) {
      reset();
      r_ = std::exchange(o.r_, nullptr);
      deliver_ = std::move(o.deliver_);
      next_ = std::move(o.next_);
    }
    return *this;
  }
  /** Destroy the receiver (shmipc_reassembler_destroy()). */
  ~Reassembler() { reset(); }
  /** Destroy the receiver now (nothing if empty), then its callables. */
  void reset() noexcept
  {
    shmipc_reassembler_destroy(std::exchange(r_, nullptr));
    deliver_.reset();
    next_.reset();
  }
  /** @return the C receiver, still owned by this object */
  shmipc_reassembler *get() const noexcept { return r_; }
  /** @return the C handler to serve with (shmipc_reassembler_handle) */
  static shmipc_handler_fn fn() noexcept { return &shmipc_reassembler_handle; }
  /** @return the user pointer to serve with (the C receiver) */
  void *user() const noexcept { return r_; }

  /** @return the receiver's counters (shmipc_reassembler_stats()) */
  StreamStats stats() const noexcept
  {
    StreamStats st = SHMIPC_STREAM_STATS_INIT;
    shmipc_reassembler_stats(r_, &st);
    return st;
  }

private:
  // Destroyed after r_ (reverse order).
  std::unique_ptr<detail::StreamBox> deliver_;
  std::unique_ptr<detail::Box> next_;
  shmipc_reassembler *r_ = nullptr;
};

inline Status Guest::start(Reassembler &r) noexcept
{
  return start(Reassembler::fn(), r.user());
}

inline Status Host::stream_receiver(Reassembler &r) noexcept
{
  if (r.get() == nullptr) // NULL would detach: an empty receiver is an error
    return Status(SHMIPC_E_INVALID,
                  std::string(shmipc_strerror(SHMIPC_E_INVALID)) +
                      ": the receiver is empty");
  return Status::from_rc(shmipc_host_stream_receiver(h_, r.get()));
}

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Launching a guest */
/**@{*/

/** What Host::launch() starts (shmipc_launch_config). */
using LaunchConfig = shmipc_launch_config;

/** @return launch settings for the program @p path, everything else the
 *          defaults (shmipc_launch_config_init())
 *  @param path  the program's file (not searched in PATH) */
inline LaunchConfig launch_config(const char *path) noexcept
{
  LaunchConfig c;
  shmipc_launch_config_init(&c);
  c.path = path;
  return c;
}

/** How a child ended (shmipc_child_exit). */
struct ChildExit : shmipc_child_exit {
  /** Zeroed, with its struct_size set. */
  ChildExit() noexcept : shmipc_child_exit{sizeof(shmipc_child_exit), 0, 0} {}
  /** @return true when the child exited (then @c code is its status),
   *          false when a signal ended it (Linux) */
  bool exited() const noexcept { return signal == 0; }
};

/**
 * A launched guest process, from Host::launch(). Move-only; the
 * destructor frees it (shmipc_child_destroy()), killing and reaping a
 * child that still runs: the process never outlives its handle. It does
 * not depend on its Host, which may go first.
 */
class Child
{
public:
  /** An empty child. */
  Child() noexcept = default;
  /** Take ownership of a C child.
   *  @param c  the child (or nullptr) */
  explicit Child(shmipc_child *c) noexcept : c_(c) {}
  Child(const Child &) = delete;
  Child &operator=(const Child &) = delete;
  /** Take @p o's child; @p o is left empty.
   *  @param o  the child to move from */
  Child(Child &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  /** Free this child, then take @p o's.
   *  @param o  the child to move from
   *  @return *this */
  Child &operator=(Child &&o) noexcept
  {
    if (this != &o) {
      reset();
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  /** Free the child (shmipc_child_destroy()). */
  ~Child() { reset(); }
  /** Free the child now (nothing if empty): one that still runs is
   *  killed and reaped first, within a bounded wait. */
  void reset() noexcept { shmipc_child_destroy(std::exchange(c_, nullptr)); }
  /** @return the C child, still owned by this object */
  shmipc_child *get() const noexcept { return c_; }
  /** @return true when a child is held */
  explicit operator bool() const noexcept { return c_ != nullptr; }

  /** @return the process id, for logs (0 when empty; ids are reused: the
   *          handle is what names the process) */
  int64_t pid() const noexcept { return shmipc_child_pid(c_); }
  /** @return a descriptor that becomes readable when the child ends
   *          (Linux: a pidfd; Windows: the process handle), owned by this
   *          object; -1 when there is none (shmipc_child_handle()) */
  intptr_t handle() const noexcept { return shmipc_child_handle(c_); }

  /** Wait for the child to end (shmipc_child_wait()); later waits give
   *  the same answer. One thread at a time.
   *  @param t  how long to wait (fallback(): the launching host's
   *            default timeout)
   *  @return how it ended, or SHMIPC_E_TIMEOUT (it still runs),
   *          SHMIPC_E_INVALID (empty), SHMIPC_E_SYSTEM */
  Result<ChildExit> wait(Timeout t = Timeout())
  {
    ChildExit e;
    int rc = shmipc_child_wait(c_, t.ns(), &e);
    if (rc != SHMIPC_OK)
      return Status::from_rc(rc);
    return e;
  }
  /** Kill the child at once (shmipc_child_kill()); wait() then reports
   *  it. Nothing happens once it ended.
   *  @return OK, SHMIPC_E_INVALID (empty), SHMIPC_E_SYSTEM */
  Status kill() noexcept { return Status::from_rc(shmipc_child_kill(c_)); }

private:
  shmipc_child *c_ = nullptr;
};

inline Result<Child> Host::launch(const shmipc_launch_config &cfg)
{
  shmipc_child *c = nullptr;
  int rc = shmipc_host_launch(h_, &cfg, &c);
  if (rc != SHMIPC_OK)
    return Status::from_rc(rc);
  return Child(c);
}

template <class... Args>
Result<Child> Host::launch(const char *path, Args... args)
{
  static_assert((std::is_convertible_v<Args, const char *> && ...),
                "the arguments of a launch are C strings");
  const char *argv[] = {path, static_cast<const char *>(args)..., nullptr};
  LaunchConfig c = launch_config(path);
  c.argv = argv;
  return launch(c);
}

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Statistics */
/**@{*/

/** A side's counters (shmipc_stats; shmipc.h, "Statistics"):
 *  diagnostics, which the peer can write over. */
using Stats = shmipc_stats;

inline Result<Stats> Host::stats() const
{
  Stats st = SHMIPC_STATS_INIT;
  int rc = shmipc_host_stats(h_, &st);
  if (rc != SHMIPC_OK)
    return Status::from_rc(rc);
  return st;
}

inline Result<Stats> Guest::stats() const
{
  Stats st = SHMIPC_STATS_INIT;
  int rc = shmipc_guest_stats(g_, &st);
  if (rc != SHMIPC_OK)
    return Status::from_rc(rc);
  return st;
}

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Large answers */
/**@{*/

/**
 * A large answer in a buffer of the library's (Host::call_alloc(),
 * Slot::answer_alloc()): move-only, freed by its destructor
 * (shmipc_answer_free()). Empty when default-constructed or moved from.
 */
class Answer
{
public:
  /** An empty answer. */
  Answer() noexcept = default;
  /** Take ownership of a buffer of the library's.
   *  @param data  the buffer, to free with shmipc_answer_free() (or
   *               nullptr)
   *  @param size  its length
   *  @param type  the answer's message type */
  Answer(void *data, size_t size, uint32_t type) noexcept
      : data_(data), size_(size), type_(type)
  {
  }
  Answer(const Answer &) = delete;
  Answer &operator=(const Answer &) = delete;
  /** Take @p o's buffer; @p o is left empty.
   *  @param o  the answer to move from */
  Answer(Answer &&o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)), type_(std::exchange(o.type_, 0u))
  {
  }
  /** Free this buffer, then take @p o's; @p o is left empty.
   *  @param o  the answer to move from
   *  @return *this */
  Answer &operator=(Answer &&o) noexcept
  {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      type_ = std::exchange(o.type_, 0u);
    }
    return *this;
  }
  /** Free the buffer (shmipc_answer_free()). */
  ~Answer() { reset(); }

  /** Free the buffer now (nothing if empty); the answer is left empty. */
  void reset() noexcept
  {
    shmipc_answer_free(std::exchange(data_, nullptr));
    size_ = 0;
    type_ = 0;
  }
  /** Give up the buffer: the caller frees it with shmipc_answer_free().
   *  @return the buffer (nullptr if empty) */
  void *release() noexcept
  {
    size_ = 0;
    type_ = 0;
    return std::exchange(data_, nullptr);
  }
  /** @return the answer's bytes (nullptr when none are held) */
  const void *data() const noexcept { return data_; }
  /** @return their length (after SHMIPC_E_TRUNCATED from
   *          Host::call_alloc(): the announced length, with no bytes) */
  size_t size() const noexcept { return size_; }
  /** @return the answer's message type */
  uint32_t type() const noexcept { return type_; }
#if SHMIPC_HPP_SPAN
  /** @return the bytes as a span (C++20; empty when none are held) */
  std::span<const std::byte> bytes() const noexcept
  {
    return {static_cast<const std::byte *>(data_),
            data_ != nullptr ? size_ : 0};
  }
#endif

private:
  void *data_ = nullptr;
  size_t size_ = 0;
  uint32_t type_ = 0;
};

/** One piece of an answer, as a Host::call_chunks() callable sees it:
 *  bytes in shared memory, valid until the callable returns. */
struct Chunk {
  uint32_t type = 0;          /**< the answer's message type */
  uint64_t total = 0;         /**< the answer's whole length */
  uint64_t offset = 0;        /**< where this piece starts */
  const void *data = nullptr; /**< the piece (nullptr when empty) */
  size_t size = 0;            /**< its length */
#if SHMIPC_HPP_SPAN
  /** @return the piece as a span (C++20) */
  std::span<const std::byte> bytes() const noexcept
  {
    return {static_cast<const std::byte *>(data), size};
  }
#endif
};

/** What a guest parks at most (shmipc_answer_limits). */
using AnswerLimits = shmipc_answer_limits;
/** A guest's large-answer counters (shmipc_answer_stats). */
using AnswerStats = shmipc_answer_stats;

/** @return large-answer limits with the defaults
 *          (shmipc_answer_limits_init()) */
inline AnswerLimits answer_limits() noexcept
{
  AnswerLimits l;
  shmipc_answer_limits_init(&l);
  return l;
}

/**
 * The response a Guest::start_answers() handler fills: as a Response
 * (write into data() and set the size, assign(), fail()), and it may hand
 * the library bytes of any length with set() instead (no copy is made of
 * them: the host pulls them from where they are; see shmipc_answer_set()).
 * The type (set_type()) applies to either.
 */
class AnswerResponse : private Response
{
public:
  // Not a Response to the outside: a Response's fail() would leave bytes
  // given to set() in place.
  using Response::assign;
  using Response::capacity;
  using Response::data;
  using Response::set_size;
  using Response::set_type;
  using Response::size;
  using Response::type;
#if SHMIPC_HPP_SPAN
  using Response::bytes;
#endif

  /** Wrap the C handler's response arguments.
   *  @param buf   the response buffer
   *  @param cap   its capacity
   *  @param len   the response length to set
   *  @param type  the response type to set
   *  @param ans   where a large answer is handed over */
  AnswerResponse(void *buf, size_t cap, size_t *len, uint32_t *type,
                 shmipc_answer *ans) noexcept
      : Response(buf, cap, len, type), ans_(ans)
  {
  }

  /** Answer with @p len bytes at @p data (shmipc_answer_set()): they
   *  stay unchanged until @p release is called with them, exactly once,
   *  after the handler returned (nullptr for bytes that outlive the
   *  guest). A second set() replaces the first, which is released.
   *  @param data         the bytes (may be nullptr if @p len is 0)
   *  @param len          their length
   *  @param release      called when the guest is done with them
   *  @param release_ctx  passed to @p release */
  void set(const void *data, size_t len, shmipc_release_fn release,
           void *release_ctx) noexcept
  {
    shmipc_answer_set(ans_, data, len, release, release_ctx);
    set_ = true;
  }
  /** Answer with the bytes of @p c, moved into the library (no copy of
   *  the bytes): a contiguous container such as std::vector<uint8_t>,
   *  std::vector<std::byte> or std::string, deleted when the guest is
   *  done with it.
   *  @tparam C  the container's type (an rvalue: it is moved from)
   *  @param c   the bytes
   *  @return false, answering nothing, when the holder cannot be
   *          allocated (the caller may then fail()) */
  template <class C, class = std::enable_if_t<!std::is_lvalue_reference_v<C>>>
  bool set(C &&c) noexcept
  {
    using D = std::decay_t<C>;
    static_assert(std::is_nothrow_move_constructible_v<D>,
                  "set() moves the container without throwing");
    D *held = new (std::nothrow) D(std::move(c));
    if (held == nullptr)
      return false;
    set(std::data(*held), std::size(*held) * sizeof(*std::data(*held)),
        &release_held<D>, held);
    return true;
  }
#if SHMIPC_HPP_SPAN
  /** Answer with bytes that outlive the guest (static data), no release.
   *  @param b  the bytes */
  void set_static(std::span<const std::byte> b) noexcept
  {
    set(b.data(), b.size(), nullptr, nullptr);
  }
#endif
  /** Answer with @p len bytes at @p data that outlive the guest (static
   *  data): nothing is released.
   *  @param data  the bytes
   *  @param len   their length */
  void set_static(const void *data, size_t len) noexcept
  {
    set(data, len, nullptr, nullptr);
  }

  /** Answer SHMIPC_MSG_SYSTEM_ERROR with @p reason (cut to the response
   *  capacity), as Response::fail(); bytes given to set() before are
   *  released and replaced by the reason.
   *  @param reason  why the request failed */
  void fail(std::string_view reason) noexcept
  {
    Response::fail(reason);
    if (!set_)
      return;
    // The answer set before wins over the response buffer: replace it by
    // a copy of the reason (or, without memory for one, fail with the
    // fixed reason).
    size_t n = size();
    char *copy = new (std::nothrow) char[n > 0 ? n : 1];
    if (copy == nullptr) {
      failed_ = true;
      return;
    }
    if (n > 0)
      std::memcpy(copy, data(), n);
    set(copy, n, &release_chars, copy);
  }
  /** @return true when fail() could not replace a set() answer by the
   *          reason: the request then fails with the fixed reason */
  bool failed() const noexcept { return failed_; }
  /** @return true once set() or set_static() answered */
  bool is_set() const noexcept { return set_; }
  /** @return the C handle, for shmipc_answer_set() */
  shmipc_answer *get() const noexcept { return ans_; }

private:
  template <class D>
  static void release_held(void *ctx, const void *, size_t) noexcept
  {
    delete static_cast<D *>(ctx);
  }
  static void release_chars(void *ctx, const void *, size_t) noexcept
  {
    delete[] static_cast<char *>(ctx);
  }
  shmipc_answer *ans_;
  bool set_ = false;
  bool failed_ = false;
};

/// @cond SHMIPC_DETAIL
namespace detail
{

template <class F>
int answer_trampoline(void *user, uint32_t type, const void *req,
                      size_t req_len, void *resp, size_t resp_cap,
                      size_t *resp_len, uint32_t *resp_type,
                      shmipc_answer *ans) noexcept
{
  F &f = *static_cast<F *>(user);
  Request rq;
  rq.type = type;
  rq.data = req;
  rq.size = req_len;
  AnswerResponse rs(resp, resp_cap, resp_len, resp_type, ans);
#if SHMIPC_HPP_EXCEPTIONS
  try {
#endif
    using R = decltype(f(rq, rs));
    if constexpr (std::is_void_v<R>) {
      f(rq, rs);
      return 0;
    } else {
      static_assert(std::is_convertible_v<R, bool>,
                    "a handler returns void or bool");
      return static_cast<bool>(f(rq, rs)) ? 0 : 1;
    }
#if SHMIPC_HPP_EXCEPTIONS
  } catch (const std::exception &e) {
    rs.fail(e.what());
  } catch (...) {
    rs.fail("unknown exception");
  }
  return rs.failed() ? 1 : 0;
#endif
}

template <class F> struct AnswerBox final : Box {
  explicit AnswerBox(F &&f) : f_(std::move(f)) {}
  explicit AnswerBox(const F &f) : f_(f) {}
  shmipc_handler_fn fn() const noexcept override { return nullptr; }
  shmipc_answer_fn answer_fn() const noexcept { return &answer_trampoline<F>; }
  void *user() noexcept override { return &f_; }
  F f_;
};

/* A Host::call_chunks() callable and the text of the exception that
 * stopped it. */
template <class F> struct ChunkCall {
  F *f;
  std::string error;
  bool nomem = false;
  static int call(void *user, uint32_t type, uint64_t total, uint64_t offset,
                  const void *data, size_t len) noexcept
  {
    auto *c = static_cast<ChunkCall *>(user);
    Chunk k;
    k.type = type;
    k.total = total;
    k.offset = offset;
    k.data = data;
    k.size = len;
#if SHMIPC_HPP_EXCEPTIONS
    try {
#endif
      using R = decltype((*c->f)(k));
      if constexpr (std::is_void_v<R>) {
        (*c->f)(k);
        return 0;
      } else {
        static_assert(std::is_convertible_v<R, bool>,
                      "a chunk callable returns void or bool");
        return static_cast<bool>((*c->f)(k)) ? 0 : 1;
      }
#if SHMIPC_HPP_EXCEPTIONS
    } catch (const std::exception &e) {
      try {
        c->error = e.what();
      } catch (...) {
        c->nomem = true;
      }
    } catch (...) {
      c->error = "unknown exception";
    }
    return 1;
#endif
  }
};

/* After an allocating call: the answer, with the peer's reason quoted
 * in the text on SHMIPC_E_REMOTE and the announced length on
 * SHMIPC_E_TRUNCATED. */
inline Result<Answer> answer_result(int rc, void *resp, size_t len,
                                    uint32_t type)
{
  Answer a(resp, len, type);
  if (rc == SHMIPC_OK)
    return Result<Answer>(std::move(a));
  Status st = remote_status(rc, resp, len);
  if (rc == SHMIPC_E_REMOTE || rc == SHMIPC_E_TRUNCATED)
    return Result<Answer>(std::move(st), std::move(a));
  return Result<Answer>(std::move(st));
}

} // namespace detail
/// @endcond

inline Result<Answer> Host::call_alloc(uint32_t type, const void *req,
                                       size_t req_len, Timeout t)
{
  void *resp = nullptr;
  size_t len = 0;
  uint32_t rtype = 0;
  int rc = shmipc_host_call_alloc(h_, type, req, req_len, &resp, &len, &rtype,
                                  t.ns());
  return detail::answer_result(rc, resp, len, rtype);
}

template <class F>
Status Host::call_chunks(uint32_t type, const void *req, size_t req_len, F &&f,
                         Timeout t)
{
  using D = std::remove_reference_t<F>;
  if constexpr (std::is_function_v<D>) { // a function: by its pointer
    D *fp = &f;
    return call_chunks(type, req, req_len, fp, t);
  } else {
    detail::ChunkCall<D> c{std::addressof(f), std::string(), false};
    int rc = shmipc_host_call_chunks(h_, type, req, req_len,
                                     &detail::ChunkCall<D>::call, &c, t.ns());
    if (rc == SHMIPC_E_REFUSED && c.nomem)
      return detail::nomem();
    if (rc == SHMIPC_E_REFUSED && !c.error.empty())
      return Status(rc, std::string(shmipc_strerror(rc)) + ": " + c.error);
    return Status::from_rc(rc);
  }
}

#if SHMIPC_HPP_SPAN
inline Result<Answer>
Host::call_alloc(uint32_t type, std::span<const std::byte> req, Timeout t)
{
  return call_alloc(type, req.data(), req.size(), t);
}
#endif

inline Result<Answer> Slot::answer_alloc(Timeout t)
{
  void *resp = nullptr;
  size_t len = 0;
  uint32_t rtype = 0;
  int rc = shmipc_slot_answer_alloc(s_, &resp, &len, &rtype, t.ns());
  return detail::answer_result(rc, resp, len, rtype);
}

template <class F> Status Guest::start_answers(F &&f, const AnswerLimits *lim)
{
  if (handler_ != nullptr)
    return Status(SHMIPC_E_STATE, std::string(shmipc_strerror(SHMIPC_E_STATE)) +
                                      ": the guest was started already");
  using D = std::decay_t<F>;
  auto *ab = new (std::nothrow) detail::AnswerBox<D>(std::forward<F>(f));
  std::unique_ptr<detail::Box> b(ab);
  if (b == nullptr)
    return detail::nomem();
  int rc = shmipc_guest_start_answers(g_, ab->answer_fn(), b->user(), lim);
  // Kept even on failure, as for start().
  handler_ = std::move(b);
  return Status::from_rc(rc);
}

inline AnswerStats Guest::answer_stats() const noexcept
{
  AnswerStats st = SHMIPC_ANSWER_STATS_INIT;
  shmipc_guest_answer_stats(g_, &st);
  return st;
}

/**@}*/

} // namespace shmipc

#endif /* SHMIPC_SHMIPC_HPP */
