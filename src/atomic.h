/* SPDX-License-Identifier: MIT */
/*
 * The one door to shared-memory atomics. Nothing else includes
 * <atomic_ops.h>; shared fields are plain fixed-width integers and all
 * atomicity belongs to the accessors below.
 *
 * Ordering vocabulary (as in docs/PROTOCOL.md, "Memory ordering"):
 * - acquire (load): no later load or store of this thread moves before it;
 *   pairs with a release by the thread that wrote the value, after which all
 *   that thread's earlier writes are visible.
 * - release (store): no earlier load or store moves after it.
 * - full (CAS, fetch-add): both of the above and also orders earlier stores
 *   against later loads. "Announce that I sleep, then re-check" needs it on
 *   both sides, which is why every state change in the protocol is a full CAS.
 *
 * Each caller names the access its barrier pairs with.
 */
#ifndef SHMIPC_ATOMIC_H
#define SHMIPC_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#include <atomic_ops.h>
#ifdef _MSC_VER
#include <intrin.h> /* _mm_pause, __yield */
#endif

_Static_assert(sizeof(unsigned) == sizeof(uint32_t),
               "AO_int must be a 32-bit word");

static inline uint32_t shmipc__load_acquire32(const uint32_t *p)
{
  return (uint32_t)AO_int_load_acquire((const volatile unsigned *)p);
}

static inline uint32_t shmipc__load_relaxed32(const uint32_t *p)
{
  return (uint32_t)AO_int_load((const volatile unsigned *)p);
}

/* No ordering: for a word only its writer's own later loads depend on
 * (the holder's moves of a slot record, src/slot.c). */
static inline void shmipc__store_relaxed32(uint32_t *p, uint32_t v)
{
  AO_int_store((volatile unsigned *)p, v);
}

static inline void shmipc__store_release32(uint32_t *p, uint32_t v)
{
  AO_int_store_release((volatile unsigned *)p, v);
}

/* Full-barrier compare-and-swap; returns the value found (== expected on
 * success). */
static inline uint32_t shmipc__cas_full32(uint32_t *p, uint32_t expected,
                                          uint32_t desired)
{
  return (uint32_t)AO_int_fetch_compare_and_swap_full((volatile unsigned *)p,
                                                      expected, desired);
}

static inline uint32_t shmipc__fetch_add_full32(uint32_t *p, uint32_t v)
{
  return (uint32_t)AO_int_fetch_and_add_full((volatile unsigned *)p, v);
}

/* For counters in process-private memory (not the segment): AO_t is the
 * machine word. */
_Static_assert(sizeof(AO_t) == sizeof(size_t), "AO_t must be size_t wide");

static inline size_t shmipc__fetch_add_fullsz(size_t *p, size_t v)
{
  return (size_t)AO_fetch_and_add_full((volatile AO_t *)p, (AO_t)v);
}

/* Pointers in process-private memory, as wide as AO_t: published once
 * by a CAS (the host's event-loop state, src/evloop.c). */
_Static_assert(sizeof(AO_t) == sizeof(void *), "AO_t must be pointer wide");

static inline void *shmipc__load_acquire_ptr(void *const *p)
{
  return (void *)AO_load_acquire((const volatile AO_t *)p);
}

static inline void *shmipc__cas_full_ptr(void **p, void *expected,
                                         void *desired)
{
  return (void *)AO_fetch_compare_and_swap_full((volatile AO_t *)p,
                                                (AO_t)expected, (AO_t)desired);
}

/* 64-bit words without ordering, for the counters of the segment
 * (docs/PROTOCOL.md, "Counters"): diagnostics that order nothing. A load
 * and a store are single accesses (never torn); the add is atomic, for a
 * counter that several threads of a side may bump. */
#if defined(_WIN64) || defined(__LP64__)
_Static_assert(sizeof(AO_t) == sizeof(uint64_t), "AO_t is 64-bit here");
static inline uint64_t shmipc__load_relaxed64(const uint64_t *p)
{
  return (uint64_t)AO_load((const volatile AO_t *)p);
}
static inline void shmipc__store_relaxed64(uint64_t *p, uint64_t v)
{
  AO_store((volatile AO_t *)p, (AO_t)v);
}
static inline void shmipc__add_relaxed64(uint64_t *p, uint64_t v)
{
  /* the full flavour: the one every target has (x86: the same lock xadd) */
  (void)AO_fetch_and_add_full((volatile AO_t *)p, (AO_t)v);
}
#elif defined(__GNUC__)
/* A 32-bit machine word: the compiler's own 64-bit atomics. */
static inline uint64_t shmipc__load_relaxed64(const uint64_t *p)
{
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void shmipc__store_relaxed64(uint64_t *p, uint64_t v)
{
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline void shmipc__add_relaxed64(uint64_t *p, uint64_t v)
{
  (void)__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
#else
#error "the counters need 64-bit atomic words"
#endif

static inline void shmipc__fence_full(void) { AO_nop_full(); }

/* CPU relax hint for spin loops. */
static inline void shmipc__cpu_pause(void)
{
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(_MSC_VER) && defined(_M_ARM64)
  __yield();
#elif defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  AO_compiler_barrier();
#endif
}

#endif /* SHMIPC_ATOMIC_H */
