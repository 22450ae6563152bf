/* SPDX-License-Identifier: MIT */
/*
 * The texts of the error codes, and the last error of each thread. The Go
 * guest's sentinels (go/errors.go) carry the same texts: tests/errors.txt
 * lists them, and the C and Go tests both check against it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const messages[] = {
    [-SHMIPC_OK] = "success",
    [-SHMIPC_E_INVALID] = "invalid argument or configuration",
    [-SHMIPC_E_NAME] = "invalid segment name",
    [-SHMIPC_E_NOMEM] = "out of memory",
    [-SHMIPC_E_EXISTS] = "segment exists and its host is alive",
    [-SHMIPC_E_NOT_FOUND] = "no such segment",
    [-SHMIPC_E_ACCESS] = "permission denied or segment owned by another user",
    [-SHMIPC_E_VERSION] = "protocol version mismatch",
    [-SHMIPC_E_CORRUPT] = "segment holds an illegal value",
    [-SHMIPC_E_TIMEOUT] = "timed out",
    [-SHMIPC_E_PEER_GONE] = "peer gone (closed, detached or died)",
    [-SHMIPC_E_TOO_BIG] = "request larger than the slot's capacity",
    [-SHMIPC_E_TRUNCATED] = "response larger than the caller's buffer",
    [-SHMIPC_E_REMOTE] = "peer answered with a system error",
    [-SHMIPC_E_BUSY] =
        "busy: no free slot, or in use by another guest or thread",
    [-SHMIPC_E_CLOSED] = "handle is closed or closing",
    [-SHMIPC_E_SYSTEM] = "operating-system call failed",
    [-SHMIPC_E_STATE] = "not valid in the handle's current state",
    [-SHMIPC_E_REFUSED] = "the receiver refused the stream",
    [-SHMIPC_E_ABORTED] = "aborted by another thread",
};

const char *shmipc_strerror(int code)
{
  /* A code left out of the table above reads NULL: unknown too. */
  if (code > 0 || code <= -(int)(sizeof messages / sizeof messages[0]) ||
      messages[-code] == NULL)
    return "unknown error";
  return messages[-code];
}

/* The calling thread's last failure: "<code's text>: <detail>", or the
 * code's text alone. A fixed buffer, so that recording a failure never
 * allocates and cannot fail itself. Only failure paths touch it. */
static SHMIPC__THREAD_LOCAL struct {
  int code;
  bool fresh;    /* set by shmipc__fail(), cleared by shmipc__failed() */
  size_t detail; /* where the detail starts in text (0: none) */
  char text[SHMIPC__ERROR_TEXT_MAX];
} last_error;

/* Write "<text of code>[: <detail>]" into the thread's buffer. */
static void compose(int code, const char *detail)
{
  const char *what = shmipc_strerror(code);
  size_t n = strlen(what), cap = sizeof last_error.text;

  if (n >= cap)
    n = cap - 1;
  memmove(last_error.text, what, n);
  last_error.detail = 0;
  if (detail != NULL && detail[0] != '\0' && n + 2 < cap) {
    size_t d = strlen(detail);
    last_error.text[n++] = ':';
    last_error.text[n++] = ' ';
    if (d > cap - 1 - n)
      d = cap - 1 - n;
    /* detail may point into text itself (shmipc__refail()) */
    memmove(last_error.text + n, detail, d);
    last_error.detail = n;
    n += d;
  }
  last_error.text[n] = '\0';
  last_error.code = code;
  last_error.fresh = true;
}

int shmipc__fail(int code, const char *fmt, ...)
{
  char detail[SHMIPC__ERROR_TEXT_MAX];
  va_list ap;

  detail[0] = '\0';
  if (fmt != NULL) {
    va_start(ap, fmt);
    (void)vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
  }
  compose(code, detail);
  return code;
}

int shmipc__fail_timeout(const char *field, int64_t value)
{
  return shmipc__fail(SHMIPC_E_INVALID,
                      "%s %lld, want 0 or more, SHMIPC_TIMEOUT_DEFAULT or "
                      "SHMIPC_TIMEOUT_INFINITE",
                      field, (long long)value);
}

int shmipc__refail(int code)
{
  char detail[SHMIPC__ERROR_TEXT_MAX];

  detail[0] = '\0';
  if (last_error.fresh && last_error.detail != 0)
    memcpy(detail, last_error.text + last_error.detail,
           strlen(last_error.text + last_error.detail) + 1);
  /* compose() copies the detail out of text before it rewrites it */
  compose(code, detail);
  return code;
}

int shmipc__failed_set(int code)
{
  /* A detail recorded for this very failure stays; anything else (an
   * older failure's text, or none) gives way to the code's own text. */
  if (!last_error.fresh || last_error.code != code)
    compose(code, NULL);
  last_error.fresh = false;
  return code;
}

const char *shmipc__last_detail(int code)
{
  return last_error.fresh && last_error.code == code && last_error.detail != 0
             ? last_error.text + last_error.detail
             : "";
}

const char *shmipc_last_error(void) { return last_error.text; }

void shmipc__quote(char *buf, size_t cap, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  /* Go's named escapes, for bytes 7 to 13: \a \b \t \n \v \f \r */
  static const char named[] = "abtnvfr";
  size_t n = 0, i;

  if (cap < 8) {
    if (cap > 0)
      buf[0] = '\0';
    return;
  }
  if (s == NULL) {
    snprintf(buf, cap, "(NULL)");
    return;
  }
  buf[n++] = '"';
  for (i = 0; s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    /* room for an escape, the closing quote, "..." and the NUL */
    if (n + 4 + 1 + 3 + 1 > cap) {
      memcpy(buf + n, "\"...", 5);
      return;
    }
    /* the escapes of Go's %q (strconv.Quote), for the same text */
    if (c == '"' || c == '\\') {
      buf[n++] = '\\';
      buf[n++] = (char)c;
    } else if (c >= 7 && c <= 13) {
      buf[n++] = '\\';
      buf[n++] = named[c - 7];
    } else if (c >= 0x20 && c < 0x7f) {
      buf[n++] = (char)c;
    } else {
      buf[n++] = '\\';
      buf[n++] = 'x';
      buf[n++] = hex[c >> 4];
      buf[n++] = hex[c & 15];
    }
  }
  buf[n++] = '"';
  buf[n] = '\0';
}

void shmipc__duration(char *buf, size_t cap, int64_t ns)
{
  /* As Go prints the common cases of a time.Duration: "500ms", "5s". */
  if (ns == INT64_MAX)
    snprintf(buf, cap, "no limit");
  else if (ns % INT64_C(1000000000) == 0)
    snprintf(buf, cap, "%llds", (long long)(ns / INT64_C(1000000000)));
  else if (ns % INT64_C(1000000) == 0)
    snprintf(buf, cap, "%lldms", (long long)(ns / INT64_C(1000000)));
  else if (ns % INT64_C(1000) == 0)
    snprintf(buf, cap, "%lldus", (long long)(ns / INT64_C(1000)));
  else
    snprintf(buf, cap, "%lldns", (long long)ns);
}

int shmipc__call_detail(const struct shmipc__endpoint *ep, int r,
                        const void *req, size_t req_len, const void *resp,
                        size_t resp_cap, const size_t *resp_len,
                        int64_t timeout_ns)
{
  struct shmipc__deadline dl;

  if (r == SHMIPC_E_INVALID && req == NULL && req_len > 0)
    return shmipc__fail(r, "req is NULL with req_len %llu",
                        (unsigned long long)req_len);
  if (r == SHMIPC_E_INVALID && resp == NULL && resp_cap > 0)
    return shmipc__fail(r, "resp is NULL with resp_cap %llu",
                        (unsigned long long)resp_cap);
  if (r == SHMIPC_E_INVALID && shmipc__timeout(ep, timeout_ns, &dl) != 0)
    return shmipc__fail_timeout("timeout_ns", timeout_ns);
  /* The Go guest's texts for the same facts (go/call.go). */
  if (r == SHMIPC_E_TOO_BIG && req_len > ep->seg.geom.req_capacity)
    return shmipc__fail(r, "%llu bytes, capacity %lu",
                        (unsigned long long)req_len,
                        (unsigned long)ep->seg.geom.req_capacity);
  if (r == SHMIPC_E_TRUNCATED && resp_len != NULL)
    return shmipc__fail(r, "response of %llu bytes, buffer of %llu",
                        (unsigned long long)*resp_len,
                        (unsigned long long)resp_cap);
  if (r == SHMIPC_E_REMOTE)
    return shmipc__fail(r, "the peer's handler failed; its reason is the "
                           "response");
  return r;
}
