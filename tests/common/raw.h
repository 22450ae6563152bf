/* SPDX-License-Identifier: MIT */
/*
 * A raw view of a segment, as a hostile peer or a crashed host would have
 * it (the unit suite, and under the hostile suite's hostile.h):
 * raw_linux.c and raw_windows.c. Functions return 0 (or the asked fact)
 * and a negative value when the OS call failed (Linux: -errno); the test
 * asserts.
 */
#ifndef SHMIPC_TEST_RAW_H
#define SHMIPC_TEST_RAW_H

#include <stddef.h>
#include <stdint.h>

struct raw {
  char name[80];
  intptr_t handle; /* the file descriptor or the mapping's handle */
  uint8_t *base;
  size_t size;
};

/* Open and map the segment of @name read-write. */
int raw_open(const char *name, struct raw *r);
void raw_close(struct raw *r);
/* 1 when the segment is accessible to its owner only (Linux: mode 0600;
 * Windows: owner and DACL name only the creating user), 0 when not. */
int raw_owner_only(struct raw *r);
/* 1 when a segment of @name exists, 0 when not. */
int raw_exists(const char *name);
/* Leave what a crashed host leaves behind under @name. */
int raw_make_stale(const char *name);
/* Change the segment's size; -2 when the OS cannot (Windows). */
int raw_resize(struct raw *r, size_t size);
/* Wake who announced @bit on the segment word @word (as a peer would). */
void raw_wake(struct raw *r, uint32_t *word, uint32_t bit);
/* Why raw_resize() cannot work here, or NULL. */
const char *raw_resize_unsupported(void);
/* Create under @name a segment this process may not open (as another
 * user's would be), kept until raw_forbidden_drop(); -2 when it cannot be
 * made here (see raw_forbidden_unsupported()). */
int raw_make_forbidden(const char *name);
void raw_forbidden_drop(void);
const char *raw_forbidden_unsupported(void);

#endif /* SHMIPC_TEST_RAW_H */
