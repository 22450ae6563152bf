/* SPDX-License-Identifier: MIT */
/*
 * What the two hostile programs share (session.c): the command line, the
 * peers they start (tests/common/proc.h, output captured) and how a peer's
 * end is judged, host sessions with a raw view of their segment
 * (hostile.h), and the open findings.
 *
 *   PROGRAM TOOL GUEST
 *
 * TOOL is shmipc-hostile (hostile_main.c), GUEST an echo guest
 * (tests/ECHO_GUEST.md: the C one or the Go one). A missing binary is a
 * test that cannot run (tests/common/strict.h). Every wait is bounded in
 * time. The knobs (SHMIPC_TEST_HOSTILE_*) are listed in tests/README.md.
 */
#ifndef SHMIPC_TEST_HOSTILE_SESSION_H
#define SHMIPC_TEST_HOSTILE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shmipc/shmipc.h>

#include "clock.h"
#include "hostile.h"
#include "proc.h"

#define MS T_MS
#define CAP 256u

extern const char *tool_path, *guest_path;

/* Check the command line and the binaries: 0 with the group's title
 * ("@what GUEST") in @title, or main()'s exit status. */
int hostile_init(int argc, char **argv, const char *what, char *title,
                 size_t title_len);
/* cmocka group teardown: removes the segment files failed tests left. */
int hostile_cleanup(void **state);

/* An open finding @id (see session.c): fails the test, unless
 * SHMIPC_TEST_HOSTILE_KNOWN=skip, which only prints it. */
bool known(const char *id, const char *fmt, ...);

/* Peers, stdout and stderr captured */
void spawn(struct proc *c, const char *const argv[]);
void spawn_guest(struct proc *c, const char *name, int timeout_ms);
/* True when the child has ended within @ms. */
bool ended_within(struct proc *c, int ms);

/* Exit outcomes */
#define ALIVE 1u
#define EXIT0 2u
#define EXITERR 4u

/* The child has ended: check that it ended cleanly (no signal, no crash
 * report in its output, a message with a failure) and classify it. */
unsigned child_verdict(struct proc *c, const char *what);

/* A host in this process, named hostile-PID-N, with its raw view. */
struct sess {
  char name[64];
  shmipc_host *h;
  struct proc g;
  struct hostile_seg raw;
  uint32_t hs, gs;
};

/* A host with @hs host slots and @gs guest slots. */
void host_create(struct sess *s, uint32_t hs, uint32_t gs);
/* The same, with GUEST attached. */
void sess_start(struct sess *s, uint32_t hs, uint32_t gs);
/* One echo call with a unique payload; SHMIPC_OK only with exactly the
 * right answer (a wrong answer fails the test at once). */
int ping(struct sess *s, int64_t timeout_ns);
/* After a corruption: the guest either ends (EXIT0 / EXITERR, checked
 * clean) within @settle_ms, or keeps serving (ALIVE: a ping works); it
 * must be one of @allowed. */
unsigned expect(struct sess *s, unsigned allowed, int settle_ms,
                const char *what);
/* Close the host; the guest (if still there) must end cleanly. */
void sess_end(struct sess *s, const char *what);
uint32_t ctrl_of(struct sess *s, uint32_t slot);
/* In-process guest attach attempt, as a NEW guest would. */
int attach_rc(const char *name, int connect_ms);
/* A second guest process attaching to this (corrupt) segment must fail
 * with a message and a non-zero status, quickly and without crashing. */
void new_guest_refused(const char *name, const char *what);
/* The codes a call may end with while a peer lies (the rest is a bug). */
bool allowed_error(int r);

#endif /* SHMIPC_TEST_HOSTILE_SESSION_H */
