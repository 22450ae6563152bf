/* SPDX-License-Identifier: MIT */
/*
 * Memory hints for large process-private buffers (stream reassembly) on
 * Windows: none. Large pages there need a privilege most users lack
 * (SeLockMemoryPrivilege) and cannot be asked for after allocation; the
 * buffer works the same without the hint. A freed stream buffer is left
 * to the heap, which gives large blocks back to the system itself.
 */
#include "internal.h"

void shmipc__advise_large(void *p, size_t len)
{
  (void)p;
  (void)len;
}

void shmipc__release_pages(void *p, size_t len)
{
  (void)p;
  (void)len;
}
