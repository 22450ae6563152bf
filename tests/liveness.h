/* SPDX-License-Identifier: MIT */
/*
 * What the liveness, names and access tests share (liveness.c): their
 * command line, segment names and files, the peers they start (an echo
 * guest, crash_host, attach_probe: tests/common/proc.h with captured
 * output), hosts in this process, echo traffic and slot checks.
 *
 *   PROGRAM GUEST CRASH_HOST PROBE
 *
 * GUEST is an echo guest (tests/ECHO_GUEST.md: the C one or the Go one),
 * CRASH_HOST is tests/crash_host.c, PROBE is tests/attach_probe.c. A
 * missing binary is a test that cannot run (tests/common/strict.h).
 *
 * Every wait is bounded and says what it waited for; every child process
 * is killed and reaped on every path (lv_teardown() kills what a failed
 * test left), and also dies with this process. Segment names are unique:
 * liveness-PID-N.
 */
#ifndef SHMIPC_TEST_LIVENESS_H
#define SHMIPC_TEST_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "proc.h"

#define MS T_MS
#define CAP 4096u
#define NOBODY PROC_NOBODY
/* The guests' and the hosts' default liveness interval is 50 ms: a peer's
 * death must be noticed well within this. */
#define DETECT_BOUND_MS 200
/* However loaded the machine, never more than this. */
#define HARD_BOUND_MS 2000

extern const char *guest_path, *crash_host_path, *probe_path;
extern const char *guest_label; /* basename of guest_path, for messages */

/* Check the command line and the binaries: 0 with the group's title
 * ("@group GUEST") in @title, or main()'s exit status. */
int lv_init(int argc, char **argv, const char *group, char *title,
            size_t title_len);
/* Every test's teardown: kills the children and destroys the hosts a
 * failed test left, and removes its segment files. */
int lv_teardown(void **state);

/* Names and segment files */
void new_name(char *buf, size_t len);
/* 1 if the segment file of @name exists (its stat in @st if not NULL). */
int seg_exists(const char *name, struct stat *st);
/* Segment files of this test process in /dev/shm (names liveness-PID-*),
 * their names in @list. */
int our_segments(char *list, size_t len);
void assert_no_segments(const char *when);

/* Peers in other processes, stdout and stderr captured */
void spawn(struct proc *c, bool as_nobody, const char *const argv[]);
void spawn_guest(struct proc *c, const char *name, bool as_nobody,
                 int timeout_ms);
/* crash_host -name NAME [EXTRA1 [EXTRA2]] */
void spawn_crash_host(struct proc *c, const char *name, const char *extra1,
                      const char *extra2, bool as_nobody);
/* Wait for a stdout line starting with @prefix; fail with what the child
 * said otherwise. */
void expect_line(struct proc *c, const char *who, const char *prefix, int ms);
/* The child must end with exit status @code within @ms. */
void expect_exit(struct proc *c, const char *who, int code, int ms);
/* True when the child has ended within @ms. */
bool ended_within(struct proc *c, int ms);

/* Hosts in this process (destroyed by lv_teardown() after a failure) */
shmipc_host *host_new(const char *name, uint32_t slots, uint32_t mode);
void host_free(shmipc_host *h);
/* shmipc_host_create() of a 1-slot host, its code returned. */
int host_try(const char *name, shmipc_host **out);
void wait_guest(shmipc_host *h, struct proc *g, const char *name);

/* Traffic */
uint64_t rng_next(uint64_t *x);
/* @n echo calls of random sizes, each checked. */
void echo_calls(shmipc_host *h, int n, uint64_t seed);
/* Hold every host slot at once, with a call in flight on each: shows that
 * none is lost or still quarantined. Returns false with a message in @err
 * (it never fails the test itself: callers may have threads to stop). */
bool slots_check(shmipc_host *h, uint32_t n, const char *when, char *err,
                 size_t errlen);
void all_slots_usable(shmipc_host *h, uint32_t n, const char *when);
/* Median and worst of @v (sorted in place), in ms. */
void stats(int64_t *v, int n, double *median, double *worst);

#endif /* SHMIPC_TEST_LIVENESS_H */
