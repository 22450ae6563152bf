/* SPDX-License-Identifier: MIT */
/*
 * The C side of the error-text contract: every row of tests/errors.txt
 * (code, name, text) must match the public SHMIPC_E_* value of that name
 * and what shmipc_strerror() returns, and every code must have its row.
 * go/errors_test.go checks the Go sentinels against the same file.
 *
 * Usage: test-errors ERRORS_FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmipc/shmipc.h"

static const struct {
  const char *name;
  int code;
} codes[] = {
    {"ok", SHMIPC_OK},
    {"invalid", SHMIPC_E_INVALID},
    {"name", SHMIPC_E_NAME},
    {"nomem", SHMIPC_E_NOMEM},
    {"exists", SHMIPC_E_EXISTS},
    {"not_found", SHMIPC_E_NOT_FOUND},
    {"access", SHMIPC_E_ACCESS},
    {"version", SHMIPC_E_VERSION},
    {"corrupt", SHMIPC_E_CORRUPT},
    {"timeout", SHMIPC_E_TIMEOUT},
    {"peer_gone", SHMIPC_E_PEER_GONE},
    {"too_big", SHMIPC_E_TOO_BIG},
    {"truncated", SHMIPC_E_TRUNCATED},
    {"remote", SHMIPC_E_REMOTE},
    {"busy", SHMIPC_E_BUSY},
    {"closed", SHMIPC_E_CLOSED},
    {"system", SHMIPC_E_SYSTEM},
    {"state", SHMIPC_E_STATE},
    {"refused", SHMIPC_E_REFUSED},
    {"aborted", SHMIPC_E_ABORTED},
};

#define NCODES (sizeof codes / sizeof codes[0])

int main(int argc, char **argv)
{
  char line[512], name[64];
  int seen[NCODES] = {0};
  int failures = 0, rows = 0, lineno = 0, code, n;
  size_t i, len;
  FILE *f;

  if (argc != 2) {
    fprintf(stderr, "usage: test-errors ERRORS_FILE\n");
    return 2;
  }
  f = fopen(argv[1], "r");
  if (f == NULL) {
    fprintf(stderr,
            "%s: cannot open (shared with the Go tests, it must be "
            "readable)\n",
            argv[1]);
    return 1;
  }
  while (fgets(line, sizeof line, f) != NULL) {
    const char *text;

    lineno++;
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (len == 0 || line[0] == '#')
      continue;
    if (sscanf(line, "%d %63s %n", &code, name, &n) != 2 || line[n] == '\0') {
      fprintf(stderr, "%s:%d: want CODE NAME TEXT, got \"%s\"\n", argv[1],
              lineno, line);
      failures++;
      continue;
    }
    text = line + n;
    rows++;
    for (i = 0; i < NCODES && strcmp(codes[i].name, name) != 0; i++)
      ;
    if (i == NCODES) {
      fprintf(stderr, "%s:%d: %s: no such code in shmipc.h\n", argv[1], lineno,
              name);
      failures++;
      continue;
    }
    if (seen[i]++) {
      fprintf(stderr, "%s:%d: %s listed twice\n", argv[1], lineno, name);
      failures++;
    }
    if (codes[i].code != code) {
      fprintf(stderr, "%s:%d: %s is %d in the file, %d in shmipc.h\n", argv[1],
              lineno, name, code, codes[i].code);
      failures++;
    }
    if (strcmp(shmipc_strerror(codes[i].code), text) != 0) {
      fprintf(stderr,
              "%s:%d: %s: shmipc_strerror() says \"%s\", the file "
              "\"%s\"\n",
              argv[1], lineno, name, shmipc_strerror(codes[i].code), text);
      failures++;
    }
  }
  fclose(f);
  for (i = 0; i < NCODES; i++) {
    if (!seen[i]) {
      fprintf(stderr, "%s: %s (%d) has no row\n", argv[1], codes[i].name,
              codes[i].code);
      failures++;
    }
  }
  /* Outside the set, and just past either end of it. */
  if (strcmp(shmipc_strerror(1), "unknown error") != 0 ||
      strcmp(shmipc_strerror(SHMIPC_E_ABORTED - 1), "unknown error") != 0) {
    fprintf(stderr, "a code outside the set does not read \"unknown error\"\n");
    failures++;
  }
  printf("%d rows, %d failures\n", rows, failures);
  return failures == 0 && rows > 0 ? 0 : 1;
}
