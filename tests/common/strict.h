/* SPDX-License-Identifier: MIT */
/*
 * Whether a test that cannot run here (a missing peer binary, a missing
 * privilege) is a failure. The build decides it once (meson option
 * strict_tests) and hands it to every test as SHMIPC_TEST_STRICT=1 in the
 * environment; no test decides it for itself.
 */
#ifndef SHMIPC_TEST_STRICT_H
#define SHMIPC_TEST_STRICT_H

#include <stdbool.h>

/* Exit status of a test that is skipped (Meson's convention). */
#define T_EXIT_SKIP 77

/* True when the build was set up with -Dstrict_tests=true. */
bool t_strict(void);

/* Say on stderr why the test cannot run (printf-style @fmt) and return
 * the exit status for it: 77 (skipped), or 1 (failed) under strict_tests. */
int t_cannot_run(const char *fmt, ...);

#endif /* SHMIPC_TEST_STRICT_H */
