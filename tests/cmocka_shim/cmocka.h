/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for the part of cmocka that the unit, layout and interop
 * suites use, for targets where cmocka is not packaged (the MinGW-w64
 * cross build run under Wine). Same names, same output lines, same exit
 * status (the number of failed tests). A failed assertion ends its test
 * with longjmp, so assertions belong to the test's own thread, as with
 * cmocka.
 */
#ifndef SHMIPC_CMOCKA_SHIM_H
#define SHMIPC_CMOCKA_SHIM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
  const char *name;
  CMUnitTestFunction test_func;
};

#define cmocka_unit_test(f)                                                    \
  {                                                                            \
#f, f                                                                      \
  }

static jmp_buf cm_shim_jump;

static void cm_shim_fail(const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "[  ERROR   ] --- ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n[   LINE   ] --- %s:%d: error: Failure!\n", file, line);
  fflush(stderr);
  longjmp(cm_shim_jump, 1);
}

#define cm_shim_check(cond, ...)                                               \
  do {                                                                         \
    if (!(cond))                                                               \
      cm_shim_fail(__FILE__, __LINE__, __VA_ARGS__);                           \
  } while (0)

#define assert_true(c) cm_shim_check((c), "%s", #c)
#define assert_false(c) cm_shim_check(!(c), "!(%s)", #c)
#define assert_null(p) cm_shim_check((p) == NULL, "%s is not NULL", #p)
#define assert_non_null(p) cm_shim_check((p) != NULL, "%s is NULL", #p)
#define assert_int_equal(a, b)                                                 \
  do {                                                                         \
    long long cm_a_ = (long long)(a), cm_b_ = (long long)(b);                  \
    cm_shim_check(cm_a_ == cm_b_, "%lld != %lld (%s, %s)", cm_a_, cm_b_, #a,   \
                  #b);                                                         \
  } while (0)
#define assert_int_not_equal(a, b)                                             \
  do {                                                                         \
    long long cm_a_ = (long long)(a), cm_b_ = (long long)(b);                  \
    cm_shim_check(cm_a_ != cm_b_, "%lld == %lld (%s, %s)", cm_a_, cm_b_, #a,   \
                  #b);                                                         \
  } while (0)
#define assert_ptr_equal(a, b)                                                 \
  cm_shim_check((const void *)(a) == (const void *)(b), "%s != %s", #a, #b)
#define assert_ptr_not_equal(a, b)                                             \
  cm_shim_check((const void *)(a) != (const void *)(b), "%s == %s", #a, #b)
#define assert_memory_equal(a, b, n)                                           \
  cm_shim_check(memcmp((a), (b), (n)) == 0, "%s and %s differ", #a, #b)
#define assert_string_equal(a, b)                                              \
  cm_shim_check(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))
#define assert_string_not_equal(a, b)                                          \
  cm_shim_check(strcmp((a), (b)) != 0, "\"%s\" == \"%s\"", (a), (b))
#define fail_msg(...) cm_shim_fail(__FILE__, __LINE__, __VA_ARGS__)
#define fail() cm_shim_fail(__FILE__, __LINE__, "fail()")

static int cm_shim_run(const char *group, const struct CMUnitTest *tests,
                       size_t n)
{
  /* volatile: kept across the longjmp out of a failed test */
  volatile size_t i, failed = 0;

  printf("[==========] %s: Running %u test(s).\n", group, (unsigned)n);
  for (i = 0; i < n; i++) {
    void *state = NULL;

    printf("[ RUN      ] %s\n", tests[i].name);
    fflush(stdout);
    if (setjmp(cm_shim_jump) == 0) {
      tests[i].test_func(&state);
      printf("[       OK ] %s\n", tests[i].name);
    } else {
      failed++;
      printf("[  FAILED  ] %s\n", tests[i].name);
    }
    fflush(stdout);
  }
  printf("[==========] %s: %u test(s) run.\n", group, (unsigned)n);
  printf("[  PASSED  ] %u test(s).\n", (unsigned)(n - failed));
  if (failed)
    printf("[  FAILED  ] %u test(s).\n", (unsigned)failed);
  fflush(stdout);
  return (int)failed;
}

#define cmocka_run_group_tests_name(name, tests, setup, teardown)              \
  cm_shim_run((name), (tests), sizeof(tests) / sizeof((tests)[0]))
#define cmocka_run_group_tests(tests, setup, teardown)                         \
  cmocka_run_group_tests_name(#tests, tests, setup, teardown)

#endif /* SHMIPC_CMOCKA_SHIM_H */
