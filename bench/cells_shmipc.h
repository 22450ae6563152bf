/* SPDX-License-Identifier: MIT */
/*
 * The library's cells for shmipc-bench: this process is the host, the echo
 * guest (tests/ECHO_GUEST.md) runs as a separate process. With
 * cells_inflight.c, the only files of the bench that call libshmipc.
 */
#ifndef SHMIPC_BENCH_CELLS_SHMIPC_H
#define SHMIPC_BENCH_CELLS_SHMIPC_H

#include <sched.h>
#include <stddef.h>

#include "bench.h"

/**
 * Run one cell against the echo guest binary @p guest_path: create a host
 * (unique name, host_slots = threads, 1 guest slot, 64 KiB request and
 * response capacity), start the guest with `-name NAME`, wait up to 5 s for
 * it to attach, run the driver with one zero-copy call per round trip
 * (acquire, write the payload, send, check and read the response, release),
 * then optionally stay connected but idle for p->idle_seconds (the host's
 * guest-call listener runs during that cell) and measure both processes'
 * CPU, destroy the host and reap the guest (killed after 5 s). With p->pin,
 * every thread of the guest runs on the pairs' server CPUs (struct
 * bench_pin).
 *
 * With p->inflight = K > 0 (p->threads 1, no idle phase) the host has K
 * slots and one host thread keeps K calls in flight instead
 * (bench_inflight_drive(), cells_inflight.h); the guest runs on the server
 * CPUs of pairs 0..K-1, as in the cell of K threads. r->hist then holds
 * each call's time from its publish to its answer seen.
 *
 * Must be called while the process has a single thread (it forks). Fills
 * @p r like baseline_run(); cpu_guest_s comes from bench_pid_cpu_ns() (per
 * thread schedstat). Returns 0 or -1 with r->error set.
 */
int shmipc_cell_run(const char *guest_path, const struct bench_params *p,
                    struct bench_result *r);

/** Stream cell parameters. */
#define STREAM_REPS_MAX 9
/* Application type the echo guests deliver without computing a digest
 * (tests/ECHO_GUEST.md), so the cell times the transfer, not SHA-256. */
#define STREAM_APP_NO_DIGEST 211u
struct stream_params {
  size_t bytes;                /* one stream of this many bytes */
  unsigned reps;               /* sends; the median rate is reported */
  unsigned depth;              /* chunks in flight */
  unsigned slots;              /* host slots */
  unsigned slot_bytes;         /* request capacity per slot */
  const struct bench_pin *pin; /* NULL, or the sender on pair 0's client
                                  CPU and the guest on its server CPU */
};

struct stream_result {
  double bps;        /* median stream rate */
  double memcpy_bps; /* median of the paired memcpy rates */
  double ratio;      /* median of the per-send ratios stream / memcpy */
};

/* The calling thread's CPUs before a large-transfer cell pinned it to
 * pair 0's client CPU (caller_pin()). */
struct caller_pin {
  cpu_set_t cpus;
  int pinned;
};
/* With @pin, run the calling thread on pair 0's client CPU until
 * caller_unpin(), keeping its CPUs in @cp; without, nothing. 0, or -1 with
 * a reason in @err. */
int caller_pin(struct caller_pin *cp, const struct bench_pin *pin, char *err,
               size_t errlen);
/* Give the calling thread back the CPUs caller_pin() kept (nothing if it
 * pinned none). Returns @rc, or -1 with a reason in @err when @rc was 0 and
 * the CPUs cannot be restored. */
int caller_unpin(const struct caller_pin *cp, int rc, char *err, size_t errlen);

/* The per-transfer figures of a large-transfer cell (stream, guest stream,
 * large answer, the two-copy pipe): each transfer's rate, that of the
 * memcpy of the same bytes made right before it, and their ratio. */
struct stream_reps {
  double rate[STREAM_REPS_MAX], mrate[STREAM_REPS_MAX], ratio[STREAM_REPS_MAX];
};
/* Time a memcpy of @bytes from @src to @dst as transfer @k's baseline. */
void stream_reps_memcpy(struct stream_reps *r, unsigned k, void *dst,
                        const void *src, size_t bytes);
/* Transfer @k moved @bytes in @ns nanoseconds. */
void stream_reps_took(struct stream_reps *r, unsigned k, size_t bytes,
                      int64_t ns);
/* @out: the medians of the first @n transfers. */
void stream_reps_result(const struct stream_reps *r, unsigned n,
                        struct stream_result *out);

/**
 * Stream cell: a host with p->slots slots of p->slot_bytes, the echo guest
 * at @p guest_path, and p->reps streams of p->bytes through
 * shmipc_stream_send() (depth p->depth), each right after a single-thread
 * memcpy of the same bytes (A B A B ...), on pair 0's CPUs when pinned.
 * Each stream is timed from the call to its return (the guest has then
 * delivered it). Must be called
 * while the process has a single thread (it forks). Returns 0, or -1 with
 * @p err set.
 */
int shmipc_stream_cell_run(const char *guest_path,
                           const struct stream_params *p,
                           struct stream_result *out, char *err, size_t errlen);
/* The same cell in the other direction: the guest streams p->bytes to this
 * host's receiver (shmipc_host_stream_receiver(), listener thread) on
 * p->slots guest slots of p->slot_bytes, on request (ECHO_GUEST.md, type
 * 220), each right after a memcpy of the same bytes here. Each stream is
 * timed by the guest around its send. */
int shmipc_guest_stream_cell_run(const char *guest_path,
                                 const struct stream_params *p,
                                 struct stream_result *out, char *err,
                                 size_t errlen);

/* Request type of the echo guests' large answer without a hash
 * (tests/ECHO_GUEST.md): p->bytes of one buffer made once. */
#define ANSWER_TYPE_STATIC 223u
/* echo guests: stream generated bytes to the host (tests/ECHO_GUEST.md) */
#define GUEST_STREAM_TYPE 224u

/**
 * Large-answer cell (docs/PROTOCOL.md, "Large answers"): a host with
 * p->slots slots whose response capacity is p->slot_bytes, the echo guest
 * at @p guest_path, and p->reps calls of shmipc_host_call() each answered
 * with p->bytes into the same touched buffer, each right after a
 * single-thread memcpy of the same bytes. Each call is timed whole (the
 * request, the announcement, every pull). Must be called while the
 * process has a single thread (it forks). Returns 0, or -1 with @p err.
 */
int shmipc_answer_cell_run(const char *guest_path,
                           const struct stream_params *p,
                           struct stream_result *out, char *err, size_t errlen);

/** On SIGINT, SIGTERM or SIGHUP (unless ignored), remove the segment of a
 *  cell that is running, then die of the signal as before. */
void shmipc_bench_install_cleanup(void);

/** "runtime X.Y.Z, headers A.B.C" into @p buf. */
void shmipc_bench_version(char *buf, size_t len);

#endif /* SHMIPC_BENCH_CELLS_SHMIPC_H */
