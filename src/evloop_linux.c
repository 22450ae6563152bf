/* SPDX-License-Identifier: MIT */
/*
 * The event-loop handle on Linux: an eventfd, readable while signalled.
 * The library's thread sleeps on the armed segment words and on its
 * control word with one futex_waitv(2) (shmipc__words_wait()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"

struct shmipc__evos {
  int fd;
};

int shmipc__evos_open(struct shmipc__evos **out, intptr_t *handle)
{
  struct shmipc__evos *o = malloc(sizeof *o);

  if (o == NULL)
    return SHMIPC_E_NOMEM;
  o->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (o->fd < 0) {
    int e = errno;
    free(o);
    return shmipc__fail(SHMIPC_E_SYSTEM, "eventfd: errno %d", e);
  }
  *out = o;
  *handle = o->fd;
  return SHMIPC_OK;
}

void shmipc__evos_close(struct shmipc__evos *o)
{
  if (o == NULL)
    return;
  close(o->fd);
  free(o);
}

void shmipc__evos_signal(struct shmipc__evos *o)
{
  uint64_t one = 1;

  /* Only EAGAIN can fail it (the counter is full): signalled anyway. */
  while (write(o->fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

void shmipc__evos_reset(struct shmipc__evos *o)
{
  uint64_t n;

  /* Non-blocking: EAGAIN when it was not signalled. */
  while (read(o->fd, &n, sizeof n) < 0 && errno == EINTR)
    ;
}

void shmipc__evos_kick(struct shmipc__evos *o, uint32_t *ctl)
{
  (void)o;
  shmipc__futex_wake(ctl);
}

void shmipc__evos_sleep(struct shmipc__evos *o, const struct shmipc__seg *s,
                        const struct shmipc__sleeper *w, uint32_t n,
                        uint32_t *ctl, uint32_t ctl_seen, uint32_t *abort_seq,
                        uint32_t abort_seen, int64_t timeout_ns)
{
  /* the segment's words, the abort word (futex_waitv takes private
   * words too: the shared flavour works on any memory), then ctl */
  struct shmipc__sleeper all[SHMIPC__EVLOOP_WORDS_MAX + 1];
  uint32_t i, k = 0;

  (void)o;
  if (n == 0) {
    shmipc__futex_wait(ctl, ctl_seen, timeout_ns);
    return;
  }
  for (i = 0; i < n && k < SHMIPC__EVLOOP_WORDS_MAX; i++)
    all[k++] = w[i];
  if (k < n && timeout_ns > SHMIPC__WORDS_POLL_NS)
    timeout_ns = SHMIPC__WORDS_POLL_NS; /* the others: looked at often */
  all[k].word = abort_seq;
  all[k].expected = abort_seen;
  all[k].bit = 0;
  k++;
  shmipc__words_wait(s, all, k, ctl, ctl_seen, timeout_ns);
}
