/* SPDX-License-Identifier: MIT */
/*
 * Memory hints for large process-private buffers (stream reassembly).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

void shmipc__advise_large(void *p, size_t len)
{
  uintptr_t start, end, page = (uintptr_t)sysconf(_SC_PAGESIZE);

  if (p == NULL || len < ((size_t)4 << 20))
    return;
  /* A stream buffer is written once, front to back by several workers:
   * transparent huge pages turn 512 page faults (each zeroing 4 KiB) into
   * one. Only a hint: the buffer works the same without it. */
  start = ((uintptr_t)p + page - 1) & ~(page - 1);
  end = ((uintptr_t)p + len) & ~(page - 1);
  if (end > start)
    (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}

void shmipc__release_pages(void *p, size_t len)
{
  uintptr_t start, end, page = (uintptr_t)sysconf(_SC_PAGESIZE);

  if (p == NULL || len < ((size_t)64 << 10))
    return;
  /* Called just before free(): the allocator keeps a freed block that it
   * did not map on its own (below its mmap threshold, or in another
   * thread's arena) for later use, resident. The pages wholly inside the
   * block hold no allocator data while it is in use, so they go back to
   * the kernel now and read as zeros when reused; free() writes its own
   * bookkeeping afterwards. */
  start = ((uintptr_t)p + page - 1) & ~(page - 1);
  end = ((uintptr_t)p + len) & ~(page - 1);
  if (end > start)
    (void)madvise((void *)start, end - start, MADV_DONTNEED);
}
