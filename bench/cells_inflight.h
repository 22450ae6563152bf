/* SPDX-License-Identifier: MIT */
/*
 * Calls in flight from one host thread (--inflight): the measuring loop of
 * the library's one-thread cells, the counterpart of bench_drive() for a
 * host that keeps K calls published at once instead of blocking a thread
 * in each.
 */
#ifndef SHMIPC_BENCH_CELLS_INFLIGHT_H
#define SHMIPC_BENCH_CELLS_INFLIGHT_H

#include <shmipc/shmipc.h>

#include "bench.h"

/**
 * Run one host thread on @p h (whose guest is attached; at least K =
 * d->params->inflight host slots) that keeps K calls of d->params->payload
 * bytes in flight: it acquires and publishes K calls, then loops on
 * shmipc_slot_wait_any() over the K slots, checks that the answer that
 * came echoes its own request (stamp, length, type), releases its slot and
 * acquires and publishes the next call, so that K stay published. The set
 * given to each wait starts after the slot answered last, so no slot waits
 * behind the others for ever. With d->params->inflight_poll the thread
 * calls shmipc_slot_poll() on the K slots in a busy loop (a yield every
 * 128 passes) instead of waiting.
 *
 * Like bench_drive(): a warm-up (up to 200 answers or 20 ms, then every
 * call drained), d->on_start on the calling thread, the measured phase of
 * d->params->seconds, then every call still in flight drained (not
 * counted) and d->on_stop; d->watchdog runs about every 100 ms meanwhile
 * (a verdict aborts the host's waits with shmipc_host_abort()). With
 * d->params->pin the thread runs on pair 0's client CPU and fails the run
 * when found elsewhere at its end. @p r gets the answers counted in the
 * measured phase (ops), its wall time, this process's CPU and, in
 * r->hist, each call's time from its publish to its answer seen by the
 * thread. Returns 0, or -1 with r->error set.
 */
int bench_inflight_drive(const struct bench_driver *d, shmipc_host *h,
                         struct bench_result *r);

#endif /* SHMIPC_BENCH_CELLS_INFLIGHT_H */
