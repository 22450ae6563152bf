/* SPDX-License-Identifier: MIT */
/*
 * The two-copy pipe: the floor of any transfer that copies every byte
 * twice, once on each of two CPUs, as a stream or a large answer through
 * shared slots does. No library, no protocol: two threads of this process
 * and a ring of slots.
 */
#ifndef SHMIPC_BENCH_PIPE_H
#define SHMIPC_BENCH_PIPE_H

#include <stddef.h>

#include "cells_shmipc.h"

/**
 * Move p->bytes from one buffer to another through a ring of p->slots
 * slots of p->slot_bytes: a producer thread copies each chunk from the
 * source into the next free slot (memcpy, as the library's senders do), the
 * calling thread copies it out of the slot into the destination with the
 * library's streaming-store copy (as the library's receivers of large
 * transfers do), and each side waits for the other on one word per
 * direction (spin, then yield). p->reps times, each right after a memcpy of
 * the same bytes; @p out holds the medians as the stream cells' do. With
 * p->pin, the calling thread runs on pair 0's client CPU and the producer
 * on its server CPU. A side that waits more than 10 s fails the run.
 * Returns 0, or -1 with a reason in @p err.
 */
int bench_pipe_run(const struct stream_params *p, struct stream_result *out,
                   char *err, size_t errlen);

#endif /* SHMIPC_BENCH_PIPE_H */
