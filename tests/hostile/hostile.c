/* SPDX-License-Identifier: MIT */
/*
 * The hostile peer's toolbox (see hostile.h). Test-only code: it writes
 * whatever it is told to into a live segment.
 */
#define _GNU_SOURCE
#include "hostile.h"

#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int hostile_open(const char *name, struct hostile_seg *s)
{
  int r;

  memset(s, 0, sizeof *s);
  r = raw_open(name, &s->r);
  if (r != 0) {
    s->r.base = NULL;
    return r;
  }
  if (s->r.size >= sizeof(struct shmipc_wire_header)) {
    const struct shmipc_wire_header *h = hostile_hdr(s);
    s->host_slots = h->host_slots;
    s->guest_slots = h->guest_slots;
    s->req_capacity = h->req_capacity;
    s->resp_capacity = h->resp_capacity;
    s->slot_stride = h->slot_stride;
  }
  return 0;
}

void hostile_close(struct hostile_seg *s)
{
  if (s->r.base != NULL)
    raw_close(&s->r);
  s->r.base = NULL;
}

/* Byte offset of slot @i, or 0 when the slot (header and both buffers as
 * the raw geometry describes them) does not fit the mapping. */
static uint64_t slot_off(const struct hostile_seg *s, uint32_t i)
{
  uint64_t off, need;

  if (s->slot_stride < SHMIPC_SLOT_HEADER_SIZE)
    return 0;
  off = SHMIPC_SLOTS_OFFSET + (uint64_t)i * s->slot_stride;
  need = off + s->slot_stride;
  if (need > s->r.size)
    return 0;
  return off;
}

struct shmipc_wire_slot *hostile_slot(const struct hostile_seg *s, uint32_t i)
{
  uint64_t off = slot_off(s, i);

  return off ? (struct shmipc_wire_slot *)(void *)(s->r.base + off) : NULL;
}

uint8_t *hostile_req_buf(const struct hostile_seg *s, uint32_t i)
{
  uint64_t off = slot_off(s, i);

  if (!off ||
      SHMIPC_SLOT_HEADER_SIZE + (uint64_t)s->req_capacity > s->slot_stride)
    return NULL;
  return s->r.base + off + SHMIPC_SLOT_HEADER_SIZE;
}

uint8_t *hostile_resp_buf(const struct hostile_seg *s, uint32_t i)
{
  uint64_t off = slot_off(s, i);
  uint64_t r = SHMIPC_SLOT_HEADER_SIZE + shmipc__round64(s->req_capacity);

  if (!off || r + s->resp_capacity > s->slot_stride)
    return NULL;
  return s->r.base + off + r;
}

/* The tool uses compiler atomics directly: it is a test peer, not part of
 * the library (whose atomics go through src/atomic.h only). */
uint32_t hostile_load32(const uint32_t *p)
{
  return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

void hostile_store32(uint32_t *p, uint32_t v)
{
  __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

uint32_t hostile_cas32(uint32_t *p, uint32_t expected, uint32_t desired)
{
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
  return expected;
}

void hostile_wake(uint32_t *p)
{
  syscall(SYS_futex, p, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void store64(uint64_t *p, uint64_t v)
{
  __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

static void word(uint32_t *p, uint32_t v)
{
  hostile_store32(p, v);
  hostile_wake(p);
}

int hostile_set_header(struct hostile_seg *s, const char *f, uint64_t v)
{
  struct shmipc_wire_header *h = hostile_hdr(s);
  uint32_t v32 = (uint32_t)v;

  if (s->r.size < sizeof *h)
    return -1;
  if (!strcmp(f, "magic"))
    store64(&h->magic, v);
  else if (!strcmp(f, "version"))
    hostile_store32(&h->version, v32);
  else if (!strcmp(f, "header_size"))
    hostile_store32(&h->header_size, v32);
  else if (!strcmp(f, "host_slots"))
    hostile_store32(&h->host_slots, v32);
  else if (!strcmp(f, "guest_slots"))
    hostile_store32(&h->guest_slots, v32);
  else if (!strcmp(f, "req_capacity"))
    hostile_store32(&h->req_capacity, v32);
  else if (!strcmp(f, "resp_capacity"))
    hostile_store32(&h->resp_capacity, v32);
  else if (!strcmp(f, "slot_header_size"))
    hostile_store32(&h->slot_header_size, v32);
  else if (!strcmp(f, "slot_stride"))
    hostile_store32(&h->slot_stride, v32);
  else if (!strcmp(f, "slots_offset"))
    hostile_store32(&h->slots_offset, v32);
  else if (!strcmp(f, "flags"))
    hostile_store32(&h->flags, v32);
  else if (!strcmp(f, "segment_size"))
    store64(&h->segment_size, v);
  else if (!strcmp(f, "session_nonce"))
    store64(&h->session_nonce, v);
  else if (!strcmp(f, "host_state"))
    word(&h->host_state, v32);
  else if (!strcmp(f, "host_pid"))
    hostile_store32(&h->host_pid, v32);
  else if (!strcmp(f, "attach"))
    word(&h->attach, v32);
  else if (!strcmp(f, "guest_pid"))
    hostile_store32(&h->guest_pid, v32);
  else if (!strcmp(f, "doorbell"))
    word(&h->doorbell, v32);
  else
    return -1;
  return 0;
}

int hostile_set_slot(struct hostile_seg *s, uint32_t slot, const char *f,
                     uint64_t v)
{
  struct shmipc_wire_slot *w = hostile_slot(s, slot);
  uint32_t v32 = (uint32_t)v;

  if (w == NULL)
    return -1;
  if (!strcmp(f, "ctrl"))
    word(&w->ctrl, v32);
  else if (!strcmp(f, "req_type"))
    hostile_store32(&w->req_type, v32);
  else if (!strcmp(f, "req_size"))
    hostile_store32(&w->req_size, v32);
  else if (!strcmp(f, "req_flags"))
    hostile_store32(&w->req_flags, v32);
  else if (!strcmp(f, "req_seq"))
    store64(&w->req_seq, v);
  else if (!strcmp(f, "resp_type"))
    hostile_store32(&w->resp_type, v32);
  else if (!strcmp(f, "resp_size"))
    hostile_store32(&w->resp_size, v32);
  else if (!strcmp(f, "resp_flags"))
    hostile_store32(&w->resp_flags, v32);
  else if (!strcmp(f, "reserved0"))
    hostile_store32(&w->reserved0, v32);
  else if (!strcmp(f, "resp_seq"))
    store64(&w->resp_seq, v);
  else
    return -1;
  return 0;
}

uint64_t hostile_rand(uint64_t *x)
{
  if (*x == 0)
    *x = 0x9E3779B97F4A7C15ull;
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

void hostile_random_bytes(void *p, size_t len, uint64_t *x)
{
  uint8_t *b = p;
  size_t i;

  for (i = 0; i < len; i++)
    b[i] = (uint8_t)hostile_rand(x);
}

int hostile_random_slot(struct hostile_seg *s, uint32_t slot, uint64_t *x)
{
  struct shmipc_wire_slot *w = hostile_slot(s, slot);
  uint8_t rest[SHMIPC_SLOT_HEADER_SIZE - 4];

  if (w == NULL)
    return -1;
  hostile_random_bytes(rest, sizeof rest, x);
  /* Everything after ctrl as one plain copy, then ctrl as a word. */
  memcpy((uint8_t *)w + 4, rest, sizeof rest);
  word(&w->ctrl, (uint32_t)hostile_rand(x));
  return 0;
}

static void pause_us(int us)
{
  struct timespec ts = {0, (long)us * 1000L};

  nanosleep(&ts, NULL);
}

int hostile_request(struct hostile_seg *s, uint32_t slot, uint32_t type,
                    uint32_t size, uint32_t flags, uint64_t seq,
                    const void *payload, size_t payload_len, int timeout_ms,
                    struct shmipc_wire_slot *resp)
{
  struct shmipc_wire_slot *w = hostile_slot(s, slot);
  uint8_t *req = hostile_req_buf(s, slot);
  uint32_t v, nv, gen, old;
  int64_t deadline = t_now_ms() + timeout_ms;

  if (w == NULL || req == NULL)
    return -1;
  /* claim: FREE -> CLAIMED with a new generation, keeping waiter bits */
  for (;;) {
    v = hostile_load32(&w->ctrl);
    if ((v & SHMIPC_CTRL_STATE_MASK) != SHMIPC_SLOT_FREE ||
        !shmipc__ctrl_legal(v)) {
      if (t_now_ms() >= deadline)
        return -1;
      pause_us(100);
      continue;
    }
    nv = ((v + SHMIPC_CTRL_GEN_ONE) & ~0xFFu) |
         (v & (SHMIPC_CTRL_REQUESTER_WAITING | SHMIPC_CTRL_RESPONDER_WAITING)) |
         SHMIPC_SLOT_CLAIMED;
    if (hostile_cas32(&w->ctrl, v, nv) == v)
      break;
  }
  gen = nv & ~0xFFu;
  if (payload_len > s->req_capacity)
    payload_len = s->req_capacity;
  if (payload_len > 0)
    memcpy(req, payload, payload_len);
  w->req_type = type;
  w->req_size = size;
  w->req_flags = flags;
  w->req_seq = seq;
  /* publish: CLAIMED -> REQ_READY, clearing SW and waking if it was set */
  for (v = nv;; v = old) {
    old = hostile_cas32(
        &w->ctrl, v,
        (v & ~(SHMIPC_CTRL_STATE_MASK | SHMIPC_CTRL_RESPONDER_WAITING)) |
            SHMIPC_SLOT_REQ_READY);
    if (old == v)
      break;
    if ((old & ~0x30u) != (v & ~0x30u))
      return -3;
  }
  if (v & SHMIPC_CTRL_RESPONDER_WAITING)
    hostile_wake(&w->ctrl);
  if (slot >= s->host_slots && s->r.size >= sizeof(struct shmipc_wire_header)) {
    /* a guest call: ring the doorbell so that the host's listener looks */
    uint32_t *bell = &hostile_hdr(s)->doorbell, d;
    for (d = hostile_load32(bell);; d = old) {
      old = hostile_cas32(bell, d, (d + 1) & SHMIPC_DOORBELL_COUNTER_MASK);
      if (old == d)
        break;
    }
    if (d & SHMIPC_DOORBELL_LISTENER_WAITING)
      hostile_wake(bell);
  }
  /* wait for RESP_READY by polling (no announce: we never sleep on it) */
  for (;;) {
    v = hostile_load32(&w->ctrl);
    if (!shmipc__ctrl_legal(v) || (v & ~0xFFu) != gen)
      return -3;
    if ((v & SHMIPC_CTRL_STATE_MASK) == SHMIPC_SLOT_RESP_READY)
      break;
    if (t_now_ms() >= deadline)
      return -2;
    pause_us(100);
  }
  *resp = *w;
  /* free: RESP_READY -> FREE */
  for (;;) {
    old = hostile_cas32(
        &w->ctrl, v,
        (v & ~(SHMIPC_CTRL_STATE_MASK | SHMIPC_CTRL_REQUESTER_WAITING)));
    if (old == v)
      break;
    if ((old & ~0x30u) != (v & ~0x30u))
      return -3;
    v = old;
  }
  return 0;
}

static void lock_byte(struct flock *fl, int type, int byte)
{
  memset(fl, 0, sizeof *fl);
  fl->l_type = (short)type;
  fl->l_whence = SEEK_SET;
  fl->l_start = byte;
  fl->l_len = 1;
}

int hostile_guest_attach(struct hostile_seg *s)
{
  struct shmipc_wire_header *h = hostile_hdr(s);
  struct flock fl;
  uint32_t v, nv;

  if (s->r.size < sizeof *h)
    return -1;
  lock_byte(&fl, F_WRLCK, SHMIPC_LOCK_GUEST_BYTE);
  if (fcntl((int)s->r.handle, F_OFD_SETLK, &fl) != 0)
    return -1;
  hostile_store32(&h->guest_pid, (uint32_t)getpid());
  for (;;) {
    v = hostile_load32(&h->attach);
    nv = ((v + (1u << SHMIPC_ATTACH_EPOCH_SHIFT)) & SHMIPC_ATTACH_EPOCH_MASK) |
         SHMIPC_ATTACH_ATTACHED;
    if (hostile_cas32(&h->attach, v, nv) == v)
      break;
  }
  hostile_wake(&h->attach);
  return 0;
}

void hostile_guest_detach(struct hostile_seg *s)
{
  struct shmipc_wire_header *h = hostile_hdr(s);
  struct flock fl;
  uint32_t v;

  if (s->r.size < sizeof *h)
    return;
  for (;;) {
    v = hostile_load32(&h->attach);
    if (hostile_cas32(&h->attach, v,
                      (v & SHMIPC_ATTACH_EPOCH_MASK) |
                          SHMIPC_ATTACH_DETACHED) == v)
      break;
  }
  hostile_wake(&h->attach);
  lock_byte(&fl, F_UNLCK, SHMIPC_LOCK_GUEST_BYTE);
  (void)fcntl((int)s->r.handle, F_OFD_SETLK, &fl);
}

static const char *const mode_names[HM_COUNT] = {
    "echo",    "end-aligned", "size-cap1", "size-max", "size-high",
    "flags",   "seq",         "gen",       "state",    "reserved",
    "regress", "random",      "late",      "silent",   "mixed",
};

const char *hostile_mode_name(int mode)
{
  return mode >= 0 && mode < HM_COUNT ? mode_names[mode] : "?";
}

int hostile_mode_parse(const char *name)
{
  int i;

  for (i = 0; i < HM_COUNT; i++)
    if (!strcmp(name, mode_names[i]))
      return i;
  return -1;
}

/* One request this fake guest holds (the slot is in PROCESSING). */
struct held {
  int active;
  int mode;
  uint32_t
      taken; /* ctrl value we put: PROCESSING of the request's generation */
  int64_t due_ms;
  int dirty;        /* we left garbage in ctrl ... */
  uint32_t garbage; /* ... this value */
};

/* Publish the answer of slot @i according to @mode; returns the control
 * word it left there. */
static uint32_t answer(struct hostile_seg *s, uint32_t i, struct held *hd,
                       uint64_t *prev_seq, uint64_t *x)
{
  struct shmipc_wire_slot *w = hostile_slot(s, i);
  uint8_t *req = hostile_req_buf(s, i), *resp = hostile_resp_buf(s, i);
  uint32_t size = w->req_size, flags = w->req_flags, type = w->req_type;
  uint32_t cap = s->resp_capacity, n, rflags = 0, v, old, target;
  uint64_t seq = w->req_seq, rseq = seq;
  const uint8_t *data = req;
  int mode = hd->mode;

  if (size > s->req_capacity || (flags & ~SHMIPC_WIRE_FLAGS_KNOWN) != 0) {
    static const char why[] = "hostile: bad request";
    n = sizeof why - 1 < cap ? (uint32_t)(sizeof why - 1) : cap;
    memcpy(resp, why, n);
    type = 2u; /* SHMIPC_MSG_SYSTEM_ERROR */
  } else {
    if (flags & SHMIPC_WIRE_END_ALIGNED)
      data = req + (s->req_capacity - size);
    n = size <= cap ? size : cap;
    if (mode == HM_END_ALIGNED) {
      memmove(resp + (cap - n), data, n);
      rflags = SHMIPC_WIRE_END_ALIGNED;
    } else {
      memmove(resp, data, n);
    }
  }
  w->resp_type = type;
  w->resp_size = n;
  w->resp_flags = rflags;
  w->resp_seq = rseq;
  target = SHMIPC_SLOT_RESP_READY;
  switch (mode) {
  case HM_SIZE_CAP1:
    w->resp_size = cap + 1;
    break;
  case HM_SIZE_MAX:
    w->resp_size = 0xFFFFFFFFu;
    break;
  case HM_SIZE_HIGH:
    w->resp_size = 0x80000000u;
    break;
  case HM_FLAGS: {
    static const uint32_t bad[] = {0x2u, 0x80000000u, 0xFFFFFFFFu, 0x40u};
    w->resp_flags = bad[hostile_rand(x) % 4];
    break;
  }
  case HM_SEQ: {
    uint64_t alt[4] = {seq + 1, seq - 1, 0, ~(uint64_t)0};
    if (*prev_seq != 0 && *prev_seq != seq)
      alt[2] = *prev_seq; /* a replay of this slot's previous answer */
    w->resp_seq = alt[hostile_rand(x) % 4];
    if (w->resp_seq == seq)
      w->resp_seq = seq + 7;
    break;
  }
  case HM_RANDOM:
    (void)hostile_random_slot(s, i, x);
    *prev_seq = seq;
    return hostile_load32(&w->ctrl);
  default:
    break;
  }
  *prev_seq = seq;
  for (v = hostile_load32(&w->ctrl);; v = old) {
    uint32_t nv;
    switch (mode) {
    case HM_GEN: {
      static const uint32_t d[] = {1u, 0x800000u, 0xFFFFFFu};
      nv = ((v & ~0xFFu) + (d[hostile_rand(x) % 3] << SHMIPC_CTRL_GEN_SHIFT)) |
           target;
      break;
    }
    case HM_STATE:
      nv = (v & ~0xFFu) | (5u + (uint32_t)(hostile_rand(x) % 3));
      break;
    case HM_RESERVED: {
      static const uint32_t b[] = {0x8u, 0x40u, 0x80u};
      nv = (v & ~0xFFu) | b[hostile_rand(x) % 3] | target;
      break;
    }
    case HM_REGRESS: {
      static const uint32_t st[] = {SHMIPC_SLOT_FREE, SHMIPC_SLOT_CLAIMED,
                                    SHMIPC_SLOT_REQ_READY};
      nv = (v & ~0xFFu) | st[hostile_rand(x) % 3];
      break;
    }
    default:
      nv = (v & ~(SHMIPC_CTRL_STATE_MASK | SHMIPC_CTRL_REQUESTER_WAITING)) |
           target;
      break;
    }
    old = hostile_cas32(&w->ctrl, v, nv);
    if (old == v) {
      hostile_wake(&w->ctrl);
      return nv;
    }
  }
}

/* Modes that leave a control word the host must not trust. */
static int dirty_mode(int mode)
{
  return mode == HM_GEN || mode == HM_STATE || mode == HM_RESERVED ||
         mode == HM_REGRESS || mode == HM_RANDOM;
}

int hostile_respond(struct hostile_seg *s, const struct hostile_respond_opts *o,
                    struct hostile_stats *st)
{
  struct held held[SHMIPC_MAX_SLOTS];
  uint64_t prev_seq[SHMIPC_MAX_SLOTS];
  uint64_t x = o->seed ? o->seed : 1;
  uint32_t n = s->host_slots, i;
  int64_t end = t_now_ms() + o->for_ms;

  memset(held, 0, sizeof held);
  memset(prev_seq, 0, sizeof prev_seq);
  memset(st, 0, sizeof *st);
  if (n > SHMIPC_MAX_SLOTS)
    n = SHMIPC_MAX_SLOTS;
  while (t_now_ms() < end) {
    int busy = 0;
    for (i = 0; i < n; i++) {
      struct shmipc_wire_slot *w = hostile_slot(s, i);
      uint32_t v;
      if (w == NULL)
        break;
      if (held[i].active) {
        if (held[i].mode != HM_SILENT && t_now_ms() >= held[i].due_ms) {
          /* Only answer while the slot is still as we took it: the host
           * may have reclaimed it meanwhile (epoch change). */
          v = hostile_load32(&w->ctrl);
          if ((v & ~(uint32_t)SHMIPC_CTRL_REQUESTER_WAITING) ==
              (held[i].taken & ~(uint32_t)SHMIPC_CTRL_REQUESTER_WAITING))
            (void)answer(s, i, &held[i], &prev_seq[i], &x);
          held[i].active = 0;
          busy = 1;
        }
        continue;
      }
      v = hostile_load32(&w->ctrl);
      if ((v & SHMIPC_CTRL_STATE_MASK) != SHMIPC_SLOT_REQ_READY ||
          !shmipc__ctrl_legal(v))
        continue;
      /* take: REQ_READY -> PROCESSING */
      {
        uint32_t nv = (v & ~SHMIPC_CTRL_STATE_MASK) | SHMIPC_SLOT_PROCESSING;
        int mode = o->mode;
        if (hostile_cas32(&w->ctrl, v, nv) != v)
          continue;
        if (mode == HM_MIXED) {
          /* late and silent answers cost the host a timeout: rarer */
          uint64_t r = hostile_rand(&x) % 64;
          mode = r < 60 ? (int)(r % HM_LATE) : (r < 62 ? HM_LATE : HM_SILENT);
        }
        st->taken++;
        st->per_mode[mode]++;
        held[i].active = 1;
        held[i].mode = mode;
        held[i].taken = nv;
        held[i].due_ms = t_now_ms() + (mode == HM_LATE ? o->late_ms : 0);
        held[i].dirty = 0;
        busy = 1;
        if (mode != HM_LATE && mode != HM_SILENT) {
          uint32_t left = answer(s, i, &held[i], &prev_seq[i], &x);
          held[i].active = 0;
          held[i].dirty = dirty_mode(mode);
          held[i].garbage = left;
        }
      }
    }
    if (!busy)
      pause_us(20);
  }
  if (!o->leave_mess) {
    /* Leave what a guest that crashed mid-call could leave: every slot
     * whose word still holds garbage we wrote goes back to PROCESSING of
     * the generation we took (slots we still hold are in that state
     * already). A word the host has moved on from is left alone. */
    for (i = 0; i < n; i++) {
      struct shmipc_wire_slot *w = hostile_slot(s, i);
      if (w == NULL)
        break;
      if (!held[i].active && held[i].dirty)
        (void)hostile_cas32(&w->ctrl, held[i].garbage, held[i].taken);
    }
  }
  return 0;
}

int hostile_serve_one(struct hostile_seg *s, uint32_t slot, int mode,
                      uint64_t *x, int timeout_ms)
{
  struct shmipc_wire_slot *w = hostile_slot(s, slot);
  struct held hd;
  uint64_t prev = 0;
  int64_t deadline = t_now_ms() + timeout_ms;
  uint32_t v, nv;

  if (w == NULL || hostile_resp_buf(s, slot) == NULL)
    return -1;
  for (;;) {
    v = hostile_load32(&w->ctrl);
    if ((v & SHMIPC_CTRL_STATE_MASK) == SHMIPC_SLOT_REQ_READY &&
        shmipc__ctrl_legal(v)) {
      nv = (v & ~SHMIPC_CTRL_STATE_MASK) | SHMIPC_SLOT_PROCESSING;
      if (hostile_cas32(&w->ctrl, v, nv) == v)
        break;
      continue;
    }
    if (t_now_ms() >= deadline)
      return -1;
    pause_us(50);
  }
  memset(&hd, 0, sizeof hd);
  hd.mode = mode;
  hd.taken = nv;
  (void)answer(s, slot, &hd, &prev, x);
  return 0;
}
