/* SPDX-License-Identifier: MIT */
/* Small guest-call handlers (shmipc_handler_fn) the suites share. */
#ifndef SHMIPC_TEST_HANDLERS_H
#define SHMIPC_TEST_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include <shmipc/shmipc.h>

/* Answers with the request and its type; -1 (an error answer) when it
 * does not fit. */
int t_echo(void *user, uint32_t type, const void *req, size_t req_len,
           void *resp, size_t resp_cap, size_t *resp_len, uint32_t *resp_type);

/* The type t_upper() answers with. */
#define T_UPPER_TYPE (SHMIPC_MSG_APP_START + 7)

/* Answers with the request, ASCII letters upper-cased, of type
 * T_UPPER_TYPE; -1 (an error answer) when it does not fit. */
int t_upper(void *user, uint32_t type, const void *req, size_t req_len,
            void *resp, size_t resp_cap, size_t *resp_len, uint32_t *resp_type);

#endif /* SHMIPC_TEST_HANDLERS_H */
