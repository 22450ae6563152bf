/* SPDX-License-Identifier: MIT */
/*
 * The library's cells for shmipc-bench: this process is the host, the echo
 * guest (tests/ECHO_GUEST.md) runs as a separate process. The only file of
 * the bench that calls libshmipc.
 */
#ifndef SHMIPC_BENCH_CELLS_SHMIPC_H
#define SHMIPC_BENCH_CELLS_SHMIPC_H

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
 * CPU, destroy the host and reap the guest (killed after 5 s).
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
  size_t bytes;        /* one stream of this many bytes */
  unsigned reps;       /* sends; the median rate is reported */
  unsigned depth;      /* chunks in flight */
  unsigned slots;      /* host slots */
  unsigned slot_bytes; /* request capacity per slot */
};

struct stream_result {
  double bps;        /* median stream rate */
  double memcpy_bps; /* median of the paired memcpy rates */
  double ratio;      /* median of the per-send ratios stream / memcpy */
};

/**
 * Stream cell: a host with p->slots slots of p->slot_bytes, the echo guest
 * at @p guest_path, and p->reps streams of p->bytes through
 * shmipc_stream_send() (depth p->depth), each right after a single-thread
 * memcpy of the same bytes (A B A B ...). Each stream is timed from the
 * call to its return (the guest has then delivered it). Must be called
 * while the process has a single thread (it forks). Returns 0, or -1 with
 * @p err set.
 */
int shmipc_stream_cell_run(const char *guest_path,
                           const struct stream_params *p,
                           struct stream_result *out, char *err, size_t errlen);

/* Request type of the echo guests' large answer without a hash
 * (tests/ECHO_GUEST.md): p->bytes of one buffer made once. */
#define ANSWER_TYPE_STATIC 223u

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
