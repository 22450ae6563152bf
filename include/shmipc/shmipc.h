/* SPDX-License-Identifier: MIT */
/* The tables below (codes, fields, offsets) are aligned by hand, one entry
 * a line, for the reader: clang-format leaves this file as it is. */
/* clang-format off */
/**
 * @file shmipc.h
 * @brief libshmipc: a shared-memory request/response channel between two
 * processes on one machine.
 *
 * A **host** creates a named segment holding a fixed pool of slots. Host
 * threads make calls on host slots: claim a slot, write the request in
 * place, publish it and wait for the response in the same slot. A **guest**
 * (this library's guest role, or the pure-Go guest in `go/`) attaches to the
 * segment by name and answers. The guest can call the host back on a second
 * pool of guest slots; the host serves those from a listener thread or from
 * its own loop.
 *
 * Conventions:
 * - Functions return 0 (`SHMIPC_OK`) or a negative `SHMIPC_E_*` code; handles
 *   come back through an out-parameter. `shmipc_strerror()` names a code;
 *   `shmipc_last_error()` tells the calling thread what its last failure
 *   was about (the field, value and limit, or the path).
 *   Each function lists the codes it can return; to one that returns a
 *   code, a NULL handle or required pointer is `SHMIPC_E_INVALID`.
 * - Every call that can block takes a timeout in nanoseconds:
 *   `SHMIPC_TIMEOUT_DEFAULT` uses the handle's configured default,
 *   `SHMIPC_TIMEOUT_INFINITE` waits without limit (peer death still ends the
 *   wait), 0 does not wait (one look, no sleep), any positive value up to
 *   INT64_MAX waits that long (values past the clock's range never run
 *   out), any other negative value is `SHMIPC_E_INVALID`. A timeout bounds
 *   the whole call, including the wait for a free slot. The config fields
 *   that hold a timeout take the same values, `SHMIPC_TIMEOUT_DEFAULT`
 *   meaning the built-in default.
 * - A function that returns `SHMIPC_E_INVALID` (or `SHMIPC_E_TOO_BIG`,
 *   `SHMIPC_E_STATE`) checked its arguments before it changed anything:
 *   nothing was published, no slot is held, no counter moved.
 * - `SHMIPC_E_PEER_GONE` means the other side closed, detached or died, on
 *   every path and whoever saw it first; `SHMIPC_E_CLOSED` means only that
 *   this handle is shutting down (destroy, detach, shmipc_guest_stop()).
 *   shmipc_last_error() says which (`the guest detached`, `host closed the
 *   session`, `host died (its liveness lock is free)`); shmipc_guest_wait()
 *   alone tells them apart by code: 0 for the host's orderly close.
 * - **Timeout 0 differs between the languages.** In C, 0 means "do not
 *   wait": the call looks once and gives `SHMIPC_E_TIMEOUT` if it would
 *   have to wait. In the Go guest (`go/`), a zero `time.Duration` means "the
 *   configured default" (C's `SHMIPC_TIMEOUT_DEFAULT`), and Go's `Infinite`
 *   is -1, which in C is `SHMIPC_TIMEOUT_DEFAULT`, not
 *   `SHMIPC_TIMEOUT_INFINITE` (-2). A port from Go to C writes 0 as
 *   `SHMIPC_TIMEOUT_DEFAULT` and `Infinite` as `SHMIPC_TIMEOUT_INFINITE`; a
 *   port from C to Go writes 0 as the shortest wait it accepts (Go has no
 *   "do not wait").
 * - Destroy/detach functions accept NULL. A create/attach/acquire that fails
 *   sets its out-parameter to NULL (when the out-parameter itself is not NULL).
 * - Threads: each handle's documentation says which of its functions may
 *   run at the same time on several threads. A destroy or detach may run
 *   while other threads are inside that handle's functions: the blocking
 *   ones (calls, acquires, waits, serves, sends) return SHMIPC_E_CLOSED
 *   within about a liveness interval and touch nothing freed. What stays
 *   forbidden: calling any function of the handle, or of a shmipc_slot
 *   still held, once its destroy or detach has begun (the program must
 *   stop handing the handle to new calls first, as for any free), and a
 *   second destroy of the same handle. A destroy waits for the functions
 *   in progress at most a few liveness intervals (at least 200 ms), then
 *   frees anyway.
 * - The wire protocol is documented in docs/PROTOCOL.md.
 */
#ifndef SHMIPC_SHMIPC_H
#define SHMIPC_SHMIPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SHMIPC_EXPORT
#if defined(_WIN32) && defined(SHMIPC_BUILDING_LIBRARY)
#define SHMIPC_EXPORT __declspec(dllexport)
#elif defined(_WIN32)
#define SHMIPC_EXPORT __declspec(dllimport)
#elif defined(__GNUC__)
#define SHMIPC_EXPORT __attribute__((visibility("default")))
#else
#define SHMIPC_EXPORT
#endif
#endif

/** @name Error codes
 * Stable values (docs/PROTOCOL.md, "Error codes"); shmipc_strerror() gives
 * each one's text, the same text as the Go guest's error of that code. */
/**@{*/
#define SHMIPC_OK 0              /**< success */
#define SHMIPC_E_INVALID (-1)    /**< bad argument or configuration */
#define SHMIPC_E_NAME (-2)       /**< segment name not valid */
#define SHMIPC_E_NOMEM (-3)      /**< out of memory */
#define SHMIPC_E_EXISTS (-4)     /**< segment exists and its host is alive */
#define SHMIPC_E_NOT_FOUND (-5)  /**< no such segment */
#define SHMIPC_E_ACCESS (-6)     /**< permission denied / foreign owner */
#define SHMIPC_E_VERSION (-7)    /**< protocol version mismatch */
#define SHMIPC_E_CORRUPT (-8)    /**< segment holds an illegal value */
#define SHMIPC_E_TIMEOUT (-9)    /**< the wait ran out */
#define SHMIPC_E_PEER_GONE (-10) /**< the peer died, detached or closed (a
                                      guest's host: for good) */
#define SHMIPC_E_TOO_BIG (-11)   /**< request larger than slot capacity */
#define SHMIPC_E_TRUNCATED (-12) /**< response larger than caller's buffer */
#define SHMIPC_E_REMOTE (-13)    /**< peer answered SHMIPC_MSG_SYSTEM_ERROR */
#define SHMIPC_E_BUSY (-14)      /**< no free slot, or in use by another guest
                                      or thread */
#define SHMIPC_E_CLOSED (-15)    /**< the local handle is shutting down */
#define SHMIPC_E_SYSTEM (-16)    /**< an operating-system call failed */
#define SHMIPC_E_STATE (-17)     /**< not valid in the handle's current state */
#define SHMIPC_E_REFUSED (-18)   /**< the receiver refused the stream */
#define SHMIPC_E_ABORTED (-19)   /**< another thread aborted the wait
                                      (shmipc_slot_abort(),
                                      shmipc_host_abort(), ...) */
/**@}*/

/** @name Message types
 * 0-127 belong to the library, 128 to 0x7FFFFFFF to applications (carried
 * untouched both ways). Bit 31 is no part of any type: it is
 * SHMIPC_RESP_END_ALIGNED, and a responder answers a request whose type
 * has it with SHMIPC_MSG_SYSTEM_ERROR. */
/**@{*/
#define SHMIPC_MSG_NORMAL 0u       /**< an ordinary request or response */
#define SHMIPC_MSG_SHUTDOWN 1u     /**< reserved for an orderly end of a session */
#define SHMIPC_MSG_SYSTEM_ERROR 2u /**< a response that reports a failure; its
                                        bytes are the reason as text */
#define SHMIPC_MSG_GUEST_CALL 3u   /**< a guest-to-host request */
#define SHMIPC_MSG_STREAM_START 4u /**< opens a stream (Streams) */
#define SHMIPC_MSG_STREAM_CHUNK 5u /**< carries a stream's chunk (Streams) */
#define SHMIPC_MSG_LARGE_ANSWER 6u /**< announces an answer larger than a slot
                                        (Large answers) */
#define SHMIPC_MSG_ANSWER_PULL 7u  /**< fetches part of a large answer
                                        (Large answers) */
#define SHMIPC_MSG_APP_START 128u  /**< the first application type */
/**@}*/

/** @name Timeouts (nanoseconds) */
/**@{*/
#define SHMIPC_TIMEOUT_DEFAULT (-1)  /**< the handle's configured default */
#define SHMIPC_TIMEOUT_INFINITE (-2) /**< no limit (peer death still ends it) */
/**@}*/

/** Send flag: the payload occupies the last `len` bytes of the request
 *  buffer (a FlatBuffer built back to front), not the first. */
#define SHMIPC_F_END_ALIGNED (1u << 0)

/** Response type flag: a handler (shmipc_handler_fn, shmipc_answer_fn)
 *  ORs it into `*resp_type` when its `*resp_len` bytes occupy the last
 *  `*resp_len` bytes of @p resp (a FlatBuffer built back to front), not
 *  the first: `*resp_type = SHMIPC_MSG_APP_START | SHMIPC_RESP_END_ALIGNED`.
 *  The library sends the type without it and flags the response
 *  END_ALIGNED on the wire; the requester gets the bytes where they are
 *  (shmipc_slot_resp_data()) or copied to the start of its buffer
 *  (shmipc_host_call(), shmipc_guest_call()), and never sees the bit in a
 *  type. Costs a handler that does not use it nothing. A large answer
 *  (shmipc_answer_set()) ignores it: its bytes are the handler's own
 *  buffer, not the slot's. */
#define SHMIPC_RESP_END_ALIGNED (1u << 31)

/** Guest flag: accept a segment owned by another user. */
#define SHMIPC_GUEST_F_ALLOW_OTHER_USER (1u << 0)
/** Guest flag: attach to the segment that the launching host handed down
 *  (see "Launching a guest"), not to one by name: `name` must be NULL. */
#define SHMIPC_GUEST_F_INHERITED (1u << 1)
/** Guest flag (Windows only): attach to a host created with
 *  SHMIPC_HOST_F_GLOBAL, whose objects are in the `Global\` namespace (see
 *  "Windows: a service and a desktop program" under shmipc_host_create());
 *  a guest of another user than the host's also needs
 *  SHMIPC_GUEST_F_ALLOW_OTHER_USER. Elsewhere attach refuses it with
 *  SHMIPC_E_INVALID. */
#define SHMIPC_GUEST_F_GLOBAL (1u << 2)

/** Host flag (Windows only): create the session's named objects (the file
 *  mapping, the liveness mutexes, the wake-up events) in the `Global\`
 *  namespace, shared by all sessions, instead of the session's `Local\`
 *  one, with an explicit DACL (the creating user, SYSTEM and
 *  `global_peer_sid`); see shmipc_host_create(). Elsewhere, and with
 *  shmipc_host_create_anonymous(), create refuses it with
 *  SHMIPC_E_INVALID. */
#define SHMIPC_HOST_F_GLOBAL (1u << 0)

/**
 * Opaque host handle.
 *
 * Threads: shmipc_host_call(), shmipc_slot_acquire(),
 * shmipc_slot_try_acquire(), shmipc_host_wait_guest(), the capacity getters
 * and shmipc_stream_send() may run on any number of threads at once, each
 * call on its own slot. shmipc_host_listen_start() and
 * shmipc_host_listen_stop() may be called from any thread, even at the same
 * time: of concurrent starts exactly one starts the listener (the others
 * get SHMIPC_E_BUSY), of concurrent stops exactly one stops it (the others
 * get SHMIPC_E_STATE); neither may be called from the listener's handler
 * (a stop there would wait for itself). shmipc_host_serve() may run on
 * several threads at once (each guest call is answered once), but gives
 * SHMIPC_E_BUSY while the listener runs. A handler may make host calls.
 * shmipc_host_destroy() may run while other threads are in
 * shmipc_host_call(), shmipc_slot_acquire(), shmipc_slot_wait(),
 * shmipc_slot_send(), shmipc_host_wait_guest(), shmipc_host_serve() or
 * shmipc_stream_send() on this host: each returns SHMIPC_E_CLOSED. Still
 * forbidden: calling any function of the host, of a slot acquired from it
 * (even to release it) or of a stream sender on it (other than
 * shmipc_stream_sender_destroy()) once destroy has begun; destroying from
 * a handler of this host; a destroy running with listen_start/listen_stop
 * or with a handler of shmipc_host_serve() that does not return (destroy
 * waits for it at most a few liveness intervals, then frees anyway).
 * The guarantee covers a call that waits (asleep, or for a free slot): a
 * call that is still in its first spin, without a system call, when
 * destroy begins is given a 2 ms grace period to end or to go to sleep,
 * since counting every call would cost each one a shared atomic; a thread
 * descheduled longer than that inside that spin is not covered. Stop your
 * own callers first where you can.
 */
typedef struct shmipc_host shmipc_host;
/**
 * Opaque guest handle.
 *
 * Threads: shmipc_guest_call() and shmipc_stream_send() of a sender of
 * this guest may run on any number of threads at once, handlers included.
 * shmipc_guest_stop() may be called from any thread at
 * any time, as often as wanted, handlers included. shmipc_guest_wait() may
 * run on several threads at once. shmipc_guest_start() starts the workers
 * once; it must not run at the same time as itself, shmipc_guest_wait() or
 * shmipc_guest_detach().
 * shmipc_guest_detach() may run while other threads are in
 * shmipc_guest_call(), shmipc_guest_wait() or shmipc_stream_send() of a
 * sender of this guest: each returns SHMIPC_E_CLOSED.
 * It never runs from a handler (it waits for the workers), nor with
 * shmipc_guest_start(); no function of the guest may be called once it has
 * begun.
 */
typedef struct shmipc_guest shmipc_guest;
/**
 * Opaque zero-copy slot handle, owned by its host; valid from acquire to
 * release.
 *
 * Threads: a slot belongs to whoever acquired it. Its functions (buffers,
 * publish, wait, the response getters, release) must not run on two
 * threads at once for the same slot; a slot may move between threads (say,
 * published on one and waited for on another) when the program orders the
 * hand-over itself (a mutex, a queue, a join). Different slots of one host
 * are independent.
 */
typedef struct shmipc_slot shmipc_slot;

/**
 * Request handler, used by the guest's workers and by the host's guest-call
 * listener.
 *
 * @param user      the pointer given when serving started
 * @param type      request message type
 * @param req       request bytes (read-only, in shared memory)
 * @param req_len   request length
 * @param resp      response buffer (in shared memory)
 * @param resp_cap  response buffer capacity
 * @param resp_len  out: bytes written to @p resp (0 on entry)
 * @param resp_type out: response type (the request type on entry), with
 *                  SHMIPC_RESP_END_ALIGNED ORed in when the response sits
 *                  at the end of @p resp
 * @return 0 to send the response; non-zero to answer
 *         SHMIPC_MSG_SYSTEM_ERROR with the fixed reason
 *         "shmipc: handler failed" instead (whatever was written to @p resp
 *         is replaced). A @p resp_len above @p resp_cap also answers
 *         SHMIPC_MSG_SYSTEM_ERROR.
 *
 * To fail with a reason of its own, a handler writes the reason's text
 * into @p resp (no terminating NUL is needed), sets @p resp_len to its
 * length and @p resp_type to SHMIPC_MSG_SYSTEM_ERROR, and returns 0. The
 * caller then gets SHMIPC_E_REMOTE with the reason as the response:
 * shmipc_host_call() and shmipc_guest_call() copy it into their @p resp
 * like any response (not NUL-terminated; *resp_len its length, *resp_type
 * SHMIPC_MSG_SYSTEM_ERROR; a reason longer than their @p resp_cap is not
 * copied, the result stays SHMIPC_E_REMOTE and *resp_len says how long it
 * was); after shmipc_slot_send() or shmipc_slot_wait(),
 * shmipc_slot_resp_data() and shmipc_slot_resp_size() give it until the
 * release; the Go guest's Call returns an error wrapping ErrRemote that
 * quotes the reason, and copies it into resp as shmipc_guest_call() does.
 * A Go Handler does the same with
 * `return copy(resp, reason), shmipc.MsgSystemError`.
 *
 * The handler may be called from several threads at once: the guest's
 * workers (one per host slot), or the host's listener and every thread in
 * shmipc_host_serve(). It must not destroy or detach the handle it serves.
 */
typedef int (*shmipc_handler_fn)(void *user, uint32_t type, const void *req,
                                 size_t req_len, void *resp, size_t resp_cap,
                                 size_t *resp_len, uint32_t *resp_type);

/** Host configuration. Initialise with shmipc_host_config_init(), then set
 *  fields; `struct_size` lets later versions grow the struct. */
typedef struct shmipc_host_config {
  uint32_t struct_size;   /**< sizeof(shmipc_host_config) */
  const char *name;       /**< segment name: 1-64 of [A-Za-z0-9._-], no leading '.' */
  uint32_t host_slots;    /**< host-to-guest slots, 1-1024 (default 4) */
  uint32_t guest_slots;   /**< guest-to-host slots, 0-1024 (default 0) */
  uint32_t req_capacity;  /**< request bytes per slot, 1 B - 1 GiB (default 64 KiB) */
  uint32_t resp_capacity; /**< response bytes per slot, 1 B - 1 GiB (default 64 KiB) */
  uint32_t spin_budget;   /**< pause iterations before yielding (default 4096) */
  uint32_t mode;          /**< segment file mode (default 0600) */
  int64_t default_timeout_ns; /**< used for SHMIPC_TIMEOUT_DEFAULT (default
                                   10 s, also given by SHMIPC_TIMEOUT_DEFAULT
                                   here; INFINITE, 0 and positive values
                                   allowed) */
  int64_t liveness_interval_ns; /**< peer check period while asleep (default 50 ms) */
  uint64_t max_answer;    /**< largest answer (Large answers) a call accepts,
                               in bytes (default 1 GiB; 0 accepts none) */
  uint32_t flags;               /**< SHMIPC_HOST_F_* (default 0) */
  const char *global_peer_sid;  /**< with SHMIPC_HOST_F_GLOBAL: one more SID
                                     granted full access, as an SDDL SID
                                     string ("S-1-5-21-...", or an alias
                                     such as "BU", "IU"); NULL (default)
                                     for none. Refused without the flag. */
} shmipc_host_config;

/** Guest configuration; initialise with shmipc_guest_config_init(). */
typedef struct shmipc_guest_config {
  uint32_t struct_size;  /**< sizeof(shmipc_guest_config) */
  const char *name;      /**< segment name, as given to the host */
  uint32_t flags;        /**< SHMIPC_GUEST_F_* */
  uint32_t spin_budget;  /**< pause iterations before yielding (default 4096) */
  int64_t connect_timeout_ns; /**< how long attach retries (default 5 s, also
                                   given by SHMIPC_TIMEOUT_DEFAULT here;
                                   SHMIPC_TIMEOUT_INFINITE retries without
                                   limit, 0 tries once) */
  int64_t default_timeout_ns; /**< used for SHMIPC_TIMEOUT_DEFAULT (default
                                   10 s, as for the host) */
  int64_t liveness_interval_ns; /**< host check period while asleep (default 50 ms) */
} shmipc_guest_config;

/* ------------------------------------------------------------------ */
/** @name Library */
/**@{*/

/** Runtime library version.
 *  @return `(major << 16) | (minor << 8) | patch`, comparable with
 *          SHMIPC_VERSION_NUMBER. */
SHMIPC_EXPORT uint32_t shmipc_version(void);

/** Describe an error code. Any thread, any time.
 *  @param code  SHMIPC_OK or a SHMIPC_E_* code
 *  @return a static, never-NULL text ("unknown error" for a value outside
 *          the set); the Go guest's error of the same code has the same
 *          text. */
SHMIPC_EXPORT const char *shmipc_strerror(int code);

/** Describe the calling thread's last failure, as dlerror() and
 *  sqlite3_errmsg() do. Any thread, any time.
 *
 *  Every function of this header that returns a negative `SHMIPC_E_*`
 *  code sets it before it returns, on the thread that called it, to
 *  describe that failure; a function that succeeds leaves it unchanged,
 *  and so do the functions that return no code (and
 *  shmipc_reassembler_handle(), whose non-zero result is a handler's
 *  verdict, not a code). Handlers run on the library's threads: what fails
 *  there is recorded there. The text starts with shmipc_strerror() of the code and, where
 *  the library knows more, goes on after ": " with what the failure was
 *  about, as the Go guest's error of the same failure does:
 *  `invalid argument or configuration: host_slots 5000 outside 1..1024`,
 *  `no such segment: no segment /dev/shm/shmipc-x after 500ms`,
 *  `timed out: no guest attached`.
 *  The detail is for people and logs; programs test the code.
 *
 *  @return the text, in a buffer of the calling thread (never NULL; "" if
 *          nothing failed on this thread yet). It stays valid until the
 *          thread's next failing call into the library or the thread's
 *          end; copy it to keep it. Recording it never allocates. */
SHMIPC_EXPORT const char *shmipc_last_error(void);

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Host */
/**@{*/

/** Fill @p cfg with defaults (name NULL).
 *  @param cfg  the configuration to fill (NULL is ignored) */
SHMIPC_EXPORT void shmipc_host_config_init(shmipc_host_config *cfg);

/**
 * Create the segment and a host handle.
 *
 * A segment of the same name left by a host that died is replaced; one whose
 * host is alive gives SHMIPC_E_EXISTS.
 *
 * The segment's memory is reserved here (Linux: fallocate on the file in
 * /dev/shm; Windows: the mapping is committed against the pagefile), so a
 * segment that does not fit its backing store fails now with
 * SHMIPC_E_NOMEM, leaving nothing behind, instead of faulting (SIGBUS) in
 * host or guest later. On a file system without fallocate (not tmpfs) the
 * segment is created unreserved.
 *
 * Windows: a service and a desktop program. By default every object of the
 * session is named in the session's `Local\` namespace and carries a DACL
 * for the creating user alone, so a service (session 0) and a program on
 * the user's desktop cannot meet. With SHMIPC_HOST_F_GLOBAL in `flags` the
 * objects are named `Global\shmipc-NAME...` instead and carry an explicit
 * DACL, protected from inheritance: full access for the creating user (the
 * owner, from the process token), for SYSTEM and for `global_peer_sid` if
 * given, nobody else (the `mode` bits are not used then). The guest
 * attaches with SHMIPC_GUEST_F_GLOBAL (Go: Options.Global), and, when it
 * runs as another user, SHMIPC_GUEST_F_ALLOW_OTHER_USER. Creating a file
 * mapping in `Global\` needs SeCreateGlobalPrivilege, which services,
 * administrators and SYSTEM have and ordinary desktop users lack: without
 * it create fails with SHMIPC_E_ACCESS and a last-error text naming the
 * privilege and the object. So the service is the host, or is given the
 * privilege. docs/DEPLOYING.md ("Windows") has the recipe.
 *
 * @param cfg  the configuration, from shmipc_host_config_init()
 * @param out  receives the host handle (NULL on failure)
 * @return 0, or SHMIPC_E_INVALID (config out of range, or @p cfg or @p out
 *         NULL; SHMIPC_HOST_F_GLOBAL outside Windows, a `global_peer_sid`
 *         without it or that is no SID), SHMIPC_E_NAME, SHMIPC_E_EXISTS (a
 *         live host has the name), SHMIPC_E_ACCESS (also: no
 *         SeCreateGlobalPrivilege for SHMIPC_HOST_F_GLOBAL), SHMIPC_E_NOMEM (memory, or the segment does not
 *         fit its backing store: a full or too small /dev/shm, the commit
 *         limit on Windows),
 *         SHMIPC_E_NOT_FOUND (the system has no shared-memory file system),
 *         SHMIPC_E_SYSTEM.
 */
SHMIPC_EXPORT int shmipc_host_create(const shmipc_host_config *cfg,
                                     shmipc_host **out);

/** Close the session: stops the listener, marks the segment closed (the
 *  guest's workers end and shmipc_guest_wait() gives 0; its calls give
 *  SHMIPC_E_PEER_GONE, "host closed the session"; a Go guest's Serve
 *  returns nil), unmaps and removes it, frees @p h. Calls, acquires, waits,
 *  serves and stream sends in progress on other threads return
 *  SHMIPC_E_CLOSED; destroy wakes them and frees nothing until they are
 *  out (at most a few liveness intervals). A slot still held is freed with
 *  the host: it must not be used (nor released) afterwards.
 *  @param h  the host, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_host_destroy(shmipc_host *h);

/** Wait until a live guest is attached (a guest that died while attached
 *  does not count: the wait goes on for the next one). On a host from
 *  shmipc_host_create_anonymous(), which only a launched child can reach,
 *  the wait also ends once the guest launched last (shmipc_host_launch())
 *  has ended without a live guest attached: within about a liveness
 *  interval of its end, with SHMIPC_E_PEER_GONE and its process id in the
 *  last error, not at the timeout (a program that fails before it
 *  attaches, or a child killed, is no guest to wait for).
 *  shmipc_child_wait() then tells how it ended; a new launch gives a new
 *  child to wait for. Where the child's end cannot be seen (Linux before
 *  5.3: no pidfd) the wait runs to its timeout as for a named host.
 *  @param h           the host
 *  @param timeout_ns  how long to wait (see the Conventions)
 *  @return 0, SHMIPC_E_TIMEOUT, SHMIPC_E_PEER_GONE (see above),
 *          SHMIPC_E_INVALID, SHMIPC_E_CLOSED (the host is being
 *          destroyed), SHMIPC_E_ABORTED (shmipc_host_abort()). */
SHMIPC_EXPORT int shmipc_host_wait_guest(shmipc_host *h, int64_t timeout_ns);

/** Request capacity per slot.
 *  @param h  the host
 *  @return the capacity in bytes, 0 if @p h is NULL */
SHMIPC_EXPORT size_t shmipc_host_req_capacity(const shmipc_host *h);
/** Response capacity per slot.
 *  @param h  the host
 *  @return the capacity in bytes, 0 if @p h is NULL */
SHMIPC_EXPORT size_t shmipc_host_resp_capacity(const shmipc_host *h);

/**
 * Copying call: send @p req_len bytes of type @p type and wait for the
 * response.
 *
 * @param h          the host
 * @param type       request message type
 * @param req        request bytes (may be NULL if @p req_len is 0)
 * @param req_len    request length, at most the request capacity
 * @param resp       buffer for the response (may be NULL if @p resp_cap is 0)
 * @param resp_cap   size of @p resp
 * @param resp_len   out (optional): response length; on SHMIPC_E_TRUNCATED,
 *                   the length that did not fit
 * @param resp_type  out (optional): response type
 * @param timeout_ns bounds the whole call, the wait for a free slot included
 * @return 0; SHMIPC_E_TOO_BIG (request above capacity); SHMIPC_E_TRUNCATED
 *         (response above @p resp_cap, nothing copied); SHMIPC_E_REMOTE (the
 *         guest answered SYSTEM_ERROR; its reason is copied like a response);
 *         SHMIPC_E_TIMEOUT (with no guest attached, the last error says
 *         "no guest attached"); SHMIPC_E_PEER_GONE; SHMIPC_E_CORRUPT;
 *         SHMIPC_E_INVALID; SHMIPC_E_CLOSED (the host is being destroyed);
 *         SHMIPC_E_ABORTED (shmipc_host_abort()).
 */
SHMIPC_EXPORT int shmipc_host_call(shmipc_host *h, uint32_t type,
                                   const void *req, size_t req_len, void *resp,
                                   size_t resp_cap, size_t *resp_len,
                                   uint32_t *resp_type, int64_t timeout_ns);

/** Acquire a free host slot for zero-copy use, waiting up to @p timeout_ns.
 *  Holding one slot while acquiring another works while slots remain; when
 *  none frees up in time the result is SHMIPC_E_TIMEOUT.
 *  @param h           the host
 *  @param timeout_ns  how long to wait for a free slot
 *  @param out         receives the slot (NULL on failure)
 *  @return 0, SHMIPC_E_TIMEOUT, SHMIPC_E_INVALID, SHMIPC_E_CLOSED (the host
 *          is being destroyed), SHMIPC_E_ABORTED (shmipc_host_abort()). */
SHMIPC_EXPORT int shmipc_slot_acquire(shmipc_host *h, int64_t timeout_ns,
                                      shmipc_slot **out);

/** Acquire a slot only if one is free now.
 *  @param h    the host
 *  @param out  receives the slot (NULL on failure)
 *  @return 0, SHMIPC_E_BUSY (none free now), SHMIPC_E_INVALID,
 *          SHMIPC_E_CLOSED (the host is being destroyed). */
SHMIPC_EXPORT int shmipc_slot_try_acquire(shmipc_host *h, shmipc_slot **out);

/** The request buffer, in shared memory; write the request here.
 *  @param s  the slot
 *  @return the buffer (shmipc_slot_req_capacity() bytes), NULL if @p s is
 *          NULL */
SHMIPC_EXPORT void *shmipc_slot_req_buf(shmipc_slot *s);
/** Capacity of the request buffer.
 *  @param s  the slot
 *  @return the capacity in bytes, 0 if @p s is NULL */
SHMIPC_EXPORT size_t shmipc_slot_req_capacity(const shmipc_slot *s);

/**
 * Publish the request written in the slot's buffer and wait for the
 * response. Equivalent to shmipc_slot_publish() then shmipc_slot_wait().
 *
 * @param s          the slot
 * @param type       request message type
 * @param len        request length in bytes
 * @param flags      0, or SHMIPC_F_END_ALIGNED when the @p len bytes sit at
 *                   the end of the buffer
 * @param timeout_ns how long to wait for the response
 * @return as shmipc_slot_publish() when the publish fails, else as
 *         shmipc_slot_wait().
 */
SHMIPC_EXPORT int shmipc_slot_send(shmipc_slot *s, uint32_t type, size_t len,
                                   uint32_t flags, int64_t timeout_ns);

/** Publish the request without waiting (for keeping several slots in
 *  flight).
 *  @param s      the slot
 *  @param type   request message type
 *  @param len    request length in bytes
 *  @param flags  0, or SHMIPC_F_END_ALIGNED
 *  @return 0, SHMIPC_E_TOO_BIG (@p len above the capacity),
 *          SHMIPC_E_INVALID (unknown @p flags), SHMIPC_E_STATE (already
 *          published since the acquire), SHMIPC_E_CORRUPT (the peer wrote
 *          the slot while we held it: release it, it stays quarantined). */
SHMIPC_EXPORT int shmipc_slot_publish(shmipc_slot *s, uint32_t type,
                                      size_t len, uint32_t flags);

/** Wait for the response to a published request.
 *  @param s           the slot
 *  @param timeout_ns  how long to wait
 *  @return 0 (response readable until release), SHMIPC_E_REMOTE (the
 *  guest's reason is the response), SHMIPC_E_TIMEOUT (the slot stays
 *  quarantined after release until the late response arrives),
 *  SHMIPC_E_PEER_GONE, SHMIPC_E_CORRUPT, SHMIPC_E_STATE (nothing published),
 *  SHMIPC_E_INVALID, SHMIPC_E_CLOSED (the host is being destroyed),
 *  SHMIPC_E_ABORTED (shmipc_slot_abort() or shmipc_host_abort(): the slot
 *  is left as after a timeout). */
SHMIPC_EXPORT int shmipc_slot_wait(shmipc_slot *s, int64_t timeout_ns);

/** The response, in shared memory.
 *  @param s  the slot
 *  @return the response bytes (valid until release), or NULL if there is no
 *          response */
SHMIPC_EXPORT const void *shmipc_slot_resp_data(const shmipc_slot *s);
/** The response's length.
 *  @param s  the slot
 *  @return the length in bytes (0 if there is no response) */
SHMIPC_EXPORT size_t shmipc_slot_resp_size(const shmipc_slot *s);
/** The response's message type.
 *  @param s  the slot
 *  @return the type (0 if there is no response) */
SHMIPC_EXPORT uint32_t shmipc_slot_resp_type(const shmipc_slot *s);

/** Give the slot back. A slot whose call timed out is quarantined until its
 *  late response arrives.
 *  @param s  the slot, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_slot_release(shmipc_slot *s);

/** Start a listener thread that serves guest calls with @p fn. Safe to call
 *  from several threads at once: one of them starts the listener.
 *  @param h     the host
 *  @param fn    the handler, called on the listener thread
 *  @param user  passed to @p fn
 *  @return 0, SHMIPC_E_BUSY (a listener runs, or another thread is starting
 *  or stopping one), SHMIPC_E_INVALID (no guest slots or no @p fn),
 *  SHMIPC_E_SYSTEM (the thread could not start). */
SHMIPC_EXPORT int shmipc_host_listen_start(shmipc_host *h,
                                           shmipc_handler_fn fn, void *user);

/** Stop the listener thread and wait for it. Safe to call from several
 *  threads at once: one of them stops the listener; never from the
 *  listener's handler.
 *  @param h  the host
 *  @return 0, SHMIPC_E_STATE (no listener runs, or another thread is
 *          starting or stopping it), SHMIPC_E_INVALID. */
SHMIPC_EXPORT int shmipc_host_listen_stop(shmipc_host *h);

/** Serve guest calls from the caller's own loop: serve every pending call,
 *  waiting up to @p timeout_ns for the first one. Refused while the
 *  listener thread runs.
 *  @param h           the host
 *  @param fn          the handler, called on this thread
 *  @param user        passed to @p fn
 *  @param timeout_ns  how long to wait for the first call
 *  @return number of calls served (> 0), or SHMIPC_E_TIMEOUT when none came,
 *  SHMIPC_E_BUSY (the listener runs), SHMIPC_E_INVALID (no guest slots, no
 *  @p fn), SHMIPC_E_CLOSED (the host is being destroyed), SHMIPC_E_ABORTED
 *  (shmipc_host_abort(), when no call is pending). */
SHMIPC_EXPORT int shmipc_host_serve(shmipc_host *h, shmipc_handler_fn fn,
                                    void *user, int64_t timeout_ns);

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Guest */
/**@{*/

/** Fill @p cfg with defaults (name NULL).
 *  @param cfg  the configuration to fill (NULL is ignored) */
SHMIPC_EXPORT void shmipc_guest_config_init(shmipc_guest_config *cfg);

/**
 * Attach to the segment named in @p cfg, retrying until its connect
 * timeout while the segment does not exist yet or is still being set up.
 *
 * A segment whose host died is waited on too, for a new host to replace
 * it; if none does before the timeout the result is SHMIPC_E_PEER_GONE.
 *
 * With SHMIPC_GUEST_F_INHERITED in `flags` (and `name` NULL) it attaches
 * instead to the segment that a launching host handed down (see
 * "Launching a guest"), in one attempt: SHMIPC_E_NOT_FOUND when the
 * program was not launched (no SHMIPC_FD, or one that names no open
 * memfd), SHMIPC_E_ACCESS for a memfd without the seals,
 * SHMIPC_E_PEER_GONE when its host is not running any more.
 *
 * @param cfg  the configuration, from shmipc_guest_config_init()
 * @param out  receives the guest handle (NULL on failure)
 * @return 0, SHMIPC_E_INVALID (config out of range, or @p cfg or @p out
 *         NULL), SHMIPC_E_NAME, SHMIPC_E_NOT_FOUND (no segment of that
 *         name when the connect timeout ran out, or at once with 0),
 *         SHMIPC_E_TIMEOUT (a segment that did not get ready in time),
 *         SHMIPC_E_ACCESS, SHMIPC_E_VERSION, SHMIPC_E_CORRUPT, SHMIPC_E_BUSY
 *         (another guest is attached), SHMIPC_E_PEER_GONE (host closed),
 *         SHMIPC_E_NOMEM, SHMIPC_E_SYSTEM.
 */
SHMIPC_EXPORT int shmipc_guest_attach(const shmipc_guest_config *cfg,
                                      shmipc_guest **out);

/** Stop serving (waiting for the workers' handlers to return), mark the
 *  guest detached, unmap, free @p g. Guest calls and shmipc_guest_wait()
 *  in progress on other threads return SHMIPC_E_CLOSED; nothing is freed
 *  until they are out (at most a few liveness intervals).
 *  @param g  the guest, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_guest_detach(shmipc_guest *g);

/** Start one worker thread per host slot, each answering requests with
 *  @p fn.
 *  @param g     the guest
 *  @param fn    the handler, called on the workers
 *  @param user  passed to @p fn
 *  @return 0, SHMIPC_E_STATE (already started, also by a start that gave
 *          SHMIPC_E_SYSTEM),
 *          SHMIPC_E_INVALID (no @p fn), SHMIPC_E_NOMEM, SHMIPC_E_SYSTEM (a
 *          thread could not start: the workers that did are stopped). */
SHMIPC_EXPORT int shmipc_guest_start(shmipc_guest *g, shmipc_handler_fn fn,
                                     void *user);

/** Wait until the workers end: the host closed the session in order
 *  (shmipc_host_destroy(): 0), the host died or was replaced
 *  (SHMIPC_E_PEER_GONE; shmipc_last_error() says which),
 *  shmipc_guest_stop() was called (0), or the segment turned corrupt
 *  (SHMIPC_E_CORRUPT).
 *  @param g           the guest
 *  @param timeout_ns  how long to wait
 *  @return that reason, or SHMIPC_E_TIMEOUT if they still run,
 *          SHMIPC_E_CLOSED if shmipc_guest_detach() began meanwhile,
 *          SHMIPC_E_ABORTED (shmipc_guest_abort()),
 *          SHMIPC_E_STATE if never started, SHMIPC_E_INVALID. */
SHMIPC_EXPORT int shmipc_guest_wait(shmipc_guest *g, int64_t timeout_ns);

/** Ask the workers to stop (returns at once; shmipc_guest_wait() joins).
 *  Guest calls made from now on give SHMIPC_E_CLOSED.
 *  @param g  the guest, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_guest_stop(shmipc_guest *g);

/** Guest-to-host call on a guest slot; same contract as shmipc_host_call().
 *  Once the host has gone (closed, replaced or died) every call gives
 *  SHMIPC_E_PEER_GONE, whether or not the workers saw it first; a corrupt
 *  host slot stops the workers, not guest calls.
 *  @param g          the guest
 *  @param type       request message type
 *  @param req        request bytes (may be NULL if @p req_len is 0)
 *  @param req_len    request length, at most the request capacity
 *  @param resp       buffer for the response (may be NULL if @p resp_cap is 0)
 *  @param resp_cap   size of @p resp
 *  @param resp_len   out (optional): response length, as shmipc_host_call()
 *  @param resp_type  out (optional): response type
 *  @param timeout_ns bounds the whole call, the wait for a free slot included
 *  @return 0; SHMIPC_E_TOO_BIG; SHMIPC_E_TRUNCATED; SHMIPC_E_REMOTE;
 *          SHMIPC_E_TIMEOUT (the last error asks whether the host serves
 *          guest calls: one that runs no listener and no serve loop
 *          answers nothing); SHMIPC_E_PEER_GONE; SHMIPC_E_CORRUPT;
 *          SHMIPC_E_INVALID (also when the segment has no guest slots, which
 *          the last error says);
 *          SHMIPC_E_CLOSED (shmipc_guest_stop() was called, or the guest is
 *          being detached); SHMIPC_E_ABORTED (shmipc_guest_abort()). */
SHMIPC_EXPORT int shmipc_guest_call(shmipc_guest *g, uint32_t type,
                                    const void *req, size_t req_len,
                                    void *resp, size_t resp_cap,
                                    size_t *resp_len, uint32_t *resp_type,
                                    int64_t timeout_ns);

/** Request capacity per slot of the attached segment.
 *  @param g  the guest
 *  @return the capacity in bytes, 0 if @p g is NULL */
SHMIPC_EXPORT size_t shmipc_guest_req_capacity(const shmipc_guest *g);
/** Response capacity per slot of the attached segment.
 *  @param g  the guest
 *  @return the capacity in bytes, 0 if @p g is NULL */
SHMIPC_EXPORT size_t shmipc_guest_resp_capacity(const shmipc_guest *g);

/**@}*/

/* ------------------------------------------------------------------ */
/** @name Stream reasons
 * Why a receiver refused a stream message (shmipc_stream_result.reason,
 * shmipc_stream_reason_name()). */
/**@{*/
#define SHMIPC_STREAM_OK 0u        /**< accepted */
#define SHMIPC_STREAM_MALFORMED 1u /**< not a well-formed stream message */
#define SHMIPC_STREAM_UNKNOWN 2u   /**< no open stream with this id */
#define SHMIPC_STREAM_DUPLICATE 3u /**< the id is already open */
#define SHMIPC_STREAM_TOO_BIG 4u   /**< above the size or memory limit */
#define SHMIPC_STREAM_TOO_MANY 5u  /**< too many open streams */
#define SHMIPC_STREAM_BOUNDS 6u    /**< chunk outside the advertised total */
#define SHMIPC_STREAM_OVERLAP 7u   /**< chunk repeats bytes already received */
#define SHMIPC_STREAM_EMPTY 8u     /**< chunk without data */
#define SHMIPC_STREAM_PARKED 9u    /**< too many out-of-order chunks */
#define SHMIPC_STREAM_MISMATCH 10u /**< total or type differ from the start */
#define SHMIPC_STREAM_ABORTED 11u  /**< the sender aborted the stream */
#define SHMIPC_STREAM_NOMEM 12u    /**< the receiver ran out of memory */
#define SHMIPC_STREAM_REFUSED 13u  /**< the delivery callback refused it */
/**@}*/

/** @name Streams
 *
 * A stream carries a payload of any size up to the receiver's limits from
 * the host to the guest, split into chunks that travel on several slots at
 * once and are reassembled by the guest into one buffer, delivered once.
 * The wire format, the receiver's limits and every rejection are in
 * docs/PROTOCOL.md, "Streams". */
/**@{*/

/** Name a stream reason.
 *  @param reason  a SHMIPC_STREAM_* reason
 *  @return a static, never-NULL name ("overlap", ...), "unknown reason" for
 *          a value outside the set */
SHMIPC_EXPORT const char *shmipc_stream_reason_name(uint32_t reason);

/** Stream sender configuration; initialise with shmipc_stream_config_init(). */
typedef struct shmipc_stream_config {
  uint32_t struct_size; /**< sizeof(shmipc_stream_config) */
  uint32_t depth;       /**< chunks in flight, 1-64 (default 4); a depth
                             above the host's slot count counts as that */
  uint32_t chunk_size;  /**< data bytes per chunk, at most the request
                             capacity minus 32 (default and 0: that maximum) */
} shmipc_stream_config;

/** Outcome of shmipc_stream_send(), filled on success and on failure. */
typedef struct shmipc_stream_result {
  uint32_t struct_size;  /**< sizeof(shmipc_stream_result), set by the caller */
  uint32_t reason;       /**< SHMIPC_STREAM_* of the first refusal, else 0 */
  uint64_t stream_id;    /**< the stream's identifier (0 if none assigned) */
  uint64_t chunks;       /**< number of chunks of the stream */
  uint64_t accepted;     /**< chunks the receiver accepted */
  uint64_t failed_chunk; /**< index of the chunk that failed; UINT64_MAX
                              when no chunk did: the start message was
                              refused (see reason) or failed, the send
                              failed before its first chunk, or it
                              succeeded */
  uint64_t failed_offset; /**< byte offset of that chunk (0 when
                               failed_chunk is UINT64_MAX) */
} shmipc_stream_result;

/** An initialiser for a shmipc_stream_result that sets struct_size and
 *  zeroes the rest, valid in C and C++ alike:
 *  `shmipc_stream_result res = SHMIPC_STREAM_RESULT_INIT;` */
#define SHMIPC_STREAM_RESULT_INIT                                           \
  { sizeof(shmipc_stream_result), 0, 0, 0, 0, 0, 0 }

/**
 * Opaque stream sender, bound to one host.
 *
 * Threads: shmipc_stream_send() may run on any number of threads at once
 * with one sender; each send uses its own slots and its own stream id.
 * shmipc_stream_sender_destroy() may run while sends run on other threads
 * (they return SHMIPC_E_CLOSED), and so may shmipc_host_destroy() of its
 * host. No send may start once the sender's destroy has begun.
 */
typedef struct shmipc_stream_sender shmipc_stream_sender;

/** Fill @p cfg with defaults.
 *  @param cfg  the configuration to fill (NULL is ignored) */
SHMIPC_EXPORT void shmipc_stream_config_init(shmipc_stream_config *cfg);

/** Create a sender for @p h (the host must outlive every send; the sender
 *  itself may be destroyed after its host). A sender may be used
 *  by several threads at once; each send uses its own slots.
 *  @param h    the host
 *  @param cfg  the configuration, or NULL for the defaults
 *  @param out  receives the sender (NULL on failure)
 *  @return 0, SHMIPC_E_INVALID (bad config, or slots too small: the request
 *  capacity must exceed 32 bytes and the response capacity hold 16),
 *  SHMIPC_E_NOMEM. */
SHMIPC_EXPORT int shmipc_stream_sender_create(shmipc_host *h,
                                              const shmipc_stream_config *cfg,
                                              shmipc_stream_sender **out);

/** Free a sender. Sends in progress on other threads return
 *  SHMIPC_E_CLOSED; nothing is freed until they are out (at most 2 s).
 *  @param s  the sender, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_stream_sender_destroy(shmipc_stream_sender *s);

/**
 * Send @p len bytes of @p data as one stream of application type
 * @p app_type, keeping up to the configured depth of chunks in flight.
 * Returns once every chunk was accepted and the receiver delivered the
 * stream, or on the first failure; @p timeout_ns bounds the whole send.
 *
 * @param s          the sender
 * @param app_type   the stream's application type, handed to the receiver
 * @param data       the payload (may be NULL if @p len is 0)
 * @param len        the payload's length in bytes
 * @param timeout_ns bounds the whole send
 * @param res        optional (its struct_size set); which chunk failed and
 *                   why
 * @return 0; SHMIPC_E_REFUSED (the receiver refused a message: see
 *         res->reason, res->failed_chunk); SHMIPC_E_TIMEOUT,
 *         SHMIPC_E_PEER_GONE, SHMIPC_E_CLOSED (after a timeout or a closing
 *         handle the sender tries to abort the stream on the receiver,
 *         which can add up to 200 ms); SHMIPC_E_REMOTE (the guest has no
 *         stream receiver: it answered the start with SYSTEM_ERROR, or as
 *         any other request, as an echo handler does; the last error says
 *         "the guest has no stream receiver");
 *         SHMIPC_E_CORRUPT (an answer of a receiver that is not a legal
 *         stream answer);
 *         SHMIPC_E_INVALID (also a @p res whose struct_size is too small).
 */
SHMIPC_EXPORT int shmipc_stream_send(shmipc_stream_sender *s,
                                     uint32_t app_type, const void *data,
                                     size_t len, int64_t timeout_ns,
                                     shmipc_stream_result *res);

/**
 * Receiver limits; initialise with shmipc_stream_limits_init().
 *
 * max_total bounds resident memory too: on Linux, what a receiver holds for
 * streams (open, dropped, kept for reuse) stays within
 * 1.1 x max_total + 64 KiB x (max_streams + 16), whatever a peer opens and
 * abandons. A freed stream buffer gives its pages back to the system at
 * once, rather than staying resident in the allocator's free lists. A
 * buffer kept with SHMIPC_STREAM_KEEP is the callee's and counts no more.
 * The Go guest's receiver keeps the same bound (go/stream.go,
 * StreamLimits).
 */
typedef struct shmipc_stream_limits {
  uint32_t struct_size;   /**< sizeof(shmipc_stream_limits) */
  uint32_t max_streams;   /**< open streams at once, 1-65536 (default 16) */
  uint32_t max_parked;    /**< out-of-order ranges per stream, 0-65536
                               (default 64) */
  uint32_t reserved0;     /**< 0 */
  uint64_t max_stream;    /**< largest stream in bytes (default 1 GiB) */
  uint64_t max_total;     /**< bytes of all open streams (default 1 GiB) */
  int64_t idle_timeout_ns; /**< drop an open stream idle this long, > 0
                               (default 10 s) */
} shmipc_stream_limits;

/** Receiver counters. */
typedef struct shmipc_stream_stats {
  uint32_t struct_size;   /**< sizeof(shmipc_stream_stats), set by the caller */
  uint32_t open;          /**< open streams */
  uint64_t held;          /**< bytes held for open streams */
  uint64_t peak_held;     /**< the most ever held at once (held + cached) */
  uint64_t delivered;     /**< streams delivered */
  uint64_t dropped;       /**< streams dropped (any reason) */
  uint64_t cached;        /**< bytes of a finished stream's buffer kept for a
                               next stream of the same size (4 MiB and up;
                               freed after the idle timeout); held + cached
                               never exceeds max_total */
} shmipc_stream_stats;

/** An initialiser for a shmipc_stream_stats that sets struct_size and
 *  zeroes the rest, valid in C and C++ alike:
 *  `shmipc_stream_stats st = SHMIPC_STREAM_STATS_INIT;` */
#define SHMIPC_STREAM_STATS_INIT                                            \
  { sizeof(shmipc_stream_stats), 0, 0, 0, 0, 0, 0 }

/** Return value of a stream callback that keeps the buffer: the callee then
 *  owns it and frees it with shmipc_stream_buffer_free(). A plain (signed)
 *  1, unlike the unsigned constants above, because the callback returns an
 *  int whose negative values refuse the stream. */
#define SHMIPC_STREAM_KEEP 1

/**
 * Delivery callback: a complete stream.
 * @param user      the @p fn_user given to shmipc_reassembler_create()
 * @param id        the stream's identifier (unique per host session)
 * @param app_type  the application type the sender gave
 * @param data      the stream's bytes (NULL when @p len is 0)
 * @param len       the stream's length in bytes
 * @return 0 (the library frees @p data after the return), SHMIPC_STREAM_KEEP
 *         (the callee keeps @p data), or a negative value to refuse the
 *         stream: the sender gets SHMIPC_E_REFUSED with
 *         SHMIPC_STREAM_REFUSED and the library frees @p data.
 * Called on the worker thread that received the last chunk (or the start,
 * for an empty stream), before that message is answered; may run on
 * several threads at once for different streams. It may call
 * shmipc_reassembler_stats(), not shmipc_reassembler_destroy().
 */
typedef int (*shmipc_stream_fn)(void *user, uint64_t id, uint32_t app_type,
                                void *data, size_t len);

/**
 * Opaque stream receiver.
 *
 * Threads: shmipc_reassembler_handle() may run on any number of threads at
 * once (a guest's workers, one per slot); one lock guards the bookkeeping,
 * and chunks of one stream are copied in parallel without it.
 * shmipc_reassembler_stats() may run on any thread at any time.
 * shmipc_reassembler_destroy() may run only when nothing serves through the
 * receiver any more (the guest's workers have ended) and no stats call
 * runs.
 */
typedef struct shmipc_reassembler shmipc_reassembler;

/** Fill @p lim with the defaults.
 *  @param lim  the limits to fill (NULL is ignored) */
SHMIPC_EXPORT void shmipc_stream_limits_init(shmipc_stream_limits *lim);

/**
 * Create a receiver. Serve with shmipc_reassembler_handle as the handler
 * and the reassembler as its user pointer: stream messages are consumed,
 * every other message goes to @p next with @p next_user.
 * @param lim        the limits, from shmipc_stream_limits_init()
 * @param fn         called with each complete stream
 * @param fn_user    passed to @p fn
 * @param next       the handler for every message that is not a stream's
 * @param next_user  passed to @p next
 * @param out        receives the receiver (NULL on failure)
 * @return 0, SHMIPC_E_INVALID (limits out of range, no @p lim, @p fn,
 *         @p next or @p out), SHMIPC_E_NOMEM, SHMIPC_E_SYSTEM.
 */
SHMIPC_EXPORT int shmipc_reassembler_create(const shmipc_stream_limits *lim,
                                            shmipc_stream_fn fn, void *fn_user,
                                            shmipc_handler_fn next,
                                            void *next_user,
                                            shmipc_reassembler **out);

/** Free a receiver and every open stream. Nothing may be serving through
 *  it any more.
 *  @param r  the receiver, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_reassembler_destroy(shmipc_reassembler *r);

/** The handler (a shmipc_handler_fn) that serves through a receiver.
 *  @param user       the shmipc_reassembler
 *  @param type       request message type
 *  @param req        request bytes
 *  @param req_len    request length
 *  @param resp       response buffer
 *  @param resp_cap   response buffer capacity
 *  @param resp_len   out: bytes written to @p resp
 *  @param resp_type  out: response type
 *  @return for a stream message, 0 (the answer says accepted or refused), or
 *          non-zero when @p resp_cap cannot hold an answer (16 bytes); for
 *          any other message, what the next handler returns. */
SHMIPC_EXPORT int shmipc_reassembler_handle(void *user, uint32_t type,
                                            const void *req, size_t req_len,
                                            void *resp, size_t resp_cap,
                                            size_t *resp_len,
                                            uint32_t *resp_type);

/** Read the receiver's counters into @p out.
 *  @param r    the receiver (NULL: nothing is read)
 *  @param out  filled in; its struct_size must be set (a smaller one, or a
 *              NULL @p out, leaves it untouched) */
SHMIPC_EXPORT void shmipc_reassembler_stats(shmipc_reassembler *r,
                                            shmipc_stream_stats *out);

/** Free a buffer kept by a stream callback (SHMIPC_STREAM_KEEP).
 *  @param data  the buffer, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_stream_buffer_free(void *data);

/**@}*/
/* ------------------------------------------------------------------ */
/** @name Launching a guest
 *
 * A host can start its guest program itself and hand it the segment
 * instead of a name: nothing appears in /dev/shm (nothing to leak, delete
 * or squat), the child dies with the host process, and the host learns
 * the child's exit. docs/PROTOCOL.md ("Launched guests") gives what the
 * child inherits.
 *
 * - shmipc_host_create_anonymous() makes a host whose segment has no name
 *   (Linux: a memfd, sealed against shrinking and growing).
 * - shmipc_host_launch() starts a program with the segment inherited and
 *   named in its environment (`SHMIPC_FD=3` on Linux). Descriptors 0, 1
 *   and 2 are inherited as they are; every other descriptor of the host
 *   is closed in the child. On Linux the child gets SIGKILL when the host
 *   thread that launched it ends (PR_SET_PDEATHSIG belongs to the thread,
 *   as Go's os/exec Pdeathsig does: launch from a thread that lives as
 *   long as the host, such as the main thread); the host's death,
 *   however it comes, is that thread's end.
 * - The guest attaches with SHMIPC_GUEST_F_INHERITED (C) or
 *   `shmipc.ConnectInherited` (Go); a program started otherwise gets
 *   SHMIPC_E_NOT_FOUND ("SHMIPC_FD is not set").
 * - shmipc_child_wait() gives the child's exit status or the signal that
 *   ended it; the host may then launch the program again. While a child
 *   lives, its death also ends every host call with SHMIPC_E_PEER_GONE
 *   within about a liveness interval, as for a named segment, and the end
 *   of the child launched last ends shmipc_host_wait_guest() the same way
 *   when no guest is attached (a program that exits before it attaches
 *   is reported at once, not at the wait's timeout).
 *
 * Windows: the segment is an unnamed file mapping; it and the two role
 * mutexes are inherited handles named in SHMIPC_FD, and the child gets no
 * other handle of the host but its standard ones. The child runs in a job
 * object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, whose only handle the
 * host holds: it dies with the host process, from whatever thread it was
 * launched. shmipc_child_wait() gives its exit code (`signal` is always
 * 0; a child ended by shmipc_child_kill() exits with code 137).
 * docs/PROTOCOL.md, "Windows", has the details.
 */
/**@{*/

/** The environment variable that names the inherited segment in a
 *  launched guest ("SHMIPC_FD=3" on Linux: the descriptor number; on
 *  Windows "MAPPING:HOSTMUTEX:GUESTMUTEX:LABEL", handle values). */
#define SHMIPC_ENV_FD "SHMIPC_FD"

/**
 * Create a host whose segment has no name (Linux: a memfd sealed with
 * F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL; Windows: an unnamed mapping;
 * its memory reserved as for shmipc_host_create()). A guest reaches it only through
 * shmipc_host_launch(). Everything else about the host is as for a named
 * one.
 *
 * @param cfg  the configuration, from shmipc_host_config_init(); `name` may
 *             be NULL, or a valid name that only labels the segment for
 *             people (/proc/PID/fd shows "memfd:shmipc-NAME"); `mode`
 *             applies to the memfd
 * @param out  receives the host handle (NULL on failure)
 * @return 0, or SHMIPC_E_INVALID, SHMIPC_E_NAME, SHMIPC_E_NOMEM (memory,
 *         or the segment is larger than the memory available, swap
 *         included, or than the room under the memory cgroup's limit;
 *         Windows: the commit limit), SHMIPC_E_SYSTEM (no
 *         memfd on this system).
 */
SHMIPC_EXPORT int shmipc_host_create_anonymous(const shmipc_host_config *cfg,
                                               shmipc_host **out);

/** What shmipc_host_launch() starts. Initialise with
 *  shmipc_launch_config_init(), then set fields. */
typedef struct shmipc_launch_config {
  uint32_t struct_size;     /**< sizeof(shmipc_launch_config) */
  const char *path;         /**< the program's file (required; not searched in PATH) */
  const char *const *argv;  /**< NULL-terminated arguments (NULL: just `path`) */
  const char *const *envp;  /**< NULL-terminated environment (NULL: the host's);
                                 SHMIPC_FD is added, replacing any given */
  const char *cwd;          /**< working directory (NULL: the host's) */
} shmipc_launch_config;

/** A launched guest process; owned by whoever launched it. */
typedef struct shmipc_child shmipc_child;

/** How a child ended. */
typedef struct shmipc_child_exit {
  uint32_t struct_size; /**< sizeof(shmipc_child_exit), set by the caller */
  uint32_t signal;      /**< the signal that ended it (Linux), 0 if it exited */
  int64_t code;         /**< its exit status when @c signal is 0 (Linux
                             0-255; Windows the process's exit code) */
} shmipc_child_exit;

/** Fill @p cfg with defaults (everything NULL).
 *  @param cfg  the configuration to fill (NULL is ignored) */
SHMIPC_EXPORT void shmipc_launch_config_init(shmipc_launch_config *cfg);

/**
 * Start a guest program with the segment of @p h, a host from
 * shmipc_host_create_anonymous(). Returns once the program runs (it was
 * executed) or failed to start; the guest attaches on its own, which
 * shmipc_host_wait_guest() waits for. Only one guest attaches at a time:
 * a second child launched while one is attached gets SHMIPC_E_BUSY at its
 * attach. Safe to call with other threads of the host running (between
 * fork and exec the child makes only async-signal-safe calls); the
 * calling thread must outlive the child (see above).
 *
 * @param h    the host
 * @param cfg  the program, from shmipc_launch_config_init()
 * @param out  receives the child (NULL on failure)
 * @return 0, or SHMIPC_E_INVALID (a NULL or bad argument), SHMIPC_E_STATE
 *         (@p h has a named segment), SHMIPC_E_NOT_FOUND (no such program
 *         or directory), SHMIPC_E_ACCESS (not executable, or not
 *         allowed), SHMIPC_E_NOMEM, SHMIPC_E_SYSTEM; the last error names
 *         the program.
 */
SHMIPC_EXPORT int shmipc_host_launch(shmipc_host *h,
                                     const shmipc_launch_config *cfg,
                                     shmipc_child **out);

/** The child's process id (for logs; the child handle, not the id, is what
 *  identifies the process: ids are reused).
 *  @param c  the child
 *  @return its process id, 0 if @p c is NULL */
SHMIPC_EXPORT int64_t shmipc_child_pid(const shmipc_child *c);

/** A descriptor that becomes readable when the child ends (Linux: a pidfd;
 *  Windows: the process handle, signalled), for the application's own
 *  event loop (poll, WaitForMultipleObjects); owned by @p c.
 *  @param c  the child
 *  @return the descriptor or handle, -1 when there is none (NULL, or a
 *          kernel before Linux 5.3) */
SHMIPC_EXPORT intptr_t shmipc_child_handle(const shmipc_child *c);

/**
 * Wait for the child to end, then tell how. The first wait that sees the
 * end reaps the process; later ones give the same answer. Not polled: the
 * thread sleeps in the kernel until the end or the timeout. One thread at
 * a time may wait on a child. A SIGCHLD handler of the application that
 * reaps every child (waitpid(-1, ...)) takes the status first: then this
 * gives SHMIPC_E_SYSTEM.
 *
 * @param c           the child
 * @param timeout_ns  as everywhere ("Conventions"); SHMIPC_TIMEOUT_DEFAULT
 *                    is the launching host's default timeout
 * @param out         filled in (its struct_size set first); may be NULL
 * @return 0 once the child ended, SHMIPC_E_TIMEOUT while it still runs,
 *         SHMIPC_E_INVALID, SHMIPC_E_SYSTEM.
 */
SHMIPC_EXPORT int shmipc_child_wait(shmipc_child *c, int64_t timeout_ns,
                                    shmipc_child_exit *out);

/** Kill the child at once (SIGKILL; Windows TerminateProcess with exit
 *  code 137). Nothing
 *  happens once it ended. shmipc_child_wait() then reports it.
 *  @param c  the child
 *  @return 0, SHMIPC_E_INVALID, SHMIPC_E_SYSTEM */
SHMIPC_EXPORT int shmipc_child_kill(shmipc_child *c);

/** Free @p c. A child still running is killed and reaped first (it is
 *  owned: it never outlives its handle); the wait for its end is bounded
 *  (10 s: only a process the kernel holds in an uninterruptible wait
 *  takes that long, and is left a zombie).
 *  @param c  the child, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_child_destroy(shmipc_child *c);

/**@}*/

/* ------------------------------------------------------------------ */
/** @name Streams from guest to host
 *
 * The same streams in the other direction: a guest sends STREAM_START and
 * STREAM_CHUNK as ordinary guest calls on its guest slots, and the host's
 * receiver reassembles them, with the wire format, limits, answers and
 * conformance vectors of host-to-guest streams (docs/PROTOCOL.md,
 * "Streams"). A guest stream needs guest slots (guest_slots > 0). The
 * sender is a shmipc_stream_sender: shmipc_stream_send() and
 * shmipc_stream_sender_destroy() work on it as on a host's, their
 * texts naming the host as the receiver. */
/**@{*/

/** Create a stream sender for guest @p g: its chunks travel on the
 *  guest slots, up to the configured depth at once (a depth above the
 *  number of guest slots counts as that), and its stream identifiers come
 *  from a counter of @p g, unique while @p g is attached. The guest must
 *  outlive every send; shmipc_guest_detach() may run while sends run on
 *  other threads (they return SHMIPC_E_CLOSED). A send fails with
 *  SHMIPC_E_PEER_GONE within a liveness interval of the host's death;
 *  SHMIPC_E_REMOTE when the host has no stream receiver attached (it
 *  answered the start as any other guest call).
 *  @param g    the guest
 *  @param cfg  the configuration, or NULL for the defaults
 *  @param out  receives the sender (NULL on failure)
 *  @return 0, SHMIPC_E_INVALID (bad config, no guest slots, or slots too
 *  small: the request capacity must exceed 32 bytes and the response
 *  capacity hold 16), SHMIPC_E_NOMEM. */
SHMIPC_EXPORT int shmipc_guest_stream_sender_create(
    shmipc_guest *g, const shmipc_stream_config *cfg,
    shmipc_stream_sender **out);

/**
 * Attach receiver @p r to the host's serving of guest calls, or detach it
 * (@p r NULL). From then on, STREAM_START and STREAM_CHUNK requests on guest
 * slots, whether the listener thread (shmipc_host_listen_start()) or
 * shmipc_host_serve() serves them, go to @p r; every other request goes
 * to the handler given to those functions (the next handler given to
 * shmipc_reassembler_create() is not used on this path). @p r's
 * limits hold against the guest as they do against a host on a guest's
 * receiver.
 *
 * A guest's streams are its own: when the guest detaches, dies or is
 * replaced by a new guest, every stream it left open is dropped and its
 * buffer freed, at the latest one liveness interval later while the
 * listener runs or a shmipc_host_serve() call waits, and before any
 * stream message of a new guest is handled (stream identifiers are unique
 * per session and direction only). Streams idle past the idle timeout are
 * dropped on the same rounds, without waiting for a next stream message.
 *
 * Threads: not while the listener runs (SHMIPC_E_BUSY) or a
 * shmipc_host_serve() call is in progress on another thread. @p r must
 * outlive its attachment: detach it (with no listener running and no
 * serve in progress) before shmipc_reassembler_destroy(), or destroy the
 * host first.
 *
 * @param h  the host
 * @param r  the receiver, or NULL to detach the one attached
 * @return 0, SHMIPC_E_BUSY (the listener runs), SHMIPC_E_INVALID (no @p h,
 *         or the segment has no guest slots).
 */
SHMIPC_EXPORT int shmipc_host_stream_receiver(shmipc_host *h,
                                              shmipc_reassembler *r);

/**@}*/

/** @name Statistics
 *  Each side counts what happens on its side of the channel in the
 *  segment itself (docs/PROTOCOL.md, "Counters"), so that `shmipc-stat`
 *  can show them from outside; these functions read the calling side's
 *  counters. They are diagnostics: the peer (or any process of the same
 *  user) can write over them, so a figure may be wrong, never harmful.
 *  Counting costs the fast path no locked instruction and no shared line
 *  (the per-call counts live in each slot's own counter line). A host's
 *  counters cover its session since shmipc_host_create(); a guest's since
 *  its attach. */
/**@{*/

/** A side's counters. The fields count from the start of the side's
 *  session; a call is one request published by this side. */
typedef struct shmipc_stats {
  uint32_t struct_size;   /**< sizeof(shmipc_stats), set by the caller */
  uint32_t epoch;         /**< attach epoch: host, the one it saw last; guest,
                               the one it attached with */
  uint64_t calls;         /**< requests this side published (host: calls to
                               the guest; guest: guest calls) */
  uint64_t answered;      /**< answers taken, SYSTEM_ERROR ones included */
  uint64_t timeouts;      /**< calls that ended with SHMIPC_E_TIMEOUT */
  uint64_t cancels;       /**< calls whose request was taken back before the
                               peer took it (a timeout, a gone peer, a close) */
  uint64_t quarantined;   /**< calls that ended without an answer while the
                               peer held the slot (the slot is quarantined) */
  uint64_t late_dropped;  /**< late answers discarded when their slot was
                               claimed again */
  uint64_t recovered;     /**< quarantined slots freed because the guest that
                               could answer them was gone */
  uint64_t peer_gone;     /**< calls that ended with SHMIPC_E_PEER_GONE */
  uint64_t remote;        /**< calls answered with SYSTEM_ERROR
                               (SHMIPC_E_REMOTE) */
  uint64_t corrupt;       /**< calls that ended with SHMIPC_E_CORRUPT */
  uint64_t served;        /**< the peer's requests this side answered (host:
                               guest calls; guest: the host's calls) */
  uint64_t served_errors; /**< of those, answered with SYSTEM_ERROR */
  uint64_t sleeps;        /**< sleeps in the kernel (futex waits, event
                               waits) */
  uint64_t wakes;         /**< wake-up system calls made for the peer */
  uint64_t stream_chunks; /**< stream chunks sent and accepted */
  uint64_t stream_bytes;  /**< stream payload bytes in those chunks */
  uint64_t stream_drops;  /**< streams sent that were not delivered */
  uint64_t attaches;      /**< host: guest attaches seen; guest: 1 */
  uint64_t uptime_ns;     /**< nanoseconds since the side's session began */
} shmipc_stats;

/** An initialiser for a shmipc_stats that sets struct_size and zeroes the
 *  rest, valid in C and C++ alike: `shmipc_stats st = SHMIPC_STATS_INIT;` */
#define SHMIPC_STATS_INIT                                                   \
  { sizeof(shmipc_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   \
    0, 0, 0, 0 }

/** Read the host's counters.
 *  @param h    the host
 *  @param out  filled in up to its struct_size (set by the caller: a
 *              struct of an older release gets the fields it has, a
 *              larger one this release's), which is then set to the bytes
 *              filled
 *  @return 0; SHMIPC_E_INVALID for a NULL argument or a struct_size smaller
 *          than the first two fields. */
SHMIPC_EXPORT int shmipc_host_stats(const shmipc_host *h, shmipc_stats *out);

/** Read the guest's counters.
 *  @param g    the guest
 *  @param out  as for shmipc_host_stats()
 *  @return 0; SHMIPC_E_INVALID as for shmipc_host_stats(). */
SHMIPC_EXPORT int shmipc_guest_stats(const shmipc_guest *g, shmipc_stats *out);

/**@}*/

/* ------------------------------------------------------------------ */
/** @name Large answers
 *
 * A guest handler may answer a host call with more bytes than a slot's
 * response buffer holds, up to the guest's `max_answer` and the host's
 * (shmipc_host_config.max_answer). The guest keeps ("parks") the bytes and
 * answers with a short SHMIPC_MSG_LARGE_ANSWER announcement; the host then
 * pulls the bytes with SHMIPC_MSG_ANSWER_PULL requests on several host slots
 * at once, each copied once out of the parked answer into the segment and
 * once out of the segment into the caller's memory. An answer that fits a
 * slot travels as any other. The wire format, the guest's limits and every
 * status are in docs/PROTOCOL.md, "Large answers".
 *
 * On the host: shmipc_host_call() gets a large answer whole when @p resp_cap
 * holds it (else SHMIPC_E_TRUNCATED, as for a small one, and the guest frees
 * it); shmipc_host_call_alloc() returns it in a buffer of the library's;
 * shmipc_host_call_chunks() hands it over piece by piece; after
 * shmipc_slot_send() or shmipc_slot_wait(), a response of type
 * SHMIPC_MSG_LARGE_ANSWER is an announcement, fetched with
 * shmipc_slot_answer_alloc() or dropped with shmipc_slot_answer_drop().
 * Each of these bounds the whole transfer with one timeout; a guest that
 * dies meanwhile ends it with SHMIPC_E_PEER_GONE within about one liveness
 * interval; every buffer the library allocated is freed on every failure.
 * After a failure that leaves the answer parked at the guest (a timeout, a
 * refusal, a caller that stops reading) the host asks the guest to free it
 * and waits for that request up to 200 ms more, so a guest that takes no
 * request makes such a failure return up to 200 ms after the timeout.
 *
 * The host's functions below may run on any number of threads at once,
 * as shmipc_host_call() (the slot ones on the slot's holder), and a
 * shmipc_host_destroy() meanwhile ends them with SHMIPC_E_CLOSED.
 *
 * On the guest: start the workers with shmipc_guest_start_answers() and a
 * shmipc_answer_fn, which answers as a shmipc_handler_fn does or hands its
 * bytes over with shmipc_answer_set(). */
/**@{*/

/**
 * Called once when the guest no longer needs the bytes of a large answer
 * (pulled to the end, dropped by the host, expired, refused, or the
 * session ended).
 * @param ctx   the @p release_ctx given to shmipc_answer_set()
 * @param data  the bytes
 * @param len   their length
 * May run on any worker thread, or in shmipc_guest_detach(), after the
 * handler that set the answer has returned.
 */
typedef void (*shmipc_release_fn)(void *ctx, const void *data, size_t len);

/** Opaque: where a shmipc_answer_fn hands over a large answer. Valid only
 *  during that handler's call. */
typedef struct shmipc_answer shmipc_answer;

/**
 * Answer with @p len bytes at @p data instead of the response buffer. The
 * bytes must stay unchanged until @p release is called with them (exactly
 * once, after the handler returned; a NULL @p release for bytes that
 * outlive the guest, such as static data). No copy is made: when @p len
 * fits the response buffer the bytes are copied there and released at
 * once; otherwise they are parked under the guest's limits and copied out
 * chunk by chunk as the host pulls them. An answer the limits refuse is
 * released and the host gets SHMIPC_MSG_SYSTEM_ERROR with the reason
 * (SHMIPC_E_REMOTE). A second call replaces the first (which is released).
 * @param a            the handler's @p ans
 * @param data         the bytes (may be NULL if @p len is 0)
 * @param len          their length
 * @param release      called when the guest is done with them, or NULL
 * @param release_ctx  passed to @p release
 */
SHMIPC_EXPORT void shmipc_answer_set(shmipc_answer *a, const void *data,
                                     size_t len, shmipc_release_fn release,
                                     void *release_ctx);

/**
 * Request handler of a guest that may answer with large answers: a
 * shmipc_handler_fn with one more parameter, @p ans. The handler either
 * writes its response into @p resp as a shmipc_handler_fn does, or calls
 * shmipc_answer_set(@p ans, ...) and sets @p resp_type (its @p resp and
 * @p resp_len are then ignored). A non-zero return answers
 * SHMIPC_MSG_SYSTEM_ERROR and releases what was set. A response written
 * into @p resp may be end-aligned (SHMIPC_RESP_END_ALIGNED); for an answer
 * set with shmipc_answer_set() that bit means nothing and is dropped (the
 * bytes are copied to the start of the slot, or pulled in order).
 */
typedef int (*shmipc_answer_fn)(void *user, uint32_t type, const void *req,
                                size_t req_len, void *resp, size_t resp_cap,
                                size_t *resp_len, uint32_t *resp_type,
                                shmipc_answer *ans);

/** What a guest parks at most; initialise with
 *  shmipc_answer_limits_init(). The same semantics as the stream
 *  receiver's limits (shmipc_stream_limits). */
typedef struct shmipc_answer_limits {
  uint32_t struct_size;    /**< sizeof(shmipc_answer_limits) */
  uint32_t max_answers;    /**< answers parked at once, 1-65536 (default 16) */
  uint64_t max_answer;     /**< largest answer in bytes (default 1 GiB) */
  uint64_t max_total;      /**< bytes of all parked answers (default 1 GiB) */
  int64_t idle_timeout_ns; /**< drop a parked answer nobody pulled for this
                                long, > 0 (default 10 s) */
} shmipc_answer_limits;

/** A guest's large-answer counters (shmipc_guest_answer_stats()). */
typedef struct shmipc_answer_stats {
  uint32_t struct_size; /**< sizeof(shmipc_answer_stats), set by the caller */
  uint32_t parked;      /**< answers parked now */
  uint64_t held;        /**< bytes held now (parked, or being copied) */
  uint64_t peak_held;   /**< the most ever held at once */
  uint64_t released;    /**< answers pulled to the end */
  uint64_t dropped;     /**< answers dropped: aborted, expired, refused,
                             out of bounds, or the session ended */
  uint64_t expired;     /**< of those, by the idle timeout */
} shmipc_answer_stats;

/** An initialiser for a shmipc_answer_stats that sets struct_size and
 *  zeroes the rest: `shmipc_answer_stats st = SHMIPC_ANSWER_STATS_INIT;` */
#define SHMIPC_ANSWER_STATS_INIT                                            \
  { sizeof(shmipc_answer_stats), 0, 0, 0, 0, 0, 0 }

/** Fill @p lim with the defaults.
 *  @param lim  the limits to fill (NULL is ignored) */
SHMIPC_EXPORT void shmipc_answer_limits_init(shmipc_answer_limits *lim);

/** shmipc_guest_start() with a handler that may answer large answers.
 *  Parked answers are swept (the idle ones dropped) on each pull and while
 *  the workers idle, and all dropped when the workers end (the host closed,
 *  died or was replaced) and at detach.
 *  @param g     the guest
 *  @param fn    the handler, called on the workers
 *  @param user  passed to @p fn
 *  @param lim   the limits, or NULL for the defaults
 *  @return as shmipc_guest_start(); SHMIPC_E_INVALID also for limits out
 *          of range. */
SHMIPC_EXPORT int shmipc_guest_start_answers(shmipc_guest *g,
                                             shmipc_answer_fn fn, void *user,
                                             const shmipc_answer_limits *lim);

/** Read the guest's large-answer counters (zeros for a guest started with
 *  shmipc_guest_start()). Any thread, any time before detach.
 *  @param g    the guest (NULL: nothing is read)
 *  @param out  filled in; its struct_size must be set (a smaller one, or a
 *              NULL @p out, leaves it untouched) */
SHMIPC_EXPORT void shmipc_guest_answer_stats(shmipc_guest *g,
                                             shmipc_answer_stats *out);

/**
 * shmipc_host_call() whose answer, of any size up to the host's
 * max_answer, lands in a buffer the library allocates.
 * @param h          the host
 * @param type       request message type
 * @param req        request bytes (may be NULL if @p req_len is 0)
 * @param req_len    request length, at most the request capacity
 * @param resp       out: the answer, to free with shmipc_answer_free() (on
 *                   0, and on SHMIPC_E_REMOTE when the guest's handler
 *                   failed: its reason; NULL on any other result)
 * @param resp_len   out (optional): its length; on SHMIPC_E_TRUNCATED the
 *                   announced length
 * @param resp_type  out (optional): its type
 * @param timeout_ns bounds the whole call and transfer
 * @return as shmipc_host_call(); SHMIPC_E_TRUNCATED for an answer above
 *         max_answer (the guest frees it); SHMIPC_E_NOMEM; SHMIPC_E_REMOTE
 *         also when the guest no longer holds the answer (it expired: the
 *         last error names the pull's status); SHMIPC_E_CORRUPT for a pull
 *         answer that breaks the protocol.
 */
SHMIPC_EXPORT int shmipc_host_call_alloc(shmipc_host *h, uint32_t type,
                                         const void *req, size_t req_len,
                                         void **resp, size_t *resp_len,
                                         uint32_t *resp_type,
                                         int64_t timeout_ns);

/** Free an answer of shmipc_host_call_alloc() or shmipc_slot_answer_alloc().
 *  @param resp  the buffer, or NULL (nothing happens) */
SHMIPC_EXPORT void shmipc_answer_free(void *resp);

/**
 * Receives an answer piece by piece, in order of offset.
 * @param user    the @p user given to shmipc_host_call_chunks()
 * @param type    the answer's type
 * @param total   the answer's whole length
 * @param offset  where this piece starts (the pieces are contiguous)
 * @param data    the piece, in shared memory, valid until the return (NULL
 *                when @p len is 0)
 * @param len     its length; an empty answer is one call with 0
 * @return 0 to go on; anything else stops the transfer (the guest frees
 *         the answer) and the call returns SHMIPC_E_REFUSED.
 */
typedef int (*shmipc_chunk_fn)(void *user, uint32_t type, uint64_t total,
                               uint64_t offset, const void *data, size_t len);

/**
 * shmipc_host_call() whose answer, of any size up to the host's
 * max_answer, goes to @p fn piece by piece: a small answer in one piece
 * straight from the slot, a large one in pieces of at most the response
 * capacity minus 16 bytes. Nothing is allocated.
 * @param h          the host
 * @param type       request message type
 * @param req        request bytes (may be NULL if @p req_len is 0)
 * @param req_len    request length, at most the request capacity
 * @param fn         receives the pieces
 * @param user       passed to @p fn
 * @param timeout_ns bounds the whole call and transfer
 * @return as shmipc_host_call_alloc(); SHMIPC_E_REFUSED when @p fn stopped
 *         the transfer.
 */
SHMIPC_EXPORT int shmipc_host_call_chunks(shmipc_host *h, uint32_t type,
                                          const void *req, size_t req_len,
                                          shmipc_chunk_fn fn, void *user,
                                          int64_t timeout_ns);

/** The length a large answer's announcement gives.
 *  @param s  a slot whose response (shmipc_slot_wait()) has type
 *            SHMIPC_MSG_LARGE_ANSWER
 *  @return the announced length, 0 if @p s holds no valid announcement */
SHMIPC_EXPORT uint64_t shmipc_slot_answer_total(const shmipc_slot *s);

/**
 * Fetch the large answer announced in slot @p s into a buffer the library
 * allocates. @p s is used for the first pull (other slots join if free);
 * afterwards it holds no response (the getters give NULL and 0) and is
 * released as usual.
 * @param s          the slot, holding a SHMIPC_MSG_LARGE_ANSWER response
 * @param resp       out: the answer, to free with shmipc_answer_free()
 * @param resp_len   out (optional): its length
 * @param resp_type  out (optional): its type
 * @param timeout_ns bounds the whole transfer
 * @return as shmipc_host_call_alloc(); SHMIPC_E_STATE when @p s holds no
 *         large answer's announcement.
 */
SHMIPC_EXPORT int shmipc_slot_answer_alloc(shmipc_slot *s, void **resp,
                                           size_t *resp_len,
                                           uint32_t *resp_type,
                                           int64_t timeout_ns);

/** Tell the guest to free the large answer announced in slot @p s
 *  (otherwise it does so after its idle timeout). Afterwards @p s holds no
 *  response.
 *  @param s           the slot, holding a SHMIPC_MSG_LARGE_ANSWER response
 *  @param timeout_ns  how long to wait for the guest's answer
 *  @return 0, SHMIPC_E_STATE (no announcement), SHMIPC_E_TIMEOUT,
 *          SHMIPC_E_PEER_GONE, SHMIPC_E_CORRUPT, SHMIPC_E_REMOTE (the guest
 *          held no such answer any more), SHMIPC_E_INVALID,
 *          SHMIPC_E_CLOSED. */
SHMIPC_EXPORT int shmipc_slot_answer_drop(shmipc_slot *s, int64_t timeout_ns);

/**@}*/

/* ------------------------------------------------------------------ */
/** @name Calls in flight without a blocked thread, and aborts
 *  A host thread can keep several calls in flight: acquire and publish
 *  on as many slots as it likes (shmipc_slot_acquire(),
 *  shmipc_slot_publish()), then look at them without waiting
 *  (shmipc_slot_poll()) or wait for the first of them to end
 *  (shmipc_slot_wait_any()), and read and release each answer as usual.
 *  The same works on a guest's slots for a C guest's calls.
 *
 *  Any thread can end the waits of another: shmipc_slot_abort() ends the
 *  call of one slot, shmipc_host_abort() and shmipc_guest_abort() every
 *  blocking call of a handle (calls, acquires, waits, serves, sends,
 *  shmipc_host_wait_guest(), shmipc_guest_wait()). What they end returns
 *  SHMIPC_E_ABORTED, within a bounded time even from a sleep in the
 *  kernel (Linux: the sleeper sleeps on a word that each abort moves, with
 *  futex_waitv(2); a kernel older than 5.16 and Windows look at least
 *  every millisecond while an abort may come, or the event signalled by
 *  the abort ends the sleep). An aborted call leaves its slot as a
 *  timed-out one does: taken back if the guest had not taken the request
 *  yet, else quarantined until its late answer arrives (or the guest is
 *  gone). An answer that is in before the abort is looked at wins: the
 *  call returns it. The library's own threads (the listener, a C guest's
 *  workers) are not aborted; shmipc_host_listen_stop() and
 *  shmipc_guest_stop() end those.
 */
/**@{*/

/** Whether the call published on @p s has ended, without waiting.
 *  A poll that finds the peer gone (looked at about once per liveness
 *  interval, as a sleeping wait looks), the slot corrupt or the slot or
 *  handle aborted ends the call as shmipc_slot_wait() would end it.
 *  Thread-safe against shmipc_slot_abort() and the handle's abort; the
 *  slot itself is the holder's, as for every other slot function.
 *  @param s  a slot published with shmipc_slot_publish()
 *  @return 1 when the answer is in (readable until release, as after
 *          shmipc_slot_wait(); a second poll gives 1 again); 0 while the
 *          guest has not answered; SHMIPC_E_REMOTE (answered with a
 *          system error, readable as the response); SHMIPC_E_PEER_GONE
 *          (the guest detached or died); SHMIPC_E_CORRUPT (the slot
 *          holds an illegal word); SHMIPC_E_ABORTED (shmipc_slot_abort()
 *          or the handle's abort); SHMIPC_E_CLOSED (the handle is being
 *          destroyed); SHMIPC_E_STATE (nothing published);
 *          SHMIPC_E_INVALID (@p s NULL). After a negative result other
 *          than SHMIPC_E_REMOTE the call is over: release the slot. */
SHMIPC_EXPORT int shmipc_slot_poll(shmipc_slot *s);

/** Wait for the first of several published calls to end.
 *  Spins over the set as shmipc_slot_wait() spins on one slot, then
 *  announces itself on every slot and sleeps on all of their words at
 *  once (Linux: futex_waitv(2), at most 64 slots per sleep; the others,
 *  and every slot on an older kernel or on Windows, are looked at again
 *  at least every millisecond).
 *  @param slots       @p n published slots of one handle (answered ones
 *                     may be among them: the first of those is returned
 *                     at once)
 *  @param n           the number of slots (at least 1)
 *  @param timeout_ns  how long to wait
 *  @param which       out: the index of the slot whose call ended, @p n
 *                     when none did
 *  @return the result of that slot's call, as shmipc_slot_wait() gives it
 *          (0: the answer is readable; SHMIPC_E_REMOTE,
 *          SHMIPC_E_PEER_GONE, SHMIPC_E_CORRUPT, SHMIPC_E_CLOSED, and
 *          SHMIPC_E_ABORTED for a slot aborted by shmipc_slot_abort());
 *          or, with *which = @p n and every call still in flight:
 *          SHMIPC_E_TIMEOUT (none ended in time; the slots stay published,
 *          unlike after shmipc_slot_wait()'s timeout), SHMIPC_E_ABORTED
 *          (the handle's abort); SHMIPC_E_STATE (a slot not published),
 *          SHMIPC_E_INVALID (NULL arguments, @p n 0, slots of two
 *          handles). */
SHMIPC_EXPORT int shmipc_slot_wait_any(shmipc_slot *const *slots, size_t n,
                                       int64_t timeout_ns, size_t *which);

/** End the call of slot @p s from any thread: a wait or poll on it, now
 *  or later, returns SHMIPC_E_ABORTED (unless its answer is in first).
 *  The mark lasts until the slot is next acquired; the caller keeps the
 *  slot held meanwhile (an abort of a slot released to another thread
 *  may end that thread's call).
 *  @param s  the slot
 *  @return 0, SHMIPC_E_INVALID (@p s NULL). */
SHMIPC_EXPORT int shmipc_slot_abort(shmipc_slot *s);

/** End every blocking call of host @p h, from any thread. Sticky: from
 *  now until shmipc_host_abort_reset(), each blocking function of the
 *  host (shmipc_host_call(), shmipc_slot_acquire(), shmipc_slot_wait(),
 *  shmipc_slot_send(), shmipc_slot_wait_any(), shmipc_host_serve(),
 *  shmipc_host_wait_guest(), shmipc_stream_send()) returns
 *  SHMIPC_E_ABORTED instead of waiting, so that a thread about to block
 *  cannot miss it; a call that needs no wait (an answer within the spin,
 *  a try-acquire, a serve that finds calls pending) still succeeds. The
 *  listener thread goes on serving. Not a destroy: the host stays usable
 *  after the reset.
 *  @param h  the host
 *  @return 0, SHMIPC_E_INVALID (@p h NULL). */
SHMIPC_EXPORT int shmipc_host_abort(shmipc_host *h);

/** Let the blocking calls of host @p h wait again after
 *  shmipc_host_abort(). Calls that the abort ended stay ended.
 *  @param h  the host
 *  @return 0, SHMIPC_E_INVALID (@p h NULL). */
SHMIPC_EXPORT int shmipc_host_abort_reset(shmipc_host *h);

/** shmipc_host_abort() for a C guest: ends shmipc_guest_call(),
 *  shmipc_guest_wait() and the guest's stream sends, sticky until
 *  shmipc_guest_abort_reset(). The workers go on serving.
 *  @param g  the guest
 *  @return 0, SHMIPC_E_INVALID (@p g NULL). */
SHMIPC_EXPORT int shmipc_guest_abort(shmipc_guest *g);

/** Let the blocking calls of guest @p g wait again after
 *  shmipc_guest_abort().
 *  @param g  the guest
 *  @return 0, SHMIPC_E_INVALID (@p g NULL). */
SHMIPC_EXPORT int shmipc_guest_abort_reset(shmipc_guest *g);

/**@}*/

/* ------------------------------------------------------------------ */
/** @name Event loops
 *  A host that lives in an event loop (epoll, poll, select, libuv, a
 *  Win32 message loop) waits on one operating-system handle instead of
 *  giving a thread to its calls: a file descriptor on Linux that becomes
 *  readable, an event HANDLE on Windows (for WaitForMultipleObjects() or
 *  MsgWaitForMultipleObjects()) that becomes signalled, when a guest call
 *  is pending or a call the loop waits for has ended (its answer is in,
 *  the guest detached or died, the call or the host was aborted, the host
 *  is being destroyed). The loop then looks without blocking:
 *  shmipc_slot_poll() on its slots, shmipc_host_serve() with timeout 0.
 *
 *  The loop announces that it sleeps, as a blocked waiter does, with
 *  shmipc_host_event_arm() just before it sleeps: the guest then wakes the
 *  host with a system call for that sleep, and for nothing else; a busy
 *  channel makes none. The guests need nothing new (they wake a futex
 *  word, or a word's event on Windows, as for any sleeper): one thread of
 *  the library per host, started by the first arm, sleeps on the armed
 *  words and signals the handle when one moves, and looks at the guest's
 *  liveness at least once per liveness interval, so that a guest that
 *  dies while the loop sleeps fires the handle too. It costs nothing on
 *  the blocking paths, and nothing while the loop does not sleep: an arm
 *  that returns 1 makes no system call; one that returns 0 wakes the
 *  library's thread, and its firing costs the guest's wake-up, the
 *  handle's signal and its clear, beside the loop's own sleep. A spin in
 *  the arm (@p spin_ns) keeps a loop whose guest answers promptly off
 *  that path, as the spin of a blocking wait does.
 *
 *  The loop's steps:
 *  @code
 *  shmipc_host_event_handle(h, &fd);        once; add fd to the loop
 *  for (;;) {
 *    r = shmipc_host_event_arm(h, slots, n, 0);
 *    if (r == 0) sleep in the loop (fd, timers, sockets ...);
 *    if fd fired: shmipc_host_event_clear(h);
 *    shmipc_slot_poll() each slot; shmipc_host_serve(h, fn, user, 0);
 *  }
 *  @endcode
 *  An arm holds for one firing: after the handle fired (or after the loop
 *  woke for another reason), arm again before the next sleep, with the
 *  slots then in flight.
 *
 *  Do not also wait on an armed slot with a blocking call
 *  (shmipc_slot_wait(), shmipc_slot_wait_any()) while the arm holds. On
 *  Windows both waiters would sleep on the word's one auto-reset event,
 *  and the guest's single signal wakes only one of them: the library's
 *  thread would then see that answer only at its next liveness look (at
 *  most one liveness interval late). Poll armed slots instead.
 *
 *  Threads: shmipc_host_event_handle(), shmipc_host_event_arm() and
 *  shmipc_host_event_clear() are the loop's: call them from one thread
 *  at a time (the loop's), beside which any thread may make calls of its
 *  own, abort, or destroy. The loop's thread counts as inside the host from
 *  its first arm on. A destroy on another thread signals the handle; the
 *  loop's next clear or arm returns SHMIPC_E_CLOSED (polls and serves say
 *  SHMIPC_E_CLOSED meanwhile), which lets the destroy go on: from that
 *  return on the loop must touch neither the host nor its slots, which
 *  are freed with it. A destroy waits for that at most its usual bound (a
 *  few liveness intervals, at least 200 ms). A destroy on the loop's own
 *  thread needs none of this: it stops the library's thread and closes the
 *  handle, armed or not.
 */
/**@{*/

/** The handle an event loop waits on, created on the first call; later
 *  calls give the same one. It belongs to the host: the loop must not
 *  close it, read it or reset it (shmipc_host_event_clear() does);
 *  shmipc_host_destroy() closes it.
 *  @param h    the host
 *  @param out  receives the handle: on Linux a file descriptor (an eventfd,
 *              non-blocking, close-on-exec) that is readable while
 *              signalled; on Windows an event HANDLE (manual-reset), cast
 *              to intptr_t. -1 on failure.
 *  @return 0, SHMIPC_E_INVALID (NULL arguments), SHMIPC_E_SYSTEM (the
 *          handle could not be made), SHMIPC_E_NOMEM, SHMIPC_E_CLOSED (the
 *          host is being destroyed). */
SHMIPC_EXPORT int shmipc_host_event_handle(shmipc_host *h, intptr_t *out);

/** Announce that the loop is about to sleep, waiting for the calls of
 *  @p slots and for guest calls: from a return of 0 on, the handle is
 *  signalled when one of those calls ends or a guest call is pending
 *  (once per arm). Sets the waiter bits a sleeping waiter sets
 *  (docs/PROTOCOL.md, "Sleep and wake-up": the requester's bit on each
 *  slot's word, the listener's bit on the doorbell) and looks again after
 *  them, so no wake-up is lost between the last look and the sleep. Guest
 *  calls count only while no listener thread serves them
 *  (shmipc_host_listen_start()). A firing not yet cleared is cleared first.
 *  @param h        the host, whose handle was made
 *                  (shmipc_host_event_handle())
 *  @param slots    @p n slots of @p h published with shmipc_slot_publish()
 *                  (NULL when @p n is 0)
 *  @param n        how many (0: only guest calls and the host's destroy
 *                  fire the handle; the guest's death and the host's
 *                  abort fire it while calls are armed)
 *  @param spin_ns  look for this long before announcing (as a blocking
 *                  wait spins before it sleeps: a prompt guest then costs
 *                  no system call on either side), 0 for one look, or
 *                  SHMIPC_TIMEOUT_DEFAULT for the host's spin budget (the
 *                  spin of a blocking wait); the loop does nothing else
 *                  meanwhile
 *  @return 1: something is ready now (an answer, a guest call, an ended
 *          call, an abort): do not sleep, poll and serve; 0: armed, sleep;
 *          SHMIPC_E_CLOSED (the host is being destroyed: touch it no
 *          more), SHMIPC_E_STATE (no handle made yet, or a slot not
 *          published), SHMIPC_E_INVALID (NULL arguments, a slot of
 *          another host, @p spin_ns negative and not
 *          SHMIPC_TIMEOUT_DEFAULT), SHMIPC_E_TOO_BIG (@p n above the
 *          host's slots), SHMIPC_E_SYSTEM (the library's thread could not
 *          start). */
SHMIPC_EXPORT int shmipc_host_event_arm(shmipc_host *h,
                                        shmipc_slot *const *slots, size_t n,
                                        int64_t spin_ns);

/** Reset the handle after it was signalled (drains the eventfd, resets the
 *  event); the arm it fired for is over.
 *  @param h  the host
 *  @return 0, SHMIPC_E_CLOSED (the host is being destroyed: touch it no
 *          more), SHMIPC_E_STATE (no handle made yet), SHMIPC_E_INVALID. */
SHMIPC_EXPORT int shmipc_host_event_clear(shmipc_host *h);

/**@}*/

/* ------------------------------------------------------------------ */
/** @name The caller's deadline at the responder, and its cancel mark
 *  Each request carries its caller's deadline, and a caller that gives up
 *  on a request the responder has taken (its wait timed out, was aborted,
 *  or the slot was released unanswered) marks the request cancelled. A
 *  handler that works long can look at either, with the handle it serves
 *  and the @p req pointer it was given, and stop early. Both are
 *  information from the peer, never checked by the library and never
 *  trusted by it: a handler that stops early answers what it likes (the
 *  caller that gave up discards the answer). A look is one load from the
 *  slot; a handler that never looks costs nothing.
 *
 *  The deadline is in nanoseconds of shmipc_clock_ns() (Linux
 *  CLOCK_MONOTONIC, Windows QueryPerformanceCounter: one clock for every
 *  process of the machine). shmipc_host_call(), shmipc_guest_call() and
 *  shmipc_slot_send() carry it from the publish; a request published by
 *  shmipc_slot_publish() carries it once shmipc_slot_wait() leaves its
 *  spin phase (shmipc_slot_wait_any() and shmipc_slot_poll() give none).
 *  While the caller is still in its spin phase the deadline is known only
 *  to within that phase (microseconds). docs/PROTOCOL.md, "Deadline and
 *  cancel", has the wire form.
 */
/**@{*/

/** The caller's deadline of the request that host @p h is serving in
 *  @p req (the request pointer its handler was given, for a guest call).
 *  @param h            the host
 *  @param req          the handler's request pointer
 *  @param deadline_ns  out: the deadline in nanoseconds of
 *                      shmipc_clock_ns(), 0 when there is none
 *  @return 1 (a deadline), 0 (none: an infinite timeout, or the caller
 *          did not say), SHMIPC_E_INVALID (@p h or @p deadline_ns NULL,
 *          or @p req not inside a request buffer of a slot @p h answers,
 *          e.g. a reassembled stream). */
SHMIPC_EXPORT int shmipc_host_request_deadline(const shmipc_host *h,
                                               const void *req,
                                               int64_t *deadline_ns);

/** Whether the caller of the request that host @p h is serving in
 *  @p req has given up on it (timed out, aborted, released its slot).
 *  Cheap enough for a handler's inner loop (one load).
 *  @param h    the host
 *  @param req  the handler's request pointer
 *  @return 1 (given up), 0 (not yet), SHMIPC_E_INVALID (@p h NULL, or
 *          @p req not inside a request buffer of a slot @p h answers). */
SHMIPC_EXPORT int shmipc_host_request_cancelled(const shmipc_host *h,
                                                const void *req);

/** shmipc_host_request_deadline() for a C guest's handler (a request of
 *  a host slot).
 *  @param g            the guest
 *  @param req          the handler's request pointer
 *  @param deadline_ns  out: the deadline, 0 when there is none
 *  @return 1, 0, SHMIPC_E_INVALID, as shmipc_host_request_deadline(). */
SHMIPC_EXPORT int shmipc_guest_request_deadline(const shmipc_guest *g,
                                                const void *req,
                                                int64_t *deadline_ns);

/** shmipc_host_request_cancelled() for a C guest's handler.
 *  @param g    the guest
 *  @param req  the handler's request pointer
 *  @return 1, 0, SHMIPC_E_INVALID, as shmipc_host_request_cancelled(). */
SHMIPC_EXPORT int shmipc_guest_request_cancelled(const shmipc_guest *g,
                                                 const void *req);

/** The clock of request deadlines, in nanoseconds: Linux CLOCK_MONOTONIC,
 *  Windows QueryPerformanceCounter. A handler's time left is its
 *  deadline minus this.
 *  @return the clock's reading. */
SHMIPC_EXPORT int64_t shmipc_clock_ns(void);

/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* SHMIPC_SHMIPC_H */
/* clang-format on */
