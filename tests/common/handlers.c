/* SPDX-License-Identifier: MIT */
/* Small guest-call handlers (see handlers.h). */
#include <string.h>

#include "handlers.h"

int t_echo(void *user, uint32_t type, const void *req, size_t req_len,
           void *resp, size_t resp_cap, size_t *resp_len, uint32_t *resp_type)
{
  (void)user;
  if (req_len > resp_cap)
    return -1;
  memcpy(resp, req, req_len);
  *resp_len = req_len;
  *resp_type = type;
  return 0;
}

int t_upper(void *user, uint32_t type, const void *req, size_t req_len,
            void *resp, size_t resp_cap, size_t *resp_len, uint32_t *resp_type)
{
  size_t i;

  (void)user;
  (void)type;
  if (req_len > resp_cap)
    return -1;
  for (i = 0; i < req_len; i++) {
    char c = ((const char *)req)[i];
    ((char *)resp)[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
  }
  *resp_len = req_len;
  *resp_type = T_UPPER_TYPE;
  return 0;
}
