/* SPDX-License-Identifier: MIT */
/*
 * Segment geometry, header validation and the guest's attach: the portable
 * half of segments. Every value read from a peer's header is checked here
 * before use.
 *
 * This file depends on the OS operations of segment_linux.c and
 * segment_windows.c (declared in internal.h):
 *   shmipc__seg_os_open, shmipc__seg_os_stat, shmipc__seg_os_read_header,
 *   shmipc__seg_os_size_matches, shmipc__seg_os_map, shmipc__seg_close,
 *   shmipc__lock_open, shmipc__lock_held.
 */
#include <stdio.h>
#include <string.h>

#include "atomic.h"
#include "internal.h"

_Static_assert(offsetof(struct shmipc_wire_header, host_state) ==
                   SHMIPC_CACHE_LINE,
               "line 0 is the header's first cache line");

int shmipc__name_valid(const char *name)
{
  size_t n;

  if (name == NULL)
    return 0;
  for (n = 0; name[n] != '\0'; n++) {
    char c = name[n];
    if (n >= SHMIPC_MAX_NAME_LEN)
      return 0;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return 0;
  }
  return n > 0 && name[0] != '.';
}

int shmipc__name_check(const char *name)
{
  char q[96];

  if (shmipc__name_valid(name))
    return SHMIPC_OK;
  if (name == NULL)
    return shmipc__fail(SHMIPC_E_NAME, "no name (NULL)");
  /* The Go guest's text for the same rule (go/guest.go, Connect). */
  shmipc__quote(q, sizeof q, name);
  return shmipc__fail(SHMIPC_E_NAME,
                      "%s (want 1-%u of [A-Za-z0-9._-], no leading '.')", q,
                      (unsigned)SHMIPC_MAX_NAME_LEN);
}

/* "<field> <v> outside <min>..<max>", as the Go guest words it. */
static int out_of_range(const char *field, uint32_t v, uint32_t min,
                        uint32_t max)
{
  return shmipc__fail(SHMIPC_E_INVALID, "%s %lu outside %lu..%lu", field,
                      (unsigned long)v, (unsigned long)min, (unsigned long)max);
}

int shmipc__geom_compute(uint32_t host_slots, uint32_t guest_slots,
                         uint32_t req_cap, uint32_t resp_cap,
                         struct shmipc__geom *out)
{
  uint64_t stride, size;

  if (host_slots < 1 || host_slots > SHMIPC_MAX_SLOTS)
    return out_of_range("host_slots", host_slots, 1, SHMIPC_MAX_SLOTS);
  if (guest_slots > SHMIPC_MAX_SLOTS)
    return out_of_range("guest_slots", guest_slots, 0, SHMIPC_MAX_SLOTS);
  if (req_cap < 1 || req_cap > SHMIPC_MAX_CAPACITY)
    return out_of_range("req_capacity", req_cap, 1, SHMIPC_MAX_CAPACITY);
  if (resp_cap < 1 || resp_cap > SHMIPC_MAX_CAPACITY)
    return out_of_range("resp_capacity", resp_cap, 1, SHMIPC_MAX_CAPACITY);
  /* 64-bit arithmetic: at most 64 + 2 * 2^30 per slot and 2048 slots,
   * far below 2^64. The stride itself must fit its 32-bit field. */
  stride = SHMIPC_SLOT_HEADER_SIZE + shmipc__round64(req_cap) +
           shmipc__round64(resp_cap);
  if (stride > UINT32_MAX)
    return shmipc__fail(SHMIPC_E_INVALID, "slot stride %llu above %lu",
                        (unsigned long long)stride, (unsigned long)UINT32_MAX);
  /* The slots, then the counters (docs/PROTOCOL.md, "Counters"). */
  size = SHMIPC_SLOTS_OFFSET + ((uint64_t)host_slots + guest_slots) * stride;
  size = (size + SHMIPC_COUNTERS_ALIGN - 1) &
         ~(uint64_t)(SHMIPC_COUNTERS_ALIGN - 1);
  out->counters_offset = size;
  size += SHMIPC_COUNTERS_SLOTS +
          ((uint64_t)host_slots + guest_slots) * SHMIPC_COUNTERS_SLOT_SIZE;
  if (size > (uint64_t)SIZE_MAX)
    return shmipc__fail(SHMIPC_E_INVALID,
                        "segment of %llu bytes does not fit the address space",
                        (unsigned long long)size);
  out->host_slots = host_slots;
  out->guest_slots = guest_slots;
  out->req_capacity = req_cap;
  out->resp_capacity = resp_cap;
  out->slot_stride = (uint32_t)stride;
  out->segment_size = size;
  return SHMIPC_OK;
}

/* Checks in the order docs/PROTOCOL.md ("Validation") gives them. The
 * caller has already checked the file type, owner and that the file holds
 * at least a header; @h is a private copy, not the live mapping. */
int shmipc__header_validate(const struct shmipc_wire_header *h,
                            uint64_t file_size, struct shmipc__geom *out)
{
  struct shmipc__geom g;

  /* The host sizes the file before it writes the header: until READY the
   * header may still be zeros. */
  /* The texts are the Go guest's for the same checks (go/guest.go,
   * parseHeader). */
  if (h->host_state == SHMIPC_HOST_INIT)
    return SHMIPC__E_RETRY;
  if (h->magic != SHMIPC_MAGIC)
    return shmipc__fail(SHMIPC_E_CORRUPT, "bad magic %#llx",
                        (unsigned long long)h->magic);
  if (h->version != SHMIPC_PROTOCOL_VERSION)
    return shmipc__fail(SHMIPC_E_VERSION,
                        "segment has protocol version %lu, this guest "
                        "speaks %lu",
                        (unsigned long)h->version,
                        (unsigned long)SHMIPC_PROTOCOL_VERSION);
  if (h->host_state == SHMIPC_HOST_CLOSED)
    return shmipc__fail(SHMIPC_E_PEER_GONE, "host closed the session");
  if (h->host_state != SHMIPC_HOST_READY)
    return shmipc__fail(SHMIPC_E_CORRUPT, "host_state %lu",
                        (unsigned long)h->host_state);
  if (h->header_size != SHMIPC_HEADER_SIZE)
    return shmipc__fail(SHMIPC_E_CORRUPT, "header_size is %lu, not %lu",
                        (unsigned long)h->header_size,
                        (unsigned long)SHMIPC_HEADER_SIZE);
  if (h->slot_header_size != SHMIPC_SLOT_HEADER_SIZE)
    return shmipc__fail(SHMIPC_E_CORRUPT, "slot_header_size is %lu, not %lu",
                        (unsigned long)h->slot_header_size,
                        (unsigned long)SHMIPC_SLOT_HEADER_SIZE);
  if (h->slots_offset != SHMIPC_SLOTS_OFFSET)
    return shmipc__fail(SHMIPC_E_CORRUPT, "slots_offset is %lu, not %lu",
                        (unsigned long)h->slots_offset,
                        (unsigned long)SHMIPC_SLOTS_OFFSET);
  if (h->flags != 0)
    return shmipc__fail(SHMIPC_E_CORRUPT, "flags is %lu, not 0",
                        (unsigned long)h->flags);
  if (shmipc__geom_compute(h->host_slots, h->guest_slots, h->req_capacity,
                           h->resp_capacity, &g) != SHMIPC_OK)
    return shmipc__refail(SHMIPC_E_CORRUPT);
  if (h->slot_stride != g.slot_stride)
    return shmipc__fail(SHMIPC_E_CORRUPT, "slot_stride %lu, expected %lu",
                        (unsigned long)h->slot_stride,
                        (unsigned long)g.slot_stride);
  if (h->segment_size != g.segment_size)
    return shmipc__fail(SHMIPC_E_CORRUPT, "segment_size %llu, expected %llu",
                        (unsigned long long)h->segment_size,
                        (unsigned long long)g.segment_size);
  if (file_size != g.segment_size)
    return shmipc__fail(
        SHMIPC_E_CORRUPT, "file is %llu bytes, segment_size is %llu",
        (unsigned long long)file_size, (unsigned long long)g.segment_size);
  *out = g;
  return SHMIPC_OK;
}

void shmipc__header_init(struct shmipc_wire_header *h,
                         const struct shmipc__geom *g, uint64_t nonce,
                         uint32_t pid)
{
  /* The mapping is fresh (zero-filled); only line 0 and host_pid are set.
   * host_state stays INIT until the host publishes READY with release. */
  h->magic = SHMIPC_MAGIC;
  h->version = SHMIPC_PROTOCOL_VERSION;
  h->header_size = SHMIPC_HEADER_SIZE;
  h->host_slots = g->host_slots;
  h->guest_slots = g->guest_slots;
  h->req_capacity = g->req_capacity;
  h->resp_capacity = g->resp_capacity;
  h->slot_header_size = SHMIPC_SLOT_HEADER_SIZE;
  h->slot_stride = g->slot_stride;
  h->slots_offset = SHMIPC_SLOTS_OFFSET;
  h->flags = 0;
  h->segment_size = g->segment_size;
  h->session_nonce = nonce;
  h->host_pid = pid;
}

/* Attach, in the order docs/PROTOCOL.md ("Validation") gives, as the Go
 * guest's attach() (go/guest.go) does, once the OS opened the segment into
 * @sp (by name, or inherited from a launching host): @what names it in
 * texts ("/dev/shm/shmipc-x"). The header is validated as a private copy
 * before the segment is mapped; once mapped, the acquire load of
 * host_state makes line 0 the host's published one, which must still be
 * the copy that was validated. On failure @sp's segment is closed. */
static int seg_attach(struct shmipc__seg *out, struct shmipc__seg *sp,
                      const char *what, uint32_t guest_flags)
{
  struct shmipc_wire_header h;
  struct shmipc__seg_stat st;
  struct shmipc__seg s = *sp;
  uint64_t size;
  uint32_t state;
  int r;

  r = shmipc__seg_os_stat(&s, &st);
  if (r != SHMIPC_OK)
    goto err;
  if (!st.regular) {
    r = shmipc__fail(SHMIPC_E_ACCESS, "%s is not a regular file", what);
    goto err;
  }
  if (st.mine != 1 && !(guest_flags & SHMIPC_GUEST_F_ALLOW_OTHER_USER)) {
    r = st.mine < 0 ? st.mine
                    : shmipc__fail(SHMIPC_E_ACCESS,
                                   "%s is owned by another user (allow it "
                                   "with SHMIPC_GUEST_F_ALLOW_OTHER_USER)",
                                   what);
    goto err;
  }
  if (st.size < sizeof h) {
    /* The host has created but not yet sized it. */
    r = SHMIPC__E_RETRY;
    goto err;
  }
  r = shmipc__seg_os_read_header(&s, &h);
  if (r != SHMIPC_OK)
    goto err;
  /* What the segment holds: the file's size on Linux; on Windows the
   * view's whole pages may round up the section that h claims. */
  size = st.size;
  if (shmipc__seg_os_size_matches(st.size, h.segment_size))
    size = h.segment_size;
  r = shmipc__header_validate(&h, size, &s.geom);
  if (r != SHMIPC_OK)
    goto err;
  /* A segment whose host died (its lock free) has nobody to serve:
   * attaching would only end in PEER_GONE at the first liveness check.
   * Wait instead for the next host, which replaces it - as the Go guest
   * does (go/guest.go, errHostAbsent). */
  r = shmipc__lock_open(&s);
  if (r != SHMIPC_OK)
    goto err;
  r = shmipc__lock_held(&s, SHMIPC__ROLE_HOST);
  if (r <= 0) {
    r = r == 0 ? SHMIPC__E_NO_HOST : r;
    goto err;
  }
  s.nonce = h.session_nonce;
  r = shmipc__seg_os_map(&s);
  if (r != SHMIPC_OK)
    goto err;
  /* acquire: pairs with the host's release store of READY in
   * shmipc_host_create() (or of CLOSED in shmipc_host_destroy()). Line 0,
   * written before READY and never after, must be exactly the copy that
   * was validated. */
  state = shmipc__load_acquire32(&shmipc__hdr(&s)->host_state);
  if (state != SHMIPC_HOST_READY) {
    r = shmipc__fail(
        state == SHMIPC_HOST_CLOSED ? SHMIPC_E_PEER_GONE : SHMIPC_E_CORRUPT,
        "host_state changed to %lu during attach", (unsigned long)state);
    goto err;
  }
  if (memcmp(s.base, &h, SHMIPC_CACHE_LINE) != 0) {
    r = shmipc__fail(SHMIPC_E_CORRUPT, "header changed during attach");
    goto err;
  }
  *out = s;
  return SHMIPC_OK;

err:
  shmipc__seg_close(&s, false);
  return r;
}

int shmipc__seg_open(const char *name, uint32_t guest_flags,
                     struct shmipc__seg *out)
{
  char what[SHMIPC__INHERITED_WHAT_MAX + SHMIPC_MAX_NAME_LEN];
  struct shmipc__seg s;
  int r;

  r = shmipc__name_check(name);
  if (r != SHMIPC_OK)
    return r;
  memset(&s, 0, sizeof s);
  r = shmipc__seg_os_open(name, guest_flags, &s);
  if (r != SHMIPC_OK)
    return r;
  snprintf(what, sizeof what, "%s%s",
           (guest_flags & SHMIPC_GUEST_F_GLOBAL) ? shmipc__seg_prefix_global
                                                 : shmipc__seg_prefix,
           name);
  return seg_attach(out, &s, what, guest_flags);
}

int shmipc__seg_open_inherited(uint32_t guest_flags, struct shmipc__seg *out)
{
  char what[SHMIPC__INHERITED_WHAT_MAX];
  struct shmipc__seg s;
  int r;

  memset(&s, 0, sizeof s);
  r = shmipc__seg_os_inherit(&s, what, sizeof what);
  if (r != SHMIPC_OK)
    return r;
  return seg_attach(out, &s, what, guest_flags);
}
