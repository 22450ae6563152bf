/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the C host's validation of what a guest writes back
 * (docs/PROTOCOL.md, "Validation"). A real host in this process publishes a
 * request; a fake guest (tests/hostile, holding the guest's liveness lock)
 * takes it and writes a response header, payload and control word decoded
 * from the input; the host's shmipc_slot_wait() must return an error code
 * or a response that lies inside the slot, and the sender's judgement of a
 * stream answer must accept only legal answers. ASan/UBSan catch any read
 * outside the mapping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "internal.h"

#define CAP 64u
#define SLOTS 4u

static shmipc_host *host;
static struct hostile_seg raw;
static char name[64];

static void die(const char *what)
{
  fprintf(stderr, "fuzz_answer: %s\n", what);
  abort();
}

static void setup(void)
{
  shmipc_host_config c;

  snprintf(name, sizeof name, "fuzz-answer-%d", (int)getpid());
  shmipc_host_config_init(&c);
  c.name = name;
  c.host_slots = SLOTS;
  c.req_capacity = CAP;
  c.resp_capacity = CAP;
  c.spin_budget = 1;
  if (shmipc_host_create(&c, &host) != SHMIPC_OK)
    die("host create");
  if (hostile_open(name, &raw) != 0 || hostile_guest_attach(&raw) != 0)
    die("fake guest attach");
}

static void teardown(void);

static void at_exit(void) { teardown(); }

static void teardown(void)
{
  hostile_guest_detach(&raw);
  hostile_close(&raw);
  shmipc_host_destroy(host);
}

static shmipc_slot *acquire(void)
{
  shmipc_slot *s;
  int tries;

  for (tries = 0; tries < 3; tries++) {
    if (shmipc_slot_try_acquire(host, &s) == SHMIPC_OK)
      return s;
    if (tries == 0) {
      /* every slot quarantined: a new guest epoch lets the host take them
       * back */
      hostile_guest_detach(&raw);
      if (hostile_guest_attach(&raw) != 0)
        die("fake guest re-attach");
    } else {
      teardown();
      setup();
    }
  }
  die("no slot after a fresh host");
  return NULL;
}

static uint32_t get32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  static int ready;
  struct shmipc_wire_slot *w;
  uint8_t in[24 + CAP] = {0}, *resp;
  shmipc_slot *s;
  uint32_t v, gen, ctrl, mode;
  uint32_t status, state, mp;
  size_t size;
  int r;

  if (!ready) {
    setup();
    atexit(at_exit);
    ready = 1;
  }
  memcpy(in, d, n < sizeof in ? n : sizeof in);
  s = acquire();
  w = hostile_slot(&raw, s->index);
  resp = hostile_resp_buf(&raw, s->index);
  if (w == NULL || resp == NULL)
    die("raw view of the slot");
  if (shmipc_slot_publish(s, in[0], in[1] % (CAP + 1), 0) != SHMIPC_OK)
    die("publish");
  /* The fake guest takes the request as a guest does... */
  v = hostile_load32(&w->ctrl);
  gen = v & ~(SHMIPC_CTRL_GEN_ONE - 1);
  if ((v & SHMIPC_CTRL_STATE_MASK) != SHMIPC_SLOT_REQ_READY ||
      hostile_cas32(&w->ctrl, v, gen | SHMIPC_SLOT_PROCESSING) != v)
    die("published slot not REQ_READY");
  /* ...and answers with whatever the input says. */
  mode = in[2] & 7;
  w->resp_type = get32(in + 4);
  w->resp_size = (in[3] & 0x80) ? get32(in + 8) : get32(in + 8) % (CAP + 4);
  w->resp_flags = (in[3] & 0x40) ? get32(in + 12) : (in[3] & 1);
  w->resp_seq = w->req_seq + ((in[3] & 0x20) ? get32(in + 16) : 0);
  memcpy(resp, in + 24, CAP);
  switch (mode) {
  case 0:
  case 1:
  case 2:
    ctrl = gen | SHMIPC_SLOT_RESP_READY;
    break;
  case 3:
    ctrl = get32(in + 20); /* anything */
    break;
  case 4:
    ctrl = (gen + SHMIPC_CTRL_GEN_ONE) | SHMIPC_SLOT_RESP_READY;
    break;
  case 5:
    ctrl = gen | SHMIPC_SLOT_RESP_READY | (get32(in + 20) & 0xff);
    break;
  case 6:
    ctrl = gen | (get32(in + 20) & SHMIPC_CTRL_STATE_MASK);
    break;
  default:
    ctrl = gen | SHMIPC_SLOT_PROCESSING; /* never answers */
    break;
  }
  hostile_store32(&w->ctrl, ctrl);

  r = shmipc_slot_wait(s, 0);
  switch (r) {
  case SHMIPC_OK:
  case SHMIPC_E_REMOTE:
    size = shmipc_slot_resp_size(s);
    if (size > CAP)
      die("response larger than the slot accepted");
    if (size > 0) {
      const uint8_t *p = shmipc_slot_resp_data(s);
      volatile uint8_t sum = 0;
      size_t k;
      /* the host's own view of the buffer, not the fake guest's */
      if (p < s->resp || p + size > s->resp + CAP)
        die("response data outside the response buffer");
      for (k = 0; k < size; k++)
        sum ^= p[k];
      (void)sum;
    }
    if (shmipc__stream_answer(SHMIPC_MSG_STREAM_START, shmipc_slot_resp_type(s),
                              size, shmipc_slot_resp_data(s), &status, &state,
                              &mp) == SHMIPC_OK) {
      if (size != SHMIPC__STREAM_RESP ||
          shmipc_slot_resp_type(s) != SHMIPC_MSG_STREAM_START ||
          state > SHMIPC__SST_DROPPED ||
          (status == SHMIPC_STREAM_OK && state == SHMIPC__SST_NONE))
        die("an illegal stream answer was accepted");
    }
    break;
  case SHMIPC_E_CORRUPT:
  case SHMIPC_E_TIMEOUT:
  case SHMIPC_E_PEER_GONE:
    break;
  default:
    fprintf(stderr, "fuzz_answer: wait returned %d\n", r);
    abort();
  }
  shmipc_slot_release(s);
  return 0;
}
