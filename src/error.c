/* SPDX-License-Identifier: MIT */
/*
 * The texts of the error codes. The Go guest's sentinels (go/errors.go)
 * carry the same texts: tests/errors.txt lists them, and the C and Go tests
 * both check against it.
 */
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
    [-SHMIPC_E_BUSY] = "busy: no free slot, or a guest is already attached",
    [-SHMIPC_E_CLOSED] = "handle is closed or closing",
    [-SHMIPC_E_SYSTEM] = "operating-system call failed",
    [-SHMIPC_E_STATE] = "not valid in the slot's current state",
    [-SHMIPC_E_REFUSED] = "the receiver refused the stream",
};

const char *shmipc_strerror(int code)
{
  /* A code left out of the table above reads NULL: unknown too. */
  if (code > 0 || code <= -(int)(sizeof messages / sizeof messages[0]) ||
      messages[-code] == NULL)
    return "unknown error";
  return messages[-code];
}
