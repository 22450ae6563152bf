/* SPDX-License-Identifier: MIT */
#include "internal.h"

static const char *const messages[] = {
    "success",
    "invalid argument or configuration",
    "invalid segment name",
    "out of memory",
    "segment exists and its host is alive",
    "no such segment",
    "permission denied or segment owned by another user",
    "protocol version mismatch",
    "segment holds an illegal value",
    "timed out",
    "peer gone (closed, detached or died)",
    "request larger than the slot's capacity",
    "response larger than the caller's buffer",
    "peer answered with a system error",
    "busy: no free slot, or a guest is already attached",
    "handle is closing",
    "operating-system call failed",
    "not valid in the slot's current state",
    "the receiver refused the stream",
};

const char *shmipc_strerror(int code)
{
  if (code > 0 || code <= -(int)(sizeof messages / sizeof messages[0]))
    return "unknown error";
  return messages[-code];
}
