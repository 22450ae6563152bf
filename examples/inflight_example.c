/* SPDX-License-Identifier: MIT */
/*
 * inflight_example: one host thread keeps four calls in flight.
 *
 *   inflight_example [NAME]
 *
 * Creates the segment NAME (default "MyIPC"), waits for a guest that
 * echoes (an echo guest, or `guest_example -name NAME`, which echoes type
 * 0), then makes 1000 calls from this one thread with four of them in
 * flight at any time: it publishes a call on each of four slots, waits for
 * whichever answers first (shmipc_slot_wait_any()), checks that answer and
 * publishes the next call on that slot. It prints "inflight_example: ok"
 * and exits 0 when every answer was its own request's.
 *
 * Build:  cc inflight_example.c $(pkg-config --cflags --libs libshmipc)
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <shmipc/shmipc.h>

#define CALLS 1000u
#define IN_FLIGHT 4u
#define SEC INT64_C(1000000000)

/* Acquire a slot and publish the call numbered @n on it. */
static int send_one(shmipc_host *h, uint32_t n, shmipc_slot **out)
{
  int r = shmipc_slot_acquire(h, 5 * SEC, out);

  if (r != SHMIPC_OK)
    return r;
  memcpy(shmipc_slot_req_buf(*out), &n, sizeof n);
  return shmipc_slot_publish(*out, 0, sizeof n, 0);
}

int main(int argc, char **argv)
{
  shmipc_host_config cfg;
  shmipc_host *h;
  shmipc_slot *slots[IN_FLIGHT];
  uint32_t sent[IN_FLIGHT], next = 0, done = 0, got;
  size_t i, live = 0;
  int r;

  shmipc_host_config_init(&cfg);
  cfg.name = argc > 1 ? argv[1] : "MyIPC";
  cfg.host_slots = IN_FLIGHT;
  cfg.guest_slots = 1;
  if ((r = shmipc_host_create(&cfg, &h)) != SHMIPC_OK ||
      (r = shmipc_host_wait_guest(h, 5 * SEC)) != SHMIPC_OK) {
    fprintf(stderr, "inflight_example: %s\n", shmipc_last_error());
    shmipc_host_destroy(h);
    return 1;
  }
  /* README:c-inflight begin */
  /* Four calls in flight from one thread. */
  for (i = 0; i < IN_FLIGHT; i++, live++) {
    sent[i] = next++;
    if ((r = send_one(h, sent[i], &slots[i])) != SHMIPC_OK)
      goto fail;
  }
  while (live > 0) {
    r = shmipc_slot_wait_any(slots, live, 5 * SEC, &i);
    if (r != SHMIPC_OK)
      goto fail; /* i == live: none ended (timeout); else slot i failed */
    memcpy(&got, shmipc_slot_resp_data(slots[i]), sizeof got);
    shmipc_slot_release(slots[i]);
    if (got != sent[i]) {
      fprintf(stderr, "inflight_example: answer %u to call %u\n", (unsigned)got,
              (unsigned)sent[i]);
      r = SHMIPC_E_CORRUPT;
      goto fail;
    }
    done++;
    if (next < CALLS) {
      sent[i] = next++;
      if ((r = send_one(h, sent[i], &slots[i])) != SHMIPC_OK)
        goto fail;
    } else { /* the set shrinks: the last one takes the place of i */
      live--;
      slots[i] = slots[live];
      sent[i] = sent[live];
    }
  }
  /* README:c-inflight end */
  printf("%u calls, %u in flight\ninflight_example: ok\n", (unsigned)done,
         IN_FLIGHT);
  shmipc_host_destroy(h);
  return 0;
fail:
  fprintf(stderr, "inflight_example: %s: %s\n", shmipc_strerror(r),
          shmipc_last_error());
  shmipc_host_destroy(h); /* frees the slots still held */
  return 1;
}
