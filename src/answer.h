/* SPDX-License-Identifier: MIT */
/*
 * Large answers (docs/PROTOCOL.md, "Large answers"): the wire of the
 * LARGE_ANSWER announcement and of ANSWER_PULL, the guest's table of
 * parked answers, and the host's puller.
 */
#ifndef SHMIPC_ANSWER_H
#define SHMIPC_ANSWER_H

#include "internal.h"

/* The announcement: the whole response of type LARGE_ANSWER. */
#define SHMIPC__ANSWER_HDR 32u
/* A pull: the whole request of type ANSWER_PULL. */
#define SHMIPC__PULL_HDR 32u
/* A pull's answer: this header, then the data. */
#define SHMIPC__PULL_RESP 16u
#define SHMIPC__PULL_F_RELEASE 1u
#define SHMIPC__PULL_F_ABORT 2u
/* The smallest slot capacities large answers work with. */
#define SHMIPC__ANSWER_MIN_CAP 32u
/* Pulls in flight per transfer, at most (as many as there are host slots
 * free when the transfer starts, up to this). */
#define SHMIPC__PULL_WINDOW 16u

enum shmipc__pull_status {
  SHMIPC__PULL_OK = 0,
  SHMIPC__PULL_MALFORMED = 1,
  SHMIPC__PULL_UNKNOWN = 2,
  SHMIPC__PULL_BOUNDS = 3,
  SHMIPC__PULL_EXPIRED = 4,
  SHMIPC__PULL_ABORTED = 5,
};

enum shmipc__answer_state {
  SHMIPC__AST_NONE = 0,
  SHMIPC__AST_OPEN = 1,
  SHMIPC__AST_RELEASED = 2,
  SHMIPC__AST_DROPPED = 3,
};

struct shmipc__answer_hdr {
  uint64_t id, total;
  uint32_t app_type, flags;
  uint64_t reserved;
};

struct shmipc__pull {
  uint64_t id, offset;
  uint32_t len, flags;
  uint64_t reserved;
};

void shmipc__answer_hdr_put(void *p, const struct shmipc__answer_hdr *a);
void shmipc__answer_hdr_get(struct shmipc__answer_hdr *a, const void *p);
void shmipc__pull_put(void *p, const struct shmipc__pull *q);
void shmipc__pull_get(struct shmipc__pull *q, const void *p);
void shmipc__pull_resp_put(void *p, uint32_t status, uint32_t state,
                           uint64_t total);
void shmipc__pull_resp_get(const void *p, uint32_t *status, uint32_t *state,
                           uint64_t *total);
const char *shmipc__pull_status_name(uint32_t status);

/* Host: judge an announcement (a response of type LARGE_ANSWER of
 * @size bytes): SHMIPC_OK with *out, else SHMIPC_E_CORRUPT. */
int shmipc__answer_parse(size_t size, const void *resp,
                         struct shmipc__answer_hdr *out);
/* Host: judge the answer to pull @q of an answer of @total bytes:
 * SHMIPC_OK (the status is OK and *data, *len are the bytes);
 * SHMIPC_E_REMOTE (a legal refusal: *status and *state say which);
 * SHMIPC_E_CORRUPT (anything else). */
int shmipc__pull_judge(const struct shmipc__pull *q, uint64_t total,
                       uint32_t resp_type, size_t resp_size, const void *resp,
                       uint32_t *status, uint32_t *state, const uint8_t **data);

/* Guest: the table of parked answers of one guest. */
struct shmipc__answers;
struct shmipc_answer {
  const void *data;
  size_t len;
  shmipc_release_fn release;
  void *release_ctx;
  bool set;
};
/* SHMIPC_OK, SHMIPC_E_INVALID (limits), SHMIPC_E_NOMEM, SHMIPC_E_SYSTEM. */
int shmipc__answers_create(const shmipc_answer_limits *lim, shmipc_answer_fn fn,
                           void *user, uint32_t req_capacity,
                           struct shmipc__answers **out);
/* Drop every parked answer; nothing may serve through the table. */
void shmipc__answers_destroy(struct shmipc__answers *a);
/* Drop every parked answer not being copied now (the session ended). */
void shmipc__answers_clear(struct shmipc__answers *a);
/* Drop the answers idle longer than the idle timeout. */
void shmipc__answers_sweep(struct shmipc__answers *a);
/* How often the workers' idle path sweeps. */
int64_t shmipc__answers_tick_ns(const struct shmipc__answers *a);
/* The shmipc_handler_fn that serves through the table (@user is it). */
int shmipc__answers_handle(void *user, uint32_t type, const void *req,
                           size_t req_len, void *resp, size_t resp_cap,
                           size_t *resp_len, uint32_t *resp_type);
void shmipc__answers_stats(struct shmipc__answers *a, shmipc_answer_stats *out);
/* Tests: the table's clock (nanoseconds). */
void shmipc__answers_set_clock(struct shmipc__answers *a,
                               int64_t (*now)(void *), void *arg);

/* Host: the answer announced in held slot @s (DONE, its response of type
 * LARGE_ANSWER), pulled into @buf (@cap bytes: TRUNCATED above it, after
 * the guest was told to drop it; NULL with @alloc: allocated into *alloc)
 * or handed to @fn. @s carries the first pull and is left holding no
 * response (or LOST). *total and *type are the announcement's. */
struct shmipc__pull_sink {
  uint8_t *buf;
  size_t cap;
  void **alloc;
  shmipc_chunk_fn fn;
  void *user;
};
int shmipc__answer_fetch(shmipc_slot *s, uint64_t max_answer,
                         const struct shmipc__pull_sink *sink, uint64_t *total,
                         uint32_t *type, struct shmipc__deadline *dl,
                         bool *counted);

#endif /* SHMIPC_ANSWER_H */
