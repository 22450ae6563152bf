/* SPDX-License-Identifier: MIT */
/*
 * Counts of what waits do (spins, yields, sleeps, wakes), per thread, in a
 * build made with -DSHMIPC_WAIT_STATS only (a diagnosis build; the
 * default build compiles every count away). At exit each process appends
 * one line per thread that counted anything to the file named by the
 * environment variable SHMIPC_WAIT_STATS (stderr if unset).
 */
#ifndef SHMIPC_WAITSTATS_H
#define SHMIPC_WAITSTATS_H

enum shmipc__ws {
  SHMIPC__WS_SPIN,    /* a pause in a spin loop */
  SHMIPC__WS_YIELD,   /* sched_yield / SwitchToThread */
  SHMIPC__WS_SLEEP,   /* a futex wait (or event wait) */
  SHMIPC__WS_WAKE,    /* a futex wake (or event signal) */
  SHMIPC__WS_ANSWER,  /* requester: an answer taken */
  SHMIPC__WS_SERVED,  /* responder: a request answered */
  SHMIPC__WS_FASTHIT, /* responder: request taken by take_next */
  SHMIPC__WS_SLOW,    /* a wait that reached its sleep phase */
  SHMIPC__WS_COUNT
};

#if defined(SHMIPC_WAIT_STATS) && defined(__linux__)
void shmipc__ws_add(enum shmipc__ws what);
#define SHMIPC__WS(what) shmipc__ws_add(SHMIPC__WS_##what)
#else
#define SHMIPC__WS(what) ((void)0)
#endif

#endif /* SHMIPC_WAITSTATS_H */
